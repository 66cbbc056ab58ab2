/*
 * cairn/change.h - signed changes: the only thing that crosses the network.
 *
 * A change is one author's signed commit of one or more operations on one
 * plan. Its encoding is canonical MessagePack (docs/change-format.md): there
 * is exactly one valid encoding per change, and the decoder rejects anything
 * else (non-minimal integers, unsorted sets, trailing bytes, oversized
 * input). The change id is the BLAKE2b-256 of the signed encoding.
 *
 * Operations are of three kinds, which together express every field
 * semantics of the data model:
 *   SET     write a field of an entity; pred names the writes it supersedes
 *           (the values the author saw). Registers keep the writes no later
 *           write superseded: one for last-writer-wins, all for multi-value.
 *   ADD     add an entity (a member, a need, a check-in...) to the plan.
 *   REMOVE  remove an entity; pred names the ADDs the author observed, so a
 *           concurrent ADD survives (add-wins).
 * Append-only entities (check-ins) take SETs only in the change that adds
 * them, and are never removed.
 */
#ifndef CAIRN_CHANGE_H
#define CAIRN_CHANGE_H

#include <stddef.h>
#include <stdint.h>

#include "cairn/buf.h"
#include "cairn/error.h"
#include "cairn/hlc.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CAIRN_CHANGE_FORMAT 1u
#define CAIRN_PLAN_ID_BYTES 16
#define CAIRN_ENTITY_ID_BYTES 16
#define CAIRN_CHANGE_ID_BYTES 32
#define CAIRN_SIGNATURE_BYTES 64
#define CAIRN_SECRET_KEY_BYTES 64
#define CAIRN_OP_ID_BYTES 34 /* change id, then the op's index, big-endian u16 */

#define CAIRN_CHANGE_MAX_BYTES (64u * 1024u) /* largest encoded change */
#define CAIRN_CHANGE_MAX_OPS 256
#define CAIRN_CHANGE_MAX_DEPS 64
#define CAIRN_OP_MAX_PRED 64
#define CAIRN_VALUE_STR_MAX 4096 /* no field allows a longer string */

typedef enum cairn_op_kind {
    CAIRN_OP_SET = 1,
    CAIRN_OP_ADD = 2,
    CAIRN_OP_REMOVE = 3,
} cairn_op_kind_t;

typedef enum cairn_value_type {
    CAIRN_VALUE_NIL = 0, /* a cleared field */
    CAIRN_VALUE_INT = 1,
    CAIRN_VALUE_STR = 2, /* UTF-8, validated on decode */
} cairn_value_type_t;

typedef struct cairn_value {
    cairn_value_type_t type;
    int64_t i;     /* INT */
    const char *s; /* STR: not NUL-terminated; points into the change's bytes */
    size_t len;    /* STR: length in bytes */
} cairn_value_t;

typedef struct cairn_op_id {
    uint8_t bytes[CAIRN_OP_ID_BYTES];
} cairn_op_id_t;

typedef struct cairn_op {
    cairn_op_kind_t kind;
    uint16_t etype; /* entity type (see cairn/plan.h) */
    uint8_t eid[CAIRN_ENTITY_ID_BYTES];
    uint16_t field;            /* SET: which field; ADD, REMOVE: 0 */
    cairn_value_t value;       /* SET: the value; ADD, REMOVE: nil */
    const cairn_op_id_t *pred; /* strictly ascending */
    size_t npred;
} cairn_op_t;

/* A decoded change. Every pointer points into memory the change owns. */
typedef struct cairn_change {
    uint8_t id[CAIRN_CHANGE_ID_BYTES];
    uint8_t plan[CAIRN_PLAN_ID_BYTES];
    uint8_t author[32];
    uint64_t seq;                                 /* 1, 2, ... per (author, plan) */
    int has_prev;                                 /* seq > 1 */
    uint8_t prev[CAIRN_CHANGE_ID_BYTES];          /* id of the author's change seq - 1 */
    const uint8_t (*deps)[CAIRN_CHANGE_ID_BYTES]; /* heads seen; strictly ascending */
    size_t ndeps;
    cairn_hlc_t hlc;
    const cairn_op_t *ops;
    size_t nops;
    uint8_t sig[CAIRN_SIGNATURE_BYTES];
    const uint8_t *bytes; /* the signed encoding */
    size_t len;
} cairn_change_t;

/* What a caller fills to make a change; arrays need not be sorted. */
typedef struct cairn_change_draft {
    const uint8_t *plan;
    uint64_t seq;
    const uint8_t *prev; /* NULL when seq == 1 */
    const uint8_t (*deps)[CAIRN_CHANGE_ID_BYTES];
    size_t ndeps;
    cairn_hlc_t hlc;
    const cairn_op_t *ops;
    size_t nops;
} cairn_change_draft_t;

/*
 * Encode draft canonically, sign it with the Ed25519 secret key sk, and
 * decode the result into *out (free with cairn_change_free()). pred and deps
 * are sorted and must hold no duplicates.
 * Errors: CAIRN_EINVAL (a field out of range, duplicates, invalid UTF-8),
 * CAIRN_ETOOBIG (over a limit), CAIRN_ENOMEM.
 */
cairn_err_t cairn_change_create(const cairn_change_draft_t *draft, const uint8_t *sk,
                                cairn_change_t **out);

/*
 * Decode and check the structure of len bytes (copied). Does not verify the
 * signature. On success *out is a change to free with cairn_change_free().
 * Errors: CAIRN_ETOOBIG (len over CAIRN_CHANGE_MAX_BYTES or a count over its
 * limit), CAIRN_EMALFORMED (truncated, trailing bytes, wrong types, invalid
 * UTF-8, or any encoding other than the canonical one), CAIRN_ENOMEM.
 */
CAIRN_MUST_USE cairn_err_t cairn_change_decode(const uint8_t *bytes, size_t len,
                                               cairn_change_t **out);

/* 0 if change's signature verifies under its author key, -1 otherwise. */
CAIRN_MUST_USE int cairn_change_verify(const cairn_change_t *change);

/* The id of op number index of change. */
void cairn_change_op_id(const cairn_change_t *change, uint16_t index, cairn_op_id_t *out);

/* Release a change. NULL is ignored. */
void cairn_change_free(cairn_change_t *change);

#ifdef __cplusplus
}
#endif

#endif
