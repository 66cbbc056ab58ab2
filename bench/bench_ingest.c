/*
 * bench_ingest.c - the change log's three speeds: writing signed changes
 * locally, ingesting a peer's changes into an empty store, and reading a
 * plan's merged state, beside the primitives they are made of (Ed25519 sign
 * and verify, BLAKE2b, raw LMDB puts) measured in the same run.
 *
 * (a) node A writes PLANS x PER_PLAN single-operation changes, each signed
 *     and stored, committed in batches of BATCH changes;
 * (b) node B, empty but on the same roster, ingests all of them, BATCH per
 *     call, in the order A's log lists them;
 * (c) A reads the merged state of a plan of READ_CHANGES changes.
 * Every run uses fresh stores; the median of RUNS runs is printed with its
 * min-max spread.
 *
 * Environment: CAIRN_BENCH_PLANS (1000), CAIRN_BENCH_PER_PLAN (100),
 * CAIRN_BENCH_BATCH (1000), CAIRN_BENCH_RUNS (5), CAIRN_BENCH_DIR.
 */
#include <lmdb.h>
#include <sodium.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"
#include "cairn/cairn.h"

#define READ_CHANGES 1000
#define READS 200
#define MAX_RUNS 64

typedef struct config {
    size_t plans, per_plan, batch, runs;
} config_t;

enum { R_SIGN, R_VERIFY, R_HASH, R_LMDB, R_WRITE, R_SPREAD, R_INGEST, R_READ_US, R__COUNT };

static const char *const row_names[R__COUNT] = {
    "Ed25519 sign (ops/s)",
    "Ed25519 verify (ops/s)",
    "BLAKE2b-256 of 200 B (ops/s)",
    "raw LMDB put, batched (puts/s)",
    "(a) local write, signed + durable (changes/s)",
    "(a') same, each batch spread over all plans (changes/s)",
    "(b) ingest from a peer, durable (changes/s)",
    "(c) read merged state, 1,000-change plan (µs)",
};

/* ---- primitives ------------------------------------------------------------ */

static double rate_sign(void)
{
    uint8_t pk[32], sk[64], msg[200], sig[64];
    crypto_sign_keypair(pk, sk);
    randombytes_buf(msg, sizeof msg);
    size_t n = 20000;
    double t = bench_now();
    for (size_t i = 0; i < n; i++) {
        msg[0] = (uint8_t)i;
        crypto_sign_detached(sig, NULL, msg, sizeof msg, sk);
    }
    return (double)n / (bench_now() - t);
}

static double rate_verify(void)
{
    uint8_t pk[32], sk[64], msg[200], sig[64];
    crypto_sign_keypair(pk, sk);
    randombytes_buf(msg, sizeof msg);
    crypto_sign_detached(sig, NULL, msg, sizeof msg, sk);
    size_t n = 10000, ok = 0;
    double t = bench_now();
    for (size_t i = 0; i < n; i++)
        ok += crypto_sign_verify_detached(sig, msg, sizeof msg, pk) == 0;
    t = bench_now() - t;
    if (ok != n)
        bench_die("verify baseline", "a valid signature failed");
    return (double)n / t;
}

static double rate_hash(void)
{
    uint8_t msg[200], out[32];
    randombytes_buf(msg, sizeof msg);
    size_t n = 500000;
    double t = bench_now();
    for (size_t i = 0; i < n; i++) {
        msg[0] = out[0];
        crypto_generichash(out, 32, msg, sizeof msg, NULL, 0);
    }
    return (double)n / (bench_now() - t);
}

static void mdb_check(int rc, const char *what)
{
    if (rc != MDB_SUCCESS)
        bench_die(what, mdb_strerror(rc));
}

/* Raw LMDB, durable commits: n puts of 256 B under 32-byte keys, batch per txn. */
static double rate_lmdb(size_t n, size_t batch)
{
    char dir[512];
    bench_scratch(dir, sizeof dir, "lmdb");
    MDB_env *env;
    MDB_dbi dbi;
    MDB_txn *txn;
    uint8_t key[32], val[256];
    randombytes_buf(val, sizeof val);
    mdb_check(mdb_env_create(&env), "mdb_env_create");
    mdb_check(mdb_env_set_mapsize(env, (size_t)4 << 30), "mdb_env_set_mapsize");
    mdb_check(mdb_env_open(env, dir, 0, 0600), "mdb_env_open");
    double t = bench_now();
    for (size_t i = 0; i < n; i += batch) {
        mdb_check(mdb_txn_begin(env, NULL, 0, &txn), "mdb_txn_begin");
        if (i == 0)
            mdb_check(mdb_dbi_open(txn, NULL, 0, &dbi), "mdb_dbi_open");
        for (size_t k = i; k < i + batch && k < n; k++) {
            crypto_generichash(key, sizeof key, (const uint8_t *)&k, sizeof k, NULL, 0);
            MDB_val mk = {sizeof key, key}, mv = {sizeof val, val};
            mdb_check(mdb_put(txn, dbi, &mk, &mv, 0), "mdb_put");
        }
        mdb_check(mdb_txn_commit(txn), "mdb_txn_commit");
    }
    t = bench_now() - t;
    mdb_env_close(env);
    bench_rmtree(dir);
    return (double)n / t;
}

/* ---- nodes ------------------------------------------------------------------ */

/* B joins A's organisation and receives its roster. */
static void join(bench_node_t *a, bench_node_t *b)
{
    uint8_t org[32], rplan[CAIRN_PLAN_ID_BYTES];
    bench_check(cairn_org_key(a->store, org), "org key");
    bench_check(cairn_org_join(b->store, org), "org join");
    cairn_roster_plan_id(org, rplan);
    bench_changes_t cs = {0};
    bench_check(cairn_plan_changes(a->store, rplan, bench_collect, &cs), "roster export");
    bench_ingest_all(b->store, &cs, 0, cs.n);
    bench_changes_free(&cs);
}

/* ---- workloads ------------------------------------------------------------- */

static const char *const statuses[] = {"draft", "active", "on-hold", "completed"};

/* The i-th single-operation edit of a plan: a mix of registers and adds. */
static void one_op(cairn_edit_t *e, size_t i)
{
    uint8_t eid[CAIRN_ENTITY_ID_BYTES];
    char title[48];
    cairn_value_t v;
    switch (i % 4) {
    case 0:
        snprintf(title, sizeof title, "Care plan rev %zu", i);
        v = (cairn_value_t){CAIRN_VALUE_STR, 0, title, strlen(title)};
        bench_check(cairn_edit_set(e, CAIRN_ET_PLAN, cairn_singleton_eid,
                                   (uint16_t)cairn_field_by_name(CAIRN_ET_PLAN, "title"), &v),
                    "edit set");
        break;
    case 1:
        v = (cairn_value_t){CAIRN_VALUE_STR, 0, statuses[i % 3], strlen(statuses[i % 3])};
        bench_check(cairn_edit_set(e, CAIRN_ET_PLAN, cairn_singleton_eid,
                                   (uint16_t)cairn_field_by_name(CAIRN_ET_PLAN, "status"), &v),
                    "edit set");
        break;
    case 2:
        bench_check(cairn_edit_add(e, CAIRN_ET_NEED, eid), "edit add");
        break;
    default:
        bench_check(cairn_edit_add(e, CAIRN_ET_SAFETY_ITEM, eid), "edit add");
        break;
    }
}

/*
 * (a): returns changes/s. Plans are written in groups of batch / per_plan
 * (10 by default), round robin within a group, one batch per group: each
 * batch holds every change of its plans, as when a day's edits are saved.
 * With spread, every batch holds one change of every plan instead: the
 * worst case for LMDB, whose commit then rewrites a page per plan.
 */
static double local_write(bench_node_t *a, const config_t *cfg,
                          uint8_t (*plans)[CAIRN_PLAN_ID_BYTES], int spread)
{
    size_t group = spread ? cfg->plans : cfg->batch / cfg->per_plan;
    if (group == 0)
        group = 1;
    cairn_batch_t *b = NULL;
    size_t in_batch = 0;
    double t = bench_now();
    for (size_t g = 0; g < cfg->plans; g += group) {
        size_t end = g + group < cfg->plans ? g + group : cfg->plans;
        for (size_t i = 0; i < cfg->per_plan; i++) {
            for (size_t p = g; p < end; p++) {
                cairn_edit_t *e;
                if (b == NULL)
                    bench_check(cairn_batch_begin(a->store, &b), "batch begin");
                bench_check(cairn_edit_begin(b, plans[p], &e), "edit begin");
                one_op(e, i);
                bench_check(cairn_edit_commit(e, NULL), "edit commit");
                if (++in_batch == cfg->batch) {
                    bench_check(cairn_batch_commit(b), "batch commit");
                    b = NULL;
                    in_batch = 0;
                }
            }
        }
    }
    if (b != NULL)
        bench_check(cairn_batch_commit(b), "batch commit");
    return (double)(cfg->plans * cfg->per_plan) / (bench_now() - t);
}

/* (c): median µs to read and decode the merged state of a plan. */
static double read_state(bench_node_t *a)
{
    uint8_t plan[CAIRN_PLAN_ID_BYTES];
    cairn_plan_id_new(plan);
    cairn_batch_t *b;
    bench_check(cairn_batch_begin(a->store, &b), "batch begin");
    for (size_t i = 0; i < READ_CHANGES; i++) {
        cairn_edit_t *e;
        bench_check(cairn_edit_begin(b, plan, &e), "edit begin");
        one_op(e, i);
        bench_check(cairn_edit_commit(e, NULL), "edit commit");
    }
    bench_check(cairn_batch_commit(b), "batch commit");
    double us[READS];
    for (size_t r = 0; r < READS; r++) {
        cairn_plan_state_t *st;
        double t = bench_now();
        bench_check(cairn_plan_read(a->store, plan, &st), "plan read");
        us[r] = (bench_now() - t) * 1e6;
        if (cairn_plan_state_changes(st) != READ_CHANGES)
            bench_die("plan read", "wrong number of changes");
        cairn_plan_state_free(st);
    }
    return bench_stat(us, READS).median;
}

static void one_run(const config_t *cfg, double *row)
{
    bench_node_t a, b;
    row[R_SIGN] = rate_sign();
    row[R_VERIFY] = rate_verify();
    row[R_HASH] = rate_hash();
    row[R_LMDB] = rate_lmdb(cfg->plans * cfg->per_plan, cfg->batch);

    bench_node_create(&a, "node-a");
    bench_org_create(&a, "bench-a");
    uint8_t(*plans)[CAIRN_PLAN_ID_BYTES] = bench_plan_ids(cfg->plans);
    row[R_WRITE] = local_write(&a, cfg, plans, 0);

    bench_changes_t cs = {0};
    for (size_t p = 0; p < cfg->plans; p++)
        bench_check(cairn_plan_changes(a.store, plans[p], bench_collect, &cs), "export");
    bench_node_create(&b, "node-b");
    join(&a, &b);
    row[R_INGEST] = bench_ingest_all(b.store, &cs, 0, cfg->batch);
    row[R_READ_US] = read_state(&a);

    bench_changes_free(&cs);
    bench_node_destroy(&b);
    bench_node_destroy(&a);

    /* (a') on a fresh node, so both write runs start from an empty store. */
    bench_node_create(&a, "node-a2");
    bench_org_create(&a, "bench-a");
    row[R_SPREAD] = local_write(&a, cfg, plans, 1);
    bench_node_destroy(&a);
    free(plans);
}

int main(void)
{
    if (sodium_init() < 0)
        bench_die("libsodium", "cannot initialise");
    config_t cfg = {bench_env("CAIRN_BENCH_PLANS", 1000, 10000000),
                    bench_env("CAIRN_BENCH_PER_PLAN", 100, 1000000),
                    bench_env("CAIRN_BENCH_BATCH", 1000, 1000000),
                    bench_env("CAIRN_BENCH_RUNS", 5, MAX_RUNS)};
    double *v = calloc(cfg.runs * R__COUNT, sizeof *v);
    if (v == NULL)
        bench_die("runs", "out of memory");
    char scratch[512];
    bench_scratch(scratch, sizeof scratch, "probe");
    const char *fs = bench_fs(scratch);
    bench_rmtree(scratch);
    for (size_t r = 0; r < cfg.runs; r++) {
        one_run(&cfg, v + r * R__COUNT);
        fprintf(stderr, "run %zu/%zu done\n", r + 1, cfg.runs);
    }
    printf("| measure | median | min–max |\n|---|---|---|\n");
    for (int m = 0; m < R__COUNT; m++) {
        double col[MAX_RUNS];
        for (size_t r = 0; r < cfg.runs; r++)
            col[r] = v[r * R__COUNT + m];
        bench_stat_t s = bench_stat(col, cfg.runs);
        char a[32], b[32], c[32];
        printf("| %s | %s | %s–%s |\n", row_names[m], bench_fmt(a, sizeof a, s.median),
               bench_fmt(b, sizeof b, s.min), bench_fmt(c, sizeof c, s.max));
    }
    printf("\n%zu plans x %zu changes = %zu changes, batch %zu, %zu runs, %s, peak RSS %.1f MiB\n",
           cfg.plans, cfg.per_plan, cfg.plans * cfg.per_plan, cfg.batch, cfg.runs, fs,
           bench_peak_rss_mib());
    free(v);
    return 0;
}
