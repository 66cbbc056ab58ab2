/*
 * schema.h - the care-plan schema as core/ checks it (private).
 *
 * One table describes every entity type and field: its merge semantics,
 * the type and range of its values, and which roles may write it. Ingest
 * checks every operation of every change against it, statelessly, so all
 * nodes reach the same verdict on the same bytes.
 */
#ifndef CAIRN_CORE_SCHEMA_H
#define CAIRN_CORE_SCHEMA_H

#include "cairn/change.h"
#include "cairn/ingest.h"
#include "cairn/plan.h"

typedef enum cairn_sem { CAIRN_SEM_LWW = 1, CAIRN_SEM_MV = 2 } cairn_sem_t;

typedef enum cairn_ekind {
    CAIRN_EK_SINGLETON = 1, /* one per plan, id all zero, never added */
    CAIRN_EK_SET = 2,       /* add-wins set */
    CAIRN_EK_LOG = 3,       /* append-only: fields set only when added */
} cairn_ekind_t;

typedef enum cairn_vkind {
    CAIRN_VK_TEXT = 1, /* UTF-8 up to max bytes */
    CAIRN_VK_INT,      /* integer in [min, max] */
    CAIRN_VK_ENUM,     /* one of names[] */
    CAIRN_VK_DATE,     /* "YYYY-MM-DD" */
    CAIRN_VK_REF,      /* an entity id, 32 lowercase hex digits */
    CAIRN_VK_KEY,      /* an Ed25519 public key, 64 lowercase hex digits */
} cairn_vkind_t;

typedef struct cairn_field_desc {
    const char *name;
    cairn_sem_t sem;
    cairn_vkind_t vkind;
    int64_t min, max;           /* INT: range; TEXT: max is the byte limit */
    const char *const *names;   /* ENUM: NULL-terminated */
    unsigned roles;             /* 0: the entity type's roles */
} cairn_field_desc_t;

typedef struct cairn_etype_desc {
    uint16_t etype;
    const char *name;
    cairn_ekind_t kind;
    unsigned roles; /* who may add, remove and write its fields */
    int roster_only; /* 1: only in the roster; 0: only in care plans */
    const cairn_field_desc_t *fields; /* fields[0] unused: field 0 is membership */
    uint16_t nfields;                 /* highest field number */
} cairn_etype_desc_t;

const cairn_etype_desc_t *cairn_schema_etype(uint16_t etype);
const cairn_field_desc_t *cairn_schema_field(uint16_t etype, uint16_t field);

/*
 * Check every op of change c: known types and fields, valid values, the
 * rules of its entity kind, and that in_roster (c is a roster change)
 * matches the types. Returns CAIRN_REASON_NONE or the reason to reject.
 */
cairn_reason_t cairn_schema_check(const cairn_change_t *c, int in_roster);

/* Whether roles allow every op of c (the roles table of DATA-MODEL.md). */
int cairn_schema_allows(const cairn_change_t *c, unsigned roles);

/* Validate one value for a field: CAIRN_OK or CAIRN_EINVAL. */
cairn_err_t cairn_schema_check_value(uint16_t etype, uint16_t field, const cairn_value_t *v);

#endif
