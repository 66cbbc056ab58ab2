/*
 * writer.c - the one thread that writes: grouped ingest, status records.
 *
 * The thread takes everything queued at once. Ingest jobs go into one
 * batch, each session's work in its own cairn_batch_ingest call (so each
 * session's order is kept and each gets its own counts), and one commit
 * makes them durable together: one fsync for many peers. If any call or
 * the commit fails, nothing of the batch is committed and every job in it
 * reports the error; their sessions close with reason store and the next
 * sessions offer the changes again. Status jobs follow, each a
 * read-modify-write of one peer's record, made here so two updates of one
 * peer can never race.
 */
#include "writer.h"

#include <stdlib.h>
#include <string.h>

#define GROUP_MAX 64 /* ingest jobs in one batch at most */

/* Take the whole queue, waiting for one; NULL when told to quit and it is empty. */
static svc_job_t *take(svc_writer_t *w)
{
    pthread_mutex_lock(&w->mu);
    while (w->queue == NULL && !w->quit)
        pthread_cond_wait(&w->cv, &w->mu);
    svc_job_t *jobs = w->queue;
    w->queue = w->queue_tail = NULL;
    pthread_mutex_unlock(&w->mu);
    return jobs;
}

static void finished(svc_writer_t *w, svc_job_t *job)
{
    pthread_mutex_lock(&w->mu);
    job->next = NULL;
    if (w->done_tail != NULL)
        w->done_tail->next = job;
    else
        w->done = job;
    w->done_tail = job;
    pthread_mutex_unlock(&w->mu);
}

/* The commit sequence before and after one of our commits, under commit_mu. */
static void count_commit(svc_writer_t *w, uint64_t before)
{
    uint64_t after = before;
    (void)cairn_store_commit_seq(w->store, &after);
    if (after > before)
        w->own_commits++; /* ours moves it by one, when it wrote anything */
    w->commits++;
}

static void run_ingest(svc_writer_t *w, svc_job_t **jobs, size_t n)
{
    cairn_batch_t *b = NULL;
    cairn_ingest_result_t *results = NULL;
    size_t rcap = 0;
    pthread_mutex_lock(&w->commit_mu);
    cairn_err_t err = cairn_batch_begin(w->store, &b);
    uint64_t before = 0;
    if (err == CAIRN_OK)
        err = cairn_store_commit_seq(w->store, &before);
    for (size_t i = 0; i < n; i++) {
        svc_job_t *j = jobs[i];
        memset(&j->stats, 0, sizeof j->stats);
        memset(j->rejected, 0, sizeof j->rejected);
        if (err == CAIRN_OK && j->work.n > rcap) {
            free(results);
            rcap = j->work.n;
            results = malloc(rcap * sizeof *results);
            if (results == NULL) {
                rcap = 0;
                err = CAIRN_ENOMEM;
            }
        }
        if (err == CAIRN_OK)
            err = cairn_batch_ingest(b, j->work.bytes, j->work.lens, j->work.n, results, &j->stats);
        for (size_t k = 0; err == CAIRN_OK && k < j->work.n; k++)
            if (results[k].verdict == CAIRN_REJECTED &&
                (unsigned)results[k].reason < CAIRN_REASON__COUNT)
                j->rejected[results[k].reason]++;
    }
    if (b != NULL) {
        if (err == CAIRN_OK) {
            err = cairn_batch_commit(b);
            if (err == CAIRN_OK)
                count_commit(w, before);
        } else {
            cairn_batch_abort(b);
        }
    }
    w->batches++;
    pthread_mutex_unlock(&w->commit_mu);
    free(results);
    for (size_t i = 0; i < n; i++) {
        jobs[i]->err = err;
        if (err != CAIRN_OK)
            memset(&jobs[i]->stats, 0, sizeof jobs[i]->stats);
    }
}

static void fold(cairn_peer_status_t *st, const svc_outcome_t *o)
{
    st->last_attempt_ms = o->start_ms;
    st->last_end_ms = o->end_ms;
    snprintf(st->last_error, sizeof st->last_error, "%s", o->error);
    if (!o->session) {
        st->failures++;
        return; /* no session: the last session's counts stay */
    }
    st->in_sync = o->completed;
    st->changes_in = o->changes_in;
    st->changes_out = o->changes_out;
    st->bytes_in = o->bytes_in;
    st->bytes_out = o->bytes_out;
    st->rejected = o->rejected;
    st->changes_in_total += o->changes_in;
    st->changes_out_total += o->changes_out;
    if (o->completed) {
        st->last_ok_ms = o->end_ms;
        st->sessions++;
    } else {
        st->failures++;
    }
}

static void run_status(svc_writer_t *w, svc_job_t *j)
{
    cairn_peer_status_t st;
    cairn_err_t err = cairn_peer_status_get(w->store, j->key, &st);
    if (err == CAIRN_ENOTFOUND || err == CAIRN_ECORRUPT) {
        memset(&st, 0, sizeof st); /* a damaged record is replaced, not kept */
        err = CAIRN_OK;
    }
    if (err == CAIRN_OK) {
        fold(&st, &j->outcome);
        pthread_mutex_lock(&w->commit_mu);
        uint64_t before = 0;
        (void)cairn_store_commit_seq(w->store, &before);
        err = cairn_peer_status_put(w->store, j->key, &st);
        if (err == CAIRN_OK)
            count_commit(w, before);
        pthread_mutex_unlock(&w->commit_mu);
    }
    j->err = err;
}

static void *writer_main(void *arg)
{
    svc_writer_t *w = arg;
    svc_job_t *jobs;
    while ((jobs = take(w)) != NULL) {
        svc_job_t *group[GROUP_MAX];
        while (jobs != NULL) {
            size_t n = 0;
            svc_job_t *status = NULL, **stail = &status;
            /* Up to GROUP_MAX ingest jobs; status jobs met on the way run after them. */
            while (jobs != NULL && n < GROUP_MAX) {
                svc_job_t *j = jobs;
                jobs = j->next;
                j->next = NULL;
                if (j->kind == SVC_JOB_INGEST) {
                    group[n++] = j;
                } else {
                    *stail = j;
                    stail = &j->next;
                }
            }
            if (n > 0)
                run_ingest(w, group, n);
            for (size_t i = 0; i < n; i++)
                finished(w, group[i]);
            while (status != NULL) {
                svc_job_t *j = status;
                status = j->next;
                run_status(w, j);
                finished(w, j);
            }
            uv_async_send(&w->async);
        }
    }
    return NULL;
}

/* Run the done callbacks of finished jobs (loop thread). */
static void drain(svc_writer_t *w)
{
    pthread_mutex_lock(&w->mu);
    svc_job_t *jobs = w->done;
    w->done = w->done_tail = NULL;
    pthread_mutex_unlock(&w->mu);
    while (jobs != NULL) {
        svc_job_t *j = jobs;
        jobs = j->next;
        j->next = NULL;
        w->outstanding--;
        j->done(j);
    }
}

static void on_async(uv_async_t *a)
{
    drain(a->data);
}

int cairn__svc_writer_start(svc_writer_t *w, uv_loop_t *loop, cairn_store_t *store)
{
    memset(w, 0, sizeof *w);
    w->store = store;
    int rc = uv_async_init(loop, &w->async, on_async);
    if (rc != 0)
        return rc;
    w->async.data = w;
    pthread_mutex_init(&w->mu, NULL);
    pthread_mutex_init(&w->commit_mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    if (pthread_create(&w->thread, NULL, writer_main, w) != 0) {
        uv_close((uv_handle_t *)&w->async, NULL);
        return UV_ENOMEM;
    }
    w->started = 1;
    return 0;
}

void cairn__svc_writer_submit(svc_writer_t *w, svc_job_t *job)
{
    job->next = NULL;
    w->outstanding++;
    pthread_mutex_lock(&w->mu);
    if (w->queue_tail != NULL)
        w->queue_tail->next = job;
    else
        w->queue = job;
    w->queue_tail = job;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

int cairn__svc_writer_others(svc_writer_t *w, uint64_t base, uint64_t *others)
{
    if (pthread_mutex_trylock(&w->commit_mu) != 0)
        return 0;
    uint64_t seq = base;
    cairn_err_t err = cairn_store_commit_seq(w->store, &seq);
    uint64_t own = w->own_commits;
    pthread_mutex_unlock(&w->commit_mu);
    if (err != CAIRN_OK)
        return 0;
    uint64_t moved = seq > base ? seq - base : 0;
    *others = moved > own ? moved - own : 0;
    return 1;
}

void cairn__svc_writer_stop(svc_writer_t *w)
{
    if (!w->started)
        return;
    pthread_mutex_lock(&w->mu);
    w->quit = 1;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->thread, NULL);
    w->started = 0;
    drain(w);
    uv_close((uv_handle_t *)&w->async, NULL);
    pthread_mutex_destroy(&w->mu);
    pthread_mutex_destroy(&w->commit_mu);
    pthread_cond_destroy(&w->cv);
}
