/*
 * cairn/schema.h - the care-plan schema: one table, and every constant made from it.
 *
 * CAIRN_SCHEMA(ET, F) below is the only place where entity types and fields
 * are defined. It is an X-macro (libuv's UV_ERRNO_MAP is the model): a user
 * defines ET and F and expands the table to generate what it needs. This
 * header generates the entity type enum (CAIRN_ET_*) and the field enum
 * (CAIRN_F_<ENTITY>_<FIELD>); core/schema.c generates the descriptor tables
 * that ingest checks every change against. docs/data-model.md describes the
 * table in prose.
 *
 * Entity type and field numbers and names are part of the change format:
 * they are never changed or reused (tests/test_schema.c holds a literal copy
 * of every row and fails on any drift). A field's number is its position in
 * its entity: fields are numbered densely from 1, and field 0 of every type
 * is its membership (its ADDs). core/schema.c checks at compile time that
 * the rows of each type are numbered 1, 2, ... up to its field count.
 */
#ifndef CAIRN_SCHEMA_H
#define CAIRN_SCHEMA_H

#include <stdint.h>

#include "cairn/change.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Roles of the roster (DATA-MODEL.md's roles table), as a bit mask. */
#define CAIRN_ROLE_CARE_MANAGER 0x01u
#define CAIRN_ROLE_PRESCRIBER 0x02u
#define CAIRN_ROLE_BH_SPECIALIST 0x04u /* and social workers */
#define CAIRN_ROLE_OUTREACH 0x08u
#define CAIRN_ROLE_PATIENT 0x10u
#define CAIRN_ROLE_FAMILY 0x20u
#define CAIRN_ROLE_ADMIN 0x40u
#define CAIRN_ROLE_ALL 0x7fu

/* Merge semantics of a field (docs/data-model.md, "How merge works"). */
typedef enum cairn_sem {
    CAIRN_SEM_LWW = 1, /* last-writer-wins register */
    CAIRN_SEM_MV = 2,  /* multi-value register: concurrent values are a conflict */
} cairn_sem_t;

/* Kinds of entity type. */
typedef enum cairn_ekind {
    CAIRN_EK_SINGLETON = 1, /* one per plan, id all zero, never added */
    CAIRN_EK_SET = 2,       /* add-wins set */
    CAIRN_EK_LOG = 3,       /* append-only: fields set only when added */
} cairn_ekind_t;

/* Kinds of value a field holds. INT fields hold integers; all others strings. */
typedef enum cairn_vkind {
    CAIRN_VK_TEXT = 1, /* UTF-8 up to max bytes */
    CAIRN_VK_INT = 2,  /* integer in [min, max] */
    CAIRN_VK_ENUM = 3, /* one of the names of its value set */
    CAIRN_VK_DATE = 4, /* "YYYY-MM-DD" */
    CAIRN_VK_REF = 5,  /* an entity id, 32 lowercase hex digits */
    CAIRN_VK_KEY = 6,  /* an Ed25519 public key, 64 lowercase hex digits */
} cairn_vkind_t;

/* Times in int fields are Unix ms, 0 to 2^47 (in the year 6429). */
#define CAIRN_TIME_MAX ((int64_t)1 << 47)

/* Shorthands for the roles column of the table; not for use elsewhere. */
#define CAIRN__CM CAIRN_ROLE_CARE_MANAGER
#define CAIRN__PR CAIRN_ROLE_PRESCRIBER
#define CAIRN__BH CAIRN_ROLE_BH_SPECIALIST
#define CAIRN__OUT CAIRN_ROLE_OUTREACH
#define CAIRN__PAT CAIRN_ROLE_PATIENT
#define CAIRN__FAM CAIRN_ROLE_FAMILY
#define CAIRN__ADM CAIRN_ROLE_ADMIN

/*
 * The value sets of enum fields: E(SET, "name", ...). Enum values are
 * stored as their names, so an export needs no table.
 */
#define CAIRN_SCHEMA_ENUMS(E)                                                                      \
    E(PLAN_STATUS, "draft", "active", "on-hold", "completed", "revoked")                           \
    E(MEMBER_ROLE, "care-manager", "prescriber", "bh-specialist", "social-worker",                 \
      "outreach-worker", "patient", "family", "other")                                             \
    E(NEED_DOMAIN, "clinical", "housing", "transportation", "vocational", "nutrition",             \
      "financial", "social-support", "safety")                                                     \
    E(SEVERITY, "low", "moderate", "high")                                                         \
    E(NEED_STATUS, "open", "addressed", "closed")                                                  \
    E(GOAL_LIFECYCLE, "proposed", "active", "on-hold", "completed", "cancelled")                   \
    E(GOAL_ACHIEVEMENT, "in-progress", "improving", "worsening", "achieved", "not-achieved")       \
    E(TASK_STATUS, "requested", "accepted", "in-progress", "completed", "cancelled")               \
    E(REFERRAL_STATUS, "draft", "sent", "accepted", "scheduled", "completed", "declined",          \
      "cancelled", "no-show")                                                                      \
    E(CHECKIN_KIND, "visit", "phone", "outreach", "crisis")                                        \
    E(ADHERENCE, "full", "partial", "none", "unknown")                                             \
    E(MED_STATUS, "active", "on-hold", "stopped")                                                  \
    E(SAFETY_SECTION, "warning-signs", "coping", "people-places", "professional-contacts",         \
      "crisis-line", "means-safety")

/*
 * The table. Each entity type's row is followed by its fields' rows, in
 * field number order:
 *
 *   ET(ID, number, "name", kind, roles, roster_only, nfields)
 *      kind: SINGLETON, SET or LOG (CAIRN_EK_*); roles: who may add, remove
 *      and write it; roster_only: 1 if only in the roster plan (and then
 *      nothing else is allowed there); nfields: its highest field number.
 *   F(ENTITY_ID, FIELD_ID, number, "name", sem, vkind, min, max, enumset, roles)
 *      sem: LWW or MV (CAIRN_SEM_*); vkind: TEXT, INT, ENUM, DATE, REF or
 *      KEY (CAIRN_VK_*); min, max: INT range, max is TEXT's byte limit;
 *      enumset: a set of CAIRN_SCHEMA_ENUMS for ENUM fields, else NONE;
 *      roles: 0 for the entity type's roles, else who may write this field.
 */
#define CAIRN_SCHEMA(ET, F)                                                                        \
    /* the plan itself: title, status, care manager, period */                                     \
    ET(PLAN, 1, "plan", SINGLETON, CAIRN__CM, 0, 5)                                                \
    F(PLAN, TITLE, 1, "title", LWW, TEXT, 0, 200, NONE, 0)                                         \
    F(PLAN, STATUS, 2, "status", MV, ENUM, 0, 0, PLAN_STATUS, 0)                                   \
    F(PLAN, CARE_MANAGER, 3, "care_manager", LWW, REF, 0, 0, NONE, 0)                              \
    F(PLAN, PERIOD_START, 4, "period_start", LWW, DATE, 0, 0, NONE, 0)                             \
    F(PLAN, PERIOD_END, 5, "period_end", LWW, DATE, 0, 0, NONE, 0)                                 \
                                                                                                   \
    /* demographics, all PHI */                                                                    \
    ET(PATIENT, 2, "patient", SINGLETON, CAIRN__CM, 0, 5)                                          \
    F(PATIENT, DISPLAY_NAME, 1, "display_name", LWW, TEXT, 0, 200, NONE, 0)                        \
    F(PATIENT, BIRTH_DATE, 2, "birth_date", LWW, DATE, 0, 0, NONE, 0)                              \
    F(PATIENT, IDENTIFIERS, 3, "identifiers", LWW, TEXT, 0, 500, NONE, 0)                          \
    F(PATIENT, PHONE, 4, "phone", LWW, TEXT, 0, 40, NONE, 0)                                       \
    F(PATIENT, LANGUAGE, 5, "language", LWW, TEXT, 0, 40, NONE, 0)                                 \
                                                                                                   \
    /* care team participants */                                                                   \
    ET(MEMBER, 3, "member", SET, CAIRN__CM, 0, 5)                                                  \
    F(MEMBER, PERSON_KEY, 1, "person_key", LWW, KEY, 0, 0, NONE, 0)                                \
    F(MEMBER, NAME, 2, "name", LWW, TEXT, 0, 200, NONE, 0)                                         \
    F(MEMBER, ROLE, 3, "role", LWW, ENUM, 0, 0, MEMBER_ROLE, 0)                                    \
    F(MEMBER, ORGANISATION, 4, "organisation", LWW, TEXT, 0, 200, NONE, 0)                         \
    F(MEMBER, CONTACT, 5, "contact", LWW, TEXT, 0, 200, NONE, 0)                                   \
                                                                                                   \
    /* clinical and social needs */                                                                \
    ET(NEED, 4, "need", SET, CAIRN__CM | CAIRN__PR | CAIRN__BH | CAIRN__OUT, 0, 4)                 \
    F(NEED, DOMAIN, 1, "domain", LWW, ENUM, 0, 0, NEED_DOMAIN, 0)                                  \
    F(NEED, DESCRIPTION, 2, "description", LWW, TEXT, 0, 2000, NONE, 0)                            \
    F(NEED, SEVERITY, 3, "severity", LWW, ENUM, 0, 0, SEVERITY, 0)                                 \
    F(NEED, STATUS, 4, "status", MV, ENUM, 0, 0, NEED_STATUS, 0)                                   \
                                                                                                   \
    /* goals, in the words of whoever sets them */                                                 \
    ET(GOAL, 5, "goal", SET,                                                                       \
       CAIRN__CM | CAIRN__PR | CAIRN__BH | CAIRN__OUT | CAIRN__PAT | CAIRN__FAM, 0, 5)             \
    F(GOAL, DESCRIPTION, 1, "description", LWW, TEXT, 0, 2000, NONE, 0)                            \
    F(GOAL, OWNER, 2, "owner", LWW, REF, 0, 0, NONE, 0)                                            \
    F(GOAL, TARGET_DATE, 3, "target_date", LWW, DATE, 0, 0, NONE, 0)                               \
    F(GOAL, LIFECYCLE, 4, "lifecycle", MV, ENUM, 0, 0, GOAL_LIFECYCLE, 0)                          \
    F(GOAL, ACHIEVEMENT, 5, "achievement", LWW, ENUM, 0, 0, GOAL_ACHIEVEMENT, 0)                   \
                                                                                                   \
    /* a link from a goal to a need */                                                             \
    ET(GOAL_NEED, 6, "goal_need", SET, CAIRN__CM | CAIRN__PR | CAIRN__BH | CAIRN__OUT, 0, 2)       \
    F(GOAL_NEED, GOAL, 1, "goal", LWW, REF, 0, 0, NONE, 0)                                         \
    F(GOAL_NEED, NEED, 2, "need", LWW, REF, 0, 0, NONE, 0)                                         \
                                                                                                   \
    /* who does what by when */                                                                    \
    ET(RESPONSIBILITY, 7, "responsibility", SET, CAIRN__CM | CAIRN__BH | CAIRN__OUT, 0, 5)         \
    F(RESPONSIBILITY, WHAT, 1, "what", LWW, TEXT, 0, 2000, NONE, 0)                                \
    F(RESPONSIBILITY, ASSIGNEE, 2, "assignee", LWW, REF, 0, 0, NONE, 0)                            \
    F(RESPONSIBILITY, GOAL, 3, "goal", LWW, REF, 0, 0, NONE, 0)                                    \
    F(RESPONSIBILITY, DUE, 4, "due", LWW, DATE, 0, 0, NONE, 0)                                     \
    F(RESPONSIBILITY, STATUS, 5, "status", MV, ENUM, 0, 0, TASK_STATUS, 0)                         \
                                                                                                   \
    /* referrals to other services */                                                              \
    ET(REFERRAL, 8, "referral", SET, CAIRN__CM | CAIRN__PR | CAIRN__BH | CAIRN__OUT, 0, 6)         \
    F(REFERRAL, TO_ORG, 1, "to_org", LWW, TEXT, 0, 200, NONE, 0)                                   \
    F(REFERRAL, SPECIALTY, 2, "specialty", LWW, TEXT, 0, 200, NONE, 0)                             \
    F(REFERRAL, REASON, 3, "reason", LWW, TEXT, 0, 2000, NONE, 0)                                  \
    F(REFERRAL, LINK, 4, "link", LWW, REF, 0, 0, NONE, 0)                                          \
    F(REFERRAL, STATUS, 5, "status", MV, ENUM, 0, 0, REFERRAL_STATUS, 0)                           \
    F(REFERRAL, APPOINTMENT, 6, "appointment", LWW, INT, 0, CAIRN_TIME_MAX, NONE, 0)               \
                                                                                                   \
    /* monitoring and follow-up, append-only */                                                    \
    ET(CHECKIN, 9, "checkin", LOG,                                                                 \
       CAIRN__CM | CAIRN__PR | CAIRN__BH | CAIRN__OUT | CAIRN__PAT | CAIRN__FAM, 0, 9)             \
    F(CHECKIN, TIME, 1, "time", LWW, INT, 0, CAIRN_TIME_MAX, NONE, 0)                              \
    F(CHECKIN, BY, 2, "by", LWW, REF, 0, 0, NONE, 0)                                               \
    F(CHECKIN, KIND, 3, "kind", LWW, ENUM, 0, 0, CHECKIN_KIND, 0)                                  \
    F(CHECKIN, ADHERENCE, 4, "adherence", LWW, ENUM, 0, 0, ADHERENCE, 0)                           \
    F(CHECKIN, BARRIERS, 5, "barriers", LWW, TEXT, 0, 2000, NONE, 0)                               \
    F(CHECKIN, PHQ9, 6, "phq9", LWW, INT, 0, 27, NONE, 0)                                          \
    F(CHECKIN, GAD7, 7, "gad7", LWW, INT, 0, 21, NONE, 0)                                          \
    F(CHECKIN, NOTE, 8, "note", LWW, TEXT, 0, CAIRN_VALUE_STR_MAX, NONE, 0)                        \
    F(CHECKIN, CORRECTS, 9, "corrects", LWW, REF, 0, 0, NONE, 0)                                   \
                                                                                                   \
    /* Start and stop dates are the only medication fields a care manager may set. */              \
    ET(MEDICATION, 10, "medication", SET, CAIRN__PR, 0, 9)                                         \
    F(MEDICATION, DRUG, 1, "drug", LWW, TEXT, 0, 200, NONE, 0)                                     \
    F(MEDICATION, CODE, 2, "code", LWW, TEXT, 0, 64, NONE, 0)                                      \
    F(MEDICATION, DOSE, 3, "dose", MV, TEXT, 0, 100, NONE, 0)                                      \
    F(MEDICATION, ROUTE, 4, "route", MV, TEXT, 0, 50, NONE, 0)                                     \
    F(MEDICATION, FREQUENCY, 5, "frequency", MV, TEXT, 0, 100, NONE, 0)                            \
    F(MEDICATION, PRESCRIBER, 6, "prescriber", LWW, REF, 0, 0, NONE, 0)                            \
    F(MEDICATION, STATUS, 7, "status", MV, ENUM, 0, 0, MED_STATUS, 0)                              \
    F(MEDICATION, START, 8, "start", LWW, DATE, 0, 0, NONE, CAIRN__PR | CAIRN__CM)                 \
    F(MEDICATION, STOP, 9, "stop", LWW, DATE, 0, 0, NONE, CAIRN__PR | CAIRN__CM)                   \
                                                                                                   \
    /* one line of the safety plan */                                                              \
    ET(SAFETY_ITEM, 11, "safety_item", SET,                                                        \
       CAIRN__CM | CAIRN__BH | CAIRN__OUT | CAIRN__PAT | CAIRN__FAM, 0, 2)                         \
    F(SAFETY_ITEM, SECTION, 1, "section", LWW, ENUM, 0, 0, SAFETY_SECTION, 0)                      \
    F(SAFETY_ITEM, TEXT, 2, "text", LWW, TEXT, 0, 1000, NONE, 0)                                   \
                                                                                                   \
    /* scope notes */                                                                              \
    ET(CONSENT, 12, "consent", SINGLETON, CAIRN__CM | CAIRN__PAT | CAIRN__FAM, 0, 1)               \
    F(CONSENT, SCOPE_NOTES, 1, "scope_notes", LWW, TEXT, 0, 2000, NONE, 0)                         \
                                                                                                   \
    /* an organisation allowed to hold the plan */                                                 \
    ET(CONSENT_ORG, 13, "consent_org", SET, CAIRN__CM | CAIRN__PAT | CAIRN__FAM, 0, 1)             \
    F(CONSENT_ORG, ORG, 1, "org", LWW, TEXT, 0, 200, NONE, 0)                                      \
                                                                                                   \
    /* Numbers 14 to 19 are unused. Only in the organisation's roster: */                          \
    ET(ROSTER_ENTRY, 20, "roster_entry", SET, CAIRN__ADM, 1, 6)                                    \
    F(ROSTER_ENTRY, KEY, 1, "key", LWW, KEY, 0, 0, NONE, 0)                                        \
    F(ROSTER_ENTRY, NAME, 2, "name", LWW, TEXT, 0, 200, NONE, 0)                                   \
    F(ROSTER_ENTRY, ROLES, 3, "roles", LWW, INT, 1, CAIRN_ROLE_ALL, NONE, 0)                       \
    F(ROSTER_ENTRY, VALID_FROM, 4, "valid_from", LWW, INT, 0, CAIRN_TIME_MAX, NONE, 0)             \
    F(ROSTER_ENTRY, VALID_UNTIL, 5, "valid_until", LWW, INT, 0, CAIRN_TIME_MAX, NONE, 0)           \
    F(ROSTER_ENTRY, REVOKED_AT, 6, "revoked_at", LWW, INT, 0, CAIRN_TIME_MAX, NONE, 0)

/* Expansion helpers for the enums below. */
#define CAIRN__ET_ENUM(id, num, name, kind, roles, roster_only, nfields) CAIRN_ET_##id = num,
#define CAIRN__F_ENUM(et, id, num, name, sem, vkind, min, max, set, roles)                         \
    CAIRN_F_##et##_##id = num,
#define CAIRN__ET_NONE(id, num, name, kind, roles, roster_only, nfields)
#define CAIRN__F_NONE(et, id, num, name, sem, vkind, min, max, set, roles)

/* Entity types: CAIRN_ET_PLAN = 1, ... CAIRN_ET_ROSTER_ENTRY = 20. */
typedef enum cairn_etype { CAIRN_SCHEMA(CAIRN__ET_ENUM, CAIRN__F_NONE) } cairn_etype_t;

/*
 * Fields: CAIRN_F_<ENTITY>_<FIELD>, e.g. CAIRN_F_MEDICATION_DOSE = 3,
 * CAIRN_F_ROSTER_ENTRY_KEY = 1. Numbers repeat across entity types: a field
 * constant is meaningful only with its entity type.
 */
typedef enum cairn_field {
    CAIRN_F_MEMBERSHIP = 0, /* field 0 of every type: its ADDs */
    CAIRN_SCHEMA(CAIRN__ET_NONE, CAIRN__F_ENUM)
} cairn_field_t;

/* The entity id of a singleton (plan, patient, consent): all zero. */
extern const uint8_t cairn_singleton_eid[CAIRN_ENTITY_ID_BYTES];

/*
 * Schema lookups. Names are those of the table ("dose", "status"). Strings
 * returned are static. None of these fail other than as stated.
 */
const char *cairn_etype_name(uint16_t etype);                 /* NULL if unknown */
int cairn_etype_by_name(const char *name);                    /* -1 if unknown */
int cairn_field_by_name(uint16_t etype, const char *name);    /* -1 if unknown (or "membership") */
const char *cairn_field_name(uint16_t etype, uint16_t field); /* NULL if unknown; 0: "membership" */
int cairn_field_is_multi_value(uint16_t etype, uint16_t field);
/* Whether the field holds integers (else strings: text, enum, date, id, key). */
int cairn_field_is_int(uint16_t etype, uint16_t field);
/* Whether entities of etype are added and removed (not singletons). */
int cairn_etype_is_set(uint16_t etype);
/* The kind of entity type etype; 0 if unknown. */
cairn_ekind_t cairn_etype_kind(uint16_t etype);
/* The value kind of a field; 0 if unknown (and for field 0, membership). */
cairn_vkind_t cairn_field_vkind(uint16_t etype, uint16_t field);
/*
 * The names an enum field accepts, NULL-terminated, in the table's order;
 * NULL if the field is unknown or not an enum. Static.
 */
const char *const *cairn_field_enum_names(uint16_t etype, uint16_t field);

#ifdef __cplusplus
}
#endif

#endif
