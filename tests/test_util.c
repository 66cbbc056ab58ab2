/*
 * test_util.c - temporary directories, seeds and key files for the tests.
 */
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "test.h"

#include <sodium.h>

void test_tmpdir(char *out, size_t n, const char *tag)
{
    const char *base = getenv("TMPDIR");
    if (base == NULL || base[0] == '\0')
        base = "/tmp";
    snprintf(out, n, "%s/cairn-%s-XXXXXX", base, tag);
    CHECK(mkdtemp(out) != NULL);
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

void test_rmtree(const char *path)
{
    nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

unsigned long long test_seed(void)
{
    const char *s = getenv("CAIRN_TEST_SEED");
    unsigned long long seed;
    if (s != NULL && s[0] != '\0') {
        seed = strtoull(s, NULL, 10);
    } else {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        seed = (unsigned long long)ts.tv_sec * 1000003ull ^ (unsigned long long)ts.tv_nsec ^
               (unsigned long long)getpid();
    }
    fprintf(stderr, "seed: %llu (rerun with CAIRN_TEST_SEED=%llu)\n", seed, seed);
    return seed;
}

void test_key_file(char *out, size_t n, const char *dir)
{
    snprintf(out, n, "%s/key", dir);
    CHECK_OK(cairn_key_file_create(out));
}

void test_node_create(test_node_t *n, const char *tag)
{
    memset(n, 0, sizeof *n);
    test_tmpdir(n->root, sizeof n->root, tag);
    test_key_file(n->key, sizeof n->key, n->root);
    snprintf(n->dir, sizeof n->dir, "%s/node", n->root);
    cairn_unlock_t u = {CAIRN_UNLOCK_KEY_FILE, NULL, 0, n->key};
    cairn_init_opts_t opts = {CAIRN_KDF_INTERACTIVE, (size_t)256 << 20};
    CHECK_OK(cairn_store_init(n->dir, &u, &opts));
    test_node_open(n);
    cairn_store_info_t info;
    CHECK_OK(cairn_store_info(n->store, &info));
    memcpy(n->pk, info.public_key, 32);
}

void test_node_open(test_node_t *n)
{
    cairn_unlock_t u = {CAIRN_UNLOCK_KEY_FILE, NULL, 0, n->key};
    CHECK_OK(cairn_store_open(n->dir, &u, &n->store));
}

void test_node_close(test_node_t *n)
{
    cairn_store_close(n->store);
    n->store = NULL;
}

void test_node_destroy(test_node_t *n)
{
    test_node_close(n);
    test_rmtree(n->root);
}

typedef struct copy_ctx {
    cairn_store_t *to;
    cairn_err_t err;
    size_t rejected;
} copy_ctx_t;

static int copy_one(void *ctx, const uint8_t *id, const uint8_t *bytes, size_t len)
{
    (void)id;
    copy_ctx_t *c = ctx;
    cairn_ingest_stats_t st;
    c->err = cairn_ingest(c->to, &bytes, &len, 1, NULL, &st);
    c->rejected += st.rejected;
    return c->err != CAIRN_OK;
}

size_t test_copy_plan(cairn_store_t *from, cairn_store_t *to, const uint8_t *plan)
{
    copy_ctx_t c = {to, CAIRN_OK, 0};
    CHECK_OK(cairn_plan_changes(from, plan, copy_one, &c));
    CHECK_OK(c.err);
    return c.rejected;
}

void test_org(test_node_t *nodes, size_t n, unsigned roles)
{
    uint8_t org[32], rplan[CAIRN_PLAN_ID_BYTES];
    CHECK_OK(cairn_org_create(nodes[0].store, "node-0"));
    CHECK_OK(cairn_org_key(nodes[0].store, org));
    cairn_roster_plan_id(org, rplan);
    for (size_t i = 0; i < n; i++) {
        char name[32];
        snprintf(name, sizeof name, "node-%zu", i);
        /* node 0 is an administrator already; it keeps that role too */
        unsigned r = i == 0 ? roles | CAIRN_ROLE_ADMIN : roles;
        CHECK_OK(cairn_roster_put(nodes[0].store, nodes[i].pk, name, r, 0, 0));
    }
    for (size_t i = 1; i < n; i++) {
        CHECK_OK(cairn_org_join(nodes[i].store, org));
        CHECK(test_copy_plan(nodes[0].store, nodes[i].store, rplan) == 0);
    }
}

cairn_value_t str(const char *s)
{
    cairn_value_t v = {CAIRN_VALUE_STR, 0, s, strlen(s)};
    return v;
}

cairn_value_t num(int64_t i)
{
    cairn_value_t v = {CAIRN_VALUE_INT, i, NULL, 0};
    return v;
}

uint16_t field(uint16_t etype, const char *name)
{
    int f = cairn_field_by_name(etype, name);
    CHECK(f > 0);
    return (uint16_t)f;
}

void test_title(cairn_store_t *s, const uint8_t *plan, const char *title)
{
    cairn_batch_t *b;
    cairn_edit_t *e;
    cairn_value_t v = str(title);
    CHECK_OK(cairn_batch_begin(s, &b));
    CHECK_OK(cairn_edit_begin(b, plan, &e));
    CHECK_OK(
        cairn_edit_set(e, CAIRN_ET_PLAN, cairn_singleton_eid, field(CAIRN_ET_PLAN, "title"), &v));
    CHECK_OK(cairn_edit_commit(e, NULL));
    CHECK_OK(cairn_batch_commit(b));
}

void test_add_member(cairn_store_t *s, const uint8_t *plan, const uint8_t key[32],
                     uint8_t member[CAIRN_ENTITY_ID_BYTES])
{
    char hex[65];
    uint8_t eid[CAIRN_ENTITY_ID_BYTES];
    cairn_batch_t *b;
    cairn_edit_t *e;
    sodium_bin2hex(hex, sizeof hex, key, 32);
    cairn_value_t v = str(hex);
    CHECK_OK(cairn_batch_begin(s, &b));
    CHECK_OK(cairn_edit_begin(b, plan, &e));
    CHECK_OK(cairn_edit_add(e, CAIRN_ET_MEMBER, eid));
    CHECK_OK(cairn_edit_set(e, CAIRN_ET_MEMBER, eid, field(CAIRN_ET_MEMBER, "person_key"), &v));
    CHECK_OK(cairn_edit_commit(e, NULL));
    CHECK_OK(cairn_batch_commit(b));
    if (member != NULL)
        memcpy(member, eid, CAIRN_ENTITY_ID_BYTES);
}

void test_wait_ok(int pid, const char *what)
{
    int status;
    CHECK(waitpid(pid, &status, 0) == pid);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "%s: status %d\n", what, status);
        CHECK(0);
    }
}

cairn_change_t *test_signed_title(const uint8_t *sk, const uint8_t *plan, uint64_t seq,
                                  const cairn_change_t *prev, uint64_t ms, const char *t)
{
    cairn_op_t op = {CAIRN_OP_SET, CAIRN_ET_PLAN, {0}, field(CAIRN_ET_PLAN, "title"),
                     str(t),       NULL,          0};
    cairn_change_draft_t d = {plan, seq, prev ? prev->id : NULL, NULL, 0, CAIRN_HLC_MAKE(ms, 0),
                              &op,  1};
    cairn_change_t *c;
    CHECK_OK(cairn_change_create(&d, sk, &c));
    return c;
}

void test_give(cairn_store_t *s, const cairn_change_t *c)
{
    const uint8_t *b = c->bytes;
    size_t len = c->len;
    cairn_ingest_result_t r;
    CHECK_OK(cairn_ingest(s, &b, &len, 1, &r, NULL));
    CHECK(r.verdict == CAIRN_APPLIED);
}
