/*
 * test_schema.c - the schema table, frozen: numbers, names, semantics, kinds,
 * ranges, enum values and roles of every entity type and field.
 *
 * Entity type and field numbers and names are part of the change format, and
 * the rest of a field's row decides what ingest accepts, so every node must
 * hold the same table. The expected rows below are a literal copy of the table
 * as it stood before it was generated from an X-macro; they are not produced
 * from the table they check, so any drift in it fails here.
 */
#include "test.h"

#include "schema.h"

#define LWW CAIRN_SEM_LWW
#define MV CAIRN_SEM_MV
#define SINGLETON CAIRN_EK_SINGLETON
#define SET CAIRN_EK_SET
#define LOG CAIRN_EK_LOG
#define TEXT CAIRN_VK_TEXT
#define INT CAIRN_VK_INT
#define ENUM CAIRN_VK_ENUM
#define DATE CAIRN_VK_DATE
#define REF CAIRN_VK_REF
#define KEY CAIRN_VK_KEY
#define TIME_MAX ((int64_t)1 << 47)

typedef struct want_etype {
    uint16_t etype;
    const char *name;
    int kind;
    unsigned roles;
    int roster_only;
    uint16_t nfields;
} want_etype_t;

typedef struct want_field {
    uint16_t etype, field;
    const char *name;
    int sem, vkind;
    int64_t min, max;
    unsigned roles;
    const char *names; /* ENUM: the value names joined by commas */
} want_field_t;

/* clang-format off */
static const want_etype_t etypes[] = {
    {1, "plan", SINGLETON, 0x01, 0, 5},
    {2, "patient", SINGLETON, 0x01, 0, 5},
    {3, "member", SET, 0x01, 0, 5},
    {4, "need", SET, 0x0f, 0, 4},
    {5, "goal", SET, 0x3f, 0, 5},
    {6, "goal_need", SET, 0x0f, 0, 2},
    {7, "responsibility", SET, 0x0d, 0, 5},
    {8, "referral", SET, 0x0f, 0, 6},
    {9, "checkin", LOG, 0x3f, 0, 9},
    {10, "medication", SET, 0x02, 0, 9},
    {11, "safety_item", SET, 0x3d, 0, 2},
    {12, "consent", SINGLETON, 0x31, 0, 1},
    {13, "consent_org", SET, 0x31, 0, 1},
    {20, "roster_entry", SET, 0x40, 1, 6},
};

static const want_field_t fields[] = {
    {1, 1, "title", LWW, TEXT, 0, 200, 0x00, ""},
    {1, 2, "status", MV, ENUM, 0, 0, 0x00, "draft,active,on-hold,completed,revoked"},
    {1, 3, "care_manager", LWW, REF, 0, 0, 0x00, ""},
    {1, 4, "period_start", LWW, DATE, 0, 0, 0x00, ""},
    {1, 5, "period_end", LWW, DATE, 0, 0, 0x00, ""},
    {2, 1, "display_name", LWW, TEXT, 0, 200, 0x00, ""},
    {2, 2, "birth_date", LWW, DATE, 0, 0, 0x00, ""},
    {2, 3, "identifiers", LWW, TEXT, 0, 500, 0x00, ""},
    {2, 4, "phone", LWW, TEXT, 0, 40, 0x00, ""},
    {2, 5, "language", LWW, TEXT, 0, 40, 0x00, ""},
    {3, 1, "person_key", LWW, KEY, 0, 0, 0x00, ""},
    {3, 2, "name", LWW, TEXT, 0, 200, 0x00, ""},
    {3, 3, "role", LWW, ENUM, 0, 0, 0x00, "care-manager,prescriber,bh-specialist,social-worker,outreach-worker,patient,family,other"},
    {3, 4, "organisation", LWW, TEXT, 0, 200, 0x00, ""},
    {3, 5, "contact", LWW, TEXT, 0, 200, 0x00, ""},
    {4, 1, "domain", LWW, ENUM, 0, 0, 0x00, "clinical,housing,transportation,vocational,nutrition,financial,social-support,safety"},
    {4, 2, "description", LWW, TEXT, 0, 2000, 0x00, ""},
    {4, 3, "severity", LWW, ENUM, 0, 0, 0x00, "low,moderate,high"},
    {4, 4, "status", MV, ENUM, 0, 0, 0x00, "open,addressed,closed"},
    {5, 1, "description", LWW, TEXT, 0, 2000, 0x00, ""},
    {5, 2, "owner", LWW, REF, 0, 0, 0x00, ""},
    {5, 3, "target_date", LWW, DATE, 0, 0, 0x00, ""},
    {5, 4, "lifecycle", MV, ENUM, 0, 0, 0x00, "proposed,active,on-hold,completed,cancelled"},
    {5, 5, "achievement", LWW, ENUM, 0, 0, 0x00, "in-progress,improving,worsening,achieved,not-achieved"},
    {6, 1, "goal", LWW, REF, 0, 0, 0x00, ""},
    {6, 2, "need", LWW, REF, 0, 0, 0x00, ""},
    {7, 1, "what", LWW, TEXT, 0, 2000, 0x00, ""},
    {7, 2, "assignee", LWW, REF, 0, 0, 0x00, ""},
    {7, 3, "goal", LWW, REF, 0, 0, 0x00, ""},
    {7, 4, "due", LWW, DATE, 0, 0, 0x00, ""},
    {7, 5, "status", MV, ENUM, 0, 0, 0x00, "requested,accepted,in-progress,completed,cancelled"},
    {8, 1, "to_org", LWW, TEXT, 0, 200, 0x00, ""},
    {8, 2, "specialty", LWW, TEXT, 0, 200, 0x00, ""},
    {8, 3, "reason", LWW, TEXT, 0, 2000, 0x00, ""},
    {8, 4, "link", LWW, REF, 0, 0, 0x00, ""},
    {8, 5, "status", MV, ENUM, 0, 0, 0x00, "draft,sent,accepted,scheduled,completed,declined,cancelled,no-show"},
    {8, 6, "appointment", LWW, INT, 0, TIME_MAX, 0x00, ""},
    {9, 1, "time", LWW, INT, 0, TIME_MAX, 0x00, ""},
    {9, 2, "by", LWW, REF, 0, 0, 0x00, ""},
    {9, 3, "kind", LWW, ENUM, 0, 0, 0x00, "visit,phone,outreach,crisis"},
    {9, 4, "adherence", LWW, ENUM, 0, 0, 0x00, "full,partial,none,unknown"},
    {9, 5, "barriers", LWW, TEXT, 0, 2000, 0x00, ""},
    {9, 6, "phq9", LWW, INT, 0, 27, 0x00, ""},
    {9, 7, "gad7", LWW, INT, 0, 21, 0x00, ""},
    {9, 8, "note", LWW, TEXT, 0, 4096, 0x00, ""},
    {9, 9, "corrects", LWW, REF, 0, 0, 0x00, ""},
    {10, 1, "drug", LWW, TEXT, 0, 200, 0x00, ""},
    {10, 2, "code", LWW, TEXT, 0, 64, 0x00, ""},
    {10, 3, "dose", MV, TEXT, 0, 100, 0x00, ""},
    {10, 4, "route", MV, TEXT, 0, 50, 0x00, ""},
    {10, 5, "frequency", MV, TEXT, 0, 100, 0x00, ""},
    {10, 6, "prescriber", LWW, REF, 0, 0, 0x00, ""},
    {10, 7, "status", MV, ENUM, 0, 0, 0x00, "active,on-hold,stopped"},
    {10, 8, "start", LWW, DATE, 0, 0, 0x03, ""},
    {10, 9, "stop", LWW, DATE, 0, 0, 0x03, ""},
    {11, 1, "section", LWW, ENUM, 0, 0, 0x00, "warning-signs,coping,people-places,professional-contacts,crisis-line,means-safety"},
    {11, 2, "text", LWW, TEXT, 0, 1000, 0x00, ""},
    {12, 1, "scope_notes", LWW, TEXT, 0, 2000, 0x00, ""},
    {13, 1, "org", LWW, TEXT, 0, 200, 0x00, ""},
    {20, 1, "key", LWW, KEY, 0, 0, 0x00, ""},
    {20, 2, "name", LWW, TEXT, 0, 200, 0x00, ""},
    {20, 3, "roles", LWW, INT, 1, 127, 0x00, ""},
    {20, 4, "valid_from", LWW, INT, 0, TIME_MAX, 0x00, ""},
    {20, 5, "valid_until", LWW, INT, 0, TIME_MAX, 0x00, ""},
    {20, 6, "revoked_at", LWW, INT, 0, TIME_MAX, 0x00, ""},
};
/* clang-format on */

#define NETYPES (sizeof etypes / sizeof etypes[0])
#define NFIELDS (sizeof fields / sizeof fields[0])

static const want_etype_t *want_etype(unsigned etype)
{
    for (size_t i = 0; i < NETYPES; i++)
        if (etypes[i].etype == etype)
            return &etypes[i];
    return NULL;
}

/* The enum names of fd joined by commas, as in the expected rows. */
static void join_names(const cairn_field_desc_t *fd, char *out, size_t n)
{
    size_t at = 0;
    out[0] = '\0';
    for (const char *const *p = fd->names; p != NULL && *p != NULL; p++) {
        int w = snprintf(out + at, n - at, "%s%s", at ? "," : "", *p);
        CHECK(w > 0 && (size_t)w < n - at);
        at += (size_t)w;
    }
}

/* Every entity type number is the expected one, and no other number is known. */
static void test_etypes(void)
{
    for (unsigned et = 0; et <= UINT16_MAX; et++) {
        const want_etype_t *w = want_etype(et);
        const cairn_etype_desc_t *d = cairn__schema_etype((uint16_t)et);
        if (w == NULL) {
            CHECK(d == NULL);
            CHECK(cairn_etype_name((uint16_t)et) == NULL);
            CHECK(!cairn_etype_is_set((uint16_t)et));
            CHECK(cairn_field_name((uint16_t)et, 0) == NULL);
            continue;
        }
        CHECK(d != NULL);
        CHECK(d->etype == w->etype);
        CHECK(strcmp(d->name, w->name) == 0);
        CHECK((int)d->kind == w->kind);
        CHECK(d->roles == w->roles);
        CHECK(d->roster_only == w->roster_only);
        CHECK(d->nfields == w->nfields);
        CHECK(strcmp(cairn_etype_name(w->etype), w->name) == 0);
        CHECK(cairn_etype_by_name(w->name) == (int)w->etype);
        CHECK(cairn_etype_is_set(w->etype) == (w->kind != SINGLETON));
        CHECK(strcmp(cairn_field_name(w->etype, 0), "membership") == 0);
        CHECK(cairn__schema_field(w->etype, 0) == NULL);
        CHECK(cairn__schema_field(w->etype, (uint16_t)(w->nfields + 1)) == NULL);
        CHECK(cairn_field_name(w->etype, (uint16_t)(w->nfields + 1)) == NULL);
    }
    CHECK(cairn_etype_by_name("nope") == -1);
    CHECK(cairn_etype_by_name(NULL) == -1);
    CHECK(cairn_etype_by_name("Plan") == -1);
}

/* Every field row is the expected one; the rows cover each type's fields exactly. */
static void test_fields(void)
{
    size_t total = 0;
    for (size_t i = 0; i < NETYPES; i++)
        total += etypes[i].nfields;
    CHECK(total == NFIELDS);
    for (size_t i = 0; i < NFIELDS; i++) {
        const want_field_t *w = &fields[i];
        const cairn_field_desc_t *fd = cairn__schema_field(w->etype, w->field);
        char names[512];
        CHECK(fd != NULL);
        CHECK(w->field <= want_etype(w->etype)->nfields);
        CHECK(strcmp(fd->name, w->name) == 0);
        CHECK((int)fd->sem == w->sem);
        CHECK((int)fd->vkind == w->vkind);
        CHECK(fd->min == w->min);
        CHECK(fd->max == w->max);
        CHECK(fd->roles == w->roles);
        join_names(fd, names, sizeof names);
        CHECK(strcmp(names, w->names) == 0);
        CHECK((fd->names != NULL) == (w->vkind == ENUM));
        CHECK(strcmp(cairn_field_name(w->etype, w->field), w->name) == 0);
        CHECK(cairn_field_by_name(w->etype, w->name) == (int)w->field);
        CHECK(cairn_field_is_multi_value(w->etype, w->field) == (w->sem == MV));
        CHECK(cairn_field_is_int(w->etype, w->field) == (w->vkind == INT));
    }
    CHECK(cairn_field_by_name(CAIRN_ET_PLAN, "membership") == -1);
    CHECK(cairn_field_by_name(CAIRN_ET_PLAN, "dose") == -1);
    CHECK(cairn_field_by_name(CAIRN_ET_PLAN, NULL) == -1);
    CHECK(cairn_field_by_name(14, "title") == -1);
    CHECK(!cairn_field_is_multi_value(CAIRN_ET_PLAN, 0));
    CHECK(!cairn_field_is_int(CAIRN_ET_ROSTER_ENTRY, 0));
}

/* The public entity type constants keep their numbers. */
static void test_constants(void)
{
    CHECK(CAIRN_ET_PLAN == 1 && CAIRN_ET_PATIENT == 2 && CAIRN_ET_MEMBER == 3);
    CHECK(CAIRN_ET_NEED == 4 && CAIRN_ET_GOAL == 5 && CAIRN_ET_GOAL_NEED == 6);
    CHECK(CAIRN_ET_RESPONSIBILITY == 7 && CAIRN_ET_REFERRAL == 8 && CAIRN_ET_CHECKIN == 9);
    CHECK(CAIRN_ET_MEDICATION == 10 && CAIRN_ET_SAFETY_ITEM == 11 && CAIRN_ET_CONSENT == 12);
    CHECK(CAIRN_ET_CONSENT_ORG == 13 && CAIRN_ET_ROSTER_ENTRY == 20);
    CHECK(CAIRN_ROLE_CARE_MANAGER == 0x01 && CAIRN_ROLE_PRESCRIBER == 0x02);
    CHECK(CAIRN_ROLE_BH_SPECIALIST == 0x04 && CAIRN_ROLE_OUTREACH == 0x08);
    CHECK(CAIRN_ROLE_PATIENT == 0x10 && CAIRN_ROLE_FAMILY == 0x20 && CAIRN_ROLE_ADMIN == 0x40);
    CHECK(CAIRN_ROLE_ALL == 0x7f);
}

/* The number of the frozen field (etype, name), or -1. */
static int want_field(uint16_t etype, const char *name)
{
    for (size_t i = 0; i < NFIELDS; i++)
        if (fields[i].etype == etype && strcmp(fields[i].name, name) == 0)
            return fields[i].field;
    return -1;
}

/* "ROSTER_ENTRY" -> "roster_entry": a constant's suffix as the name it stands for. */
static void lower(const char *s, char *out, size_t n)
{
    size_t i = 0;
    for (; s[i] != '\0' && i + 1 < n; i++)
        out[i] = (char)(s[i] >= 'A' && s[i] <= 'Z' ? s[i] - 'A' + 'a' : s[i]);
    out[i] = '\0';
}

typedef struct constant {
    unsigned etype, field;
    const char *et_id, *f_id;
} constant_t;

#define ET_ROW(id, num, name, kind, roles, roster_only, nf) {CAIRN_ET_##id, 0, #id, NULL},
#define F_ROW(et, id, num, name, sem, vkind, min, max, set, roles)                                 \
    {CAIRN_ET_##et, CAIRN_F_##et##_##id, #et, #id},
static const constant_t constants[] = {CAIRN_SCHEMA(ET_ROW, F_ROW)};

/*
 * Every generated constant names the frozen row it should: CAIRN_ET_<ID> is
 * the type whose name is <id>, CAIRN_F_<ET>_<ID> the number of its field <id>.
 */
static void test_generated(void)
{
    size_t nf = 0, net = 0;
    for (size_t i = 0; i < sizeof constants / sizeof constants[0]; i++) {
        const constant_t *c = &constants[i];
        char name[64];
        const want_etype_t *w = want_etype(c->etype);
        CHECK(w != NULL);
        lower(c->et_id, name, sizeof name);
        CHECK(strcmp(name, w->name) == 0);
        if (c->f_id == NULL) {
            net++;
            continue;
        }
        nf++;
        lower(c->f_id, name, sizeof name);
        CHECK(want_field((uint16_t)c->etype, name) == (int)c->field);
    }
    CHECK(net == NETYPES);
    CHECK(nf == NFIELDS);
    CHECK(CAIRN_F_MEMBERSHIP == 0);
    CHECK(CAIRN_F_MEDICATION_DOSE == 3 && CAIRN_F_ROSTER_ENTRY_KEY == 1);
    CHECK(CAIRN_F_ROSTER_ENTRY_REVOKED_AT == 6 && CAIRN_F_CHECKIN_CORRECTS == 9);
}

/* The lookups added with the table agree with the frozen rows. */
static void test_lookups(void)
{
    for (size_t i = 0; i < NETYPES; i++)
        CHECK((int)cairn_etype_kind(etypes[i].etype) == etypes[i].kind);
    CHECK(cairn_etype_kind(0) == 0 && cairn_etype_kind(14) == 0);
    for (size_t i = 0; i < NFIELDS; i++) {
        const want_field_t *w = &fields[i];
        CHECK((int)cairn_field_vkind(w->etype, w->field) == w->vkind);
        const char *const *names = cairn_field_enum_names(w->etype, w->field);
        CHECK((names != NULL) == (w->vkind == ENUM));
        if (names != NULL)
            CHECK(strncmp(names[0], w->names, strlen(names[0])) == 0);
    }
    CHECK(cairn_field_vkind(CAIRN_ET_PLAN, 0) == 0);
    CHECK(cairn_field_vkind(CAIRN_ET_PLAN, 6) == 0);
    CHECK(cairn_field_enum_names(CAIRN_ET_PLAN, CAIRN_F_PLAN_TITLE) == NULL);
}

int main(void)
{
    RUN(test_etypes);
    RUN(test_fields);
    RUN(test_constants);
    RUN(test_generated);
    RUN(test_lookups);
    return 0;
}
