/*
 * cache.c - the plan states of one write transaction, by plan id.
 *
 * Open addressing on the first 8 bytes of the plan id (ids are random or
 * hashes), kept at most half full.
 */
#include "cache.h"

#include "pstore.h"

#include <stdlib.h>
#include <string.h>

static uint64_t plan_hash(const uint8_t *plan)
{
    uint64_t h;
    memcpy(&h, plan, sizeof h);
    return h;
}

static cairn_cache_slot_t *slot_find(cairn_cache_t *c, const uint8_t *plan)
{
    size_t mask = c->cap - 1;
    for (size_t i = plan_hash(plan) & mask;; i = (i + 1) & mask) {
        cairn_cache_slot_t *s = &c->slots[i];
        if (s->st == NULL || memcmp(s->st->plan, plan, CAIRN_PLAN_ID_BYTES) == 0)
            return s;
    }
}

static cairn_err_t grow(cairn_cache_t *c)
{
    size_t cap = c->cap ? 2 * c->cap : 64;
    cairn_cache_slot_t *old = c->slots;
    size_t old_cap = c->cap;
    c->slots = calloc(cap, sizeof *c->slots);
    if (c->slots == NULL) {
        c->slots = old;
        return CAIRN_ENOMEM;
    }
    c->cap = cap;
    for (size_t i = 0; i < old_cap; i++)
        if (old[i].st != NULL)
            *slot_find(c, old[i].st->plan) = old[i];
    free(old);
    return CAIRN_OK;
}

/* plan's slot, made (empty) if it has none. */
static cairn_err_t slot_of(cairn_cache_t *c, const uint8_t *plan, cairn_cache_slot_t **out)
{
    if (2 * (c->used + 1) > c->cap) {
        cairn_err_t err = grow(c);
        if (err != CAIRN_OK)
            return err;
    }
    *out = slot_find(c, plan);
    return CAIRN_OK;
}

cairn_err_t cairn__cache_plan(cairn_cache_t *c, const uint8_t *plan, cairn_plan_state_t **out)
{
    cairn_cache_slot_t *s;
    cairn_err_t err = slot_of(c, plan, &s);
    if (err == CAIRN_OK && s->st == NULL) {
        err = cairn__state_load(c->txn, plan, &s->st);
        c->used += err == CAIRN_OK;
    }
    if (err == CAIRN_OK)
        *out = s->st;
    return err;
}

void cairn__cache_mark_dirty(cairn_cache_t *c, const uint8_t *plan)
{
    if (c->cap == 0)
        return;
    cairn_cache_slot_t *s = slot_find(c, plan);
    if (s->st != NULL)
        s->dirty = 1;
}

cairn_err_t cairn__cache_put_rebuilt(cairn_cache_t *c, cairn_plan_state_t *st)
{
    cairn_cache_slot_t *s;
    cairn_err_t err = slot_of(c, st->plan, &s);
    if (err != CAIRN_OK) {
        cairn_plan_state_free(st);
        return err;
    }
    if (s->st == NULL)
        c->used++;
    cairn_plan_state_free(s->st);
    s->st = st;
    s->dirty = s->rebuilt = 1;
    return CAIRN_OK;
}

cairn_err_t cairn__cache_flush(cairn_cache_t *c)
{
    cairn_err_t err = CAIRN_OK;
    for (size_t i = 0; i < c->cap && err == CAIRN_OK; i++) {
        cairn_cache_slot_t *s = &c->slots[i];
        if (s->st != NULL && s->rebuilt)
            err = cairn__state_replace(c->txn, s->st);
        else if (s->st != NULL && s->dirty)
            err = cairn__state_flush(c->txn, s->st);
    }
    return err;
}

void cairn__cache_free(cairn_cache_t *c)
{
    for (size_t i = 0; i < c->cap; i++)
        cairn_plan_state_free(c->slots[i].st);
    free(c->slots);
    c->slots = NULL;
    c->cap = c->used = 0;
}
