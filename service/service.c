/*
 * service.c - `cairn serve`: listen, dial, one session per peer, shut down.
 *
 * Everything here runs on the loop thread, and none of it waits on disk:
 * writes go to the writer thread (writer.c), reads of the store (the peer
 * list, the commit sequence, everything a session reads) are the read API
 * that may run beside it. A heartbeat timer every poll_ms ticks the
 * sessions, dials the peers that are due, and looks at the store's commit
 * sequence: when another process (the CLI) committed, every peer is dialled
 * at once, so a local edit reaches them within about a poll interval. A
 * session that applied changes does the same, so changes travel on through
 * a node without waiting for the interval.
 *
 * One session per pair of nodes: a peer with a live session is not dialled;
 * when both dialled at once, both sides keep the session initiated by the
 * lower of the two keys and close the other (reason "duplicate" in the log).
 */
#include <signal.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <uv.h>

#include "cairn/cairn.h"
#include "cairn/service.h"
#include "conn.h"
#include "log.h"
#include "writer.h"

#define CONNECT_TIMEOUT_MS 10000u /* a dial that has not connected by then is unreachable */
#define SHUTDOWN_GRACE_MS 5000u   /* sessions that have not said goodbye by then are cut */

typedef struct svc svc_t;

typedef struct svc_peer {
    cairn_peer_t cfg;
    char host[CAIRN_PEER_HOST_MAX + 1];
    char port[8];
    uint64_t next_dial;  /* loop ms */
    uint64_t backoff_ms; /* 0: not in backoff */
    int busy;            /* a resolution or a connection of ours is out for it */
    int again;           /* something new to send came while a session was live */
    int removed;         /* gone from the peer list; freed once not busy */
    int mark;
    uv_getaddrinfo_t gai;
    svc_t *svc;
    struct svc_peer *next;
} svc_peer_t;

struct svc {
    uv_loop_t loop;
    cairn_store_t *store;
    cairn_service_opts_t o;
    svc_log_t log;
    uv_tcp_t listener;
    uv_signal_t sigint, sigterm;
    uv_timer_t beat;
    svc_writer_t writer;
    svc_peer_t *peers;
    svc_conn_t *conns, *dead;
    size_t nconns, resolving;
    uint8_t self[CAIRN_PUBLIC_KEY_BYTES];
    uint64_t seq_base, others_seen, next_reload;
    int stopping, stopped, dirty;
    uint64_t stop_deadline;
    cairn_err_t err;
};

static uint64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* d/2 + a uniform random part of d/2: "equal jitter", so retries of many nodes spread out. */
static uint64_t jitter(uint64_t d)
{
    uint32_t half = d / 2 > UINT32_MAX ? UINT32_MAX : (uint32_t)(d / 2);
    return d - half + (half ? randombytes_uniform(half + 1) : 0);
}

/* ---- per-peer status, through the writer --------------------------------------------- */

static void status_done(svc_job_t *job)
{
    svc_t *s = job->ctx;
    if (job->err != CAIRN_OK) {
        char p[9];
        cairn__svc_key_prefix(p, job->key);
        svc_field_t f[] = {SVC_S("peer", p), SVC_S("error", cairn_err_name(job->err))};
        cairn__svc_log(&s->log, CAIRN_LOG_ERROR, "status-write-failed", f, 2);
    }
    free(job);
}

static void record(svc_t *s, const uint8_t key[32], const svc_outcome_t *o)
{
    svc_job_t *job = calloc(1, sizeof *job);
    if (job == NULL)
        return; /* a status is advice; the session's changes are already in */
    job->kind = SVC_JOB_STATUS;
    memcpy(job->key, key, 32);
    job->outcome = *o;
    job->done = status_done;
    job->ctx = s;
    cairn__svc_writer_submit(&s->writer, job);
}

/* ---- peers -------------------------------------------------------------------------- */

static svc_peer_t *peer_by_key(svc_t *s, const uint8_t key[32])
{
    for (svc_peer_t *p = s->peers; p != NULL; p = p->next)
        if (!p->removed && memcmp(p->cfg.key, key, 32) == 0)
            return p;
    return NULL;
}

static int reload_one(void *ctx, const cairn_peer_t *cfg)
{
    svc_t *s = ctx;
    svc_peer_t *p = peer_by_key(s, cfg->key);
    if (p == NULL) {
        p = calloc(1, sizeof *p);
        if (p == NULL)
            return 0;
        p->svc = s;
        p->next_dial = uv_now(&s->loop); /* a new peer is dialled at once */
        p->next = s->peers;
        s->peers = p;
    }
    p->cfg = *cfg;
    uint16_t port = 0;
    if (cairn_peer_addr_parse(cfg->addr, p->host, sizeof p->host, &port) != CAIRN_OK)
        p->host[0] = '\0'; /* validated when stored; never dialled if not */
    snprintf(p->port, sizeof p->port, "%u", (unsigned)port);
    p->mark = 1;
    return 0;
}

static void free_removed_peers(svc_t *s)
{
    for (svc_peer_t **pp = &s->peers; *pp != NULL;) {
        svc_peer_t *p = *pp;
        if (p->removed && !p->busy) {
            *pp = p->next;
            free(p);
        } else {
            pp = &p->next;
        }
    }
}

/* Read the peer list again: peers added are dialled at once, peers removed are dropped. */
static void reload_peers(svc_t *s)
{
    for (svc_peer_t *p = s->peers; p != NULL; p = p->next)
        p->mark = 0;
    cairn_err_t err = cairn_peer_list(s->store, reload_one, s);
    if (err != CAIRN_OK) {
        svc_field_t f[] = {SVC_S("error", cairn_err_name(err))};
        cairn__svc_log(&s->log, CAIRN_LOG_ERROR, "peer-list-unreadable", f, 1);
        return; /* keep dialling the peers we knew */
    }
    for (svc_peer_t *p = s->peers; p != NULL; p = p->next)
        if (!p->mark)
            p->removed = 1;
    free_removed_peers(s);
}

static void backoff(svc_t *s, svc_peer_t *p, const char *why)
{
    uint64_t d = p->backoff_ms == 0 ? CAIRN_SERVICE_BACKOFF_MIN_MS : 2 * p->backoff_ms;
    if (d > CAIRN_SERVICE_BACKOFF_MAX_MS)
        d = CAIRN_SERVICE_BACKOFF_MAX_MS;
    p->backoff_ms = d;
    uint64_t wait = jitter(d);
    p->next_dial = uv_now(&s->loop) + wait;
    char k[9];
    cairn__svc_key_prefix(k, p->cfg.key);
    svc_field_t f[] = {SVC_S("peer", k), SVC_S("addr", p->cfg.addr), SVC_S("reason", why),
                       SVC_U("retry_ms", wait)};
    cairn__svc_log(&s->log, CAIRN_LOG_INFO, "peer-backoff", f, 4);
}

static void unreachable(svc_t *s, svc_peer_t *p, uint64_t started_wall, const char *detail)
{
    p->busy = 0;
    char k[9];
    cairn__svc_key_prefix(k, p->cfg.key);
    svc_field_t f[] = {SVC_S("peer", k), SVC_S("addr", p->cfg.addr), SVC_S("error", detail)};
    cairn__svc_log(&s->log, CAIRN_LOG_WARN, "peer-unreachable", f, 3);
    svc_outcome_t o = {.start_ms = started_wall, .end_ms = wall_ms()};
    snprintf(o.error, sizeof o.error, "unreachable");
    record(s, p->cfg.key, &o);
    if (!s->stopping)
        backoff(s, p, "unreachable");
}

/* ---- connections ---------------------------------------------------------------------- */

static void link_conn(svc_t *s, svc_conn_t *c)
{
    c->owner = s;
    c->prev = NULL;
    c->next = s->conns;
    if (s->conns != NULL)
        s->conns->prev = c;
    s->conns = c;
    s->nconns++;
}

static void unlink_conn(svc_t *s, svc_conn_t *c)
{
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        s->conns = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    s->nconns--;
    /* c->next is kept: a walk of the list that reached c goes on from it. */
    c->dead_next = s->dead;
    s->dead = c;
}

static void free_dead(svc_t *s)
{
    while (s->dead != NULL) {
        svc_conn_t *c = s->dead;
        s->dead = c->dead_next;
        cairn__svc_conn_free(c);
    }
}

static int live_with(svc_t *s, const uint8_t key[32])
{
    for (svc_conn_t *c = s->conns; c != NULL; c = c->next)
        if (!c->finished && c->admitted && memcmp(c->peer, key, 32) == 0)
            return 1;
    return 0;
}

/*
 * Of two sessions with one peer, which to keep (1: a). Dialled from both
 * ends at once: the one initiated by the lower key, which both ends agree
 * on. Dialled twice from one end: the newer, because its initiator opened
 * it while the older lived, so to it the older is dead or stuck.
 */
static int keep_first(svc_t *s, const svc_conn_t *a, const svc_conn_t *b)
{
    if (a->initiator == b->initiator)
        return a->started_ms >= b->started_ms;
    int self_lower = memcmp(s->self, a->peer, 32) < 0;
    return a->initiator == self_lower;
}

static void on_auth(svc_conn_t *c)
{
    svc_t *s = c->owner;
    char k[9];
    cairn__svc_key_prefix(k, c->peer);
    svc_field_t f[] = {SVC_S("peer", k), SVC_S("dir", c->initiator ? "out" : "in")};
    cairn__svc_log(&s->log, CAIRN_LOG_INFO, "session-opened", f, 2);
    for (svc_conn_t *d = s->conns; d != NULL; d = d->next) {
        if (d == c || d->finished || !d->admitted || !cairn__svc_conn_live(d) ||
            memcmp(d->peer, c->peer, 32) != 0)
            continue;
        svc_conn_t *loser = keep_first(s, c, d) ? d : c;
        loser->duplicate = 1;
        cairn__svc_conn_close(loser, CAIRN_CLOSE_BY_PEER);
        break;
    }
}

static void check_stopped(svc_t *s);

static void on_ended(svc_conn_t *c)
{
    svc_t *s = c->owner;
    unlink_conn(s, c);
    svc_peer_t *p = c->peer_slot;
    if (c->end == SVC_END_CONNECT) {
        if (p != NULL && s->stopping)
            p->busy = 0; /* cancelled by the shutdown */
        else if (p != NULL)
            unreachable(s, p, c->started_wall, "connect");
        check_stopped(s);
        return;
    }
    cairn_sync_stats_t st;
    cairn_sync_get_stats(c->s, &st);
    int done = cairn_sync_state(c->s) == CAIRN_SYNC_DONE && c->end == SVC_END_SESSION;
    const char *why = cairn__svc_conn_end_name(c);
    char k[9] = "-";
    if (c->peer_known)
        cairn__svc_key_prefix(k, c->peer);
    svc_field_t f[] = {SVC_S("peer", k),
                       SVC_S("dir", c->initiator ? "out" : "in"),
                       SVC_S("reason", why),
                       SVC_U("changes_in", st.changes_in),
                       SVC_U("changes_out", st.changes_out),
                       SVC_U("applied", c->applied),
                       SVC_U("rejected", c->ingest_rejected),
                       SVC_U("bytes_in", st.bytes_in),
                       SVC_U("bytes_out", st.bytes_out),
                       SVC_U("ms", uv_now(&s->loop) - c->started_ms)};
    cairn__svc_log(&s->log, done || c->duplicate ? CAIRN_LOG_INFO : CAIRN_LOG_WARN,
                   "session-closed", f, sizeof f / sizeof f[0]);
    if (c->admitted && !c->duplicate) { /* a refused stranger leaves no record */
        svc_outcome_t o = {.start_ms = c->started_wall,
                           .end_ms = wall_ms(),
                           .session = 1,
                           .completed = done,
                           .changes_in = c->applied,
                           .changes_out = st.changes_out,
                           .bytes_in = st.bytes_in,
                           .bytes_out = st.bytes_out,
                           .rejected = c->ingest_rejected};
        if (!done)
            snprintf(o.error, sizeof o.error, "%s", why);
        record(s, c->peer, &o);
    }
    if (c->applied > 0)
        s->dirty = 1; /* send it on to the other peers */
    if (p != NULL) {
        p->busy = 0;
        if (done || c->duplicate) {
            p->backoff_ms = 0;
            p->next_dial = uv_now(&s->loop) + s->o.interval_ms;
        } else if (!s->stopping) {
            backoff(s, p, why);
        }
    }
    svc_peer_t *q = c->admitted ? peer_by_key(s, c->peer) : NULL;
    if (q != NULL && q->again && !q->busy && q->backoff_ms == 0) {
        q->again = 0;
        q->next_dial = uv_now(&s->loop);
    }
    check_stopped(s);
}

static const svc_conn_ops_t service_ops = {on_auth, on_ended};

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    svc_peer_t *p = req->data;
    svc_t *s = p->svc;
    s->resolving--;
    uint64_t started = wall_ms();
    if (s->stopping || p->removed) {
        p->busy = 0;
    } else if (status < 0 || res == NULL) {
        unreachable(s, p, started, uv_err_name(status));
    } else {
        svc_conn_t *c;
        cairn_err_t err = cairn__svc_conn_new(&s->loop, s->store, &s->writer, &service_ops, 1,
                                              s->o.timeout_ms, &c);
        if (err != CAIRN_OK) {
            p->busy = 0;
            backoff(s, p, cairn_err_name(err));
        } else {
            c->peer_slot = p;
            c->started_wall = started;
            link_conn(s, c);
            int rc = cairn__svc_conn_connect(c, res->ai_addr);
            if (rc != 0) {
                c->end = SVC_END_CONNECT;
                cairn__svc_conn_abort(c); /* ends through on_ended, as unreachable */
            }
        }
    }
    uv_freeaddrinfo(res);
    if (s->stopping)
        check_stopped(s);
    else
        free_removed_peers(s);
}

static void dial(svc_t *s, svc_peer_t *p)
{
    if (p->host[0] == '\0')
        return;
    struct addrinfo hints;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    p->busy = 1;
    p->again = 0;
    p->gai.data = p;
    int rc = uv_getaddrinfo(&s->loop, &p->gai, on_resolved, p->host, p->port, &hints);
    if (rc != 0) {
        unreachable(s, p, wall_ms(), uv_err_name(rc));
        return;
    }
    s->resolving++;
}

static void on_connection(uv_stream_t *server, int status)
{
    svc_t *s = server->data;
    if (status < 0)
        return;
    svc_conn_t *c = NULL;
    cairn_err_t err = s->nconns >= CAIRN_SERVICE_MAX_SESSIONS
                          ? CAIRN_ENOMEM
                          : cairn__svc_conn_new(&s->loop, s->store, &s->writer, &service_ops, 0,
                                                s->o.timeout_ms, &c);
    if (err != CAIRN_OK) {
        /* Take it off the queue and drop it, or libuv would tell us again and again. */
        uv_tcp_t *t = malloc(sizeof *t);
        if (t != NULL && uv_tcp_init(&s->loop, t) == 0) {
            (void)uv_accept(server, (uv_stream_t *)t);
            uv_close((uv_handle_t *)t, (uv_close_cb)free);
        } else {
            free(t);
        }
        svc_field_t f[] = {SVC_U("sessions", s->nconns), SVC_S("error", cairn_err_name(err))};
        cairn__svc_log(&s->log, CAIRN_LOG_WARN, "connection-refused", f, 2);
        return;
    }
    c->started_wall = wall_ms();
    link_conn(s, c);
    if (cairn__svc_conn_accept(c, server) != 0)
        cairn__svc_conn_abort(c);
    else
        cairn__svc_log(&s->log, CAIRN_LOG_DEBUG, "connection-accepted", NULL, 0);
}

/* ---- the heartbeat ---------------------------------------------------------------- */

static void notice_commits(svc_t *s)
{
    uint64_t others;
    if (!cairn__svc_writer_others(&s->writer, s->seq_base, &others) || others == s->others_seen)
        return;
    int more = others > s->others_seen;
    s->others_seen = others;
    if (!more)
        return;
    cairn__svc_log(&s->log, CAIRN_LOG_DEBUG, "local-commit", NULL, 0);
    reload_peers(s); /* `cairn peer add` is such a commit too */
    s->dirty = 1;
}

static void on_beat(uv_timer_t *t)
{
    svc_t *s = t->data;
    uint64_t now = uv_now(&s->loop);
    free_dead(s);
    if (s->stopping) {
        for (svc_conn_t *c = s->conns; c != NULL; c = c->next)
            if (now >= s->stop_deadline)
                cairn__svc_conn_abort(c);
            else
                cairn__svc_conn_tick(c, now);
        check_stopped(s);
        return;
    }
    notice_commits(s);
    if (now >= s->next_reload) {
        reload_peers(s);
        s->next_reload = now + s->o.interval_ms;
    }
    for (svc_conn_t *c = s->conns; c != NULL; c = c->next) {
        if (c->connecting && now - c->started_ms >= CONNECT_TIMEOUT_MS)
            cairn__svc_conn_close(c, CAIRN_CLOSE_TIMEOUT);
        else
            cairn__svc_conn_tick(c, now);
    }
    for (svc_peer_t *p = s->peers; p != NULL; p = p->next) {
        if (p->removed)
            continue;
        int live = live_with(s, p->cfg.key);
        if (s->dirty && (p->busy || live))
            p->again = 1; /* that session's snapshot predates the news */
        else if (s->dirty && p->backoff_ms == 0)
            p->next_dial = now;
        if (!p->busy && !live && now >= p->next_dial)
            dial(s, p);
    }
    s->dirty = 0;
}

/* ---- start and stop ---------------------------------------------------------------- */

static void close_handle(uv_handle_t *h)
{
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

static void check_stopped(svc_t *s)
{
    if (!s->stopping || s->stopped || s->conns != NULL || s->resolving > 0)
        return;
    s->stopped = 1;
    cairn__svc_writer_stop(&s->writer); /* the last status records are written */
    free_dead(s);
    close_handle((uv_handle_t *)&s->beat);
    close_handle((uv_handle_t *)&s->sigint);
    close_handle((uv_handle_t *)&s->sigterm);
    svc_field_t f[] = {SVC_U("commits", s->writer.commits), SVC_U("batches", s->writer.batches)};
    cairn__svc_log(&s->log, CAIRN_LOG_INFO, "stopped", f, 2);
}

static void begin_stop(svc_t *s, const char *why)
{
    if (s->stopping) {
        for (svc_conn_t *c = s->conns; c != NULL; c = c->next)
            cairn__svc_conn_abort(c); /* a second signal: do not wait for goodbyes */
        return;
    }
    s->stopping = 1;
    s->stop_deadline = uv_now(&s->loop) + SHUTDOWN_GRACE_MS;
    svc_field_t f[] = {SVC_S("signal", why), SVC_U("sessions", s->nconns)};
    cairn__svc_log(&s->log, CAIRN_LOG_INFO, "shutdown", f, 2);
    close_handle((uv_handle_t *)&s->listener);
    for (svc_peer_t *p = s->peers; p != NULL; p = p->next)
        if (p->busy)
            (void)uv_cancel((uv_req_t *)&p->gai); /* the callback still runs */
    for (svc_conn_t *c = s->conns; c != NULL; c = c->next)
        cairn__svc_conn_close(c, CAIRN_CLOSE_BY_PEER); /* the peer must not take it for "done" */
    check_stopped(s);
}

static void on_signal(uv_signal_t *h, int signum)
{
    begin_stop(h->data, signum == SIGINT ? "SIGINT" : "SIGTERM");
}

static cairn_err_t listen_on(svc_t *s)
{
    union {
        struct sockaddr sa;
        struct sockaddr_in in4;
        struct sockaddr_in6 in6;
    } addr;
    const char *host = s->o.listen_host;
    if (uv_ip4_addr(host, s->o.listen_port, &addr.in4) != 0 &&
        uv_ip6_addr(host, s->o.listen_port, &addr.in6) != 0)
        return CAIRN_EINVAL; /* listen takes an IP address, not a name */
    int rc = uv_tcp_init(&s->loop, &s->listener);
    if (rc != 0)
        return CAIRN_ENOMEM;
    s->listener.data = s;
    rc = uv_tcp_bind(&s->listener, &addr.sa, 0);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)&s->listener, 128, on_connection);
    if (rc != 0) {
        svc_field_t f[] = {SVC_S("host", host), SVC_U("port", s->o.listen_port),
                           SVC_S("error", uv_err_name(rc))};
        cairn__svc_log(&s->log, CAIRN_LOG_ERROR, "listen-failed", f, 3);
        uv_close((uv_handle_t *)&s->listener, NULL);
        return CAIRN_ENET;
    }
    return CAIRN_OK;
}

static void defaults(cairn_service_opts_t *o)
{
    if (o->listen_host == NULL)
        o->listen_host = CAIRN_SERVICE_HOST;
    if (o->listen_port == 0)
        o->listen_port = CAIRN_SERVICE_PORT;
    if (o->interval_ms == 0)
        o->interval_ms = CAIRN_SERVICE_INTERVAL_MS;
    if (o->poll_ms == 0)
        o->poll_ms = CAIRN_SERVICE_POLL_MS;
    if (o->log == NULL)
        o->log = stderr;
}

/* Start everything after the loop and the writer; the loop runs once it returns OK. */
static cairn_err_t start(svc_t *s)
{
    cairn_err_t err = listen_on(s);
    if (err != CAIRN_OK)
        return err;
    svc_field_t f[] = {SVC_S("host", s->o.listen_host), SVC_U("port", s->o.listen_port),
                       SVC_U("interval_ms", s->o.interval_ms)};
    cairn__svc_log(&s->log, CAIRN_LOG_INFO, "listening", f, 3);
    uv_signal_init(&s->loop, &s->sigint);
    uv_signal_init(&s->loop, &s->sigterm);
    s->sigint.data = s->sigterm.data = s;
    uv_signal_start(&s->sigint, on_signal, SIGINT);
    uv_signal_start(&s->sigterm, on_signal, SIGTERM);
    uv_timer_init(&s->loop, &s->beat);
    s->beat.data = s;
    uv_timer_start(&s->beat, on_beat, 0, s->o.poll_ms);
    reload_peers(s);
    s->next_reload = uv_now(&s->loop) + s->o.interval_ms;
    size_t n = 0;
    for (svc_peer_t *p = s->peers; p != NULL; p = p->next)
        n++;
    svc_field_t g[] = {SVC_U("peers", n)};
    cairn__svc_log(&s->log, CAIRN_LOG_INFO, "peers", g, 1);
    return CAIRN_OK;
}

cairn_err_t cairn_service_run(cairn_store_t *store, const cairn_service_opts_t *opts)
{
    if (store == NULL || opts == NULL)
        return CAIRN_EINVAL;
    cairn_err_t perr = cairn__svc_prepare(store);
    if (perr != CAIRN_OK)
        return perr;
    svc_t *s = calloc(1, sizeof *s);
    if (s == NULL)
        return CAIRN_ENOMEM;
    s->store = store;
    s->o = *opts;
    defaults(&s->o);
    s->log = (svc_log_t){s->o.log, s->o.log_format, s->o.log_level};
    cairn_store_info_t info;
    cairn_err_t err = cairn_store_info(store, &info);
    if (err == CAIRN_OK) {
        memcpy(s->self, info.public_key, 32);
        err = cairn_store_commit_seq(store, &s->seq_base);
    }
    if (err != CAIRN_OK) {
        free(s);
        return err;
    }
    if (uv_loop_init(&s->loop) != 0) {
        free(s);
        return CAIRN_ENOMEM;
    }
    if (cairn__svc_writer_start(&s->writer, &s->loop, store) != 0) {
        err = CAIRN_ENOMEM;
    } else {
        err = start(s);
        if (err != CAIRN_OK)
            cairn__svc_writer_stop(&s->writer); /* nothing else was started */
    }
    uv_run(&s->loop, UV_RUN_DEFAULT);
    free_dead(s);
    while (s->peers != NULL) {
        svc_peer_t *p = s->peers;
        s->peers = p->next;
        free(p);
    }
    (void)uv_loop_close(&s->loop);
    free(s);
    return err;
}
