/*
 * test_plan.c - the care plan's merge semantics, end to end through ingest.
 *
 * Nodes are real stores in temporary directories; changes travel between
 * them as their signed bytes, exactly as sync will carry them.
 */
#define _GNU_SOURCE 1 /* memmem */
#include "test.h"

#include <sodium.h>
#include <time.h>

#define CLINICAL (CAIRN_ROLE_CARE_MANAGER | CAIRN_ROLE_PRESCRIBER | CAIRN_ROLE_BH_SPECIALIST)

/* One edit setting one field, in its own batch. */
static void set1(cairn_store_t *s, const uint8_t *plan, uint16_t etype, const uint8_t *eid,
                 const char *fname, cairn_value_t v)
{
    cairn_batch_t *b;
    cairn_edit_t *e;
    CHECK_OK(cairn_batch_begin(s, &b));
    CHECK_OK(cairn_edit_begin(b, plan, &e));
    CHECK_OK(cairn_edit_set(e, etype, eid, field(etype, fname), &v));
    CHECK_OK(cairn_edit_commit(e, NULL));
    CHECK_OK(cairn_batch_commit(b));
}

static void digest_of(cairn_store_t *s, const uint8_t *plan, uint8_t out[32])
{
    cairn_plan_state_t *st;
    CHECK_OK(cairn_plan_read(s, plan, &st));
    cairn_plan_state_digest(st, out);
    cairn_plan_state_free(st);
}

static void view(cairn_store_t *s, const uint8_t *plan, uint16_t etype, const uint8_t *eid,
                 const char *fname, cairn_plan_state_t **st, cairn_field_view_t *v)
{
    CHECK_OK(cairn_plan_read(s, plan, st));
    CHECK(cairn_plan_state_field(*st, etype, eid, field(etype, fname), v) == 0);
}

static int value_is(const cairn_value_t *v, const char *s)
{
    return v->type == CAIRN_VALUE_STR && v->len == strlen(s) && memcmp(v->s, s, v->len) == 0;
}

/* ---- single node --------------------------------------------------------- */

static void test_edit_and_read(void)
{
    test_node_t n;
    test_node_create(&n, "plan-edit");
    test_org(&n, 1, CLINICAL);
    uint8_t plan[CAIRN_PLAN_ID_BYTES], need[CAIRN_ENTITY_ID_BYTES], med[CAIRN_ENTITY_ID_BYTES];
    cairn_plan_id_new(plan);

    cairn_batch_t *b;
    cairn_edit_t *e;
    CHECK_OK(cairn_batch_begin(n.store, &b));
    CHECK_OK(cairn_edit_begin(b, plan, &e));
    cairn_value_t title = str("Recovery plan"), housing = str("housing"), desc = str("Evicted");
    CHECK_OK(cairn_edit_set(e, CAIRN_ET_PLAN, cairn_singleton_eid,
                            field(CAIRN_ET_PLAN, "title"), &title));
    CHECK_OK(cairn_edit_add(e, CAIRN_ET_NEED, need));
    CHECK_OK(cairn_edit_set(e, CAIRN_ET_NEED, need, field(CAIRN_ET_NEED, "domain"), &housing));
    CHECK_OK(cairn_edit_set(e, CAIRN_ET_NEED, need, field(CAIRN_ET_NEED, "description"), &desc));
    CHECK_OK(cairn_edit_commit(e, NULL));
    CHECK_OK(cairn_edit_begin(b, plan, &e));
    cairn_value_t dose = str("50 mg");
    CHECK_OK(cairn_edit_add(e, CAIRN_ET_MEDICATION, med));
    CHECK_OK(cairn_edit_set(e, CAIRN_ET_MEDICATION, med, field(CAIRN_ET_MEDICATION, "dose"),
                            &dose));
    CHECK_OK(cairn_edit_commit(e, NULL));
    CHECK_OK(cairn_batch_commit(b));

    cairn_plan_state_t *st;
    cairn_field_view_t v;
    view(n.store, plan, CAIRN_ET_PLAN, cairn_singleton_eid, "title", &st, &v);
    CHECK(v.nvalues == 1 && value_is(&v.values[0], "Recovery plan") && !v.conflict);
    CHECK(cairn_plan_state_present(st, CAIRN_ET_NEED, need));
    CHECK(cairn_plan_state_present(st, CAIRN_ET_MEDICATION, med));
    CHECK(cairn_plan_state_changes(st) == 2);
    cairn_plan_state_free(st);

    /* Bad values are refused before anything is signed. */
    CHECK_OK(cairn_batch_begin(n.store, &b));
    CHECK_OK(cairn_edit_begin(b, plan, &e));
    cairn_value_t bad = str("sometimes"), phq = num(28);
    CHECK_ERR(cairn_edit_set(e, CAIRN_ET_NEED, need, field(CAIRN_ET_NEED, "status"), &bad),
              CAIRN_EINVAL);
    CHECK_ERR(cairn_edit_set(e, CAIRN_ET_CHECKIN, need, field(CAIRN_ET_CHECKIN, "phq9"), &phq),
              CAIRN_EINVAL);
    CHECK_ERR(cairn_edit_commit(e, NULL), CAIRN_EINVAL); /* empty */
    cairn_batch_abort(b);

    /* Two open edits of one plan: the second to commit would reuse the chain position. */
    cairn_edit_t *e2;
    cairn_value_t t1 = str("One"), t2 = str("Two");
    CHECK_OK(cairn_batch_begin(n.store, &b));
    CHECK_OK(cairn_edit_begin(b, plan, &e));
    CHECK_OK(cairn_edit_begin(b, plan, &e2));
    CHECK_OK(cairn_edit_set(e, CAIRN_ET_PLAN, cairn_singleton_eid, field(CAIRN_ET_PLAN, "title"),
                            &t1));
    CHECK_OK(cairn_edit_set(e2, CAIRN_ET_PLAN, cairn_singleton_eid, field(CAIRN_ET_PLAN, "title"),
                            &t2));
    CHECK_OK(cairn_edit_commit(e, NULL));
    CHECK_ERR(cairn_edit_commit(e2, NULL), CAIRN_ECONFLICT);
    CHECK_OK(cairn_batch_commit(b));

    /* Removing the need hides it; the rebuild agrees with the incremental state. */
    CHECK_OK(cairn_batch_begin(n.store, &b));
    CHECK_OK(cairn_edit_begin(b, plan, &e));
    CHECK_OK(cairn_edit_remove(e, CAIRN_ET_NEED, need));
    CHECK_OK(cairn_edit_commit(e, NULL));
    CHECK_OK(cairn_batch_commit(b));
    CHECK_OK(cairn_plan_read(n.store, plan, &st));
    CHECK(!cairn_plan_state_present(st, CAIRN_ET_NEED, need));
    cairn_plan_state_free(st);
    uint8_t d1[32], d2[32];
    digest_of(n.store, plan, d1);
    CHECK_OK(cairn_plan_rebuild(n.store, plan, d2));
    CHECK(memcmp(d1, d2, 32) == 0);

    /* A field of an absent entity (removed, or never added) is refused, not signed unseen. */
    uint8_t never[CAIRN_ENTITY_ID_BYTES];
    randombytes_buf(never, sizeof never);
    cairn_value_t met = str("addressed");
    CHECK_OK(cairn_batch_begin(n.store, &b));
    CHECK_OK(cairn_edit_begin(b, plan, &e));
    CHECK_ERR(cairn_edit_set(e, CAIRN_ET_NEED, need, field(CAIRN_ET_NEED, "status"), &met),
              CAIRN_ENOTFOUND);
    CHECK_ERR(cairn_edit_set(e, CAIRN_ET_NEED, never, field(CAIRN_ET_NEED, "status"), &met),
              CAIRN_ENOTFOUND);
    CHECK_ERR(cairn_edit_set(e, CAIRN_ET_MEDICATION, never,
                             field(CAIRN_ET_MEDICATION, "dose"), &dose),
              CAIRN_ENOTFOUND);
    CHECK_ERR(cairn_edit_commit(e, NULL), CAIRN_EINVAL); /* nothing was taken */
    cairn_batch_abort(b);
    CHECK_OK(cairn_plan_read(n.store, plan, &st));
    CHECK(cairn_plan_state_changes(st) == 4);
    cairn_plan_state_free(st);
    digest_of(n.store, plan, d2);
    CHECK(memcmp(d1, d2, 32) == 0);
    test_node_destroy(&n);
}

/* ---- two nodes: concurrency ------------------------------------------------ */

static void two_nodes(test_node_t *n, uint8_t *plan)
{
    test_node_create(&n[0], "plan-a");
    test_node_create(&n[1], "plan-b");
    test_org(n, 2, CLINICAL);
    cairn_plan_id_new(plan);
    set1(n[0].store, plan, CAIRN_ET_PLAN, cairn_singleton_eid, "title", str("Plan"));
    test_copy_plan(n[0].store, n[1].store, plan);
}

static void exchange(test_node_t *n, const uint8_t *plan)
{
    CHECK(test_copy_plan(n[0].store, n[1].store, plan) == 0);
    CHECK(test_copy_plan(n[1].store, n[0].store, plan) == 0);
    uint8_t d0[32], d1[32];
    digest_of(n[0].store, plan, d0);
    digest_of(n[1].store, plan, d1);
    CHECK(memcmp(d0, d1, 32) == 0);
}

static void test_conflicts_exactly_when_concurrent(void)
{
    test_node_t n[2];
    uint8_t plan[CAIRN_PLAN_ID_BYTES];
    two_nodes(n, plan);
    cairn_plan_state_t *st;
    cairn_field_view_t v;

    /* Sequential: B sees A's status before writing its own. No conflict. */
    set1(n[0].store, plan, CAIRN_ET_PLAN, cairn_singleton_eid, "status", str("draft"));
    exchange(n, plan);
    set1(n[1].store, plan, CAIRN_ET_PLAN, cairn_singleton_eid, "status", str("active"));
    exchange(n, plan);
    view(n[0].store, plan, CAIRN_ET_PLAN, cairn_singleton_eid, "status", &st, &v);
    CHECK(v.nvalues == 1 && !v.conflict && value_is(&v.values[0], "active"));
    CHECK(cairn_plan_state_conflicts(st) == 0);
    cairn_plan_state_free(st);

    /* Concurrent: both kept, on both nodes, and the field is in conflict. */
    set1(n[0].store, plan, CAIRN_ET_PLAN, cairn_singleton_eid, "status", str("on-hold"));
    set1(n[1].store, plan, CAIRN_ET_PLAN, cairn_singleton_eid, "status", str("completed"));
    exchange(n, plan);
    for (int i = 0; i < 2; i++) {
        view(n[i].store, plan, CAIRN_ET_PLAN, cairn_singleton_eid, "status", &st, &v);
        CHECK(v.nvalues == 2 && v.conflict);
        CHECK(cairn_plan_state_conflicts(st) == 1);
        cairn_plan_state_free(st);
    }
    /* A write that saw both resolves it everywhere. */
    set1(n[1].store, plan, CAIRN_ET_PLAN, cairn_singleton_eid, "status", str("active"));
    exchange(n, plan);
    view(n[0].store, plan, CAIRN_ET_PLAN, cairn_singleton_eid, "status", &st, &v);
    CHECK(v.nvalues == 1 && !v.conflict && value_is(&v.values[0], "active"));
    cairn_plan_state_free(st);

    /* Concurrent last-writer-wins: one winner, the same on both, the loser kept. */
    set1(n[0].store, plan, CAIRN_ET_PLAN, cairn_singleton_eid, "title", str("Title A"));
    set1(n[1].store, plan, CAIRN_ET_PLAN, cairn_singleton_eid, "title", str("Title B"));
    exchange(n, plan);
    cairn_field_view_t v1;
    cairn_plan_state_t *st1;
    view(n[0].store, plan, CAIRN_ET_PLAN, cairn_singleton_eid, "title", &st, &v);
    view(n[1].store, plan, CAIRN_ET_PLAN, cairn_singleton_eid, "title", &st1, &v1);
    CHECK(v.nvalues == 2 && !v.conflict);
    CHECK(v.values[0].len == v1.values[0].len &&
          memcmp(v.values[0].s, v1.values[0].s, v.values[0].len) == 0);
    CHECK(v.hlcs[0] >= v.hlcs[1]);
    cairn_plan_state_free(st);
    cairn_plan_state_free(st1);
    test_node_destroy(&n[0]);
    test_node_destroy(&n[1]);
}

/* ---- a fast clock ----------------------------------------------------------- */

static uint64_t wall_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static uint64_t three_days_fast(void *ctx)
{
    (void)ctx;
    return wall_now() + 3ull * 24 * 3600 * 1000;
}

static void test_fast_clock(void)
{
    test_node_t n[2];
    uint8_t plan[CAIRN_PLAN_ID_BYTES];
    two_nodes(n, plan);
    cairn_store_set_clock(n[1].store, three_days_fast, NULL);
    set1(n[1].store, plan, CAIRN_ET_PLAN, cairn_singleton_eid, "title", str("From the future"));
    CHECK(test_copy_plan(n[1].store, n[0].store, plan) == 0);

    /* A follows the fast clock no further than its bound (24 h). */
    uint64_t bound = wall_now() + CAIRN_HLC_DEFAULT_MAX_AHEAD_MS;
    CHECK(CAIRN_HLC_MS(cairn_store_hlc(n[0].store)) <= bound);
    CHECK(CAIRN_HLC_MS(cairn_store_hlc(n[0].store)) >= bound - 60000);

    /* A later edit that saw the fast write replaces it, though its clock is lower. */
    set1(n[0].store, plan, CAIRN_ET_PLAN, cairn_singleton_eid, "title", str("Corrected"));
    exchange(n, plan);
    cairn_plan_state_t *st;
    cairn_field_view_t v;
    view(n[1].store, plan, CAIRN_ET_PLAN, cairn_singleton_eid, "title", &st, &v);
    CHECK(v.nvalues == 1 && value_is(&v.values[0], "Corrected"));
    CHECK(cairn_plan_state_changes(st) == 3); /* nothing dropped: the fast write is in the log */
    cairn_plan_state_free(st);
    test_node_destroy(&n[0]);
    test_node_destroy(&n[1]);
}

/* ---- the roster ------------------------------------------------------------------ */

/*
 * A second administrator enrols a member; a node that receives the roster
 * change by change gets the administrator's own entry first, whatever the
 * order of the keys (the log is read out in causal order).
 */
static void test_roster_second_admin(void)
{
    for (int round = 0; round < 6; round++) {
        test_node_t n[4];
        uint8_t org[32], rplan[CAIRN_PLAN_ID_BYTES];
        for (int i = 0; i < 4; i++)
            test_node_create(&n[i], "roster");
        CHECK_OK(cairn_org_create(n[0].store, "root"));
        CHECK_OK(cairn_org_key(n[0].store, org));
        cairn_roster_plan_id(org, rplan);
        CHECK_OK(cairn_roster_put(n[0].store, n[1].pk, "second admin", CAIRN_ROLE_ADMIN, 0, 0));
        CHECK_OK(cairn_org_join(n[1].store, org));
        CHECK(test_copy_plan(n[0].store, n[1].store, rplan) == 0);
        CHECK_OK(cairn_roster_put(n[1].store, n[3].pk, "member", CLINICAL, 0, 0));
        CHECK_OK(cairn_org_join(n[2].store, org));
        CHECK(test_copy_plan(n[1].store, n[2].store, rplan) == 0);
        uint8_t d1[32], d2[32];
        digest_of(n[1].store, rplan, d1);
        digest_of(n[2].store, rplan, d2);
        CHECK(memcmp(d1, d2, 32) == 0);
        for (int i = 0; i < 4; i++)
            test_node_destroy(&n[i]);
    }
}

/* ---- bundles ------------------------------------------------------------------ */

static int count_plan(void *ctx, const uint8_t *plan, uint64_t nchanges)
{
    (void)plan;
    (void)nchanges;
    (*(size_t *)ctx)++;
    return 0;
}

static void write_bytes(const char *path, const uint8_t *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL);
    CHECK(fwrite(p, 1, n, f) == n);
    CHECK(fclose(f) == 0);
}

static size_t read_bytes(const char *path, uint8_t *p, size_t cap)
{
    FILE *f = fopen(path, "rb");
    CHECK(f != NULL);
    size_t n = fread(p, 1, cap, f);
    fclose(f);
    return n;
}

/* A bundle file for recipient holding frames, sealed as cairn does (bundle.h). */
static void sealed_bundle(const char *path, const uint8_t *recipient, const uint8_t *frames,
                          size_t n)
{
    uint8_t out[512], curve[crypto_box_PUBLICKEYBYTES];
    CHECK(41 + crypto_box_SEALBYTES + n <= sizeof out);
    memcpy(out, "CAIRNBDL", 8);
    out[8] = 1;
    memcpy(out + 9, recipient, 32);
    CHECK(crypto_sign_ed25519_pk_to_curve25519(curve, recipient) == 0);
    CHECK(crypto_box_seal(out + 41, frames, n, curve) == 0);
    write_bytes(path, out, 41 + crypto_box_SEALBYTES + n);
}

static void test_bundle(void)
{
    test_node_t n[2];
    uint8_t plan[CAIRN_PLAN_ID_BYTES], d0[32], d1[32];
    test_node_create(&n[0], "bundle-a");
    test_node_create(&n[1], "bundle-b");
    CHECK_OK(cairn_org_create(n[0].store, "clinic"));
    CHECK_OK(cairn_roster_put(n[0].store, n[0].pk, "clinic", CLINICAL, 0, 0));
    CHECK_OK(cairn_roster_put(n[0].store, n[1].pk, "laptop", CLINICAL, 0, 0));
    uint8_t org[32];
    CHECK_OK(cairn_org_key(n[0].store, org));
    CHECK_OK(cairn_org_join(n[1].store, org));
    cairn_plan_id_new(plan);
    set1(n[0].store, plan, CAIRN_ET_PATIENT, cairn_singleton_eid, "display_name",
         str("Marker Patientname"));
    set1(n[0].store, plan, CAIRN_ET_PLAN, cairn_singleton_eid, "title", str("Plan"));

    size_t plans = 0, count = 0;
    CHECK_OK(cairn_plan_list(n[0].store, count_plan, &plans));
    CHECK(plans == 2); /* the roster and the plan */

    char path[700], bad[700];
    snprintf(path, sizeof path, "%s/out.bundle", n[0].root);
    snprintf(bad, sizeof bad, "%s/bad.bundle", n[0].root);
    CHECK_OK(cairn_bundle_export(n[0].store, NULL, 0, n[1].pk, path, &count));
    CHECK(count == 5); /* three roster changes, two plan changes */

    /* The file does not show the patient's name. */
    static uint8_t raw[1 << 16];
    size_t len = read_bytes(path, raw, sizeof raw);
    CHECK(len > 0 && len < sizeof raw);
    CHECK(memmem(raw, len, "Patientname", 11) == NULL);

    /* Sealed for B: A cannot open it; a flipped byte or a cut file fails. */
    CHECK_ERR(cairn_bundle_import(n[0].store, path, NULL), CAIRN_EBADKEY);
    raw[len - 5] ^= 1;
    write_bytes(bad, raw, len);
    CHECK_ERR(cairn_bundle_import(n[1].store, bad, NULL), CAIRN_EBADKEY);
    raw[len - 5] ^= 1;
    write_bytes(bad, raw, 20);
    CHECK_ERR(cairn_bundle_import(n[1].store, bad, NULL), CAIRN_EMALFORMED);
    write_bytes(bad, (const uint8_t *)"not a bundle at all, not at all", 31);
    CHECK_ERR(cairn_bundle_import(n[1].store, bad, NULL), CAIRN_EMALFORMED);
    /* Sealed properly for B, but the frames inside are damaged: nothing ingested. */
    static const uint8_t zero_len[] = {0, 0, 0, 0};
    static const uint8_t too_long[] = {0, 0, 1, 0, 0x99};
    static const uint8_t cut_header[] = {0, 0};
    sealed_bundle(bad, n[1].pk, zero_len, sizeof zero_len);
    CHECK_ERR(cairn_bundle_import(n[1].store, bad, NULL), CAIRN_EMALFORMED);
    sealed_bundle(bad, n[1].pk, too_long, sizeof too_long);
    CHECK_ERR(cairn_bundle_import(n[1].store, bad, NULL), CAIRN_EMALFORMED);
    sealed_bundle(bad, n[1].pk, cut_header, sizeof cut_header);
    CHECK_ERR(cairn_bundle_import(n[1].store, bad, NULL), CAIRN_EMALFORMED);
    /* A well-framed bundle of garbage: each change rejected, the import succeeds. */
    static const uint8_t junk[] = {0, 0, 0, 3, 1, 2, 3};
    sealed_bundle(bad, n[1].pk, junk, sizeof junk);
    cairn_ingest_stats_t js;
    CHECK_OK(cairn_bundle_import(n[1].store, bad, &js));
    CHECK(js.rejected == 1 && js.applied == 0);
    uint64_t pending;
    CHECK_OK(cairn_pending_count(n[1].store, &pending));
    CHECK(pending == 0);

    cairn_ingest_stats_t st;
    CHECK_OK(cairn_bundle_import(n[1].store, path, &st));
    CHECK(st.applied == 5 && st.rejected == 0);
    digest_of(n[0].store, plan, d0);
    digest_of(n[1].store, plan, d1);
    CHECK(memcmp(d0, d1, 32) == 0);
    CHECK_OK(cairn_bundle_import(n[1].store, path, &st)); /* again: all duplicates */
    CHECK(st.applied == 0 && st.duplicate == 5);
    test_node_destroy(&n[0]);
    test_node_destroy(&n[1]);
}

int main(void)
{
    CHECK(sodium_init() >= 0);
    RUN(test_edit_and_read);
    RUN(test_conflicts_exactly_when_concurrent);
    RUN(test_fast_clock);
    RUN(test_roster_second_admin);
    RUN(test_bundle);
    return 0;
}
