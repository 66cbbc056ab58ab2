/*
 * ingest.c - the single path by which changes enter a store.
 *
 * Checks run in the order of cairn/ingest.h; the first that fails names the
 * reason, and a rejected change writes nothing. Every verdict depends only
 * on the change's bytes and on what the store holds. The roster is
 * consulted as it stands when the change arrives; a change outside its
 * author's validity is kept inert, and judged again when that member's
 * entry changes, so replicas agree whatever the order (docs/change-format.md).
 *
 * Signatures are checked per hash chain: within a batch, changes of one
 * author in one plan are sorted by sequence, and a change whose id is the
 * prev of an authenticated successor is authenticated by that successor's
 * signature (the successor signed over that id, and BLAKE2b binds the id to
 * the bytes). Only chain tips, and changes that do not link, are verified.
 */
#include "batch.h"

#include "grow.h"
#include "pkeys.h"
#include "schema.h"
#include "wipe.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

static const char meta_clock[] = "hlc";

static const char *const reason_names[CAIRN_REASON__COUNT] = {
    "none",           "too-big",       "malformed",     "bad-signature", "bad-chain",
    "unknown-author", "not-valid",     "not-permitted", "invalid-op",    "pending-full",
};

const char *cairn_reason_name(cairn_reason_t reason)
{
    return (unsigned)reason < CAIRN_REASON__COUNT ? reason_names[reason] : "unknown";
}

void cairn_roster_eid(const uint8_t key[32], uint8_t eid[CAIRN_ENTITY_ID_BYTES])
{
    cairn_hash_domain(eid, CAIRN_ENTITY_ID_BYTES, "cairn roster entry v1", key, 32, NULL, 0, NULL,
                      0);
}

void cairn_roster_plan_id(const uint8_t org[32], uint8_t plan[CAIRN_PLAN_ID_BYTES])
{
    cairn_hash_domain(plan, CAIRN_PLAN_ID_BYTES, "cairn roster v1", org, 32, NULL, 0, NULL, 0);
}

/* ---- the batch ------------------------------------------------------------- */

static uint64_t plan_hash(const uint8_t *plan)
{
    uint64_t h;
    memcpy(&h, plan, sizeof h); /* plan ids are random or hashes */
    return h;
}

static cairn_plan_slot_t *plan_find(cairn_batch_t *b, const uint8_t *plan)
{
    size_t mask = b->plans_cap - 1;
    for (size_t i = plan_hash(plan) & mask;; i = (i + 1) & mask) {
        cairn_plan_slot_t *s = &b->plans[i];
        if (s->st == NULL || memcmp(s->st->plan, plan, CAIRN_PLAN_ID_BYTES) == 0)
            return s;
    }
}

static cairn_err_t plans_grow(cairn_batch_t *b)
{
    size_t cap = b->plans_cap ? 2 * b->plans_cap : 64;
    cairn_plan_slot_t *old = b->plans;
    size_t old_cap = b->plans_cap;
    b->plans = calloc(cap, sizeof *b->plans);
    if (b->plans == NULL) {
        b->plans = old;
        return CAIRN_ENOMEM;
    }
    b->plans_cap = cap;
    for (size_t i = 0; i < old_cap; i++)
        if (old[i].st != NULL)
            *plan_find(b, old[i].st->plan) = old[i];
    free(old);
    return CAIRN_OK;
}

cairn_err_t cairn_batch_plan(cairn_batch_t *b, const uint8_t *plan, cairn_plan_state_t **out)
{
    if (2 * (b->plans_used + 1) > b->plans_cap) {
        cairn_err_t err = plans_grow(b);
        if (err != CAIRN_OK)
            return err;
    }
    cairn_plan_slot_t *s = plan_find(b, plan);
    if (s->st == NULL) {
        cairn_err_t err = cairn_state_load(b->txn, plan, &s->st);
        if (err != CAIRN_OK)
            return err;
        b->plans_used++;
    }
    if (s->inflight != NULL) {
        /* The plan's last local edit is being signed: it goes first. */
        cairn_async_edit_t *a = s->inflight;
        s->inflight = NULL;
        cairn_err_t err = cairn_async_finish(b, a);
        if (err != CAIRN_OK)
            return err;
        s = plan_find(b, plan); /* finishing may have grown the table */
    }
    *out = s->st;
    return CAIRN_OK;
}

cairn_err_t cairn_async_settle(cairn_batch_t *b, cairn_async_edit_t *a)
{
    if (cairn_async_finished(a))
        return CAIRN_OK;
    cairn_plan_slot_t *s = plan_find(b, cairn_async_plan(a));
    if (s->inflight == a)
        s->inflight = NULL;
    return cairn_async_finish(b, a);
}

int cairn_batch_plan_busy(cairn_batch_t *b, const uint8_t *plan)
{
    return b->plans_cap > 0 && plan_find(b, plan)->inflight != NULL;
}

void cairn_batch_plan_slot_inflight(cairn_batch_t *b, const uint8_t *plan, cairn_async_edit_t *a)
{
    plan_find(b, plan)->inflight = a;
}

void cairn_batch_mark_dirty(cairn_batch_t *b, const uint8_t *plan)
{
    cairn_plan_slot_t *s = plan_find(b, plan);
    if (s->st != NULL)
        s->dirty = 1;
}

static uint64_t load_be64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
}

static void store_be64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (56 - 8 * i));
}

static cairn_err_t load_clock(cairn_store_t *store, cairn_txn_t *txn)
{
    cairn_buf_t buf = CAIRN_BUF_INIT;
    cairn_err_t err = cairn_meta_get(txn, meta_clock, &buf);
    if (err == CAIRN_OK && buf.len == 8) {
        cairn_hlc_t h = load_be64(buf.data);
        if (h > store->clock.last)
            store->clock.last = h;
    } else if (err == CAIRN_OK) {
        err = CAIRN_ECORRUPT;
    }
    cairn_buf_free(&buf);
    return err == CAIRN_ENOTFOUND ? CAIRN_OK : err;
}

cairn_err_t cairn_batch_begin(cairn_store_t *store, cairn_batch_t **out)
{
    if (store == NULL || out == NULL)
        return CAIRN_EINVAL;
    cairn_batch_t *b = calloc(1, sizeof *b);
    if (b == NULL)
        return CAIRN_ENOMEM;
    b->store = store;
    cairn_err_t err = cairn_txn_begin(store, 1, &b->txn);
    if (err == CAIRN_OK)
        err = load_clock(store, b->txn);
    if (err == CAIRN_OK)
        err = cairn_db_count(b->txn, CAIRN_DB_PENDING, &b->pending);
    if (err != CAIRN_OK) {
        cairn_batch_abort(b);
        return err;
    }
    b->clock_at_begin = store->clock.last;
    *out = b;
    return CAIRN_OK;
}

static void batch_free(cairn_batch_t *b)
{
    free(b->reeval);
    cairn_async_release(b);
    /* The signer's threads belong to the store and outlive the batch. */
    for (size_t i = 0; i < b->plans_cap; i++)
        cairn_plan_state_free(b->plans[i].st);
    free(b->plans);
    free(b->ready);
    free(b);
}

void cairn_batch_abort(cairn_batch_t *b)
{
    if (b == NULL)
        return;
    if (b->txn != NULL)
        cairn_txn_abort(b->txn);
    b->store->clock.last = b->clock_at_begin; /* nothing of the batch happened */
    batch_free(b);
}

static int any_key(void *ctx, const uint8_t *key, size_t len)
{
    (void)key, (void)len;
    *(int *)ctx = 1;
    return 1;
}

static cairn_err_t flush_states(cairn_batch_t *b)
{
    cairn_err_t err = CAIRN_OK;
    for (size_t i = 0; i < b->plans_cap && err == CAIRN_OK; i++) {
        cairn_plan_slot_t *s = &b->plans[i];
        if (s->st != NULL && s->rebuilt)
            err = cairn_state_replace(b->txn, s->st);
        else if (s->st != NULL && s->dirty)
            err = cairn_state_flush(b->txn, s->st);
    }
    return err;
}

cairn_err_t cairn_inert_flags(cairn_plan_state_t *roster, cairn_change_t *const *cs, size_t n,
                              int *inert)
{
    cairn_err_t err = CAIRN_OK;
    for (size_t i = 0; i < n && err == CAIRN_OK; i++) {
        unsigned roles;
        cairn_reason_t why = cairn_roster_judge(roster, cs[i]->author, CAIRN_HLC_MS(cs[i]->hlc),
                                                &roles, &err);
        inert[i] = why != CAIRN_REASON_NONE;
    }
    return err;
}

/* Rebuild plan from its log, judging every change against the roster now. */
static cairn_err_t rebuild_in_batch(cairn_batch_t *b, const uint8_t *plan)
{
    cairn_change_t **cs = NULL;
    cairn_plan_state_t *roster, *old, *st = NULL;
    size_t n = 0;
    int *inert = NULL;
    cairn_err_t err = cairn_batch_plan(b, plan, &old); /* makes its slot */
    if (err == CAIRN_OK)
        err = cairn_batch_plan(b, b->store->roster_plan, &roster);
    if (err == CAIRN_OK)
        err = cairn_log_load(b->txn, plan, &cs, &n);
    if (err == CAIRN_OK)
        err = (inert = calloc(n ? n : 1, sizeof *inert)) ? CAIRN_OK : CAIRN_ENOMEM;
    if (err == CAIRN_OK)
        err = cairn_inert_flags(roster, cs, n, inert);
    if (err == CAIRN_OK)
        err = cairn_pstate_rebuild(plan, cs, inert, n, &st);
    if (err == CAIRN_OK) {
        cairn_plan_slot_t *s = plan_find(b, plan);
        cairn_plan_state_free(s->st);
        s->st = st;
        s->dirty = s->rebuilt = 1;
    }
    cairn_log_free(cs, n);
    free(inert);
    return err;
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
    if (cairn_batch_in_roster(r->b, h->plan))
        return 0;
    for (size_t k = 0; k < r->b->nreeval; k++) {
        uint8_t prefix[CAIRN_PK_SEQ_BYTES];
        int found = 0;
        cairn_pk_seq(prefix, h->plan, r->b->reeval[k], 0); /* the author's part only is used */
        r->err = cairn_db_scan(r->b->txn, CAIRN_DB_PLANS, prefix, CAIRN_PK_AUTHOR_BYTES, any_key,
                               &found);
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
    cairn_err_t err = cairn_headers_each(b->txn, find_affected, &r);
    if (err == CAIRN_OK)
        err = r.err;
    for (size_t i = 0; i < r.n && err == CAIRN_OK; i++)
        err = rebuild_in_batch(b, r.plans[i]);
    free(r.plans);
    b->nreeval = 0;
    return err;
}

static cairn_err_t save_clock(cairn_batch_t *b)
{
    uint8_t v[8];
    cairn_hlc_t h = b->store->clock.last;
    if (h == b->clock_at_begin)
        return CAIRN_OK;
    store_be64(v, h);
    return cairn_meta_put(b->txn, meta_clock, v, sizeof v);
}

cairn_err_t cairn_batch_commit(cairn_batch_t *b)
{
    if (b == NULL)
        return CAIRN_EINVAL;
    cairn_err_t err = b->failed;
    for (size_t i = 0; i < b->nasync && err == CAIRN_OK; i++)
        err = cairn_async_settle(b, b->asyncs[i]);
    if (err == CAIRN_OK && b->nreeval > 0)
        err = reevaluate(b);
    if (err == CAIRN_OK)
        err = flush_states(b);
    if (err == CAIRN_OK)
        err = save_clock(b);
    if (err != CAIRN_OK) {
        cairn_batch_abort(b);
        return err;
    }
    err = cairn_txn_commit(b->txn);
    b->txn = NULL;
    if (err != CAIRN_OK)
        b->store->clock.last = b->clock_at_begin;
    batch_free(b);
    return err;
}

/* ---- checks ------------------------------------------------------------------ */

/* Whether plan's change id is applied here. */
static int has_change(cairn_batch_t *b, const uint8_t *plan, const uint8_t *id, cairn_err_t *err)
{
    uint8_t k[CAIRN_PK_CHANGE_BYTES];
    int rc = cairn_db_has(b->txn, CAIRN_DB_PLANS, k, cairn_pk_change(k, plan, id));
    if (rc < 0)
        *err = (cairn_err_t)rc;
    return rc == 1;
}

/* The integer winner of a roster field, or dflt when unset or cleared. */
static int64_t roster_int(const cairn_plan_state_t *roster, const uint8_t *eid, uint16_t field,
                          int64_t dflt)
{
    const cairn_pslot_t *s = cairn_pstate_find(roster, CAIRN_ET_ROSTER_ENTRY, eid, field);
    if (s == NULL || s->n == 0 || s->values[0].type != CAIRN_VALUE_INT)
        return dflt;
    return s->values[0].i;
}

static int roster_key_matches(const cairn_plan_state_t *roster, const uint8_t *eid,
                              const uint8_t *author)
{
    char hex[65];
    const cairn_pslot_t *s = cairn_pstate_find(roster, CAIRN_ET_ROSTER_ENTRY, eid, 1);
    if (s == NULL || s->n == 0 || s->values[0].type != CAIRN_VALUE_STR || s->values[0].len != 64)
        return 0;
    sodium_bin2hex(hex, sizeof hex, author, 32);
    return memcmp(hex, s->values[0].s, 64) == 0;
}

/*
 * The roles of c's author at c's time, or a reason. In the roster itself
 * the organisation's root key acts as an administrator.
 */
static cairn_reason_t author_roles(cairn_batch_t *b, const cairn_change_t *c, int in_roster,
                                   unsigned *roles, cairn_err_t *err)
{
    const cairn_store_t *store = b->store;
    if (in_roster && memcmp(c->author, store->org, 32) == 0) {
        *roles = CAIRN_ROLE_ADMIN;
        return CAIRN_REASON_NONE;
    }
    cairn_plan_state_t *roster;
    *err = cairn_batch_plan(b, store->roster_plan, &roster);
    if (*err != CAIRN_OK)
        return CAIRN_REASON_NONE;
    return cairn_roster_judge(roster, c->author, CAIRN_HLC_MS(c->hlc), roles, err);
}

cairn_reason_t cairn_roster_judge(cairn_plan_state_t *roster, const uint8_t key[32],
                                  uint64_t at_ms, unsigned *roles, cairn_err_t *err)
{
    uint8_t eid[CAIRN_ENTITY_ID_BYTES];
    cairn_roster_eid(key, eid);
    *err = cairn_pstate_touch(roster, CAIRN_ET_ROSTER_ENTRY, eid, 0);
    if (*err != CAIRN_OK)
        return CAIRN_REASON_NONE;
    if (!cairn_plan_state_present(roster, CAIRN_ET_ROSTER_ENTRY, eid) ||
        !roster_key_matches(roster, eid, key))
        return CAIRN_REASON_UNKNOWN_AUTHOR;
    int64_t at = (int64_t)at_ms;
    int64_t from = roster_int(roster, eid, 4, 0);
    int64_t until = roster_int(roster, eid, 5, 0);
    int64_t revoked = roster_int(roster, eid, 6, 0);
    *roles = (unsigned)roster_int(roster, eid, 3, 0); /* also when not valid: see precheck */
    if (at < from || (until != 0 && at >= until) || (revoked != 0 && at >= revoked))
        return CAIRN_REASON_NOT_VALID;
    return CAIRN_REASON_NONE;
}

/* Collect the ids c names that the store does not hold. */
typedef struct missing {
    uint8_t ids[CAIRN_CHANGE_MAX_DEPS + 1 + CAIRN_CHANGE_MAX_OPS][CAIRN_CHANGE_ID_BYTES];
    size_t n;
} missing_t;

static void missing_add(missing_t *m, const uint8_t *id)
{
    for (size_t i = 0; i < m->n; i++)
        if (memcmp(m->ids[i], id, CAIRN_CHANGE_ID_BYTES) == 0)
            return;
    if (m->n < sizeof m->ids / sizeof m->ids[0])
        memcpy(m->ids[m->n++], id, CAIRN_CHANGE_ID_BYTES);
}

/* Add to m the deps and pred changes of c not held here. */
static cairn_err_t find_missing(cairn_batch_t *b, const cairn_change_t *c, missing_t *m)
{
    cairn_err_t err = CAIRN_OK;
    for (size_t i = 0; i < c->ndeps && err == CAIRN_OK; i++)
        if (!has_change(b, c->plan, c->deps[i], &err))
            missing_add(m, c->deps[i]);
    for (size_t i = 0; i < c->nops && err == CAIRN_OK; i++)
        for (size_t p = 0; p < c->ops[i].npred && err == CAIRN_OK; p++)
            if (!has_change(b, c->plan, c->ops[i].pred[p].bytes, &err))
                missing_add(m, c->ops[i].pred[p].bytes);
    return err;
}

/*
 * prev must be the author's change seq - 1 in this plan (held, or missing),
 * and c's clock must be past prev's: an author cannot step back in time
 * along its own chain, so a revoked key cannot date new changes before
 * the last one it made.
 */
static cairn_reason_t check_chain(cairn_batch_t *b, const cairn_change_t *c, missing_t *m,
                                  cairn_err_t *err)
{
    if (!c->has_prev)
        return CAIRN_REASON_NONE;
    if (!has_change(b, c->plan, c->prev, err)) {
        missing_add(m, c->prev);
        return CAIRN_REASON_NONE;
    }
    uint8_t k[CAIRN_PK_LOG_BYTES];
    cairn_buf_t buf = CAIRN_BUF_INIT;
    *err = cairn_db_get(b->txn, CAIRN_DB_PLANS, k,
                        cairn_pk_log(k, c->plan, c->author, c->seq - 1, c->prev), &buf);
    cairn_reason_t why = CAIRN_REASON_NONE;
    if (*err == CAIRN_ENOTFOUND) {
        *err = CAIRN_OK;
        why = CAIRN_REASON_BAD_CHAIN;
    } else if (*err == CAIRN_OK && buf.len != 8) {
        *err = CAIRN_ECORRUPT;
    } else if (*err == CAIRN_OK && c->hlc <= load_be64(buf.data)) {
        why = CAIRN_REASON_BAD_CHAIN;
    }
    cairn_buf_free(&buf);
    return why;
}

/* ---- park, apply, release ------------------------------------------------------ */

static cairn_err_t park(cairn_batch_t *b, const cairn_change_t *c, const missing_t *m)
{
    cairn_err_t err = cairn_db_put(b->txn, CAIRN_DB_PENDING, c->id, CAIRN_CHANGE_ID_BYTES,
                                   c->bytes, c->len);
    uint8_t k[2 * CAIRN_CHANGE_ID_BYTES];
    memcpy(k + CAIRN_CHANGE_ID_BYTES, c->id, CAIRN_CHANGE_ID_BYTES);
    for (size_t i = 0; i < m->n && err == CAIRN_OK; i++) {
        memcpy(k, m->ids[i], CAIRN_CHANGE_ID_BYTES);
        err = cairn_db_put(b->txn, CAIRN_DB_WAITING, k, sizeof k, "", 0);
    }
    if (err == CAIRN_OK)
        b->pending++;
    return err;
}


typedef struct collect {
    cairn_batch_t *b;
    cairn_err_t err;
} collect_t;

static int collect_waiter(void *ctx, const uint8_t *key, size_t len)
{
    collect_t *col = ctx;
    cairn_batch_t *b = col->b;
    if (len != 2 * CAIRN_CHANGE_ID_BYTES)
        return 0;
    if (cairn_grow(&b->ready, &b->cap_ready, b->nready, sizeof *b->ready, 16) != CAIRN_OK) {
        col->err = CAIRN_ENOMEM;
        return 1;
    }
    memcpy(b->ready[b->nready++].id, key + CAIRN_CHANGE_ID_BYTES, CAIRN_CHANGE_ID_BYTES);
    return 0;
}

/* Queue the changes that waited for id, and forget that they did. */
static cairn_err_t release_waiters(cairn_batch_t *b, const uint8_t *id)
{
    size_t first = b->nready;
    collect_t col = {b, CAIRN_OK};
    cairn_err_t err = cairn_db_scan(b->txn, CAIRN_DB_WAITING, id, CAIRN_CHANGE_ID_BYTES,
                                    collect_waiter, &col);
    if (err == CAIRN_OK)
        err = col.err;
    uint8_t k[2 * CAIRN_CHANGE_ID_BYTES];
    memcpy(k, id, CAIRN_CHANGE_ID_BYTES);
    for (size_t i = first; i < b->nready && err == CAIRN_OK; i++) {
        memcpy(k + CAIRN_CHANGE_ID_BYTES, b->ready[i].id, CAIRN_CHANGE_ID_BYTES);
        err = cairn_db_del(b->txn, CAIRN_DB_WAITING, k, sizeof k);
    }
    return err;
}

int cairn_batch_in_roster(const cairn_batch_t *b, const uint8_t *plan)
{
    return b->store->has_org && memcmp(plan, b->store->roster_plan, CAIRN_PLAN_ID_BYTES) == 0;
}

/*
 * Remember the members whose roster entries roster change c touched: their
 * changes in care plans are judged again at commit (a revocation may make
 * some inert, a new entry may bring some back).
 */
static cairn_err_t note_roster_keys(cairn_batch_t *b, const cairn_change_t *c)
{
    cairn_plan_state_t *roster;
    cairn_err_t err = cairn_batch_plan(b, b->store->roster_plan, &roster);
    for (size_t i = 0; i < c->nops && err == CAIRN_OK; i++) {
        if (c->ops[i].etype != CAIRN_ET_ROSTER_ENTRY)
            continue;
        const cairn_pslot_t *s = cairn_pstate_find(roster, CAIRN_ET_ROSTER_ENTRY, c->ops[i].eid, 1);
        uint8_t key[32];
        if (s == NULL || s->n == 0 || s->values[0].type != CAIRN_VALUE_STR ||
            s->values[0].len != 64 ||
            sodium_hex2bin(key, sizeof key, s->values[0].s, 64, NULL, NULL, NULL) != 0)
            continue;
        size_t k = 0;
        while (k < b->nreeval && memcmp(b->reeval[k], key, 32) != 0)
            k++;
        if (k < b->nreeval)
            continue;
        err = cairn_grow(&b->reeval, &b->cap_reeval, b->nreeval, sizeof *b->reeval, 8);
        if (err == CAIRN_OK)
            memcpy(b->reeval[b->nreeval++], key, 32);
    }
    return err;
}

static cairn_err_t apply(cairn_batch_t *b, const cairn_change_t *c, cairn_ingest_result_t *res,
                         int inert)
{
    uint8_t k[CAIRN_PK_LOG_BYTES], ck[CAIRN_PK_CHANGE_BYTES];
    int forked = 0;
    size_t n = cairn_pk_seq(k, c->plan, c->author, c->seq);
    cairn_err_t err = cairn_db_scan(b->txn, CAIRN_DB_PLANS, k, n, any_key, &forked);
    if (err == CAIRN_OK && forked) {
        err = cairn_db_put(b->txn, CAIRN_DB_FORKS, k, n, "", 0);
        res->fork = 1;
        b->stats.forks++;
    }
    if (err == CAIRN_OK)
        err = cairn_db_put(b->txn, CAIRN_DB_PLANS, ck, cairn_pk_change(ck, c->plan, c->id),
                           c->bytes, c->len);
    uint8_t hlc[8];
    store_be64(hlc, c->hlc);
    if (err == CAIRN_OK) /* the log entry keeps the change's clock, for check_chain */
        err = cairn_db_put(b->txn, CAIRN_DB_PLANS, k,
                           cairn_pk_log(k, c->plan, c->author, c->seq, c->id), hlc, sizeof hlc);
    cairn_plan_state_t *st;
    if (err == CAIRN_OK)
        err = cairn_batch_plan(b, c->plan, &st);
    if (err == CAIRN_OK)
        err = cairn_pstate_apply(st, c, inert);
    if (err == CAIRN_OK && cairn_batch_in_roster(b, c->plan))
        err = note_roster_keys(b, c);
    if (err != CAIRN_OK)
        return err;
    cairn_batch_mark_dirty(b, c->plan);
    cairn_hlc_observe(&b->store->clock, c->hlc, cairn_store_now(b->store));
    res->verdict = inert ? CAIRN_INERT : CAIRN_APPLIED;
    res->reason = inert ? CAIRN_REASON_NOT_VALID : CAIRN_REASON_NONE;
    if (inert)
        b->stats.inert++;
    else
        b->stats.applied++;
    /* Nothing can wait on c when nothing waits at all (the usual case). */
    return b->pending == 0 ? CAIRN_OK : release_waiters(b, c->id);
}

cairn_reason_t cairn_batch_precheck(cairn_batch_t *b, const cairn_change_t *c, cairn_err_t *err)
{
    int in_roster = cairn_batch_in_roster(b, c->plan);
    unsigned roles = 0;
    if (!b->store->has_org) /* no roster: no author is known */
        return CAIRN_REASON_UNKNOWN_AUTHOR;
    cairn_reason_t why = cairn_schema_check(c, in_roster);
    if (why == CAIRN_REASON_NONE)
        why = author_roles(b, c, in_roster, &roles, err);
    /* A change outside its author's validity must still be one the roles allow. */
    if ((why == CAIRN_REASON_NONE || why == CAIRN_REASON_NOT_VALID) && *err == CAIRN_OK &&
        !cairn_schema_allows(c, roles))
        why = CAIRN_REASON_NOT_PERMITTED;
    return why;
}

/* Every check after the signature; on success c is applied or parked. */
static cairn_err_t process_checked(cairn_batch_t *b, const cairn_change_t *c,
                                   cairn_ingest_result_t *res)
{
    cairn_err_t err = CAIRN_OK;
    missing_t m; /* about 10 KiB; per call, as calls nest (async edits) */
    memcpy(res->id, c->id, CAIRN_CHANGE_ID_BYTES);
    if (has_change(b, c->plan, c->id, &err) || err != CAIRN_OK) {
        res->verdict = CAIRN_DUPLICATE;
        b->stats.duplicate += err == CAIRN_OK;
        return err;
    }
    int rc = b->pending == 0 ? 0 : cairn_db_has(b->txn, CAIRN_DB_PENDING, c->id,
                                                 CAIRN_CHANGE_ID_BYTES);
    if (rc != 0) {
        res->verdict = CAIRN_DUPLICATE;
        b->stats.duplicate += rc == 1;
        return rc < 0 ? (cairn_err_t)rc : CAIRN_OK;
    }
    m.n = 0;
    cairn_reason_t why = check_chain(b, c, &m, &err);
    if (why == CAIRN_REASON_NONE && err == CAIRN_OK)
        why = cairn_batch_precheck(b, c, &err);
    /*
     * A care-plan change made outside its author's validity is kept but
     * inert: every replica then holds the same history whichever it learned
     * first, the change or the revocation, and none applies its operations.
     */
    int inert = why == CAIRN_REASON_NOT_VALID && !cairn_batch_in_roster(b, c->plan);
    if (inert)
        why = CAIRN_REASON_NONE;
    if (why == CAIRN_REASON_NONE && err == CAIRN_OK)
        err = find_missing(b, c, &m);
    if (err != CAIRN_OK)
        return err;
    if (why != CAIRN_REASON_NONE) {
        res->verdict = CAIRN_REJECTED;
        res->reason = why;
        b->stats.rejected++;
        return CAIRN_OK;
    }
    if (m.n > 0) {
        if (b->pending >= CAIRN_PENDING_MAX) {
            res->verdict = CAIRN_REJECTED;
            res->reason = CAIRN_REASON_PENDING_FULL;
            b->stats.rejected++;
            return CAIRN_OK;
        }
        res->verdict = CAIRN_PENDING;
        b->stats.pending++;
        return park(b, c, &m);
    }
    return apply(b, c, res, inert);
}

/* Take a released change out of the pending area and process it again. */
static cairn_err_t process_released(cairn_batch_t *b, const uint8_t *queued_id)
{
    uint8_t id[CAIRN_CHANGE_ID_BYTES]; /* the queue may move while we work */
    memcpy(id, queued_id, sizeof id);
    cairn_buf_t buf = CAIRN_BUF_INIT;
    cairn_change_t *c = NULL;
    cairn_err_t err = cairn_db_get(b->txn, CAIRN_DB_PENDING, id, CAIRN_CHANGE_ID_BYTES, &buf);
    if (err == CAIRN_ENOTFOUND) /* released twice (it waited on two ids): done already */
        return CAIRN_OK;
    if (err == CAIRN_OK)
        err = cairn_db_del(b->txn, CAIRN_DB_PENDING, id, CAIRN_CHANGE_ID_BYTES);
    if (err == CAIRN_OK) {
        b->pending--;
        /* The pending area is sealed under our key: its bytes were checked. */
        err = cairn_change_decode(buf.data, buf.len, &c) == CAIRN_OK ? CAIRN_OK : CAIRN_ECORRUPT;
    }
    if (err == CAIRN_OK) {
        cairn_ingest_result_t res = {0};
        err = process_checked(b, c, &res);
        if (res.verdict == CAIRN_PENDING)
            b->stats.pending--; /* still waiting: not new */
    }
    cairn_change_free(c);
    cairn_buf_free(&buf);
    return err;
}

cairn_err_t cairn_batch_process(cairn_batch_t *b, const cairn_change_t *c,
                                cairn_ingest_result_t *res)
{
    if (b->failed != CAIRN_OK)
        return b->failed;
    size_t first = b->nready;
    cairn_err_t err = process_checked(b, c, res);
    /* Released changes may release more; the queue grows as we go. */
    for (size_t i = first; i < b->nready && err == CAIRN_OK; i++)
        err = process_released(b, b->ready[i].id);
    b->nready = first;
    if (err != CAIRN_OK)
        b->failed = err;
    return err;
}

cairn_err_t cairn_batch_chain_head(cairn_batch_t *b, const uint8_t *plan, const uint8_t *author,
                                   uint64_t *seq, uint8_t id[CAIRN_CHANGE_ID_BYTES])
{
    uint8_t prefix[CAIRN_PK_SEQ_BYTES], k[CAIRN_PK_LOG_BYTES];
    size_t len;
    cairn_pk_seq(prefix, plan, author, 0);
    cairn_err_t err = cairn_db_last(b->txn, CAIRN_DB_PLANS, prefix, CAIRN_PK_AUTHOR_BYTES, k,
                                    sizeof k, &len);
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

/* ---- cairn_ingest: decode, authenticate per chain, process ------------------- */

typedef struct item {
    cairn_change_t *c;
    size_t index;
    int authentic;
} item_t;

static int cmp_chain(const void *pa, const void *pb)
{
    const item_t *a = pa, *b = pb;
    if (a->c == NULL || b->c == NULL)
        return (a->c == NULL) - (b->c == NULL);
    int c = memcmp(a->c->author, b->c->author, 32);
    if (c == 0)
        c = memcmp(a->c->plan, b->c->plan, CAIRN_PLAN_ID_BYTES);
    if (c == 0 && a->c->seq != b->c->seq)
        c = a->c->seq < b->c->seq ? -1 : 1;
    if (c == 0)
        c = memcmp(a->c->id, b->c->id, CAIRN_CHANGE_ID_BYTES);
    return c;
}

/* Whether succ links back to c: same author and plan, the next seq, prev = c. */
static int links(const cairn_change_t *c, const cairn_change_t *succ)
{
    return succ->has_prev && succ->seq == c->seq + 1 &&
           memcmp(succ->author, c->author, 32) == 0 &&
           memcmp(succ->plan, c->plan, CAIRN_PLAN_ID_BYTES) == 0 &&
           memcmp(succ->prev, c->id, CAIRN_CHANGE_ID_BYTES) == 0;
}

/*
 * Authenticate sorted items from the highest seq of each chain down: an
 * item is authentic if an authentic item links back to it, or if its own
 * signature verifies. Forks sort next to each other; each is checked.
 */
static void authenticate(item_t *items, size_t n, cairn_ingest_stats_t *stats)
{
    for (size_t k = n; k-- > 0;) {
        item_t *it = &items[k];
        if (it->c == NULL)
            continue;
        for (size_t j = k + 1; j < n && items[j].c != NULL; j++) {
            if (items[j].c->seq > it->c->seq + 1 ||
                memcmp(items[j].c->author, it->c->author, 32) != 0 ||
                memcmp(items[j].c->plan, it->c->plan, CAIRN_PLAN_ID_BYTES) != 0)
                break;
            if (items[j].authentic && links(it->c, items[j].c)) {
                it->authentic = 1;
                break;
            }
        }
        if (!it->authentic) {
            stats->verified++;
            it->authentic = cairn_change_verify(it->c) == 0;
        }
    }
}

static void reject(cairn_ingest_result_t *res, cairn_ingest_stats_t *stats, cairn_reason_t why)
{
    res->verdict = CAIRN_REJECTED;
    res->reason = why;
    stats->rejected++;
}

cairn_err_t cairn_ingest(cairn_store_t *store, const uint8_t *const *bytes, const size_t *lens,
                         size_t n, cairn_ingest_result_t *results, cairn_ingest_stats_t *stats)
{
    if (store == NULL || (n > 0 && (bytes == NULL || lens == NULL)))
        return CAIRN_EINVAL;
    cairn_ingest_result_t *res = results ? results : calloc(n ? n : 1, sizeof *res);
    item_t *items = calloc(n ? n : 1, sizeof *items);
    cairn_batch_t *b = NULL;
    cairn_err_t err = (res == NULL || items == NULL) ? CAIRN_ENOMEM : CAIRN_OK;
    if (err == CAIRN_OK)
        err = cairn_batch_begin(store, &b);
    for (size_t i = 0; i < n && err == CAIRN_OK; i++) {
        memset(&res[i], 0, sizeof res[i]);
        items[i].index = i;
        cairn_err_t derr = cairn_change_decode(bytes[i], lens[i], &items[i].c);
        if (derr == CAIRN_ENOMEM)
            err = derr;
        else if (derr != CAIRN_OK)
            reject(&res[i], &b->stats, derr == CAIRN_ETOOBIG ? CAIRN_REASON_TOO_BIG
                                                           : CAIRN_REASON_MALFORMED);
    }
    if (err == CAIRN_OK) {
        qsort(items, n, sizeof *items, cmp_chain);
        authenticate(items, n, &b->stats);
        /* Process in arrival order, which is causal order from a sane peer. */
        for (size_t k = 0; k < n; k++) {
            item_t *it = &items[k];
            if (it->c != NULL && !it->authentic) {
                memcpy(res[it->index].id, it->c->id, CAIRN_CHANGE_ID_BYTES);
                reject(&res[it->index], &b->stats, CAIRN_REASON_BAD_SIGNATURE);
                cairn_change_free(it->c);
                it->c = NULL;
            }
        }
        item_t **order = calloc(n ? n : 1, sizeof *order);
        err = order ? CAIRN_OK : CAIRN_ENOMEM;
        for (size_t k = 0; k < n && order; k++)
            order[items[k].index] = &items[k];
        for (size_t i = 0; i < n && err == CAIRN_OK; i++)
            if (order[i]->c != NULL)
                err = cairn_batch_process(b, order[i]->c, &res[i]);
        free(order);
    }
    cairn_ingest_stats_t st = b ? b->stats : (cairn_ingest_stats_t){0};
    if (b != NULL)
        err = err == CAIRN_OK ? cairn_batch_commit(b) : (cairn_batch_abort(b), err);
    if (stats != NULL)
        *stats = st;
    for (size_t i = 0; items != NULL && i < n; i++)
        cairn_change_free(items[i].c);
    free(items);
    if (res != results)
        free(res);
    return err;
}
