/*
 * log.c - the change log of every plan: rows of signed changes and the
 * index by author and sequence number.
 *
 * The one idea: the log index key (plan, 3, author, seq, id) sorts each
 * author's chain in order, so an author's head is the last key under its
 * prefix and a fork is two keys under one (author, seq). Its value, the
 * change's HLC, lets ingest check that a chain never steps back in time
 * without decoding the predecessor.
 */
#include "log.h"

#include "grow.h"
#include "pkeys.h"

#include <stdlib.h>
#include <string.h>

int cairn__log_has(cairn_txn_t *txn, const uint8_t *plan, const uint8_t *id)
{
    uint8_t k[CAIRN_PK_CHANGE_BYTES];
    return cairn__db_has(txn, CAIRN_DB_PLANS, k, cairn_pk_change(k, plan, id));
}

cairn_err_t cairn__log_bytes(cairn_txn_t *txn, const uint8_t *plan, const uint8_t *id,
                             cairn_buf_t *out)
{
    uint8_t k[CAIRN_PK_CHANGE_BYTES];
    return cairn__db_get(txn, CAIRN_DB_PLANS, k, cairn_pk_change(k, plan, id), out);
}

cairn_err_t cairn__log_clock(cairn_txn_t *txn, const uint8_t *plan, const uint8_t *author,
                             uint64_t seq, const uint8_t *id, cairn_hlc_t *hlc)
{
    uint8_t k[CAIRN_PK_LOG_BYTES];
    cairn_buf_t buf = CAIRN_BUF_INIT;
    cairn_err_t err =
        cairn__db_get(txn, CAIRN_DB_PLANS, k, cairn_pk_log(k, plan, author, seq, id), &buf);
    if (err == CAIRN_OK && buf.len != 8)
        err = CAIRN_ECORRUPT;
    if (err == CAIRN_OK)
        *hlc = cairn_be64_load(buf.data);
    cairn_buf_free(&buf);
    return err;
}

cairn_err_t cairn__log_chain_head(cairn_txn_t *txn, const uint8_t *plan, const uint8_t *author,
                                  uint64_t *seq, uint8_t id[CAIRN_CHANGE_ID_BYTES])
{
    uint8_t prefix[CAIRN_PK_SEQ_BYTES], k[CAIRN_PK_LOG_BYTES];
    size_t len;
    cairn_pk_seq(prefix, plan, author, 0);
    cairn_err_t err =
        cairn__db_last(txn, CAIRN_DB_PLANS, prefix, CAIRN_PK_AUTHOR_BYTES, k, sizeof k, &len);
    if (err == CAIRN_ENOTFOUND) {
        *seq = 0;
        return CAIRN_OK;
    }
    if (err != CAIRN_OK)
        return err;
    if (len != CAIRN_PK_LOG_BYTES)
        return CAIRN_ECORRUPT;
    *seq = cairn_pk_log_seq(k);
    memcpy(id, k + CAIRN_PK_SEQ_BYTES, CAIRN_CHANGE_ID_BYTES);
    return CAIRN_OK;
}

static int any_key(void *ctx, const uint8_t *key, size_t len)
{
    (void)key, (void)len;
    *(int *)ctx = 1;
    return 1;
}

cairn_err_t cairn__log_has_author(cairn_txn_t *txn, const uint8_t *plan, const uint8_t *author,
                                  int *found)
{
    uint8_t prefix[CAIRN_PK_SEQ_BYTES];
    *found = 0;
    cairn_pk_seq(prefix, plan, author, 0); /* the author's part only is used */
    return cairn__db_scan(txn, CAIRN_DB_PLANS, prefix, CAIRN_PK_AUTHOR_BYTES, any_key, found);
}

cairn_err_t cairn__log_append(cairn_txn_t *txn, const cairn_change_t *c, int *forked)
{
    uint8_t k[CAIRN_PK_LOG_BYTES], ck[CAIRN_PK_CHANGE_BYTES], hlc[8];
    size_t n = cairn_pk_seq(k, c->plan, c->author, c->seq);
    *forked = 0;
    cairn_err_t err = cairn__db_scan(txn, CAIRN_DB_PLANS, k, n, any_key, forked);
    if (err == CAIRN_OK && *forked)
        err = cairn__db_put(txn, CAIRN_DB_FORKS, k, n, "", 0);
    if (err == CAIRN_OK)
        err = cairn__db_put(txn, CAIRN_DB_PLANS, ck, cairn_pk_change(ck, c->plan, c->id), c->bytes,
                            c->len);
    cairn_be64_store(hlc, c->hlc);
    if (err == CAIRN_OK) /* the log entry keeps the change's clock, for the chain check */
        err = cairn__db_put(txn, CAIRN_DB_PLANS, k,
                            cairn_pk_log(k, c->plan, c->author, c->seq, c->id), hlc, sizeof hlc);
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
    cairn_err_t err = cairn__db_scan(txn, CAIRN_DB_PLANS, prefix, sizeof prefix, collect_id, ids);
    return err == CAIRN_OK && ids->oom ? CAIRN_ENOMEM : err;
}

static cairn_err_t load_changes(cairn_txn_t *txn, const uint8_t *plan, const ids_t *ids,
                                cairn_change_t **cs)
{
    cairn_buf_t buf = CAIRN_BUF_INIT;
    cairn_err_t err = CAIRN_OK;
    for (size_t i = 0; i < ids->n && err == CAIRN_OK; i++) {
        err = cairn__log_bytes(txn, plan, ids->v[i], &buf);
        if (err == CAIRN_OK && cairn_change_decode(buf.data, buf.len, &cs[i]) != CAIRN_OK)
            err = CAIRN_ECORRUPT;
        if (err == CAIRN_ENOTFOUND)
            err = CAIRN_ECORRUPT;
    }
    cairn_buf_free(&buf);
    return err;
}

void cairn__log_free(cairn_change_t **cs, size_t n)
{
    for (size_t i = 0; cs != NULL && i < n; i++)
        cairn_change_free(cs[i]);
    free(cs);
}

cairn_err_t cairn__log_load(cairn_txn_t *txn, const uint8_t *plan, cairn_change_t ***out, size_t *n)
{
    ids_t ids = {0};
    cairn_change_t **cs = NULL;
    cairn_err_t err = log_ids(txn, plan, &ids);
    if (err == CAIRN_OK)
        err = (cs = calloc(ids.n ? ids.n : 1, sizeof *cs)) ? CAIRN_OK : CAIRN_ENOMEM;
    if (err == CAIRN_OK)
        err = load_changes(txn, plan, &ids, cs);
    if (err != CAIRN_OK) {
        cairn__log_free(cs, ids.n);
        cs = NULL;
        ids.n = 0;
    }
    *out = cs;
    *n = ids.n;
    free(ids.v);
    return err;
}
