/*
 * schema.h - the care-plan schema as core/ checks it (private).
 *
 * One table describes every entity type and field: its merge semantics,
 * the type and range of its values, and which roles may write it. The table
 * is CAIRN_SCHEMA in the public cairn/schema.h; schema.c expands it into the
 * descriptors declared here. Ingest checks every operation of every change
 * against them, statelessly, so all nodes reach the same verdict on the
 * same bytes.
 */
#ifndef CAIRN_CORE_SCHEMA_H
#define CAIRN_CORE_SCHEMA_H

#include "cairn/change.h"
#include "cairn/ingest.h"
#include "cairn/plan.h"
#include "cairn/schema.h"

/* cairn_sem_t, cairn_ekind_t and cairn_vkind_t are public: cairn/schema.h. */

typedef struct cairn_field_desc {
    const char *name;
    cairn_sem_t sem;
    cairn_vkind_t vkind;
    int64_t min, max;         /* INT: range; TEXT: max is the byte limit */
    const char *const *names; /* ENUM: NULL-terminated */
    unsigned roles;           /* 0: the entity type's roles */
} cairn_field_desc_t;

typedef struct cairn_etype_desc {
    uint16_t etype;
    const char *name;
    cairn_ekind_t kind;
    unsigned roles;                   /* who may add, remove and write its fields */
    int roster_only;                  /* 1: only in the roster; 0: only in care plans */
    const cairn_field_desc_t *fields; /* fields[0] unused: field 0 is membership */
    uint16_t nfields;                 /* highest field number */
} cairn_etype_desc_t;

/* The descriptor of entity type etype; NULL if unknown. Static. */
const cairn_etype_desc_t *cairn__schema_etype(uint16_t etype);
/* The descriptor of a field (1 up to nfields); NULL if unknown or field 0. Static. */
const cairn_field_desc_t *cairn__schema_field(uint16_t etype, uint16_t field);

/*
 * Check every op of change c: known types and fields, valid values, the
 * rules of its entity kind, and that in_roster (c is a roster change)
 * matches the types. Returns CAIRN_REASON_NONE or the reason to reject.
 */
cairn_reason_t cairn__schema_check(const cairn_change_t *c, int in_roster);

/* Whether roles allow every op of c (the roles table of DATA-MODEL.md). */
int cairn__schema_allows(const cairn_change_t *c, unsigned roles);

/* Validate one value for a field: CAIRN_OK or CAIRN_EINVAL. */
cairn_err_t cairn__schema_check_value(uint16_t etype, uint16_t field, const cairn_value_t *v);

#endif
