/*
 * bench_serve.c - bootstrap over loopback TCP between two `cairn serve`
 * processes, beside the in-process sync of the same changes.
 *
 * A sender node S holds SMALL_PLANS x 100 changes (default 1,000 x 100 =
 * 100,000, made with libcairn in batches, as bench_sync's case (3)). Each
 * run then:
 *
 * TCP:  starts `cairn serve S` (no peers) and waits for its `listening`
 *       line; at t0 starts `cairn serve R` on a fresh empty node R that has
 *       S as its only peer, so R dials S at start. "Done" is the moment the
 *       bench has read both processes' first `session-closed` line, each
 *       with reason=done: a service logs it after the socket closed, and a
 *       session reaches done only when every change it received was
 *       committed (durably: the service's writer commits with LMDB's
 *       default fsync) and both sides had nothing left. Wall = done - t0
 *       (R's process start and store open included). After both services
 *       stop, the bench opens both stores and checks that R's plans, change
 *       counts and sync digests equal S's. Bytes on the wire are the
 *       session-closed lines' bytes_in/bytes_out (framing included). Memory:
 *       /proc/PID/status of each process read every ~2 ms until done:
 *       VmHWM (the kernel's exact peak RSS), and the peaks of RssAnon
 *       (anonymous: heap, stacks) and RssFile (file-backed: the LMDB map
 *       and the binary) as sampled.
 * In-process: bench_sync's case (3) on the same S: a fresh empty node
 *       initiates a session over an in-memory pipe, each CHANGES frame one
 *       durable cairn_ingest, in this process.
 *
 * Runs alternate the order of the two measurements (TCP first on even
 * runs), so a neighbour's build on the machine falls on both. Medians with
 * min-max.
 *
 * Environment: CAIRN_BENCH_SMALL_PLANS (1000), CAIRN_BENCH_RUNS (5),
 * CAIRN_BENCH_DIR, CAIRN_BENCH_CAIRN (the cairn binary; default: the one
 * built with this tree).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench_pipe.h"
#include "bench_util.h"
#include "cairn/cairn.h"
#include "cairn/peers.h"
#include "cairn/sync.h"

#ifndef CAIRN_BENCH_CLI
#define CAIRN_BENCH_CLI "cairn"
#endif

#define MAX_RUNS 64
#define PER_PLAN 100
#define SAMPLE_S 0.002

/* ---- the in-process session (bench_pipe.c, as bench_sync case (3)) ------------------ */

typedef struct inproc {
    double seconds;
    uint64_t bytes[2], changes_in;
} inproc_t;

static void run_session(cairn_store_t *a, cairn_store_t *b, inproc_t *r)
{
    bench_pipe_result_t p;
    bench_pipe_session(a, b, &p);
    r->seconds = p.seconds;
    r->bytes[0] = p.stats[0].bytes_out;
    r->bytes[1] = p.stats[0].bytes_in;
    r->changes_in = p.stats[0].changes_in;
}

/* ---- the sender's changes ------------------------------------------------------------ */

static void reopen(bench_node_t *n)
{
    cairn_unlock_t u = {CAIRN_UNLOCK_KEY_FILE, NULL, 0, n->key};
    bench_check(cairn_store_open(n->dir, &u, &n->store), "store reopen");
}

/* ---- what two stores hold ---------------------------------------------------------------- */

typedef struct held {
    uint8_t (*ids)[CAIRN_PLAN_ID_BYTES + CAIRN_SYNC_DIGEST_BYTES];
    size_t n, cap;
    uint64_t changes;
} held_t;

static int on_summary(void *ctx, const uint8_t plan[CAIRN_PLAN_ID_BYTES],
                      const uint8_t digest[CAIRN_SYNC_DIGEST_BYTES])
{
    held_t *h = ctx;
    if (h->n == h->cap) {
        h->cap = h->cap ? 2 * h->cap : 1024;
        h->ids = realloc(h->ids, h->cap * sizeof *h->ids);
        if (h->ids == NULL)
            bench_die("summaries", "out of memory");
    }
    memcpy(h->ids[h->n], plan, CAIRN_PLAN_ID_BYTES);
    memcpy(h->ids[h->n] + CAIRN_PLAN_ID_BYTES, digest, CAIRN_SYNC_DIGEST_BYTES);
    h->n++;
    return 0;
}

static int on_plan(void *ctx, const uint8_t plan[CAIRN_PLAN_ID_BYTES], uint64_t nchanges)
{
    (void)plan;
    ((held_t *)ctx)->changes += nchanges;
    return 0;
}

static held_t held(cairn_store_t *s)
{
    held_t h = {0};
    bench_check(cairn_plan_summaries(s, on_summary, &h), "summaries");
    bench_check(cairn_plan_list(s, on_plan, &h), "plan list");
    return h;
}

/* The receiver holds exactly the sender's plans, change counts and digests. */
static void same(cairn_store_t *sender, cairn_store_t *receiver, const char *what)
{
    held_t a = held(sender), b = held(receiver);
    if (a.n != b.n || a.changes != b.changes ||
        (a.n && memcmp(a.ids, b.ids, a.n * sizeof *a.ids) != 0)) {
        fprintf(stderr, "%s: sender %zu plans %llu changes, receiver %zu plans %llu changes\n",
                what, a.n, (unsigned long long)a.changes, b.n, (unsigned long long)b.changes);
        bench_die(what, "the receiver does not hold what the sender holds");
    }
    free(a.ids);
    free(b.ids);
}

/* ---- processes ------------------------------------------------------------------------- */

typedef struct proc {
    pid_t pid;
    int fd;          /* its standard error, non-blocking */
    char buf[65536]; /* a partial line */
    size_t len;
    FILE *log; /* every line, kept for a failure */
    char logpath[700];
    /* memory, kB */
    long hwm, anon, file;
    double cpu;            /* user + system seconds, read at done */
    long commits, batches; /* from the `stopped` line */
    /* events */
    double t_listening, t_opened, t_closed;
    char closed[1024]; /* the first session-closed line */
} proc_t;

static const char *cli_path(void)
{
    const char *p = getenv("CAIRN_BENCH_CAIRN");
    return p && p[0] ? p : CAIRN_BENCH_CLI;
}

static void spawn(proc_t *p, bench_node_t *n, int port, const char *logpath)
{
    memset(p, 0, sizeof *p);
    p->t_listening = p->t_opened = p->t_closed = -1;
    int fds[2];
    if (pipe(fds) != 0)
        bench_die("pipe", strerror(errno));
    char listen[64];
    snprintf(listen, sizeof listen, "127.0.0.1:%d", port);
    snprintf(p->logpath, sizeof p->logpath, "%s", logpath);
    p->log = fopen(logpath, "w");
    if (p->log == NULL)
        bench_die(logpath, strerror(errno));
    pid_t pid = fork();
    if (pid < 0)
        bench_die("fork", strerror(errno));
    if (pid == 0) {
        dup2(fds[1], 2);
        int null = open("/dev/null", O_RDWR);
        dup2(null, 0);
        dup2(null, 1);
        close(fds[0]);
        close(fds[1]);
        setenv("CAIRN_KEY_FILE", n->key, 1);
        unsetenv("CAIRN_PASSPHRASE");
        execl(cli_path(), "cairn", "serve", n->dir, "--listen", listen, "--interval", "600",
              (char *)NULL);
        fprintf(stderr, "exec %s: %s\n", cli_path(), strerror(errno));
        _exit(127);
    }
    close(fds[1]);
    fcntl(fds[0], F_SETFL, O_NONBLOCK);
    p->pid = pid;
    p->fd = fds[0];
}

static long status_kb(const char *text, const char *field)
{
    const char *f = strstr(text, field);
    return f ? strtol(f + strlen(field), NULL, 10) : -1;
}

static void sample(proc_t *p)
{
    char path[64], text[4096];
    snprintf(path, sizeof path, "/proc/%d/status", (int)p->pid);
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return;
    ssize_t n = read(fd, text, sizeof text - 1);
    close(fd);
    if (n <= 0)
        return;
    text[n] = '\0';
    long hwm = status_kb(text, "VmHWM:"), anon = status_kb(text, "RssAnon:"),
         file = status_kb(text, "RssFile:");
    if (hwm > p->hwm)
        p->hwm = hwm;
    if (anon > p->anon)
        p->anon = anon;
    if (file > p->file)
        p->file = file;
}

/* utime + stime of p, seconds. */
static double cpu_seconds(const proc_t *p)
{
    char path[64], text[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)p->pid);
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, text, sizeof text - 1);
    close(fd);
    if (n <= 0)
        return -1;
    text[n] = '\0';
    const char *f = strrchr(text, ')'); /* after the command name: state is field 3 */
    unsigned long ut = 0, st = 0;
    if (f == NULL ||
        sscanf(f + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
        return -1;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* The value of " key=" in a text log line, as a number (or -1). */
static double field(const char *line, const char *key)
{
    char k[48];
    snprintf(k, sizeof k, " %s=", key);
    const char *f = strstr(line, k);
    return f ? strtod(f + strlen(k), NULL) : -1;
}

static void on_line(proc_t *p, char *line, double now)
{
    fprintf(p->log, "%s\n", line);
    if (strstr(line, " listening ") && p->t_listening < 0)
        p->t_listening = now;
    else if (strstr(line, " stopped ")) {
        p->commits = (long)field(line, "commits");
        p->batches = (long)field(line, "batches");
    } else if (strstr(line, " session-opened ") && p->t_opened < 0)
        p->t_opened = now;
    else if (strstr(line, " session-closed ") && p->t_closed < 0) {
        p->t_closed = now;
        size_t n = strlen(line) < sizeof p->closed - 1 ? strlen(line) : sizeof p->closed - 1;
        memcpy(p->closed, line, n);
        p->closed[n] = '\0';
    }
}

/* Read what p wrote; 0 at end of file. */
static int drain(proc_t *p, double now)
{
    for (;;) {
        ssize_t n = read(p->fd, p->buf + p->len, sizeof p->buf - 1 - p->len);
        if (n == 0)
            return 0;
        if (n < 0)
            return errno == EAGAIN || errno == EINTR ? 1 : 0;
        p->len += (size_t)n;
        char *start = p->buf, *nl;
        while ((nl = memchr(start, '\n', p->len - (size_t)(start - p->buf))) != NULL) {
            *nl = '\0';
            on_line(p, start, now);
            start = nl + 1;
        }
        p->len -= (size_t)(start - p->buf);
        memmove(p->buf, start, p->len);
        if (p->len == sizeof p->buf - 1)
            p->len = 0; /* a line longer than the buffer: drop it */
    }
}

/* Pump both until cond(ctx) holds, sampling memory; dies after limit seconds. */
static void pump(proc_t **ps, int n, int (*cond)(proc_t **), double limit, const char *what)
{
    double end = bench_now() + limit, next = 0;
    while (!cond(ps)) {
        struct pollfd pf[2];
        for (int i = 0; i < n; i++)
            pf[i] = (struct pollfd){ps[i]->fd, POLLIN, 0};
        poll(pf, (nfds_t)n, 1);
        double now = bench_now();
        for (int i = 0; i < n; i++)
            if (pf[i].revents && !drain(ps[i], now)) {
                fflush(ps[i]->log);
                fprintf(stderr, "%s: a service exited; its log: %s\n", what, ps[i]->logpath);
                bench_die(what, "service exited early");
            }
        if (now >= next) {
            for (int i = 0; i < n; i++)
                sample(ps[i]);
            next = now + SAMPLE_S;
        }
        if (now > end)
            bench_die(what, "timed out");
    }
    for (int i = 0; i < n; i++)
        sample(ps[i]);
}

static int listening(proc_t **ps)
{
    return ps[0]->t_listening >= 0;
}

static int both_closed(proc_t **ps)
{
    return ps[0]->t_closed >= 0 && ps[1]->t_closed >= 0;
}

static void stop(proc_t *p)
{
    kill(p->pid, SIGTERM);
    int st;
    double now = bench_now();
    while (drain(p, now))
        poll(&(struct pollfd){p->fd, POLLIN, 0}, 1, 100);
    if (waitpid(p->pid, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
        bench_die("service", "did not exit 0 on SIGTERM");
    close(p->fd);
    fclose(p->log);
}

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) != 0)
        bench_die("free port", strerror(errno));
    close(fd);
    return ntohs(a.sin_port);
}

/* ---- one TCP run ------------------------------------------------------------------------- */

typedef struct tcp {
    double wall, from_opened, session_ms, r_start;
    double bytes_sr, bytes_rs, changes;
    double hwm[2], anon[2], file[2]; /* MiB; [0] sender, [1] receiver */
    double cpu[2], commits, batches;
} tcp_t;

static void run_tcp(bench_node_t *s, bench_node_t *r, int sport, int rport, size_t run, tcp_t *out)
{
    static proc_t ps, pr;
    char logs[700], logr[700];
    snprintf(logs, sizeof logs, "%s/serve-%zu.log", s->root, run);
    snprintf(logr, sizeof logr, "%s/serve.log", r->root);
    spawn(&ps, s, sport, logs);
    proc_t *one[1] = {&ps};
    pump(one, 1, listening, 30, "sender start");
    ps.hwm = ps.anon = ps.file = 0; /* count from here: S idle, listening */
    double t0 = bench_now();
    spawn(&pr, r, rport, logr);
    proc_t *two[2] = {&ps, &pr};
    pump(two, 2, both_closed, 120, "bootstrap");
    double done = ps.t_closed > pr.t_closed ? ps.t_closed : pr.t_closed;
    ps.cpu = cpu_seconds(&ps);
    pr.cpu = cpu_seconds(&pr);
    stop(&pr);
    stop(&ps);
    if (!strstr(ps.closed, " reason=done ") || !strstr(pr.closed, " reason=done ")) {
        fprintf(stderr, "sender:   %s\nreceiver: %s\n", ps.closed, pr.closed);
        bench_die("bootstrap", "a session did not end with reason=done");
    }
    out->wall = done - t0;
    out->r_start = pr.t_listening - t0;
    out->from_opened = done - pr.t_opened;
    out->session_ms = field(pr.closed, "ms");
    out->bytes_sr = field(pr.closed, "bytes_in");
    out->bytes_rs = field(pr.closed, "bytes_out");
    out->changes = field(pr.closed, "applied");
    if (field(ps.closed, "bytes_out") != out->bytes_sr ||
        field(ps.closed, "bytes_in") != out->bytes_rs)
        fprintf(stderr, "note: the two logs disagree on bytes:\n  %s\n  %s\n", ps.closed,
                pr.closed);
    proc_t *p[2] = {&ps, &pr};
    for (int i = 0; i < 2; i++) {
        out->hwm[i] = (double)p[i]->hwm / 1024;
        out->anon[i] = (double)p[i]->anon / 1024;
        out->file[i] = (double)p[i]->file / 1024;
        out->cpu[i] = p[i]->cpu;
    }
    out->commits = (double)pr.commits;
    out->batches = (double)pr.batches;
}

/* ---- main ---------------------------------------------------------------------------------- */

/* One table row: median, min-max with prec decimals, and the target if any. */
static void row(const char *name, double *v, size_t n, int prec, const char *target)
{
    bench_stat_t s = bench_stat(v, n);
    printf("| %s | %.*f | %.*f–%.*f | %s |\n", name, prec, s.median, prec, s.min, prec, s.max,
           target);
}

int main(void)
{
    if (sodium_init() < 0)
        bench_die("libsodium", "cannot initialise");
    signal(SIGPIPE, SIG_IGN);
    size_t nplans = bench_env("CAIRN_BENCH_SMALL_PLANS", 1000, 10000000);
    size_t runs = bench_env("CAIRN_BENCH_RUNS", 5, MAX_RUNS);
    double load0 = 0;
    getloadavg(&load0, 1);
    if (access(cli_path(), X_OK) != 0)
        bench_die(cli_path(), "no cairn binary there (set CAIRN_BENCH_CAIRN)");

    bench_node_t s;
    bench_node_create(&s, "serve-s");
    bench_org_create(&s, "s");
    uint8_t(*plans)[CAIRN_PLAN_ID_BYTES] = bench_plan_ids(nplans);
    double t = bench_now();
    bench_fill_titles(s.store, plans, nplans, PER_PLAN);
    double fill_s = bench_now() - t;
    int sport = free_port();
    char saddr[64];
    snprintf(saddr, sizeof saddr, "127.0.0.1:%d", sport);
    /* Every receiver empty, on S's roster, made now: S does not change between runs. */
    static bench_node_t rt[MAX_RUNS], ri[MAX_RUNS];
    for (size_t r = 0; r < runs; r++) {
        char name[32];
        bench_node_create(&rt[r], "serve-r");
        snprintf(name, sizeof name, "r%zu", r);
        bench_admit(&s, &rt[r], name);
        bench_check(cairn_peer_put(rt[r].store, s.pk, saddr, "sender"), "peer put");
        cairn_store_close(rt[r].store);
        bench_node_create(&ri[r], "serve-i");
        snprintf(name, sizeof name, "i%zu", r);
        bench_admit(&s, &ri[r], name);
        cairn_store_close(ri[r].store);
    }
    held_t h = held(s.store);
    cairn_store_close(s.store);
    fprintf(stderr, "built: %zu plans, %llu changes (roster included) in %.1f s; %s; %s\n", h.n,
            (unsigned long long)h.changes, fill_s, bench_fs(s.root), cli_path());
    free(h.ids);

    tcp_t tr[MAX_RUNS];
    inproc_t ir[MAX_RUNS];
    for (size_t r = 0; r < runs; r++) {
        for (int k = 0; k < 2; k++) {
            if ((k == 0) == (r % 2 == 0)) {
                run_tcp(&s, &rt[r], sport, free_port(), r, &tr[r]);
                reopen(&s);
                reopen(&rt[r]);
                same(s.store, rt[r].store, "tcp bootstrap");
                cairn_store_close(s.store);
                bench_node_destroy(&rt[r]);
            } else {
                reopen(&s);
                reopen(&ri[r]);
                run_session(ri[r].store, s.store, &ir[r]);
                same(s.store, ri[r].store, "in-process bootstrap");
                cairn_store_close(s.store);
                bench_node_destroy(&ri[r]);
            }
        }
        fprintf(stderr,
                "run %zu/%zu: tcp %.3f s (receiver listening at %.3f s, session %.0f ms), "
                "in-process %.3f s; anon MiB S %.1f R %.1f; VmHWM MiB S %.1f R %.1f\n",
                r + 1, runs, tr[r].wall, tr[r].r_start, tr[r].session_ms, ir[r].seconds,
                tr[r].anon[0], tr[r].anon[1], tr[r].hwm[0], tr[r].hwm[1]);
    }

    double v[20][MAX_RUNS];
    for (size_t r = 0; r < runs; r++) {
        v[0][r] = tr[r].wall;
        v[1][r] = tr[r].from_opened;
        v[2][r] = tr[r].session_ms / 1000;
        v[3][r] = ir[r].seconds;
        v[4][r] = tr[r].wall / ir[r].seconds;
        v[5][r] = tr[r].changes / tr[r].wall;
        v[6][r] = tr[r].bytes_sr;
        v[7][r] = tr[r].bytes_rs;
        v[8][r] = (double)ir[r].bytes[1];
        v[9][r] = tr[r].anon[0];
        v[10][r] = tr[r].file[0];
        v[11][r] = tr[r].hwm[0];
        v[12][r] = tr[r].anon[1];
        v[13][r] = tr[r].file[1];
        v[14][r] = tr[r].hwm[1];
        v[15][r] = tr[r].r_start;
        v[16][r] = tr[r].cpu[0];
        v[17][r] = tr[r].cpu[1];
        v[18][r] = tr[r].commits;
        v[19][r] = tr[r].batches;
    }
    printf("| measure | median | min–max | target |\n|---|---|---|---|\n");
    row("TCP: wall, receiver's serve started → both session-closed reason=done, s", v[0], runs, 3,
        "≤ 1.0");
    row("TCP: receiver's session-opened → both done, s", v[1], runs, 3, "");
    row("TCP: the session's own ms (receiver's log), s", v[2], runs, 3, "");
    row("TCP: receiver's serve started → listening, s", v[15], runs, 3, "");
    row("in-process sync (bench_sync case (3)), s", v[3], runs, 3, "");
    row("TCP wall / in-process, same run", v[4], runs, 2, "≤ 1.2");
    row("TCP: changes/s (wall)", v[5], runs, 0, "");
    row("TCP: sender CPU (user+system) to done, s", v[16], runs, 3, "");
    row("TCP: receiver CPU (user+system) to done, s", v[17], runs, 3, "");
    row("TCP: receiver writer commits (its whole life)", v[18], runs, 0, "");
    row("TCP: receiver writer batches (its whole life)", v[19], runs, 0, "");
    row("TCP: bytes sender→receiver on the wire", v[6], runs, 0, "");
    row("TCP: bytes receiver→sender on the wire", v[7], runs, 0, "");
    row("in-process: bytes responder→initiator", v[8], runs, 0, "");
    row("sender: peak RssAnon (sampled), MiB", v[9], runs, 1, "≤ 64");
    row("sender: peak RssFile (sampled), MiB", v[10], runs, 1, "");
    row("sender: VmHWM (peak RSS, exact), MiB", v[11], runs, 1, "");
    row("receiver: peak RssAnon (sampled), MiB", v[12], runs, 1, "≤ 64");
    row("receiver: peak RssFile (sampled), MiB", v[13], runs, 1, "");
    row("receiver: VmHWM (peak RSS, exact), MiB", v[14], runs, 1, "");
    double load[2] = {0, 0};
    getloadavg(load, 1);
    printf("\n%zu changes in %zu plans (+ roster); %zu runs, TCP and in-process alternating; %s; "
           "memory sampled every %.0f ms; %ld CPUs online; load average %.2f at start, %.2f at "
           "end\n",
           nplans * PER_PLAN, nplans, runs, bench_fs(s.root), SAMPLE_S * 1000,
           sysconf(_SC_NPROCESSORS_ONLN), load0, load[0]);
    free(plans);
    reopen(&s);
    bench_node_destroy(&s);
    return 0;
}
