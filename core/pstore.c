/*
 * pstore.c - plan states in the plans database.
 *
 * A plan's state is stored as a header row under the plan id (change count
 * and heads) and one row per entity under plan id, entity type, entity id
 * (its fields' live writes). An edit rewrites the rows it touches, never
 * the whole plan, so writing to a large plan costs what the edit changed,
 * and a batch loads only the entities its changes touch. Reading a whole
 * plan is one range scan, in the same order as the state's slots.
 */
#include "pstore.h"

#include "grow.h"
#include "pkeys.h"

#include <stdlib.h>
#include <string.h>

#define ENTITY_KEY_BYTES CAIRN_PK_ENTITY_BYTES
#define ETYPE_AT CAIRN_PK_PREFIX

static void entity_key(uint8_t *k, const uint8_t *plan, uint16_t etype, const uint8_t *eid)
{
    cairn_pk_entity(k, plan, etype, eid);
}

static cairn_err_t load_entity(void *ctx, cairn_plan_state_t *st, uint16_t etype,
                               const uint8_t *eid)
{
    cairn_txn_t *txn = ctx;
    uint8_t k[ENTITY_KEY_BYTES];
    cairn_buf_t buf = CAIRN_BUF_INIT;
    entity_key(k, st->plan, etype, eid);
    cairn_err_t err = cairn__db_get(txn, CAIRN_DB_PLANS, k, sizeof k, &buf);
    if (err == CAIRN_OK)
        err = cairn__pstate_decode_entity(st, etype, eid, buf.data, buf.len);
    cairn_buf_free(&buf);
    return err == CAIRN_ENOTFOUND ? CAIRN_OK : err;
}

/* The header into a new state; a plan never seen gives an empty state. */
static cairn_err_t load_header(cairn_txn_t *txn, const uint8_t *plan, cairn_plan_state_t **out)
{
    cairn_buf_t buf = CAIRN_BUF_INIT;
    cairn_plan_state_t *st = cairn__pstate_new(plan);
    if (st == NULL)
        return CAIRN_ENOMEM;
    uint8_t k[CAIRN_PK_PREFIX];
    cairn_err_t err =
        cairn__db_get(txn, CAIRN_DB_PLANS, k, cairn_pk_prefix(k, plan, CAIRN_PK_HEADER), &buf);
    if (err == CAIRN_OK)
        err = cairn__pstate_decode_header(st, buf.data, buf.len);
    cairn_buf_free(&buf);
    if (err != CAIRN_OK && err != CAIRN_ENOTFOUND) {
        cairn_plan_state_free(st);
        return err;
    }
    *out = st;
    return CAIRN_OK;
}

cairn_err_t cairn__state_load(cairn_txn_t *txn, const uint8_t *plan, cairn_plan_state_t **out)
{
    cairn_err_t err = load_header(txn, plan, out);
    if (err == CAIRN_OK) {
        (*out)->loader = load_entity;
        (*out)->loader_ctx = txn;
    }
    return err;
}

typedef struct scan {
    cairn_txn_t *txn;
    cairn_plan_state_t *st;
    cairn_buf_t buf;
    cairn_err_t err;
} scan_t;

static int load_row(void *ctx, const uint8_t *key, size_t len)
{
    scan_t *sc = ctx;
    if (len != ENTITY_KEY_BYTES) {
        sc->err = CAIRN_ECORRUPT;
        return 1;
    }
    uint16_t etype = (uint16_t)(key[ETYPE_AT] << 8 | key[ETYPE_AT + 1]);
    const uint8_t *eid = key + ETYPE_AT + 2;
    sc->err = cairn__db_get(sc->txn, CAIRN_DB_PLANS, key, len, &sc->buf);
    if (sc->err == CAIRN_OK)
        sc->err = cairn__pstate_touch(sc->st, etype, eid, 0);
    if (sc->err == CAIRN_OK)
        sc->err = cairn__pstate_decode_entity(sc->st, etype, eid, sc->buf.data, sc->buf.len);
    return sc->err != CAIRN_OK;
}

cairn_err_t cairn__state_load_full(cairn_txn_t *txn, const uint8_t *plan, cairn_plan_state_t **out)
{
    scan_t sc = {txn, NULL, CAIRN_BUF_INIT, CAIRN_OK};
    uint8_t prefix[CAIRN_PK_PREFIX];
    cairn_pk_prefix(prefix, plan, CAIRN_PK_ENTITY);
    cairn_err_t err = load_header(txn, plan, &sc.st);
    if (err == CAIRN_OK)
        err = cairn__db_scan(txn, CAIRN_DB_PLANS, prefix, sizeof prefix, load_row, &sc);
    if (err == CAIRN_OK)
        err = sc.err;
    cairn_buf_free(&sc.buf);
    if (err != CAIRN_OK) {
        cairn_plan_state_free(sc.st);
        return err;
    }
    *out = sc.st;
    return CAIRN_OK;
}

static cairn_err_t put_entity(cairn_txn_t *txn, const cairn_plan_state_t *st, const cairn_pent_t *e,
                              cairn_buf_t *buf)
{
    uint8_t k[ENTITY_KEY_BYTES];
    entity_key(k, st->plan, e->etype, e->eid);
    buf->len = 0;
    cairn_err_t err = cairn__pstate_encode_entity(st, e->etype, e->eid, buf);
    if (err != CAIRN_OK)
        return err;
    if (buf->len == 0) { /* nothing live: no row */
        err = cairn__db_del(txn, CAIRN_DB_PLANS, k, sizeof k);
        return err == CAIRN_ENOTFOUND ? CAIRN_OK : err;
    }
    return cairn__db_put(txn, CAIRN_DB_PLANS, k, sizeof k, buf->data, buf->len);
}

cairn_err_t cairn__state_flush(cairn_txn_t *txn, cairn_plan_state_t *st)
{
    cairn_buf_t buf = CAIRN_BUF_INIT;
    cairn_err_t err = CAIRN_OK;
    if (st->header_dirty) {
        uint8_t k[CAIRN_PK_PREFIX];
        err = cairn__pstate_encode_header(st, &buf);
        if (err == CAIRN_OK)
            err = cairn__db_put(txn, CAIRN_DB_PLANS, k,
                                cairn_pk_prefix(k, st->plan, CAIRN_PK_HEADER), buf.data, buf.len);
        st->header_dirty = err != CAIRN_OK;
    }
    for (size_t i = 0; i < st->nents && err == CAIRN_OK; i++) {
        if (!st->ents[i].dirty)
            continue;
        err = put_entity(txn, st, &st->ents[i], &buf);
        st->ents[i].dirty = err != CAIRN_OK;
    }
    cairn_buf_free(&buf);
    return err;
}

typedef struct keys {
    uint8_t (*k)[ENTITY_KEY_BYTES];
    size_t n, cap;
    int oom;
} keys_t;

static int collect_key(void *ctx, const uint8_t *key, size_t len)
{
    keys_t *ks = ctx;
    if (len != ENTITY_KEY_BYTES)
        return 0;
    if (cairn_grow(&ks->k, &ks->cap, ks->n, sizeof *ks->k, 64) != CAIRN_OK) {
        ks->oom = 1;
        return 1;
    }
    memcpy(ks->k[ks->n++], key, ENTITY_KEY_BYTES);
    return 0;
}

cairn_err_t cairn__state_replace(cairn_txn_t *txn, cairn_plan_state_t *st)
{
    keys_t ks = {NULL, 0, 0, 0};
    uint8_t prefix[CAIRN_PK_PREFIX];
    cairn_pk_prefix(prefix, st->plan, CAIRN_PK_ENTITY);
    cairn_err_t err = cairn__db_scan(txn, CAIRN_DB_PLANS, prefix, sizeof prefix, collect_key, &ks);
    if (err == CAIRN_OK && ks.oom)
        err = CAIRN_ENOMEM;
    for (size_t i = 0; i < ks.n && err == CAIRN_OK; i++)
        err = cairn__db_del(txn, CAIRN_DB_PLANS, ks.k[i], ENTITY_KEY_BYTES);
    free(ks.k);
    if (err == CAIRN_OK && st->nchanges == 0) { /* no history: no plan, no header */
        uint8_t k[CAIRN_PK_PREFIX];
        err = cairn__db_del(txn, CAIRN_DB_PLANS, k, cairn_pk_prefix(k, st->plan, CAIRN_PK_HEADER));
        return err == CAIRN_ENOTFOUND ? CAIRN_OK : err;
    }
    st->header_dirty = 1;
    for (size_t i = 0; i < st->nents; i++)
        st->ents[i].dirty = 1;
    return err == CAIRN_OK ? cairn__state_flush(txn, st) : err;
}

/* ---- plan headers ---------------------------------------------------------- */

/* The next plan id after p (big-endian increment); 0 when p was the last. */
static int plan_next(uint8_t *p)
{
    for (int i = CAIRN_PLAN_ID_BYTES - 1; i >= 0; i--)
        if (++p[i] != 0)
            return 1;
    return 0;
}

cairn_err_t cairn__headers_each(cairn_txn_t *txn, int (*fn)(void *, const cairn_plan_state_t *),
                                void *ctx)
{
    cairn_err_t err;
    uint8_t at[CAIRN_PK_PREFIX] = {0}, key[CAIRN_RECORD_KEY_MAX];
    cairn_buf_t buf = CAIRN_BUF_INIT;
    size_t len;
    /* A plan's keys start with its header: seek to it, then past the plan. */
    while ((err = cairn__db_seek(txn, CAIRN_DB_PLANS, at, sizeof at, key, sizeof key, &len)) ==
           CAIRN_OK) {
        if (len < CAIRN_PK_PREFIX) {
            err = CAIRN_ECORRUPT;
            break;
        }
        /*
         * A plan whose first key is not its header is one a write transaction
         * is building: its header is written at commit. It counts as empty.
         */
        int has_header = key[CAIRN_PLAN_ID_BYTES] == CAIRN_PK_HEADER;
        cairn_plan_state_t *st = cairn__pstate_new(key);
        err = st == NULL   ? CAIRN_ENOMEM
              : has_header ? cairn__db_get(txn, CAIRN_DB_PLANS, key, CAIRN_PK_PREFIX, &buf)
                           : CAIRN_OK;
        if (err == CAIRN_OK && has_header)
            err = cairn__pstate_decode_header(st, buf.data, buf.len);
        int stop = err == CAIRN_OK && fn(ctx, st) != 0;
        cairn_plan_state_free(st);
        memcpy(at, key, CAIRN_PLAN_ID_BYTES);
        at[CAIRN_PLAN_ID_BYTES] = 0;
        if (err != CAIRN_OK || stop || !plan_next(at))
            break;
    }
    cairn_buf_free(&buf);
    return err == CAIRN_ENOTFOUND ? CAIRN_OK : err;
}
