/*
 * test.h - the in-house assertion helpers every test executable uses.
 *
 * A failed check prints file, line, the expression and (for cairn errors)
 * both codes' names, then exits non-zero so ctest marks the test failed.
 * Tests that use randomness print their seed first, so a failure can be
 * rerun with CAIRN_TEST_SEED=<seed>.
 */
#ifndef CAIRN_TEST_H
#define CAIRN_TEST_H

#include <cairn/cairn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);               \
            exit(1);                                                                               \
        }                                                                                          \
    } while (0)

#define CHECK_ERR(expr, want)                                                                      \
    do {                                                                                           \
        cairn_err_t got_ = (expr);                                                                 \
        cairn_err_t want_ = (want);                                                                \
        if (got_ != want_) {                                                                       \
            fprintf(stderr, "%s:%d: %s returned %s, expected %s\n", __FILE__, __LINE__, #expr,     \
                    cairn_err_name(got_), cairn_err_name(want_));                                  \
            exit(1);                                                                               \
        }                                                                                          \
    } while (0)

#define CHECK_OK(expr) CHECK_ERR(expr, CAIRN_OK)

#define RUN(fn)                                                                                    \
    do {                                                                                           \
        fprintf(stderr, "-- %s\n", #fn);                                                           \
        fn();                                                                                      \
    } while (0)

/* Make a fresh empty directory under $TMPDIR (or /tmp); writes its path to out. */
void test_tmpdir(char *out, size_t n, const char *tag);

/* Remove a directory tree made by test_tmpdir. */
void test_rmtree(const char *path);

/* The seed for this run: CAIRN_TEST_SEED if set, else from the clock. Printed. */
unsigned long long test_seed(void);

/* A key file in dir named "key"; writes its path to out. */
void test_key_file(char *out, size_t n, const char *dir);

/* Values and field numbers, for edits and hand-made changes. */
cairn_value_t str(const char *s);
cairn_value_t num(int64_t i);
uint16_t field(uint16_t etype, const char *name); /* fails the test if unknown */

/* One edit in its own batch setting plan's title (signed in the background). */
void test_title(cairn_store_t *s, const uint8_t *plan, const char *title);

/*
 * One edit in its own batch putting node key on plan's care team (a member
 * whose person_key is key); its entity id goes to member (may be NULL).
 */
void test_add_member(cairn_store_t *s, const uint8_t *plan, const uint8_t key[32],
                     uint8_t member[CAIRN_ENTITY_ID_BYTES]);

/*
 * A change setting plan's title to t, signed with sk (Ed25519, 64 bytes) as
 * the author's change seq after prev (NULL for seq 1), at ms; free it with
 * cairn_change_free.
 */
cairn_change_t *test_signed_title(const uint8_t *sk, const uint8_t *plan, uint64_t seq,
                                  const cairn_change_t *prev, uint64_t ms, const char *t);

/* Ingest c into s alone; fail the test unless it is applied. */
void test_give(cairn_store_t *s, const cairn_change_t *c);

/* Wait for child pid and fail the test unless it exited with status 0. */
void test_wait_ok(int pid, const char *what);

/* A node in a fresh temporary directory, unlocked by a key file there. */
typedef struct test_node {
    char root[512], dir[600], key[600];
    cairn_store_t *store;
    uint8_t pk[32];
} test_node_t;

void test_node_create(test_node_t *n, const char *tag);
void test_node_open(test_node_t *n);
void test_node_close(test_node_t *n);
void test_node_destroy(test_node_t *n);

/* Ingest every change of plan held by from into to, one by one; returns rejections. */
size_t test_copy_plan(cairn_store_t *from, cairn_store_t *to, const uint8_t *plan);

/*
 * nodes[0] creates an organisation and puts every node on its roster with
 * roles; the others join and receive the roster.
 */
void test_org(test_node_t *nodes, size_t n, unsigned roles);

#endif
