/*
 * ingest_int.h - the ingest pipeline inside one write transaction (private).
 *
 * Owns the checks of cairn/ingest.h in their order, the pending area (a
 * change whose dependencies are missing waits there, and is released when
 * they arrive), applying a change to its plan's state in the cache, and
 * noting which members' roster entries changed (the batch judges their
 * changes again at commit). It never begins, commits or aborts the
 * transaction and never signs: the batch above does.
 */
#ifndef CAIRN_CORE_INGEST_INT_H
#define CAIRN_CORE_INGEST_INT_H

#include "cache.h"
#include "cairn/ingest.h"
#include "store_int.h"

/* A change released from the pending area, to process after the current one. */
typedef struct cairn_ready {
    uint8_t id[CAIRN_CHANGE_ID_BYTES];
} cairn_ready_t;

typedef struct cairn_pipeline {
    cairn_store_t *store; /* its organisation and clock (which apply advances) */
    cairn_txn_t *txn;
    cairn_cache_t cache;
    cairn_ready_t *ready;
    size_t nready, cap_ready;
    uint64_t pending; /* entries in the pending area */
    cairn_ingest_stats_t stats;
    uint8_t (*reeval)[32]; /* members whose roster entries changed */
    size_t nreeval, cap_reeval;
    cairn_err_t failed; /* a store error: only abort remains */
} cairn_pipeline_t;

/* Set p up over write transaction txn of store. Errors of the store. */
cairn_err_t cairn__pipeline_init(cairn_pipeline_t *p, cairn_store_t *store, cairn_txn_t *txn);
/* Free p's memory (its cached states first); the transaction is the caller's. */
void cairn__pipeline_free(cairn_pipeline_t *p);

/*
 * Run one decoded change, whose signature the caller has established,
 * through every later check and apply it, park it, or reject it; then the
 * changes it released. A failed store operation returns an error and
 * poisons p (every later call returns it).
 */
cairn_err_t cairn__pipeline_process(cairn_pipeline_t *p, const cairn_change_t *c,
                                    cairn_ingest_result_t *res);

/*
 * Decode n encoded changes, authenticate them per hash chain, and process
 * them in arrival order; results (n entries) per change.
 */
cairn_err_t cairn__pipeline_run(cairn_pipeline_t *p, const uint8_t *const *bytes,
                                const size_t *lens, size_t n, cairn_ingest_result_t *results);

/*
 * The checks that need no dependencies or signature: schema, roster,
 * roles. For local edits before they are signed; a load failure sets *err.
 */
cairn_reason_t cairn__pipeline_precheck(cairn_pipeline_t *p, const cairn_change_t *c,
                                        cairn_err_t *err);

#endif
