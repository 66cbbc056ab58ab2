/*
 * pstore.h - plan states in the plans database (private).
 *
 * Owns the state rows of every plan: a header (change count, heads) under
 * (plan, 0) and one row per entity under (plan, 1, etype, eid). Written
 * only by a batch at commit (cache.c) and by a rebuild; read by everyone.
 * Everything works inside a transaction the caller holds.
 */
#ifndef CAIRN_CORE_PSTORE_H
#define CAIRN_CORE_PSTORE_H

#include "kv.h"
#include "pstate.h"

/*
 * cairn__state_load reads the header only and loads entities as they are
 * touched, through txn (which must outlive the state); cairn__state_load_full
 * reads everything. A plan never seen gives an empty state.
 */
cairn_err_t cairn__state_load(cairn_txn_t *txn, const uint8_t *plan, cairn_plan_state_t **out);
cairn_err_t cairn__state_load_full(cairn_txn_t *txn, const uint8_t *plan, cairn_plan_state_t **out);

/* Write the header and entities marked dirty. */
cairn_err_t cairn__state_flush(cairn_txn_t *txn, cairn_plan_state_t *st);

/*
 * Replace every stored row of st's plan by st (a complete state). A state
 * with no changes leaves no row at all, header included.
 */
cairn_err_t cairn__state_replace(cairn_txn_t *txn, cairn_plan_state_t *st);

/*
 * Call fn with every plan's header (plan id, count, heads; no entities) in
 * plan id order; nonzero from fn stops.
 */
cairn_err_t cairn__headers_each(cairn_txn_t *txn, int (*fn)(void *, const cairn_plan_state_t *),
                                void *ctx);

#endif
