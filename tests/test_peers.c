/*
 * test_peers.c - the peer list and per-peer status (core/peers.c): round
 * trips, validation on the way in, strict decoding on the way out, and the
 * commit sequence a service polls.
 */
#include <lmdb.h>

#include "test.h"

/* Private, to write well-sealed rows of the wrong shape, as a bug or old code would. */
#include "kv.h"
#include "store_int.h"

static void key_of(uint8_t k[32], uint8_t b)
{
    memset(k, b, 32);
}

typedef struct seen {
    size_t n;
    cairn_peer_t peers[8];
} seen_t;

static int collect(void *ctx, const cairn_peer_t *p)
{
    seen_t *s = ctx;
    CHECK(s->n < 8);
    s->peers[s->n++] = *p;
    return 0;
}

static int stop_first(void *ctx, const cairn_peer_t *p)
{
    (void)p;
    (*(size_t *)ctx)++;
    return 1;
}

static void round_trip(void)
{
    test_node_t n;
    test_node_create(&n, "peers-rt");
    uint8_t a[32], b[32];
    key_of(a, 0xaa);
    key_of(b, 0x11);
    CHECK_OK(cairn_peer_put(n.store, a, "clinic.example.org:7433", "clinic"));
    CHECK_OK(cairn_peer_put(n.store, b, "[::1]:9", NULL));
    seen_t s = {0};
    CHECK_OK(cairn_peer_list(n.store, collect, &s));
    CHECK(s.n == 2);
    CHECK(memcmp(s.peers[0].key, b, 32) == 0); /* key order */
    CHECK(strcmp(s.peers[0].addr, "[::1]:9") == 0 && s.peers[0].name[0] == '\0');
    CHECK(strcmp(s.peers[1].addr, "clinic.example.org:7433") == 0);
    CHECK(strcmp(s.peers[1].name, "clinic") == 0);
    size_t calls = 0;
    CHECK_OK(cairn_peer_list(n.store, stop_first, &calls));
    CHECK(calls == 1);

    /* Replace, and survive a reopen. */
    CHECK_OK(cairn_peer_put(n.store, a, "10.0.0.2:1", "clinic, new site"));
    test_node_close(&n);
    test_node_open(&n);
    cairn_peer_t p;
    CHECK_OK(cairn_peer_get(n.store, a, &p));
    CHECK(strcmp(p.addr, "10.0.0.2:1") == 0 && strcmp(p.name, "clinic, new site") == 0);
    CHECK(memcmp(p.key, a, 32) == 0);

    /* Status: absent, then a round trip of every field. */
    cairn_peer_status_t st, got;
    CHECK_ERR(cairn_peer_status_get(n.store, a, &st), CAIRN_ENOTFOUND);
    memset(&st, 0, sizeof st);
    st.last_attempt_ms = 1700000000123ull;
    st.last_ok_ms = 1700000000100ull;
    st.last_end_ms = 1700000000456ull;
    st.in_sync = 1;
    snprintf(st.last_error, sizeof st.last_error, "timeout");
    st.changes_in = 1;
    st.changes_out = 2;
    st.bytes_in = 3;
    st.bytes_out = 4;
    st.rejected = 5;
    st.changes_in_total = 6;
    st.changes_out_total = 7;
    st.sessions = 8;
    st.failures = UINT64_MAX;
    CHECK_OK(cairn_peer_status_put(n.store, a, &st));
    CHECK_OK(cairn_peer_status_get(n.store, a, &got));
    CHECK(memcmp(&st, &got, sizeof st) == 0);
    /* A status for a peer that is not configured (it dialled us). */
    uint8_t c[32];
    key_of(c, 0xcc);
    st.in_sync = 0;
    st.last_error[0] = '\0';
    CHECK_OK(cairn_peer_status_put(n.store, c, &st));
    CHECK_OK(cairn_peer_status_get(n.store, c, &got));
    CHECK(got.in_sync == 0 && got.last_error[0] == '\0' && got.failures == UINT64_MAX);

    /* Remove takes the status with it; a second remove finds nothing. */
    CHECK_OK(cairn_peer_remove(n.store, a));
    CHECK_ERR(cairn_peer_get(n.store, a, &p), CAIRN_ENOTFOUND);
    CHECK_ERR(cairn_peer_status_get(n.store, a, &got), CAIRN_ENOTFOUND);
    CHECK_ERR(cairn_peer_remove(n.store, a), CAIRN_ENOTFOUND);
    CHECK_OK(cairn_peer_remove(n.store, b)); /* never had a session */
    memset(&s, 0, sizeof s);
    CHECK_OK(cairn_peer_list(n.store, collect, &s));
    CHECK(s.n == 0);
    test_node_destroy(&n);
}

static void validation(void)
{
    test_node_t n;
    test_node_create(&n, "peers-valid");
    uint8_t a[32];
    key_of(a, 0xaa);
    static const char *const bad_addrs[] = {
        "",         "host",     ":7433",    "host:",    "host:0",    "host:65536", "host:07433",
        "host:+80", "host:80x", "ho st:80", "[]:80",    "[::1:80",   "[g::1]:80",  "host:99999",
        "a:b:c",    "host:-1",  "host:80 ", "h\x01:80", "[::1]]:80",
    };
    for (size_t i = 0; i < sizeof bad_addrs / sizeof bad_addrs[0]; i++) {
        if (cairn_peer_put(n.store, a, bad_addrs[i], NULL) != CAIRN_EINVAL) {
            fprintf(stderr, "accepted address '%s'\n", bad_addrs[i]);
            CHECK(0);
        }
    }
    char longhost[300];
    memset(longhost, 'h', 254);
    snprintf(longhost + 254, sizeof longhost - 254, ":80");
    CHECK_ERR(cairn_peer_put(n.store, a, longhost, NULL), CAIRN_EINVAL);
    longhost[253] = ':'; /* 253 characters of host: the most */
    snprintf(longhost + 254, sizeof longhost - 254, "80");
    CHECK_OK(cairn_peer_put(n.store, a, longhost, NULL));

    char host[64];
    uint16_t port;
    CHECK_OK(cairn_peer_addr_parse("127.0.0.1:65535", host, sizeof host, &port));
    CHECK(strcmp(host, "127.0.0.1") == 0 && port == 65535);
    CHECK_OK(cairn_peer_addr_parse("[fe80::1]:1", host, sizeof host, &port));
    CHECK(strcmp(host, "fe80::1") == 0 && port == 1);
    CHECK_ERR(cairn_peer_addr_parse("127.0.0.1:80", host, 9, &port), CAIRN_EINVAL);

    char name[80];
    memset(name, 'n', 65);
    name[65] = '\0';
    CHECK_ERR(cairn_peer_put(n.store, a, "h:1", name), CAIRN_EINVAL);
    name[64] = '\0';
    CHECK_OK(cairn_peer_put(n.store, a, "h:1", name));
    CHECK_ERR(cairn_peer_put(n.store, a, "h:1", "tab\there"), CAIRN_EINVAL);
    CHECK_OK(cairn_peer_put(n.store, a, "h:1", "Klinik Süd"));           /* UTF-8 passes */
    CHECK_ERR(cairn_peer_put(n.store, n.pk, "h:1", NULL), CAIRN_EINVAL); /* itself */
    CHECK_ERR(cairn_peer_put(NULL, a, "h:1", NULL), CAIRN_EINVAL);
    CHECK_ERR(cairn_peer_put(n.store, a, NULL, NULL), CAIRN_EINVAL);

    cairn_peer_status_t st;
    memset(&st, 0, sizeof st);
    st.in_sync = 2;
    CHECK_ERR(cairn_peer_status_put(n.store, a, &st), CAIRN_EINVAL);
    st.in_sync = 0;
    snprintf(st.last_error, sizeof st.last_error, "bad\nline");
    CHECK_ERR(cairn_peer_status_put(n.store, a, &st), CAIRN_EINVAL);
    memset(st.last_error, 'x', sizeof st.last_error); /* no NUL */
    CHECK_ERR(cairn_peer_status_put(n.store, a, &st), CAIRN_EINVAL);
    CHECK_ERR(cairn_peer_status_get(n.store, a, &st), CAIRN_ENOTFOUND); /* nothing written */
    test_node_destroy(&n);
}

/* Seal a row of the wrong shape under "peer/" or "peerst/" + key. */
static void put_raw(cairn_store_t *s, const char *prefix, const uint8_t key[32], const uint8_t *val,
                    size_t len)
{
    uint8_t k[64];
    size_t plen = strlen(prefix);
    memcpy(k, prefix, plen);
    memcpy(k + plen, key, 32);
    cairn_txn_t *txn;
    CHECK_OK(cairn__kv_begin(&s->kv, 1, &txn));
    CHECK_OK(cairn__db_put(txn, CAIRN_DB_META, k, plen + 32, val, len));
    CHECK_OK(cairn_txn_commit(txn));
}

static int count_status(void *ctx, const uint8_t key[32], const cairn_peer_status_t *st)
{
    (void)key;
    (void)st;
    (*(size_t *)ctx)++;
    return 0;
}

static void damaged(void)
{
    test_node_t n;
    test_node_create(&n, "peers-damaged");
    uint8_t a[32], b[32];
    key_of(a, 0xaa);
    key_of(b, 0xbb);
    CHECK_OK(cairn_peer_put(n.store, b, "good:1", "good"));
    cairn_peer_t p;
    /* Each of these is a sealed, authentic value that is not a peer row. */
    static const struct {
        size_t len;
        uint8_t v[16];
    } bad_peers[] = {
        {0, {0}},
        {3, {1, 0, 0}},
        {8, {2, 0, 3, 'h', ':', '1', 0}},       /* unknown version */
        {6, {1, 0, 3, 'h', ':', '1'}},          /* no name length: one short */
        {8, {1, 0, 4, 'h', ':', '1', 0}},       /* a NUL taken into the address */
        {9, {1, 0, 3, 'h', ':', '1', 0, 'x'}},  /* name length 0, a byte after it */
        {7, {1, 0, 3, 'h', ':', '0', 0}},       /* port 0 */
        {8, {1, 0, 3, 'h', ':', '1', 1, 0x07}}, /* control character in the name */
        {7, {1, 0, 3, 'h', 0, '1', 0}},         /* NUL inside the address */
        {7, {1, 0, 0, 0, 0, 0, 0}},             /* empty address */
    };
    for (size_t i = 0; i < sizeof bad_peers / sizeof bad_peers[0]; i++) {
        put_raw(n.store, "peer/", a, bad_peers[i].v, bad_peers[i].len);
        if (cairn_peer_get(n.store, a, &p) != CAIRN_ECORRUPT) {
            fprintf(stderr, "bad peer row %zu decoded\n", i);
            CHECK(0);
        }
        seen_t s = {0};
        CHECK_ERR(cairn_peer_list(n.store, collect, &s), CAIRN_ECORRUPT);
        CHECK(s.n == 0); /* nothing handed out from a damaged list */
    }
    /* A good row again: the list is whole. */
    CHECK_OK(cairn_peer_put(n.store, a, "h:1", NULL));
    seen_t s = {0};
    CHECK_OK(cairn_peer_list(n.store, collect, &s));
    CHECK(s.n == 2);

    /* Status rows: truncated, overlong, a bad flag, a bad error string. */
    cairn_peer_status_t st;
    memset(&st, 0, sizeof st);
    snprintf(st.last_error, sizeof st.last_error, "auth");
    CHECK_OK(cairn_peer_status_put(n.store, a, &st));
    uint8_t good[200] = {0};
    {
        uint8_t k[64];
        memcpy(k, "peerst/", 7);
        memcpy(k + 7, a, 32);
        cairn_txn_t *txn;
        cairn_buf_t buf = CAIRN_BUF_INIT;
        CHECK_OK(cairn__kv_begin(&n.store->kv, 0, &txn));
        CHECK_OK(cairn__db_get(txn, CAIRN_DB_META, k, 39, &buf));
        cairn_txn_abort(txn);
        CHECK(buf.len == 1 + 24 + 2 + 4 + 72);
        memcpy(good, buf.data, buf.len);
        cairn_buf_free(&buf);
    }
    size_t glen = 1 + 24 + 2 + 4 + 72;
    uint8_t bad[200] = {0};
    memcpy(bad, good, glen);
    put_raw(n.store, "peerst/", a, bad, glen - 1);
    CHECK_ERR(cairn_peer_status_get(n.store, a, &st), CAIRN_ECORRUPT);
    put_raw(n.store, "peerst/", a, bad, glen + 1);
    CHECK_ERR(cairn_peer_status_get(n.store, a, &st), CAIRN_ECORRUPT);
    bad[25] = 2; /* in_sync */
    put_raw(n.store, "peerst/", a, bad, glen);
    CHECK_ERR(cairn_peer_status_get(n.store, a, &st), CAIRN_ECORRUPT);
    memcpy(bad, good, glen);
    bad[27] = '\n';
    put_raw(n.store, "peerst/", a, bad, glen);
    CHECK_ERR(cairn_peer_status_get(n.store, a, &st), CAIRN_ECORRUPT);
    size_t count = 0;
    CHECK_ERR(cairn_peer_status_list(n.store, count_status, &count), CAIRN_ECORRUPT);
    CHECK(count == 0);
    memcpy(bad, good, glen);
    bad[0] = 9;
    put_raw(n.store, "peerst/", a, bad, glen);
    CHECK_ERR(cairn_peer_status_get(n.store, a, &st), CAIRN_ECORRUPT);
    put_raw(n.store, "peerst/", a, good, glen);
    CHECK_OK(cairn_peer_status_get(n.store, a, &st));
    CHECK(strcmp(st.last_error, "auth") == 0);
    CHECK_OK(cairn_peer_status_list(n.store, count_status, &count));
    CHECK(count == 1);
    test_node_close(&n);

    /* A flipped byte on disk fails the seal: corrupt, not a different peer. */
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    CHECK(mdb_env_create(&env) == 0);
    CHECK(mdb_env_set_maxdbs(env, 16) == 0);
    CHECK(mdb_env_open(env, n.dir, 0, 0600) == 0);
    CHECK(mdb_txn_begin(env, NULL, 0, &txn) == 0);
    CHECK(mdb_dbi_open(txn, "meta", 0, &dbi) == 0);
    uint8_t k[37];
    memcpy(k, "peer/", 5);
    memcpy(k + 5, b, 32);
    MDB_val mk = {sizeof k, k}, mv;
    CHECK(mdb_get(txn, dbi, &mk, &mv) == 0);
    uint8_t copy[256];
    CHECK(mv.mv_size <= sizeof copy);
    memcpy(copy, mv.mv_data, mv.mv_size);
    copy[mv.mv_size - 3] ^= 0x01;
    MDB_val nv = {mv.mv_size, copy};
    CHECK(mdb_put(txn, dbi, &mk, &nv, 0) == 0);
    CHECK(mdb_txn_commit(txn) == 0);
    mdb_env_close(env);
    test_node_open(&n);
    CHECK_ERR(cairn_peer_get(n.store, b, &p), CAIRN_ECORRUPT);
    test_node_destroy(&n);
}

static void commit_seq(void)
{
    test_node_t n;
    test_node_create(&n, "peers-seq");
    uint64_t s0, s1, s2;
    CHECK_OK(cairn_store_commit_seq(n.store, &s0));
    uint8_t a[32];
    key_of(a, 0xaa);
    CHECK_OK(cairn_peer_put(n.store, a, "h:1", NULL));
    CHECK_OK(cairn_store_commit_seq(n.store, &s1));
    CHECK(s1 == s0 + 1);
    cairn_peer_t p;
    CHECK_OK(cairn_peer_get(n.store, a, &p)); /* a read commits nothing */
    CHECK_OK(cairn_store_commit_seq(n.store, &s2));
    CHECK(s2 == s1);
    CHECK_ERR(cairn_store_commit_seq(n.store, NULL), CAIRN_EINVAL);
    test_node_destroy(&n);
}

int main(void)
{
    RUN(round_trip);
    RUN(validation);
    RUN(damaged);
    RUN(commit_seq);
    fprintf(stderr, "peers: ok\n");
    return 0;
}
