/*
 * replica.c - summaries, version vectors and holding rights, for sync.
 *
 * All of it is read from what ingest keeps anyway: the plan headers (heads
 * and change count), the log keys (author, seq per change), the roster and
 * the plans' care teams. Nothing here writes.
 */
#include "cairn/replica.h"

#include "grow.h"
#include "log.h"
#include "pkeys.h"
#include "pstore.h"
#include "store_int.h"
#include "wipe.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

/* ---- plan headers ---------------------------------------------------------- */

typedef int (*header_fn)(void *ctx, const cairn_plan_state_t *header);

/* Call fn with the header of every plan, in plan id order. */
static cairn_err_t headers_each(cairn_store_t *store, header_fn fn, void *ctx)
{
    cairn_txn_t *txn;
    cairn_err_t err = cairn__kv_begin(&store->kv, 0, &txn);
    if (err != CAIRN_OK)
        return err;
    err = cairn__headers_each(txn, fn, ctx);
    cairn_txn_abort(txn);
    return err;
}

typedef struct list_ctx {
    cairn_plan_fn fn;
    cairn_summary_fn sfn;
    void *ctx;
} list_ctx_t;

static int list_one(void *ctx, const cairn_plan_state_t *h)
{
    const list_ctx_t *l = ctx;
    return l->fn(l->ctx, h->plan, h->nchanges);
}

cairn_err_t cairn_plan_list(cairn_store_t *store, cairn_plan_fn fn, void *ctx)
{
    if (store == NULL || fn == NULL)
        return CAIRN_EINVAL;
    list_ctx_t l = {fn, NULL, ctx};
    return headers_each(store, list_one, &l);
}

static int summary_one(void *ctx, const cairn_plan_state_t *h)
{
    const list_ctx_t *l = ctx;
    uint8_t count[8], digest[CAIRN_SYNC_DIGEST_BYTES];
    for (int i = 0; i < 8; i++)
        count[i] = (uint8_t)(h->nchanges >> (56 - 8 * i));
    cairn__hash_domain(digest, sizeof digest, "cairn sync digest v1", count, sizeof count,
                       h->nheads ? (const void *)h->heads : (const void *)count,
                       h->nheads * CAIRN_CHANGE_ID_BYTES, NULL, 0);
    return l->sfn(l->ctx, h->plan, digest);
}

cairn_err_t cairn_plan_summaries(cairn_store_t *store, cairn_summary_fn fn, void *ctx)
{
    if (store == NULL || fn == NULL)
        return CAIRN_EINVAL;
    list_ctx_t l = {NULL, fn, ctx};
    return headers_each(store, summary_one, &l);
}

/* ---- version vectors --------------------------------------------------------- */

/* The log keys of a plan: (author, seq, id) per change, in that order. */
typedef struct log_keys {
    uint8_t (*k)[CAIRN_PK_LOG_BYTES];
    size_t n, cap;
    int oom;
} log_keys_t;

static int collect_log(void *ctx, const uint8_t *key, size_t len)
{
    log_keys_t *lk = ctx;
    if (len != CAIRN_PK_LOG_BYTES)
        return 0;
    if (cairn_grow(&lk->k, &lk->cap, lk->n, sizeof *lk->k, 64) != CAIRN_OK) {
        lk->oom = 1;
        return 1;
    }
    memcpy(lk->k[lk->n++], key, CAIRN_PK_LOG_BYTES);
    return 0;
}

static cairn_err_t read_log(cairn_txn_t *txn, const uint8_t *plan, log_keys_t *lk)
{
    uint8_t prefix[CAIRN_PK_PREFIX];
    cairn_pk_prefix(prefix, plan, CAIRN_PK_LOG);
    cairn_err_t err = cairn__db_scan(txn, CAIRN_DB_PLANS, prefix, sizeof prefix, collect_log, lk);
    return err == CAIRN_OK && lk->oom ? CAIRN_ENOMEM : err;
}

static const uint8_t *log_author(const uint8_t *k)
{
    return k + CAIRN_PK_PREFIX;
}

/* The vector of a log (sorted by author, as the keys are). */
static cairn_err_t vector_of(const log_keys_t *lk, cairn_vec_entry_t **out, size_t *n)
{
    cairn_vec_entry_t *v = malloc((lk->n ? lk->n : 1) * sizeof *v);
    if (v == NULL)
        return CAIRN_ENOMEM;
    size_t m = 0;
    for (size_t first = 0; first < lk->n;) {
        cairn_vec_entry_t *e = &v[m++];
        memcpy(e->author, log_author(lk->k[first]), 32);
        e->max_seq = e->count = 0;
        size_t i = first;
        for (; i < lk->n && memcmp(log_author(lk->k[i]), e->author, 32) == 0; i++) {
            uint64_t seq = cairn_pk_log_seq(lk->k[i]);
            e->count++;
            if (seq > e->max_seq) { /* keys run by (seq, id): the first at a seq is the lowest id */
                e->max_seq = seq;
                memcpy(e->head, lk->k[i] + CAIRN_PK_SEQ_BYTES, CAIRN_CHANGE_ID_BYTES);
            }
        }
        first = i;
    }
    *out = v;
    *n = m;
    return CAIRN_OK;
}

cairn_err_t cairn_plan_vector(cairn_store_t *store, const uint8_t plan[CAIRN_PLAN_ID_BYTES],
                              cairn_vec_entry_t **out, size_t *n)
{
    if (store == NULL || plan == NULL || out == NULL || n == NULL)
        return CAIRN_EINVAL;
    cairn_txn_t *txn;
    log_keys_t lk = {NULL, 0, 0, 0};
    cairn_err_t err = cairn__kv_begin(&store->kv, 0, &txn);
    if (err != CAIRN_OK)
        return err;
    err = read_log(txn, plan, &lk);
    cairn_txn_abort(txn);
    if (err == CAIRN_OK)
        err = vector_of(&lk, out, n);
    free(lk.k);
    return err;
}

static const cairn_vec_entry_t *vec_find(const cairn_vec_entry_t *v, size_t n, const uint8_t *a)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = memcmp(v[mid].author, a, 32);
        if (c == 0)
            return &v[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

int cairn_vector_behind(const cairn_vec_entry_t *mine, size_t nmine, const cairn_vec_entry_t *peer,
                        size_t npeer)
{
    for (size_t i = 0; i < nmine; i++) {
        const cairn_vec_entry_t *p = vec_find(peer, npeer, mine[i].author);
        if (p == NULL || p->max_seq < mine[i].max_seq || p->count != mine[i].count ||
            memcmp(p->head, mine[i].head, CAIRN_CHANGE_ID_BYTES) != 0)
            return 1;
    }
    return 0;
}

cairn_err_t cairn_plan_has_change(cairn_store_t *store, const uint8_t plan[CAIRN_PLAN_ID_BYTES],
                                  const uint8_t id[CAIRN_CHANGE_ID_BYTES], int *held)
{
    if (store == NULL || plan == NULL || id == NULL || held == NULL)
        return CAIRN_EINVAL;
    cairn_txn_t *txn;
    uint8_t k[CAIRN_PK_CHANGE_BYTES];
    cairn_err_t err = cairn__kv_begin(&store->kv, 0, &txn);
    if (err != CAIRN_OK)
        return err;
    int rc = cairn__db_has(txn, CAIRN_DB_PLANS, k, cairn_pk_change(k, plan, id));
    cairn_txn_abort(txn);
    *held = rc == 1;
    return rc < 0 ? (cairn_err_t)rc : CAIRN_OK;
}

/* ---- who may hold what ----------------------------------------------------------- */

cairn_err_t cairn_roster_member(cairn_store_t *store, const uint8_t key[32], uint64_t now_ms,
                                unsigned *roles, cairn_reason_t *why)
{
    if (store == NULL || key == NULL || roles == NULL)
        return CAIRN_EINVAL;
    cairn_reason_t r = CAIRN_REASON_UNKNOWN_AUTHOR;
    cairn_txn_t *txn;
    cairn_err_t err = cairn__kv_begin(&store->kv, 0, &txn);
    if (err != CAIRN_OK)
        return err;
    err = cairn__roster_judge_key(txn, &store->org, key, now_ms, roles, &r);
    cairn_txn_abort(txn);
    if (why != NULL)
        *why = r;
    if (err != CAIRN_OK)
        return err;
    return r == CAIRN_REASON_NONE ? CAIRN_OK : CAIRN_EDENIED;
}

cairn_err_t cairn_plan_may_hold(cairn_store_t *store, const uint8_t plan[CAIRN_PLAN_ID_BYTES],
                                const uint8_t key[32], unsigned roles, int *may)
{
    if (store == NULL || plan == NULL || key == NULL || may == NULL)
        return CAIRN_EINVAL;
    cairn_txn_t *txn;
    cairn_err_t err = cairn__kv_begin(&store->kv, 0, &txn);
    if (err != CAIRN_OK)
        return err;
    err = cairn__roster_may_hold(txn, &store->org, plan, key, roles, may);
    cairn_txn_abort(txn);
    return err;
}
