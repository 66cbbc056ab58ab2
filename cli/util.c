/*
 * util.c - the helpers every cairn command shares: errors and exit
 * statuses, hex, times, roles, opening a store, and printing safely.
 */
#include "cli.h"

#include <stdarg.h>
#include <string.h>
#include <time.h>

int cli_exit_code(cairn_err_t err)
{
    return err == CAIRN_OK ? 0 : 10 - (int)err;
}

int cli_fail(const char *what, cairn_err_t err)
{
    fprintf(stderr, "cairn: %s: %s (%s)\n", what, cairn_strerror(err), cairn_err_name(err));
    return cli_exit_code(err);
}

int cli_fail_msg(const char *what, const char *msg, cairn_err_t err)
{
    fprintf(stderr, "cairn: %s: %s (%s)\n", what, msg, cairn_err_name(err));
    return cli_exit_code(err);
}

int cli_usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("cairn: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return EXIT_USAGE;
}

int cli_usage(const char *synopsis)
{
    fprintf(stderr, "usage: cairn %s\n", synopsis);
    return EXIT_USAGE;
}

int cli_need_args(const cli_args_t *a, int n, const char *synopsis)
{
    return a->npos == n ? 0 : cli_usage(synopsis);
}

int cli_need_min_args(const cli_args_t *a, int n, const char *synopsis)
{
    return a->npos >= n ? 0 : cli_usage(synopsis);
}

void cli_hex(char *out, const uint8_t *b, size_t n)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[b[i] >> 4];
        out[2 * i + 1] = digits[b[i] & 15];
    }
    out[2 * n] = '\0';
}

void cli_print_hex(const uint8_t *b, size_t n)
{
    char hex[CLI_HEX(32)];
    cli_hex(hex, b, n <= 32 ? n : 32);
    printf("%s\n", hex);
}

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int cli_parse_hex(const char *s, uint8_t *out, size_t n, const char *what)
{
    int ok = strlen(s) == 2 * n;
    for (size_t i = 0; ok && i < n; i++) {
        int hi = hex_digit(s[2 * i]), lo = hex_digit(s[2 * i + 1]);
        ok = hi >= 0 && lo >= 0;
        if (ok)
            out[i] = (uint8_t)(hi << 4 | lo);
    }
    if (!ok)
        fprintf(stderr, "cairn: %s must be %zu hex digits\n", what, 2 * n);
    return ok ? 0 : -1;
}

uint64_t cli_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

int cli_open_dir(cli_secret_t *secret, const char *dir, cairn_store_t **store)
{
    cairn_err_t err = cli_secret_for_open(secret, dir);
    if (err == CAIRN_OK)
        err = cairn_store_open(dir, &secret->unlock, store);
    cli_secret_free(secret);
    if (err == CAIRN_ENOPASS)
        return cli_exit_code(err); /* already explained */
    return err == CAIRN_OK ? 0 : cli_fail(dir, err);
}

int cli_open_store(cli_args_t *a, cairn_store_t **store)
{
    return cli_open_dir(&a->secret, a->pos[0], store);
}

/* ---- roles ------------------------------------------------------------------ */

static const struct {
    const char *name;
    unsigned bit;
} role_names[] = {
    {"care-manager", CAIRN_ROLE_CARE_MANAGER},
    {"prescriber", CAIRN_ROLE_PRESCRIBER},
    {"bh-specialist", CAIRN_ROLE_BH_SPECIALIST},
    {"outreach", CAIRN_ROLE_OUTREACH},
    {"patient", CAIRN_ROLE_PATIENT},
    {"family", CAIRN_ROLE_FAMILY},
    {"admin", CAIRN_ROLE_ADMIN},
};

#define NROLES (sizeof role_names / sizeof role_names[0])

static int role_by_name(const char *s, size_t len, unsigned *bit)
{
    for (size_t i = 0; i < NROLES; i++)
        if (strlen(role_names[i].name) == len && memcmp(role_names[i].name, s, len) == 0) {
            *bit = role_names[i].bit;
            return 0;
        }
    return -1;
}

int cli_parse_roles(const char *s, unsigned *roles)
{
    unsigned r = 0;
    for (;;) {
        size_t len = strcspn(s, ",");
        unsigned bit;
        if (role_by_name(s, len, &bit) != 0)
            return -1;
        r |= bit;
        if (s[len] == '\0')
            break;
        s += len + 1;
    }
    *roles = r;
    return 0;
}

void cli_roles_str(unsigned roles, char *out, size_t n)
{
    size_t at = 0;
    out[0] = '\0';
    for (size_t i = 0; i < NROLES; i++) {
        if (!(roles & role_names[i].bit))
            continue;
        int w = snprintf(out + at, n - at, "%s%s", at ? "," : "", role_names[i].name);
        if (w < 0 || (size_t)w >= n - at)
            return;
        at += (size_t)w;
    }
    if (at == 0)
        snprintf(out, n, "none");
}

json_t *cli_roles_json(unsigned roles)
{
    json_t *arr = json_array();
    for (size_t i = 0; arr != NULL && i < NROLES; i++)
        if ((roles & role_names[i].bit) &&
            json_array_append_new(arr, json_string(role_names[i].name)) != 0) {
            json_decref(arr);
            return NULL;
        }
    return arr;
}

/* ---- output -------------------------------------------------------------- */

void cli_print_text(FILE *f, const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '\n')
            fputs("\\n", f);
        else if (c == '\t')
            fputs("\\t", f);
        else if (c == '\\')
            fputs("\\\\", f);
        else if (c < 0x20 || c == 0x7f)
            fprintf(f, "\\x%02x", c);
        else if (c == 0xc2 && i + 1 < len && (unsigned char)s[i + 1] >= 0x80 &&
                 (unsigned char)s[i + 1] <= 0x9f) /* C1 controls, U+0080..U+009F */
            fprintf(f, "\\u%04x", (unsigned char)s[++i]);
        else
            fputc(c, f);
    }
}

int cli_print_json(json_t *o, const char *what)
{
    if (o == NULL)
        return cli_fail(what, CAIRN_ENOMEM);
    int rc = json_dumpf(o, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(o);
    putchar('\n');
    return rc == 0 ? 0 : cli_fail(what, CAIRN_EIO);
}
