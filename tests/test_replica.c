/*
 * test_replica.c - what sync reads from a replica: summaries, vectors, the
 * changes a peer lacks (through a cursor), who may hold which plan, and the
 * identity's key agreement.
 */
#include "test.h"

#include <sodium.h>
#include <time.h>

typedef struct digests {
    uint8_t plan[8][CAIRN_PLAN_ID_BYTES];
    uint8_t d[8][CAIRN_SYNC_DIGEST_BYTES];
    size_t n;
} digests_t;

static int grab(void *ctx, const uint8_t *plan, const uint8_t *digest)
{
    digests_t *g = ctx;
    CHECK(g->n < 8);
    memcpy(g->plan[g->n], plan, CAIRN_PLAN_ID_BYTES);
    memcpy(g->d[g->n], digest, CAIRN_SYNC_DIGEST_BYTES);
    g->n++;
    return 0;
}

static void summaries(cairn_store_t *s, digests_t *g)
{
    memset(g, 0, sizeof *g);
    CHECK_OK(cairn_plan_summaries(s, grab, g));
}

/*
 * Everything a cursor opened with vector v hands out, checked on the way:
 * ascending (HLC, id), each change after its predecessor when both are
 * sent, and as many as it said it selected. Returns the count; ids (may be
 * NULL, room for max) receives the ids in order.
 */
static size_t drain_cursor(cairn_store_t *from, const uint8_t *plan, const cairn_vec_entry_t *v,
                           size_t nv, uint8_t (*ids)[CAIRN_CHANGE_ID_BYTES], size_t max)
{
    cairn_cursor_t *cur;
    CHECK_OK(cairn_cursor_open(from, plan, v, nv, &cur));
    size_t total = cairn_cursor_count(cur), n = 0;
    uint8_t(*id)[CAIRN_CHANGE_ID_BYTES] = calloc(total + 1, CAIRN_CHANGE_ID_BYTES);
    uint8_t(*prev)[CAIRN_CHANGE_ID_BYTES] = calloc(total + 1, CAIRN_CHANGE_ID_BYTES);
    int *has_prev = calloc(total + 1, sizeof *has_prev);
    uint64_t *hlc = calloc(total + 1, sizeof *hlc);
    CHECK(id != NULL && prev != NULL && has_prev != NULL && hlc != NULL);
    const uint8_t *bytes;
    size_t len;
    cairn_err_t err;
    while ((err = cairn_cursor_next(cur, &bytes, &len)) == CAIRN_OK) {
        cairn_change_t *c;
        CHECK(n < total);
        CHECK_OK(cairn_change_decode(bytes, len, &c));
        memcpy(id[n], c->id, CAIRN_CHANGE_ID_BYTES);
        memcpy(prev[n], c->prev, CAIRN_CHANGE_ID_BYTES);
        has_prev[n] = c->has_prev;
        hlc[n] = c->hlc;
        CHECK(n == 0 || hlc[n] > hlc[n - 1] ||
              (hlc[n] == hlc[n - 1] && memcmp(id[n], id[n - 1], CAIRN_CHANGE_ID_BYTES) > 0));
        cairn_change_free(c);
        n++;
    }
    CHECK_ERR(err, CAIRN_ENOTFOUND);
    CHECK(bytes == NULL && len == 0);
    CHECK_ERR(cairn_cursor_next(cur, &bytes, &len), CAIRN_ENOTFOUND); /* and stays at the end */
    CHECK(n == total);
    cairn_cursor_close(cur);
    /* Causal: a predecessor that is sent comes first (ids are unique: one scan each). */
    for (size_t i = 0; i < n; i++)
        for (size_t j = i + 1; has_prev[i] && j < n && n <= 4096; j++)
            CHECK(memcmp(id[j], prev[i], CAIRN_CHANGE_ID_BYTES) != 0);
    if (ids != NULL) {
        CHECK(n <= max);
        memcpy(ids, id, n * CAIRN_CHANGE_ID_BYTES);
    }
    free(id);
    free(prev);
    free(has_prev);
    free(hlc);
    return n;
}

static size_t lacking(cairn_store_t *from, cairn_store_t *peer, const uint8_t *plan)
{
    cairn_vec_entry_t *v;
    size_t nv;
    CHECK_OK(cairn_plan_vector(peer, plan, &v, &nv));
    size_t n = drain_cursor(from, plan, v, nv, NULL, 0);
    free(v);
    return n;
}

/* Summaries differ exactly while the change sets differ; vectors say what is missing. */
static void test_summaries_and_vectors(void)
{
    test_node_t n[2];
    test_node_create(&n[0], "replica-a");
    test_node_create(&n[1], "replica-b");
    test_org(n, 2, CAIRN_ROLE_CARE_MANAGER);
    uint8_t plan[CAIRN_PLAN_ID_BYTES];
    cairn_plan_id_new(plan);
    test_title(n[0].store, plan, "one");
    test_title(n[0].store, plan, "two");
    CHECK(lacking(n[0].store, n[1].store, plan) == 2);
    CHECK(lacking(n[1].store, n[0].store, plan) == 0);
    test_copy_plan(n[0].store, n[1].store, plan);
    digests_t a, b;
    summaries(n[0].store, &a);
    summaries(n[1].store, &b);
    CHECK(a.n == 2 && b.n == 2); /* the roster and the plan */
    CHECK(memcmp(&a, &b, sizeof a) == 0);
    CHECK(lacking(n[0].store, n[1].store, plan) == 0);

    test_title(n[1].store, plan, "three"); /* B ahead by one */
    test_title(n[0].store, plan, "four");  /* A ahead by one, concurrently */
    summaries(n[0].store, &a);
    summaries(n[1].store, &b);
    CHECK(memcmp(&a, &b, sizeof a) != 0);
    cairn_vec_entry_t *va, *vb;
    size_t na, nb;
    CHECK_OK(cairn_plan_vector(n[0].store, plan, &va, &nb));
    na = nb;
    CHECK_OK(cairn_plan_vector(n[1].store, plan, &vb, &nb));
    CHECK(cairn_vector_behind(va, na, vb, nb) && cairn_vector_behind(vb, nb, va, na));
    free(va);
    free(vb);
    CHECK(lacking(n[0].store, n[1].store, plan) == 1);
    CHECK(lacking(n[1].store, n[0].store, plan) == 1);
    test_copy_plan(n[0].store, n[1].store, plan);
    test_copy_plan(n[1].store, n[0].store, plan);
    summaries(n[0].store, &a);
    summaries(n[1].store, &b);
    CHECK(memcmp(&a, &b, sizeof a) == 0);
    test_node_destroy(&n[0]);
    test_node_destroy(&n[1]);
}

/* The roster decides who is a member, and care teams who may hold a plan. */
static void test_holding_rights(void)
{
    test_node_t n[3];
    for (int i = 0; i < 3; i++)
        test_node_create(&n[i], "replica-rights");
    CHECK_OK(cairn_org_create(n[0].store, "clinic"));
    CHECK_OK(cairn_roster_put(n[0].store, n[0].pk, "clinic", CAIRN_ROLE_CARE_MANAGER, 0, 0));
    CHECK_OK(cairn_roster_put(n[0].store, n[1].pk, "laptop", CAIRN_ROLE_OUTREACH, 0, 0));
    unsigned roles;
    cairn_reason_t why;
    CHECK_OK(cairn_roster_member(n[0].store, n[1].pk, 1000, &roles, &why));
    CHECK(roles == CAIRN_ROLE_OUTREACH && why == CAIRN_REASON_NONE);
    CHECK_ERR(cairn_roster_member(n[0].store, n[2].pk, 1000, &roles, &why), CAIRN_EDENIED);
    CHECK(why == CAIRN_REASON_UNKNOWN_AUTHOR);
    CHECK_OK(cairn_roster_revoke(n[0].store, n[1].pk, 5000));
    CHECK_ERR(cairn_roster_member(n[0].store, n[1].pk, 6000, &roles, &why), CAIRN_EDENIED);
    CHECK(why == CAIRN_REASON_NOT_VALID);
    CHECK_OK(cairn_roster_member(n[0].store, n[1].pk, 4000, &roles, &why));

    uint8_t plan[CAIRN_PLAN_ID_BYTES], member[CAIRN_ENTITY_ID_BYTES], org[32], rplan[16];
    cairn_plan_id_new(plan);
    test_title(n[0].store, plan, "caseload");
    int may;
    CHECK_OK(cairn_plan_may_hold(n[0].store, plan, n[1].pk, CAIRN_ROLE_OUTREACH, &may));
    CHECK(!may);
    CHECK_OK(cairn_plan_may_hold(n[0].store, plan, n[2].pk, CAIRN_ROLE_CARE_MANAGER, &may));
    CHECK(may);
    CHECK_OK(cairn_org_key(n[0].store, org));
    cairn_roster_plan_id(org, rplan);
    CHECK_OK(cairn_plan_may_hold(n[0].store, rplan, n[1].pk, CAIRN_ROLE_OUTREACH, &may));
    CHECK(may);

    /* On the care team: the laptop may hold it; removed from the team: not any more. */
    cairn_batch_t *b;
    cairn_edit_t *e;
    test_add_member(n[0].store, plan, n[1].pk, member);
    CHECK_OK(cairn_plan_may_hold(n[0].store, plan, n[1].pk, CAIRN_ROLE_OUTREACH, &may));
    CHECK(may);
    CHECK_OK(cairn_batch_begin(n[0].store, &b));
    CHECK_OK(cairn_edit_begin(b, plan, &e));
    CHECK_OK(cairn_edit_remove(e, CAIRN_ET_MEMBER, member));
    CHECK_OK(cairn_edit_commit(e, NULL));
    CHECK_OK(cairn_batch_commit(b));
    CHECK_OK(cairn_plan_may_hold(n[0].store, plan, n[1].pk, CAIRN_ROLE_OUTREACH, &may));
    CHECK(!may);
    for (int i = 0; i < 3; i++)
        test_node_destroy(&n[i]);
}

/* A change by key sk in plan at seq after prev (NULL for seq 1), at ms. */
/*
 * A plan of 3,000 changes by two authors: the cursor selects what each
 * vector lacks (all, none, an author's tail), in (HLC, id) order, each
 * change after its predecessor, and each change once.
 */
static void test_cursor_many(void)
{
    test_node_t n[2];
    test_node_create(&n[0], "cursor-a");
    test_node_create(&n[1], "cursor-b");
    test_org(n, 2, CAIRN_ROLE_CARE_MANAGER);
    enum { PER = 1500 };
    uint8_t plan[CAIRN_PLAN_ID_BYTES];
    cairn_plan_id_new(plan);
    for (int k = 0; k < 2; k++) { /* author 0 first, then author 1 on top of all of it */
        cairn_batch_t *b;
        CHECK_OK(cairn_batch_begin(n[k].store, &b));
        for (int i = 0; i < PER; i++) {
            cairn_edit_t *e;
            cairn_value_t v = str(k ? "b" : "a");
            CHECK_OK(cairn_edit_begin(b, plan, &e));
            CHECK_OK(cairn_edit_set(e, CAIRN_ET_PLAN, cairn_singleton_eid,
                                    field(CAIRN_ET_PLAN, "title"), &v));
            CHECK_OK(cairn_edit_commit(e, NULL));
        }
        CHECK_OK(cairn_batch_commit(b));
        if (k == 0)
            test_copy_plan(n[0].store, n[1].store, plan);
    }
    test_copy_plan(n[1].store, n[0].store, plan);
    uint8_t(*ids)[CAIRN_CHANGE_ID_BYTES] = malloc(2 * PER * CAIRN_CHANGE_ID_BYTES);
    CHECK(ids != NULL);
    CHECK(drain_cursor(n[0].store, plan, NULL, 0, ids, 2 * PER) == 2 * PER);
    for (size_t i = 1; i < 2 * PER; i++) /* all different */
        for (size_t j = i < 8 ? 0 : i - 8; j < i; j++)
            CHECK(memcmp(ids[i], ids[j], CAIRN_CHANGE_ID_BYTES) != 0);
    cairn_vec_entry_t *v;
    size_t nv;
    CHECK_OK(cairn_plan_vector(n[0].store, plan, &v, &nv));
    CHECK(nv == 2 && drain_cursor(n[0].store, plan, v, nv, NULL, 0) == 0);
    /* A peer that holds author 0's first 1,000 and nothing of author 1. */
    int a0 = memcmp(v[0].author, n[0].pk, 32) == 0 ? 0 : 1;
    cairn_vec_entry_t part = v[a0];
    part.max_seq = part.count = 1000;
    size_t seen = 0;
    for (size_t i = 0; i < 2 * PER && seen < 1000; i++) { /* author 0's changes come first */
        cairn_buf_t buf = CAIRN_BUF_INIT;
        CHECK_OK(cairn_change_get(n[0].store, plan, ids[i], &buf));
        cairn_change_t *c;
        CHECK_OK(cairn_change_decode(buf.data, buf.len, &c));
        if (memcmp(c->author, n[0].pk, 32) == 0 && c->seq == 1000)
            memcpy(part.head, c->id, CAIRN_CHANGE_ID_BYTES), seen = 1000;
        cairn_change_free(c);
        cairn_buf_free(&buf);
    }
    CHECK(seen == 1000);
    CHECK(drain_cursor(n[0].store, plan, &part, 1, NULL, 0) == 2 * PER - 1000);
    /* The same vector with a head we do not hold: that author's chain went another way. */
    memset(part.head, 0xee, sizeof part.head);
    CHECK(drain_cursor(n[0].store, plan, &part, 1, NULL, 0) == 2 * PER);
    /* An unknown plan: an empty cursor. */
    uint8_t none[CAIRN_PLAN_ID_BYTES];
    cairn_plan_id_new(none);
    CHECK(drain_cursor(n[0].store, none, NULL, 0, NULL, 0) == 0);
    cairn_cursor_t *cur;
    CHECK_ERR(cairn_cursor_open(NULL, plan, NULL, 0, &cur), CAIRN_EINVAL);
    CHECK_ERR(cairn_cursor_open(n[0].store, plan, NULL, 2, &cur), CAIRN_EINVAL);
    free(v);
    free(ids);
    test_node_destroy(&n[0]);
    test_node_destroy(&n[1]);
}

/*
 * A fork (a device restored from a backup): A holds 1..4, 5a, 6, 7 of an
 * author, B holds 1..4, 5b. For B's vector A sends all seven (B's head is
 * not A's); for a vector of 1..4 only, 5a, 6 and 7; B, holding a fork
 * after A's changes arrive, gets everything of the author again.
 */
static void test_cursor_fork(void)
{
    test_node_t n[2];
    test_node_create(&n[0], "cursor-fork-a");
    test_node_create(&n[1], "cursor-fork-b");
    test_org(n, 2, CAIRN_ROLE_CARE_MANAGER);
    uint8_t pk[32], sk[64], plan[CAIRN_PLAN_ID_BYTES], rplan[CAIRN_PLAN_ID_BYTES], org[32];
    crypto_sign_keypair(pk, sk);
    CHECK_OK(cairn_roster_put(n[0].store, pk, "restored device", CAIRN_ROLE_CARE_MANAGER, 0, 0));
    CHECK_OK(cairn_org_key(n[0].store, org));
    cairn_roster_plan_id(org, rplan);
    test_copy_plan(n[0].store, n[1].store, rplan);
    cairn_plan_id_new(plan);
    cairn_change_t *c[8] = {NULL};
    for (uint64_t i = 1; i <= 4; i++) {
        c[i] = test_signed_title(sk, plan, i, c[i - 1], 100 + i, "common");
        test_give(n[0].store, c[i]);
        test_give(n[1].store, c[i]);
    }
    cairn_change_t *b5 = test_signed_title(sk, plan, 5, c[4], 200, "the other way");
    test_give(n[1].store, b5);
    for (uint64_t i = 5; i <= 7; i++) {
        c[i] = test_signed_title(sk, plan, i, c[i - 1], 100 + i, "first way");
        test_give(n[0].store, c[i]);
    }
    CHECK(lacking(n[0].store, n[1].store, plan) == 7);
    cairn_vec_entry_t *v;
    size_t nv;
    CHECK_OK(cairn_plan_vector(n[1].store, plan, &v, &nv));
    CHECK(nv == 1);
    v[0].max_seq = v[0].count = 4;
    memcpy(v[0].head, c[4]->id, CAIRN_CHANGE_ID_BYTES);
    uint8_t ids[8][CAIRN_CHANGE_ID_BYTES];
    CHECK(drain_cursor(n[0].store, plan, v, nv, ids, 8) == 3);
    for (int i = 0; i < 3; i++) /* 5a, 6, 7: their HLCs rise with seq */
        CHECK(memcmp(ids[i], c[5 + i]->id, CAIRN_CHANGE_ID_BYTES) == 0);
    free(v);
    test_copy_plan(n[0].store, n[1].store, plan);      /* B now holds both ways at seq 5 */
    CHECK(lacking(n[1].store, n[0].store, plan) == 8); /* A's vector shows no fork: all 8 */
    for (int i = 1; i <= 7; i++)
        cairn_change_free(c[i]);
    cairn_change_free(b5);
    test_node_destroy(&n[0]);
    test_node_destroy(&n[1]);
}

/*
 * The identity's key agreement: both sides of a DH agree, the public form
 * is the Ed25519 key's conversion, a low-order key is refused.
 */
static void test_identity_dh(void)
{
    test_node_t n[2];
    test_node_create(&n[0], "identity-a");
    test_node_create(&n[1], "identity-b");
    uint8_t xa[32], xb[32], ab[32], ba[32], want[32], zero[32] = {0};
    CHECK_OK(cairn_store_identity_x25519(n[0].store, xa));
    CHECK_OK(cairn_store_identity_x25519(n[1].store, xb));
    CHECK(crypto_sign_ed25519_pk_to_curve25519(want, n[0].pk) == 0 && memcmp(want, xa, 32) == 0);
    CHECK_OK(cairn_store_identity_dh(n[0].store, xb, ab));
    CHECK_OK(cairn_store_identity_dh(n[1].store, xa, ba));
    CHECK(memcmp(ab, ba, 32) == 0 && memcmp(ab, zero, 32) != 0);
    memset(ab, 0x55, sizeof ab);
    CHECK_ERR(cairn_store_identity_dh(n[0].store, zero, ab), CAIRN_EBADKEY);
    CHECK(memcmp(ab, zero, 32) == 0);
    CHECK_ERR(cairn_store_identity_dh(NULL, xb, ab), CAIRN_EINVAL);
    test_node_destroy(&n[0]);
    test_node_destroy(&n[1]);
}

/*
 * A node whose clock runs two days fast writes; an honest node applies it
 * (its clock held at the 24 h bound) and writes after it: its change has
 * the lower HLC, yet the cursor hands them out in causal order, so a third
 * node applies each as it comes, parking none.
 */
static uint64_t fast_now;
static uint64_t fast_clock(void *ctx)
{
    (void)ctx;
    return fast_now;
}

static void test_cursor_causal_past_a_fast_clock(void)
{
    test_node_t n[3];
    for (int i = 0; i < 3; i++)
        test_node_create(&n[i], "replica-fast");
    test_org(n, 3, CAIRN_ROLE_CARE_MANAGER);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    fast_now = (uint64_t)ts.tv_sec * 1000 + 48ull * 3600 * 1000;
    cairn_store_set_clock(n[0].store, fast_clock, NULL);
    uint8_t plan[CAIRN_PLAN_ID_BYTES];
    cairn_plan_id_new(plan);
    test_title(n[0].store, plan, "from the fast clock");
    CHECK(test_copy_plan(n[0].store, n[1].store, plan) == 0);
    test_title(n[1].store, plan, "after it");
    cairn_cursor_t *cur;
    CHECK_OK(cairn_cursor_open(n[1].store, plan, NULL, 0, &cur));
    CHECK(cairn_cursor_count(cur) == 2);
    const uint8_t *p;
    size_t len, k = 0;
    cairn_hlc_t hlcs[2] = {0, 0};
    while (cairn_cursor_next(cur, &p, &len) == CAIRN_OK) {
        cairn_ingest_result_t r;
        cairn_change_t *c;
        CHECK_OK(cairn_change_decode(p, len, &c));
        hlcs[k++] = c->hlc;
        cairn_change_free(c);
        CHECK_OK(cairn_ingest(n[2].store, &p, &len, 1, &r, NULL));
        CHECK(r.verdict == CAIRN_APPLIED);
    }
    CHECK(k == 2 && hlcs[0] > hlcs[1]); /* the clock order was not causal */
    cairn_cursor_close(cur);
    for (int i = 0; i < 3; i++)
        test_node_destroy(&n[i]);
}

int main(void)
{
    CHECK(sodium_init() >= 0);
    RUN(test_summaries_and_vectors);
    RUN(test_holding_rights);
    RUN(test_cursor_many);
    RUN(test_cursor_fork);
    RUN(test_cursor_causal_past_a_fast_clock);
    RUN(test_identity_dh);
    return 0;
}
