/*
 * signer.c - a fixed pool of threads that run cairn_change_create().
 *
 * One mutex guards the queue and every job's done flag; jobs are few
 * (one per edit) and each takes tens of microseconds, so contention on it
 * is negligible next to the signing itself.
 */
#include "signer.h"

#include <unistd.h>

/* Take the next queued job, or NULL. Called with the lock held. */
static cairn_sign_job_t *pop(cairn_signer_t *s)
{
    cairn_sign_job_t *job = s->head;
    if (job != NULL) {
        s->head = job->next;
        if (s->head == NULL)
            s->tail = NULL;
    }
    return job;
}

/* Run job without the lock; mark it done with it. */
static void run(cairn_signer_t *s, cairn_sign_job_t *job)
{
    pthread_mutex_unlock(&s->lock);
    job->err = cairn_change_create(&job->draft, job->sk, &job->out);
    pthread_mutex_lock(&s->lock);
    job->done = 1;
    if (s->waiters > 0)
        pthread_cond_broadcast(&s->done);
}

static void *worker(void *arg)
{
    cairn_signer_t *s = arg;
    pthread_mutex_lock(&s->lock);
    for (;;) {
        while (s->head == NULL && !s->stop) {
            s->idle++;
            pthread_cond_wait(&s->work, &s->lock);
            s->idle--;
        }
        cairn_sign_job_t *job = pop(s);
        if (job == NULL)
            break; /* stopping, and nothing left */
        run(s, job);
    }
    pthread_mutex_unlock(&s->lock);
    return NULL;
}

cairn_err_t cairn__signer_start(cairn_signer_t *s)
{
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    int want = cpus < 2 ? 1 : (cpus > 5 ? 4 : (int)cpus - 1);
    s->nthreads = 0;
    s->head = s->tail = NULL;
    s->stop = 0;
    s->idle = s->waiters = 0;
    if (pthread_mutex_init(&s->lock, NULL) != 0)
        return CAIRN_ENOMEM;
    if (pthread_cond_init(&s->work, NULL) != 0) {
        pthread_mutex_destroy(&s->lock);
        return CAIRN_ENOMEM;
    }
    if (pthread_cond_init(&s->done, NULL) != 0) {
        pthread_cond_destroy(&s->work);
        pthread_mutex_destroy(&s->lock);
        return CAIRN_ENOMEM;
    }
    while (s->nthreads < want && pthread_create(&s->threads[s->nthreads], NULL, worker, s) == 0)
        s->nthreads++;
    if (s->nthreads == 0) {
        cairn__signer_stop(s);
        return CAIRN_ENOMEM;
    }
    return CAIRN_OK;
}

void cairn__signer_submit(cairn_signer_t *s, cairn_sign_job_t *job)
{
    job->done = 0;
    job->next = NULL;
    job->out = NULL;
    pthread_mutex_lock(&s->lock);
    if (s->tail != NULL)
        s->tail->next = job;
    else
        s->head = job;
    s->tail = job;
    if (s->idle > 0)
        pthread_cond_signal(&s->work);
    pthread_mutex_unlock(&s->lock);
}

void cairn__signer_wait(cairn_signer_t *s, cairn_sign_job_t *job)
{
    pthread_mutex_lock(&s->lock);
    while (!job->done) {
        /* Rather than sleep while work is queued, do some of it. */
        cairn_sign_job_t *other = pop(s);
        if (other != NULL) {
            run(s, other);
            continue;
        }
        s->waiters++;
        pthread_cond_wait(&s->done, &s->lock);
        s->waiters--;
    }
    pthread_mutex_unlock(&s->lock);
}

void cairn__signer_stop(cairn_signer_t *s)
{
    pthread_mutex_lock(&s->lock);
    s->stop = 1;
    pthread_cond_broadcast(&s->work);
    pthread_mutex_unlock(&s->lock);
    for (int i = 0; i < s->nthreads; i++)
        pthread_join(s->threads[i], NULL);
    s->nthreads = 0;
    pthread_cond_destroy(&s->done);
    pthread_cond_destroy(&s->work);
    pthread_mutex_destroy(&s->lock);
}
