/*
 * test_replica.c - what sync reads from a replica: summaries, vectors, the
 * changes a peer lacks, and who may hold which plan.
 */
#include "test.h"

#include <sodium.h>

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

static int count_cb(void *ctx, const uint8_t *id, const uint8_t *bytes, size_t len)
{
    (void)id, (void)bytes, (void)len;
    (*(size_t *)ctx)++;
    return 0;
}

static size_t lacking(cairn_store_t *from, cairn_store_t *peer, const uint8_t *plan)
{
    cairn_vec_entry_t *v;
    size_t nv, n = 0;
    CHECK_OK(cairn_plan_vector(peer, plan, &v, &nv));
    CHECK_OK(cairn_plan_changes_since(from, plan, v, nv, count_cb, &n));
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

int main(void)
{
    CHECK(sodium_init() >= 0);
    RUN(test_summaries_and_vectors);
    RUN(test_holding_rights);
    return 0;
}
