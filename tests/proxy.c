/*
 * proxy.c - a fault-injecting TCP proxy for the integration tests
 * (tests/faults_test.sh). Plain POSIX sockets and poll(2); not installed.
 *
 *   proxy --target HOST:PORT [--listen PORT] [--seed N] [--chunk MAX]
 *         [--delay RATE:MS] [--cut RATE:BYTES] [--truncate RATE] [--dup RATE]
 *         [--corrupt RATE] [--bump-len c2s|s2c:K] [--off]
 *
 * It listens on 127.0.0.1:PORT (0, the default: a port the kernel picks),
 * prints "port P" on standard output once listening, and forwards every
 * connection to HOST:PORT (an IPv4 address). Each chunk read from one side
 * (at most MAX bytes, default 16384; with faults on, a size drawn between 1
 * and MAX, so the stream is also cut into small pieces) may, with faults on:
 *
 *   --delay RATE:MS   be held 1..MS ms before it is forwarded (probability
 *                     RATE per chunk; the direction stalls meanwhile);
 *   --cut RATE:BYTES  (per connection, probability RATE) the connection is
 *                     reset (RST, both sides) after a number of bytes drawn
 *                     from 1..BYTES, counted over both directions;
 *   --truncate RATE   lose its tail (a prefix drawn from 0..len-1 goes on),
 *                     after which both sides are closed (FIN);
 *   --dup RATE        be forwarded twice;
 *   --corrupt RATE    have one bit of one byte flipped.
 *
 * --bump-len DIR:K is protocol-aware and deterministic: in direction DIR it
 * flips bit 4 of byte 2 of the K-th frame's 4-byte big-endian length (frames
 * counted from 0, cairn's framing), so the receiver waits for 4096 bytes that
 * never come (a length field corrupted below the frame limit).
 *
 * Every decision comes from a generator seeded by (--seed, connection number,
 * direction), so a seed chooses the faults; which bytes they hit depends on
 * how the kernel delivers the stream. SIGUSR1 turns faults off (nothing new is
 * injected, pending cuts are cancelled), SIGUSR2 on again; SIGTERM or SIGINT
 * ends it after a summary line. One log line per event on standard error.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_CONNS 512
#define CHUNK_LIMIT 65536

typedef struct dir {
    unsigned char buf[2 * CHUNK_LIMIT];
    size_t off, len;
    uint64_t not_before; /* ms: hold the buffer until then */
    int eof;             /* the source ended (read 0) */
    int shut;            /* shutdown(dst, SHUT_WR) done */
    uint64_t rng;
    uint64_t frames;   /* frames seen (for --bump-len) */
    unsigned hdr_pos;  /* bytes of the current length field seen, 0..4 */
    unsigned char hdr[4];
    uint64_t body_left;
} dir_t;

typedef struct conn {
    int used, id;
    int cfd, sfd, connecting;
    dir_t d[2]; /* 0: client -> server, 1: server -> client */
    uint64_t total, cut_at;
    int cut_pending, trunc_pending;
} conn_t;

static volatile sig_atomic_t faults_on = 1, stop_now = 0, toggled = 0;
static conn_t conns[MAX_CONNS];
static int next_id = 0, listen_port = 0;
static uint64_t seed = 1, t_start;
static size_t chunk_max = 16384;
static double r_delay, r_cut, r_trunc, r_dup, r_corrupt;
static unsigned delay_ms = 100;
static uint64_t cut_bytes = 4096;
static int bump_dir = -1;
static uint64_t bump_k;
static struct sockaddr_in target;
static unsigned long n_conn, n_delay, n_cut, n_trunc, n_dup, n_corrupt, n_bump, n_refused;
static const char *dname[2] = {"c2s", "s2c"};

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void logf_(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "proxy[%d] +%llums ", listen_port, (unsigned long long)(now_ms() - t_start));
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

static uint64_t splitmix(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

static uint64_t next_rand(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 0x2545f4914f6cdd1dull;
}

static double unit(uint64_t *s) { return (double)(next_rand(s) >> 11) / 9007199254740992.0; }
static uint64_t below(uint64_t *s, uint64_t n) { return n == 0 ? 0 : next_rand(s) % n; }

static void summary(const char *what)
{
    logf_("%s connections=%lu delay=%lu cut=%lu truncate=%lu dup=%lu corrupt=%lu bump=%lu "
          "refused=%lu",
          what, n_conn, n_delay, n_cut, n_trunc, n_dup, n_corrupt, n_bump, n_refused);
}

static void on_signal(int sig)
{
    if (sig == SIGUSR1)
        faults_on = 0, toggled = 1;
    else if (sig == SIGUSR2)
        faults_on = 1, toggled = 1;
    else
        stop_now = 1;
}

static int nonblock(int fd) { return fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK); }

static void close_conn(conn_t *c, int reset, const char *why)
{
    struct linger l = {1, 0};
    if (reset) {
        setsockopt(c->cfd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
        setsockopt(c->sfd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
    }
    close(c->cfd);
    close(c->sfd);
    logf_("conn %d closed (%s) bytes=%llu", c->id, why, (unsigned long long)c->total);
    c->used = 0;
}

static void accept_one(int lfd)
{
    for (;;) {
        int cfd = accept(lfd, NULL, NULL);
        if (cfd < 0)
            return;
        conn_t *c = NULL;
        for (int i = 0; i < MAX_CONNS; i++)
            if (!conns[i].used) {
                c = &conns[i];
                break;
            }
        int sfd = c != NULL ? socket(AF_INET, SOCK_STREAM, 0) : -1;
        if (sfd < 0) {
            close(cfd);
            n_refused++;
            logf_("refused a connection (table full)");
            continue;
        }
        memset(c, 0, sizeof *c);
        c->used = 1;
        c->id = next_id++;
        c->cfd = cfd;
        c->sfd = sfd;
        nonblock(cfd);
        nonblock(sfd);
        int one = 1;
        setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        setsockopt(sfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        for (int d = 0; d < 2; d++)
            c->d[d].rng = splitmix(seed ^ splitmix((uint64_t)c->id * 2 + (uint64_t)d));
        n_conn++;
        if (faults_on && r_cut > 0 && unit(&c->d[0].rng) < r_cut) {
            c->cut_at = 1 + below(&c->d[0].rng, cut_bytes);
            logf_("conn %d will be cut after %llu bytes", c->id, (unsigned long long)c->cut_at);
        }
        logf_("conn %d opened", c->id);
        if (connect(sfd, (struct sockaddr *)&target, sizeof target) == 0)
            c->connecting = 0;
        else if (errno == EINPROGRESS)
            c->connecting = 1;
        else {
            logf_("conn %d: connect: %s", c->id, strerror(errno));
            close_conn(c, 1, "connect failed");
        }
    }
}

/* The --bump-len walk over a chunk: follow the framing, flip the chosen length. */
static void frame_walk(conn_t *c, int d, unsigned char *p, size_t n)
{
    dir_t *x = &c->d[d];
    for (size_t i = 0; i < n;) {
        if (x->body_left > 0) {
            size_t k = n - i < x->body_left ? n - i : (size_t)x->body_left;
            x->body_left -= k;
            i += k;
            continue;
        }
        x->hdr[x->hdr_pos] = p[i];
        if (x->hdr_pos == 2 && d == bump_dir && x->frames == bump_k) {
            p[i] ^= 0x10;
            n_bump++;
            logf_("conn %d %s bump-len frame %llu", c->id, dname[d], (unsigned long long)x->frames);
        }
        i++;
        if (++x->hdr_pos == 4) {
            x->body_left = (uint64_t)x->hdr[0] << 24 | (uint64_t)x->hdr[1] << 16 |
                           (uint64_t)x->hdr[2] << 8 | x->hdr[3];
            x->hdr_pos = 0;
            x->frames++;
        }
    }
}

/* Read one chunk from the source of direction d and decide its faults. */
static void read_chunk(conn_t *c, int d)
{
    dir_t *x = &c->d[d];
    int src = d == 0 ? c->cfd : c->sfd;
    size_t want = chunk_max;
    if (faults_on && chunk_max > 1)
        want = 1 + below(&x->rng, chunk_max);
    ssize_t r = read(src, x->buf, want);
    if (r < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
            return;
        close_conn(c, 1, d == 0 ? "client error" : "server error");
        return;
    }
    if (r == 0) {
        x->eof = 1;
        return;
    }
    size_t len = (size_t)r;
    if (bump_dir == d)
        frame_walk(c, d, x->buf, len);
    x->off = 0;
    if (!faults_on) {
        x->len = len;
        c->total += len;
        return;
    }
    if (c->cut_at != 0 && c->total + len >= c->cut_at) {
        len = (size_t)(c->cut_at - c->total);
        c->cut_pending = 1;
        n_cut++;
        logf_("conn %d %s cut at byte %llu", c->id, dname[d], (unsigned long long)c->cut_at);
    } else {
        if (r_trunc > 0 && unit(&x->rng) < r_trunc) {
            size_t keep = (size_t)below(&x->rng, len);
            logf_("conn %d %s truncate chunk of %zu to %zu, then close", c->id, dname[d], len,
                  keep);
            len = keep;
            c->trunc_pending = 1;
            n_trunc++;
        }
        if (len > 0 && r_corrupt > 0 && unit(&x->rng) < r_corrupt) {
            size_t at = (size_t)below(&x->rng, len);
            unsigned bit = (unsigned)below(&x->rng, 8);
            x->buf[at] ^= (unsigned char)(1u << bit);
            n_corrupt++;
            logf_("conn %d %s corrupt byte %llu bit %u", c->id, dname[d],
                  (unsigned long long)(c->total + at), bit);
        }
        if (len > 0 && r_dup > 0 && unit(&x->rng) < r_dup) {
            memcpy(x->buf + len, x->buf, len);
            n_dup++;
            logf_("conn %d %s duplicate chunk of %zu", c->id, dname[d], len);
            len *= 2;
        }
        if (r_delay > 0 && unit(&x->rng) < r_delay) {
            uint64_t w = 1 + below(&x->rng, delay_ms);
            x->not_before = now_ms() + w;
            n_delay++;
            logf_("conn %d %s delay %zu bytes %llu ms", c->id, dname[d], len,
                  (unsigned long long)w);
        }
    }
    c->total += (size_t)r;
    x->len = len;
    if (len == 0 && (c->cut_pending || c->trunc_pending))
        close_conn(c, c->cut_pending, c->cut_pending ? "cut" : "truncated");
}

static void write_some(conn_t *c, int d)
{
    dir_t *x = &c->d[d];
    int dst = d == 0 ? c->sfd : c->cfd;
    ssize_t w = write(dst, x->buf + x->off, x->len - x->off);
    if (w < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
            return;
        close_conn(c, 1, d == 0 ? "server write error" : "client write error");
        return;
    }
    x->off += (size_t)w;
    if (x->off < x->len)
        return;
    x->off = x->len = 0;
    if (c->cut_pending)
        close_conn(c, 1, "cut");
    else if (c->trunc_pending)
        close_conn(c, 0, "truncated");
}

static int parse_rate(const char *s, double *rate, uint64_t *extra)
{
    char *end;
    *rate = strtod(s, &end);
    if (end == s || *rate < 0 || *rate > 1)
        return -1;
    if (extra != NULL) {
        if (*end != ':')
            return -1;
        *extra = strtoull(end + 1, &end, 10);
        if (*extra == 0)
            return -1;
    }
    return *end == '\0' ? 0 : -1;
}

static int usage(void)
{
    fprintf(stderr, "usage: proxy --target HOST:PORT [--listen PORT] [--seed N] [--chunk MAX]\n"
                    "             [--delay RATE:MS] [--cut RATE:BYTES] [--truncate RATE]\n"
                    "             [--dup RATE] [--corrupt RATE] [--bump-len c2s|s2c:K] [--off]\n");
    return 2;
}

int main(int argc, char **argv)
{
    const char *tgt = NULL;
    int lport = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        uint64_t e;
        if (strcmp(a, "--off") == 0) {
            faults_on = 0;
            continue;
        }
        if (v == NULL)
            return usage();
        i++;
        if (strcmp(a, "--target") == 0)
            tgt = v;
        else if (strcmp(a, "--listen") == 0)
            lport = atoi(v);
        else if (strcmp(a, "--seed") == 0)
            seed = strtoull(v, NULL, 10);
        else if (strcmp(a, "--chunk") == 0) {
            chunk_max = (size_t)strtoull(v, NULL, 10);
            if (chunk_max < 1 || chunk_max > CHUNK_LIMIT)
                return usage();
        } else if (strcmp(a, "--delay") == 0) {
            if (parse_rate(v, &r_delay, &e) != 0)
                return usage();
            delay_ms = (unsigned)e;
        } else if (strcmp(a, "--cut") == 0) {
            if (parse_rate(v, &r_cut, &cut_bytes) != 0)
                return usage();
        } else if (strcmp(a, "--truncate") == 0) {
            if (parse_rate(v, &r_trunc, NULL) != 0)
                return usage();
        } else if (strcmp(a, "--dup") == 0) {
            if (parse_rate(v, &r_dup, NULL) != 0)
                return usage();
        } else if (strcmp(a, "--corrupt") == 0) {
            if (parse_rate(v, &r_corrupt, NULL) != 0)
                return usage();
        } else if (strcmp(a, "--bump-len") == 0) {
            if (strncmp(v, "c2s:", 4) == 0)
                bump_dir = 0;
            else if (strncmp(v, "s2c:", 4) == 0)
                bump_dir = 1;
            else
                return usage();
            bump_k = strtoull(v + 4, NULL, 10);
        } else
            return usage();
    }
    if (tgt == NULL)
        return usage();
    const char *colon = strrchr(tgt, ':');
    if (colon == NULL)
        return usage();
    char host[64];
    size_t hl = (size_t)(colon - tgt);
    if (hl >= sizeof host)
        return usage();
    memcpy(host, tgt, hl);
    host[hl] = '\0';
    memset(&target, 0, sizeof target);
    target.sin_family = AF_INET;
    target.sin_port = htons((uint16_t)atoi(colon + 1));
    if (inet_pton(AF_INET, host, &target.sin_addr) != 1)
        return usage();

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGUSR1, &sa, NULL);
    sigaction(SIGUSR2, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    t_start = now_ms();

    int lfd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in la;
    memset(&la, 0, sizeof la);
    la.sin_family = AF_INET;
    la.sin_port = htons((uint16_t)lport);
    la.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t sl = sizeof la;
    if (bind(lfd, (struct sockaddr *)&la, sizeof la) != 0 || listen(lfd, 128) != 0 ||
        getsockname(lfd, (struct sockaddr *)&la, &sl) != 0) {
        perror("proxy: listen");
        return 1;
    }
    nonblock(lfd);
    listen_port = ntohs(la.sin_port);
    printf("port %d\n", listen_port);
    fflush(stdout);
    logf_("listening, target %s, seed %llu, faults %s", tgt, (unsigned long long)seed,
          faults_on ? "on" : "off");

    static struct pollfd pf[1 + 2 * MAX_CONNS];
    static int who[1 + 2 * MAX_CONNS]; /* conn index * 2 + (0 client, 1 server) */
    while (!stop_now) {
        if (toggled) {
            toggled = 0;
            summary(faults_on ? "faults on" : "faults off");
            if (!faults_on)
                for (int i = 0; i < MAX_CONNS; i++)
                    conns[i].cut_at = 0;
        }
        uint64_t now = now_ms();
        int n = 0, timeout = 1000;
        pf[n].fd = lfd;
        pf[n].events = POLLIN;
        who[n++] = -1;
        for (int i = 0; i < MAX_CONNS; i++) {
            conn_t *c = &conns[i];
            if (!c->used)
                continue;
            short ev[2] = {0, 0}; /* client fd, server fd */
            if (c->connecting) {
                ev[1] |= POLLOUT;
            } else {
                for (int d = 0; d < 2; d++) {
                    dir_t *x = &c->d[d];
                    int src = d == 0 ? 0 : 1, dst = 1 - src;
                    if (x->len == 0 && !x->eof && !c->cut_pending && !c->trunc_pending)
                        ev[src] |= POLLIN;
                    if (x->len > 0) {
                        if (now >= x->not_before)
                            ev[dst] |= POLLOUT;
                        else if ((int)(x->not_before - now) < timeout)
                            timeout = (int)(x->not_before - now);
                    }
                }
            }
            pf[n].fd = c->cfd;
            pf[n].events = ev[0];
            who[n++] = i * 2;
            pf[n].fd = c->sfd;
            pf[n].events = ev[1];
            who[n++] = i * 2 + 1;
        }
        int r = poll(pf, (nfds_t)n, timeout);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            perror("proxy: poll");
            return 1;
        }
        for (int k = 0; k < n; k++) {
            if (pf[k].revents == 0)
                continue;
            if (who[k] < 0) {
                accept_one(lfd);
                continue;
            }
            conn_t *c = &conns[who[k] / 2];
            int side = who[k] % 2;
            if (!c->used)
                continue;
            short rev = pf[k].revents;
            if (c->connecting) {
                int err = 0;
                socklen_t el = sizeof err;
                getsockopt(c->sfd, SOL_SOCKET, SO_ERROR, &err, &el);
                if (err != 0) {
                    logf_("conn %d: connect: %s", c->id, strerror(err));
                    close_conn(c, 1, "connect failed");
                } else if (rev & POLLOUT) {
                    c->connecting = 0;
                }
                continue;
            }
            /* side 0 is the client: the source of c2s, the destination of s2c. */
            int src_d = side == 0 ? 0 : 1, dst_d = 1 - src_d;
            if ((rev & POLLOUT) && c->d[dst_d].len > 0)
                write_some(c, dst_d);
            if (c->used && (rev & (POLLIN | POLLHUP | POLLERR)) && (pf[k].events & POLLIN))
                read_chunk(c, src_d);
            if (c->used && (rev & (POLLERR | POLLHUP)) && !(pf[k].events & POLLIN)) {
                if (rev & POLLERR)
                    close_conn(c, 1, side == 0 ? "client error" : "server error");
                else
                    c->d[src_d].eof = 1; /* hung up: what is buffered still goes on */
            }
        }
        for (int i = 0; i < MAX_CONNS; i++) {
            conn_t *c = &conns[i];
            if (!c->used || c->connecting)
                continue;
            for (int d = 0; d < 2; d++) {
                dir_t *x = &c->d[d];
                if (x->eof && x->len == 0 && !x->shut) {
                    shutdown(d == 0 ? c->sfd : c->cfd, SHUT_WR);
                    x->shut = 1;
                }
            }
            if (c->d[0].shut && c->d[1].shut)
                close_conn(c, 0, "both ended");
        }
    }
    summary("stopped");
    return 0;
}
