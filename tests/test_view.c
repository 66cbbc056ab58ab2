/*
 * test_view.c - typed reads of a merged plan (cairn/view.h) and the roster read API.
 *
 * Plans are written through the ordinary edit path on real stores; the reads
 * are checked against what cairn_plan_state_field() says of the same state
 * and against values written here, so a getter that reported the wrong
 * entity, value, state or error fails.
 */
#include "test.h"

#include <sodium.h>

#define CLINICAL (CAIRN_ROLE_CARE_MANAGER | CAIRN_ROLE_PRESCRIBER | CAIRN_ROLE_BH_SPECIALIST)

typedef struct edit1 {
    cairn_batch_t *b;
    cairn_edit_t *e;
} edit1_t;

static edit1_t begin(cairn_store_t *s, const uint8_t *plan)
{
    edit1_t x;
    CHECK_OK(cairn_batch_begin(s, &x.b));
    CHECK_OK(cairn_edit_begin(x.b, plan, &x.e));
    return x;
}

static void commit(edit1_t x)
{
    CHECK_OK(cairn_edit_commit(x.e, NULL));
    CHECK_OK(cairn_batch_commit(x.b));
}

static void set(edit1_t x, uint16_t etype, const uint8_t *eid, uint16_t f, cairn_value_t v)
{
    CHECK_OK(cairn_edit_set(x.e, etype, eid, f, &v));
}

static void set1(cairn_store_t *s, const uint8_t *plan, uint16_t etype, const uint8_t *eid,
                 uint16_t f, cairn_value_t v)
{
    edit1_t x = begin(s, plan);
    set(x, etype, eid, f, v);
    commit(x);
}

static cairn_value_t nil(void)
{
    cairn_value_t v = {CAIRN_VALUE_NIL, 0, NULL, 0};
    return v;
}

static int str_is(const char *s, size_t len, const char *want)
{
    return s != NULL && len == strlen(want) && memcmp(s, want, len) == 0;
}

static int cmp_eid(const void *a, const void *b)
{
    return memcmp(a, b, CAIRN_ENTITY_ID_BYTES);
}

/* The present entities of etype in st, by the iterator, into out (at most max). */
static size_t collect(const cairn_plan_state_t *st, uint16_t etype,
                      uint8_t out[][CAIRN_ENTITY_ID_BYTES], size_t max)
{
    cairn_entity_iter_t it;
    const uint8_t *eid;
    size_t n = 0;
    CHECK_OK(cairn_entity_iter_init(&it, st, etype));
    while (cairn_entity_next(&it, &eid)) {
        CHECK(n < max);
        CHECK(cairn_plan_state_present(st, etype, eid));
        memcpy(out[n++], eid, CAIRN_ENTITY_ID_BYTES);
    }
    CHECK(!cairn_entity_next(&it, &eid)); /* stays at the end */
    return n;
}

/* ---- iteration ------------------------------------------------------------ */

static void test_iteration(void)
{
    test_node_t n;
    test_node_create(&n, "view-iter");
    test_org(&n, 1, CLINICAL);
    uint8_t plan[CAIRN_PLAN_ID_BYTES], needs[6][CAIRN_ENTITY_ID_BYTES], med[CAIRN_ENTITY_ID_BYTES];
    uint8_t got[8][CAIRN_ENTITY_ID_BYTES];
    cairn_plan_id_new(plan);
    cairn_plan_state_t *st;

    /* A plan never seen: no needs, and its singletons once each. */
    CHECK_OK(cairn_plan_read(n.store, plan, &st));
    CHECK(collect(st, CAIRN_ET_NEED, got, 8) == 0);
    CHECK(collect(st, CAIRN_ET_PATIENT, got, 8) == 1);
    CHECK(memcmp(got[0], cairn_singleton_eid, CAIRN_ENTITY_ID_BYTES) == 0);
    cairn_plan_state_free(st);

    /* Six needs and a medication on either side of them in type order, with fields. */
    edit1_t x = begin(n.store, plan);
    set(x, CAIRN_ET_PLAN, cairn_singleton_eid, CAIRN_F_PLAN_TITLE, str("Plan"));
    CHECK_OK(cairn_edit_add(x.e, CAIRN_ET_MEDICATION, med));
    set(x, CAIRN_ET_MEDICATION, med, CAIRN_F_MEDICATION_DRUG, str("sertraline"));
    for (int i = 0; i < 6; i++) {
        CHECK_OK(cairn_edit_add(x.e, CAIRN_ET_NEED, needs[i]));
        set(x, CAIRN_ET_NEED, needs[i], CAIRN_F_NEED_DESCRIPTION, str("a need"));
    }
    commit(x);
    /* Remove two; their fields stay in the state, but they are no longer present. */
    x = begin(n.store, plan);
    CHECK_OK(cairn_edit_remove(x.e, CAIRN_ET_NEED, needs[1]));
    CHECK_OK(cairn_edit_remove(x.e, CAIRN_ET_NEED, needs[4]));
    commit(x);

    CHECK_OK(cairn_plan_read(n.store, plan, &st));
    size_t k = collect(st, CAIRN_ET_NEED, got, 8);
    CHECK(k == 4);
    uint8_t want[4][CAIRN_ENTITY_ID_BYTES];
    memcpy(want[0], needs[0], CAIRN_ENTITY_ID_BYTES);
    memcpy(want[1], needs[2], CAIRN_ENTITY_ID_BYTES);
    memcpy(want[2], needs[3], CAIRN_ENTITY_ID_BYTES);
    memcpy(want[3], needs[5], CAIRN_ENTITY_ID_BYTES);
    qsort(want, 4, CAIRN_ENTITY_ID_BYTES, cmp_eid);
    CHECK(memcmp(got, want, sizeof want) == 0); /* ascending ids, removed ones left out */
    CHECK(collect(st, CAIRN_ET_MEDICATION, got, 8) == 1);
    CHECK(memcmp(got[0], med, CAIRN_ENTITY_ID_BYTES) == 0);
    CHECK(collect(st, CAIRN_ET_GOAL, got, 8) == 0);
    CHECK(collect(st, CAIRN_ET_PLAN, got, 8) == 1);
    CHECK(collect(st, CAIRN_ET_CONSENT, got, 8) == 1); /* never written, still there */

    cairn_entity_iter_t it;
    CHECK_ERR(cairn_entity_iter_init(&it, st, 14), CAIRN_EINVAL);
    CHECK_ERR(cairn_entity_iter_init(&it, st, 0), CAIRN_EINVAL);
    CHECK_ERR(cairn_entity_iter_init(&it, NULL, CAIRN_ET_NEED), CAIRN_EINVAL);
    CHECK_ERR(cairn_entity_iter_init(NULL, st, CAIRN_ET_NEED), CAIRN_EINVAL);
    cairn_plan_state_free(st);
    test_node_destroy(&n);
}

/* Many entities of several types: the binary search finds each type's first. */
static void test_iteration_many(void)
{
    test_node_t n;
    test_node_create(&n, "view-many");
    test_org(&n, 1, CLINICAL);
    uint8_t plan[CAIRN_PLAN_ID_BYTES], eid[CAIRN_ENTITY_ID_BYTES];
    static uint8_t got[200][CAIRN_ENTITY_ID_BYTES];
    static const uint16_t types[] = {CAIRN_ET_NEED, CAIRN_ET_GOAL, CAIRN_ET_REFERRAL,
                                     CAIRN_ET_SAFETY_ITEM};
    static const size_t counts[] = {37, 1, 64, 5};
    cairn_plan_id_new(plan);
    edit1_t x = begin(n.store, plan);
    for (size_t t = 0; t < 4; t++)
        for (size_t i = 0; i < counts[t]; i++)
            CHECK_OK(cairn_edit_add(x.e, types[t], eid));
    commit(x);
    cairn_plan_state_t *st;
    CHECK_OK(cairn_plan_read(n.store, plan, &st));
    for (size_t t = 0; t < 4; t++) {
        size_t k = collect(st, types[t], got, 200);
        CHECK(k == counts[t]);
        for (size_t i = 1; i < k; i++)
            CHECK(memcmp(got[i - 1], got[i], CAIRN_ENTITY_ID_BYTES) < 0);
    }
    CHECK(collect(st, CAIRN_ET_MEDICATION, got, 200) == 0);
    CHECK(collect(st, CAIRN_ET_MEMBER, got, 200) == 0);
    cairn_plan_state_free(st);
    test_node_destroy(&n);
}

/* ---- getters --------------------------------------------------------------- */

static void test_getters(void)
{
    test_node_t n;
    test_node_create(&n, "view-get");
    test_org(&n, 1, CLINICAL);
    uint8_t plan[CAIRN_PLAN_ID_BYTES], need[CAIRN_ENTITY_ID_BYTES], ref[CAIRN_ENTITY_ID_BYTES];
    uint8_t member[CAIRN_ENTITY_ID_BYTES], goal[CAIRN_ENTITY_ID_BYTES];
    uint8_t referral[CAIRN_ENTITY_ID_BYTES], gone[CAIRN_ENTITY_ID_BYTES];
    uint8_t never[CAIRN_ENTITY_ID_BYTES] = {7}, key[32];
    char hex[65];
    cairn_plan_id_new(plan);

    edit1_t x = begin(n.store, plan);
    set(x, CAIRN_ET_PLAN, cairn_singleton_eid, CAIRN_F_PLAN_TITLE, str("Care plan"));
    set(x, CAIRN_ET_PLAN, cairn_singleton_eid, CAIRN_F_PLAN_PERIOD_START, str("2025-01-01"));
    set(x, CAIRN_ET_PATIENT, cairn_singleton_eid, CAIRN_F_PATIENT_PHONE, str(""));
    CHECK_OK(cairn_edit_add(x.e, CAIRN_ET_NEED, need));
    set(x, CAIRN_ET_NEED, need, CAIRN_F_NEED_DOMAIN, str("housing"));
    set(x, CAIRN_ET_NEED, need, CAIRN_F_NEED_DESCRIPTION, str("needs a flat"));
    CHECK_OK(cairn_edit_add(x.e, CAIRN_ET_MEMBER, member));
    sodium_bin2hex(hex, sizeof hex, n.pk, 32);
    set(x, CAIRN_ET_MEMBER, member, CAIRN_F_MEMBER_PERSON_KEY, str(hex));
    CHECK_OK(cairn_edit_add(x.e, CAIRN_ET_GOAL, goal));
    sodium_bin2hex(hex, sizeof hex, member, CAIRN_ENTITY_ID_BYTES);
    set(x, CAIRN_ET_GOAL, goal, CAIRN_F_GOAL_OWNER, str(hex));
    CHECK_OK(cairn_edit_add(x.e, CAIRN_ET_REFERRAL, referral));
    set(x, CAIRN_ET_REFERRAL, referral, CAIRN_F_REFERRAL_APPOINTMENT, num(1746268272345));
    CHECK_OK(cairn_edit_add(x.e, CAIRN_ET_NEED, gone));
    set(x, CAIRN_ET_NEED, gone, CAIRN_F_NEED_DESCRIPTION, str("removed"));
    commit(x);
    x = begin(n.store, plan);
    set(x, CAIRN_ET_PLAN, cairn_singleton_eid, CAIRN_F_PLAN_PERIOD_START, nil()); /* cleared */
    set(x, CAIRN_ET_REFERRAL, referral, CAIRN_F_REFERRAL_APPOINTMENT, num(0));
    CHECK_OK(cairn_edit_remove(x.e, CAIRN_ET_NEED, gone));
    commit(x);

    cairn_plan_state_t *st;
    CHECK_OK(cairn_plan_read(n.store, plan, &st));
    const char *s = "untouched";
    size_t len = 99;
    int64_t i = 42;
    cairn_fstate_t fs = CAIRN_FIELD_CONFLICT;

    /* Set, on a singleton and on a set entity. */
    CHECK_OK(cairn_entity_str(st, CAIRN_ET_PLAN, cairn_singleton_eid, CAIRN_F_PLAN_TITLE, &s, &len,
                              &fs));
    CHECK(str_is(s, len, "Care plan") && fs == CAIRN_FIELD_SET);
    CHECK_OK(cairn_entity_str(st, CAIRN_ET_NEED, need, CAIRN_F_NEED_DOMAIN, &s, &len, &fs));
    CHECK(str_is(s, len, "housing") && fs == CAIRN_FIELD_SET);
    CHECK_OK(cairn_entity_str(st, CAIRN_ET_NEED, need, CAIRN_F_NEED_DESCRIPTION, &s, &len, NULL));
    CHECK(str_is(s, len, "needs a flat"));
    /* The empty string is a value, not unset. */
    CHECK_OK(cairn_entity_str(st, CAIRN_ET_PATIENT, cairn_singleton_eid, CAIRN_F_PATIENT_PHONE, &s,
                              &len, &fs));
    CHECK(s != NULL && len == 0 && fs == CAIRN_FIELD_SET);
    /* Never written, and cleared: unset, NULL. */
    CHECK_OK(cairn_entity_str(st, CAIRN_ET_NEED, need, CAIRN_F_NEED_SEVERITY, &s, &len, &fs));
    CHECK(s == NULL && len == 0 && fs == CAIRN_FIELD_UNSET);
    s = "x";
    CHECK_OK(cairn_entity_str(st, CAIRN_ET_PLAN, cairn_singleton_eid, CAIRN_F_PLAN_PERIOD_START, &s,
                              &len, &fs));
    CHECK(s == NULL && len == 0 && fs == CAIRN_FIELD_UNSET);
    CHECK_OK(cairn_entity_str(st, CAIRN_ET_CONSENT, cairn_singleton_eid,
                              CAIRN_F_CONSENT_SCOPE_NOTES, &s, &len, &fs));
    CHECK(s == NULL && fs == CAIRN_FIELD_UNSET);

    /* Integers: a value, 0 written (set), unset. */
    CHECK_OK(
        cairn_entity_int(st, CAIRN_ET_REFERRAL, referral, CAIRN_F_REFERRAL_APPOINTMENT, &i, &fs));
    CHECK(i == 0 && fs == CAIRN_FIELD_SET);
    cairn_field_view_t v;
    CHECK_OK(
        cairn_entity_values(st, CAIRN_ET_REFERRAL, referral, CAIRN_F_REFERRAL_APPOINTMENT, &v));
    CHECK(v.nvalues == 1 && v.values[0].type == CAIRN_VALUE_INT && v.values[0].i == 0);
    i = 42;
    CHECK_OK(
        cairn_entity_int(st, CAIRN_ET_REFERRAL, referral, CAIRN_F_REFERRAL_APPOINTMENT, &i, NULL));
    CHECK(i == 0);

    /* Refs and keys decode to their bytes; unset ones are zeros. */
    CHECK_OK(cairn_entity_ref(st, CAIRN_ET_GOAL, goal, CAIRN_F_GOAL_OWNER, ref, &fs));
    CHECK(memcmp(ref, member, CAIRN_ENTITY_ID_BYTES) == 0 && fs == CAIRN_FIELD_SET);
    CHECK_OK(cairn_entity_key(st, CAIRN_ET_MEMBER, member, CAIRN_F_MEMBER_PERSON_KEY, key, &fs));
    CHECK(memcmp(key, n.pk, 32) == 0 && fs == CAIRN_FIELD_SET);
    memset(ref, 0xff, sizeof ref);
    CHECK_OK(cairn_entity_ref(st, CAIRN_ET_PLAN, cairn_singleton_eid, CAIRN_F_PLAN_CARE_MANAGER,
                              ref, &fs));
    CHECK(fs == CAIRN_FIELD_UNSET && sodium_is_zero(ref, sizeof ref));
    /* Refs are strings too. */
    CHECK_OK(cairn_entity_str(st, CAIRN_ET_GOAL, goal, CAIRN_F_GOAL_OWNER, &s, &len, &fs));
    CHECK(str_is(s, len, hex));

    /* The wrong getter for the field's kind, unknown fields and types: EINVAL. */
    CHECK_ERR(cairn_entity_int(st, CAIRN_ET_PLAN, cairn_singleton_eid, CAIRN_F_PLAN_TITLE, &i, &fs),
              CAIRN_EINVAL);
    CHECK_ERR(cairn_entity_str(st, CAIRN_ET_REFERRAL, referral, CAIRN_F_REFERRAL_APPOINTMENT, &s,
                               &len, &fs),
              CAIRN_EINVAL);
    CHECK_ERR(cairn_entity_ref(st, CAIRN_ET_NEED, need, CAIRN_F_NEED_DESCRIPTION, ref, &fs),
              CAIRN_EINVAL);
    CHECK_ERR(cairn_entity_key(st, CAIRN_ET_GOAL, goal, CAIRN_F_GOAL_OWNER, key, &fs),
              CAIRN_EINVAL);
    CHECK_ERR(cairn_entity_ref(st, CAIRN_ET_MEMBER, member, CAIRN_F_MEMBER_PERSON_KEY, ref, &fs),
              CAIRN_EINVAL);
    CHECK_ERR(cairn_entity_str(st, CAIRN_ET_NEED, need, CAIRN_F_MEMBERSHIP, &s, &len, &fs),
              CAIRN_EINVAL);
    CHECK_ERR(cairn_entity_values(st, CAIRN_ET_NEED, need, CAIRN_F_MEMBERSHIP, &v), CAIRN_EINVAL);
    CHECK_ERR(cairn_entity_str(st, CAIRN_ET_NEED, need, 5, &s, &len, &fs), CAIRN_EINVAL);
    CHECK_ERR(cairn_entity_str(st, 14, need, 1, &s, &len, &fs), CAIRN_EINVAL);
    CHECK_ERR(cairn_entity_str(NULL, CAIRN_ET_NEED, need, 1, &s, &len, &fs), CAIRN_EINVAL);
    CHECK_ERR(cairn_entity_str(st, CAIRN_ET_NEED, NULL, 1, &s, &len, &fs), CAIRN_EINVAL);
    CHECK_ERR(cairn_entity_str(st, CAIRN_ET_NEED, need, 1, NULL, &len, &fs), CAIRN_EINVAL);
    CHECK_ERR(
        cairn_entity_int(st, CAIRN_ET_REFERRAL, referral, CAIRN_F_REFERRAL_APPOINTMENT, NULL, &fs),
        CAIRN_EINVAL);

    /* Absent entities: never added, and removed (its field is still in the state). */
    CHECK_ERR(cairn_entity_str(st, CAIRN_ET_NEED, never, CAIRN_F_NEED_DOMAIN, &s, &len, &fs),
              CAIRN_ENOTFOUND);
    CHECK(cairn_plan_state_field(st, CAIRN_ET_NEED, gone, CAIRN_F_NEED_DESCRIPTION, &v) == 0);
    CHECK_ERR(cairn_entity_str(st, CAIRN_ET_NEED, gone, CAIRN_F_NEED_DESCRIPTION, &s, &len, &fs),
              CAIRN_ENOTFOUND);
    CHECK_ERR(cairn_entity_values(st, CAIRN_ET_NEED, gone, CAIRN_F_NEED_DESCRIPTION, &v),
              CAIRN_ENOTFOUND);
    CHECK_ERR(cairn_entity_int(st, CAIRN_ET_REFERRAL, never, CAIRN_F_REFERRAL_APPOINTMENT, &i, &fs),
              CAIRN_ENOTFOUND);

    /* A field never written: no values, named. */
    CHECK_OK(cairn_entity_values(st, CAIRN_ET_NEED, need, CAIRN_F_NEED_STATUS, &v));
    CHECK(v.nvalues == 0 && v.values == NULL && !v.conflict);
    CHECK(v.etype == CAIRN_ET_NEED && v.field == CAIRN_F_NEED_STATUS);
    CHECK(memcmp(v.eid, need, CAIRN_ENTITY_ID_BYTES) == 0);
    cairn_plan_state_free(st);
    test_node_destroy(&n);
}

/* Concurrent writes: a multi-value conflict and a last-writer-wins race. */
static void test_conflicts(void)
{
    test_node_t n[2];
    test_node_create(&n[0], "view-a");
    test_node_create(&n[1], "view-b");
    test_org(n, 2, CLINICAL);
    uint8_t plan[CAIRN_PLAN_ID_BYTES], med[CAIRN_ENTITY_ID_BYTES];
    cairn_plan_id_new(plan);
    edit1_t x = begin(n[0].store, plan);
    CHECK_OK(cairn_edit_add(x.e, CAIRN_ET_MEDICATION, med));
    set(x, CAIRN_ET_MEDICATION, med, CAIRN_F_MEDICATION_DOSE, str("50 mg"));
    commit(x);
    CHECK(test_copy_plan(n[0].store, n[1].store, plan) == 0);
    set1(n[0].store, plan, CAIRN_ET_MEDICATION, med, CAIRN_F_MEDICATION_DOSE, str("100 mg"));
    set1(n[1].store, plan, CAIRN_ET_MEDICATION, med, CAIRN_F_MEDICATION_DOSE, str("25 mg"));
    set1(n[0].store, plan, CAIRN_ET_PLAN, cairn_singleton_eid, CAIRN_F_PLAN_TITLE, str("A"));
    set1(n[1].store, plan, CAIRN_ET_PLAN, cairn_singleton_eid, CAIRN_F_PLAN_TITLE, str("B"));
    /* A clear against a value: still a conflict; values[0] may be the clear. */
    set1(n[0].store, plan, CAIRN_ET_MEDICATION, med, CAIRN_F_MEDICATION_ROUTE, str("oral"));
    CHECK(test_copy_plan(n[0].store, n[1].store, plan) == 0);
    set1(n[0].store, plan, CAIRN_ET_MEDICATION, med, CAIRN_F_MEDICATION_ROUTE, nil());
    set1(n[1].store, plan, CAIRN_ET_MEDICATION, med, CAIRN_F_MEDICATION_ROUTE, str("oral"));
    CHECK(test_copy_plan(n[0].store, n[1].store, plan) == 0);
    CHECK(test_copy_plan(n[1].store, n[0].store, plan) == 0);

    cairn_plan_state_t *st;
    CHECK_OK(cairn_plan_read(n[0].store, plan, &st));
    const char *s;
    size_t len;
    cairn_fstate_t fs;
    cairn_field_view_t v, raw;
    CHECK_OK(
        cairn_entity_str(st, CAIRN_ET_MEDICATION, med, CAIRN_F_MEDICATION_DOSE, &s, &len, &fs));
    CHECK(fs == CAIRN_FIELD_CONFLICT);
    CHECK_OK(cairn_entity_values(st, CAIRN_ET_MEDICATION, med, CAIRN_F_MEDICATION_DOSE, &v));
    CHECK(v.nvalues == 2 && v.conflict);
    CHECK(s == v.values[0].s && len == v.values[0].len); /* the greatest of the two */
    int has100 = 0, has25 = 0;
    for (size_t k = 0; k < v.nvalues; k++) {
        has100 |= str_is(v.values[k].s, v.values[k].len, "100 mg");
        has25 |= str_is(v.values[k].s, v.values[k].len, "25 mg");
    }
    CHECK(has100 && has25);
    CHECK(cairn_plan_state_field(st, CAIRN_ET_MEDICATION, med, CAIRN_F_MEDICATION_DOSE, &raw) == 0);
    CHECK(raw.values == v.values && raw.hlcs == v.hlcs && raw.authors == v.authors);

    /* Last-writer-wins: set, not in conflict, with the loser still among the values. */
    CHECK_OK(cairn_entity_str(st, CAIRN_ET_PLAN, cairn_singleton_eid, CAIRN_F_PLAN_TITLE, &s, &len,
                              &fs));
    CHECK(fs == CAIRN_FIELD_SET && (str_is(s, len, "A") || str_is(s, len, "B")));
    CHECK_OK(cairn_entity_values(st, CAIRN_ET_PLAN, cairn_singleton_eid, CAIRN_F_PLAN_TITLE, &v));
    CHECK(v.nvalues == 2 && !v.conflict && s == v.values[0].s);

    /* The clear and the value, in conflict: shown is values[0], NULL if the clear. */
    CHECK_OK(
        cairn_entity_str(st, CAIRN_ET_MEDICATION, med, CAIRN_F_MEDICATION_ROUTE, &s, &len, &fs));
    CHECK_OK(cairn_entity_values(st, CAIRN_ET_MEDICATION, med, CAIRN_F_MEDICATION_ROUTE, &v));
    CHECK(fs == CAIRN_FIELD_CONFLICT && v.nvalues == 2);
    if (v.values[0].type == CAIRN_VALUE_NIL)
        CHECK(s == NULL && len == 0 && v.values[1].type == CAIRN_VALUE_STR);
    else
        CHECK(str_is(s, len, "oral") && v.values[1].type == CAIRN_VALUE_NIL);
    cairn_plan_state_free(st);

    /* Resolved by a write that saw both. */
    set1(n[1].store, plan, CAIRN_ET_MEDICATION, med, CAIRN_F_MEDICATION_DOSE, str("75 mg"));
    CHECK(test_copy_plan(n[1].store, n[0].store, plan) == 0);
    CHECK_OK(cairn_plan_read(n[0].store, plan, &st));
    CHECK_OK(
        cairn_entity_str(st, CAIRN_ET_MEDICATION, med, CAIRN_F_MEDICATION_DOSE, &s, &len, &fs));
    CHECK(fs == CAIRN_FIELD_SET && str_is(s, len, "75 mg"));
    cairn_plan_state_free(st);
    test_node_destroy(&n[0]);
    test_node_destroy(&n[1]);
}

/* ---- the roster ------------------------------------------------------------ */

/* The entry of key by iteration; fails the test unless exactly one. */
static cairn_roster_entry_t entry_of(const cairn_plan_state_t *roster, const uint8_t *key)
{
    cairn_roster_iter_t it;
    cairn_roster_entry_t e, found;
    size_t n = 0;
    cairn_err_t err;
    uint8_t last[CAIRN_ENTITY_ID_BYTES] = {0};
    CHECK_OK(cairn_roster_iter_init(&it, roster));
    while ((err = cairn_roster_next(&it, &e)) == CAIRN_OK) {
        CHECK(e.present);
        CHECK(memcmp(last, e.eid, CAIRN_ENTITY_ID_BYTES) < 0); /* ascending ids */
        memcpy(last, e.eid, CAIRN_ENTITY_ID_BYTES);
        if (e.has_key && memcmp(e.key, key, 32) == 0) {
            found = e;
            n++;
        }
    }
    CHECK_ERR(err, CAIRN_ENOTFOUND);
    CHECK(n == 1);
    return found;
}

static int same_entry(const cairn_roster_entry_t *a, const cairn_roster_entry_t *b)
{
    return memcmp(a->eid, b->eid, sizeof a->eid) == 0 && a->has_key == b->has_key &&
           memcmp(a->key, b->key, sizeof a->key) == 0 && a->name_len == b->name_len &&
           (a->name == NULL) == (b->name == NULL) &&
           (a->name == NULL || memcmp(a->name, b->name, a->name_len) == 0) &&
           a->roles == b->roles && a->valid_from == b->valid_from &&
           a->valid_until == b->valid_until && a->revoked_at == b->revoked_at &&
           a->present == b->present;
}

static size_t roster_size(const cairn_plan_state_t *roster)
{
    cairn_roster_iter_t it;
    cairn_roster_entry_t e;
    size_t n = 0;
    CHECK_OK(cairn_roster_iter_init(&it, roster));
    while (cairn_roster_next(&it, &e) == CAIRN_OK)
        n++;
    return n;
}

static void test_roster(void)
{
    test_node_t n[3], lone;
    test_node_create(&n[0], "view-r0");
    test_node_create(&n[1], "view-r1");
    test_node_create(&n[2], "view-r2");
    test_node_create(&lone, "view-lone");
    cairn_plan_state_t *roster;
    CHECK_ERR(cairn_roster_read(n[0].store, &roster), CAIRN_ENOORG); /* no organisation */
    test_org(n, 3, CLINICAL);
    uint8_t stranger[32];
    randombytes_buf(stranger, sizeof stranger);
    CHECK_OK(cairn_roster_put(n[0].store, n[2].pk, "nurse", CAIRN_ROLE_OUTREACH, 1000, 900000));

    CHECK_OK(cairn_roster_read(n[0].store, &roster));
    CHECK(roster_size(roster) == 3);
    cairn_roster_entry_t e = entry_of(roster, n[0].pk), g;
    uint8_t eid[CAIRN_ENTITY_ID_BYTES];
    cairn_roster_entry_id(n[0].pk, eid);
    CHECK(memcmp(e.eid, eid, CAIRN_ENTITY_ID_BYTES) == 0); /* the id ingest derives */
    CHECK(str_is(e.name, e.name_len, "node-0"));
    CHECK(e.roles == (CLINICAL | CAIRN_ROLE_ADMIN));
    CHECK(e.valid_from == 0 && e.valid_until == 0 && e.revoked_at == 0);
    e = entry_of(roster, n[2].pk);
    cairn_roster_entry_id(n[2].pk, eid);
    CHECK(memcmp(e.eid, eid, CAIRN_ENTITY_ID_BYTES) == 0);
    CHECK(str_is(e.name, e.name_len, "nurse") && e.roles == CAIRN_ROLE_OUTREACH);
    CHECK(e.valid_from == 1000 && e.valid_until == 900000 && e.revoked_at == 0);
    CHECK_OK(cairn_roster_get(roster, n[2].pk, &g));
    CHECK(same_entry(&g, &e));
    CHECK_ERR(cairn_roster_get(roster, stranger, &g), CAIRN_ENOTFOUND);
    CHECK_ERR(cairn_roster_get(NULL, stranger, &g), CAIRN_EINVAL);
    cairn_plan_state_free(roster);

    /* Revoked: still listed, with the time. */
    CHECK_OK(cairn_roster_revoke(n[0].store, n[1].pk, 5000));
    CHECK_OK(cairn_roster_read(n[0].store, &roster));
    e = entry_of(roster, n[1].pk);
    CHECK(e.revoked_at == 5000 && e.roles == CLINICAL && str_is(e.name, e.name_len, "node-1"));
    CHECK(roster_size(roster) == 3);
    cairn_plan_state_free(roster);

    /* Enrolled again: the revocation is lifted, the new window and roles read back. */
    CHECK_OK(cairn_roster_put(n[0].store, n[1].pk, "node-1 again", CAIRN_ROLE_PRESCRIBER, 7000, 0));
    CHECK_OK(cairn_roster_read(n[0].store, &roster));
    e = entry_of(roster, n[1].pk);
    CHECK(e.revoked_at == 0 && e.valid_from == 7000 && e.valid_until == 0);
    CHECK(e.roles == CAIRN_ROLE_PRESCRIBER && str_is(e.name, e.name_len, "node-1 again"));
    cairn_plan_state_free(roster);

    /* Removed by an administrator's edit: not listed; cairn_roster_get shows it as removed. */
    uint8_t org[32], rplan[CAIRN_PLAN_ID_BYTES];
    CHECK_OK(cairn_org_key(n[0].store, org));
    cairn_roster_plan_id(org, rplan);
    cairn_roster_entry_id(n[2].pk, eid);
    edit1_t x = begin(n[0].store, rplan);
    CHECK_OK(cairn_edit_remove(x.e, CAIRN_ET_ROSTER_ENTRY, eid));
    commit(x);
    CHECK_OK(cairn_roster_read(n[0].store, &roster));
    CHECK(roster_size(roster) == 2);
    CHECK_OK(cairn_roster_get(roster, n[2].pk, &g));
    CHECK(!g.present && g.has_key && memcmp(g.key, n[2].pk, 32) == 0);
    CHECK(str_is(g.name, g.name_len, "nurse") && g.valid_from == 1000 && g.valid_until == 900000);
    CHECK_OK(cairn_roster_get(roster, n[0].pk, &g));
    CHECK(g.present);
    cairn_plan_state_free(roster);

    /* A node that joined reads the same roster once the changes arrive. */
    CHECK(test_copy_plan(n[0].store, n[1].store, rplan) == 0);
    CHECK_OK(cairn_roster_read(n[1].store, &roster));
    CHECK(roster_size(roster) == 2);
    e = entry_of(roster, n[1].pk);
    CHECK(e.valid_from == 7000 && e.roles == CAIRN_ROLE_PRESCRIBER);
    cairn_plan_state_free(roster);

    /* Joined, nothing received yet: an empty roster. */
    CHECK_OK(cairn_org_join(lone.store, org));
    CHECK_OK(cairn_roster_read(lone.store, &roster));
    CHECK(roster_size(roster) == 0);
    CHECK_ERR(cairn_roster_get(roster, n[0].pk, &g), CAIRN_ENOTFOUND);
    cairn_plan_state_free(roster);
    for (int i = 0; i < 3; i++)
        test_node_destroy(&n[i]);
    test_node_destroy(&lone);
}

int main(void)
{
    CHECK(sodium_init() >= 0);
    RUN(test_iteration);
    RUN(test_iteration_many);
    RUN(test_getters);
    RUN(test_conflicts);
    RUN(test_roster);
    return 0;
}
