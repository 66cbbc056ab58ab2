/*
 * cairn/view.h - typed reads of a merged plan, and of the roster.
 *
 * cairn_plan_read() (cairn/plan.h) gives a plan's merged state; this header
 * reads it the way the layers above want it (workflows, FHIR export,
 * medication checks, the CLI): the present entities of one type, in entity
 * id order, and each field by its constant from cairn/schema.h
 * (CAIRN_F_MEDICATION_DOSE), as a string, an integer or decoded id or key,
 * with whether it is set and whether it is in conflict. Nothing here
 * changes a state, and nothing here allocates: every pointer handed out
 * points into the state and stays valid until cairn_plan_state_free().
 *
 * The roster of the organisation is an ordinary plan of roster_entry
 * entities; cairn_roster_read() reads it and cairn_roster_iter_*() /
 * cairn_roster_get() hand out its entries as cairn_roster_entry_t.
 *
 * Errors, for every function here that returns cairn_err_t:
 *   CAIRN_EINVAL     a NULL argument, an unknown entity type, a field that
 *                    is not one of the type's (field 0, membership,
 *                    included), or a getter of the wrong kind for the field
 *                    (cairn_entity_int() of a text field, ...);
 *   CAIRN_ENOTFOUND  the entity is not present (never added, or removed);
 *                    singletons are always present;
 *   CAIRN_ECORRUPT   a stored value is not of its field's kind (ingest
 *                    refuses such values, so only damaged state gives it).
 * Out-parameters are written only on CAIRN_OK.
 */
#ifndef CAIRN_VIEW_H
#define CAIRN_VIEW_H

#include <stddef.h>
#include <stdint.h>

#include "cairn/change.h"
#include "cairn/error.h"
#include "cairn/plan.h"
#include "cairn/schema.h"
#include "cairn/store.h"

#ifdef __cplusplus
extern "C" {
#endif

/* How a field of a present entity stands. */
typedef enum cairn_fstate {
    CAIRN_FIELD_UNSET = 0,    /* never written, or its winning write cleared it (nil) */
    CAIRN_FIELD_SET = 1,      /* a value: the only one, or the last-writer-wins winner */
    CAIRN_FIELD_CONFLICT = 2, /* a multi-value field with more than one live value */
} cairn_fstate_t;

/* ---- entities of a type ------------------------------------------------- */

/*
 * An iterator over the present entities of one type, in ascending entity
 * id order (bytes compared as unsigned). A singleton type yields its one
 * entity, cairn_singleton_eid. The caller owns the struct (it may live on
 * the stack); the members are private. The state must not be freed while
 * the iterator is in use.
 */
typedef struct cairn_entity_iter {
    const cairn_plan_state_t *state;
    uint16_t etype;
    size_t next; /* the index of the next slot to look at (cairn_plan_state_at) */
    int done;
} cairn_entity_iter_t;

/*
 * Start iterating the present entities of etype in state. Finding the
 * first takes O(log n) in the state's slots; each next step is linear in
 * the slots of the entities it passes. CAIRN_EINVAL if state or it is NULL
 * or etype is unknown.
 */
cairn_err_t cairn_entity_iter_init(cairn_entity_iter_t *it, const cairn_plan_state_t *state,
                                   uint16_t etype);

/*
 * The next present entity: 1 with *eid pointing at its id (valid until the
 * state is freed), or 0 when there are no more (and on every later call).
 */
int cairn_entity_next(cairn_entity_iter_t *it, const uint8_t **eid);

/* ---- typed getters ------------------------------------------------------ */

/*
 * A string field (text, enum, date, ref or key: every kind but int) of
 * entity (etype, eid). *s and *len receive the value shown: the only or
 * winning value, and when in conflict values[0], the greatest of the live
 * values (cairn_entity_values() gives all). *s is NULL (and *len 0) when
 * the field is unset, or in conflict with values[0] a clear; an empty
 * string is a non-NULL *s. The string is not NUL-terminated and stays
 * valid until the state is freed. fs (may be NULL) receives how the field
 * stands. Errors: see the top of this header.
 */
cairn_err_t cairn_entity_str(const cairn_plan_state_t *state, uint16_t etype,
                             const uint8_t eid[CAIRN_ENTITY_ID_BYTES], uint16_t field,
                             const char **s, size_t *len, cairn_fstate_t *fs);

/*
 * An int field: *v receives the value shown (as for cairn_entity_str), or
 * 0 when unset (or in conflict with values[0] a clear). fs may be NULL.
 */
cairn_err_t cairn_entity_int(const cairn_plan_state_t *state, uint16_t etype,
                             const uint8_t eid[CAIRN_ENTITY_ID_BYTES], uint16_t field, int64_t *v,
                             cairn_fstate_t *fs);

/*
 * A ref field decoded from its hex: out receives the entity id shown, or
 * zeros when unset (or in conflict with values[0] a clear). fs may be NULL.
 */
cairn_err_t cairn_entity_ref(const cairn_plan_state_t *state, uint16_t etype,
                             const uint8_t eid[CAIRN_ENTITY_ID_BYTES], uint16_t field,
                             uint8_t out[CAIRN_ENTITY_ID_BYTES], cairn_fstate_t *fs);

/* A key field decoded from its hex, as cairn_entity_ref(): 32 bytes, zeros when unset. */
cairn_err_t cairn_entity_key(const cairn_plan_state_t *state, uint16_t etype,
                             const uint8_t eid[CAIRN_ENTITY_ID_BYTES], uint16_t field,
                             uint8_t out[32], cairn_fstate_t *fs);

/*
 * Every live value of a field, of any kind, with its HLC and author,
 * greatest first (cairn_field_view_t in cairn/plan.h): the values in
 * conflict of a multi-value field, or a last-writer-wins winner and the
 * concurrent values it won over. A field never written gives nvalues 0
 * and NULL arrays. Pointers stay valid until the state is freed.
 */
cairn_err_t cairn_entity_values(const cairn_plan_state_t *state, uint16_t etype,
                                const uint8_t eid[CAIRN_ENTITY_ID_BYTES], uint16_t field,
                                cairn_field_view_t *out);

/* ---- the roster --------------------------------------------------------- */

/*
 * One roster entry, read from the roster plan's merged state. Unset or
 * cleared int fields read as 0 (as ingest counts them). name points into
 * the state (not NUL-terminated; valid until the state is freed).
 */
typedef struct cairn_roster_entry {
    uint8_t eid[CAIRN_ENTITY_ID_BYTES]; /* cairn_roster_entry_id() of the key it was made for */
    int has_key;                        /* the key field is set */
    uint8_t key[32];                    /* the key field, decoded; zeros if unset */
    const char *name;                   /* NULL if unset or cleared */
    size_t name_len;
    unsigned roles;       /* CAIRN_ROLE_* bits; 0 if unset */
    uint64_t valid_from;  /* Unix ms */
    uint64_t valid_until; /* Unix ms; 0: open-ended */
    uint64_t revoked_at;  /* Unix ms; 0: not revoked */
    int present;          /* 0: removed (its fields as last written) */
} cairn_roster_entry_t;

/*
 * The id of member key's roster entry: BLAKE2b-128("cairn roster entry v1"
 * 00 || key) (docs/data-model.md, "The roster"); the only id ingest looks
 * at for key.
 */
void cairn_roster_entry_id(const uint8_t key[32], uint8_t eid[CAIRN_ENTITY_ID_BYTES]);

/*
 * Read the merged roster of store's organisation into *out (free with
 * cairn_plan_state_free()); empty until a roster change arrives.
 * CAIRN_ENOORG if the store belongs to no organisation; else the errors
 * of cairn_plan_read().
 */
cairn_err_t cairn_roster_read(cairn_store_t *store, cairn_plan_state_t **out);

/* An iterator over the present entries of a roster state, in entry id order. */
typedef struct cairn_roster_iter {
    cairn_entity_iter_t entities;
} cairn_roster_iter_t;

/* Start iterating roster (a state of the roster plan). CAIRN_EINVAL if an argument is NULL. */
cairn_err_t cairn_roster_iter_init(cairn_roster_iter_t *it, const cairn_plan_state_t *roster);

/*
 * The next present entry into *entry: CAIRN_OK, CAIRN_ENOTFOUND when there
 * are no more, or CAIRN_ECORRUPT (a field of the wrong kind, or a key that
 * is not hex).
 */
cairn_err_t cairn_roster_next(cairn_roster_iter_t *it, cairn_roster_entry_t *entry);

/*
 * The entry of member key: the one at cairn_roster_entry_id(key), present
 * or removed. CAIRN_ENOTFOUND if no write to it was ever applied. Whether
 * it counts for key at ingest also needs present, has_key and key equal
 * to key, and the validity window (docs/data-model.md).
 */
cairn_err_t cairn_roster_get(const cairn_plan_state_t *roster, const uint8_t key[32],
                             cairn_roster_entry_t *entry);

#ifdef __cplusplus
}
#endif

#endif
