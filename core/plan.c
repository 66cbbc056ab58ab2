/*
 * plan.c - reading plans: merged state, the log, and a rebuild from it.
 */
#include "batch.h"
#include "causal.h"
#include "grow.h"
#include "pkeys.h"

#include <stdlib.h>
#include <string.h>

cairn_err_t cairn_plan_read(cairn_store_t *store, const uint8_t plan[CAIRN_PLAN_ID_BYTES],
                            cairn_plan_state_t **out)
{
    if (store == NULL || plan == NULL || out == NULL)
        return CAIRN_EINVAL;
    cairn_txn_t *txn;
    cairn_err_t err = cairn_txn_begin(store, 0, &txn);
    if (err != CAIRN_OK)
        return err;
    err = cairn_state_load_full(txn, plan, out);
    cairn_txn_abort(txn);
    return err;
}

/* The signed bytes of plan's change id, from the plans database. */
static cairn_err_t change_bytes(cairn_txn_t *txn, const uint8_t *plan, const uint8_t *id,
                                cairn_buf_t *out)
{
    uint8_t k[CAIRN_PK_CHANGE_BYTES];
    return cairn_db_get(txn, CAIRN_DB_PLANS, k, cairn_pk_change(k, plan, id), out);
}

cairn_err_t cairn_change_get(cairn_store_t *store, const uint8_t plan[CAIRN_PLAN_ID_BYTES],
                             const uint8_t id[CAIRN_CHANGE_ID_BYTES], cairn_buf_t *out)
{
    if (store == NULL || plan == NULL || id == NULL || out == NULL)
        return CAIRN_EINVAL;
    cairn_txn_t *txn;
    cairn_err_t err = cairn_txn_begin(store, 0, &txn);
    if (err != CAIRN_OK)
        return err;
    err = change_bytes(txn, plan, id, out);
    cairn_txn_abort(txn);
    return err;
}

cairn_err_t cairn_pending_count(cairn_store_t *store, uint64_t *count)
{
    if (store == NULL || count == NULL)
        return CAIRN_EINVAL;
    cairn_txn_t *txn;
    cairn_err_t err = cairn_txn_begin(store, 0, &txn);
    if (err != CAIRN_OK)
        return err;
    err = cairn_db_count(txn, CAIRN_DB_PENDING, count);
    cairn_txn_abort(txn);
    return err;
}

/* The ids of a plan's log, gathered by a key scan. */
typedef struct ids {
    uint8_t (*v)[CAIRN_CHANGE_ID_BYTES];
    size_t n, cap;
    int oom;
} ids_t;

static int collect_id(void *ctx, const uint8_t *key, size_t len)
{
    ids_t *ids = ctx;
    if (len < CAIRN_CHANGE_ID_BYTES)
        return 0;
    if (cairn_grow(&ids->v, &ids->cap, ids->n, sizeof *ids->v, 64) != CAIRN_OK) {
        ids->oom = 1;
        return 1;
    }
    memcpy(ids->v[ids->n++], key + len - CAIRN_CHANGE_ID_BYTES, CAIRN_CHANGE_ID_BYTES);
    return 0;
}

static cairn_err_t log_ids(cairn_txn_t *txn, const uint8_t *plan, ids_t *ids)
{
    uint8_t prefix[CAIRN_PK_PREFIX];
    cairn_pk_prefix(prefix, plan, CAIRN_PK_LOG);
    cairn_err_t err = cairn_db_scan(txn, CAIRN_DB_PLANS, prefix, sizeof prefix, collect_id, ids);
    return err == CAIRN_OK && ids->oom ? CAIRN_ENOMEM : err;
}

static cairn_err_t load_changes(cairn_txn_t *txn, const uint8_t *plan, const ids_t *ids,
                                cairn_change_t **cs)
{
    cairn_buf_t buf = CAIRN_BUF_INIT;
    cairn_err_t err = CAIRN_OK;
    for (size_t i = 0; i < ids->n && err == CAIRN_OK; i++) {
        err = change_bytes(txn, plan, ids->v[i], &buf);
        if (err == CAIRN_OK && cairn_change_decode(buf.data, buf.len, &cs[i]) != CAIRN_OK)
            err = CAIRN_ECORRUPT;
        if (err == CAIRN_ENOTFOUND)
            err = CAIRN_ECORRUPT;
    }
    cairn_buf_free(&buf);
    return err;
}

static void free_changes(cairn_change_t **cs, size_t n)
{
    for (size_t i = 0; cs != NULL && i < n; i++)
        cairn_change_free(cs[i]);
    free(cs);
}

/*
 * In causal order, so that a receiver given them one by one never has to
 * hold one back: a roster entry comes before the changes it allows.
 */
cairn_err_t cairn_plan_changes(cairn_store_t *store, const uint8_t plan[CAIRN_PLAN_ID_BYTES],
                               cairn_change_fn fn, void *ctx)
{
    if (store == NULL || plan == NULL || fn == NULL)
        return CAIRN_EINVAL;
    cairn_txn_t *txn;
    ids_t ids = {0};
    cairn_change_t **cs = NULL;
    size_t *order = NULL;
    cairn_err_t err = cairn_txn_begin(store, 0, &txn);
    if (err != CAIRN_OK)
        return err;
    err = log_ids(txn, plan, &ids);
    if (err == CAIRN_OK) {
        cs = calloc(ids.n ? ids.n : 1, sizeof *cs);
        order = malloc((ids.n ? ids.n : 1) * sizeof *order);
        err = cs && order ? load_changes(txn, plan, &ids, cs) : CAIRN_ENOMEM;
    }
    cairn_txn_abort(txn);
    if (err == CAIRN_OK)
        err = cairn_causal_order(cs, ids.n, order);
    for (size_t i = 0; i < ids.n && err == CAIRN_OK; i++) {
        const cairn_change_t *c = cs[order[i]];
        if (fn(ctx, c->id, c->bytes, c->len) != 0)
            break;
    }
    free_changes(cs, ids.n);
    free(order);
    free(ids.v);
    return err;
}

cairn_err_t cairn_log_load(cairn_txn_t *txn, const uint8_t *plan, cairn_change_t ***out,
                           size_t *n)
{
    ids_t ids = {0};
    cairn_change_t **cs = NULL;
    cairn_err_t err = log_ids(txn, plan, &ids);
    if (err == CAIRN_OK)
        err = (cs = calloc(ids.n ? ids.n : 1, sizeof *cs)) ? CAIRN_OK : CAIRN_ENOMEM;
    if (err == CAIRN_OK)
        err = load_changes(txn, plan, &ids, cs);
    if (err != CAIRN_OK) {
        free_changes(cs, ids.n);
        cs = NULL;
    }
    *out = cs;
    *n = ids.n;
    free(ids.v);
    return err;
}

void cairn_log_free(cairn_change_t **cs, size_t n)
{
    free_changes(cs, n);
}

/* The store's roster state as txn sees it (NULL without an organisation). */
static cairn_err_t roster_of(cairn_store_t *store, cairn_txn_t *txn, cairn_plan_state_t **out)
{
    uint8_t org[32], rplan[CAIRN_PLAN_ID_BYTES];
    *out = NULL;
    if (cairn_org_key(store, org) != CAIRN_OK)
        return CAIRN_OK;
    cairn_roster_plan_id(org, rplan);
    return cairn_state_load(txn, rplan, out);
}

cairn_err_t cairn_plan_rebuild(cairn_store_t *store, const uint8_t plan[CAIRN_PLAN_ID_BYTES],
                               uint8_t digest[32])
{
    if (store == NULL || plan == NULL)
        return CAIRN_EINVAL;
    cairn_txn_t *txn;
    cairn_change_t **cs = NULL;
    cairn_plan_state_t *st = NULL, *roster = NULL;
    size_t n = 0;
    int *inert = NULL;
    cairn_err_t err = cairn_txn_begin(store, 1, &txn);
    if (err != CAIRN_OK)
        return err;
    err = cairn_log_load(txn, plan, &cs, &n);
    if (err == CAIRN_OK)
        err = roster_of(store, txn, &roster);
    if (err == CAIRN_OK)
        err = (inert = calloc(n ? n : 1, sizeof *inert)) ? CAIRN_OK : CAIRN_ENOMEM;
    /* The roster's own changes are judged once, at ingest; care plans against it now. */
    if (err == CAIRN_OK && roster != NULL && memcmp(roster->plan, plan, CAIRN_PLAN_ID_BYTES) != 0)
        err = cairn_inert_flags(roster, cs, n, inert);
    if (err == CAIRN_OK)
        err = cairn_pstate_rebuild(plan, cs, inert, n, &st);
    if (err == CAIRN_OK && n > 0)
        err = cairn_state_replace(txn, st);
    if (err == CAIRN_OK && digest != NULL)
        cairn_plan_state_digest(st, digest);
    cairn_plan_state_free(roster); /* it reads through txn: free it first */
    err = err == CAIRN_OK ? cairn_txn_commit(txn) : (cairn_txn_abort(txn), err);
    free_changes(cs, n);
    free(inert);
    cairn_plan_state_free(st);
    return err;
}
