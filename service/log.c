/*
 * log.c - the service's event lines: "TIME LEVEL EVENT k=v ..." or JSON.
 *
 * Text values that hold anything but letters, digits and -._:/[] are
 * quoted; JSON strings are escaped. Times are UTC with milliseconds.
 */
#include "log.h"

#include <string.h>
#include <time.h>

static const char *const level_names[] = {"error", "warn", "info", "debug"};

void cairn__svc_key_prefix(char out[9], const uint8_t *key)
{
    static const char digits[] = "0123456789abcdef";
    for (int i = 0; i < 4; i++) {
        out[2 * i] = digits[key[i] >> 4];
        out[2 * i + 1] = digits[key[i] & 15];
    }
    out[8] = '\0';
}

typedef struct line {
    char buf[2048];
    size_t len;
} line_t;

static void add(line_t *l, const char *s, size_t n)
{
    if (n > sizeof l->buf - 2 - l->len)
        n = sizeof l->buf - 2 - l->len; /* keep room for the newline */
    memcpy(l->buf + l->len, s, n);
    l->len += n;
}

static void adds(line_t *l, const char *s)
{
    add(l, s, strlen(s));
}

static void addu(line_t *l, uint64_t u)
{
    char num[24];
    int n = snprintf(num, sizeof num, "%llu", (unsigned long long)u);
    add(l, num, (size_t)n);
}

static int plain(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           strchr("-._:/[]", c) != NULL;
}

/* A string: JSON-escaped in quotes, or for text bare when plain, else quoted. */
static void addstr(line_t *l, const char *s, int json)
{
    int quote = json || *s == '\0';
    for (const char *p = s; !quote && *p; p++)
        quote = !plain((unsigned char)*p);
    if (!quote) {
        adds(l, s);
        return;
    }
    add(l, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') {
            char e[2] = {'\\', (char)*p};
            add(l, e, 2);
        } else if (*p < 0x20 || *p == 0x7f) {
            char e[8];
            int n = snprintf(e, sizeof e, "\\u%04x", *p);
            add(l, e, (size_t)n);
        } else {
            add(l, (const char *)p, 1);
        }
    }
    add(l, "\"", 1);
}

static void timestamp(char out[32])
{
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    size_t n = strftime(out, 32, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + n, 32 - n, ".%03ldZ", ts.tv_nsec / 1000000L);
}

void cairn__svc_log(const svc_log_t *log, cairn_log_level_t level, const char *event,
                    const svc_field_t *fields, size_t n)
{
    if (log == NULL || level > log->level || (unsigned)level > CAIRN_LOG_DEBUG)
        return;
    line_t l = {.len = 0};
    char ts[32];
    timestamp(ts);
    int json = log->format == CAIRN_LOG_JSON;
    if (json) {
        adds(&l, "{\"ts\":\"");
        adds(&l, ts);
        adds(&l, "\",\"level\":\"");
        adds(&l, level_names[level]);
        adds(&l, "\",\"event\":");
        addstr(&l, event, 1);
    } else {
        adds(&l, ts);
        add(&l, " ", 1);
        adds(&l, level_names[level]);
        add(&l, " ", 1);
        adds(&l, event);
    }
    for (size_t i = 0; i < n; i++) {
        if (json) {
            add(&l, ",", 1);
            addstr(&l, fields[i].key, 1);
            add(&l, ":", 1);
        } else {
            add(&l, " ", 1);
            adds(&l, fields[i].key);
            add(&l, "=", 1);
        }
        if (fields[i].s != NULL)
            addstr(&l, fields[i].s, json);
        else
            addu(&l, fields[i].u);
    }
    if (json)
        add(&l, "}", 1);
    l.buf[l.len++] = '\n';
    fwrite(l.buf, 1, l.len, log->f);
    fflush(log->f);
}
