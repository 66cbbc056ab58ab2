/*
 * conn.c - a socket pumped into a sync session and back.
 *
 * The session decides everything (what to send, when it ends, why); this
 * file only moves bytes and work, on the loop thread. One idea to hold:
 * after every event (bytes read, a write done, work done, a tick) the
 * connection is "pumped": authenticated peer noticed, the next work handed
 * to the writer, output written if no write is in flight, reading started
 * or stopped as the session wants, and the socket closed once the session
 * has ended and said its last word. The connection is over (ops->ended)
 * when the socket is closed and no work is with the writer: only then may
 * the session, whose work arrays the writer reads, be freed.
 */
#include "conn.h"

#include <signal.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "grow.h"

#define OUTPUT_LIMIT ((size_t)1 << 20) /* per session: bounds memory with many peers */

int cairn__svc_conn_live(const svc_conn_t *c)
{
    cairn_sync_state_t st = cairn_sync_state(c->s);
    return st == CAIRN_SYNC_HANDSHAKE || st == CAIRN_SYNC_RUNNING;
}

static uv_loop_t *loop_of(const svc_conn_t *c)
{
    return c->tcp.loop;
}

static void pump(svc_conn_t *c);

static void maybe_finish(svc_conn_t *c)
{
    if (c->finished || c->tcp_inited || c->work_queued)
        return;
    c->finished = 1;
    c->ops->ended(c);
}

static void on_closed(uv_handle_t *h)
{
    svc_conn_t *c = h->data;
    c->tcp_inited = 0;
    maybe_finish(c);
}

static void close_tcp(svc_conn_t *c)
{
    c->tcp_open = 0;
    c->reading = 0;
    if (c->tcp_inited && !uv_is_closing((uv_handle_t *)&c->tcp))
        uv_close((uv_handle_t *)&c->tcp, on_closed);
}

/* The connection broke (or could not be written): the session ends here. */
static void lost(svc_conn_t *c)
{
    if (cairn__svc_conn_live(c)) {
        c->end = SVC_END_LOST;
        cairn_sync_close(c->s, CAIRN_CLOSE_BY_PEER);
    }
    close_tcp(c);
}

static void local_failure(svc_conn_t *c, cairn_err_t err)
{
    if (c->end != SVC_END_LOCAL) {
        c->end = SVC_END_LOCAL;
        c->local_err = err;
    }
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)suggested;
    svc_conn_t *c = h->data;
    *buf = uv_buf_init(c->rbuf, sizeof c->rbuf);
}

static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
    svc_conn_t *c = st->data;
    if (nread > 0) {
        cairn_err_t err =
            cairn_sync_feed(c->s, (const uint8_t *)buf->base, (size_t)nread, uv_now(loop_of(c)));
        if (err != CAIRN_OK)
            local_failure(c, err);
    } else if (nread < 0) {
        lost(c); /* EOF or an error: nothing more will come */
    }
    pump(c);
}

/* The longest a write may stay pending: the session's own default timeout. */
#define SVC_WRITE_DEADLINE_MS 60000u

static void on_write(uv_write_t *req, int status)
{
    svc_conn_t *c = req->data;
    c->writing = 0;
    c->write_since = 0;
    if (status < 0)
        lost(c);
    pump(c);
}

/* Count the distinct plans among the changes of w (the manual client's summary). */
static void count_plans(svc_conn_t *c, const cairn_sync_work_t *w)
{
    for (size_t i = 0; i < w->n; i++) {
        cairn_change_t *ch = NULL;
        if (cairn_change_decode(w->bytes[i], w->lens[i], &ch) != CAIRN_OK)
            continue; /* ingest will say why */
        int seen = 0;
        for (size_t k = 0; !seen && k < c->nplans; k++)
            seen = memcmp(c->plans[k], ch->plan, CAIRN_PLAN_ID_BYTES) == 0;
        if (!seen &&
            cairn_grow(&c->plans, &c->plans_cap, c->nplans, sizeof *c->plans, 16) == CAIRN_OK)
            memcpy(c->plans[c->nplans++], ch->plan, CAIRN_PLAN_ID_BYTES);
        cairn_change_free(ch);
    }
    c->plans_in = c->nplans;
}

static void on_work_done(svc_job_t *job)
{
    svc_conn_t *c = job->ctx;
    c->work_queued = 0;
    if (job->err == CAIRN_OK) {
        c->applied += job->stats.applied;
        c->ingest_rejected += job->stats.rejected;
        for (size_t r = 0; r < CAIRN_REASON__COUNT; r++)
            c->rejected[r] += job->rejected[r];
    } else {
        local_failure(c, job->err);
    }
    cairn_err_t err = cairn_sync_work_done(c->s, job->err, &job->stats);
    if (err != CAIRN_OK)
        local_failure(c, err);
    pump(c);
}

static void submit_work(svc_conn_t *c)
{
    cairn_sync_work_t w;
    if (c->work_queued || !cairn_sync_work(c->s, &w))
        return;
    if (c->count_plans)
        count_plans(c, &w);
    memset(&c->job, 0, sizeof c->job);
    c->job.kind = SVC_JOB_INGEST;
    c->job.work = w;
    c->job.done = on_work_done;
    c->job.ctx = c;
    c->work_queued = 1;
    cairn__svc_writer_submit(c->writer, &c->job);
}

static void write_output(svc_conn_t *c)
{
    size_t len;
    const uint8_t *p = cairn_sync_output(c->s, &len);
    if (len == 0)
        return;
    if (len > c->wcap) {
        uint8_t *nb = malloc(len);
        if (nb == NULL) {
            local_failure(c, CAIRN_ENOMEM);
            cairn_sync_close(c->s, CAIRN_CLOSE_STORE);
            close_tcp(c);
            return;
        }
        free(c->wbuf);
        c->wbuf = nb;
        c->wcap = len;
    }
    memcpy(c->wbuf, p, len);
    cairn_err_t err = cairn_sync_consumed(c->s, len);
    if (err != CAIRN_OK)
        local_failure(c, err);
    uv_buf_t b = uv_buf_init((char *)c->wbuf, (unsigned)len);
    c->write_req.data = c;
    if (uv_write(&c->write_req, (uv_stream_t *)&c->tcp, &b, 1, on_write) != 0) {
        lost(c);
        return;
    }
    c->writing = 1;
    c->write_since = uv_now(c->tcp.loop);
}

static void set_reading(svc_conn_t *c, int want)
{
    if (want && !c->reading) {
        if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) == 0)
            c->reading = 1;
        else
            lost(c);
    } else if (!want && c->reading) {
        uv_read_stop((uv_stream_t *)&c->tcp);
        c->reading = 0;
    }
}

static void pump(svc_conn_t *c)
{
    if (c->finished)
        return;
    if (!c->peer_known && cairn_sync_peer(c->s) != NULL) {
        memcpy(c->peer, cairn_sync_peer(c->s), CAIRN_PUBLIC_KEY_BYTES);
        c->peer_known = 1;
    }
    if (c->peer_known && !c->admitted && cairn_sync_admitted(c->s)) {
        c->admitted = 1;
        if (c->ops->authenticated != NULL)
            c->ops->authenticated(c);
    }
    submit_work(c);
    if (c->tcp_open && !c->writing)
        write_output(c);
    if (c->tcp_open) {
        if (!cairn__svc_conn_live(c)) {
            size_t left;
            (void)cairn_sync_output(c->s, &left);
            if (!c->writing && left == 0)
                close_tcp(c); /* said everything: the peer reads our close as EOF */
            else
                set_reading(c, 0);
        } else {
            set_reading(c, cairn_sync_wants_input(c->s));
        }
    }
    maybe_finish(c);
}

cairn_err_t cairn__svc_prepare(cairn_store_t *store)
{
    uint8_t org[32];
    if (cairn_org_key(store, org) != CAIRN_OK)
        return CAIRN_ENOORG;
    if (sodium_init() < 0)
        return CAIRN_ECRYPTO;
    signal(SIGPIPE, SIG_IGN);
    return CAIRN_OK;
}

cairn_err_t cairn__svc_conn_new(uv_loop_t *loop, cairn_store_t *store, svc_writer_t *writer,
                                const svc_conn_ops_t *ops, int initiator, uint64_t timeout_ms,
                                svc_conn_t **out)
{
    svc_conn_t *c = calloc(1, sizeof *c);
    if (c == NULL)
        return CAIRN_ENOMEM;
    uint64_t now = uv_now(loop);
    cairn_sync_opts_t o = {initiator, now, 0, timeout_ms, OUTPUT_LIMIT, NULL};
    cairn_err_t err = cairn_sync_new(store, &o, &c->s);
    if (err != CAIRN_OK) {
        free(c);
        return err;
    }
    if (uv_tcp_init(loop, &c->tcp) != 0) {
        cairn_sync_free(c->s);
        free(c);
        return CAIRN_ENOMEM;
    }
    c->tcp.data = c;
    c->tcp_inited = 1;
    c->store = store;
    c->writer = writer;
    c->ops = ops;
    c->initiator = initiator;
    c->started_ms = now;
    *out = c;
    return CAIRN_OK;
}

static void start(svc_conn_t *c)
{
    c->tcp_open = 1;
    uv_tcp_nodelay(&c->tcp, 1);
    pump(c);
}

int cairn__svc_conn_accept(svc_conn_t *c, uv_stream_t *server)
{
    int rc = uv_accept(server, (uv_stream_t *)&c->tcp);
    if (rc == 0)
        start(c);
    return rc;
}

static void on_connect(uv_connect_t *req, int status)
{
    svc_conn_t *c = req->data;
    c->connecting = 0;
    if (status < 0 || c->tcp_inited == 0 || uv_is_closing((uv_handle_t *)&c->tcp)) {
        c->end = SVC_END_CONNECT;
        c->local_err = CAIRN_OK;
        cairn_sync_close(c->s, CAIRN_CLOSE_BY_PEER); /* never began */
        close_tcp(c);
        maybe_finish(c);
        return;
    }
    start(c);
}

int cairn__svc_conn_connect(svc_conn_t *c, const struct sockaddr *addr)
{
    c->connect_req.data = c;
    int rc = uv_tcp_connect(&c->connect_req, &c->tcp, addr, on_connect);
    if (rc == 0)
        c->connecting = 1;
    return rc;
}

void cairn__svc_conn_tick(svc_conn_t *c, uint64_t now)
{
    if (c->finished || c->connecting)
        return;
    /*
     * A peer that stops reading leaves our write pending; once the session
     * has ended nothing else would notice (its timeout no longer runs), and
     * the connection would hold its slot, and block dialling that peer,
     * for good.
     */
    if (c->writing && uv_now(c->tcp.loop) - c->write_since > SVC_WRITE_DEADLINE_MS) {
        cairn__svc_conn_abort(c);
        return;
    }
    cairn_err_t err = cairn_sync_tick(c->s, now);
    if (err != CAIRN_OK)
        local_failure(c, err);
    pump(c);
}

void cairn__svc_conn_close(svc_conn_t *c, cairn_close_reason_t reason)
{
    if (c->finished)
        return;
    if (c->connecting) {
        c->end = SVC_END_CONNECT;
        cairn_sync_close(c->s, reason);
        close_tcp(c); /* the connect callback runs with UV_ECANCELED */
        return;
    }
    cairn_sync_close(c->s, reason);
    pump(c);
}

void cairn__svc_conn_abort(svc_conn_t *c)
{
    if (c->finished)
        return;
    if (cairn__svc_conn_live(c)) {
        c->end = SVC_END_LOST;
        cairn_sync_close(c->s, CAIRN_CLOSE_BY_PEER);
    }
    close_tcp(c);
}

void cairn__svc_conn_free(svc_conn_t *c)
{
    if (c == NULL)
        return;
    cairn_sync_free(c->s);
    free(c->wbuf);
    free(c->plans);
    free(c);
}

const char *cairn__svc_conn_end_name(const svc_conn_t *c)
{
    if (c->duplicate)
        return "duplicate";
    switch (c->end) {
    case SVC_END_CONNECT:
        return "unreachable";
    case SVC_END_LOST:
        return "connection-lost";
    case SVC_END_LOCAL:
        return "store";
    case SVC_END_SESSION:
        break;
    }
    return cairn_close_reason_name(cairn_sync_close_reason(c->s));
}
