/*
 * edit.c - local edits, the organisation and its roster, reading plans.
 *
 * An edit gathers operations against the plan's current merged state (so
 * every write names what it supersedes), then becomes one signed change
 * that goes through the same checks as a change from a peer. The only
 * check it skips is verifying the signature it has just made.
 */
#include "batch.h"

#include "grow.h"
#include "schema.h"
#include "wipe.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

static const char meta_org[] = "org";
static const char meta_org_sk[] = "org_sk";

struct cairn_edit {
    cairn_batch_t *b;
    uint8_t plan[CAIRN_PLAN_ID_BYTES];
    const uint8_t *sk, *pk; /* the signer */
    cairn_plan_state_t *st;
    cairn_op_t *ops;
    size_t nops, cap;
    uint64_t seq; /* the signer's next sequence number in the plan */
    uint8_t prev[CAIRN_CHANGE_ID_BYTES];
    uint64_t applied_at_begin; /* the plan's change count when the edit began */
};

void cairn_plan_id_new(uint8_t plan[CAIRN_PLAN_ID_BYTES])
{
    randombytes_buf(plan, CAIRN_PLAN_ID_BYTES);
}

static cairn_err_t edit_begin_as(cairn_batch_t *b, const uint8_t *plan, const uint8_t *sk,
                                 const uint8_t *pk, cairn_edit_t **out)
{
    if (b == NULL || plan == NULL || out == NULL)
        return CAIRN_EINVAL;
    cairn_edit_t *e = calloc(1, sizeof *e);
    if (e == NULL)
        return CAIRN_ENOMEM;
    e->b = b;
    e->sk = sk;
    e->pk = pk;
    memcpy(e->plan, plan, CAIRN_PLAN_ID_BYTES);
    cairn_err_t err = cairn_batch_plan(b, plan, &e->st);
    uint64_t last = 0;
    if (err == CAIRN_OK) /* after the plan's pending edit is in: the chain is current */
        err = cairn_batch_chain_head(b, plan, pk, &last, e->prev);
    if (err != CAIRN_OK) {
        free(e);
        return err;
    }
    e->seq = last + 1;
    e->applied_at_begin = e->st->nchanges;
    *out = e;
    return CAIRN_OK;
}

cairn_err_t cairn_edit_begin(cairn_batch_t *b, const uint8_t plan[CAIRN_PLAN_ID_BYTES],
                             cairn_edit_t **out)
{
    if (b == NULL)
        return CAIRN_EINVAL;
    return edit_begin_as(b, plan, b->store->identity_sk, b->store->public_key, out);
}

static void op_release(cairn_op_t *op)
{
    free((void *)(uintptr_t)op->pred);
    cairn_value_wipe(&op->value);
}

void cairn_edit_abort(cairn_edit_t *e)
{
    if (e == NULL)
        return;
    for (size_t i = 0; i < e->nops; i++)
        op_release(&e->ops[i]);
    free(e->ops);
    free(e);
}

/* A new op slot at the end of e->ops, zeroed. */
static cairn_op_t *op_push(cairn_edit_t *e)
{
    if (e->nops == CAIRN_CHANGE_MAX_OPS)
        return NULL;
    if (cairn_grow(&e->ops, &e->cap, e->nops, sizeof *e->ops, 4) != CAIRN_OK)
        return NULL;
    cairn_op_t *op = &e->ops[e->nops++];
    memset(op, 0, sizeof *op);
    return op;
}

/* pred := the live ops of slot (etype, eid, field) in the current state. */
static cairn_err_t take_pred(cairn_edit_t *e, cairn_op_t *op)
{
    cairn_err_t err = cairn_pstate_touch(e->st, op->etype, op->eid, 0);
    if (err != CAIRN_OK)
        return err;
    const cairn_pslot_t *s = cairn_pstate_find(e->st, op->etype, op->eid, op->field);
    if (s == NULL || s->n == 0)
        return CAIRN_OK;
    size_t n = s->n < CAIRN_OP_MAX_PRED ? s->n : CAIRN_OP_MAX_PRED;
    cairn_op_id_t *pred = malloc(n * sizeof *pred);
    if (pred == NULL)
        return CAIRN_ENOMEM;
    memcpy(pred, s->ops, n * sizeof *pred);
    op->pred = pred;
    op->npred = n;
    return CAIRN_OK;
}

/* Whether (etype, eid) is present now; loads it first. */
static cairn_err_t entity_present(cairn_edit_t *e, uint16_t etype, const uint8_t *eid)
{
    cairn_err_t err = cairn_pstate_touch(e->st, etype, eid, 0);
    if (err != CAIRN_OK)
        return err;
    return cairn_plan_state_present(e->st, etype, eid) ? CAIRN_OK : CAIRN_ENOTFOUND;
}

/*
 * A field of a set or log entity is written only while the entity is
 * present or once this edit adds it: a write to an absent one would be
 * signed, stored and synced, yet never shown.
 */
static cairn_err_t entity_writable(cairn_edit_t *e, uint16_t etype, const uint8_t *eid)
{
    if (!cairn_etype_is_set(etype))
        return CAIRN_OK;
    for (size_t i = 0; i < e->nops; i++)
        if (e->ops[i].kind == CAIRN_OP_ADD && e->ops[i].etype == etype &&
            memcmp(e->ops[i].eid, eid, CAIRN_ENTITY_ID_BYTES) == 0)
            return CAIRN_OK;
    return entity_present(e, etype, eid);
}

cairn_err_t cairn_edit_set(cairn_edit_t *e, uint16_t etype,
                           const uint8_t eid[CAIRN_ENTITY_ID_BYTES], uint16_t field,
                           const cairn_value_t *value)
{
    if (e == NULL || eid == NULL || value == NULL)
        return CAIRN_EINVAL;
    if (cairn_schema_check_value(etype, field, value) != CAIRN_OK)
        return CAIRN_EINVAL;
    cairn_err_t err = entity_writable(e, etype, eid);
    if (err != CAIRN_OK)
        return err;
    for (size_t i = 0; i < e->nops; i++) {
        cairn_op_t *op = &e->ops[i];
        if (op->kind == CAIRN_OP_SET && op->etype == etype && op->field == field &&
            memcmp(op->eid, eid, CAIRN_ENTITY_ID_BYTES) == 0) {
            /* Written twice in one edit: the second value replaces the first. */
            cairn_value_t v;
            err = cairn_value_dup(&v, value);
            if (err != CAIRN_OK)
                return err;
            cairn_value_wipe(&op->value);
            op->value = v;
            return CAIRN_OK;
        }
    }
    cairn_op_t *op = op_push(e);
    if (op == NULL)
        return e->nops == CAIRN_CHANGE_MAX_OPS ? CAIRN_ETOOBIG : CAIRN_ENOMEM;
    op->kind = CAIRN_OP_SET;
    op->etype = etype;
    op->field = field;
    memcpy(op->eid, eid, CAIRN_ENTITY_ID_BYTES);
    err = cairn_value_dup(&op->value, value);
    if (err == CAIRN_OK)
        err = take_pred(e, op);
    if (err != CAIRN_OK) {
        op_release(op);
        e->nops--;
    }
    return err;
}

static cairn_err_t edit_add_id(cairn_edit_t *e, uint16_t etype, const uint8_t *eid)
{
    const cairn_etype_desc_t *et = cairn_schema_etype(etype);
    if (et == NULL || et->kind == CAIRN_EK_SINGLETON)
        return CAIRN_EINVAL;
    cairn_op_t *op = op_push(e);
    if (op == NULL)
        return e->nops == CAIRN_CHANGE_MAX_OPS ? CAIRN_ETOOBIG : CAIRN_ENOMEM;
    op->kind = CAIRN_OP_ADD;
    op->etype = etype;
    memcpy(op->eid, eid, CAIRN_ENTITY_ID_BYTES);
    return CAIRN_OK;
}

cairn_err_t cairn_edit_add(cairn_edit_t *e, uint16_t etype, uint8_t eid[CAIRN_ENTITY_ID_BYTES])
{
    if (e == NULL || eid == NULL)
        return CAIRN_EINVAL;
    const cairn_etype_desc_t *et = cairn_schema_etype(etype);
    if (et != NULL && et->kind == CAIRN_EK_LOG)
        cairn_log_eid(e->pk, e->plan, e->seq, (uint16_t)e->nops, eid);
    else
        randombytes_buf(eid, CAIRN_ENTITY_ID_BYTES);
    return edit_add_id(e, etype, eid);
}

cairn_err_t cairn_edit_remove(cairn_edit_t *e, uint16_t etype,
                              const uint8_t eid[CAIRN_ENTITY_ID_BYTES])
{
    const cairn_etype_desc_t *et = cairn_schema_etype(etype);
    if (e == NULL || eid == NULL || et == NULL || et->kind != CAIRN_EK_SET)
        return CAIRN_EINVAL;
    cairn_err_t err = entity_present(e, etype, eid);
    if (err != CAIRN_OK)
        return err;
    cairn_op_t *op = op_push(e);
    if (op == NULL)
        return e->nops == CAIRN_CHANGE_MAX_OPS ? CAIRN_ETOOBIG : CAIRN_ENOMEM;
    op->kind = CAIRN_OP_REMOVE;
    op->etype = etype;
    memcpy(op->eid, eid, CAIRN_ENTITY_ID_BYTES);
    err = take_pred(e, op);
    if (err != CAIRN_OK)
        e->nops--;
    return err;
}

static cairn_err_t verdict_error(const cairn_ingest_result_t *res)
{
    if (res->verdict != CAIRN_REJECTED)
        return CAIRN_OK;
    switch (res->reason) {
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

/* A view of the unsigned change, for the checks that need no signature. */
static void draft_view(const cairn_edit_t *e, const cairn_change_draft_t *d, cairn_change_t *v)
{
    memset(v, 0, sizeof *v);
    memcpy(v->plan, e->plan, CAIRN_PLAN_ID_BYTES);
    memcpy(v->author, e->pk, 32);
    v->seq = d->seq;
    v->has_prev = d->prev != NULL;
    v->hlc = d->hlc;
    v->ops = d->ops;
    v->nops = d->nops;
}

struct cairn_async_edit {
    cairn_sign_job_t job;
    cairn_edit_t *edit; /* owns the plan, prev and ops the draft points to */
    uint8_t (*deps)[CAIRN_CHANGE_ID_BYTES]; /* a copy: the plan's heads move on */
    int finished;
};

/* Ingest a freshly signed local change; a rejection becomes an error. */
static cairn_err_t ingest_local(cairn_batch_t *b, const cairn_change_t *c)
{
    cairn_ingest_result_t res = {0};
    cairn_err_t err = cairn_batch_process(b, c, &res);
    if (err == CAIRN_OK && res.verdict == CAIRN_REJECTED)
        b->last_reason = res.reason;
    return err == CAIRN_OK ? verdict_error(&res) : err;
}

cairn_err_t cairn_async_finish(cairn_batch_t *b, cairn_async_edit_t *a)
{
    cairn_signer_wait(b->signer, &a->job);
    a->finished = 1;
    cairn_err_t err = a->job.err;
    if (err == CAIRN_OK)
        err = ingest_local(b, a->job.out);
    cairn_change_free(a->job.out);
    a->job.out = NULL;
    if (err != CAIRN_OK && b->failed == CAIRN_OK)
        b->failed = err; /* the caller already moved on: fail the batch */
    return err;
}

cairn_reason_t cairn_batch_last_reason(const cairn_batch_t *b)
{
    return b != NULL ? b->last_reason : CAIRN_REASON_NONE;
}

int cairn_async_finished(const cairn_async_edit_t *a)
{
    return a->finished;
}

const uint8_t *cairn_async_plan(const cairn_async_edit_t *a)
{
    return a->edit->plan;
}

void cairn_async_release(cairn_batch_t *b)
{
    for (size_t i = 0; i < b->nasync; i++) {
        cairn_async_edit_t *a = b->asyncs[i];
        if (!a->finished)
            cairn_signer_wait(b->signer, &a->job);
        cairn_change_free(a->job.out);
        cairn_edit_abort(a->edit);
        free(a->deps);
        free(a);
    }
    free(b->asyncs);
    b->asyncs = NULL;
    b->nasync = b->cap_async = 0;
}

/* Hand the signing of draft to the batch's workers; e is taken over. */
static cairn_err_t submit_async(cairn_edit_t *e, const cairn_change_draft_t *d)
{
    cairn_batch_t *b = e->b;
    if (b->signer == NULL) {
        cairn_store_t *store = b->store;
        if (!store->signer_on) { /* started once per open store, stopped at close */
            cairn_err_t err = cairn_signer_start(&store->signer);
            if (err != CAIRN_OK)
                return err;
            store->signer_on = 1;
        }
        b->signer = &store->signer;
    }
    if (cairn_grow(&b->asyncs, &b->cap_async, b->nasync, sizeof *b->asyncs, 64) != CAIRN_OK)
        return CAIRN_ENOMEM;
    cairn_async_edit_t *a = calloc(1, sizeof *a);
    if (a == NULL)
        return CAIRN_ENOMEM;
    if (d->ndeps > 0 && (a->deps = malloc(d->ndeps * sizeof *a->deps)) == NULL) {
        free(a);
        return CAIRN_ENOMEM;
    }
    if (d->ndeps > 0)
        memcpy(a->deps, d->deps, d->ndeps * sizeof *a->deps);
    a->edit = e;
    a->job.draft = *d; /* its plan, prev and ops point into e, which a keeps */
    a->job.draft.deps = (const uint8_t(*)[CAIRN_CHANGE_ID_BYTES])a->deps;
    a->job.sk = e->sk;
    b->asyncs[b->nasync++] = a;
    cairn_batch_plan_slot_inflight(b, e->plan, a);
    cairn_signer_submit(b->signer, &a->job);
    return CAIRN_OK;
}

cairn_err_t cairn_edit_commit(cairn_edit_t *e, uint8_t id[CAIRN_CHANGE_ID_BYTES])
{
    if (e == NULL)
        return CAIRN_EINVAL;
    cairn_batch_t *b = e->b;
    cairn_change_t *c = NULL;
    cairn_change_draft_t d = {0};
    /*
     * Another edit of this plan committed since this one began (applied, or
     * still being signed) would make the chain position taken: refuse.
     */
    cairn_err_t err = e->nops == 0 || e->st->nchanges != e->applied_at_begin ||
                              cairn_batch_plan_busy(b, e->plan)
                          ? CAIRN_EINVAL
                          : CAIRN_OK;
    if (err == CAIRN_OK) {
        d.plan = e->plan;
        d.seq = e->seq;
        d.prev = e->seq > 1 ? e->prev : NULL;
        d.deps = (const uint8_t(*)[CAIRN_CHANGE_ID_BYTES])e->st->heads;
        d.ndeps = e->st->nheads < CAIRN_CHANGE_MAX_DEPS ? e->st->nheads : CAIRN_CHANGE_MAX_DEPS;
        d.hlc = cairn_hlc_tick(&b->store->clock, cairn_store_now(b->store));
        d.ops = e->ops;
        d.nops = e->nops;
        /* Refuse what ingest would refuse before spending a signature on it. */
        cairn_change_t view;
        draft_view(e, &d, &view);
        cairn_ingest_result_t res = {CAIRN_REJECTED, CAIRN_REASON_NONE, {0}, 0};
        res.reason = cairn_batch_precheck(b, &view, &err);
        if (err == CAIRN_OK && res.reason != CAIRN_REASON_NONE) {
            b->last_reason = res.reason;
            err = verdict_error(&res);
        }
    }
    if (err == CAIRN_OK && id == NULL && e->sk == b->store->identity_sk) {
        /* Nobody waits for the id: sign in the background. */
        err = submit_async(e, &d);
        if (err == CAIRN_OK)
            return CAIRN_OK;
    }
    if (err == CAIRN_OK)
        err = cairn_change_create(&d, e->sk, &c);
    if (err == CAIRN_OK)
        err = ingest_local(b, c);
    if (err == CAIRN_OK && id != NULL)
        memcpy(id, c->id, CAIRN_CHANGE_ID_BYTES);
    cairn_change_free(c);
    cairn_edit_abort(e);
    return err;
}

/* ---- the organisation ---------------------------------------------------- */

cairn_err_t cairn_org_key(cairn_store_t *store, uint8_t org[32])
{
    if (store == NULL || org == NULL)
        return CAIRN_EINVAL;
    if (!store->has_org)
        return CAIRN_ENOTFOUND;
    memcpy(org, store->org, 32);
    return CAIRN_OK;
}

cairn_err_t cairn_org_join(cairn_store_t *store, const uint8_t org[32])
{
    if (store == NULL || org == NULL)
        return CAIRN_EINVAL;
    if (store->has_org)
        return memcmp(store->org, org, 32) == 0 ? CAIRN_OK : CAIRN_EEXIST;
    cairn_txn_t *txn;
    cairn_err_t err = cairn_txn_begin(store, 1, &txn);
    if (err != CAIRN_OK)
        return err;
    err = cairn_meta_put(txn, meta_org, org, 32);
    if (err != CAIRN_OK) {
        cairn_txn_abort(txn);
        return err;
    }
    err = cairn_txn_commit(txn);
    if (err == CAIRN_OK) {
        memcpy(store->org, org, 32);
        cairn_roster_plan_id(org, store->roster_plan);
        store->has_org = 1;
    }
    return err;
}

/* The organisation's root secret key, if this store holds it. */
static cairn_err_t root_sk(cairn_txn_t *txn, uint8_t *sk)
{
    cairn_buf_t buf = CAIRN_BUF_INIT;
    cairn_err_t err = cairn_meta_get(txn, meta_org_sk, &buf);
    if (err == CAIRN_OK && buf.len != crypto_sign_SECRETKEYBYTES)
        err = CAIRN_ECORRUPT;
    if (err == CAIRN_OK)
        memcpy(sk, buf.data, crypto_sign_SECRETKEYBYTES);
    cairn_buf_free(&buf);
    return err;
}

static cairn_err_t set_int(cairn_edit_t *e, const uint8_t *eid, const char *field, int64_t v)
{
    cairn_value_t val = {v ? CAIRN_VALUE_INT : CAIRN_VALUE_NIL, v, NULL, 0};
    return cairn_edit_set(e, CAIRN_ET_ROSTER_ENTRY, eid,
                          (uint16_t)cairn_field_by_name(CAIRN_ET_ROSTER_ENTRY, field), &val);
}

static cairn_err_t set_str(cairn_edit_t *e, const uint8_t *eid, const char *field,
                           const char *s)
{
    cairn_value_t val = {CAIRN_VALUE_STR, 0, s, strlen(s)};
    return cairn_edit_set(e, CAIRN_ET_ROSTER_ENTRY, eid,
                          (uint16_t)cairn_field_by_name(CAIRN_ET_ROSTER_ENTRY, field), &val);
}

typedef struct roster_write {
    const uint8_t *key;
    const char *name; /* NULL: a revocation */
    unsigned roles;
    uint64_t valid_from, valid_until, revoked_at;
} roster_write_t;

static cairn_err_t roster_ops(cairn_edit_t *e, const roster_write_t *w)
{
    uint8_t eid[CAIRN_ENTITY_ID_BYTES];
    char hex[65];
    cairn_roster_eid(w->key, eid);
    sodium_bin2hex(hex, sizeof hex, w->key, 32);
    cairn_err_t err = cairn_pstate_touch(e->st, CAIRN_ET_ROSTER_ENTRY, eid, 0);
    if (err != CAIRN_OK)
        return err;
    int present = cairn_plan_state_present(e->st, CAIRN_ET_ROSTER_ENTRY, eid);
    if (w->name == NULL) {
        if (!present)
            return CAIRN_ENOTFOUND;
        return set_int(e, eid, "revoked_at", (int64_t)w->revoked_at);
    }
    err = present ? CAIRN_OK : edit_add_id(e, CAIRN_ET_ROSTER_ENTRY, eid);
    if (err == CAIRN_OK)
        err = set_str(e, eid, "key", hex);
    if (err == CAIRN_OK)
        err = set_str(e, eid, "name", w->name);
    if (err == CAIRN_OK)
        err = set_int(e, eid, "roles", w->roles);
    if (err == CAIRN_OK)
        err = set_int(e, eid, "valid_from", (int64_t)w->valid_from);
    if (err == CAIRN_OK)
        err = set_int(e, eid, "valid_until", (int64_t)w->valid_until);
    if (err == CAIRN_OK && present) /* enrolling again lifts a revocation */
        err = set_int(e, eid, "revoked_at", 0);
    return err;
}

/* One roster change in batch b, signed by the root if b's store holds it. */
static cairn_err_t roster_write(cairn_batch_t *b, const roster_write_t *w)
{
    cairn_store_t *store = b->store;
    if (!store->has_org)
        return CAIRN_ENOTFOUND;
    uint8_t *sk = sodium_malloc(crypto_sign_SECRETKEYBYTES);
    if (sk == NULL)
        return CAIRN_ENOMEM;
    cairn_err_t err = root_sk(b->txn, sk);
    const uint8_t *signer_sk = sk, *signer_pk = store->org;
    if (err == CAIRN_ENOTFOUND) {
        signer_sk = store->identity_sk;
        signer_pk = store->public_key;
        err = CAIRN_OK;
    }
    cairn_edit_t *e = NULL;
    if (err == CAIRN_OK)
        err = edit_begin_as(b, store->roster_plan, signer_sk, signer_pk, &e);
    if (err == CAIRN_OK)
        err = roster_ops(e, w);
    if (err == CAIRN_OK) {
        uint8_t id[CAIRN_CHANGE_ID_BYTES]; /* sign now: sk is freed below */
        err = cairn_edit_commit(e, id);
        e = NULL;
    }
    cairn_edit_abort(e);
    sodium_free(sk);
    return err;
}

static cairn_err_t roster_write_one(cairn_store_t *store, const roster_write_t *w)
{
    cairn_batch_t *b;
    cairn_err_t err = cairn_batch_begin(store, &b);
    if (err != CAIRN_OK)
        return err;
    err = roster_write(b, w);
    if (err != CAIRN_OK) {
        cairn_batch_abort(b);
        return err;
    }
    return cairn_batch_commit(b);
}

cairn_err_t cairn_roster_put(cairn_store_t *store, const uint8_t key[32], const char *name,
                             unsigned roles, uint64_t valid_from, uint64_t valid_until)
{
    if (store == NULL || key == NULL || name == NULL || roles == 0 ||
        (roles & ~CAIRN_ROLE_ALL) != 0)
        return CAIRN_EINVAL;
    roster_write_t w = {key, name, roles, valid_from, valid_until, 0};
    return roster_write_one(store, &w);
}

cairn_err_t cairn_roster_revoke(cairn_store_t *store, const uint8_t key[32], uint64_t at_ms)
{
    if (store == NULL || key == NULL || at_ms == 0)
        return CAIRN_EINVAL;
    roster_write_t w = {key, NULL, 0, 0, 0, at_ms};
    return roster_write_one(store, &w);
}

cairn_err_t cairn_org_create(cairn_store_t *store, const char *node_name)
{
    if (store == NULL || node_name == NULL)
        return CAIRN_EINVAL;
    if (store->has_org)
        return CAIRN_EEXIST;
    uint8_t *sk = sodium_malloc(crypto_sign_SECRETKEYBYTES);
    uint8_t pk[32];
    cairn_batch_t *b = NULL;
    cairn_err_t err = sk ? cairn_batch_begin(store, &b) : CAIRN_ENOMEM;
    if (err == CAIRN_OK) {
        crypto_sign_keypair(pk, sk);
        err = cairn_meta_put(b->txn, meta_org, pk, 32);
    }
    if (err == CAIRN_OK)
        err = cairn_meta_put(b->txn, meta_org_sk, sk, crypto_sign_SECRETKEYBYTES);
    if (err == CAIRN_OK) {
        memcpy(store->org, pk, 32);
        cairn_roster_plan_id(pk, store->roster_plan);
        store->has_org = 1;
        roster_write_t w = {store->public_key, node_name, CAIRN_ROLE_ADMIN, 0, 0, 0};
        err = roster_write(b, &w);
    }
    if (err == CAIRN_OK)
        err = cairn_batch_commit(b);
    else
        cairn_batch_abort(b);
    if (err != CAIRN_OK)
        store->has_org = 0;
    if (sk != NULL)
        sodium_free(sk);
    return err;
}

/* Called by store open: the organisation, if the store has joined one. */
cairn_err_t cairn_org_load(cairn_store_t *store, cairn_txn_t *txn)
{
    cairn_buf_t buf = CAIRN_BUF_INIT;
    cairn_err_t err = cairn_meta_get(txn, meta_org, &buf);
    if (err == CAIRN_OK && buf.len != 32)
        err = CAIRN_ECORRUPT;
    if (err == CAIRN_OK) {
        memcpy(store->org, buf.data, 32);
        cairn_roster_plan_id(store->org, store->roster_plan);
        store->has_org = 1;
    }
    cairn_buf_free(&buf);
    return err == CAIRN_ENOTFOUND ? CAIRN_OK : err;
}
