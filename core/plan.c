/*
 * plan.c - reading plans through the public API: merged state, the log,
 * the pending area. Each call is one read transaction of its own.
 */
#include "causal.h"
#include "log.h"
#include "pstore.h"
#include "store_int.h"

#include <stdlib.h>
#include <string.h>

cairn_err_t cairn_plan_read(cairn_store_t *store, const uint8_t plan[CAIRN_PLAN_ID_BYTES],
                            cairn_plan_state_t **out)
{
    if (store == NULL || plan == NULL || out == NULL)
        return CAIRN_EINVAL;
    cairn_txn_t *txn;
    cairn_err_t err = cairn__kv_begin(&store->kv, 0, &txn);
    if (err != CAIRN_OK)
        return err;
    err = cairn__state_load_full(txn, plan, out);
    cairn_txn_abort(txn);
    return err;
}

cairn_err_t cairn_change_get(cairn_store_t *store, const uint8_t plan[CAIRN_PLAN_ID_BYTES],
                             const uint8_t id[CAIRN_CHANGE_ID_BYTES], cairn_buf_t *out)
{
    if (store == NULL || plan == NULL || id == NULL || out == NULL)
        return CAIRN_EINVAL;
    cairn_txn_t *txn;
    cairn_err_t err = cairn__kv_begin(&store->kv, 0, &txn);
    if (err != CAIRN_OK)
        return err;
    err = cairn__log_bytes(txn, plan, id, out);
    cairn_txn_abort(txn);
    return err;
}

cairn_err_t cairn_pending_count(cairn_store_t *store, uint64_t *count)
{
    if (store == NULL || count == NULL)
        return CAIRN_EINVAL;
    cairn_txn_t *txn;
    cairn_err_t err = cairn__kv_begin(&store->kv, 0, &txn);
    if (err != CAIRN_OK)
        return err;
    err = cairn__db_count(txn, CAIRN_DB_PENDING, count);
    cairn_txn_abort(txn);
    return err;
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
    cairn_change_t **cs = NULL;
    size_t n = 0, *order = NULL;
    cairn_err_t err = cairn__kv_begin(&store->kv, 0, &txn);
    if (err != CAIRN_OK)
        return err;
    err = cairn__log_load(txn, plan, &cs, &n);
    cairn_txn_abort(txn);
    if (err == CAIRN_OK)
        err = (order = malloc((n ? n : 1) * sizeof *order)) != NULL ? CAIRN_OK : CAIRN_ENOMEM;
    if (err == CAIRN_OK)
        err = cairn__causal_order(cs, n, order);
    for (size_t i = 0; i < n && err == CAIRN_OK; i++) {
        const cairn_change_t *c = cs[order[i]];
        if (fn(ctx, c->id, c->bytes, c->len) != 0)
            break;
    }
    cairn__log_free(cs, n);
    free(order);
    return err;
}
