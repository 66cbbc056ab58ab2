/*
 * edit.h - edits as the organisation layer builds them (private; the
 * public half is in cairn/plan.h).
 */
#ifndef CAIRN_CORE_EDIT_H
#define CAIRN_CORE_EDIT_H

#include "batch.h"

/*
 * cairn_edit_begin with another signer: sk and pk (the organisation's
 * root, for roster changes) must outlive the edit; an edit signed by a key
 * other than the store's identity is always signed before commit returns.
 */
cairn_err_t cairn__edit_begin_as(cairn_batch_t *b, const uint8_t *plan, const uint8_t *sk,
                                 const uint8_t *pk, cairn_edit_t **out);

/* Whether (etype, eid) is present in the plan now: 1 or 0 in *present. */
cairn_err_t cairn__edit_present(cairn_edit_t *e, uint16_t etype, const uint8_t *eid, int *present);

/* Add entity (etype, eid) with an id the caller derived (a roster entry). */
cairn_err_t cairn__edit_add_id(cairn_edit_t *e, uint16_t etype, const uint8_t *eid);

#endif
