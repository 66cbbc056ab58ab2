/*
 * schema.c - the care-plan schema: one table, and the checks ingest makes.
 *
 * The table follows DATA-MODEL.md. Field numbers are part of the change
 * format and never reused; a field's position in its entity's array is its
 * number. Values are small: text, integers, enums (stored as their names so
 * an export needs no table), dates, and references written as hex.
 */
#include "schema.h"

#include "wipe.h"

#include <string.h>

const uint8_t cairn_singleton_eid[CAIRN_ENTITY_ID_BYTES] = {0};

#define CM CAIRN_ROLE_CARE_MANAGER
#define PR CAIRN_ROLE_PRESCRIBER
#define BH CAIRN_ROLE_BH_SPECIALIST
#define OUT CAIRN_ROLE_OUTREACH
#define PAT CAIRN_ROLE_PATIENT
#define FAM CAIRN_ROLE_FAMILY
#define ADM CAIRN_ROLE_ADMIN

/* Shorthands for the table. */
#define TEXT(n, max, sem) {n, sem, CAIRN_VK_TEXT, 0, max, NULL, 0}
#define INT(n, lo, hi, sem) {n, sem, CAIRN_VK_INT, lo, hi, NULL, 0}
#define ENUM(n, names, sem) {n, sem, CAIRN_VK_ENUM, 0, 0, names, 0}
#define DATE(n, sem) {n, sem, CAIRN_VK_DATE, 0, 0, NULL, 0}
#define REF(n, sem) {n, sem, CAIRN_VK_REF, 0, 0, NULL, 0}
#define KEY(n, sem) {n, sem, CAIRN_VK_KEY, 0, 0, NULL, 0}
#define LWW CAIRN_SEM_LWW
#define MV CAIRN_SEM_MV
#define MEMBERSHIP {"membership", LWW, CAIRN_VK_TEXT, 0, 0, NULL, 0}
#define TIME_MAX ((int64_t)1 << 47) /* Unix ms, far beyond any real date */

static const char *const plan_status[] = {"draft", "active", "on-hold", "completed", "revoked",
                                          NULL};
static const char *const member_role[] = {"care-manager", "prescriber", "bh-specialist",
                                          "social-worker", "outreach-worker", "patient",
                                          "family", "other", NULL};
static const char *const need_domain[] = {"clinical", "housing", "transportation",
                                          "vocational", "nutrition", "financial",
                                          "social-support", "safety", NULL};
static const char *const severity[] = {"low", "moderate", "high", NULL};
static const char *const need_status[] = {"open", "addressed", "closed", NULL};
static const char *const goal_lifecycle[] = {"proposed", "active", "on-hold", "completed",
                                             "cancelled", NULL};
static const char *const goal_achievement[] = {"in-progress", "improving", "worsening",
                                               "achieved", "not-achieved", NULL};
static const char *const task_status[] = {"requested", "accepted", "in-progress", "completed",
                                          "cancelled", NULL};
static const char *const referral_status[] = {"draft", "sent", "accepted", "scheduled",
                                              "completed", "declined", "cancelled",
                                              "no-show", NULL};
static const char *const checkin_kind[] = {"visit", "phone", "outreach", "crisis", NULL};
static const char *const adherence[] = {"full", "partial", "none", "unknown", NULL};
static const char *const med_status[] = {"active", "on-hold", "stopped", NULL};
static const char *const safety_section[] = {"warning-signs", "coping", "people-places",
                                             "professional-contacts", "crisis-line",
                                             "means-safety", NULL};

static const cairn_field_desc_t plan_fields[] = {
    MEMBERSHIP,
    TEXT("title", 200, LWW),
    ENUM("status", plan_status, MV),
    REF("care_manager", LWW),
    DATE("period_start", LWW),
    DATE("period_end", LWW),
};
static const cairn_field_desc_t patient_fields[] = {
    MEMBERSHIP,
    TEXT("display_name", 200, LWW),
    DATE("birth_date", LWW),
    TEXT("identifiers", 500, LWW),
    TEXT("phone", 40, LWW),
    TEXT("language", 40, LWW),
};
static const cairn_field_desc_t member_fields[] = {
    MEMBERSHIP,
    KEY("person_key", LWW),
    TEXT("name", 200, LWW),
    ENUM("role", member_role, LWW),
    TEXT("organisation", 200, LWW),
    TEXT("contact", 200, LWW),
};
static const cairn_field_desc_t need_fields[] = {
    MEMBERSHIP,
    ENUM("domain", need_domain, LWW),
    TEXT("description", 2000, LWW),
    ENUM("severity", severity, LWW),
    ENUM("status", need_status, MV),
};
static const cairn_field_desc_t goal_fields[] = {
    MEMBERSHIP,
    TEXT("description", 2000, LWW),
    REF("owner", LWW),
    DATE("target_date", LWW),
    ENUM("lifecycle", goal_lifecycle, MV),
    ENUM("achievement", goal_achievement, LWW),
};
static const cairn_field_desc_t goal_need_fields[] = {
    MEMBERSHIP,
    REF("goal", LWW),
    REF("need", LWW),
};
static const cairn_field_desc_t responsibility_fields[] = {
    MEMBERSHIP,
    TEXT("what", 2000, LWW),
    REF("assignee", LWW),
    REF("goal", LWW),
    DATE("due", LWW),
    ENUM("status", task_status, MV),
};
static const cairn_field_desc_t referral_fields[] = {
    MEMBERSHIP,
    TEXT("to_org", 200, LWW),
    TEXT("specialty", 200, LWW),
    TEXT("reason", 2000, LWW),
    REF("link", LWW),
    ENUM("status", referral_status, MV),
    INT("appointment", 0, TIME_MAX, LWW),
};
static const cairn_field_desc_t checkin_fields[] = {
    MEMBERSHIP,
    INT("time", 0, TIME_MAX, LWW),
    REF("by", LWW),
    ENUM("kind", checkin_kind, LWW),
    ENUM("adherence", adherence, LWW),
    TEXT("barriers", 2000, LWW),
    INT("phq9", 0, 27, LWW),
    INT("gad7", 0, 21, LWW),
    TEXT("note", CAIRN_VALUE_STR_MAX, LWW),
    REF("corrects", LWW),
};
/* Start and stop dates are the only medication fields a care manager may set. */
static const cairn_field_desc_t medication_fields[] = {
    MEMBERSHIP,
    TEXT("drug", 200, LWW),
    TEXT("code", 64, LWW),
    TEXT("dose", 100, MV),
    TEXT("route", 50, MV),
    TEXT("frequency", 100, MV),
    REF("prescriber", LWW),
    ENUM("status", med_status, MV),
    {"start", LWW, CAIRN_VK_DATE, 0, 0, NULL, PR | CM},
    {"stop", LWW, CAIRN_VK_DATE, 0, 0, NULL, PR | CM},
};
static const cairn_field_desc_t safety_fields[] = {
    MEMBERSHIP,
    ENUM("section", safety_section, LWW),
    TEXT("text", 1000, LWW),
};
static const cairn_field_desc_t consent_fields[] = {
    MEMBERSHIP,
    TEXT("scope_notes", 2000, LWW),
};
static const cairn_field_desc_t consent_org_fields[] = {
    MEMBERSHIP,
    TEXT("org", 200, LWW),
};
static const cairn_field_desc_t roster_fields[] = {
    MEMBERSHIP,
    KEY("key", LWW),
    TEXT("name", 200, LWW),
    INT("roles", 1, CAIRN_ROLE_ALL, LWW),
    INT("valid_from", 0, TIME_MAX, LWW),
    INT("valid_until", 0, TIME_MAX, LWW),
    INT("revoked_at", 0, TIME_MAX, LWW),
};

#define FIELDS(a) a, (uint16_t)(sizeof a / sizeof a[0] - 1)

static const cairn_etype_desc_t etypes[] = {
    {CAIRN_ET_PLAN, "plan", CAIRN_EK_SINGLETON, CM, 0, FIELDS(plan_fields)},
    {CAIRN_ET_PATIENT, "patient", CAIRN_EK_SINGLETON, CM, 0, FIELDS(patient_fields)},
    {CAIRN_ET_MEMBER, "member", CAIRN_EK_SET, CM, 0, FIELDS(member_fields)},
    {CAIRN_ET_NEED, "need", CAIRN_EK_SET, CM | PR | BH | OUT, 0, FIELDS(need_fields)},
    {CAIRN_ET_GOAL, "goal", CAIRN_EK_SET, CM | PR | BH | OUT | PAT | FAM, 0, FIELDS(goal_fields)},
    {CAIRN_ET_GOAL_NEED, "goal_need", CAIRN_EK_SET, CM | PR | BH | OUT, 0,
     FIELDS(goal_need_fields)},
    {CAIRN_ET_RESPONSIBILITY, "responsibility", CAIRN_EK_SET, CM | BH | OUT, 0,
     FIELDS(responsibility_fields)},
    {CAIRN_ET_REFERRAL, "referral", CAIRN_EK_SET, CM | PR | BH | OUT, 0, FIELDS(referral_fields)},
    {CAIRN_ET_CHECKIN, "checkin", CAIRN_EK_LOG, CM | PR | BH | OUT | PAT | FAM, 0,
     FIELDS(checkin_fields)},
    {CAIRN_ET_MEDICATION, "medication", CAIRN_EK_SET, PR, 0, FIELDS(medication_fields)},
    {CAIRN_ET_SAFETY_ITEM, "safety_item", CAIRN_EK_SET, CM | BH | OUT | PAT | FAM, 0,
     FIELDS(safety_fields)},
    {CAIRN_ET_CONSENT, "consent", CAIRN_EK_SINGLETON, CM | PAT | FAM, 0, FIELDS(consent_fields)},
    {CAIRN_ET_CONSENT_ORG, "consent_org", CAIRN_EK_SET, CM | PAT | FAM, 0,
     FIELDS(consent_org_fields)},
    {CAIRN_ET_ROSTER_ENTRY, "roster_entry", CAIRN_EK_SET, ADM, 1, FIELDS(roster_fields)},
};

#define NETYPES (sizeof etypes / sizeof etypes[0])

const cairn_etype_desc_t *cairn_schema_etype(uint16_t etype)
{
    for (size_t i = 0; i < NETYPES; i++)
        if (etypes[i].etype == etype)
            return &etypes[i];
    return NULL;
}

const cairn_field_desc_t *cairn_schema_field(uint16_t etype, uint16_t field)
{
    const cairn_etype_desc_t *et = cairn_schema_etype(etype);
    if (et == NULL || field == 0 || field > et->nfields)
        return NULL;
    return &et->fields[field];
}

/* ---- public lookups ----------------------------------------------------- */

const char *cairn_etype_name(uint16_t etype)
{
    const cairn_etype_desc_t *et = cairn_schema_etype(etype);
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
    const cairn_etype_desc_t *et = cairn_schema_etype(etype);
    for (uint16_t f = 1; et != NULL && name != NULL && f <= et->nfields; f++)
        if (strcmp(et->fields[f].name, name) == 0)
            return f;
    return -1;
}

const char *cairn_field_name(uint16_t etype, uint16_t field)
{
    if (field == 0 && cairn_schema_etype(etype) != NULL)
        return "membership";
    const cairn_field_desc_t *fd = cairn_schema_field(etype, field);
    return fd ? fd->name : NULL;
}

int cairn_field_is_multi_value(uint16_t etype, uint16_t field)
{
    const cairn_field_desc_t *fd = cairn_schema_field(etype, field);
    return fd != NULL && fd->sem == CAIRN_SEM_MV;
}

int cairn_field_is_int(uint16_t etype, uint16_t field)
{
    const cairn_field_desc_t *fd = cairn_schema_field(etype, field);
    return fd != NULL && fd->vkind == CAIRN_VK_INT;
}

int cairn_etype_is_set(uint16_t etype)
{
    const cairn_etype_desc_t *et = cairn_schema_etype(etype);
    return et != NULL && et->kind != CAIRN_EK_SINGLETON;
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

cairn_err_t cairn_schema_check_value(uint16_t etype, uint16_t field, const cairn_value_t *v)
{
    const cairn_field_desc_t *fd = cairn_schema_field(etype, field);
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
    cairn_hash_domain(eid, CAIRN_ENTITY_ID_BYTES, "cairn log entry v1", author, 32, plan,
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
    const cairn_etype_desc_t *et = cairn_schema_etype(op->etype);
    if (et == NULL || et->roster_only != in_roster)
        return 0;
    int singleton_id = memcmp(op->eid, cairn_singleton_eid, CAIRN_ENTITY_ID_BYTES) == 0;
    if ((et->kind == CAIRN_EK_SINGLETON) != singleton_id)
        return 0;
    if (op->kind != CAIRN_OP_SET) {
        /* ADD and REMOVE carry no field or value; only REMOVE names adds. */
        if (et->kind == CAIRN_EK_SINGLETON || op->field != 0 ||
            op->value.type != CAIRN_VALUE_NIL)
            return 0;
        if (op->kind == CAIRN_OP_ADD)
            return op->npred == 0 && (et->kind != CAIRN_EK_LOG || log_eid_valid(c, i));
        return et->kind == CAIRN_EK_SET && op->npred > 0;
    }
    const cairn_field_desc_t *fd = cairn_schema_field(op->etype, op->field);
    if (fd == NULL || !value_valid(fd, &op->value))
        return 0;
    if (et->kind == CAIRN_EK_LOG) /* written once, in the change that adds it */
        return op->npred == 0 && added_earlier(c, i);
    return 1;
}

cairn_reason_t cairn_schema_check(const cairn_change_t *c, int in_roster)
{
    if (c->nops == 0)
        return CAIRN_REASON_INVALID_OP;
    for (size_t i = 0; i < c->nops; i++)
        if (!op_valid(c, i, in_roster))
            return CAIRN_REASON_INVALID_OP;
    return CAIRN_REASON_NONE;
}

int cairn_schema_allows(const cairn_change_t *c, unsigned roles)
{
    for (size_t i = 0; i < c->nops; i++) {
        const cairn_op_t *op = &c->ops[i];
        const cairn_etype_desc_t *et = cairn_schema_etype(op->etype);
        const cairn_field_desc_t *fd = cairn_schema_field(op->etype, op->field);
        if (et == NULL)
            return 0;
        unsigned need = (fd != NULL && fd->roles != 0) ? fd->roles : et->roles;
        if ((need & roles) == 0)
            return 0;
    }
    return 1;
}
