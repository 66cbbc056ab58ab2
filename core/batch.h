/*
 * batch.h - a batch: one write transaction of edits and ingested changes
 * (private; the public half is in cairn/plan.h and cairn/ingest.h).
 *
 * Owns: beginning and ending the transaction, the store's clock across it
 * (loaded at begin, saved at commit, restored on abort), the re-evaluation
 * of members' changes after roster changes (through the one rebuild of
 * roster.h), and local changes being signed on the store's signer threads.
 * Every change goes through the pipeline (ingest_int.h) below; nothing
 * below calls back up into a batch.
 */
#ifndef CAIRN_CORE_BATCH_H
#define CAIRN_CORE_BATCH_H

#include "cairn/plan.h"
#include "ingest_int.h"
#include "signer.h"

/* A local change being signed on a worker thread. */
typedef struct cairn_async cairn_async_t;

struct cairn_batch {
    cairn_store_t *store;
    cairn_txn_t *txn;
    cairn_pipeline_t pipe;
    cairn_hlc_t clock_at_begin;
    cairn_async_t **asyncs; /* every background signature of the batch, in order */
    size_t nasync, cap_async;
    size_t unsettled;      /* of those, not yet ingested */
    cairn_async_t **index; /* each plan's latest, by plan id (open addressing) */
    size_t nindex, cap_index;
    cairn_reason_t last_reason; /* why the last refused edit was refused */
};

/*
 * Ingest a freshly signed local change c into the batch: a rejection is an
 * error (CAIRN_EDENIED for the roster's reasons, CAIRN_ETOOBIG, else
 * CAIRN_EINVAL), its reason kept for cairn_batch_last_reason().
 */
cairn_err_t cairn__batch_apply_local(cairn_batch_t *b, const cairn_change_t *c);

/*
 * The checks of ingest that need no signature, on view (an unsigned
 * change): CAIRN_OK, or the error cairn__batch_apply_local would give.
 */
cairn_err_t cairn__batch_precheck_local(cairn_batch_t *b, const cairn_change_t *view);

/*
 * Sign draft with sk (the store's identity, which outlives the batch) on
 * the store's signer threads and ingest it when plan is next settled or the
 * batch commits. Takes ops (d->ops, d->nops of them, built by an edit) and
 * copies plan, prev and deps. A failure to ingest it fails the batch.
 */
cairn_err_t cairn__batch_sign_async(cairn_batch_t *b, const cairn_change_draft_t *d,
                                    const uint8_t *sk, cairn_op_t *ops);

/* Ingest plan's change being signed in the background, if there is one. */
cairn_err_t cairn__batch_settle_plan(cairn_batch_t *b, const uint8_t *plan);

/* Whether plan has a change being signed in the background. */
int cairn__batch_plan_busy(const cairn_batch_t *b, const uint8_t *plan);

#endif
