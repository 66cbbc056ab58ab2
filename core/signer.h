/*
 * signer.h - signing changes on worker threads (private).
 *
 * Ed25519 signing is most of the cost of a local write. Changes of
 * different plans do not depend on each other, so a batch hands their
 * signing to a small pool of threads and goes on with the next edit; a
 * change is applied (on the batch's own thread, which alone touches LMDB)
 * when its plan is next used or the batch commits. Changes of one plan stay
 * in order: each names its predecessor's id, known only once it is signed.
 */
#ifndef CAIRN_CORE_SIGNER_H
#define CAIRN_CORE_SIGNER_H

#include <pthread.h>

#include "cairn/change.h"

typedef struct cairn_sign_job {
    cairn_change_draft_t draft; /* its arrays belong to the job's owner */
    const uint8_t *sk;
    cairn_change_t *out; /* the result */
    cairn_err_t err;
    int done;
    struct cairn_sign_job *next; /* queue link */
} cairn_sign_job_t;

typedef struct cairn_signer {
    pthread_t threads[4];
    int nthreads;
    pthread_mutex_t lock;
    pthread_cond_t work, done;
    cairn_sign_job_t *head, *tail;
    int stop;
    int idle;    /* workers waiting for work: only then is a wake-up needed */
    int waiters; /* threads in cairn__signer_wait */
} cairn_signer_t;

/*
 * Start workers: one per CPU but one (the caller signs too while it waits),
 * at least 1, at most 4. CAIRN_ENOMEM if none could start.
 */
cairn_err_t cairn__signer_start(cairn_signer_t *s);
void cairn__signer_submit(cairn_signer_t *s, cairn_sign_job_t *job);
/* Block until job is done, signing queued jobs meanwhile. */
void cairn__signer_wait(cairn_signer_t *s, cairn_sign_job_t *job);
/* Finish queued jobs and join the workers. */
void cairn__signer_stop(cairn_signer_t *s);

#endif
