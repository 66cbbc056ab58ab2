/*
 * writer.h - the service's one writer thread (private to service/).
 *
 * Every write the service makes runs here: the ingest of what sessions
 * received (several sessions' work grouped into one batch, one durable
 * commit) and the per-peer status records. The loop thread submits jobs
 * and never waits on disk; finished jobs come back to it through a
 * uv_async_t, and each job's done callback runs on the loop thread.
 *
 * The writer also counts its own commits, under a lock the loop only ever
 * tries (cairn__svc_writer_others): the loop compares the store's commit sequence
 * with that count to learn that another process (the CLI) committed.
 */
#ifndef CAIRN_SERVICE_WRITER_H
#define CAIRN_SERVICE_WRITER_H

#include <pthread.h>
#include <uv.h>

#include "cairn/cairn.h"
#include "cairn/sync.h"

typedef enum svc_job_kind {
    SVC_JOB_INGEST = 0, /* work: one session's received changes */
    SVC_JOB_STATUS = 1, /* fold outcome into peer key's status record */
} svc_job_kind_t;

/* How one attempt with a peer went, for its status record. */
typedef struct svc_outcome {
    uint64_t start_ms, end_ms;            /* wall clock, Unix ms */
    int session;                          /* 0: no session began (unreachable) */
    int completed;                        /* the session ended done */
    char error[CAIRN_PEER_ERROR_MAX + 1]; /* "" when completed */
    uint64_t changes_in, changes_out, bytes_in, bytes_out, rejected;
} svc_outcome_t;

typedef struct svc_job svc_job_t;
struct svc_job {
    svc_job_t *next;
    svc_job_kind_t kind;
    /* INGEST: in */
    cairn_sync_work_t work;
    /* INGEST: out */
    cairn_err_t err;
    cairn_ingest_stats_t stats;
    uint64_t rejected[CAIRN_REASON__COUNT];
    /* STATUS: in */
    uint8_t key[CAIRN_PUBLIC_KEY_BYTES];
    svc_outcome_t outcome;
    /* Called on the loop thread once the job is done (err set for either kind). */
    void (*done)(svc_job_t *job);
    void *ctx;
};

typedef struct svc_writer {
    cairn_store_t *store;
    uv_async_t async;
    pthread_t thread;
    pthread_mutex_t mu; /* the queues and quit */
    pthread_cond_t cv;
    pthread_mutex_t commit_mu; /* held across each commit and the count of it */
    svc_job_t *queue, *queue_tail, *done, *done_tail;
    size_t outstanding;        /* submitted and not yet called back (loop thread only) */
    uint64_t own_commits;      /* under commit_mu */
    uint64_t commits, batches; /* statistics, under commit_mu */
    int quit, started;
} svc_writer_t;

/* Start the thread; the async handle joins loop. 0 or a libuv error. */
int cairn__svc_writer_start(svc_writer_t *w, uv_loop_t *loop, cairn_store_t *store);

/* Queue job (owned by the caller until its done callback). Loop thread. */
void cairn__svc_writer_submit(svc_writer_t *w, svc_job_t *job);

/*
 * Whether commits other than the writer's moved the store's commit
 * sequence past base: 1 with *others (commits by others since base), 0
 * when nothing could be learned now (the writer is committing: try again
 * at the next poll). Never blocks. Loop thread.
 */
int cairn__svc_writer_others(svc_writer_t *w, uint64_t base, uint64_t *others);

/*
 * Finish what is queued, stop and join the thread, close the async handle
 * (the loop must run once more for it). Every done callback has run when
 * this returns. Loop thread; call once no more jobs will be submitted.
 */
void cairn__svc_writer_stop(svc_writer_t *w);

#endif
