/*
 * edit.c - local edits: building and committing them.
 *
 * An edit gathers operations against the plan's current merged state (so
 * every write names what it supersedes), then becomes one signed change
 * that goes through the same checks as a change from a peer. The only
 * check it skips is verifying the signature it has just made.
 */
#include "edit.h"

#include "grow.h"
#include "log.h"
#include "schema.h"
#include "wipe.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

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

cairn_err_t cairn__edit_begin_as(cairn_batch_t *b, const uint8_t *plan, const uint8_t *sk,
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
    /* The plan's change still being signed goes in first: the chain is then current. */
    cairn_err_t err = cairn__batch_settle_plan(b, plan);
    uint64_t last = 0;
    if (err == CAIRN_OK)
        err = cairn__cache_plan(&b->pipe.cache, plan, &e->st);
    if (err == CAIRN_OK)
        err = cairn__log_chain_head(b->txn, plan, pk, &last, e->prev);
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
    return cairn__edit_begin_as(b, plan, b->store->identity_sk, b->store->public_key, out);
}

static void op_release(cairn_op_t *op)
{
    free((void *)(uintptr_t)op->pred);
    op->pred = NULL;
    cairn__value_wipe(&op->value);
}

void cairn_edit_abort(cairn_edit_t *e)
{
    if (e == NULL)
        return;
    cairn__ops_release(e->ops, e->nops);
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
    cairn_err_t err = cairn__pstate_touch(e->st, op->etype, op->eid, 0);
    if (err != CAIRN_OK)
        return err;
    const cairn_pslot_t *s = cairn__pstate_find(e->st, op->etype, op->eid, op->field);
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
    cairn_err_t err = cairn__pstate_touch(e->st, etype, eid, 0);
    if (err != CAIRN_OK)
        return err;
    return cairn_plan_state_present(e->st, etype, eid) ? CAIRN_OK : CAIRN_ENOTFOUND;
}

cairn_err_t cairn__edit_present(cairn_edit_t *e, uint16_t etype, const uint8_t *eid, int *present)
{
    cairn_err_t err = entity_present(e, etype, eid);
    *present = err == CAIRN_OK;
    return err == CAIRN_ENOTFOUND ? CAIRN_OK : err;
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
    if (cairn__schema_check_value(etype, field, value) != CAIRN_OK)
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
            err = cairn__value_dup(&v, value);
            if (err != CAIRN_OK)
                return err;
            cairn__value_wipe(&op->value);
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
    err = cairn__value_dup(&op->value, value);
    if (err == CAIRN_OK)
        err = take_pred(e, op);
    if (err != CAIRN_OK) {
        op_release(op);
        e->nops--;
    }
    return err;
}

cairn_err_t cairn__edit_add_id(cairn_edit_t *e, uint16_t etype, const uint8_t *eid)
{
    const cairn_etype_desc_t *et = cairn__schema_etype(etype);
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
    const cairn_etype_desc_t *et = cairn__schema_etype(etype);
    if (et != NULL && et->kind == CAIRN_EK_LOG)
        cairn_log_eid(e->pk, e->plan, e->seq, (uint16_t)e->nops, eid);
    else
        randombytes_buf(eid, CAIRN_ENTITY_ID_BYTES);
    return cairn__edit_add_id(e, etype, eid);
}

cairn_err_t cairn_edit_remove(cairn_edit_t *e, uint16_t etype,
                              const uint8_t eid[CAIRN_ENTITY_ID_BYTES])
{
    const cairn_etype_desc_t *et = cairn__schema_etype(etype);
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

cairn_err_t cairn_edit_commit(cairn_edit_t *e, uint8_t id[CAIRN_CHANGE_ID_BYTES])
{
    if (e == NULL)
        return CAIRN_EINVAL;
    cairn_batch_t *b = e->b;
    cairn_change_t *c = NULL;
    cairn_change_draft_t d = {0};
    cairn_err_t err = e->nops == 0 ? CAIRN_EINVAL : CAIRN_OK;
    /*
     * Another edit of this plan committed since this one began (applied, or
     * still being signed) would make the chain position taken: refuse.
     */
    if (err == CAIRN_OK &&
        (e->st->nchanges != e->applied_at_begin || cairn__batch_plan_busy(b, e->plan)))
        err = CAIRN_ECONFLICT;
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
        err = cairn__batch_precheck_local(b, &view);
    }
    if (err == CAIRN_OK && id == NULL && e->sk == b->store->identity_sk) {
        /* Nobody waits for the id: sign in the background; the batch takes the ops. */
        err = cairn__batch_sign_async(b, &d, e->sk, e->ops);
        e->ops = NULL;
        e->nops = 0;
        cairn_edit_abort(e);
        return err;
    }
    if (err == CAIRN_OK)
        err = cairn_change_create(&d, e->sk, &c);
    if (err == CAIRN_OK)
        err = cairn__batch_apply_local(b, c);
    if (err == CAIRN_OK && id != NULL)
        memcpy(id, c->id, CAIRN_CHANGE_ID_BYTES);
    cairn_change_free(c);
    cairn_edit_abort(e);
    return err;
}
