/*
 * client.c - one manual session with a running service (`cairn sync DIR HOST:PORT`).
 *
 * The same connection pump and writer thread as the service, on a loop of
 * its own that lives for one session: resolve, connect, run the session to
 * its end, record the peer's status, and classify how it ended so a script
 * can tell "in sync" from "run again", "unreachable" and "refused".
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
#include "writer.h"

#define PROGRESS_MS 100u
#define CONNECT_TIMEOUT_MS 10000u

static const char *const outcome_names[] = {"in-sync", "partial", "unreachable", "refused",
                                            "store"};

const char *cairn_remote_outcome_name(cairn_remote_outcome_t o)
{
    return (unsigned)o <= CAIRN_REMOTE_STORE ? outcome_names[o] : "unknown";
}

typedef struct client {
    uv_loop_t loop;
    svc_writer_t writer;
    uv_timer_t timer;
    uv_getaddrinfo_t gai;
    char port[8];
    cairn_store_t *store;
    svc_conn_t *c;
    uint64_t timeout_ms, t0, wall0;
    cairn_remote_progress_fn progress;
    void *ctx;
    cairn_remote_result_t *res;
    int over;
} client_t;

static uint64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void status_done(svc_job_t *job)
{
    free(job);
}

/* Everything is over: record, stop the writer (it writes the record first), close the timer. */
static void finish(client_t *cl)
{
    cl->over = 1;
    cl->res->duration_ms = uv_now(&cl->loop) - cl->t0;
    if (cl->progress != NULL)
        cl->progress(cl->ctx, &cl->res->stats);
    cairn__svc_writer_stop(&cl->writer);
    uv_close((uv_handle_t *)&cl->timer, NULL);
}

static cairn_remote_outcome_t classify(const svc_conn_t *c)
{
    switch (c->end) {
    case SVC_END_CONNECT:
        return CAIRN_REMOTE_UNREACHABLE;
    case SVC_END_LOCAL:
        return CAIRN_REMOTE_STORE;
    case SVC_END_LOST:
        return CAIRN_REMOTE_PARTIAL;
    case SVC_END_SESSION:
        break;
    }
    if (cairn_sync_state(c->s) == CAIRN_SYNC_DONE)
        return CAIRN_REMOTE_IN_SYNC;
    switch (cairn_sync_close_reason(c->s)) {
    case CAIRN_CLOSE_AUTH:
    case CAIRN_CLOSE_UNKNOWN_PEER:
    case CAIRN_CLOSE_VERSION:
        return CAIRN_REMOTE_REFUSED;
    default:
        return CAIRN_REMOTE_PARTIAL;
    }
}

static void on_ended(svc_conn_t *c)
{
    client_t *cl = c->owner;
    cairn_remote_result_t *r = cl->res;
    r->outcome = classify(c);
    r->reason = cairn_sync_close_reason(c->s);
    r->store_err = c->end == SVC_END_LOCAL ? c->local_err : CAIRN_OK;
    if (r->outcome != CAIRN_REMOTE_UNREACHABLE)
        cairn_sync_get_stats(c->s, &r->stats); /* else nothing was sent: no connection */
    r->plans_in = c->plans_in;
    memcpy(r->rejected, c->rejected, sizeof r->rejected);
    r->peer_known = c->peer_known;
    if (c->peer_known)
        memcpy(r->peer, c->peer, CAIRN_PUBLIC_KEY_BYTES);
    if (c->admitted) { /* only a peer our roster admitted gets a status row */
        svc_job_t *job = calloc(1, sizeof *job);
        if (job != NULL) {
            job->kind = SVC_JOB_STATUS;
            memcpy(job->key, c->peer, CAIRN_PUBLIC_KEY_BYTES);
            svc_outcome_t *o = &job->outcome;
            o->start_ms = cl->wall0;
            o->end_ms = wall_ms();
            o->session = 1;
            o->completed = r->outcome == CAIRN_REMOTE_IN_SYNC;
            o->changes_in = c->applied;
            o->changes_out = r->stats.changes_out;
            o->bytes_in = r->stats.bytes_in;
            o->bytes_out = r->stats.bytes_out;
            o->rejected = c->ingest_rejected;
            if (!o->completed)
                snprintf(o->error, sizeof o->error, "%s", cairn__svc_conn_end_name(c));
            job->done = status_done;
            cairn__svc_writer_submit(&cl->writer, job);
        }
    }
    finish(cl);
}

static const svc_conn_ops_t client_ops = {NULL, on_ended};

static void on_timer(uv_timer_t *t)
{
    client_t *cl = t->data;
    if (cl->over || cl->c == NULL)
        return;
    uint64_t now = uv_now(&cl->loop);
    if (cl->c->connecting && now - cl->c->started_ms >= CONNECT_TIMEOUT_MS) {
        cairn__svc_conn_close(cl->c, CAIRN_CLOSE_TIMEOUT);
        return;
    }
    cairn__svc_conn_tick(cl->c, now);
    if (!cl->over && cl->progress != NULL) {
        cairn_sync_stats_t st;
        cairn_sync_get_stats(cl->c->s, &st);
        cl->progress(cl->ctx, &st);
    }
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    client_t *cl = req->data;
    if (status < 0 || res == NULL) {
        cl->res->outcome = CAIRN_REMOTE_UNREACHABLE;
        finish(cl);
    } else {
        svc_conn_t *c;
        cairn_err_t err = cairn__svc_conn_new(&cl->loop, cl->store, &cl->writer, &client_ops, 1,
                                              cl->timeout_ms, &c);
        if (err != CAIRN_OK) {
            cl->res->outcome = CAIRN_REMOTE_STORE;
            cl->res->store_err = err;
            finish(cl);
        } else {
            c->owner = cl;
            c->count_plans = 1;
            cl->c = c;
            if (cairn__svc_conn_connect(c, res->ai_addr) != 0) {
                c->end = SVC_END_CONNECT;
                cairn__svc_conn_abort(c); /* ends through on_ended */
            }
        }
    }
    uv_freeaddrinfo(res);
}

cairn_err_t cairn_sync_remote(cairn_store_t *store, const char *host, uint16_t port,
                              uint64_t timeout_ms, cairn_remote_progress_fn progress, void *ctx,
                              cairn_remote_result_t *result)
{
    if (store == NULL || host == NULL || port == 0 || result == NULL)
        return CAIRN_EINVAL;
    memset(result, 0, sizeof *result);
    cairn_err_t perr = cairn__svc_prepare(store);
    if (perr != CAIRN_OK)
        return perr;
    client_t *cl = calloc(1, sizeof *cl);
    if (cl == NULL)
        return CAIRN_ENOMEM;
    cl->store = store;
    cl->timeout_ms = timeout_ms;
    cl->progress = progress;
    cl->ctx = ctx;
    cl->res = result;
    cairn_err_t err = CAIRN_OK;
    if (uv_loop_init(&cl->loop) != 0) {
        free(cl);
        return CAIRN_ENOMEM;
    }
    if (cairn__svc_writer_start(&cl->writer, &cl->loop, store) != 0) {
        err = CAIRN_ENOMEM;
    } else {
        cl->t0 = uv_now(&cl->loop);
        cl->wall0 = wall_ms();
        uv_timer_init(&cl->loop, &cl->timer);
        cl->timer.data = cl;
        uv_timer_start(&cl->timer, on_timer, PROGRESS_MS, PROGRESS_MS);
        struct addrinfo hints;
        memset(&hints, 0, sizeof hints);
        hints.ai_family = AF_UNSPEC;
        hints.ai_socktype = SOCK_STREAM;
        snprintf(cl->port, sizeof cl->port, "%u", (unsigned)port);
        cl->gai.data = cl;
        if (uv_getaddrinfo(&cl->loop, &cl->gai, on_resolved, host, cl->port, &hints) != 0) {
            result->outcome = CAIRN_REMOTE_UNREACHABLE;
            finish(cl);
        }
    }
    uv_run(&cl->loop, UV_RUN_DEFAULT);
    cairn__svc_conn_free(cl->c);
    (void)uv_loop_close(&cl->loop);
    free(cl);
    return err;
}
