/*
 * test_ingest.c - the single path by which changes enter a store.
 *
 * One test per property of cairn_ingest(): each kind of bad change gets its
 * exact verdict and reason, and nothing of it is applied (the plan's digest,
 * its change count, the pending area and the store's clock are as before,
 * and the change is not held). Valid changes wait, durably, for missing
 * dependencies; duplicates are no-ops; forks are kept and reported;
 * signatures are amortised along hash chains, yet a forged change in the
 * middle of a chain is caught; and a batch is one transaction.
 *
 * Changes come from two sources: local edits (their bytes read back with
 * cairn_change_get), and drafts signed here with key pairs the test puts on
 * the roster, so a test can write exactly the change it needs, good or bad.
 */
#include <msgpack.h>
#include <signal.h>
#include <sodium.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test.h"

#include <pthread.h>
#include <time.h>

#define CLINICAL (CAIRN_ROLE_CARE_MANAGER | CAIRN_ROLE_PRESCRIBER | CAIRN_ROLE_BH_SPECIALIST)
#define T0 1764000000000ull /* a fixed point in time, Unix ms */
#define MAX_BATCH 64

/* ---- values, ops and signed drafts ---------------------------------------------- */

static void new_eid(uint8_t eid[CAIRN_ENTITY_ID_BYTES])
{
    randombytes_buf(eid, CAIRN_ENTITY_ID_BYTES);
}

static cairn_op_t op_add(uint16_t etype, const uint8_t *eid)
{
    cairn_op_t op;
    memset(&op, 0, sizeof op);
    op.kind = CAIRN_OP_ADD;
    op.etype = etype;
    memcpy(op.eid, eid, CAIRN_ENTITY_ID_BYTES);
    return op;
}

/* A SET by field number, so that a test can name a field that does not exist. */
static cairn_op_t op_set_raw(uint16_t etype, const uint8_t *eid, uint16_t f, cairn_value_t v)
{
    cairn_op_t op = op_add(etype, eid);
    op.kind = CAIRN_OP_SET;
    op.field = f;
    op.value = v;
    return op;
}

static cairn_op_t op_set(uint16_t etype, const uint8_t *eid, const char *fname, cairn_value_t v)
{
    return op_set_raw(etype, eid, field(etype, fname), v);
}

static cairn_op_t op_title(const char *title)
{
    return op_set(CAIRN_ET_PLAN, cairn_singleton_eid, "title", str(title));
}

static cairn_hlc_t at(uint64_t ms)
{
    return CAIRN_HLC_MAKE(T0 + ms, 0);
}

/* A key pair the test signs with; put on the roster by member_new(). */
typedef struct member {
    uint8_t pk[32], sk[64];
} member_t;

static cairn_change_t *sign_draft(const member_t *m, const cairn_change_draft_t *d)
{
    cairn_change_t *c;
    CHECK_OK(cairn_change_create(d, m->sk, &c));
    return c;
}

/* m's change seq of plan (prev: m's change seq - 1, NULL for seq 1) at T0 + ms, no deps. */
static cairn_change_t *sign_ops(const member_t *m, const uint8_t *plan, uint64_t seq,
                                const cairn_change_t *prev, uint64_t ms, const cairn_op_t *ops,
                                size_t nops)
{
    cairn_change_draft_t d = {plan, seq, prev ? prev->id : NULL, NULL, 0, at(ms), ops, nops};
    return sign_draft(m, &d);
}

static cairn_change_t *sign_title(const member_t *m, const uint8_t *plan, uint64_t seq,
                                  const cairn_change_t *prev, uint64_t ms, const char *title)
{
    cairn_op_t op = op_title(title);
    return sign_ops(m, plan, seq, prev, ms, &op, 1);
}

/* A copy of c's bytes, to damage. */
static uint8_t *copy_bytes(const cairn_change_t *c)
{
    uint8_t *p = malloc(c->len);
    CHECK(p != NULL);
    memcpy(p, c->bytes, c->len);
    return p;
}

/* ---- two nodes of one organisation ------------------------------------------------ */

/* n[0] created the organisation (it holds the root); n[1] joined it. */
typedef struct world {
    test_node_t n[2];
    uint8_t org[32], rplan[CAIRN_PLAN_ID_BYTES], plan[CAIRN_PLAN_ID_BYTES];
    uint64_t now; /* every node's clock, Unix ms */
} world_t;

static uint64_t fake_now(void *ctx)
{
    return *(const uint64_t *)ctx;
}

static void node_clock(world_t *w, test_node_t *n)
{
    cairn_store_set_clock(n->store, fake_now, &w->now);
}

static void world_new(world_t *w, const char *tag)
{
    memset(w, 0, sizeof *w);
    w->now = T0 + 1000000;
    for (int i = 0; i < 2; i++) {
        test_node_create(&w->n[i], tag);
        node_clock(w, &w->n[i]);
    }
    test_org(w->n, 2, CLINICAL);
    CHECK_OK(cairn_org_key(w->n[0].store, w->org));
    cairn_roster_plan_id(w->org, w->rplan);
    cairn_plan_id_new(w->plan);
}

static void world_free(world_t *w)
{
    test_node_destroy(&w->n[0]);
    test_node_destroy(&w->n[1]);
}

/* Bring n[1]'s copy of the roster up to date with n[0]'s. */
static void sync_roster(world_t *w)
{
    CHECK(test_copy_plan(w->n[0].store, w->n[1].store, w->rplan) == 0);
}

/* A fresh node x in w's organisation (not itself on the roster), with the roster. */
static void node_join(world_t *w, test_node_t *x, const char *tag)
{
    test_node_create(x, tag);
    node_clock(w, x);
    CHECK_OK(cairn_org_join(x->store, w->org));
    CHECK(test_copy_plan(w->n[0].store, x->store, w->rplan) == 0);
}

/* A new key pair on the roster with roles, valid over [from, until) (Unix ms, 0: open). */
static void member_new(world_t *w, member_t *m, const char *name, unsigned roles, uint64_t from,
                       uint64_t until)
{
    crypto_sign_keypair(m->pk, m->sk);
    CHECK_OK(cairn_roster_put(w->n[0].store, m->pk, name, roles, from, until));
    sync_roster(w);
}

/* ---- observing a store ------------------------------------------------------------ */

/* What a store shows of one plan; compared before and after a rejection. */
typedef struct snapshot {
    uint8_t digest[32];
    uint64_t changes, pending;
    cairn_hlc_t hlc;
} snapshot_t;

static snapshot_t snap(cairn_store_t *s, const uint8_t *plan)
{
    snapshot_t sn;
    cairn_plan_state_t *st;
    CHECK_OK(cairn_plan_read(s, plan, &st));
    cairn_plan_state_digest(st, sn.digest);
    sn.changes = cairn_plan_state_changes(st);
    cairn_plan_state_free(st);
    CHECK_OK(cairn_pending_count(s, &sn.pending));
    sn.hlc = cairn_store_hlc(s);
    return sn;
}

static int same_snap(const snapshot_t *a, const snapshot_t *b)
{
    return memcmp(a->digest, b->digest, 32) == 0 && a->changes == b->changes &&
           a->pending == b->pending && a->hlc == b->hlc;
}

static void digest_of(cairn_store_t *s, const uint8_t *plan, uint8_t out[32])
{
    snapshot_t sn = snap(s, plan);
    memcpy(out, sn.digest, 32);
}

static uint64_t pending_count(cairn_store_t *s)
{
    uint64_t n;
    CHECK_OK(cairn_pending_count(s, &n));
    return n;
}

/* Whether s holds (has applied) plan's change id. */
static int held_id(cairn_store_t *s, const uint8_t *plan, const uint8_t *id)
{
    cairn_buf_t buf = CAIRN_BUF_INIT;
    cairn_err_t err = cairn_change_get(s, plan, id, &buf);
    cairn_buf_free(&buf);
    CHECK(err == CAIRN_OK || err == CAIRN_ENOTFOUND);
    return err == CAIRN_OK;
}

static int held(cairn_store_t *s, const cairn_change_t *c)
{
    return held_id(s, c->plan, c->id);
}

static int all_zero(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != 0)
            return 0;
    return 1;
}

/* The plan's title as merged: the winner's text, or "" when never set. */
static void title_of(cairn_store_t *s, const uint8_t *plan, char *out, size_t cap)
{
    cairn_plan_state_t *st;
    cairn_field_view_t v;
    CHECK_OK(cairn_plan_read(s, plan, &st));
    out[0] = '\0';
    if (cairn_plan_state_field(st, CAIRN_ET_PLAN, cairn_singleton_eid,
                               field(CAIRN_ET_PLAN, "title"), &v) == 0 &&
        v.values[0].type == CAIRN_VALUE_STR && v.values[0].len < cap) {
        memcpy(out, v.values[0].s, v.values[0].len);
        out[v.values[0].len] = '\0';
    }
    cairn_plan_state_free(st);
}

static int present(cairn_store_t *s, const uint8_t *plan, uint16_t etype, const uint8_t *eid)
{
    cairn_plan_state_t *st;
    CHECK_OK(cairn_plan_read(s, plan, &st));
    int p = cairn_plan_state_present(st, etype, eid);
    cairn_plan_state_free(st);
    return p;
}

/* ---- ingesting -------------------------------------------------------------------- */

static const char *verdict_name(cairn_verdict_t v)
{
    static const char *const names[] = {"applied", "duplicate", "pending", "rejected", "inert"};
    return (unsigned)v < 5 ? names[v] : "?";
}

/*
 * The reasons' names, as cairn_reason_name() gives them. A copy here: that
 * function is declared but no longer defined (see test_reason_names).
 */
static const char *reason_name(cairn_reason_t r)
{
    static const char *const names[CAIRN_REASON__COUNT] = {
        "none",           "too-big",   "malformed",     "bad-signature", "bad-chain",
        "unknown-author", "not-valid", "not-permitted", "invalid-op",    "pending-full",
    };
    return (unsigned)r < CAIRN_REASON__COUNT ? names[r] : "?";
}

/* Fail, naming the caller's line, unless r is verdict v for reason why. */
#define CHECK_VERDICT(r, v, why) check_verdict(&(r), v, why, __LINE__)

static void check_verdict(const cairn_ingest_result_t *r, cairn_verdict_t v, cairn_reason_t why,
                          int line)
{
    if (r->verdict != v || r->reason != why) {
        fprintf(stderr, "%s:%d: verdict %s (%s), expected %s (%s)\n", __FILE__, line,
                verdict_name(r->verdict), reason_name(r->reason), verdict_name(v),
                reason_name(why));
        exit(1);
    }
}

/* Ingest n changes in one call. */
static cairn_err_t ingest_n(cairn_store_t *s, cairn_change_t *const *cs, size_t n,
                            cairn_ingest_result_t *res, cairn_ingest_stats_t *st)
{
    const uint8_t *bytes[MAX_BATCH];
    size_t lens[MAX_BATCH];
    CHECK(n <= MAX_BATCH);
    for (size_t i = 0; i < n; i++) {
        bytes[i] = cs[i]->bytes;
        lens[i] = cs[i]->len;
    }
    return cairn_ingest(s, bytes, lens, n, res, st);
}

static cairn_ingest_result_t ingest_bytes(cairn_store_t *s, const uint8_t *bytes, size_t len,
                                          cairn_ingest_stats_t *st)
{
    cairn_ingest_result_t r;
    cairn_ingest_stats_t tmp;
    CHECK_OK(cairn_ingest(s, &bytes, &len, 1, &r, st ? st : &tmp));
    return r;
}

static cairn_ingest_result_t ingest1(cairn_store_t *s, const cairn_change_t *c)
{
    cairn_ingest_result_t r = ingest_bytes(s, c->bytes, c->len, NULL);
    CHECK(memcmp(r.id, c->id, CAIRN_CHANGE_ID_BYTES) == 0);
    return r;
}

#define APPLIES(s, c) CHECK_VERDICT_1(s, c, CAIRN_APPLIED)
#define CHECK_VERDICT_1(s, c, v)                                                                   \
    do {                                                                                           \
        cairn_ingest_result_t r_ = ingest1(s, c);                                                  \
        CHECK_VERDICT(r_, v, CAIRN_REASON_NONE);                                                   \
    } while (0)

/*
 * Ingest len bytes alone into s and require they be rejected for why (any
 * reason if why is ANY_REASON), with nothing of them applied: plan's
 * digest and change count, the pending area and the clock as they were,
 * and the change not held.
 */
#define ANY_REASON CAIRN_REASON__COUNT
#define REJECTS_BYTES(s, plan, bytes, len, why) rejects(s, plan, bytes, len, why, __LINE__)
#define REJECTS(s, plan, c, why) rejects(s, plan, (c)->bytes, (c)->len, why, __LINE__)

/*
 * Ingest c alone and require it kept inert: verdict inert for not-valid,
 * held, and the plan's title as it was (its operations void).
 */
#define INERT(s, plan, c) inert1(s, plan, c, __LINE__)

static void inert1(cairn_store_t *s, const uint8_t *plan, const cairn_change_t *c, int line)
{
    char before[256], after[256];
    title_of(s, plan, before, sizeof before);
    cairn_ingest_result_t r = ingest1(s, c);
    check_verdict(&r, CAIRN_INERT, CAIRN_REASON_NOT_VALID, line);
    title_of(s, plan, after, sizeof after);
    CHECK(strcmp(before, after) == 0);
    CHECK(held(s, c));
}

static void rejects(cairn_store_t *s, const uint8_t *plan, const uint8_t *bytes, size_t len,
                    cairn_reason_t why, int line)
{
    snapshot_t before = snap(s, plan);
    cairn_ingest_stats_t st;
    cairn_ingest_result_t r = ingest_bytes(s, bytes, len, &st);
    check_verdict(&r, CAIRN_REJECTED, why == ANY_REASON ? r.reason : why, line);
    snapshot_t after = snap(s, plan);
    if (st.rejected != 1 || st.applied != 0 || st.pending != 0 || !same_snap(&before, &after) ||
        (!all_zero(r.id, sizeof r.id) && held_id(s, plan, r.id))) {
        fprintf(stderr, "%s:%d: a rejected change left a trace\n", __FILE__, line);
        exit(1);
    }
}

/* ---- local edits ------------------------------------------------------------------ */

/* A local edit on s setting plan's title, in its own batch; its change id into id. */
static void local_title(cairn_store_t *s, const uint8_t *plan, const char *title, uint8_t *id)
{
    cairn_batch_t *b;
    cairn_edit_t *e;
    cairn_value_t v = str(title);
    CHECK_OK(cairn_batch_begin(s, &b));
    CHECK_OK(cairn_edit_begin(b, plan, &e));
    CHECK_OK(
        cairn_edit_set(e, CAIRN_ET_PLAN, cairn_singleton_eid, field(CAIRN_ET_PLAN, "title"), &v));
    CHECK_OK(cairn_edit_commit(e, id));
    CHECK_OK(cairn_batch_commit(b));
}

/* Plan's change id that s holds, decoded from its stored bytes. */
static cairn_change_t *fetch(cairn_store_t *s, const uint8_t *plan, const uint8_t *id)
{
    cairn_buf_t buf = CAIRN_BUF_INIT;
    cairn_change_t *c;
    CHECK_OK(cairn_change_get(s, plan, id, &buf));
    CHECK_OK(cairn_change_decode(buf.data, buf.len, &c));
    cairn_buf_free(&buf);
    return c;
}

static int keep_first(void *ctx, const uint8_t *id, const uint8_t *bytes, size_t len)
{
    (void)id;
    CHECK_OK(cairn_change_decode(bytes, len, (cairn_change_t **)ctx));
    return 1;
}

/* The first change of plan's log in s (in (author, seq) order), decoded. */
static cairn_change_t *first_change(cairn_store_t *s, const uint8_t *plan)
{
    cairn_change_t *c = NULL;
    CHECK_OK(cairn_plan_changes(s, plan, keep_first, &c));
    CHECK(c != NULL);
    return c;
}

static void free_all(cairn_change_t **cs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        cairn_change_free(cs[i]);
}

/* ---- 1. size and decoding ---------------------------------------------------------- */

static void pack_bin(msgpack_packer *pk, const void *p, size_t n)
{
    msgpack_pack_bin(pk, n);
    msgpack_pack_bin_body(pk, p, n);
}

/*
 * A change encoded by hand, canonically, with nops ADDs of needs and ndeps
 * deps, so that it can exceed the count limits cairn_change_create keeps
 * to. Its signature is zero.
 */
static void encode_raw(msgpack_sbuffer *sb, const uint8_t *plan, const uint8_t *author, size_t nops,
                       size_t ndeps)
{
    static const uint8_t zero_sig[CAIRN_SIGNATURE_BYTES];
    msgpack_packer pk;
    msgpack_sbuffer_init(sb);
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    msgpack_pack_array(&pk, 9);
    msgpack_pack_uint8(&pk, CAIRN_CHANGE_FORMAT);
    pack_bin(&pk, plan, CAIRN_PLAN_ID_BYTES);
    pack_bin(&pk, author, 32);
    msgpack_pack_uint64(&pk, 1);
    msgpack_pack_nil(&pk);
    msgpack_pack_array(&pk, ndeps);
    for (size_t i = 0; i < ndeps; i++) {
        uint8_t dep[CAIRN_CHANGE_ID_BYTES] = {0};
        dep[30] = (uint8_t)((i + 1) >> 8), dep[31] = (uint8_t)(i + 1); /* ascending */
        pack_bin(&pk, dep, sizeof dep);
    }
    msgpack_pack_uint64(&pk, at(0));
    msgpack_pack_array(&pk, nops);
    for (size_t i = 0; i < nops; i++) {
        uint8_t eid[CAIRN_ENTITY_ID_BYTES] = {1};
        eid[14] = (uint8_t)(i >> 8), eid[15] = (uint8_t)i;
        msgpack_pack_array(&pk, 6);
        msgpack_pack_uint8(&pk, CAIRN_OP_ADD);
        msgpack_pack_uint16(&pk, CAIRN_ET_NEED);
        pack_bin(&pk, eid, sizeof eid);
        msgpack_pack_uint16(&pk, 0);
        msgpack_pack_nil(&pk);
        msgpack_pack_array(&pk, 0);
    }
    pack_bin(&pk, zero_sig, sizeof zero_sig);
}

/* Check hand-encoded bytes with nops ops and ndeps deps are rejected for why. */
static void raw_rejected(cairn_store_t *s, const uint8_t *plan, const member_t *m, size_t nops,
                         size_t ndeps, cairn_reason_t why, int line)
{
    msgpack_sbuffer sb;
    encode_raw(&sb, plan, m->pk, nops, ndeps);
    rejects(s, plan, (const uint8_t *)sb.data, sb.size, why, line);
    msgpack_sbuffer_destroy(&sb);
}

/*
 * Bytes that are not a change are rejected first, before any other check:
 * over the size or a count limit is TOO_BIG; garbage, truncated or trailing
 * bytes are MALFORMED. None of them has an id.
 */
static void test_size_and_decoding(void)
{
    world_t w;
    world_new(&w, "ingest-size");
    member_t m;
    member_new(&w, &m, "m", CLINICAL, 0, 0);
    cairn_store_t *s = w.n[1].store;
    cairn_change_t *c = sign_title(&m, w.plan, 1, NULL, 10, "A valid change");

    uint8_t *big = calloc(1, CAIRN_CHANGE_MAX_BYTES + 1);
    CHECK(big != NULL);
    memcpy(big, c->bytes, c->len);
    REJECTS_BYTES(s, w.plan, big, CAIRN_CHANGE_MAX_BYTES + 1, CAIRN_REASON_TOO_BIG);
    free(big);

    /* Hand-encoded: at the count limits the bytes decode (then fail the signature); over, not. */
    raw_rejected(s, w.plan, &m, CAIRN_CHANGE_MAX_OPS, 0, CAIRN_REASON_BAD_SIGNATURE, __LINE__);
    raw_rejected(s, w.plan, &m, CAIRN_CHANGE_MAX_OPS + 1, 0, CAIRN_REASON_TOO_BIG, __LINE__);
    raw_rejected(s, w.plan, &m, 1, CAIRN_CHANGE_MAX_DEPS, CAIRN_REASON_BAD_SIGNATURE, __LINE__);
    raw_rejected(s, w.plan, &m, 1, CAIRN_CHANGE_MAX_DEPS + 1, CAIRN_REASON_TOO_BIG, __LINE__);

    uint8_t garbage[300];
    for (size_t i = 0; i < sizeof garbage; i++)
        garbage[i] = (uint8_t)(i * 37 + 11);
    REJECTS_BYTES(s, w.plan, garbage, sizeof garbage, CAIRN_REASON_MALFORMED);
    REJECTS_BYTES(s, w.plan, garbage, 0, CAIRN_REASON_MALFORMED);
    REJECTS_BYTES(s, w.plan, c->bytes, c->len - 1, CAIRN_REASON_MALFORMED);
    REJECTS_BYTES(s, w.plan, c->bytes, c->len / 2, CAIRN_REASON_MALFORMED);
    uint8_t *trailing = malloc(c->len + 1);
    CHECK(trailing != NULL);
    memcpy(trailing, c->bytes, c->len);
    trailing[c->len] = 0xc0; /* a nil after the change */
    REJECTS_BYTES(s, w.plan, trailing, c->len + 1, CAIRN_REASON_MALFORMED);
    free(trailing);

    /* The result of undecodable bytes carries no id. */
    cairn_ingest_result_t r = ingest_bytes(s, garbage, sizeof garbage, NULL);
    CHECK(all_zero(r.id, sizeof r.id));

    /* None of it touched the store: the change itself is still new to it. */
    APPLIES(s, c);
    cairn_change_free(c);
    world_free(&w);
}

/* ---- 2. signatures ------------------------------------------------------------------ */

/*
 * A change whose bytes were altered after signing is BAD_SIGNATURE: a bit
 * of the signature itself, a character of a text value, or the author key
 * (the signature is checked before the roster is consulted).
 */
static void test_bad_signature(void)
{
    world_t w;
    world_new(&w, "ingest-sig");
    member_t m;
    member_new(&w, &m, "m", CLINICAL, 0, 0);
    cairn_store_t *s = w.n[1].store;
    cairn_change_t *c = sign_title(&m, w.plan, 1, NULL, 10, "Signed title");

    uint8_t *p = copy_bytes(c);
    p[c->len - CAIRN_SIGNATURE_BYTES] ^= 0x01; /* in R */
    REJECTS_BYTES(s, w.plan, p, c->len, CAIRN_REASON_BAD_SIGNATURE);
    memcpy(p, c->bytes, c->len);
    p[c->len - 1] ^= 0x01; /* in S */
    REJECTS_BYTES(s, w.plan, p, c->len, CAIRN_REASON_BAD_SIGNATURE);

    /* A signed text value, altered so that it still decodes. */
    memcpy(p, c->bytes, c->len);
    uint8_t *t = memmem(p, c->len, "Signed title", 12);
    CHECK(t != NULL);
    t[0] = 'Z';
    cairn_change_t *d;
    CHECK_OK(cairn_change_decode(p, c->len, &d));
    CHECK(memcmp(d->id, c->id, 32) != 0);
    cairn_change_free(d);
    REJECTS_BYTES(s, w.plan, p, c->len, CAIRN_REASON_BAD_SIGNATURE);

    /* The author key, altered: still on no one's roster, but the signature fails first. */
    memcpy(p, c->bytes, c->len);
    uint8_t *a = memmem(p, c->len, m.pk, 32);
    CHECK(a != NULL);
    a[5] ^= 0x40;
    REJECTS_BYTES(s, w.plan, p, c->len, CAIRN_REASON_BAD_SIGNATURE);

    /* The result names the id of the bytes received. */
    memcpy(p, c->bytes, c->len);
    p[c->len - 10] ^= 0x80;
    uint8_t id[32];
    crypto_generichash(id, 32, p, c->len, NULL, 0);
    cairn_ingest_result_t r = ingest_bytes(s, p, c->len, NULL);
    CHECK(memcmp(r.id, id, 32) == 0);
    free(p);

    APPLIES(s, c);
    cairn_change_free(c);
    world_free(&w);
}

/* ---- 3. hash chains ----------------------------------------------------------------- */

/* Five local edits of w's plan on n[0], read back as signed changes c[0..5). */
static void make_chain(world_t *w, cairn_change_t **c)
{
    for (int i = 0; i < 5; i++) {
        char title[16];
        uint8_t id[32];
        snprintf(title, sizeof title, "title-%d", i + 1);
        local_title(w->n[0].store, w->plan, title, id);
        c[i] = fetch(w->n[0].store, w->plan, id);
        CHECK(c[i]->seq == (uint64_t)i + 1);
    }
}

/*
 * Within one call, a chain's signatures are verified once: every change of
 * the chain is authenticated by its successor's signature over its id. In
 * any order of arrival, all five are applied.
 */
static void test_chain_amortised(void)
{
    world_t w;
    world_new(&w, "ingest-chain");
    cairn_change_t *c[5];
    make_chain(&w, c);
    uint8_t want[32], got[32];
    digest_of(w.n[0].store, w.plan, want);

    cairn_ingest_result_t res[5];
    cairn_ingest_stats_t st;
    CHECK_OK(ingest_n(w.n[1].store, c, 5, res, &st));
    for (int i = 0; i < 5; i++)
        CHECK_VERDICT(res[i], CAIRN_APPLIED, CAIRN_REASON_NONE);
    CHECK(st.verified == 1 && st.applied == 5 && st.rejected == 0 && st.pending == 0);
    digest_of(w.n[1].store, w.plan, got);
    CHECK(memcmp(want, got, 32) == 0);

    /*
     * Newest first: each waits for its predecessor, the last releases them
     * all (their results say PENDING, the verdict when each was processed).
     */
    test_node_t x;
    node_join(&w, &x, "ingest-chain-rev");
    cairn_change_t *rev[5] = {c[4], c[3], c[2], c[1], c[0]};
    CHECK_OK(ingest_n(x.store, rev, 5, res, &st));
    for (int i = 0; i < 4; i++)
        CHECK(res[i].verdict == CAIRN_PENDING || res[i].verdict == CAIRN_APPLIED);
    CHECK_VERDICT(res[4], CAIRN_APPLIED, CAIRN_REASON_NONE);
    CHECK(st.verified == 1 && st.applied == 5 && st.rejected == 0);
    CHECK(pending_count(x.store) == 0);
    digest_of(x.store, w.plan, got);
    CHECK(memcmp(want, got, 32) == 0);
    test_node_destroy(&x);
    free_all(c, 5);
    world_free(&w);
}

/*
 * A forged change in the middle of a chain (c3 altered after signing) is
 * BAD_SIGNATURE although its successors authenticate by chain; they name
 * the genuine c3 as prev, so they wait, and nothing after the forgery is
 * applied. The genuine c3 then releases them.
 */
static void test_forged_in_chain(void)
{
    world_t w;
    world_new(&w, "ingest-forged");
    cairn_change_t *c[5];
    make_chain(&w, c);
    cairn_store_t *s = w.n[1].store;

    uint8_t *p = copy_bytes(c[2]);
    uint8_t *t = memmem(p, c[2]->len, "title-3", 7);
    CHECK(t != NULL);
    t[6] = '9'; /* "title-9": decodes, signature kept */
    cairn_change_t *forged;
    CHECK_OK(cairn_change_decode(p, c[2]->len, &forged));
    free(p);

    cairn_change_t *batch[5] = {c[0], c[1], forged, c[3], c[4]};
    cairn_ingest_result_t res[5];
    cairn_ingest_stats_t st;
    CHECK_OK(ingest_n(s, batch, 5, res, &st));
    CHECK_VERDICT(res[0], CAIRN_APPLIED, CAIRN_REASON_NONE);
    CHECK_VERDICT(res[1], CAIRN_APPLIED, CAIRN_REASON_NONE);
    CHECK_VERDICT(res[2], CAIRN_REJECTED, CAIRN_REASON_BAD_SIGNATURE);
    CHECK_VERDICT(res[3], CAIRN_PENDING, CAIRN_REASON_NONE);
    CHECK_VERDICT(res[4], CAIRN_PENDING, CAIRN_REASON_NONE);
    CHECK(memcmp(res[2].id, forged->id, 32) == 0);
    /* Verified: c5 (the tip), the forgery (links to nothing), c2 (its successor is forged). */
    CHECK(st.verified == 3 && st.applied == 2 && st.rejected == 1 && st.pending == 2);
    CHECK(held(s, c[0]) && held(s, c[1]));
    CHECK(!held(s, forged) && !held(s, c[2]) && !held(s, c[3]) && !held(s, c[4]));
    CHECK(pending_count(s) == 2);
    char title[32];
    title_of(s, w.plan, title, sizeof title);
    CHECK(strcmp(title, "title-2") == 0);
    CHECK(snap(s, w.plan).changes == 2);

    /* The genuine c3 arrives: it and the two waiting behind it are applied. */
    CHECK_OK(ingest_n(s, &c[2], 1, res, &st));
    CHECK_VERDICT(res[0], CAIRN_APPLIED, CAIRN_REASON_NONE);
    CHECK(st.applied == 3 && st.verified == 1);
    CHECK(pending_count(s) == 0);
    CHECK(held(s, c[2]) && held(s, c[3]) && held(s, c[4]));
    title_of(s, w.plan, title, sizeof title);
    CHECK(strcmp(title, "title-5") == 0);
    uint8_t want[32], got[32];
    digest_of(w.n[0].store, w.plan, want);
    digest_of(s, w.plan, got);
    CHECK(memcmp(want, got, 32) == 0);
    cairn_change_free(forged);
    free_all(c, 5);
    world_free(&w);
}

/*
 * prev must be the author's own change seq - 1 in the same plan: naming
 * another author's change, or the author's change two back, is BAD_CHAIN.
 * Naming its change in another plan is never applied either (the store
 * looks for prev within the plan, so it may wait for it instead).
 */
static void test_bad_chain(void)
{
    world_t w;
    world_new(&w, "ingest-badchain");
    member_t m;
    member_new(&w, &m, "m", CLINICAL, 0, 0);
    cairn_store_t *s = w.n[1].store;
    uint8_t other_plan[CAIRN_PLAN_ID_BYTES], aid[32];
    cairn_plan_id_new(other_plan);

    cairn_change_t *m1 = sign_title(&m, w.plan, 1, NULL, 10, "m1");
    APPLIES(s, m1);
    local_title(w.n[0].store, w.plan, "by node 0", aid);
    CHECK(test_copy_plan(w.n[0].store, s, w.plan) == 0);
    cairn_change_t *a1 = fetch(s, w.plan, aid);
    cairn_change_t *q1 = sign_title(&m, other_plan, 1, NULL, 11, "q1");
    APPLIES(s, q1);

    cairn_change_t *bad[3] = {
        sign_title(&m, w.plan, 2, a1, 20, "prev by another author"),
        sign_title(&m, w.plan, 3, m1, 20, "prev two back"),
        sign_title(&m, w.plan, 2, q1, 20, "prev in another plan"),
    };
    REJECTS(s, w.plan, bad[0], CAIRN_REASON_BAD_CHAIN);
    REJECTS(s, w.plan, bad[1], CAIRN_REASON_BAD_CHAIN);
    snapshot_t before = snap(s, w.plan);
    cairn_ingest_result_t r = ingest1(s, bad[2]);
    CHECK(r.verdict == CAIRN_PENDING ||
          (r.verdict == CAIRN_REJECTED && r.reason == CAIRN_REASON_BAD_CHAIN));
    snapshot_t after = snap(s, w.plan);
    CHECK(memcmp(before.digest, after.digest, 32) == 0 && before.changes == after.changes);
    CHECK(!held(s, bad[2]));

    /* An author's clock may not go back along its chain (no backdating). */
    cairn_change_t *back = sign_title(&m, w.plan, 2, m1, 10, "same time as m1");
    REJECTS(s, w.plan, back, CAIRN_REASON_BAD_CHAIN);
    cairn_change_free(back);
    back = sign_title(&m, w.plan, 2, m1, 5, "before m1");
    REJECTS(s, w.plan, back, CAIRN_REASON_BAD_CHAIN);
    cairn_change_free(back);

    cairn_change_t *m2 = sign_title(&m, w.plan, 2, m1, 20, "m2");
    APPLIES(s, m2);
    cairn_change_t *done[] = {m1, a1, q1, m2};
    free_all(done, 4);
    free_all(bad, 3);
    world_free(&w);
}

/* ---- 4. the roster ------------------------------------------------------------------ */

/*
 * An author not on the roster is UNKNOWN_AUTHOR, even when it tries to put
 * itself on it; a store that belongs to no organisation has no roster and
 * rejects every change so, and refuses its own edits with CAIRN_EDENIED.
 */
static void test_unknown_author(void)
{
    world_t w;
    world_new(&w, "ingest-unknown");
    member_t m, stranger;
    member_new(&w, &m, "m", CLINICAL, 0, 0);
    crypto_sign_keypair(stranger.pk, stranger.sk);
    cairn_store_t *s = w.n[1].store;

    cairn_change_t *c = sign_title(&stranger, w.plan, 1, NULL, 10, "who am I");
    REJECTS(s, w.plan, c, CAIRN_REASON_UNKNOWN_AUTHOR);
    cairn_change_free(c);

    uint8_t eid[CAIRN_ENTITY_ID_BYTES];
    char hex[65];
    new_eid(eid);
    sodium_bin2hex(hex, sizeof hex, stranger.pk, 32);
    cairn_op_t enrol[] = {
        op_add(CAIRN_ET_ROSTER_ENTRY, eid),
        op_set(CAIRN_ET_ROSTER_ENTRY, eid, "key", str(hex)),
        op_set(CAIRN_ET_ROSTER_ENTRY, eid, "roles", num(CAIRN_ROLE_ALL)),
    };
    c = sign_ops(&stranger, w.rplan, 1, NULL, 10, enrol, 3);
    REJECTS(s, w.rplan, c, CAIRN_REASON_UNKNOWN_AUTHOR);
    cairn_change_free(c);

    /* A store without an organisation. */
    test_node_t x;
    test_node_create(&x, "ingest-noorg");
    c = sign_title(&m, w.plan, 1, NULL, 10, "from a rostered member");
    REJECTS(x.store, w.plan, c, CAIRN_REASON_UNKNOWN_AUTHOR);
    cairn_change_free(c);
    uint8_t id[32];
    local_title(w.n[0].store, w.plan, "from node 0", id);
    c = fetch(w.n[0].store, w.plan, id);
    REJECTS(x.store, w.plan, c, CAIRN_REASON_UNKNOWN_AUTHOR);
    cairn_change_free(c);
    /* The organisation's own roster is rejected too. */
    c = first_change(w.n[0].store, w.rplan);
    REJECTS(x.store, w.rplan, c, ANY_REASON);
    REJECTS(x.store, w.rplan, c, CAIRN_REASON_UNKNOWN_AUTHOR);
    cairn_change_free(c);
    cairn_batch_t *b;
    cairn_edit_t *e;
    cairn_value_t v = str("local, without an organisation");
    uint8_t other[CAIRN_PLAN_ID_BYTES];
    cairn_plan_id_new(other);
    snapshot_t before = snap(x.store, other);
    CHECK_OK(cairn_batch_begin(x.store, &b));
    CHECK_OK(cairn_edit_begin(b, other, &e));
    CHECK_OK(
        cairn_edit_set(e, CAIRN_ET_PLAN, cairn_singleton_eid, field(CAIRN_ET_PLAN, "title"), &v));
    CHECK_ERR(cairn_edit_commit(e, NULL), CAIRN_EDENIED);
    CHECK_OK(cairn_batch_commit(b));
    snapshot_t after = snap(x.store, other);
    CHECK(memcmp(before.digest, after.digest, 32) == 0 && after.changes == 0 && after.pending == 0);
    test_node_destroy(&x);
    world_free(&w);
}

/* The op that added key's roster entry, found in the roster's log. */
typedef struct entry_search {
    char hex[65];
    uint8_t eid[CAIRN_ENTITY_ID_BYTES];
    cairn_op_id_t add;
    int found;
} entry_search_t;

static int find_entry_add(void *ctx, const uint8_t *id, const uint8_t *bytes, size_t len)
{
    entry_search_t *es = ctx;
    cairn_change_t *c;
    (void)id;
    CHECK_OK(cairn_change_decode(bytes, len, &c));
    uint16_t key_field = field(CAIRN_ET_ROSTER_ENTRY, "key");
    for (size_t i = 0; i < c->nops; i++) {
        const cairn_op_t *op = &c->ops[i];
        if (op->kind != CAIRN_OP_SET || op->etype != CAIRN_ET_ROSTER_ENTRY ||
            op->field != key_field || op->value.len != 64 || memcmp(op->value.s, es->hex, 64) != 0)
            continue;
        for (size_t k = 0; k < c->nops; k++)
            if (c->ops[k].kind == CAIRN_OP_ADD && memcmp(c->ops[k].eid, op->eid, 16) == 0) {
                memcpy(es->eid, op->eid, 16);
                cairn_change_op_id(c, (uint16_t)k, &es->add);
                es->found = 1;
            }
    }
    cairn_change_free(c);
    return es->found;
}

/*
 * The roster is a plan edited through ingest like any other: a member
 * with the administrator role (not the root) may remove an entry, and the
 * removed member's later changes are UNKNOWN_AUTHOR. A node that is not
 * an administrator cannot edit the roster (CAIRN_EDENIED).
 */
static void test_roster_edits(void)
{
    world_t w;
    world_new(&w, "ingest-roster");
    member_t adm, m, stranger;
    member_new(&w, &adm, "admin", CAIRN_ROLE_ADMIN, 0, 0);
    member_new(&w, &m, "m", CLINICAL, 0, 0);
    crypto_sign_keypair(stranger.pk, stranger.sk);
    cairn_store_t *s = w.n[1].store;

    cairn_change_t *m1 = sign_title(&m, w.plan, 1, NULL, 10, "before removal");
    APPLIES(s, m1);
    entry_search_t es = {{0}, {0}, {{0}}, 0};
    sodium_bin2hex(es.hex, sizeof es.hex, m.pk, 32);
    CHECK_OK(cairn_plan_changes(s, w.rplan, find_entry_add, &es));
    CHECK(es.found);
    cairn_op_t rm = op_add(CAIRN_ET_ROSTER_ENTRY, es.eid);
    rm.kind = CAIRN_OP_REMOVE;
    rm.pred = &es.add;
    rm.npred = 1;
    cairn_change_t *a1 = sign_ops(&adm, w.rplan, 1, NULL, 20, &rm, 1);
    APPLIES(s, a1);
    APPLIES(w.n[0].store, a1);

    cairn_change_t *m2 = sign_title(&m, w.plan, 2, m1, 30, "after removal");
    REJECTS(s, w.plan, m2, CAIRN_REASON_UNKNOWN_AUTHOR);
    REJECTS(w.n[0].store, w.plan, m1, CAIRN_REASON_UNKNOWN_AUTHOR); /* the roster as it stands */

    snapshot_t before = snap(s, w.rplan);
    CHECK_ERR(cairn_roster_put(s, stranger.pk, "self-made", CAIRN_ROLE_ALL, 0, 0), CAIRN_EDENIED);
    CHECK_ERR(cairn_roster_revoke(s, adm.pk, T0), CAIRN_EDENIED);
    snapshot_t after = snap(s, w.rplan);
    CHECK(memcmp(before.digest, after.digest, 32) == 0 && before.changes == after.changes);
    cairn_change_t *all[] = {m1, a1, m2};
    free_all(all, 3);
    world_free(&w);
}

/*
 * An author is valid over [valid_from, valid_until) and until revoked_at,
 * judged at the change's own time: outside that, NOT_VALID; inside, the
 * change is applied, even after the revocation has been recorded.
 */
static void test_not_valid(void)
{
    world_t w;
    world_new(&w, "ingest-valid");
    member_t v, r;
    member_new(&w, &v, "windowed", CLINICAL, T0 + 10000, T0 + 20000);
    member_new(&w, &r, "revoked", CLINICAL, 0, 0);
    cairn_store_t *s = w.n[1].store;

    cairn_change_t *early = sign_title(&v, w.plan, 1, NULL, 9999, "too early");
    cairn_change_t *late = sign_title(&v, w.plan, 1, NULL, 20000, "too late");
    cairn_change_t *in = sign_title(&v, w.plan, 1, NULL, 10000, "just in time");
    INERT(s, w.plan, early);
    INERT(s, w.plan, late);
    APPLIES(s, in);

    CHECK_OK(cairn_roster_revoke(w.n[0].store, r.pk, T0 + 30000));
    sync_roster(&w);
    cairn_change_t *r1 = sign_title(&r, w.plan, 1, NULL, 29999, "before the revocation");
    cairn_change_t *r2 = sign_title(&r, w.plan, 2, r1, 30000, "at the revocation");
    cairn_change_t *r2b = sign_title(&r, w.plan, 2, r1, 40000, "after it");
    APPLIES(s, r1);
    INERT(s, w.plan, r2);
    INERT(s, w.plan, r2b);

    /* Locally: a node whose own key was revoked cannot commit an edit. */
    CHECK_OK(cairn_roster_revoke(w.n[0].store, w.n[1].pk, w.now - 1));
    sync_roster(&w);
    snapshot_t before = snap(s, w.plan);
    cairn_batch_t *b;
    cairn_edit_t *e;
    cairn_value_t t = str("by a revoked node");
    CHECK_OK(cairn_batch_begin(s, &b));
    CHECK_OK(cairn_edit_begin(b, w.plan, &e));
    CHECK_OK(
        cairn_edit_set(e, CAIRN_ET_PLAN, cairn_singleton_eid, field(CAIRN_ET_PLAN, "title"), &t));
    CHECK_ERR(cairn_edit_commit(e, NULL), CAIRN_EDENIED);
    CHECK_OK(cairn_batch_commit(b));
    snapshot_t after = snap(s, w.plan);
    CHECK(memcmp(before.digest, after.digest, 32) == 0 && before.changes == after.changes);
    cairn_change_t *all[] = {early, late, in, r1, r2, r2b};
    free_all(all, 6);
    world_free(&w);
}

/* One local edit by s adding an entity of etype with one field set; returns its error. */
static cairn_err_t local_add(cairn_store_t *s, const uint8_t *plan, uint16_t etype,
                             const char *fname, cairn_value_t v, uint8_t *eid)
{
    cairn_batch_t *b;
    cairn_edit_t *e;
    CHECK_OK(cairn_batch_begin(s, &b));
    CHECK_OK(cairn_edit_begin(b, plan, &e));
    CHECK_OK(cairn_edit_add(e, etype, eid));
    CHECK_OK(cairn_edit_set(e, etype, eid, field(etype, fname), &v));
    cairn_err_t err = cairn_edit_commit(e, NULL);
    CHECK_OK(cairn_batch_commit(b));
    return err;
}

/*
 * Inert changes: one outside its author's window is held with its
 * operations void, one that the roles forbid as well is rejected, and when
 * the roster widens the window the held change takes effect, on the next
 * commit that carries the roster change.
 */
static void test_inert_comes_back(void)
{
    world_t w;
    world_new(&w, "ingest-inert");
    member_t m, p;
    member_new(&w, &m, "temp", CLINICAL, 0, T0 + 5000);
    member_new(&w, &p, "patient, expired", CAIRN_ROLE_PATIENT, 0, T0 + 5000);
    cairn_store_t *s = w.n[1].store;
    cairn_change_t *late = sign_title(&m, w.plan, 1, NULL, 6000, "late title");
    INERT(s, w.plan, late);
    char t[256];
    title_of(s, w.plan, t, sizeof t);
    CHECK(strcmp(t, "late title") != 0);
    /* Not valid and not permitted either: rejected for the roles. */
    cairn_change_t *bad = sign_title(&p, w.plan, 1, NULL, 6000, "patient retitles");
    REJECTS(s, w.plan, bad, CAIRN_REASON_NOT_PERMITTED);
    /* The administrator extends the window: the held change counts now. */
    CHECK_OK(cairn_roster_put(w.n[0].store, m.pk, "temp", CLINICAL, 0, 0));
    sync_roster(&w);
    title_of(s, w.plan, t, sizeof t);
    CHECK(strcmp(t, "late title") == 0);
    uint8_t d[32], rebuilt[32];
    snapshot_t sn = snap(s, w.plan);
    memcpy(d, sn.digest, 32);
    CHECK_OK(cairn_plan_rebuild(s, w.plan, rebuilt));
    CHECK(memcmp(d, rebuilt, 32) == 0);
    cairn_change_free(late);
    cairn_change_free(bad);
    world_free(&w);
}

/*
 * One rebuild: when a revocation arrives after changes it voids, ingest's
 * re-evaluation rebuilds the plan from its log; the public rebuild, run
 * afterwards, gives the same digest, for the care plan and for the roster
 * plan itself, and so does a fresh node that learns the revocation first.
 */
static void test_rebuild_paths_agree(void)
{
    world_t w;
    world_new(&w, "ingest-rebuild");
    member_t m;
    member_new(&w, &m, "locum", CLINICAL, 0, 0);
    cairn_store_t *s = w.n[1].store;
    cairn_change_t *c1 = sign_title(&m, w.plan, 1, NULL, 10000, "before");
    cairn_change_t *c2 = sign_title(&m, w.plan, 2, c1, 20000, "after the revocation");
    APPLIES(s, c1);
    APPLIES(s, c2);
    char t[256];
    title_of(s, w.plan, t, sizeof t);
    CHECK(strcmp(t, "after the revocation") == 0);
    /* The revocation reaches n[1] afterwards: re-evaluation voids c2 there. */
    CHECK_OK(cairn_roster_revoke(w.n[0].store, m.pk, T0 + 15000));
    sync_roster(&w);
    title_of(s, w.plan, t, sizeof t);
    CHECK(strcmp(t, "before") == 0);
    uint8_t by_ingest[32], by_api[32], roster_ingest[32], roster_api[32];
    digest_of(s, w.plan, by_ingest);
    digest_of(s, w.rplan, roster_ingest);
    CHECK_OK(cairn_plan_rebuild(s, w.plan, by_api));
    CHECK(memcmp(by_ingest, by_api, 32) == 0);
    CHECK_OK(cairn_plan_rebuild(s, w.rplan, roster_api));
    CHECK(memcmp(roster_ingest, roster_api, 32) == 0);
    /* What the rebuild stored is what a reader sees afterwards. */
    digest_of(s, w.plan, by_api);
    CHECK(memcmp(by_ingest, by_api, 32) == 0);
    /* A node that learns the revocation first applies c2 inert: the same plan. */
    test_node_t x;
    node_join(&w, &x, "ingest-rebuild-x");
    APPLIES(x.store, c1);
    INERT(x.store, w.plan, c2);
    uint8_t fresh[32];
    digest_of(x.store, w.plan, fresh);
    CHECK(memcmp(by_ingest, fresh, 32) == 0);
    digest_of(x.store, w.rplan, fresh);
    CHECK(memcmp(roster_ingest, fresh, 32) == 0);
    cairn_change_free(c1);
    cairn_change_free(c2);
    test_node_destroy(&x);
    world_free(&w);
}

/*
 * The author's roles must allow every op (DATA-MODEL.md's roles table):
 * a patient may not touch medications, needs or the roster, an
 * administrator writes no clinical content, a care manager may set a
 * medication's dates but not its dose. Allowed writes are applied. The
 * local API refuses the same with CAIRN_EDENIED.
 */
static void test_not_permitted(void)
{
    world_t w;
    world_new(&w, "ingest-perm");
    member_t pat, adm, rx, cm;
    member_new(&w, &pat, "patient", CAIRN_ROLE_PATIENT, 0, 0);
    member_new(&w, &adm, "admin", CAIRN_ROLE_ADMIN, 0, 0);
    member_new(&w, &rx, "prescriber", CAIRN_ROLE_PRESCRIBER, 0, 0);
    member_new(&w, &cm, "care manager", CAIRN_ROLE_CARE_MANAGER, 0, 0);
    cairn_store_t *s = w.n[1].store;
    uint8_t med[16], need[16], ci[16], safety[16], entry[16];
    new_eid(med), new_eid(need), new_eid(safety), new_eid(entry);
    cairn_log_eid(pat.pk, w.plan, 1, 0, ci); /* the patient's change 1 adds it, as op 0 */

    cairn_op_t med_ops[] = {op_add(CAIRN_ET_MEDICATION, med),
                            op_set(CAIRN_ET_MEDICATION, med, "dose", str("50 mg"))};
    cairn_op_t need_ops[] = {op_add(CAIRN_ET_NEED, need),
                             op_set(CAIRN_ET_NEED, need, "domain", str("housing"))};
    cairn_op_t roster_ops[] = {op_add(CAIRN_ET_ROSTER_ENTRY, entry),
                               op_set(CAIRN_ET_ROSTER_ENTRY, entry, "roles", num(CAIRN_ROLE_ALL))};
    cairn_change_t *c;
    /* Far in the future: a rejected change does not move the clock either. */
    c = sign_ops(&pat, w.plan, 1, NULL, 100000000, med_ops, 2);
    REJECTS(s, w.plan, c, CAIRN_REASON_NOT_PERMITTED);
    cairn_change_free(c);
    c = sign_ops(&pat, w.plan, 1, NULL, 10, need_ops, 2);
    REJECTS(s, w.plan, c, CAIRN_REASON_NOT_PERMITTED);
    cairn_change_free(c);
    c = sign_ops(&pat, w.rplan, 1, NULL, 10, roster_ops, 2);
    REJECTS(s, w.rplan, c, CAIRN_REASON_NOT_PERMITTED);
    cairn_change_free(c);
    c = sign_ops(&adm, w.plan, 1, NULL, 10, need_ops, 2);
    REJECTS(s, w.plan, c, CAIRN_REASON_NOT_PERMITTED);
    cairn_change_free(c);

    /* What a patient may write: a check-in, a line of the safety plan. */
    cairn_op_t ci_ops[] = {op_add(CAIRN_ET_CHECKIN, ci),
                           op_set(CAIRN_ET_CHECKIN, ci, "kind", str("phone")),
                           op_set(CAIRN_ET_CHECKIN, ci, "phq9", num(12))};
    cairn_op_t safety_ops[] = {op_add(CAIRN_ET_SAFETY_ITEM, safety),
                               op_set(CAIRN_ET_SAFETY_ITEM, safety, "section", str("coping")),
                               op_set(CAIRN_ET_SAFETY_ITEM, safety, "text", str("Walk"))};
    cairn_change_t *p1 = sign_ops(&pat, w.plan, 1, NULL, 10, ci_ops, 3);
    cairn_change_t *p2 = sign_ops(&pat, w.plan, 2, p1, 11, safety_ops, 3);
    APPLIES(s, p1);
    APPLIES(s, p2);
    CHECK(present(s, w.plan, CAIRN_ET_CHECKIN, ci) &&
          present(s, w.plan, CAIRN_ET_SAFETY_ITEM, safety));

    /* Field-level roles: a care manager sets a medication's start, not its dose. */
    cairn_change_t *x1 = sign_ops(&rx, w.plan, 1, NULL, 10, med_ops, 2);
    APPLIES(s, x1);
    cairn_op_t start = op_set(CAIRN_ET_MEDICATION, med, "start", str("2025-01-10"));
    cairn_op_t dose = op_set(CAIRN_ET_MEDICATION, med, "dose", str("100 mg"));
    c = sign_ops(&cm, w.plan, 1, NULL, 20, &dose, 1);
    REJECTS(s, w.plan, c, CAIRN_REASON_NOT_PERMITTED);
    cairn_change_free(c);
    c = sign_ops(&cm, w.plan, 1, NULL, 20, &start, 1);
    APPLIES(s, c);
    cairn_change_free(c);

    /* Locally: node 1 demoted to patient. */
    CHECK_OK(cairn_roster_put(w.n[0].store, w.n[1].pk, "node-1", CAIRN_ROLE_PATIENT, 0, 0));
    sync_roster(&w);
    snapshot_t before = snap(s, w.plan);
    uint8_t eid[16];
    CHECK_ERR(local_add(s, w.plan, CAIRN_ET_MEDICATION, "dose", str("5 mg"), eid), CAIRN_EDENIED);
    CHECK(!present(s, w.plan, CAIRN_ET_MEDICATION, eid));
    CHECK_ERR(local_add(s, w.plan, CAIRN_ET_NEED, "domain", str("housing"), eid), CAIRN_EDENIED);
    snapshot_t after = snap(s, w.plan);
    CHECK(memcmp(before.digest, after.digest, 32) == 0 && after.pending == 0);
    CHECK_OK(local_add(s, w.plan, CAIRN_ET_CHECKIN, "kind", str("visit"), eid));
    CHECK(present(s, w.plan, CAIRN_ET_CHECKIN, eid));
    cairn_change_t *all[] = {p1, p2, x1};
    free_all(all, 3);
    world_free(&w);
}

/* ---- 5. the schema ------------------------------------------------------------------ */

/*
 * Every op must fit the schema, whatever the author's roles: an unknown
 * type or field, a value out of range or not of the enum, a write to a
 * check-in outside the change that adds it, removing a singleton or a
 * check-in, an add naming a pred, a roster op in a care plan or a care-plan
 * op in the roster: INVALID_OP.
 */
static void test_invalid_op(void)
{
    world_t w;
    world_new(&w, "ingest-schema");
    member_t z;
    member_new(&w, &z, "all roles", CAIRN_ROLE_ALL, 0, 0);
    cairn_store_t *s = w.n[1].store;
    uint8_t e[16], ci[16];
    new_eid(e);
    cairn_log_eid(z.pk, w.plan, 1, 0, ci); /* z1 adds it as op 0 */

    /* The first change's ops, all valid: a check-in and a title. */
    cairn_op_t ok_ops[] = {op_add(CAIRN_ET_CHECKIN, ci),
                           op_set(CAIRN_ET_CHECKIN, ci, "kind", str("visit")), op_title("T")};
    cairn_change_t *z1 = sign_ops(&z, w.plan, 1, NULL, 10, ok_ops, 3);
    cairn_op_id_t title_op;
    cairn_change_op_id(z1, 2, &title_op);

    struct {
        const char *what;
        cairn_op_t ops[2];
        size_t nops;
        int in_roster;
    } cases[] = {
        {"unknown entity type", {op_add(99, e)}, 1, 0},
        {"unknown field",
         {op_add(CAIRN_ET_NEED, e), op_set_raw(CAIRN_ET_NEED, e, 99, num(1))},
         2,
         0},
        {"membership as a field",
         {op_add(CAIRN_ET_NEED, e), op_set_raw(CAIRN_ET_NEED, e, 0, num(1))},
         2,
         0},
        {"phq9 out of range",
         {op_add(CAIRN_ET_CHECKIN, e), op_set(CAIRN_ET_CHECKIN, e, "phq9", num(28))},
         2,
         0},
        {"not in the enum",
         {op_add(CAIRN_ET_NEED, e), op_set(CAIRN_ET_NEED, e, "status", str("sometimes"))},
         2,
         0},
        {"not a date",
         {op_add(CAIRN_ET_MEDICATION, e),
          op_set(CAIRN_ET_MEDICATION, e, "start", str("2025-13-01"))},
         2,
         0},
        {"an int for a text", {op_set(CAIRN_ET_PLAN, cairn_singleton_eid, "title", num(7))}, 1, 0},
        {"a singleton with an id", {op_set(CAIRN_ET_PLAN, e, "title", str("x"))}, 1, 0},
        {"roster entry in a care plan", {op_add(CAIRN_ET_ROSTER_ENTRY, e)}, 1, 0},
        {"need in the roster", {op_add(CAIRN_ET_NEED, e)}, 1, 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        fprintf(stderr, "   %s\n", cases[i].what);
        const uint8_t *plan = cases[i].in_roster ? w.rplan : w.plan;
        cairn_change_t *c = sign_ops(&z, plan, 1, NULL, 10, cases[i].ops, cases[i].nops);
        REJECTS(s, plan, c, CAIRN_REASON_INVALID_OP);
        cairn_change_free(c);
    }

    /* Against a plan that holds z1: ops naming its writes, a late write to its check-in. */
    APPLIES(s, z1);
    cairn_op_id_t ci_add;
    cairn_change_op_id(z1, 0, &ci_add);
    cairn_op_t rm_plan = op_add(CAIRN_ET_PLAN, cairn_singleton_eid);
    rm_plan.kind = CAIRN_OP_REMOVE;
    rm_plan.pred = &title_op;
    rm_plan.npred = 1;
    cairn_op_t rm_ci = op_add(CAIRN_ET_CHECKIN, ci);
    rm_ci.kind = CAIRN_OP_REMOVE;
    rm_ci.pred = &ci_add;
    rm_ci.npred = 1;
    cairn_op_t add_pred = op_add(CAIRN_ET_NEED, e);
    add_pred.pred = &title_op;
    add_pred.npred = 1;
    cairn_op_t ci_later = op_set(CAIRN_ET_CHECKIN, ci, "phq9", num(5)); /* the check-in is held */
    /* A check-in added again by a later change, or added under a made-up id. */
    cairn_op_t ci_again = op_add(CAIRN_ET_CHECKIN, ci);
    cairn_op_t ci_random = op_add(CAIRN_ET_CHECKIN, e);
    cairn_op_t *named[] = {&rm_plan, &rm_ci, &add_pred, &ci_later, &ci_again, &ci_random};
    for (int i = 0; i < 6; i++) {
        cairn_change_t *c = sign_ops(&z, w.plan, 2, z1, 20, named[i], 1);
        REJECTS(s, w.plan, c, CAIRN_REASON_INVALID_OP);
        cairn_change_free(c);
    }
    cairn_change_free(z1);
    world_free(&w);
}

/* ---- 6. missing dependencies ----------------------------------------------------------- */

/*
 * A valid change whose deps, or whose ops' preds, name changes the store
 * lacks is PENDING: held in the pending area, not applied. The pending
 * area survives closing the store; a re-delivery is a DUPLICATE; when the
 * missing change arrives, in a later call, all are applied.
 */
static void test_pending(void)
{
    world_t w;
    world_new(&w, "ingest-pending");
    member_t a, b, c;
    member_new(&w, &a, "a", CLINICAL, 0, 0);
    member_new(&w, &b, "b", CLINICAL, 0, 0);
    member_new(&w, &c, "c", CLINICAL, 0, 0);
    test_node_t *n1 = &w.n[1];

    cairn_change_t *x = sign_title(&a, w.plan, 1, NULL, 10, "x");
    cairn_op_id_t x_title;
    cairn_change_op_id(x, 0, &x_title);
    /* y depends on x; z's write supersedes x's. */
    uint8_t need[16];
    new_eid(need);
    cairn_op_t y_op = op_add(CAIRN_ET_NEED, need);
    cairn_change_draft_t yd = {w.plan, 1, NULL, (const uint8_t(*)[32])x->id, 1, at(20), &y_op, 1};
    cairn_change_t *y = sign_draft(&b, &yd);
    cairn_op_t z_op = op_title("z");
    z_op.pred = &x_title;
    z_op.npred = 1;
    cairn_change_t *z = sign_ops(&c, w.plan, 1, NULL, 30, &z_op, 1);

    snapshot_t before = snap(n1->store, w.plan);
    cairn_change_t *yz[2] = {y, z};
    cairn_ingest_result_t res[3];
    cairn_ingest_stats_t st;
    CHECK_OK(ingest_n(n1->store, yz, 2, res, &st));
    CHECK_VERDICT(res[0], CAIRN_PENDING, CAIRN_REASON_NONE);
    CHECK_VERDICT(res[1], CAIRN_PENDING, CAIRN_REASON_NONE);
    CHECK(st.pending == 2 && st.applied == 0);
    CHECK(!held(n1->store, y) && !held(n1->store, z));
    snapshot_t after = snap(n1->store, w.plan);
    CHECK(memcmp(before.digest, after.digest, 32) == 0 && after.changes == before.changes);
    CHECK(after.pending == 2);

    /* Durable: still waiting after the store is closed and opened again. */
    test_node_close(n1);
    test_node_open(n1);
    node_clock(&w, n1);
    CHECK(pending_count(n1->store) == 2);
    CHECK_VERDICT_1(n1->store, y, CAIRN_DUPLICATE);
    CHECK(pending_count(n1->store) == 2);

    CHECK_OK(ingest_n(n1->store, &x, 1, res, &st));
    CHECK_VERDICT(res[0], CAIRN_APPLIED, CAIRN_REASON_NONE);
    CHECK(st.applied == 3 && st.pending == 0);
    CHECK(pending_count(n1->store) == 0);
    CHECK(held(n1->store, x) && held(n1->store, y) && held(n1->store, z));
    CHECK(present(n1->store, w.plan, CAIRN_ET_NEED, need));
    char title[8];
    title_of(n1->store, w.plan, title, sizeof title);
    CHECK(strcmp(title, "z") == 0);
    CHECK(snap(n1->store, w.plan).changes == 3);

    /* The same state whatever the order: node 0 takes them in causal order. */
    cairn_change_t *xyz[3] = {x, y, z};
    CHECK_OK(ingest_n(w.n[0].store, xyz, 3, res, &st));
    CHECK(st.applied == 3);
    uint8_t d0[32], d1[32];
    digest_of(w.n[0].store, w.plan, d0);
    digest_of(n1->store, w.plan, d1);
    CHECK(memcmp(d0, d1, 32) == 0);
    free_all(xyz, 3);
    world_free(&w);
}

/*
 * Many changes waiting on one id, and one waiting on two: each is applied
 * exactly once, when the last change it waits for arrives.
 */
static void test_pending_fan_out(void)
{
    enum { N = 40 };
    world_t w;
    world_new(&w, "ingest-fanout");
    member_t a, b, m;
    member_new(&w, &a, "a", CLINICAL, 0, 0);
    member_new(&w, &b, "b", CLINICAL, 0, 0);
    member_new(&w, &m, "m", CLINICAL, 0, 0);
    cairn_store_t *s = w.n[1].store;
    cairn_change_t *x1 = sign_title(&a, w.plan, 1, NULL, 10, "x1");
    cairn_change_t *x2 = sign_title(&b, w.plan, 1, NULL, 11, "x2");

    /* m's chain, every link depending on x1; then b's change depending on x1 and x2. */
    cairn_change_t *wait[N + 1];
    for (int i = 0; i < N; i++) {
        cairn_op_t op = op_title("chain");
        cairn_change_draft_t d = {w.plan,
                                  (uint64_t)i + 1,
                                  i ? wait[i - 1]->id : NULL,
                                  (const uint8_t(*)[32])x1->id,
                                  1,
                                  at(100 + (uint64_t)i),
                                  &op,
                                  1};
        wait[i] = sign_draft(&m, &d);
    }
    uint8_t deps[2][32];
    memcpy(deps[0], x1->id, 32);
    memcpy(deps[1], x2->id, 32);
    uint8_t need[16];
    new_eid(need);
    cairn_op_t add = op_add(CAIRN_ET_NEED, need);
    cairn_change_draft_t yd = {w.plan, 2, x2->id, (const uint8_t(*)[32])deps, 2, at(200), &add, 1};
    wait[N] = sign_draft(&b, &yd);

    cairn_ingest_result_t res[N + 1];
    cairn_ingest_stats_t st;
    CHECK_OK(ingest_n(s, wait, N + 1, res, &st));
    for (int i = 0; i <= N; i++)
        CHECK_VERDICT(res[i], CAIRN_PENDING, CAIRN_REASON_NONE);
    CHECK(pending_count(s) == N + 1 && snap(s, w.plan).changes == 0);

    CHECK_OK(ingest_n(s, &x2, 1, res, &st));
    CHECK(st.applied == 1 && pending_count(s) == N + 1);
    CHECK_OK(ingest_n(s, &x1, 1, res, &st));
    CHECK(st.applied == N + 2 && st.rejected == 0);
    CHECK(pending_count(s) == 0 && snap(s, w.plan).changes == N + 3);
    for (int i = 0; i <= N; i++)
        CHECK(held(s, wait[i]));
    CHECK(present(s, w.plan, CAIRN_ET_NEED, need));
    cairn_change_free(x1);
    cairn_change_free(x2);
    free_all(wait, N + 1);
    world_free(&w);
}

/* ---- 7. duplicates and forks --------------------------------------------------------- */

/* The same bytes twice, in two calls or in one: the second is a DUPLICATE and changes nothing. */
static void test_duplicate(void)
{
    world_t w;
    world_new(&w, "ingest-dup");
    member_t m;
    member_new(&w, &m, "m", CLINICAL, 0, 0);
    cairn_store_t *s = w.n[1].store;
    cairn_change_t *c1 = sign_title(&m, w.plan, 1, NULL, 10, "once");
    cairn_change_t *c2 = sign_title(&m, w.plan, 2, c1, 20, "twice");

    APPLIES(s, c1);
    snapshot_t before = snap(s, w.plan);
    cairn_ingest_stats_t st;
    cairn_ingest_result_t r = ingest_bytes(s, c1->bytes, c1->len, &st);
    CHECK_VERDICT(r, CAIRN_DUPLICATE, CAIRN_REASON_NONE);
    CHECK(memcmp(r.id, c1->id, 32) == 0 && !r.fork);
    CHECK(st.duplicate == 1 && st.applied == 0 && st.forks == 0);
    snapshot_t after = snap(s, w.plan);
    CHECK(same_snap(&before, &after));

    cairn_change_t *twice[2] = {c2, c2};
    cairn_ingest_result_t res[2];
    CHECK_OK(ingest_n(s, twice, 2, res, &st));
    CHECK_VERDICT(res[0], CAIRN_APPLIED, CAIRN_REASON_NONE);
    CHECK_VERDICT(res[1], CAIRN_DUPLICATE, CAIRN_REASON_NONE);
    CHECK(st.applied == 1 && st.duplicate == 1 && snap(s, w.plan).changes == 2);
    cairn_change_free(c1);
    cairn_change_free(c2);
    world_free(&w);
}

/* Ingest a and b into s in two calls; b is the fork. */
static void ingest_fork(cairn_store_t *s, const cairn_change_t *a, const cairn_change_t *b)
{
    cairn_ingest_stats_t st;
    cairn_ingest_result_t r = ingest_bytes(s, a->bytes, a->len, &st);
    CHECK_VERDICT(r, CAIRN_APPLIED, CAIRN_REASON_NONE);
    CHECK(!r.fork && st.forks == 0);
    r = ingest_bytes(s, b->bytes, b->len, &st);
    CHECK_VERDICT(r, CAIRN_APPLIED, CAIRN_REASON_NONE);
    CHECK(r.fork == 1 && st.forks == 1);
}

/*
 * Two different changes by one author with the same plan and seq (a fork)
 * are both kept and the second is reported, in either order of arrival or
 * within one call; replicas that saw them in opposite orders agree.
 */
static void test_fork(void)
{
    world_t w;
    world_new(&w, "ingest-fork");
    member_t f;
    member_new(&w, &f, "forker", CLINICAL, 0, 0);
    cairn_change_t *x = sign_title(&f, w.plan, 1, NULL, 100, "fork x");
    cairn_change_t *y = sign_title(&f, w.plan, 1, NULL, 200, "fork y");

    ingest_fork(w.n[0].store, x, y);
    ingest_fork(w.n[1].store, y, x);
    uint8_t d0[32], d1[32];
    digest_of(w.n[0].store, w.plan, d0);
    digest_of(w.n[1].store, w.plan, d1);
    CHECK(memcmp(d0, d1, 32) == 0);
    for (int i = 0; i < 2; i++) {
        cairn_store_t *s = w.n[i].store;
        CHECK(held(s, x) && held(s, y) && snap(s, w.plan).changes == 2);
        cairn_plan_state_t *st;
        cairn_field_view_t v;
        CHECK_OK(cairn_plan_read(s, w.plan, &st));
        CHECK(cairn_plan_state_field(st, CAIRN_ET_PLAN, cairn_singleton_eid,
                                     field(CAIRN_ET_PLAN, "title"), &v) == 0);
        CHECK(v.nvalues == 2); /* both writes live: neither saw the other */
        cairn_plan_state_free(st);
        CHECK_VERDICT_1(s, x, CAIRN_DUPLICATE);
    }

    test_node_t n2;
    node_join(&w, &n2, "ingest-fork-batch");
    cairn_change_t *both[2] = {x, y};
    cairn_ingest_result_t res[2];
    cairn_ingest_stats_t st;
    CHECK_OK(ingest_n(n2.store, both, 2, res, &st));
    CHECK_VERDICT(res[0], CAIRN_APPLIED, CAIRN_REASON_NONE);
    CHECK_VERDICT(res[1], CAIRN_APPLIED, CAIRN_REASON_NONE);
    CHECK(!res[0].fork && res[1].fork == 1 && st.forks == 1 && st.verified == 2);
    uint8_t d2[32];
    digest_of(n2.store, w.plan, d2);
    CHECK(memcmp(d0, d2, 32) == 0);
    test_node_destroy(&n2);
    cairn_change_free(x);
    cairn_change_free(y);
    world_free(&w);
}

/* ---- 8. a batch is one transaction ---------------------------------------------------- */

/*
 * In one call, rejected changes are reported and the valid ones applied:
 * a rejection is not an error of the call.
 */
static void test_batch_mixed(void)
{
    world_t w;
    world_new(&w, "ingest-mixed");
    member_t m, n;
    member_new(&w, &m, "m", CLINICAL, 0, 0);
    member_new(&w, &n, "n", CLINICAL, 0, 0);
    cairn_store_t *s = w.n[1].store;
    cairn_change_t *m1 = sign_title(&m, w.plan, 1, NULL, 10, "m1");
    cairn_change_t *m2 = sign_title(&m, w.plan, 2, m1, 20, "m2");
    cairn_change_t *m3 = sign_title(&m, w.plan, 3, m2, 30, "m3");
    cairn_change_t *n1 = sign_title(&n, w.plan, 1, NULL, 40, "n1");
    uint8_t *p = copy_bytes(m3);
    p[m3->len - 3] ^= 0x10;
    uint8_t garbage[40] = {0x99, 1, 2, 3};
    const uint8_t *bytes[] = {m1->bytes, garbage, m2->bytes, p, n1->bytes};
    size_t lens[] = {m1->len, sizeof garbage, m2->len, m3->len, n1->len};
    cairn_ingest_result_t res[5];
    cairn_ingest_stats_t st;
    CHECK_OK(cairn_ingest(s, bytes, lens, 5, res, &st));
    CHECK_VERDICT(res[0], CAIRN_APPLIED, CAIRN_REASON_NONE);
    CHECK_VERDICT(res[1], CAIRN_REJECTED, CAIRN_REASON_MALFORMED);
    CHECK_VERDICT(res[2], CAIRN_APPLIED, CAIRN_REASON_NONE);
    CHECK_VERDICT(res[3], CAIRN_REJECTED, CAIRN_REASON_BAD_SIGNATURE);
    CHECK_VERDICT(res[4], CAIRN_APPLIED, CAIRN_REASON_NONE);
    CHECK(st.applied == 3 && st.rejected == 2 && st.pending == 0 && st.duplicate == 0);
    CHECK(held(s, m1) && held(s, m2) && held(s, n1) && !held(s, m3));
    CHECK(snap(s, w.plan).changes == 3 && pending_count(s) == 0);
    free(p);
    cairn_change_t *all[] = {m1, m2, m3, n1};
    free_all(all, 4);
    world_free(&w);
}

#define BIG_CHANGES 24
#define NEEDS_PER_CHANGE 28

/* A chain of m's changes, each near the size limit (needs with long descriptions). */
static void big_chain(const member_t *m, const uint8_t *plan, cairn_change_t **out)
{
    static char desc[2001];
    memset(desc, 'd', 2000);
    cairn_op_t ops[2 * NEEDS_PER_CHANGE];
    for (size_t i = 0; i < BIG_CHANGES; i++) {
        uint8_t eid[NEEDS_PER_CHANGE][16];
        for (size_t k = 0; k < NEEDS_PER_CHANGE; k++) {
            new_eid(eid[k]);
            ops[2 * k] = op_add(CAIRN_ET_NEED, eid[k]);
            ops[2 * k + 1] = op_set(CAIRN_ET_NEED, eid[k], "description", str(desc));
        }
        out[i] =
            sign_ops(m, plan, i + 1, i ? out[i - 1] : NULL, 100 + i, ops, 2 * NEEDS_PER_CHANGE);
        CHECK(out[i]->len > CAIRN_CHANGE_MAX_BYTES / 2);
    }
}

/* Nothing of the failed batch: none of its changes held, plan and clock as before. */
static void check_none_of(cairn_store_t *s, const uint8_t *plan, cairn_change_t **cs, size_t n,
                          const snapshot_t *before)
{
    for (size_t i = 0; i < n; i++)
        CHECK(!held(s, cs[i]));
    snapshot_t after = snap(s, plan);
    CHECK(memcmp(before->digest, after.digest, 32) == 0 && before->changes == after.changes &&
          after.pending == before->pending);
}

/* A node created with a map of map_size bytes. */
static void node_create_small(test_node_t *n, const char *tag, size_t map_size)
{
    memset(n, 0, sizeof *n);
    test_tmpdir(n->root, sizeof n->root, tag);
    test_key_file(n->key, sizeof n->key, n->root);
    snprintf(n->dir, sizeof n->dir, "%s/node", n->root);
    cairn_unlock_t u = {CAIRN_UNLOCK_KEY_FILE, NULL, 0, n->key};
    cairn_init_opts_t opts = {CAIRN_KDF_INTERACTIVE, map_size};
    CHECK_OK(cairn_store_init(n->dir, &u, &opts));
    test_node_open(n);
}

/*
 * A batch that does not fit the store's map fails as a whole: the call
 * returns CAIRN_EMAPFULL and none of the batch is applied, while what was
 * committed before is intact and the store stays writable.
 */
static void test_batch_map_full(void)
{
    world_t w;
    world_new(&w, "ingest-mapfull");
    member_t m;
    member_new(&w, &m, "m", CLINICAL, 0, 0);
    test_node_t x;
    node_create_small(&x, "ingest-mapfull-x", (size_t)1 << 20);
    node_clock(&w, &x);
    CHECK_OK(cairn_org_join(x.store, w.org));
    CHECK(test_copy_plan(w.n[0].store, x.store, w.rplan) == 0);
    uint8_t id[32];
    local_title(w.n[0].store, w.plan, "committed before", id);
    CHECK(test_copy_plan(w.n[0].store, x.store, w.plan) == 0);

    cairn_change_t *big[BIG_CHANGES];
    big_chain(&m, w.plan, big);
    snapshot_t before = snap(x.store, w.plan);
    cairn_ingest_result_t res[BIG_CHANGES];
    CHECK_ERR(ingest_n(x.store, big, BIG_CHANGES, res, NULL), CAIRN_EMAPFULL);
    check_none_of(x.store, w.plan, big, BIG_CHANGES, &before);
    CHECK(cairn_store_hlc(x.store) == before.hlc);
    CHECK(held_id(x.store, w.plan, id));

    /* Still writable, and the failed batch left nothing behind after a reopen either. */
    APPLIES(x.store, big[0]);
    test_node_close(&x);
    test_node_open(&x);
    CHECK(held(x.store, big[0]) && !held(x.store, big[1]) && held_id(x.store, w.plan, id));
    CHECK(pending_count(x.store) == 0);
    free_all(big, BIG_CHANGES);
    test_node_destroy(&x);
    world_free(&w);
}

/*
 * The same at commit: with the file size limited (RLIMIT_FSIZE, in a child
 * process), LMDB's commit fails, the call returns CAIRN_ENOSPC, and after
 * a reopen none of the batch is there.
 */
static void test_batch_disk_full(void)
{
    world_t w;
    world_new(&w, "ingest-diskfull");
    member_t m;
    member_new(&w, &m, "m", CLINICAL, 0, 0);
    test_node_t *n1 = &w.n[1];
    uint8_t id[32];
    local_title(w.n[0].store, w.plan, "committed before", id);
    CHECK(test_copy_plan(w.n[0].store, n1->store, w.plan) == 0);
    cairn_change_t *big[BIG_CHANGES];
    big_chain(&m, w.plan, big);
    snapshot_t before = snap(n1->store, w.plan);
    test_node_close(n1);

    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        char data[700];
        struct stat sb;
        snprintf(data, sizeof data, "%s/data.mdb", n1->dir);
        if (stat(data, &sb) != 0)
            _exit(100);
        signal(SIGXFSZ, SIG_IGN);
        struct rlimit rl = {(rlim_t)sb.st_size + 8192, (rlim_t)sb.st_size + 8192};
        if (setrlimit(RLIMIT_FSIZE, &rl) != 0)
            _exit(101);
        cairn_unlock_t u = {CAIRN_UNLOCK_KEY_FILE, NULL, 0, n1->key};
        cairn_store_t *c;
        if (cairn_store_open(n1->dir, &u, &c) != CAIRN_OK)
            _exit(102);
        cairn_err_t err = ingest_n(c, big, BIG_CHANGES, NULL, NULL);
        cairn_store_close(c);
        _exit(err == CAIRN_ENOSPC ? 0 : 110 - (int)err);
    }
    test_wait_ok(pid, "disk-full child");
    test_node_open(n1);
    check_none_of(n1->store, w.plan, big, BIG_CHANGES, &before);
    CHECK(held_id(n1->store, w.plan, id));
    cairn_ingest_stats_t st;
    CHECK_OK(ingest_n(n1->store, big, BIG_CHANGES, NULL, &st));
    CHECK(st.applied == BIG_CHANGES);
    free_all(big, BIG_CHANGES);
    world_free(&w);
}

#define RACE_N 600 /* changes of each kind per store */
#define RACE_BATCH 60

/*
 * Two stores, each used by its own thread (store.h allows it), ingest at the
 * same time with parked changes: each store's pending area is its own, so
 * every change is applied exactly once on both.
 */
typedef struct racer {
    world_t w;
    cairn_change_t *x[RACE_N], *y[RACE_N]; /* y[i] depends on x[i] */
} racer_t;

static void *race_run(void *arg)
{
    racer_t *r = arg;
    for (int k = 0; k < RACE_N; k += RACE_BATCH) {
        CHECK_OK(ingest_n(r->w.n[1].store, &r->y[k], RACE_BATCH, NULL, NULL));
        CHECK_OK(ingest_n(r->w.n[1].store, &r->x[k], RACE_BATCH, NULL, NULL));
    }
    return NULL;
}

static void test_two_stores_two_threads(void)
{
    static racer_t r[2];
    pthread_t th[2];
    for (int t = 0; t < 2; t++) {
        member_t a, b;
        world_new(&r[t].w, "ingest-race");
        member_new(&r[t].w, &a, "a", CLINICAL, 0, 0);
        member_new(&r[t].w, &b, "b", CLINICAL, 0, 0);
        for (int i = 0; i < RACE_N; i++) {
            r[t].x[i] = sign_title(&a, r[t].w.plan, (uint64_t)i + 1, i ? r[t].x[i - 1] : NULL,
                                   10 + (uint64_t)i, "x");
            cairn_op_t op = op_title("y");
            cairn_change_draft_t d = {r[t].w.plan,
                                      (uint64_t)i + 1,
                                      i ? r[t].y[i - 1]->id : NULL,
                                      (const uint8_t(*)[32])r[t].x[i]->id,
                                      1,
                                      at(100000 + (uint64_t)i),
                                      &op,
                                      1};
            r[t].y[i] = sign_draft(&b, &d);
        }
    }
    for (int t = 0; t < 2; t++)
        CHECK(pthread_create(&th[t], NULL, race_run, &r[t]) == 0);
    for (int t = 0; t < 2; t++)
        CHECK(pthread_join(th[t], NULL) == 0);
    for (int t = 0; t < 2; t++) {
        CHECK(pending_count(r[t].w.n[1].store) == 0);
        free_all(r[t].x, RACE_N);
        free_all(r[t].y, RACE_N);
        world_free(&r[t].w);
    }
}

/* Every reason has a stable name, for logs. */
static void test_reason_names(void)
{
    for (int r = 0; r < CAIRN_REASON__COUNT; r++)
        CHECK(strcmp(cairn_reason_name((cairn_reason_t)r), reason_name((cairn_reason_t)r)) == 0);
    CHECK(strcmp(cairn_reason_name(CAIRN_REASON__COUNT), "unknown") == 0);
    CHECK(CAIRN_REASON_BAD_SIGNATURE == 3 && CAIRN_REASON_PENDING_FULL == 9); /* stable numbers */
}

/*
 * cairn_batch_ingest counts only the changes it was given: the batch's own
 * edits signed in the background go in first, and are not counted as the
 * peer's (a writer grouping sessions hands these counts back to them).
 */
static void test_batch_ingest_counts_its_own(void)
{
    world_t w;
    world_new(&w, "ingest-batch-counts");
    cairn_store_t *s = w.n[1].store;
    member_t m;
    member_new(&w, &m, "peer", CLINICAL, 0, 0);
    cairn_change_t *c = sign_title(&m, w.plan, 1, NULL, 10000, "from a peer");
    cairn_batch_t *b;
    cairn_edit_t *e;
    cairn_value_t v = str("local");
    uint8_t other[CAIRN_PLAN_ID_BYTES];
    cairn_plan_id_new(other);
    CHECK_OK(cairn_batch_begin(s, &b));
    CHECK_OK(cairn_edit_begin(b, other, &e));
    CHECK_OK(
        cairn_edit_set(e, CAIRN_ET_PLAN, cairn_singleton_eid, field(CAIRN_ET_PLAN, "title"), &v));
    CHECK_OK(cairn_edit_commit(e, NULL)); /* signed in the background */
    cairn_ingest_stats_t st;
    CHECK_OK(cairn_batch_ingest(b, NULL, NULL, 0, NULL, &st));
    CHECK(st.applied == 0);
    const uint8_t *bytes = c->bytes;
    size_t len = c->len;
    CHECK_OK(cairn_batch_ingest(b, &bytes, &len, 1, NULL, &st));
    CHECK(st.applied == 1 && st.rejected == 0);
    CHECK_OK(cairn_batch_commit(b));
    char t[64];
    title_of(s, other, t, sizeof t);
    CHECK(strcmp(t, "local") == 0);
    title_of(s, w.plan, t, sizeof t);
    CHECK(strcmp(t, "from a peer") == 0);
    cairn_change_free(c);
    world_free(&w);
}

/*
 * The threading model (docs/architecture.md): one writer thread commits
 * while reader threads use the read API on the same handle. Every read sees
 * one committed state: a title "tN" exactly when the plan has N changes,
 * never fewer changes than the reader saw before.
 */
typedef struct reader {
    cairn_store_t *s;
    const uint8_t *plan;
    _Atomic int *done;
    unsigned reads, torn, backwards, errors;
} reader_t;

static int count_plan(void *ctx, const uint8_t *plan, uint64_t nchanges)
{
    (void)plan, (void)nchanges;
    (*(unsigned *)ctx)++;
    return 0;
}

static void *reader_run(void *arg)
{
    reader_t *r = arg;
    uint64_t last = 0;
    while (!*r->done) {
        cairn_plan_state_t *st;
        cairn_field_view_t v;
        unsigned plans = 0;
        if (cairn_plan_read(r->s, r->plan, &st) != CAIRN_OK ||
            cairn_plan_list(r->s, count_plan, &plans) != CAIRN_OK) {
            r->errors++;
            continue;
        }
        uint64_t n = cairn_plan_state_changes(st);
        char want[32], got[32] = "";
        snprintf(want, sizeof want, "t%llu", (unsigned long long)n);
        if (cairn_plan_state_field(st, CAIRN_ET_PLAN, cairn_singleton_eid,
                                   field(CAIRN_ET_PLAN, "title"), &v) == 0 &&
            v.values[0].len < sizeof got) {
            memcpy(got, v.values[0].s, v.values[0].len);
            got[v.values[0].len] = '\0';
        }
        r->torn += n > 0 && strcmp(got, want) != 0;
        r->backwards += n < last;
        last = n;
        r->reads++;
        cairn_plan_state_free(st);
        /* A pause between reads, as a real reader has: under valgrind, whose
         * threads take turns, a spinning reader would starve the writer. */
        struct timespec pause = {0, 200000};
        nanosleep(&pause, NULL);
    }
    return NULL;
}

static void test_readers_beside_writer(void)
{
    world_t w;
    world_new(&w, "ingest-readers");
    cairn_store_t *s = w.n[0].store;
    _Atomic int done = 0;
    reader_t r[2];
    pthread_t th[2];
    local_title(s, w.plan, "t1", NULL);
    for (int t = 0; t < 2; t++) {
        r[t] = (reader_t){s, w.plan, &done, 0, 0, 0, 0};
        CHECK(pthread_create(&th[t], NULL, reader_run, &r[t]) == 0);
    }
    for (int i = 2; i <= 150; i++) {
        char t[32];
        snprintf(t, sizeof t, "t%d", i);
        local_title(s, w.plan, t, NULL);
    }
    done = 1;
    for (int t = 0; t < 2; t++) {
        CHECK(pthread_join(th[t], NULL) == 0);
        CHECK(r[t].reads > 0);
        CHECK(r[t].torn == 0);
        CHECK(r[t].backwards == 0);
        CHECK(r[t].errors == 0);
    }
    world_free(&w);
}

int main(void)
{
    CHECK(sodium_init() >= 0);
    RUN(test_reason_names);
    RUN(test_size_and_decoding);
    RUN(test_bad_signature);
    RUN(test_chain_amortised);
    RUN(test_forged_in_chain);
    RUN(test_bad_chain);
    RUN(test_unknown_author);
    RUN(test_roster_edits);
    RUN(test_not_valid);
    RUN(test_inert_comes_back);
    RUN(test_rebuild_paths_agree);
    RUN(test_not_permitted);
    RUN(test_invalid_op);
    RUN(test_pending);
    RUN(test_pending_fan_out);
    RUN(test_duplicate);
    RUN(test_fork);
    RUN(test_batch_mixed);
    RUN(test_batch_map_full);
    RUN(test_batch_disk_full);
    RUN(test_two_stores_two_threads);
    RUN(test_readers_beside_writer);
    RUN(test_batch_ingest_counts_its_own);
    return 0;
}
