/*
 * test_sync.c - sync sessions between real stores over an in-memory pipe.
 */
#include "test.h"
#include "test_drive.h"

#include "noise.h" /* the test plays a peer that speaks the protocol by hand */
#include <cairn/sync.h>
#include <sodium.h>

#define CLINICAL (CAIRN_ROLE_CARE_MANAGER | CAIRN_ROLE_PRESCRIBER | CAIRN_ROLE_BH_SPECIALIST)

typedef struct pair_result {
    cairn_sync_state_t state[2];
    cairn_close_reason_t reason[2];
    cairn_sync_stats_t stats[2];
    int admitted[2], named[2]; /* cairn_sync_admitted, cairn_sync_peer != NULL */
    int flights;               /* one-way deliveries that carried bytes */
} pair_result_t;

/* Move bytes from one session to the other, then run to's ingest work; 1 if any moved. */
static int move(cairn_sync_t *from, cairn_sync_t *to, cairn_store_t *to_store, uint64_t now,
                int flip_byte)
{
    size_t len;
    const uint8_t *p = cairn_sync_output(from, &len);
    if (len == 0)
        return 0;
    uint8_t *copy = malloc(len);
    CHECK(copy != NULL);
    memcpy(copy, p, len);
    if (flip_byte >= 0 && (size_t)flip_byte < len)
        copy[flip_byte] ^= 0x40;
    CHECK_OK(cairn_sync_consumed(from, len));
    CHECK_OK(cairn_sync_feed(to, copy, len, now));
    free(copy);
    test_sync_ingest(to, to_store);
    return 1;
}

static int live(cairn_sync_t *s)
{
    cairn_sync_state_t st = cairn_sync_state(s);
    return st == CAIRN_SYNC_HANDSHAKE || st == CAIRN_SYNC_RUNNING;
}

/* Run a session between a (initiator) and b until both end; flip: corrupt one byte. */
static void run_pair(cairn_store_t *a, cairn_store_t *b, pair_result_t *r, int flip_at_flight,
                     int flip_byte)
{
    cairn_sync_t *s[2];
    cairn_sync_opts_t oa = {1, 1000, 0, 0, 0, NULL}, ob = {0, 1000, 0, 0, 0, NULL};
    CHECK_OK(cairn_sync_new(a, &oa, &s[0]));
    CHECK_OK(cairn_sync_new(b, &ob, &s[1]));
    memset(r, 0, sizeof *r);
    for (int step = 0; step < 10000 && (live(s[0]) || live(s[1])); step++) {
        int moved = 0;
        for (int k = 0; k < 2; k++) {
            int flip = r->flights == flip_at_flight ? flip_byte : -1;
            if (move(s[k], s[1 - k], k ? a : b, 1000 + (uint64_t)step, flip)) {
                r->flights++;
                moved = 1;
            }
        }
        if (!moved)
            break; /* nothing in flight: both sides wait or are done */
    }
    for (int k = 0; k < 2; k++) {
        r->state[k] = cairn_sync_state(s[k]);
        r->reason[k] = cairn_sync_close_reason(s[k]);
        r->admitted[k] = cairn_sync_admitted(s[k]);
        r->named[k] = cairn_sync_peer(s[k]) != NULL;
        cairn_sync_get_stats(s[k], &r->stats[k]);
        cairn_sync_free(s[k]);
    }
}

typedef struct sums {
    uint8_t (*v)[32];
    size_t n, cap;
} sums_t;

static int add_sum(void *ctx, const uint8_t *plan, const uint8_t *digest)
{
    sums_t *s = ctx;
    if (s->n == s->cap) {
        s->cap = s->cap ? 2 * s->cap : 64;
        s->v = realloc(s->v, s->cap * sizeof *s->v);
        CHECK(s->v != NULL);
    }
    memcpy(s->v[s->n], plan, 16);
    memcpy(s->v[s->n] + 16, digest, 16);
    s->n++;
    return 0;
}

static int same_replicas(cairn_store_t *a, cairn_store_t *b)
{
    sums_t x = {0}, y = {0};
    CHECK_OK(cairn_plan_summaries(a, add_sum, &x));
    CHECK_OK(cairn_plan_summaries(b, add_sum, &y));
    int same = x.n == y.n && (x.n == 0 || memcmp(x.v, y.v, x.n * 32) == 0);
    free(x.v);
    free(y.v);
    return same;
}

static void world(test_node_t *n, size_t k, unsigned roles)
{
    for (size_t i = 0; i < k; i++)
        test_node_create(&n[i], "sync");
    test_org(n, k, roles);
}

/* Two replicas that differ both ways converge in one session, in few flights. */
static void test_converge_two(void)
{
    test_node_t n[2];
    world(n, 2, CLINICAL);
    uint8_t plans[40][CAIRN_PLAN_ID_BYTES];
    for (int i = 0; i < 40; i++) {
        cairn_plan_id_new(plans[i]);
        test_title(n[0].store, plans[i], "shared");
    }
    pair_result_t r;
    run_pair(n[0].store, n[1].store, &r, -1, 0);
    CHECK(r.state[0] == CAIRN_SYNC_DONE && r.state[1] == CAIRN_SYNC_DONE);
    CHECK(r.admitted[0] && r.admitted[1]);
    CHECK(same_replicas(n[0].store, n[1].store));
    /* Now each side edits a few plans, some the same ones. */
    test_title(n[0].store, plans[3], "a");
    test_title(n[1].store, plans[3], "b");
    test_title(n[1].store, plans[17], "b");
    test_title(n[0].store, plans[30], "a");
    CHECK(!same_replicas(n[0].store, n[1].store));
    run_pair(n[1].store, n[0].store, &r, -1, 0);
    CHECK(r.state[0] == CAIRN_SYNC_DONE && r.state[1] == CAIRN_SYNC_DONE);
    CHECK(same_replicas(n[0].store, n[1].store));
    CHECK(r.stats[0].applied == 2 && r.stats[1].applied == 2);
    /* In sync: one round trip, well under 1 KiB. */
    run_pair(n[0].store, n[1].store, &r, -1, 0);
    CHECK(r.state[0] == CAIRN_SYNC_DONE);
    fprintf(stderr, "in sync: %llu + %llu bytes after the handshake? flights %d\n",
            (unsigned long long)r.stats[0].bytes_out, (unsigned long long)r.stats[1].bytes_out,
            r.flights);
    CHECK(r.stats[0].changes_out == 0 && r.stats[1].changes_out == 0);
    test_node_destroy(&n[0]);
    test_node_destroy(&n[1]);
}

/* A node of another organisation cannot complete the handshake. */
static void test_other_org(void)
{
    test_node_t a[2], b[2];
    world(a, 2, CLINICAL);
    world(b, 2, CLINICAL);
    pair_result_t r;
    run_pair(a[0].store, b[1].store, &r, -1, 0);
    CHECK(r.state[0] == CAIRN_SYNC_CLOSED || r.state[1] == CAIRN_SYNC_CLOSED);
    CHECK(r.reason[0] == CAIRN_CLOSE_AUTH || r.reason[1] == CAIRN_CLOSE_AUTH);
    CHECK(r.stats[0].changes_out == 0 && r.stats[1].changes_out == 0);
    for (int i = 0; i < 2; i++) {
        test_node_destroy(&a[i]);
        test_node_destroy(&b[i]);
    }
}

/* A node of our organisation but not on the roster is turned away before any plan flows. */
static void test_unknown_peer(void)
{
    test_node_t n[3];
    world(n, 2, CLINICAL);
    test_node_create(&n[2], "sync-stranger");
    uint8_t org[32];
    CHECK_OK(cairn_org_key(n[0].store, org));
    CHECK_OK(cairn_org_join(n[2].store, org));
    uint8_t plan[CAIRN_PLAN_ID_BYTES];
    cairn_plan_id_new(plan);
    test_title(n[0].store, plan, "private");
    pair_result_t r;
    run_pair(n[2].store, n[0].store, &r, -1, 0);
    CHECK(r.state[1] == CAIRN_SYNC_CLOSED && r.reason[1] == CAIRN_CLOSE_UNKNOWN_PEER);
    CHECK(r.stats[1].changes_out == 0);
    /* Named (authenticated, for a log) but not admitted: nothing to keep records of. */
    CHECK(r.named[1] && !r.admitted[1]);
    run_pair(n[0].store, n[2].store, &r, -1, 0);
    CHECK(r.state[0] == CAIRN_SYNC_CLOSED && r.reason[0] == CAIRN_CLOSE_UNKNOWN_PEER);
    CHECK(r.stats[0].changes_out == 0);
    for (int i = 0; i < 3; i++)
        test_node_destroy(&n[i]);
}

/* Any flipped byte on the wire ends the session; nothing half-applied; a retry heals. */
static void test_tampering(void)
{
    test_node_t n[2];
    world(n, 2, CLINICAL);
    uint8_t plan[CAIRN_PLAN_ID_BYTES];
    cairn_plan_id_new(plan);
    for (int i = 0; i < 5; i++)
        test_title(n[0].store, plan, "x");
    for (int flight = 0; flight < 6; flight++) {
        pair_result_t r;
        run_pair(n[0].store, n[1].store, &r, flight, 9);
        CHECK(r.state[0] != CAIRN_SYNC_DONE || r.state[1] != CAIRN_SYNC_DONE ||
              r.flights <= flight);
    }
    pair_result_t r;
    run_pair(n[0].store, n[1].store, &r, -1, 0);
    CHECK(r.state[0] == CAIRN_SYNC_DONE && same_replicas(n[0].store, n[1].store));
    test_node_destroy(&n[0]);
    test_node_destroy(&n[1]);
}

/* An outreach laptop receives its caseload only. */
static void test_partial_replica(void)
{
    test_node_t n[2];
    for (int i = 0; i < 2; i++)
        test_node_create(&n[i], "sync-partial");
    CHECK_OK(cairn_org_create(n[0].store, "clinic"));
    CHECK_OK(cairn_roster_put(n[0].store, n[0].pk, "clinic", CAIRN_ROLE_CARE_MANAGER, 0, 0));
    CHECK_OK(cairn_roster_put(n[0].store, n[1].pk, "laptop", CAIRN_ROLE_OUTREACH, 0, 0));
    uint8_t org[32];
    CHECK_OK(cairn_org_key(n[0].store, org));
    CHECK_OK(cairn_org_join(n[1].store, org));
    uint8_t mine[CAIRN_PLAN_ID_BYTES], other[CAIRN_PLAN_ID_BYTES];
    cairn_plan_id_new(mine);
    cairn_plan_id_new(other);
    test_title(n[0].store, other, "not on the laptop's caseload");
    test_add_member(n[0].store, mine, n[1].pk, NULL);
    pair_result_t r;
    run_pair(n[1].store, n[0].store, &r, -1, 0);
    CHECK(r.state[0] == CAIRN_SYNC_DONE && r.state[1] == CAIRN_SYNC_DONE);
    cairn_plan_state_t *st;
    CHECK_OK(cairn_plan_read(n[1].store, mine, &st));
    CHECK(cairn_plan_state_changes(st) == 1);
    cairn_plan_state_free(st);
    CHECK_OK(cairn_plan_read(n[1].store, other, &st));
    CHECK(cairn_plan_state_changes(st) == 0);
    cairn_plan_state_free(st);
    /* A second session finds nothing to do: the partial replica is in sync. */
    run_pair(n[0].store, n[1].store, &r, -1, 0);
    CHECK(r.state[0] == CAIRN_SYNC_DONE && r.stats[0].changes_out == 0 &&
          r.stats[1].changes_out == 0);
    test_node_destroy(&n[0]);
    test_node_destroy(&n[1]);
}

/* A change by key sk in plan at seq after prev (NULL for seq 1). */
/*
 * An author's chain that went two ways (a device restored from a backup):
 * A holds 1..4, 5a, 6, 7; B holds 1..4, 5b. One session gives both all of it.
 */
static void test_fork_heals(void)
{
    test_node_t n[2];
    world(n, 2, CLINICAL);
    uint8_t pk[32], sk[64], plan[CAIRN_PLAN_ID_BYTES];
    crypto_sign_keypair(pk, sk);
    CHECK_OK(cairn_roster_put(n[0].store, pk, "restored device", CLINICAL, 0, 0));
    pair_result_t r;
    run_pair(n[0].store, n[1].store, &r, -1, 0); /* the roster entry reaches B */
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
    run_pair(n[0].store, n[1].store, &r, -1, 0);
    CHECK(r.state[0] == CAIRN_SYNC_DONE && r.state[1] == CAIRN_SYNC_DONE);
    CHECK(same_replicas(n[0].store, n[1].store));
    uint64_t pending;
    CHECK_OK(cairn_pending_count(n[1].store, &pending));
    CHECK(pending == 0);
    cairn_plan_state_t *st;
    CHECK_OK(cairn_plan_read(n[1].store, plan, &st));
    CHECK(cairn_plan_state_changes(st) == 8);
    cairn_plan_state_free(st);
    for (int i = 1; i <= 7; i++)
        cairn_change_free(c[i]);
    cairn_change_free(b5);
    test_node_destroy(&n[0]);
    test_node_destroy(&n[1]);
}

/*
 * A difference too large for one turn's budget: every one of 3,000 plans
 * edited on both sides. Each session settles part of it; a few converge.
 */
static void test_large_difference(void)
{
    test_node_t n[2];
    world(n, 2, CLINICAL);
    enum { NPLANS = 3000 };
    uint8_t(*plans)[CAIRN_PLAN_ID_BYTES] = malloc(NPLANS * CAIRN_PLAN_ID_BYTES);
    CHECK(plans != NULL);
    for (int side = 0; side < 3; side++) {
        cairn_store_t *st = n[side == 2 ? 1 : 0].store;
        cairn_batch_t *b;
        CHECK_OK(cairn_batch_begin(st, &b));
        for (int p = 0; p < NPLANS; p++) {
            cairn_edit_t *e;
            cairn_value_t v = str(side == 0 ? "first" : "edited");
            if (side == 0)
                cairn_plan_id_new(plans[p]);
            CHECK_OK(cairn_edit_begin(b, plans[p], &e));
            CHECK_OK(cairn_edit_set(e, CAIRN_ET_PLAN, cairn_singleton_eid,
                                    field(CAIRN_ET_PLAN, "title"), &v));
            CHECK_OK(cairn_edit_commit(e, NULL));
        }
        CHECK_OK(cairn_batch_commit(b));
        if (side == 0) {
            pair_result_t r;
            run_pair(n[0].store, n[1].store, &r, -1, 0);
            CHECK(r.state[0] == CAIRN_SYNC_DONE);
        }
    }
    int sessions = 0;
    for (; sessions < 10 && !same_replicas(n[0].store, n[1].store); sessions++) {
        pair_result_t r;
        run_pair(n[0].store, n[1].store, &r, -1, 0);
        CHECK(r.state[0] == CAIRN_SYNC_DONE && r.state[1] == CAIRN_SYNC_DONE);
    }
    fprintf(stderr, "6,000 concurrent edits settled in %d sessions\n", sessions);
    CHECK(same_replicas(n[0].store, n[1].store) && sessions >= 1);
    free(plans);
    test_node_destroy(&n[0]);
    test_node_destroy(&n[1]);
}

static void plan_digest(cairn_store_t *s, const uint8_t *plan, uint8_t out[32])
{
    cairn_plan_state_t *st;
    CHECK_OK(cairn_plan_read(s, plan, &st));
    cairn_plan_state_digest(st, out);
    cairn_plan_state_free(st);
}

static void title_is(cairn_store_t *s, const uint8_t *plan, const char *want)
{
    cairn_plan_state_t *st;
    cairn_field_view_t v;
    CHECK_OK(cairn_plan_read(s, plan, &st));
    CHECK(cairn_plan_state_field(st, CAIRN_ET_PLAN, cairn_singleton_eid,
                                 field(CAIRN_ET_PLAN, "title"), &v) == 0);
    CHECK(v.values[0].len == strlen(want) && memcmp(v.values[0].s, want, v.values[0].len) == 0);
    cairn_plan_state_free(st);
}

/*
 * A member revoked at T keeps writing offline; B takes the late change
 * before it hears of the revocation, A after. Once they sync, both hold the
 * late change, inert, and show the same plan: the revocation voided it on
 * B, and nothing by anyone else was lost.
 */
static void test_revocation_order(void)
{
    test_node_t n[2];
    world(n, 2, CLINICAL);
    uint8_t pk[32], sk[64], plan[CAIRN_PLAN_ID_BYTES], d0[32], d1[32];
    crypto_sign_keypair(pk, sk);
    CHECK_OK(cairn_roster_put(n[0].store, pk, "laptop, later lost", CLINICAL, 0, 0));
    cairn_plan_id_new(plan);
    test_title(n[0].store, plan, "agreed title");
    pair_result_t r;
    run_pair(n[0].store, n[1].store, &r, -1, 0);
    CHECK(r.state[0] == CAIRN_SYNC_DONE);

    uint64_t t = 2000000000000ull; /* the revocation, and later changes, are in 2033 */
    cairn_change_t *x1 = test_signed_title(sk, plan, 1, NULL, t - 1000, "before the revocation");
    cairn_change_t *x2 = test_signed_title(sk, plan, 2, x1, t + 1000, "after the revocation");
    test_give(n[1].store, x1);
    test_give(n[1].store, x2); /* B does not know yet: applied */
    title_is(n[1].store, plan, "after the revocation");
    CHECK_OK(cairn_roster_revoke(n[0].store, pk, t));
    const uint8_t *b = x1->bytes;
    size_t len = x1->len;
    CHECK_OK(cairn_ingest(n[0].store, &b, &len, 1, NULL, NULL));
    cairn_ingest_result_t res;
    b = x2->bytes;
    len = x2->len;
    CHECK_OK(cairn_ingest(n[0].store, &b, &len, 1, &res, NULL));
    CHECK(res.verdict == CAIRN_INERT && res.reason == CAIRN_REASON_NOT_VALID);
    title_is(n[0].store, plan, "before the revocation");

    run_pair(n[0].store, n[1].store, &r, -1, 0); /* the revocation reaches B */
    CHECK(r.state[0] == CAIRN_SYNC_DONE && r.state[1] == CAIRN_SYNC_DONE);
    title_is(n[1].store, plan, "before the revocation");
    CHECK(same_replicas(n[0].store, n[1].store));
    plan_digest(n[0].store, plan, d0);
    plan_digest(n[1].store, plan, d1);
    CHECK(memcmp(d0, d1, 32) == 0);
    /* The rebuild from the log agrees, and a further session finds nothing to do. */
    uint8_t rebuilt[32];
    CHECK_OK(cairn_plan_rebuild(n[1].store, plan, rebuilt));
    CHECK(memcmp(rebuilt, d1, 32) == 0);
    run_pair(n[1].store, n[0].store, &r, -1, 0);
    CHECK(r.stats[0].changes_out == 0 && r.stats[1].changes_out == 0);
    cairn_change_free(x1);
    cairn_change_free(x2);
    test_node_destroy(&n[0]);
    test_node_destroy(&n[1]);
}

/* Silence brings a ping after the keepalive, and a close after the timeout. */
static void test_keepalive_timeout(void)
{
    test_node_t n[2];
    world(n, 2, CLINICAL);
    cairn_sync_t *s[2];
    cairn_sync_opts_t oa = {1, 1000, 500, 3000, 0, NULL}, ob = {0, 1000, 500, 3000, 0, NULL};
    CHECK_OK(cairn_sync_new(n[0].store, &oa, &s[0]));
    CHECK_OK(cairn_sync_new(n[1].store, &ob, &s[1]));
    /* Handshake only: move the three messages, then hold the first turn back. */
    for (int i = 0; i < 3; i++) {
        int k = i % 2;
        size_t len;
        const uint8_t *p = cairn_sync_output(s[k], &len);
        CHECK(len > 0);
        uint8_t buf[4096];
        size_t take = len;
        if (i == 2) /* message 3 and the first turn travel together: keep only message 3 */
            take = 4 + ((size_t)p[0] << 24 | (size_t)p[1] << 16 | (size_t)p[2] << 8 | p[3]);
        CHECK(take <= sizeof buf);
        memcpy(buf, p, take);
        CHECK_OK(cairn_sync_consumed(s[k], len));
        CHECK_OK(cairn_sync_feed(s[1 - k], buf, take, 1000));
    }
    CHECK(cairn_sync_state(s[1]) == CAIRN_SYNC_RUNNING);
    size_t len;
    cairn_sync_output(s[1], &len);
    CHECK(len == 0); /* the responder waits for the turn that never came */
    CHECK_OK(cairn_sync_tick(s[1], 1600));
    cairn_sync_output(s[1], &len);
    CHECK(len > 0); /* a ping */
    CHECK_OK(cairn_sync_consumed(s[1], len));
    CHECK_OK(cairn_sync_tick(s[1], 4100));
    CHECK(cairn_sync_state(s[1]) == CAIRN_SYNC_CLOSED &&
          cairn_sync_close_reason(s[1]) == CAIRN_CLOSE_TIMEOUT);
    CHECK(strcmp(cairn_close_reason_name(CAIRN_CLOSE_TIMEOUT), "timeout") == 0);
    cairn_sync_free(s[0]);
    cairn_sync_free(s[1]);
    test_node_destroy(&n[0]);
    test_node_destroy(&n[1]);
}

/* Garbage instead of a handshake, and an absurd frame length, end the session. */
static void test_garbage(void)
{
    test_node_t n[2];
    world(n, 2, CLINICAL);
    cairn_sync_t *s;
    cairn_sync_opts_t ob = {0, 1000, 0, 0, 0, NULL};
    CHECK_OK(cairn_sync_new(n[1].store, &ob, &s));
    const uint8_t junk[] = {0, 0, 0, 5, 'h', 'e', 'l', 'l', 'o'};
    CHECK_OK(cairn_sync_feed(s, junk, sizeof junk, 1000));
    CHECK(cairn_sync_state(s) == CAIRN_SYNC_CLOSED);
    cairn_sync_free(s);
    CHECK_OK(cairn_sync_new(n[1].store, &ob, &s));
    const uint8_t huge[] = {0x7f, 0xff, 0xff, 0xff};
    CHECK_OK(cairn_sync_feed(s, huge, sizeof huge, 1000));
    CHECK(cairn_sync_state(s) == CAIRN_SYNC_CLOSED &&
          cairn_sync_close_reason(s) == CAIRN_CLOSE_TOO_BIG);
    cairn_sync_free(s);
    /* Before the handshake is done a frame may not be large: a stranger gets no MiB buffer. */
    CHECK_OK(cairn_sync_new(n[1].store, &ob, &s));
    const uint8_t big_hs[] = {0, 0, 2, 1}; /* 513 bytes announced */
    CHECK_OK(cairn_sync_feed(s, big_hs, sizeof big_hs, 1000));
    CHECK(cairn_sync_state(s) == CAIRN_SYNC_CLOSED &&
          cairn_sync_close_reason(s) == CAIRN_CLOSE_TOO_BIG);
    cairn_sync_free(s);
    /* A stranger trickling bytes is closed once the handshake has taken too long. */
    CHECK_OK(cairn_sync_new(n[1].store, &ob, &s));
    const uint8_t hdr[] = {0, 0, 0, 60};
    CHECK_OK(cairn_sync_feed(s, hdr, sizeof hdr, 1000));
    for (uint64_t t = 1000; t < 1000 + CAIRN_SYNC_HANDSHAKE_MS; t += 2000) {
        const uint8_t one = 'x';
        CHECK_OK(cairn_sync_feed(s, &one, 1, t));
        CHECK_OK(cairn_sync_tick(s, t));
        CHECK(cairn_sync_state(s) == CAIRN_SYNC_HANDSHAKE);
    }
    CHECK_OK(cairn_sync_tick(s, 1000 + CAIRN_SYNC_HANDSHAKE_MS));
    CHECK(cairn_sync_state(s) == CAIRN_SYNC_CLOSED &&
          cairn_sync_close_reason(s) == CAIRN_CLOSE_TIMEOUT);
    CHECK(cairn_sync_peer(s) == NULL && !cairn_sync_admitted(s));
    cairn_sync_free(s);
    test_node_destroy(&n[0]);
    test_node_destroy(&n[1]);
}

/* ---- a hand-made peer: well authenticated, badly behaved --------------------- */

/* The handshake's DH with a store's identity, as session.c does it. */
static cairn_err_t store_dh(const void *ctx, const uint8_t peer[32], uint8_t shared[32])
{
    return cairn_store_identity_dh(ctx, peer, shared);
}

/* A store's identity as a Noise static key: its public key, and DH done by the store. */
static cairn_noise_static_t key_of(cairn_store_t *st)
{
    cairn_store_info_t info;
    CHECK_OK(cairn_store_info(st, &info));
    cairn_noise_static_t k = {{0}, 0, store_dh, st};
    memcpy(k.pub, info.public_key, 32);
    return k;
}

/* Frame p (n bytes) and feed it to s. */
static void feed_frame(cairn_sync_t *s, const uint8_t *p, size_t n)
{
    uint8_t *f = malloc(4 + n);
    CHECK(f != NULL);
    f[0] = (uint8_t)(n >> 24), f[1] = (uint8_t)(n >> 16), f[2] = (uint8_t)(n >> 8);
    f[3] = (uint8_t)n;
    memcpy(f + 4, p, n);
    CHECK_OK(cairn_sync_feed(s, f, 4 + n, 1000));
    free(f);
}

/*
 * Open a session to responder store b as node a, completing the handshake
 * by hand with a's identity: *resp is b's session, *n our Noise state.
 */
static void fake_peer(test_node_t *a, cairn_store_t *b, cairn_sync_t **resp, cairn_noise_t *n)
{
    uint8_t org[32], prologue[sizeof "cairn sync v1" + 32], msg[512], pl[64];
    size_t len, plen;
    cairn_sync_opts_t ob = {0, 1000, 0, 0, 0, NULL};
    CHECK_OK(cairn_sync_new(b, &ob, resp));
    cairn_noise_static_t key = key_of(a->store);
    CHECK_OK(cairn_org_key(a->store, org));
    memcpy(prologue, "cairn sync v1", sizeof "cairn sync v1");
    memcpy(prologue + sizeof "cairn sync v1", org, 32);
    CHECK_OK(cairn__noise_init(n, 1, &key, prologue, sizeof prologue, NULL));
    const uint8_t versions[1] = {CAIRN_SYNC_VERSION};
    CHECK_OK(cairn__noise_write(n, versions, 1, msg, sizeof msg, &len));
    feed_frame(*resp, msg, len);
    const uint8_t *out = cairn_sync_output(*resp, &len);
    CHECK(len > 4);
    CHECK_OK(cairn__noise_read(n, out + 4, len - 4, pl, sizeof pl, &plen));
    CHECK_OK(cairn_sync_consumed(*resp, len));
    CHECK_OK(cairn__noise_write(n, NULL, 0, msg, sizeof msg, &len));
    feed_frame(*resp, msg, len);
    CHECK(cairn_sync_state(*resp) == CAIRN_SYNC_RUNNING);
}

/* Encrypt plain as our next frame and feed it to the responder. */
static void send_plain(cairn_sync_t *resp, cairn_noise_t *n, const uint8_t *plain, size_t len)
{
    uint8_t *c = malloc(len + CAIRN_NOISE_TAG_BYTES);
    CHECK(c != NULL);
    CHECK_OK(cairn__noise_encrypt(n, NULL, 0, plain, len, c));
    feed_frame(resp, c, len + CAIRN_NOISE_TAG_BYTES);
    free(c);
}

/*
 * Frames that decrypt but break the protocol each end the session with
 * reason protocol, having changed nothing: wrong types, ranges out of
 * bounds, vectors out of order, item lists too long, nesting too deep,
 * trailing bytes, unknown frame types.
 */
static void test_malformed_frames(void)
{
    test_node_t n[2];
    world(n, 2, CLINICAL);
    uint8_t plan[CAIRN_PLAN_ID_BYTES];
    cairn_plan_id_new(plan);
    test_title(n[1].store, plan, "held by b");
    static uint8_t vec_unsorted[2 + 2 + 18 + 2 + 2 * (1 + 34 + 1 + 1 + 34) + 4];
    size_t v = 0;
    vec_unsorted[v++] = 0x96, vec_unsorted[v++] = 0x02, vec_unsorted[v++] = 0x90;
    vec_unsorted[v++] = 0x90;
    vec_unsorted[v++] = 0x91; /* vecs: one */
    vec_unsorted[v++] = 0x92, vec_unsorted[v++] = 0xc4, vec_unsorted[v++] = 16;
    memcpy(vec_unsorted + v, plan, 16), v += 16;
    vec_unsorted[v++] = 0x92; /* two entries, authors 0x22.. then 0x11.. */
    for (int e = 0; e < 2; e++) {
        vec_unsorted[v++] = 0x94, vec_unsorted[v++] = 0xc4, vec_unsorted[v++] = 32;
        memset(vec_unsorted + v, e == 0 ? 0x22 : 0x11, 32), v += 32;
        vec_unsorted[v++] = 1, vec_unsorted[v++] = 1;
        vec_unsorted[v++] = 0xc4, vec_unsorted[v++] = 32;
        memset(vec_unsorted + v, 0, 32), v += 32;
    }
    vec_unsorted[v++] = 0x90, vec_unsorted[v++] = 0x90;
    /* items for the whole id space: 33 plans, more than any honest list */
    static uint8_t items_long[8 + 33 * 38];
    size_t it = 0;
    items_long[it++] = 0x96, items_long[it++] = 0x02, items_long[it++] = 0x90;
    items_long[it++] = 0x91, items_long[it++] = 0x93, items_long[it++] = 0, items_long[it++] = 0;
    items_long[it++] = 0xdc, items_long[it++] = 0, items_long[it++] = 33;
    for (int k = 0; k < 33; k++) {
        items_long[it++] = 0x92, items_long[it++] = 0xc4, items_long[it++] = 16;
        memset(items_long + it, k, 16), it += 16;
        items_long[it++] = 0xc4, items_long[it++] = 16;
        memset(items_long + it, 0, 16), it += 16;
    }
    items_long[it++] = 0x90, items_long[it++] = 0x90, items_long[it++] = 0x90;
    const struct {
        const char *what;
        const uint8_t *p;
        size_t n;
    } cases[] = {
        {"range depth 17",
         (const uint8_t[]){0x96, 2, 0x91, 0x94, 17, 0, 1, 0, 0x90, 0x90, 0x90, 0x90}, 12},
        {"prefix longer than depth",
         (const uint8_t[]){0x96, 2, 0x91, 0x94, 1, 16, 1, 0, 0x90, 0x90, 0x90, 0x90}, 12},
        {"fingerprint not an integer",
         (const uint8_t[]){0x96, 2, 0x91, 0x94, 0, 0, 1, 0xc0, 0x90, 0x90, 0x90, 0x90}, 12},
        {"split without 32 entries",
         (const uint8_t[]){0x96, 2, 0x91, 0x93, 1, 0, 0x90, 0x90, 0x90, 0x90, 0x90}, 11},
        {"a TURN missing its alls", (const uint8_t[]){0x95, 2, 0x90, 0x90, 0x90, 0x90}, 6},
        {"vector authors out of order", vec_unsorted, v},
        {"an item list too long", items_long, it},
        {"a change that is no bin", (const uint8_t[]){0x92, 1, 0x91, 5}, 4},
        {"an unknown frame type", (const uint8_t[]){0x91, 9}, 2},
        {"not an array", (const uint8_t[]){0x05}, 1},
        {"trailing bytes", (const uint8_t[]){0x91, 3, 0}, 3},
        {"nested too deep", (const uint8_t[]){0x92, 2, 0x91, 0x91, 0x91, 0x91, 0x91, 0x90}, 8},
        {"truncated", (const uint8_t[]){0x96, 2, 0x91}, 3},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cairn_sync_t *resp;
        cairn_noise_t nz;
        fake_peer(&n[0], n[1].store, &resp, &nz);
        send_plain(resp, &nz, cases[i].p, cases[i].n);
        if (cairn_sync_state(resp) != CAIRN_SYNC_CLOSED ||
            cairn_sync_close_reason(resp) != CAIRN_CLOSE_PROTOCOL) {
            fprintf(stderr, "%s: not closed for protocol\n", cases[i].what);
            CHECK(0);
        }
        cairn_sync_stats_t st;
        cairn_sync_get_stats(resp, &st);
        CHECK(st.changes_out == 0 && st.applied == 0);
        cairn_sync_free(resp);
        cairn__noise_wipe(&nz);
    }
    test_node_destroy(&n[0]);
    test_node_destroy(&n[1]);
}

/*
 * No protocol version in common: a responder offered only version 2 answers
 * "none" and closes, and an initiator told "none" closes too; neither sends
 * anything about a plan.
 */
static void test_version_mismatch(void)
{
    test_node_t n[2];
    world(n, 2, CLINICAL);
    uint8_t org[32], prologue[sizeof "cairn sync v1" + 32], msg[512], pl[64];
    size_t len, plen;
    CHECK_OK(cairn_org_key(n[0].store, org));
    memcpy(prologue, "cairn sync v1", sizeof "cairn sync v1");
    memcpy(prologue + sizeof "cairn sync v1", org, 32);

    /* A future initiator, speaking only version 2, to a real responder. */
    cairn_sync_t *s;
    cairn_noise_t nz;
    cairn_sync_opts_t ob = {0, 1000, 0, 0, 0, NULL};
    CHECK_OK(cairn_sync_new(n[1].store, &ob, &s));
    cairn_noise_static_t key0 = key_of(n[0].store), key1 = key_of(n[1].store);
    CHECK_OK(cairn__noise_init(&nz, 1, &key0, prologue, sizeof prologue, NULL));
    const uint8_t v2 = 2;
    CHECK_OK(cairn__noise_write(&nz, &v2, 1, msg, sizeof msg, &len));
    feed_frame(s, msg, len);
    CHECK(cairn_sync_state(s) == CAIRN_SYNC_CLOSED &&
          cairn_sync_close_reason(s) == CAIRN_CLOSE_VERSION);
    const uint8_t *out = cairn_sync_output(s, &len);
    CHECK(len > 4);
    CHECK_OK(cairn__noise_read(&nz, out + 4, len - 4, pl, sizeof pl, &plen));
    CHECK(plen == 1 && pl[0] == 0); /* "none in common" */
    cairn_sync_free(s);

    /* A real initiator, answered "none" by a hand-made responder. */
    cairn_sync_opts_t oa = {1, 1000, 0, 0, 0, NULL};
    CHECK_OK(cairn_sync_new(n[0].store, &oa, &s));
    CHECK_OK(cairn__noise_init(&nz, 0, &key1, prologue, sizeof prologue, NULL));
    out = cairn_sync_output(s, &len);
    CHECK_OK(cairn__noise_read(&nz, out + 4, len - 4, pl, sizeof pl, &plen));
    CHECK_OK(cairn_sync_consumed(s, len));
    const uint8_t none = 0;
    CHECK_OK(cairn__noise_write(&nz, &none, 1, msg, sizeof msg, &len));
    feed_frame(s, msg, len);
    CHECK(cairn_sync_state(s) == CAIRN_SYNC_CLOSED &&
          cairn_sync_close_reason(s) == CAIRN_CLOSE_VERSION);
    cairn_sync_output(s, &len);
    CHECK(len == 0); /* no message 3: it never said who it is */
    cairn_sync_free(s);
    cairn__noise_wipe(&nz);
    test_node_destroy(&n[0]);
    test_node_destroy(&n[1]);
}

/*
 * An authenticated peer that sends a forged change and one signed by a key
 * not on the roster: ingest refuses both, nothing is held, and the session
 * goes on.
 */
static void test_forged_changes_over_sync(void)
{
    test_node_t n[2];
    world(n, 2, CLINICAL);
    uint8_t plan[CAIRN_PLAN_ID_BYTES], pk[32], sk[64];
    cairn_plan_id_new(plan);
    crypto_sign_keypair(pk, sk);
    cairn_change_t *stranger = test_signed_title(sk, plan, 1, NULL, 100, "not on the roster");
    cairn_change_t *real = test_signed_title(sk, plan, 1, NULL, 100, "tampered");
    uint8_t forged[1024];
    CHECK(real->len <= sizeof forged);
    memcpy(forged, real->bytes, real->len);
    forged[real->len - 70] ^= 1; /* inside the signed fields: the signature fails */
    uint8_t frame[2100];
    size_t f = 0;
    frame[f++] = 0x92, frame[f++] = 1, frame[f++] = 0x92;
    frame[f++] = 0xc5, frame[f++] = (uint8_t)(stranger->len >> 8);
    frame[f++] = (uint8_t)stranger->len;
    memcpy(frame + f, stranger->bytes, stranger->len), f += stranger->len;
    frame[f++] = 0xc5, frame[f++] = (uint8_t)(real->len >> 8), frame[f++] = (uint8_t)real->len;
    memcpy(frame + f, forged, real->len), f += real->len;
    cairn_sync_t *resp;
    cairn_noise_t nz;
    fake_peer(&n[0], n[1].store, &resp, &nz);
    send_plain(resp, &nz, frame, f);
    CHECK(cairn_sync_state(resp) == CAIRN_SYNC_RUNNING);
    CHECK(test_sync_ingest(resp, n[1].store) == 1);
    cairn_sync_stats_t st;
    cairn_sync_get_stats(resp, &st);
    CHECK(st.changes_in == 2 && st.rejected == 2 && st.applied == 0);
    cairn_buf_t buf = CAIRN_BUF_INIT;
    CHECK_ERR(cairn_change_get(n[1].store, plan, stranger->id, &buf), CAIRN_ENOTFOUND);
    CHECK_ERR(cairn_change_get(n[1].store, plan, real->id, &buf), CAIRN_ENOTFOUND);
    cairn_sync_free(resp);
    cairn__noise_wipe(&nz);
    cairn_change_free(stranger);
    cairn_change_free(real);
    test_node_destroy(&n[0]);
    test_node_destroy(&n[1]);
}

/* ---- the public close, the work boundary, backpressure ------------------------ */

/*
 * Decrypt every frame s has output with the peer's Noise state n, keeping
 * each plaintext's first bytes in plain[i] (up to 8); the output is
 * consumed. Returns the frame count.
 */
static size_t read_frames(cairn_sync_t *s, cairn_noise_t *n, uint8_t plain[][8], size_t max)
{
    size_t len, count = 0;
    const uint8_t *p = cairn_sync_output(s, &len);
    uint8_t *buf = malloc(CAIRN_SYNC_MAX_FRAME + 16);
    CHECK(buf != NULL);
    for (size_t off = 0; off < len; count++) {
        CHECK(len - off >= 4 && count < max);
        size_t fl =
            (size_t)p[off] << 24 | (size_t)p[off + 1] << 16 | (size_t)p[off + 2] << 8 | p[off + 3];
        CHECK(len - off - 4 >= fl && fl >= CAIRN_NOISE_TAG_BYTES);
        CHECK_OK(cairn__noise_decrypt(n, NULL, 0, p + off + 4, fl, buf));
        memset(plain[count], 0, 8);
        memcpy(plain[count], buf, fl - 16 < 8 ? fl - 16 : 8);
        off += 4 + fl;
    }
    free(buf);
    CHECK_OK(cairn_sync_consumed(s, len));
    return count;
}

typedef struct one_change {
    uint8_t bytes[2048];
    size_t len;
} one_change_t;

static int grab_change(void *ctx, const uint8_t *id, const uint8_t *bytes, size_t len)
{
    (void)id;
    one_change_t *c = ctx;
    CHECK(len <= sizeof c->bytes);
    memcpy(c->bytes, bytes, len);
    c->len = len;
    return 1;
}

/* [1, [change]]: a CHANGES frame of one change, into f; returns its size. */
static size_t changes_frame(uint8_t *f, const one_change_t *c)
{
    size_t k = 0;
    f[k++] = 0x92, f[k++] = 1, f[k++] = 0x91;
    f[k++] = 0xc5, f[k++] = (uint8_t)(c->len >> 8), f[k++] = (uint8_t)c->len;
    memcpy(f + k, c->bytes, c->len);
    return k + c->len;
}

/*
 * cairn_sync_close tells the peer why (CLOSE with the reason, encrypted),
 * is idempotent (the first reason stays, nothing more is sent), and bytes
 * fed afterwards are ignored. A peer's CLOSE ends the receiving side with
 * the reason it carried, and it sends nothing back. Before the channel is
 * up a close sends nothing.
 */
static void test_public_close(void)
{
    test_node_t n[2];
    world(n, 2, CLINICAL);
    cairn_sync_t *resp;
    cairn_noise_t nz;
    uint8_t pl[8][8];
    fake_peer(&n[0], n[1].store, &resp, &nz);
    cairn_sync_close(resp, CAIRN_CLOSE_TIMEOUT);
    CHECK(cairn_sync_state(resp) == CAIRN_SYNC_CLOSED &&
          cairn_sync_close_reason(resp) == CAIRN_CLOSE_TIMEOUT);
    CHECK(read_frames(resp, &nz, pl, 8) == 1);
    CHECK(pl[0][0] == 0x92 && pl[0][1] == 5 && pl[0][2] == CAIRN_CLOSE_TIMEOUT);
    cairn_sync_close(resp, CAIRN_CLOSE_DONE); /* again: nothing changes, nothing is sent */
    CHECK(cairn_sync_state(resp) == CAIRN_SYNC_CLOSED &&
          cairn_sync_close_reason(resp) == CAIRN_CLOSE_TIMEOUT);
    size_t len;
    cairn_sync_output(resp, &len);
    CHECK(len == 0 && !cairn_sync_wants_input(resp));
    /* Fed after the close: a PING gets no PONG, and no frame is even taken. */
    cairn_sync_stats_t before, after;
    cairn_sync_get_stats(resp, &before);
    const uint8_t ping[2] = {0x91, 3};
    send_plain(resp, &nz, ping, sizeof ping);
    cairn_sync_get_stats(resp, &after);
    cairn_sync_output(resp, &len);
    CHECK(len == 0 && after.frames_in == before.frames_in && after.bytes_in == before.bytes_in);
    CHECK_OK(cairn_sync_tick(resp, 100000)); /* no timeout over a close: still the first reason */
    CHECK(cairn_sync_close_reason(resp) == CAIRN_CLOSE_TIMEOUT);
    cairn_sync_free(resp);
    cairn__noise_wipe(&nz);

    /* The peer closes: the reason it sent is ours, and we answer nothing. */
    fake_peer(&n[0], n[1].store, &resp, &nz);
    const uint8_t close[3] = {0x92, 5, CAIRN_CLOSE_UNKNOWN_PEER};
    send_plain(resp, &nz, close, sizeof close);
    CHECK(cairn_sync_state(resp) == CAIRN_SYNC_CLOSED &&
          cairn_sync_close_reason(resp) == CAIRN_CLOSE_UNKNOWN_PEER);
    cairn_sync_output(resp, &len);
    CHECK(len == 0);
    cairn_sync_free(resp);
    cairn__noise_wipe(&nz);

    /* During the handshake there is no channel: the close says nothing. */
    cairn_sync_t *s;
    cairn_sync_opts_t oa = {1, 1000, 0, 0, 0, NULL};
    CHECK_OK(cairn_sync_new(n[0].store, &oa, &s));
    size_t hs_len;
    cairn_sync_output(s, &hs_len);
    cairn_sync_close(s, CAIRN_CLOSE_DONE);
    cairn_sync_output(s, &len);
    CHECK(len == hs_len && cairn_sync_state(s) == CAIRN_SYNC_DONE);
    cairn_sync_free(s);
    test_node_destroy(&n[0]);
    test_node_destroy(&n[1]);
}

/*
 * A responder session of n[1] facing a hand-made peer n[0] (nz, its half of
 * the channel), which has just sent one CHANGES frame holding its change c
 * (a title of a new plan): that change is now the session's work.
 */
static void peer_sent_one_change(test_node_t n[2], uint8_t plan[CAIRN_PLAN_ID_BYTES],
                                 one_change_t *c, cairn_sync_t **resp, cairn_noise_t *nz)
{
    uint8_t frame[2100];
    world(n, 2, CLINICAL);
    cairn_plan_id_new(plan);
    test_title(n[0].store, plan, "from the peer");
    CHECK_OK(cairn_plan_changes(n[0].store, plan, grab_change, c));
    fake_peer(&n[0], n[1].store, resp, nz);
    size_t f = changes_frame(frame, c);
    send_plain(*resp, nz, frame, f); /* at t = 1000 ms */
}

/*
 * While received changes are outstanding work, nothing is in the store,
 * no later frame is processed (a PING waits for its PONG, a TURN for its
 * answer), and once the buffered input reaches the bound the session wants
 * no more. When the work is done the waiting frames are processed in order.
 */
static void test_backpressure(void)
{
    test_node_t n[2];
    uint8_t plan[CAIRN_PLAN_ID_BYTES], pl[8][8];
    one_change_t c;
    cairn_sync_t *resp;
    cairn_noise_t nz;
    peer_sent_one_change(n, plan, &c, &resp, &nz);
    const uint8_t ping[2] = {0x91, 3};
    send_plain(resp, &nz, ping, sizeof ping);
    const uint8_t turn[7] = {0x96, 2, 0x90, 0x90, 0x90, 0x90, 0x90}; /* asks nothing */
    send_plain(resp, &nz, turn, sizeof turn);
    cairn_sync_work_t w;
    CHECK(cairn_sync_work(resp, &w) == 1 && w.n == 1 && w.lens[0] == c.len &&
          memcmp(w.bytes[0], c.bytes, c.len) == 0);
    size_t len;
    cairn_sync_output(resp, &len);
    CHECK(len == 0); /* no PONG, no answer to the TURN */
    cairn_sync_stats_t st;
    cairn_sync_get_stats(resp, &st);
    CHECK(st.changes_in == 1 && st.applied == 0);
    cairn_plan_state_t *ps;
    CHECK_OK(cairn_plan_read(n[1].store, plan, &ps));
    CHECK(cairn_plan_state_changes(ps) == 0); /* feed committed nothing */
    cairn_plan_state_free(ps);
    CHECK(cairn_sync_wants_input(resp) == 1);
    /* A PING padded to the largest frame: now past the bound. */
    uint8_t *big = malloc(CAIRN_SYNC_MAX_FRAME);
    CHECK(big != NULL);
    memset(big, 0, CAIRN_SYNC_MAX_FRAME);
    size_t pad = CAIRN_SYNC_MAX_FRAME - 7;
    big[0] = 0x92, big[1] = 3, big[2] = 0xc6;
    big[3] = (uint8_t)(pad >> 24), big[4] = (uint8_t)(pad >> 16), big[5] = (uint8_t)(pad >> 8);
    big[6] = (uint8_t)pad;
    send_plain(resp, &nz, big, CAIRN_SYNC_MAX_FRAME);
    free(big);
    CHECK(cairn_sync_wants_input(resp) == 0);
    CHECK(cairn_sync_work(resp, &w) == 1 && w.n == 1); /* the same work, still out */
    cairn_sync_output(resp, &len);
    CHECK(len == 0);
    /* Done: the change is in, the frames behind it are answered, in order. */
    CHECK(test_sync_ingest(resp, n[1].store) == 1);
    CHECK(cairn_sync_work(resp, &w) == 0);
    cairn_sync_get_stats(resp, &st);
    CHECK(st.applied == 1);
    CHECK_OK(cairn_plan_read(n[1].store, plan, &ps));
    CHECK(cairn_plan_state_changes(ps) == 1);
    cairn_plan_state_free(ps);
    /* PONG, PONG (the padded PING), then CLOSE done: the TURN asked nothing. */
    CHECK(read_frames(resp, &nz, pl, 8) == 3);
    CHECK(pl[0][0] == 0x91 && pl[0][1] == 4 && pl[1][0] == 0x91 && pl[1][1] == 4);
    CHECK(pl[2][0] == 0x92 && pl[2][1] == 5 && pl[2][2] == CAIRN_CLOSE_DONE);
    CHECK(cairn_sync_state(resp) == CAIRN_SYNC_DONE);
    cairn_sync_free(resp);
    cairn__noise_wipe(&nz);
    test_node_destroy(&n[0]);
    test_node_destroy(&n[1]);
}

/*
 * A slow writer is not a silent peer: while received changes are out as
 * work, the caller may have stopped reading, so the quiet does not count
 * toward the timeout; once the work is done the quiet period starts again.
 */
static void test_slow_work_no_timeout(void)
{
    test_node_t n[2];
    uint8_t plan[CAIRN_PLAN_ID_BYTES];
    one_change_t c;
    cairn_sync_t *resp;
    cairn_noise_t nz;
    peer_sent_one_change(n, plan, &c, &resp, &nz);
    cairn_sync_work_t w;
    CHECK(cairn_sync_work(resp, &w) == 1);
    /* Two minutes with the work out: the session is still up. */
    CHECK_OK(cairn_sync_tick(resp, 1000 + 120000));
    CHECK(cairn_sync_state(resp) == CAIRN_SYNC_RUNNING);
    CHECK(test_sync_ingest(resp, n[1].store) == 1);
    /* The quiet restarts at the work's end: 59 s later still up, 61 s later closed. */
    CHECK_OK(cairn_sync_tick(resp, 1000 + 120000 + 59000));
    CHECK(cairn_sync_state(resp) == CAIRN_SYNC_RUNNING);
    CHECK_OK(cairn_sync_tick(resp, 1000 + 120000 + 61000));
    CHECK(cairn_sync_state(resp) == CAIRN_SYNC_CLOSED &&
          cairn_sync_close_reason(resp) == CAIRN_CLOSE_TIMEOUT);
    cairn_sync_free(resp);
    cairn__noise_wipe(&nz);
    test_node_destroy(&n[0]);
    test_node_destroy(&n[1]);
}

/*
 * A length field altered on the way (the AEAD covers bodies, not lengths)
 * leaves the session waiting for bytes that never come, while the peer's
 * bytes keep trickling in: being heard from means whole frames, so it
 * still times out.
 */
static void test_stuck_frame_times_out(void)
{
    test_node_t n[2];
    world(n, 2, CLINICAL);
    cairn_sync_t *resp;
    cairn_noise_t nz;
    fake_peer(&n[0], n[1].store, &resp, &nz); /* handshaken at t = 1000 ms */
    const uint8_t hdr[] = {0, 0, 0x10, 0};    /* a 4 KiB frame announced, never sent whole */
    CHECK_OK(cairn_sync_feed(resp, hdr, sizeof hdr, 2000));
    uint64_t t = 2000;
    for (; t < 1000 + 60000; t += 10000) {
        const uint8_t one = 0;
        CHECK_OK(cairn_sync_feed(resp, &one, 1, t));
        CHECK_OK(cairn_sync_tick(resp, t));
        CHECK(cairn_sync_state(resp) == CAIRN_SYNC_RUNNING);
    }
    CHECK_OK(cairn_sync_tick(resp, 2000 + 60000));
    CHECK(cairn_sync_state(resp) == CAIRN_SYNC_CLOSED &&
          cairn_sync_close_reason(resp) == CAIRN_CLOSE_TIMEOUT);
    cairn_sync_free(resp);
    cairn__noise_wipe(&nz);
    test_node_destroy(&n[0]);
    test_node_destroy(&n[1]);
}

/*
 * The caller's ingest failed (a full disk): the session closes with reason
 * store and tells the peer; the work is gone, a second report is refused.
 * Work handed out before a close stays valid and may still be reported.
 */
static void test_work_errors(void)
{
    test_node_t n[2];
    uint8_t plan[CAIRN_PLAN_ID_BYTES], pl[8][8], frame[2100];
    one_change_t c;
    cairn_sync_t *resp;
    cairn_noise_t nz;
    peer_sent_one_change(n, plan, &c, &resp, &nz);
    size_t f = changes_frame(frame, &c);
    cairn_sync_work_t w;
    CHECK(cairn_sync_work(resp, &w) == 1);
    CHECK_OK(cairn_sync_work_done(resp, CAIRN_ENOSPC, NULL));
    CHECK(cairn_sync_state(resp) == CAIRN_SYNC_CLOSED &&
          cairn_sync_close_reason(resp) == CAIRN_CLOSE_STORE);
    CHECK(read_frames(resp, &nz, pl, 8) == 1);
    CHECK(pl[0][0] == 0x92 && pl[0][1] == 5 && pl[0][2] == CAIRN_CLOSE_STORE);
    CHECK(cairn_sync_work(resp, &w) == 0);
    CHECK_ERR(cairn_sync_work_done(resp, CAIRN_OK, NULL), CAIRN_EINVAL);
    cairn_sync_free(resp);
    cairn__noise_wipe(&nz);

    /* Evicted while the work runs: the work is still there to finish. */
    fake_peer(&n[0], n[1].store, &resp, &nz);
    send_plain(resp, &nz, frame, f);
    CHECK(cairn_sync_work(resp, &w) == 1);
    cairn_sync_close(resp, CAIRN_CLOSE_TIMEOUT);
    CHECK(cairn_sync_work(resp, &w) == 1 && w.n == 1 && memcmp(w.bytes[0], c.bytes, c.len) == 0);
    CHECK(test_sync_ingest(resp, n[1].store) == 1);
    cairn_sync_stats_t st;
    cairn_sync_get_stats(resp, &st);
    CHECK(st.applied == 1 && cairn_sync_close_reason(resp) == CAIRN_CLOSE_TIMEOUT);
    cairn_sync_free(resp);
    cairn__noise_wipe(&nz);
    test_node_destroy(&n[0]);
    test_node_destroy(&n[1]);
}

int main(void)
{
    CHECK(sodium_init() >= 0);
    RUN(test_converge_two);
    RUN(test_other_org);
    RUN(test_unknown_peer);
    RUN(test_tampering);
    RUN(test_partial_replica);
    RUN(test_fork_heals);
    RUN(test_large_difference);
    RUN(test_revocation_order);
    RUN(test_keepalive_timeout);
    RUN(test_garbage);
    RUN(test_malformed_frames);
    RUN(test_forged_changes_over_sync);
    RUN(test_version_mismatch);
    RUN(test_public_close);
    RUN(test_backpressure);
    RUN(test_work_errors);
    RUN(test_slow_work_no_timeout);
    RUN(test_stuck_frame_times_out);
    return 0;
}
