/*
 * schema.c - the care-plan schema: one table, and the checks ingest makes.
 *
 * The table is CAIRN_SCHEMA in cairn/schema.h and follows DATA-MODEL.md.
 * Field numbers are part of the change format and never reused; a field's
 * position in its entity's array is its number. Values are small: text,
 * integers, enums (stored as their names so an export needs no table),
 * dates, and references written as hex.
 */
#include "schema.h"

#include "wipe.h"

#include <string.h>

const uint8_t cairn_singleton_eid[CAIRN_ENTITY_ID_BYTES] = {0};

/*
 * The descriptors, expanded from CAIRN_SCHEMA. All fields of all types go
 * into one array in table order; each entity type's row there is its
 * membership (field 0), followed by its fields, so the type's descriptor
 * points at its row and fields[n] is field n. The assertions below prove
 * that layout at compile time: every field row sits exactly number places
 * after its type's row, its number is at most the type's field count, and
 * the array holds one row per type and one per counted field, so the
 * numbers of each type run 1, 2, ... without gap or repeat.
 */
#define MEMBERSHIP                                                                                 \
    {                                                                                              \
        "membership", CAIRN_SEM_LWW, CAIRN_VK_TEXT, 0, 0, NULL, 0                                  \
    }

#define ENUM_NAMES(set, ...) static const char *const names_##set[] = {__VA_ARGS__, NULL};
CAIRN_SCHEMA_ENUMS(ENUM_NAMES)
#define names_NONE NULL

/* Positions in rows[]: POS_ET_<type> and POS_F_<type>_<field>. */
#define POS_ET(id, num, name, kind, roles, roster_only, nf) POS_ET_##id,
#define POS_F(et, id, num, name, sem, vkind, min, max, set, roles) POS_F_##et##_##id,
enum schema_pos { CAIRN_SCHEMA(POS_ET, POS_F) POS_END };

#define ROW_ET(id, num, name, kind, roles, roster_only, nf) MEMBERSHIP,
#define ROW_F(et, id, num, name, sem, vkind, min, max, set, roles)                                 \
    {name, CAIRN_SEM_##sem, CAIRN_VK_##vkind, min, max, names_##set, roles},
static const cairn_field_desc_t rows[] = {CAIRN_SCHEMA(ROW_ET, ROW_F)};

#define ETYPE(id, num, name, kind, roles, roster_only, nf)                                         \
    {CAIRN_ET_##id, name, CAIRN_EK_##kind, roles, roster_only, &rows[POS_ET_##id], nf},
static const cairn_etype_desc_t etypes[] = {CAIRN_SCHEMA(ETYPE, CAIRN__F_NONE)};

#define HAS_SET(set, ...) HAS_##set = 1,
enum schema_sets { HAS_NONE = 0, CAIRN_SCHEMA_ENUMS(HAS_SET) };

#define NF_ET(id, num, name, kind, roles, roster_only, nf) NF_##id = nf,
enum schema_nfields { CAIRN_SCHEMA(NF_ET, CAIRN__F_NONE) };

#define CHECK_F(et, id, num, name, sem, vkind, min, max, set, roles)                               \
    _Static_assert(POS_F_##et##_##id == POS_ET_##et + (num), #et "." name ": out of order");       \
    _Static_assert((num) >= 1 && (num) <= NF_##et, #et "." name ": over its type's count");        \
    _Static_assert((CAIRN_VK_##vkind == CAIRN_VK_ENUM) == HAS_##set,                               \
                   #et "." name ": a value set belongs to an enum field, and only there");
CAIRN_SCHEMA(CAIRN__ET_NONE, CHECK_F)

#define ROWS_OF(id, num, name, kind, roles, roster_only, nf) +1 + (nf)
_Static_assert(POS_END == 0 CAIRN_SCHEMA(ROWS_OF, CAIRN__F_NONE), "a field row missing");
_Static_assert(sizeof rows / sizeof rows[0] == POS_END, "rows and positions disagree");

#define NETYPES (sizeof etypes / sizeof etypes[0])

/* Places in etypes[]. */
#define ORD_ET(id, num, name, kind, roles, roster_only, nf) ORD_##id,
enum schema_ord { CAIRN_SCHEMA(ORD_ET, CAIRN__F_NONE) ORD_END };
_Static_assert(ORD_END == NETYPES, "etypes and places disagree");

/* A switch, so that two entity types of one number do not compile. */
const cairn_etype_desc_t *cairn__schema_etype(uint16_t etype)
{
#define CASE_ET(id, num, name, kind, roles, roster_only, nf)                                       \
    case CAIRN_ET_##id:                                                                            \
        return &etypes[ORD_##id];
    switch (etype) {
        CAIRN_SCHEMA(CASE_ET, CAIRN__F_NONE)
    default:
        return NULL;
    }
#undef CASE_ET
}

const cairn_field_desc_t *cairn__schema_field(uint16_t etype, uint16_t field)
{
    const cairn_etype_desc_t *et = cairn__schema_etype(etype);
    if (et == NULL || field == CAIRN_F_MEMBERSHIP || field > et->nfields)
        return NULL;
    return &et->fields[field];
}

/* ---- public lookups ----------------------------------------------------- */

const char *cairn_etype_name(uint16_t etype)
{
    const cairn_etype_desc_t *et = cairn__schema_etype(etype);
    return et ? et->name : NULL;
}

int cairn_etype_by_name(const char *name)
{
    for (size_t i = 0; name != NULL && i < NETYPES; i++)
        if (strcmp(etypes[i].name, name) == 0)
            return etypes[i].etype;
    return -1;
}

int cairn_field_by_name(uint16_t etype, const char *name)
{
    const cairn_etype_desc_t *et = cairn__schema_etype(etype);
    for (uint16_t f = 1; et != NULL && name != NULL && f <= et->nfields; f++)
        if (strcmp(et->fields[f].name, name) == 0)
            return f;
    return -1;
}

const char *cairn_field_name(uint16_t etype, uint16_t field)
{
    if (field == CAIRN_F_MEMBERSHIP && cairn__schema_etype(etype) != NULL)
        return "membership";
    const cairn_field_desc_t *fd = cairn__schema_field(etype, field);
    return fd ? fd->name : NULL;
}

int cairn_field_is_multi_value(uint16_t etype, uint16_t field)
{
    const cairn_field_desc_t *fd = cairn__schema_field(etype, field);
    return fd != NULL && fd->sem == CAIRN_SEM_MV;
}

int cairn_field_is_int(uint16_t etype, uint16_t field)
{
    const cairn_field_desc_t *fd = cairn__schema_field(etype, field);
    return fd != NULL && fd->vkind == CAIRN_VK_INT;
}

int cairn_etype_is_set(uint16_t etype)
{
    const cairn_etype_desc_t *et = cairn__schema_etype(etype);
    return et != NULL && et->kind != CAIRN_EK_SINGLETON;
}

cairn_ekind_t cairn_etype_kind(uint16_t etype)
{
    const cairn_etype_desc_t *et = cairn__schema_etype(etype);
    return et != NULL ? et->kind : (cairn_ekind_t)0;
}

cairn_vkind_t cairn_field_vkind(uint16_t etype, uint16_t field)
{
    const cairn_field_desc_t *fd = cairn__schema_field(etype, field);
    return fd != NULL ? fd->vkind : (cairn_vkind_t)0;
}

const char *const *cairn_field_enum_names(uint16_t etype, uint16_t field)
{
    const cairn_field_desc_t *fd = cairn__schema_field(etype, field);
    return fd != NULL ? fd->names : NULL;
}

/* ---- value checks -------------------------------------------------------- */

static int all_hex(const char *s, size_t len, size_t want)
{
    if (len != want)
        return 0;
    for (size_t i = 0; i < len; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
    return 1;
}

static int digits(const char *s, size_t n, int *out)
{
    int v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return 0;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 1;
}

/* "YYYY-MM-DD" with a plausible month and day; calendars are not our job. */
static int date_valid(const char *s, size_t len)
{
    int y, m, d;
    return len == 10 && s[4] == '-' && s[7] == '-' && digits(s, 4, &y) && digits(s + 5, 2, &m) &&
           digits(s + 8, 2, &d) && m >= 1 && m <= 12 && d >= 1 && d <= 31;
}

static int enum_valid(const char *const *names, const char *s, size_t len)
{
    for (; *names != NULL; names++)
        if (strlen(*names) == len && memcmp(*names, s, len) == 0)
            return 1;
    return 0;
}

static int value_valid(const cairn_field_desc_t *fd, const cairn_value_t *v)
{
    if (v->type == CAIRN_VALUE_NIL)
        return 1; /* clearing a field is always allowed */
    if (fd->vkind == CAIRN_VK_INT)
        return v->type == CAIRN_VALUE_INT && v->i >= fd->min && v->i <= fd->max;
    if (v->type != CAIRN_VALUE_STR)
        return 0;
    switch (fd->vkind) {
    case CAIRN_VK_TEXT:
        return (int64_t)v->len <= fd->max;
    case CAIRN_VK_ENUM:
        return enum_valid(fd->names, v->s, v->len);
    case CAIRN_VK_DATE:
        return date_valid(v->s, v->len);
    case CAIRN_VK_REF:
        return all_hex(v->s, v->len, 2 * CAIRN_ENTITY_ID_BYTES);
    case CAIRN_VK_KEY:
        return all_hex(v->s, v->len, 64);
    default:
        return 0;
    }
}

cairn_err_t cairn__schema_check_value(uint16_t etype, uint16_t field, const cairn_value_t *v)
{
    const cairn_field_desc_t *fd = cairn__schema_field(etype, field);
    return fd != NULL && v != NULL && value_valid(fd, v) ? CAIRN_OK : CAIRN_EINVAL;
}

/* ---- change checks ------------------------------------------------------- */

void cairn_log_eid(const uint8_t author[32], const uint8_t plan[CAIRN_PLAN_ID_BYTES], uint64_t seq,
                   uint16_t index, uint8_t eid[CAIRN_ENTITY_ID_BYTES])
{
    uint8_t pos[10];
    for (int i = 0; i < 8; i++)
        pos[i] = (uint8_t)(seq >> (56 - 8 * i));
    pos[8] = (uint8_t)(index >> 8);
    pos[9] = (uint8_t)index;
    cairn__hash_domain(eid, CAIRN_ENTITY_ID_BYTES, "cairn log entry v1", author, 32, plan,
                       CAIRN_PLAN_ID_BYTES, pos, sizeof pos);
}

/* A log entry's id is fixed by its place in its author's chain: never reused. */
static int log_eid_valid(const cairn_change_t *c, size_t i)
{
    uint8_t want[CAIRN_ENTITY_ID_BYTES];
    cairn_log_eid(c->author, c->plan, c->seq, (uint16_t)i, want);
    return memcmp(want, c->ops[i].eid, CAIRN_ENTITY_ID_BYTES) == 0;
}

/* Whether an earlier op of c (before index i) adds entity (etype, eid). */
static int added_earlier(const cairn_change_t *c, size_t i)
{
    const cairn_op_t *op = &c->ops[i];
    for (size_t k = 0; k < i; k++)
        if (c->ops[k].kind == CAIRN_OP_ADD && c->ops[k].etype == op->etype &&
            memcmp(c->ops[k].eid, op->eid, CAIRN_ENTITY_ID_BYTES) == 0)
            return 1;
    return 0;
}

static int op_valid(const cairn_change_t *c, size_t i, int in_roster)
{
    const cairn_op_t *op = &c->ops[i];
    const cairn_etype_desc_t *et = cairn__schema_etype(op->etype);
    if (et == NULL || et->roster_only != in_roster)
        return 0;
    int singleton_id = memcmp(op->eid, cairn_singleton_eid, CAIRN_ENTITY_ID_BYTES) == 0;
    if ((et->kind == CAIRN_EK_SINGLETON) != singleton_id)
        return 0;
    if (op->kind != CAIRN_OP_SET) {
        /* ADD and REMOVE carry no field or value; only REMOVE names adds. */
        if (et->kind == CAIRN_EK_SINGLETON || op->field != CAIRN_F_MEMBERSHIP ||
            op->value.type != CAIRN_VALUE_NIL)
            return 0;
        if (op->kind == CAIRN_OP_ADD)
            return op->npred == 0 && (et->kind != CAIRN_EK_LOG || log_eid_valid(c, i));
        return et->kind == CAIRN_EK_SET && op->npred > 0;
    }
    const cairn_field_desc_t *fd = cairn__schema_field(op->etype, op->field);
    if (fd == NULL || !value_valid(fd, &op->value))
        return 0;
    if (et->kind == CAIRN_EK_LOG) /* written once, in the change that adds it */
        return op->npred == 0 && added_earlier(c, i);
    return 1;
}

cairn_reason_t cairn__schema_check(const cairn_change_t *c, int in_roster)
{
    if (c->nops == 0)
        return CAIRN_REASON_INVALID_OP;
    for (size_t i = 0; i < c->nops; i++)
        if (!op_valid(c, i, in_roster))
            return CAIRN_REASON_INVALID_OP;
    return CAIRN_REASON_NONE;
}

int cairn__schema_allows(const cairn_change_t *c, unsigned roles)
{
    for (size_t i = 0; i < c->nops; i++) {
        const cairn_op_t *op = &c->ops[i];
        const cairn_etype_desc_t *et = cairn__schema_etype(op->etype);
        const cairn_field_desc_t *fd = cairn__schema_field(op->etype, op->field);
        if (et == NULL)
            return 0;
        unsigned need = (fd != NULL && fd->roles != 0) ? fd->roles : et->roles;
        if ((need & roles) == 0)
            return 0;
    }
    return 1;
}
