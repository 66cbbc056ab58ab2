/*
 * cache.h - the plan states one write transaction has touched (private).
 *
 * Plan states are loaded once per transaction, changed in memory as
 * changes are applied, and written back, sealed, at commit: a batch of a
 * thousand changes to one plan costs one state write, not a thousand.
 * Owned by the pipeline of a batch; knows nothing of changes or rosters.
 */
#ifndef CAIRN_CORE_CACHE_H
#define CAIRN_CORE_CACHE_H

#include "kv.h"
#include "pstate.h"

typedef struct cairn_cache_slot {
    cairn_plan_state_t *st; /* NULL: free slot */
    int dirty;
    int rebuilt; /* st was rebuilt from the log: replace every stored row */
} cairn_cache_slot_t;

typedef struct cairn_cache {
    cairn_txn_t *txn;          /* states load through it; it outlives the cache */
    cairn_cache_slot_t *slots; /* open addressing on the plan id */
    size_t cap, used;
} cairn_cache_t;

/* The state of plan (loaded, or empty for a plan never seen, on first use). */
cairn_err_t cairn__cache_plan(cairn_cache_t *c, const uint8_t *plan, cairn_plan_state_t **out);

/* Mark plan's state (in the cache) to be written back. */
void cairn__cache_mark_dirty(cairn_cache_t *c, const uint8_t *plan);

/* Put st, a complete state rebuilt from the log, in place of plan's; takes st. */
cairn_err_t cairn__cache_put_rebuilt(cairn_cache_t *c, cairn_plan_state_t *st);

/* Write back every dirty state (rebuilt ones replace all their rows). */
cairn_err_t cairn__cache_flush(cairn_cache_t *c);

/* Free every state (before the transaction ends: lazy states read through it). */
void cairn__cache_free(cairn_cache_t *c);

#endif
