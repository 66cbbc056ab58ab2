/*
 * batch.c - one write transaction of edits and ingested changes.
 *
 * A batch begins the transaction and the pipeline over it, takes local
 * changes (signed here or on the store's signer threads) and peers'
 * changes into the pipeline, and at commit: ingests what is still being
 * signed, judges again the changes of members whose roster entries
 * changed, writes back the plan states, saves the clock, and commits.
 * Abort leaves nothing, the clock included.
 *
 * Background signatures: Ed25519 signing is most of the cost of a local
 * write, and changes of different plans do not depend on each other, so an
 * edit nobody waits on is signed on a worker thread while the caller goes
 * on. Its change is ingested when its plan is next edited (edit.c settles
 * it first: the next change of the plan names it), before any peer's
 * changes enter the batch, or at commit.
 */
#include "batch.h"

#include "grow.h"
#include "log.h"
#include "pkeys.h"
#include "pstore.h"
#include "wipe.h"

#include <stdlib.h>
#include <string.h>

static const char meta_clock[] = "hlc";

struct cairn_async {
    cairn_sign_job_t job;
    uint8_t plan[CAIRN_PLAN_ID_BYTES];
    uint8_t prev[CAIRN_CHANGE_ID_BYTES];
    uint8_t (*deps)[CAIRN_CHANGE_ID_BYTES];
    cairn_op_t *ops; /* the edit's, taken over */
    size_t nops;
    int finished;
};

/* ---- the clock -------------------------------------------------------------- */

static cairn_err_t load_clock(cairn_store_t *store, cairn_txn_t *txn)
{
    cairn_buf_t buf = CAIRN_BUF_INIT;
    cairn_err_t err = cairn__meta_get(txn, meta_clock, &buf);
    if (err == CAIRN_OK && buf.len == 8) {
        cairn_hlc_t h = cairn_be64_load(buf.data);
        if (h > store->clock.last)
            store->clock.last = h;
    } else if (err == CAIRN_OK) {
        err = CAIRN_ECORRUPT;
    }
    cairn_buf_free(&buf);
    return err == CAIRN_ENOTFOUND ? CAIRN_OK : err;
}

static cairn_err_t save_clock(cairn_batch_t *b)
{
    uint8_t v[8];
    cairn_hlc_t h = b->store->clock.last;
    if (h == b->clock_at_begin)
        return CAIRN_OK;
    cairn_be64_store(v, h);
    return cairn__meta_put(b->txn, meta_clock, v, sizeof v);
}

/* ---- begin, abort ------------------------------------------------------------ */

cairn_err_t cairn_batch_begin(cairn_store_t *store, cairn_batch_t **out)
{
    if (store == NULL || out == NULL)
        return CAIRN_EINVAL;
    cairn_batch_t *b = calloc(1, sizeof *b);
    if (b == NULL)
        return CAIRN_ENOMEM;
    b->store = store;
    cairn_err_t err = cairn__kv_begin(&store->kv, 1, &b->txn);
    if (err == CAIRN_OK)
        err = load_clock(store, b->txn);
    if (err == CAIRN_OK)
        err = cairn__pipeline_init(&b->pipe, store, b->txn);
    b->clock_at_begin = store->clock.last;
    if (err != CAIRN_OK) {
        cairn_batch_abort(b);
        return err;
    }
    *out = b;
    return CAIRN_OK;
}

/* Wait for, and free, every background signature of b. */
static void asyncs_release(cairn_batch_t *b)
{
    for (size_t i = 0; i < b->nasync; i++) {
        cairn_async_t *a = b->asyncs[i];
        if (!a->finished)
            cairn__signer_wait(&b->store->signer, &a->job);
        cairn_change_free(a->job.out);
        cairn__ops_release(a->ops, a->nops);
        free(a->deps);
        free(a);
    }
    free(b->asyncs);
    free(b->index);
    b->asyncs = b->index = NULL;
    b->nasync = b->cap_async = b->unsettled = b->nindex = b->cap_index = 0;
}

/* Free b; the transaction has ended (or is aborted here). */
static void batch_free(cairn_batch_t *b)
{
    asyncs_release(b); /* the signer's threads belong to the store and outlive the batch */
    cairn__pipeline_free(&b->pipe); /* cached states read through the transaction */
    if (b->txn != NULL)
        cairn_txn_abort(b->txn);
    free(b);
}

void cairn_batch_abort(cairn_batch_t *b)
{
    if (b == NULL)
        return;
    b->store->clock.last = b->clock_at_begin; /* nothing of the batch happened */
    batch_free(b);
}

cairn_reason_t cairn_batch_last_reason(const cairn_batch_t *b)
{
    return b != NULL ? b->last_reason : CAIRN_REASON_NONE;
}

/* ---- local changes ------------------------------------------------------------ */

static cairn_err_t verdict_error(cairn_reason_t reason)
{
    switch (reason) {
    case CAIRN_REASON_NONE:
        return CAIRN_OK;
    case CAIRN_REASON_UNKNOWN_AUTHOR:
    case CAIRN_REASON_NOT_VALID:
    case CAIRN_REASON_NOT_PERMITTED:
        return CAIRN_EDENIED;
    case CAIRN_REASON_TOO_BIG:
        return CAIRN_ETOOBIG;
    default:
        return CAIRN_EINVAL;
    }
}

cairn_err_t cairn__batch_apply_local(cairn_batch_t *b, const cairn_change_t *c)
{
    cairn_ingest_result_t res = {0};
    cairn_err_t err = cairn__pipeline_process(&b->pipe, c, &res);
    if (err != CAIRN_OK || res.verdict != CAIRN_REJECTED)
        return err;
    b->last_reason = res.reason;
    return verdict_error(res.reason);
}

cairn_err_t cairn__batch_precheck_local(cairn_batch_t *b, const cairn_change_t *view)
{
    cairn_err_t err = CAIRN_OK;
    cairn_reason_t why = cairn__pipeline_precheck(&b->pipe, view, &err);
    if (err != CAIRN_OK || why == CAIRN_REASON_NONE)
        return err;
    b->last_reason = why;
    return verdict_error(why);
}

/*
 * The index of background signatures by plan: open addressing on the plan
 * id, each plan's latest (edit.c refuses a second while one is unfinished),
 * so finding a plan's costs O(1), not a scan of the batch's thousands.
 */
static cairn_async_t **index_find(const cairn_batch_t *b, const uint8_t *plan)
{
    uint64_t h;
    memcpy(&h, plan, sizeof h); /* plan ids are random or hashes */
    size_t mask = b->cap_index - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
        cairn_async_t **slot = &b->index[i];
        if (*slot == NULL || memcmp((*slot)->plan, plan, CAIRN_PLAN_ID_BYTES) == 0)
            return slot;
    }
}

static cairn_err_t index_put(cairn_batch_t *b, cairn_async_t *a)
{
    if (2 * (b->nindex + 1) > b->cap_index) {
        size_t cap = b->cap_index ? 2 * b->cap_index : 64, old_cap = b->cap_index;
        cairn_async_t **old = b->index;
        if ((b->index = calloc(cap, sizeof *b->index)) == NULL) {
            b->index = old;
            return CAIRN_ENOMEM;
        }
        b->cap_index = cap;
        for (size_t i = 0; i < old_cap; i++)
            if (old[i] != NULL)
                *index_find(b, old[i]->plan) = old[i];
        free(old);
    }
    cairn_async_t **slot = index_find(b, a->plan);
    b->nindex += *slot == NULL;
    *slot = a;
    return CAIRN_OK;
}

cairn_err_t cairn__batch_sign_async(cairn_batch_t *b, const cairn_change_draft_t *d,
                                    const uint8_t *sk, cairn_op_t *ops)
{
    cairn_store_t *store = b->store;
    cairn_async_t *a = NULL;
    cairn_err_t err = CAIRN_OK;
    if (!store->signer_on) { /* started once per open store, stopped at close */
        err = cairn__signer_start(&store->signer);
        store->signer_on = err == CAIRN_OK;
    }
    if (err == CAIRN_OK)
        err = cairn_grow(&b->asyncs, &b->cap_async, b->nasync, sizeof *b->asyncs, 64);
    if (err == CAIRN_OK)
        err = (a = calloc(1, sizeof *a)) != NULL ? CAIRN_OK : CAIRN_ENOMEM;
    if (err == CAIRN_OK && d->ndeps > 0)
        err = (a->deps = malloc(d->ndeps * sizeof *a->deps)) != NULL ? CAIRN_OK : CAIRN_ENOMEM;
    if (err == CAIRN_OK) {
        memcpy(a->plan, d->plan, CAIRN_PLAN_ID_BYTES);
        err = index_put(b, a); /* last: nothing after it can fail */
    }
    if (err != CAIRN_OK) {
        if (a != NULL)
            free(a->deps);
        free(a);
        cairn__ops_release(ops, d->nops);
        return err;
    }
    if (d->ndeps > 0)
        memcpy(a->deps, d->deps, d->ndeps * sizeof *a->deps);
    if (d->prev != NULL)
        memcpy(a->prev, d->prev, CAIRN_CHANGE_ID_BYTES);
    a->ops = ops;
    a->nops = d->nops;
    a->job.draft = *d; /* pointing into a, which outlives the job */
    a->job.draft.plan = a->plan;
    a->job.draft.prev = d->prev != NULL ? a->prev : NULL;
    a->job.draft.deps = (const uint8_t(*)[CAIRN_CHANGE_ID_BYTES])a->deps;
    a->job.draft.ops = a->ops;
    a->job.sk = sk;
    b->asyncs[b->nasync++] = a;
    b->unsettled++;
    cairn__signer_submit(&store->signer, &a->job);
    return CAIRN_OK;
}

/* Wait for a's signature and ingest its change; a failure fails the batch. */
static cairn_err_t async_finish(cairn_batch_t *b, cairn_async_t *a)
{
    cairn__signer_wait(&b->store->signer, &a->job);
    a->finished = 1;
    b->unsettled--;
    cairn_err_t err = a->job.err;
    if (err == CAIRN_OK)
        err = cairn__batch_apply_local(b, a->job.out);
    cairn_change_free(a->job.out);
    a->job.out = NULL;
    if (err != CAIRN_OK && b->pipe.failed == CAIRN_OK)
        b->pipe.failed = err; /* the caller already moved on: fail the batch */
    return err;
}

/* plan's unfinished background signature, if any. */
static cairn_async_t *async_of(const cairn_batch_t *b, const uint8_t *plan)
{
    if (b->unsettled == 0)
        return NULL;
    cairn_async_t *a = *index_find(b, plan);
    return a != NULL && !a->finished ? a : NULL;
}

cairn_err_t cairn__batch_settle_plan(cairn_batch_t *b, const uint8_t *plan)
{
    cairn_async_t *a = async_of(b, plan);
    return a != NULL ? async_finish(b, a) : CAIRN_OK;
}

int cairn__batch_plan_busy(const cairn_batch_t *b, const uint8_t *plan)
{
    return async_of(b, plan) != NULL;
}

/* Ingest every background signature still outstanding, in the order made. */
static cairn_err_t settle_all(cairn_batch_t *b)
{
    cairn_err_t err = b->pipe.failed;
    for (size_t i = 0; i < b->nasync && b->unsettled > 0 && err == CAIRN_OK; i++)
        if (!b->asyncs[i]->finished)
            err = async_finish(b, b->asyncs[i]);
    return err;
}

/* ---- peers' changes ------------------------------------------------------------- */

static void stats_sub(cairn_ingest_stats_t *d, const cairn_ingest_stats_t *a,
                      const cairn_ingest_stats_t *b)
{
    d->applied = a->applied - b->applied;
    d->duplicate = a->duplicate - b->duplicate;
    d->pending = a->pending - b->pending;
    d->rejected = a->rejected - b->rejected;
    d->forks = a->forks - b->forks;
    d->verified = a->verified - b->verified;
    d->inert = a->inert - b->inert;
}

cairn_err_t cairn_batch_ingest(cairn_batch_t *b, const uint8_t *const *bytes, const size_t *lens,
                               size_t n, cairn_ingest_result_t *results,
                               cairn_ingest_stats_t *stats)
{
    if (b == NULL || (n > 0 && (bytes == NULL || lens == NULL)))
        return CAIRN_EINVAL;
    cairn_ingest_result_t *res = results ? results : calloc(n ? n : 1, sizeof *res);
    cairn_err_t err = res == NULL ? CAIRN_ENOMEM : settle_all(b);
    cairn_ingest_stats_t before = b->pipe.stats; /* after the batch's own edits went in */
    if (err == CAIRN_OK)
        err = cairn__pipeline_run(&b->pipe, bytes, lens, n, res);
    if (stats != NULL)
        stats_sub(stats, &b->pipe.stats, &before);
    if (res != results)
        free(res);
    return err;
}

cairn_err_t cairn_ingest(cairn_store_t *store, const uint8_t *const *bytes, const size_t *lens,
                         size_t n, cairn_ingest_result_t *results, cairn_ingest_stats_t *stats)
{
    if (store == NULL || (n > 0 && (bytes == NULL || lens == NULL)))
        return CAIRN_EINVAL;
    cairn_batch_t *b;
    cairn_err_t err = cairn_batch_begin(store, &b);
    if (err != CAIRN_OK)
        return err;
    err = cairn_batch_ingest(b, bytes, lens, n, results, stats);
    return err == CAIRN_OK ? cairn_batch_commit(b) : (cairn_batch_abort(b), err);
}

/* ---- re-evaluation and rebuild ------------------------------------------------------ */

/* Replace plan's state in the batch by one rebuilt from its log (roster.h). */
static cairn_err_t rebuild_in_batch(cairn_batch_t *b, const uint8_t *plan)
{
    const cairn_org_t *org = &b->store->org;
    cairn_plan_state_t *roster = NULL, *st = NULL;
    cairn_err_t err =
        org->has ? cairn__cache_plan(&b->pipe.cache, org->roster_plan, &roster) : CAIRN_OK;
    if (err == CAIRN_OK)
        err = cairn__rebuild(b->txn, org, roster, plan, &st);
    return err == CAIRN_OK ? cairn__cache_put_rebuilt(&b->pipe.cache, st) : err;
}

typedef struct reeval_ctx {
    cairn_batch_t *b;
    uint8_t (*plans)[CAIRN_PLAN_ID_BYTES];
    size_t n, cap;
    cairn_err_t err;
} reeval_ctx_t;

/* Collect the care plans holding a change by any member being judged again. */
static int find_affected(void *ctx, const cairn_plan_state_t *h)
{
    reeval_ctx_t *r = ctx;
    const cairn_pipeline_t *p = &r->b->pipe;
    if (cairn__org_is_roster(&r->b->store->org, h->plan))
        return 0;
    for (size_t k = 0; k < p->nreeval; k++) {
        int found = 0;
        r->err = cairn__log_has_author(r->b->txn, h->plan, p->reeval[k], &found);
        if (r->err != CAIRN_OK)
            return 1;
        if (!found)
            continue;
        if (cairn_grow(&r->plans, &r->cap, r->n, sizeof *r->plans, 16) != CAIRN_OK) {
            r->err = CAIRN_ENOMEM;
            return 1;
        }
        memcpy(r->plans[r->n++], h->plan, CAIRN_PLAN_ID_BYTES);
        return 0;
    }
    return 0;
}

/*
 * After roster changes, judge again the changes of the members they touched:
 * every care plan holding one is rebuilt from its log against the roster now,
 * so a revocation voids the late changes a replica had already applied and
 * every replica ends with the same plan, whatever order things arrived in.
 */
static cairn_err_t reevaluate(cairn_batch_t *b)
{
    reeval_ctx_t r = {b, NULL, 0, 0, CAIRN_OK};
    cairn_err_t err = cairn__headers_each(b->txn, find_affected, &r);
    if (err == CAIRN_OK)
        err = r.err;
    for (size_t i = 0; i < r.n && err == CAIRN_OK; i++)
        err = rebuild_in_batch(b, r.plans[i]);
    free(r.plans);
    b->pipe.nreeval = 0;
    return err;
}

cairn_err_t cairn_batch_commit(cairn_batch_t *b)
{
    if (b == NULL)
        return CAIRN_EINVAL;
    cairn_err_t err = settle_all(b);
    if (err == CAIRN_OK && b->pipe.nreeval > 0)
        err = reevaluate(b);
    if (err == CAIRN_OK)
        err = cairn__cache_flush(&b->pipe.cache);
    if (err == CAIRN_OK)
        err = save_clock(b);
    if (err != CAIRN_OK) {
        cairn_batch_abort(b);
        return err;
    }
    cairn__pipeline_free(&b->pipe); /* cached states read through the transaction */
    err = cairn_txn_commit(b->txn);
    b->txn = NULL;
    if (err != CAIRN_OK)
        b->store->clock.last = b->clock_at_begin;
    batch_free(b);
    return err;
}

cairn_err_t cairn_plan_rebuild(cairn_store_t *store, const uint8_t plan[CAIRN_PLAN_ID_BYTES],
                               uint8_t digest[32])
{
    if (store == NULL || plan == NULL)
        return CAIRN_EINVAL;
    cairn_batch_t *b;
    cairn_err_t err = cairn_batch_begin(store, &b);
    if (err != CAIRN_OK)
        return err;
    cairn_plan_state_t *st = NULL;
    err = rebuild_in_batch(b, plan);
    if (err == CAIRN_OK)
        err = cairn__cache_plan(&b->pipe.cache, plan, &st);
    if (err == CAIRN_OK && digest != NULL)
        cairn_plan_state_digest(st, digest);
    return err == CAIRN_OK ? cairn_batch_commit(b) : (cairn_batch_abort(b), err);
}
