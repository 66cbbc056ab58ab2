/*
 * cairn/plan.h - care plans: the schema, the merged state, and edits.
 *
 * A plan is a set of entities (the plan itself, the patient, team members,
 * needs, goals, ...), each a bag of fields. Every field has declared merge
 * semantics (docs/data-model.md):
 *   last-writer-wins   concurrent writes resolve to the greatest
 *                      (HLC, author key, op id), identically everywhere;
 *   multi-value        concurrent writes are all kept and the field is in
 *                      conflict until a write that saw them all replaces them.
 * Entities of set types (members, needs, medications, ...) are added and
 * removed with add-wins semantics; check-ins are an append-only log.
 *
 * Every edit is one signed change that enters the store through the same
 * ingest path as changes from peers (cairn/ingest.h).
 */
#ifndef CAIRN_PLAN_H
#define CAIRN_PLAN_H

#include <stddef.h>
#include <stdint.h>

#include "cairn/change.h"
#include "cairn/error.h"
#include "cairn/ingest.h"
#include "cairn/schema.h"
#include "cairn/store.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Entity types (CAIRN_ET_*), fields (CAIRN_F_*), roles (CAIRN_ROLE_*) and the
 * schema lookups (cairn_etype_name(), cairn_field_by_name(), ...) are in
 * cairn/schema.h, generated from its one table.
 */

/*
 * The id of a log entry (a check-in) added by op number index of the change
 * with this author, plan and seq: BLAKE2b-128 over "cairn log entry v1\0",
 * author, plan, seq (8 bytes) and index (2 bytes), big-endian. Ingest
 * refuses any other id, so no later change can add the same entry again
 * and rewrite it. cairn_edit_add() computes it for log types.
 */
void cairn_log_eid(const uint8_t author[32], const uint8_t plan[CAIRN_PLAN_ID_BYTES], uint64_t seq,
                   uint16_t index, uint8_t eid[CAIRN_ENTITY_ID_BYTES]);

/* ---- merged state ------------------------------------------------------ */

typedef struct cairn_plan_state cairn_plan_state_t;

/* One field of one entity as merged. */
typedef struct cairn_field_view {
    uint16_t etype;
    const uint8_t *eid;
    uint16_t field;
    /*
     * The live values: writes no later write superseded. values[0] is the
     * last-writer-wins winner; for a multi-value field more than one value
     * is a conflict. Pointers stay valid until the state is freed.
     */
    const cairn_value_t *values;
    const cairn_hlc_t *hlcs;
    const uint8_t (*authors)[32];
    size_t nvalues;
    int conflict; /* multi-value field with nvalues > 1 */
} cairn_field_view_t;

/*
 * Read the merged state of plan. *out is an empty state (no changes) for a
 * plan the store has never seen. Free with cairn_plan_state_free().
 */
cairn_err_t cairn_plan_read(cairn_store_t *store, const uint8_t plan[CAIRN_PLAN_ID_BYTES],
                            cairn_plan_state_t **out);
void cairn_plan_state_free(cairn_plan_state_t *state);

/*
 * BLAKE2b-256 of the state's canonical encoding: equal on converged
 * replicas. The encoding streams into the hash, so it cannot fail.
 */
void cairn_plan_state_digest(const cairn_plan_state_t *state, uint8_t out[32]);
uint64_t cairn_plan_state_changes(const cairn_plan_state_t *state);

/* Whether entity (etype, eid) is present (singletons always are). */
int cairn_plan_state_present(const cairn_plan_state_t *state, uint16_t etype,
                             const uint8_t eid[CAIRN_ENTITY_ID_BYTES]);

/* Field (etype, eid, field); 0 if found, -1 if it was never written. */
int cairn_plan_state_field(const cairn_plan_state_t *state, uint16_t etype,
                           const uint8_t eid[CAIRN_ENTITY_ID_BYTES], uint16_t field,
                           cairn_field_view_t *out);

/*
 * Iterate: the i-th written field, in (etype, eid, field) order, i from 0
 * while the call returns 0. Field 0 of a set entity is its membership.
 */
int cairn_plan_state_at(const cairn_plan_state_t *state, size_t i, cairn_field_view_t *out);

/* Number of multi-value fields of present entities now in conflict. */
size_t cairn_plan_state_conflicts(const cairn_plan_state_t *state);

/* ---- edits ------------------------------------------------------------- */

/*
 * A batch is one write transaction: any number of edits, each one signed
 * change, made durable together by cairn_batch_commit().
 */
typedef struct cairn_batch cairn_batch_t;
typedef struct cairn_edit cairn_edit_t;

cairn_err_t cairn_batch_begin(cairn_store_t *store, cairn_batch_t **out);
cairn_err_t cairn_batch_commit(cairn_batch_t *batch);
void cairn_batch_abort(cairn_batch_t *batch);

/* Start an edit of plan within batch. */
cairn_err_t cairn_edit_begin(cairn_batch_t *batch, const uint8_t plan[CAIRN_PLAN_ID_BYTES],
                             cairn_edit_t **out);
/*
 * Write a field; supersedes every value the field has now. CAIRN_ENOTFOUND
 * if the entity is of a set or log type and neither present nor added
 * earlier in this edit.
 */
cairn_err_t cairn_edit_set(cairn_edit_t *edit, uint16_t etype,
                           const uint8_t eid[CAIRN_ENTITY_ID_BYTES], uint16_t field,
                           const cairn_value_t *value);
/* Add a new entity of a set or log type; its fresh random id goes to eid. */
cairn_err_t cairn_edit_add(cairn_edit_t *edit, uint16_t etype, uint8_t eid[CAIRN_ENTITY_ID_BYTES]);
/* Remove an entity: the adds seen now are removed; a concurrent add wins. */
cairn_err_t cairn_edit_remove(cairn_edit_t *edit, uint16_t etype,
                              const uint8_t eid[CAIRN_ENTITY_ID_BYTES]);
/*
 * Sign the edit as one change and ingest it into the batch. Frees edit.
 * id (may be NULL) receives the change id; without it the change may be
 * signed in the background and ingested when its plan is next used or the
 * batch commits (a failure then fails the batch). Checks that need no
 * signature run first, so a refusal is reported here either way. Errors:
 * CAIRN_EINVAL (an invalid value, an empty edit, or another edit of the
 * plan committed since this one began), CAIRN_EDENIED (the roster does not
 * allow it: cairn_batch_last_reason() says why), and the store's errors.
 */
cairn_err_t cairn_edit_commit(cairn_edit_t *edit, uint8_t id[CAIRN_CHANGE_ID_BYTES]);
void cairn_edit_abort(cairn_edit_t *edit);

/* Why the batch's last refused edit was refused (a CAIRN_REASON_* of ingest.h). */
cairn_reason_t cairn_batch_last_reason(const cairn_batch_t *batch);

/* A fresh random plan id. */
void cairn_plan_id_new(uint8_t plan[CAIRN_PLAN_ID_BYTES]);

#ifdef __cplusplus
}
#endif

#endif
