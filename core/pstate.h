/*
 * pstate.h - a plan's merged state in memory (private).
 *
 * The state is a sorted array of slots, one per written (etype, eid, field);
 * field 0 of an entity holds its adds (membership). A slot keeps its live
 * writes: those no applied write superseded. Because changes are applied in
 * causal order (ingest holds back a change until everything it names is
 * applied), the live set does not depend on the order of concurrent changes,
 * and neither does the canonical encoding, so equal change sets give equal
 * digests on every replica.
 */
#ifndef CAIRN_CORE_PSTATE_H
#define CAIRN_CORE_PSTATE_H

#include "cairn/buf.h"
#include "cairn/change.h"
#include "cairn/plan.h"

typedef struct cairn_pslot {
    uint16_t etype, field;
    uint8_t eid[CAIRN_ENTITY_ID_BYTES];
    /* Live writes, winner first: by (hlc, author, op id), descending. */
    cairn_value_t *values; /* STR values own their bytes */
    cairn_hlc_t *hlcs;
    uint8_t (*authors)[32];
    cairn_op_id_t *ops;
    uint32_t n, cap;
} cairn_pslot_t;

/* An entity whose slots are in memory; dirty ones are written back. */
typedef struct cairn_pent {
    uint16_t etype;
    uint8_t eid[CAIRN_ENTITY_ID_BYTES];
    uint8_t dirty;
} cairn_pent_t;

/*
 * Loads entity (etype, eid)'s slots into st (cairn__pstate_decode_entity).
 * A state loaded in part (by a batch) has one; a complete state has none.
 */
typedef cairn_err_t (*cairn_entity_loader_t)(void *ctx, cairn_plan_state_t *st, uint16_t etype,
                                             const uint8_t *eid);

struct cairn_plan_state {
    uint8_t plan[CAIRN_PLAN_ID_BYTES];
    uint64_t nchanges;
    uint8_t (*heads)[CAIRN_CHANGE_ID_BYTES]; /* ascending */
    size_t nheads, cap_heads;
    cairn_pslot_t *slots; /* each holds at least one live write */
    size_t nslots, cap_slots;
    cairn_pent_t *ents; /* ascending by (etype, eid) */
    size_t nents, cap_ents;
    int header_dirty;
    cairn_entity_loader_t loader;
    void *loader_ctx;
};

cairn_plan_state_t *cairn__pstate_new(const uint8_t plan[CAIRN_PLAN_ID_BYTES]);

/*
 * Apply a validated change whose dependencies are all applied. An inert
 * change (its author was not valid at its time) joins the history (heads,
 * count) but its operations do nothing.
 */
cairn_err_t cairn__pstate_apply(cairn_plan_state_t *st, const cairn_change_t *c, int inert);

/* The canonical encoding of a complete state (appended to out): its digest's input. */
cairn_err_t cairn__pstate_encode(const cairn_plan_state_t *st, cairn_buf_t *out);

/*
 * Make entity (etype, eid) resident, loading it if the state has a loader,
 * and with dirty, mark it to be written back.
 */
cairn_err_t cairn__pstate_touch(cairn_plan_state_t *st, uint16_t etype, const uint8_t *eid,
                                int dirty);

/*
 * Storage form: a header (change count, heads) and one row per entity (its
 * slots). Encoders append to out; an entity with no live write encodes to
 * nothing (out unchanged), and its row should be deleted.
 */
cairn_err_t cairn__pstate_encode_header(const cairn_plan_state_t *st, cairn_buf_t *out);
CAIRN_MUST_USE cairn_err_t cairn__pstate_decode_header(cairn_plan_state_t *st, const uint8_t *bytes,
                                                       size_t len);
cairn_err_t cairn__pstate_encode_entity(const cairn_plan_state_t *st, uint16_t etype,
                                        const uint8_t *eid, cairn_buf_t *out);
CAIRN_MUST_USE cairn_err_t cairn__pstate_decode_entity(cairn_plan_state_t *st, uint16_t etype,
                                                       const uint8_t *eid, const uint8_t *bytes,
                                                       size_t len);

/*
 * The same state computed from the changes alone, in any order (no
 * duplicates); inert (may be NULL) flags the changes whose operations do
 * nothing.
 */
cairn_err_t cairn__pstate_rebuild(const uint8_t plan[CAIRN_PLAN_ID_BYTES],
                                  cairn_change_t *const *changes, const int *inert, size_t n,
                                  cairn_plan_state_t **out);

/* The slot (etype, eid, field), or NULL. */
const cairn_pslot_t *cairn__pstate_find(const cairn_plan_state_t *st, uint16_t etype,
                                        const uint8_t *eid, uint16_t field);

#endif
