/*
 * batch.h - one write transaction of ingest, with the plan states it touched
 * (private).
 *
 * Plan states are loaded once per batch, changed in memory as changes are
 * applied, and written back, sealed, at commit: a batch of a thousand
 * changes to one plan costs one state write, not a thousand.
 */
#ifndef CAIRN_CORE_BATCH_H
#define CAIRN_CORE_BATCH_H

#include "cairn/ingest.h"
#include "cairn/plan.h"
#include "pstate.h"
#include "signer.h"
#include "store_int.h"

/* A local edit being signed on a worker thread (edit.c). */
typedef struct cairn_async_edit cairn_async_edit_t;

typedef struct cairn_plan_slot {
    cairn_plan_state_t *st; /* NULL: free slot */
    int dirty;
    int rebuilt; /* st was rebuilt from the log: replace every stored row */
    cairn_async_edit_t *inflight; /* this plan's edit being signed, if any */
} cairn_plan_slot_t;

/* A change released from the pending area, to process after the current one. */
typedef struct cairn_ready {
    uint8_t id[CAIRN_CHANGE_ID_BYTES];
} cairn_ready_t;

struct cairn_batch {
    cairn_store_t *store;
    cairn_txn_t *txn;
    cairn_plan_slot_t *plans; /* open addressing on the plan id */
    size_t plans_cap, plans_used;
    cairn_ready_t *ready;
    size_t nready, cap_ready;
    uint64_t pending; /* entries in the pending area */
    cairn_ingest_stats_t stats;
    cairn_hlc_t clock_at_begin;
    cairn_signer_t *signer; /* the store's, once an edit is signed in the background */
    cairn_async_edit_t **asyncs; /* every async edit of the batch, in order */
    size_t nasync, cap_async;
    cairn_err_t failed; /* a store error: only abort remains */
    cairn_reason_t last_reason; /* why the last refused edit was refused */
    uint8_t (*reeval)[32]; /* members whose roster entries changed: judge their changes again */
    size_t nreeval, cap_reeval;
};

/* The state of plan within the batch (loaded or created on first use). */
cairn_err_t cairn_batch_plan(cairn_batch_t *b, const uint8_t *plan, cairn_plan_state_t **out);
void cairn_batch_mark_dirty(cairn_batch_t *b, const uint8_t *plan);

/*
 * Run one decoded change through every check after the signature (which
 * the caller has established) and apply it, park it, or reject it. A
 * failed store operation returns an error and poisons the batch.
 */
cairn_err_t cairn_batch_process(cairn_batch_t *b, const cairn_change_t *c,
                                cairn_ingest_result_t *res);

/*
 * The checks of ingest that need no dependencies: schema, roster, roles.
 * For local edits before they are signed.
 */
cairn_reason_t cairn_batch_precheck(cairn_batch_t *b, const cairn_change_t *c, cairn_err_t *err);

/* Whether plan has a local edit being signed. */
int cairn_batch_plan_busy(cairn_batch_t *b, const uint8_t *plan);

/* Record a as plan's edit in flight (the plan's state is loaded). */
void cairn_batch_plan_slot_inflight(cairn_batch_t *b, const uint8_t *plan, cairn_async_edit_t *a);

/* Wait for an async edit's signature and ingest the change (edit.c). */
cairn_err_t cairn_async_finish(cairn_batch_t *b, cairn_async_edit_t *a);
/* Whether a was finished, and its plan (edit.c). */
int cairn_async_finished(const cairn_async_edit_t *a);
const uint8_t *cairn_async_plan(const cairn_async_edit_t *a);
/* Finish a unless it is finished, detaching it from its plan. */
cairn_err_t cairn_async_settle(cairn_batch_t *b, cairn_async_edit_t *a);

/* Wait for, and free, every async edit of b (edit.c). */
void cairn_async_release(cairn_batch_t *b);

/* The author's own last change in plan: seq 0 if none. */
cairn_err_t cairn_batch_chain_head(cairn_batch_t *b, const uint8_t *plan, const uint8_t *author,
                                   uint64_t *seq, uint8_t id[CAIRN_CHANGE_ID_BYTES]);

/*
 * Plan states in the state database (pstore.c). cairn_state_load reads the
 * header only and loads entities as they are touched, through txn (which
 * must outlive the state); cairn_state_load_full reads everything. A plan
 * never seen gives an empty state.
 */
cairn_err_t cairn_state_load(cairn_txn_t *txn, const uint8_t *plan, cairn_plan_state_t **out);
cairn_err_t cairn_state_load_full(cairn_txn_t *txn, const uint8_t *plan,
                                  cairn_plan_state_t **out);
/* Write the header and entities marked dirty. */
cairn_err_t cairn_state_flush(cairn_txn_t *txn, cairn_plan_state_t *st);
/* Replace every stored row of st's plan by st (complete). */
cairn_err_t cairn_state_replace(cairn_txn_t *txn, cairn_plan_state_t *st);

/* Read the store's organisation from meta at open. */
cairn_err_t cairn_org_load(cairn_store_t *store, cairn_txn_t *txn);

/*
 * Judge member key against roster (a state of the roster plan) at time
 * at_ms: its roles, or why not (unknown-author, not-valid).
 */
cairn_reason_t cairn_roster_judge(cairn_plan_state_t *roster, const uint8_t key[32],
                                  uint64_t at_ms, unsigned *roles, cairn_err_t *err);

/* Call fn with every plan's header (plan id, count, heads) in txn; nonzero stops. */
cairn_err_t cairn_headers_each(cairn_txn_t *txn, int (*fn)(void *, const cairn_plan_state_t *),
                               void *ctx);

/* A plan's log, decoded, in log order; free with cairn_log_free (plan.c). */
cairn_err_t cairn_log_load(cairn_txn_t *txn, const uint8_t *plan, cairn_change_t ***cs,
                           size_t *n);
void cairn_log_free(cairn_change_t **cs, size_t n);

/*
 * Which of cs (changes of a care plan) are inert against roster now: their
 * author is not valid at their time, or no longer on it.
 */
cairn_err_t cairn_inert_flags(cairn_plan_state_t *roster, cairn_change_t *const *cs, size_t n,
                              int *inert);

/* Whether plan is the organisation's roster. */
int cairn_batch_in_roster(const cairn_batch_t *b, const uint8_t *plan);

/* The roster entry id of member key. */
void cairn_roster_eid(const uint8_t key[32], uint8_t eid[CAIRN_ENTITY_ID_BYTES]);

#endif
