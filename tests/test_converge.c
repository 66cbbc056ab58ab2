/*
 * test_converge.c - property: replicas that receive the same changes, in any
 * order, with duplicates and delays, end with identical plan states.
 *
 * Seven real stores form one organisation. Each seed picks 3 to 7 of them
 * and two fresh plans, makes random edits of every kind on random replicas,
 * and broadcasts each change's signed bytes through a network that delays,
 * reorders and duplicates. When everything is delivered, every replica must
 * hold the same digest for each plan, nothing may be left pending, and a
 * rebuild from the log must give the incremental state's digest.
 *
 * CAIRN_TEST_SEEDS sets the number of seeds (default 200); a failure prints
 * the seed, and CAIRN_TEST_SEED=<seed> CAIRN_TEST_SEEDS=1 reruns just it.
 */
#include "test.h"

#include <sodium.h>

#define NODES 7
#define PLANS 2
#define CLINICAL (CAIRN_ROLE_CARE_MANAGER | CAIRN_ROLE_PRESCRIBER | CAIRN_ROLE_BH_SPECIALIST)

static uint64_t rng_state;

static uint64_t rnd(void)
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static size_t below(size_t n)
{
    return (size_t)(rnd() % n);
}

/* ---- the network ------------------------------------------------------------ */

typedef struct msg {
    size_t dest;
    uint8_t *bytes;
    size_t len;
    int due; /* step from which it may be delivered */
} msg_t;

typedef struct net {
    msg_t *m;
    size_t n, cap;
} net_t;

static void net_send(net_t *net, size_t dest, const uint8_t *bytes, size_t len, int due)
{
    if (net->n == net->cap) {
        net->cap = net->cap ? 2 * net->cap : 64;
        net->m = realloc(net->m, net->cap * sizeof *net->m);
        CHECK(net->m != NULL);
    }
    msg_t *m = &net->m[net->n++];
    m->dest = dest;
    m->len = len;
    m->due = due;
    m->bytes = malloc(len);
    CHECK(m->bytes != NULL);
    memcpy(m->bytes, bytes, len);
}

static void net_drop(net_t *net, size_t i)
{
    free(net->m[i].bytes);
    net->m[i] = net->m[--net->n];
}

/*
 * Deliver up to 4 due messages for one destination in one ingest call;
 * sometimes keep a delivered message in flight so it arrives again.
 */
static void net_deliver(net_t *net, test_node_t *nodes, int now)
{
    if (net->n == 0)
        return;
    size_t first = below(net->n);
    if (net->m[first].due > now)
        return;
    size_t dest = net->m[first].dest, pick[4], npick = 0;
    for (size_t k = 0; k < net->n && npick < 4; k++) {
        size_t i = (first + k) % net->n;
        if (net->m[i].dest == dest && net->m[i].due <= now)
            pick[npick++] = i;
    }
    const uint8_t *bytes[4] = {0};
    size_t lens[4] = {0};
    for (size_t k = 0; k < npick; k++) {
        bytes[k] = net->m[pick[k]].bytes;
        lens[k] = net->m[pick[k]].len;
    }
    cairn_ingest_result_t res[4];
    CHECK_OK(cairn_ingest(nodes[dest].store, bytes, lens, npick, res, NULL));
    for (size_t k = 0; k < npick; k++)
        CHECK(res[k].verdict != CAIRN_REJECTED);
    /* Drop delivered messages, highest index first so indices stay valid. */
    for (size_t a = 0; a < npick; a++)
        for (size_t b = a + 1; b < npick; b++)
            if (pick[b] > pick[a]) {
                size_t t = pick[a];
                pick[a] = pick[b];
                pick[b] = t;
            }
    for (size_t k = 0; k < npick; k++)
        if (below(10) != 0)
            net_drop(net, pick[k]);
}

/* ---- random edits ------------------------------------------------------------- */

static const char *const titles[] = {"Recovery plan", "Housing first", "Crisis plan", "Plan"};
static const char *const plan_status[] = {"draft", "active", "on-hold", "completed"};
static const char *const need_status[] = {"open", "addressed", "closed"};
static const char *const doses[] = {"25 mg", "50 mg", "100 mg"};

/* A random present entity of etype in st, or 0 if none. */
static int pick_present(const cairn_plan_state_t *st, uint16_t etype, uint8_t *eid)
{
    cairn_field_view_t v;
    size_t n = 0;
    for (size_t i = 0; cairn_plan_state_at(st, i, &v) == 0; i++)
        n += v.etype == etype && v.field == 0;
    if (n == 0)
        return 0;
    size_t want = below(n);
    for (size_t i = 0; cairn_plan_state_at(st, i, &v) == 0; i++)
        if (v.etype == etype && v.field == 0 && want-- == 0) {
            memcpy(eid, v.eid, CAIRN_ENTITY_ID_BYTES);
            return 1;
        }
    return 0;
}

static void random_op(cairn_edit_t *e, const cairn_plan_state_t *st)
{
    uint8_t eid[CAIRN_ENTITY_ID_BYTES];
    cairn_value_t v;
    switch (below(9)) {
    case 1:
        v = str(plan_status[below(4)]);
        CHECK_OK(cairn_edit_set(e, CAIRN_ET_PLAN, cairn_singleton_eid,
                                field(CAIRN_ET_PLAN, "status"), &v));
        return;
    case 2:
        CHECK_OK(cairn_edit_add(e, CAIRN_ET_NEED, eid));
        v = str("housing");
        CHECK_OK(cairn_edit_set(e, CAIRN_ET_NEED, eid, field(CAIRN_ET_NEED, "domain"), &v));
        return;
    case 3: {
        if (!pick_present(st, CAIRN_ET_NEED, eid))
            break;
        v = str(need_status[below(3)]);
        /* As for a remove: an earlier edit of this batch may have removed it. */
        cairn_err_t err =
            cairn_edit_set(e, CAIRN_ET_NEED, eid, field(CAIRN_ET_NEED, "status"), &v);
        CHECK(err == CAIRN_OK || err == CAIRN_ENOTFOUND);
        if (err == CAIRN_ENOTFOUND)
            break;
        return;
    }
    case 4: {
        if (!pick_present(st, CAIRN_ET_NEED, eid))
            break;
        /* An earlier edit of this batch may have removed it already. */
        cairn_err_t err = cairn_edit_remove(e, CAIRN_ET_NEED, eid);
        CHECK(err == CAIRN_OK || err == CAIRN_ENOTFOUND);
        if (err == CAIRN_ENOTFOUND)
            break;
        return;
    }
    case 5: {
        CHECK_OK(cairn_edit_add(e, CAIRN_ET_CHECKIN, eid));
        cairn_value_t phq = {CAIRN_VALUE_INT, (int64_t)below(28), NULL, 0};
        CHECK_OK(cairn_edit_set(e, CAIRN_ET_CHECKIN, eid, field(CAIRN_ET_CHECKIN, "phq9"), &phq));
        return;
    }
    case 6:
        CHECK_OK(cairn_edit_add(e, CAIRN_ET_MEDICATION, eid));
        v = str(doses[below(3)]);
        CHECK_OK(cairn_edit_set(e, CAIRN_ET_MEDICATION, eid,
                                field(CAIRN_ET_MEDICATION, "dose"), &v));
        return;
    case 7:
        if (!pick_present(st, CAIRN_ET_MEDICATION, eid))
            break;
        v = str(doses[below(3)]);
        CHECK_OK(cairn_edit_set(e, CAIRN_ET_MEDICATION, eid,
                                field(CAIRN_ET_MEDICATION, "dose"), &v));
        return;
    case 8:
        CHECK_OK(cairn_edit_add(e, CAIRN_ET_SAFETY_ITEM, eid));
        v = str("Call the crisis line");
        CHECK_OK(cairn_edit_set(e, CAIRN_ET_SAFETY_ITEM, eid,
                                field(CAIRN_ET_SAFETY_ITEM, "text"), &v));
        return;
    default:
        break;
    }
    v = str(titles[below(4)]);
    CHECK_OK(cairn_edit_set(e, CAIRN_ET_PLAN, cairn_singleton_eid, field(CAIRN_ET_PLAN, "title"),
                            &v));
}

/* Ids of every change broadcast so far in this seed. */
typedef struct seen {
    uint8_t (*ids)[CAIRN_CHANGE_ID_BYTES];
    size_t n, cap;
} seen_t;

static int seen_has(const seen_t *s, const uint8_t *id)
{
    for (size_t i = 0; i < s->n; i++)
        if (memcmp(s->ids[i], id, CAIRN_CHANGE_ID_BYTES) == 0)
            return 1;
    return 0;
}

static void seen_add(seen_t *s, const uint8_t *id)
{
    if (s->n == s->cap) {
        s->cap = s->cap ? 2 * s->cap : 64;
        s->ids = realloc(s->ids, s->cap * sizeof *s->ids);
        CHECK(s->ids != NULL);
    }
    memcpy(s->ids[s->n++], id, CAIRN_CHANGE_ID_BYTES);
}

typedef struct outbox {
    seen_t *seen;
    net_t *net;
    size_t from, k;
    int now;
    size_t sent;
} outbox_t;

/* Broadcast every change of the plan that nobody has broadcast yet. */
static int send_new(void *ctx, const uint8_t *id, const uint8_t *bytes, size_t len)
{
    outbox_t *o = ctx;
    if (seen_has(o->seen, id))
        return 0;
    seen_add(o->seen, id);
    for (size_t d = 0; d < o->k; d++)
        if (d != o->from)
            net_send(o->net, d, bytes, len, o->now + (int)below(20));
    o->sent++;
    return 0;
}

/*
 * Node r makes one batch of 1 to 3 edits (each 1 to 3 ops) on random plans,
 * some signed in the background (no id asked for), and broadcasts the
 * changes it made. Returns the number of changes per plan in made[].
 */
static void random_batch(test_node_t *nodes, size_t k, size_t r, uint8_t (*plans)[16],
                         size_t *made, net_t *net, seen_t *seen, int now)
{
    cairn_batch_t *b;
    size_t nedits = 1 + below(3), touched[PLANS] = {0};
    CHECK_OK(cairn_batch_begin(nodes[r].store, &b));
    for (size_t i = 0; i < nedits; i++) {
        size_t p = below(PLANS);
        cairn_plan_state_t *st;
        cairn_edit_t *e;
        /* The committed state is enough to pick entities that exist. */
        CHECK_OK(cairn_plan_read(nodes[r].store, plans[p], &st));
        CHECK_OK(cairn_edit_begin(b, plans[p], &e));
        size_t nops = 1 + below(3);
        for (size_t j = 0; j < nops; j++)
            random_op(e, st);
        uint8_t id[CAIRN_CHANGE_ID_BYTES];
        CHECK_OK(cairn_edit_commit(e, below(2) ? id : NULL));
        cairn_plan_state_free(st);
        made[p]++;
        touched[p] = 1;
    }
    CHECK_OK(cairn_batch_commit(b));
    for (size_t p = 0; p < PLANS; p++) {
        outbox_t o = {seen, net, r, k, now, 0};
        if (touched[p])
            CHECK_OK(cairn_plan_changes(nodes[r].store, plans[p], send_new, &o));
    }
}

/* ---- one seed ----------------------------------------------------------------- */

static void check_converged(test_node_t *nodes, size_t k, const uint8_t *plan, size_t made)
{
    uint8_t first[32], d[32], rebuilt[32];
    for (size_t i = 0; i < k; i++) {
        cairn_plan_state_t *st;
        uint64_t pending;
        CHECK_OK(cairn_plan_read(nodes[i].store, plan, &st));
        cairn_plan_state_digest(st, d);
        CHECK(cairn_plan_state_changes(st) == made);
        cairn_plan_state_free(st);
        CHECK_OK(cairn_pending_count(nodes[i].store, &pending));
        CHECK(pending == 0);
        if (i == 0)
            memcpy(first, d, 32);
        CHECK(memcmp(first, d, 32) == 0);
    }
    size_t r = below(k);
    CHECK_OK(cairn_plan_rebuild(nodes[r].store, plan, rebuilt));
    CHECK(memcmp(first, rebuilt, 32) == 0);
}

static void run_seed(test_node_t *nodes, unsigned long long seed)
{
    rng_state = seed;
    size_t k = 3 + below(NODES - 2);
    uint8_t plans[PLANS][CAIRN_PLAN_ID_BYTES];
    size_t made[PLANS] = {0};
    net_t net = {0};
    seen_t seen = {0};
    for (size_t p = 0; p < PLANS; p++)
        randombytes_buf(plans[p], CAIRN_PLAN_ID_BYTES);
    int steps = 20 + (int)below(40);
    for (int now = 0; now < steps; now++) {
        if (below(10) < 6) {
            random_batch(nodes, k, below(k), plans, made, &net, &seen, now);
        } else {
            net_deliver(&net, nodes, now);
        }
    }
    while (net.n > 0)
        net_deliver(&net, nodes, 1 << 30);
    free(net.m);
    free(seen.ids);
    for (size_t p = 0; p < PLANS; p++)
        check_converged(nodes, k, plans[p], made[p]);
}

static unsigned long long current_seed;
static int finished;

static void report_seed(void)
{
    if (!finished)
        fprintf(stderr, "\nfailed at seed %llu: rerun with CAIRN_TEST_SEED=%llu CAIRN_TEST_SEEDS=1\n",
                current_seed, current_seed);
}

int main(void)
{
    CHECK(sodium_init() >= 0);
    unsigned long long base = test_seed();
    const char *env = getenv("CAIRN_TEST_SEEDS");
    unsigned long nseeds = env ? strtoul(env, NULL, 10) : 200;
    atexit(report_seed);
    test_node_t nodes[NODES];
    for (size_t i = 0; i < NODES; i++)
        test_node_create(&nodes[i], "converge");
    test_org(nodes, NODES, CLINICAL);
    for (unsigned long s = 0; s < nseeds; s++) {
        current_seed = base + s;
        run_seed(nodes, current_seed);
    }
    finished = 1;
    fprintf(stderr, "\n%lu seeds converged\n", nseeds);
    for (size_t i = 0; i < NODES; i++)
        test_node_destroy(&nodes[i]);
    return 0;
}
