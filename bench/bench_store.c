/*
 * bench_store.c - what sealing costs: the store's write, commit and read paths
 * beside raw LMDB and raw XChaCha20-Poly1305, measured in the same run.
 *
 * The one idea: both sides run one workload (16-byte random keys, 256-byte
 * random values) through one small interface, and their runs are interleaved
 * raw, sealed, raw, sealed... so that drift (page cache, writeback, CPU clock)
 * lands on both alike. Each cell is the median of the runs, min-max beside it.
 * Commit latency means nothing on tmpfs, where fsync is free: the default
 * directory is ./bench-tmp, not /tmp, and the filesystem type is printed.
 *
 * Environment: CAIRN_BENCH_N, CAIRN_BENCH_BATCH, CAIRN_BENCH_COMMITS,
 * CAIRN_BENCH_RUNS, CAIRN_BENCH_DIR.
 */
#include <errno.h>
#include <limits.h>
#include <lmdb.h>
#include <sodium.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bench_util.h"

#define KEY_BYTES 16
#define VAL_BYTES 256
#define VAL_POOL 1024                /* distinct values, cycled: 256 KiB stays in cache */
#define MAP_SIZE ((size_t)1 << 30)   /* both sides get the same map */
#define AD_BYTES (1 + 8 + KEY_BYTES) /* about what the store binds to a record value */
#define MAX_RUNS 99
#define READ_SEED 0x9e3779b97f4a7c15u /* raw and sealed read the same key sequence */

typedef struct config {
    size_t n;       /* records written by the batched-put phase */
    size_t batch;   /* puts (and gets) per transaction */
    size_t commits; /* single-put transactions, each timed */
    size_t runs;    /* repetitions of every measurement */
    const char *dir;
    const char *fs; /* type of dir's filesystem */
} config_t;

typedef struct workload {
    uint8_t *keys; /* n + commits random keys of KEY_BYTES */
    uint8_t *vals; /* VAL_POOL random values of VAL_BYTES */
    double *lat;   /* commits latencies of the current run, µs */
} workload_t;

/* What one run of one side yields. */
enum { M_PUT, M_P50, M_P99, M_READ, M__COUNT };

/* A key-value store as the benchmark drives it. Errors end the program (bench_die). */
typedef struct backend {
    const char *name;
    void *(*open)(const char *dir); /* dir exists and is empty */
    void (*close)(void *h);
    /* Put keys [from, to) with their values in one transaction and commit it. */
    void (*write)(void *h, const struct workload *w, size_t from, size_t to);
    /* Get count random keys of the first n, in one read transaction. */
    void (*read)(void *h, const struct workload *w, uint64_t *rng, size_t count, size_t n);
} backend_t;

static void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n, size);
    if (p == NULL)
        bench_die("calloc", strerror(errno));
    return p;
}

static void mdb_check(int rc, const char *what)
{
    if (rc != MDB_SUCCESS)
        bench_die(what, mdb_strerror(rc));
}

static double per_second(size_t ops, double seconds)
{
    return seconds > 0 ? (double)ops / seconds : 0.0;
}

/* splitmix64: cheap, and the same seed gives both sides the same reads. */
static uint64_t next_rand(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

static const uint8_t *key_at(const workload_t *w, size_t i)
{
    return w->keys + i * KEY_BYTES;
}

static const uint8_t *val_at(const workload_t *w, size_t i)
{
    return w->vals + (i % VAL_POOL) * VAL_BYTES;
}

static const uint8_t *random_key(const workload_t *w, uint64_t *rng, size_t n)
{
    return key_at(w, (size_t)(next_rand(rng) % n));
}

/* ---- raw LMDB ----------------------------------------------------------- */

typedef struct raw_db {
    MDB_env *env;
    MDB_dbi dbi;
    uint8_t out[VAL_BYTES];
} raw_db_t;

/* LMDB's MDB_val is not const-correct; it never writes through a key. */
static MDB_val raw_val(const uint8_t *p, size_t len)
{
    MDB_val v = {len, (void *)(uintptr_t)p};
    return v;
}

static void *raw_open(const char *dir)
{
    raw_db_t *db = xcalloc(1, sizeof *db);
    MDB_txn *txn;
    mdb_check(mdb_env_create(&db->env), "mdb_env_create");
    mdb_check(mdb_env_set_mapsize(db->env, MAP_SIZE), "mdb_env_set_mapsize");
    mdb_check(mdb_env_open(db->env, dir, 0, 0600), "mdb_env_open"); /* default: durable */
    mdb_check(mdb_txn_begin(db->env, NULL, 0, &txn), "mdb_txn_begin");
    mdb_check(mdb_dbi_open(txn, NULL, 0, &db->dbi), "mdb_dbi_open");
    mdb_check(mdb_txn_commit(txn), "mdb_txn_commit");
    return db;
}

static void raw_close(void *h)
{
    raw_db_t *db = h;
    mdb_env_close(db->env);
    free(db);
}

static void raw_write(void *h, const workload_t *w, size_t from, size_t to)
{
    raw_db_t *db = h;
    MDB_txn *txn;
    mdb_check(mdb_txn_begin(db->env, NULL, 0, &txn), "mdb_txn_begin");
    for (size_t i = from; i < to; i++) {
        MDB_val k = raw_val(key_at(w, i), KEY_BYTES), v = raw_val(val_at(w, i), VAL_BYTES);
        mdb_check(mdb_put(txn, db->dbi, &k, &v, 0), "mdb_put");
    }
    mdb_check(mdb_txn_commit(txn), "mdb_txn_commit");
}

/* Copy each value out, as a caller keeping it past the transaction would. */
static void raw_read(void *h, const workload_t *w, uint64_t *rng, size_t count, size_t n)
{
    raw_db_t *db = h;
    MDB_txn *txn;
    mdb_check(mdb_txn_begin(db->env, NULL, MDB_RDONLY, &txn), "mdb_txn_begin");
    for (size_t i = 0; i < count; i++) {
        MDB_val k = raw_val(random_key(w, rng, n), KEY_BYTES), v;
        mdb_check(mdb_get(txn, db->dbi, &k, &v), "mdb_get");
        if (v.mv_size != VAL_BYTES)
            bench_die("mdb_get", "value of the wrong size");
        memcpy(db->out, v.mv_data, VAL_BYTES);
    }
    mdb_txn_abort(txn);
}

static const backend_t raw_backend = {"raw", raw_open, raw_close, raw_write, raw_read};

/* ---- sealed: the public cairn API -------------------------------------- */

typedef struct sealed_db {
    cairn_store_t *store;
    cairn_buf_t out;
} sealed_db_t;

/* A key file rather than a passphrase: no Argon2 in the timings or the RSS. */
static void *sealed_open(const char *dir)
{
    sealed_db_t *db = xcalloc(1, sizeof *db);
    char key_path[PATH_MAX], store_path[PATH_MAX];
    if (snprintf(key_path, PATH_MAX, "%s/key", dir) >= PATH_MAX ||
        snprintf(store_path, PATH_MAX, "%s/store", dir) >= PATH_MAX)
        bench_die(dir, "path too long");
    bench_check(cairn_key_file_create(key_path), "cairn_key_file_create");
    cairn_unlock_t unlock = {.kind = CAIRN_UNLOCK_KEY_FILE, .key_file = key_path};
    cairn_init_opts_t opts = {.kdf_cost = CAIRN_KDF_INTERACTIVE, .map_size = MAP_SIZE};
    bench_check(cairn_store_init(store_path, &unlock, &opts), "cairn_store_init");
    bench_check(cairn_store_open(store_path, &unlock, &db->store), "cairn_store_open");
    return db;
}

static void sealed_close(void *h)
{
    sealed_db_t *db = h;
    cairn_buf_free(&db->out);
    cairn_store_close(db->store);
    free(db);
}

static void sealed_write(void *h, const workload_t *w, size_t from, size_t to)
{
    sealed_db_t *db = h;
    cairn_txn_t *txn;
    bench_check(cairn_txn_begin(db->store, 1, &txn), "cairn_txn_begin");
    for (size_t i = from; i < to; i++)
        bench_check(cairn_record_put(txn, key_at(w, i), KEY_BYTES, val_at(w, i), VAL_BYTES),
                    "cairn_record_put");
    bench_check(cairn_txn_commit(txn), "cairn_txn_commit");
}

static void sealed_read(void *h, const workload_t *w, uint64_t *rng, size_t count, size_t n)
{
    sealed_db_t *db = h;
    cairn_txn_t *txn;
    bench_check(cairn_txn_begin(db->store, 0, &txn), "cairn_txn_begin");
    for (size_t i = 0; i < count; i++) {
        bench_check(cairn_record_get(txn, random_key(w, rng, n), KEY_BYTES, &db->out),
                    "cairn_record_get");
        if (db->out.len != VAL_BYTES)
            bench_die("cairn_record_get", "value of the wrong size");
    }
    cairn_txn_abort(txn);
}

static const backend_t sealed_backend = {"sealed", sealed_open, sealed_close, sealed_write,
                                         sealed_read};

/* ---- measurements ------------------------------------------------------- */

/* Bare AEAD over the store's value size, with a counter nonce as the store uses. */
static double time_aead(const config_t *c, const workload_t *w)
{
    uint8_t key[crypto_aead_xchacha20poly1305_ietf_KEYBYTES];
    uint8_t nonce[crypto_aead_xchacha20poly1305_ietf_NPUBBYTES] = {0};
    uint8_t ad[AD_BYTES], ct[VAL_BYTES + crypto_aead_xchacha20poly1305_ietf_ABYTES];
    crypto_aead_xchacha20poly1305_ietf_keygen(key);
    randombytes_buf(ad, sizeof ad);
    double t0 = bench_now();
    for (size_t i = 0; i < c->n; i++) {
        sodium_increment(nonce, sizeof nonce);
        crypto_aead_xchacha20poly1305_ietf_encrypt(ct, NULL, val_at(w, i), VAL_BYTES, ad, sizeof ad,
                                                   NULL, nonce, key);
    }
    return per_second(c->n, bench_now() - t0);
}

/* Nearest-rank percentile of sorted v; the rounding forgives 0.99 * 300 = 296.99... */
static double percentile(const double *v, size_t n, double p)
{
    size_t rank = (size_t)(p * (double)n + 0.999999);
    return v[rank ? rank - 1 : 0];
}

/* What a caller waits for one durable write: begin, one put, commit. */
static void time_single_commits(const backend_t *b, void *h, const config_t *c, const workload_t *w,
                                double *out)
{
    for (size_t j = 0; j < c->commits; j++) {
        double t0 = bench_now();
        b->write(h, w, c->n + j, c->n + j + 1);
        w->lat[j] = (bench_now() - t0) * 1e6;
    }
    bench_sort(w->lat, c->commits);
    out[M_P50] = percentile(w->lat, c->commits, 0.50);
    out[M_P99] = percentile(w->lat, c->commits, 0.99);
}

/*
 * One run of one side in a fresh directory, removed afterwards: load n records
 * in batches, read n at random, then time single commits. out[M__COUNT].
 */
static void run_once(const backend_t *b, const config_t *c, const workload_t *w, double *out)
{
    char dir[PATH_MAX];
    bench_scratch(dir, sizeof dir, b->name); /* under c->dir */
    void *h = b->open(dir);
    double t0 = bench_now();
    for (size_t i = 0; i < c->n; i += c->batch)
        b->write(h, w, i, c->n - i < c->batch ? c->n : i + c->batch);
    out[M_PUT] = per_second(c->n, bench_now() - t0);

    uint64_t rng = READ_SEED; /* the same keys, in the same order, for both sides */
    t0 = bench_now();
    for (size_t i = 0; i < c->n; i += c->batch)
        b->read(h, w, &rng, c->n - i < c->batch ? c->n - i : c->batch, c->n);
    out[M_READ] = per_second(c->n, bench_now() - t0);

    time_single_commits(b, h, c, w, out);
    b->close(h);
    bench_rmtree(dir);
}

/* ---- setup and report --------------------------------------------------- */

/* 1234567 -> "1.23M": rates span too many magnitudes for plain digits. */
static const char *fmt_si(char out[16], double v)
{
    if (v >= 1e6)
        snprintf(out, 16, "%.2fM", v / 1e6);
    else if (v >= 1e3)
        snprintf(out, 16, "%.1fk", v / 1e3);
    else
        snprintf(out, 16, "%.1f", v);
    return out;
}

static const char *fmt_cell(char out[64], bench_stat_t s)
{
    char med[16], lo[16], hi[16];
    snprintf(out, 64, "%s (%s–%s)", fmt_si(med, s.median), fmt_si(lo, s.min), fmt_si(hi, s.max));
    return out;
}

static void print_row(const char *label, bench_stat_t raw, bench_stat_t sealed)
{
    char a[64], b[64];
    printf("| %s | %s | %s | %.2f |\n", label, fmt_cell(a, raw), fmt_cell(b, sealed),
           raw.median > 0 ? sealed.median / raw.median : 0.0);
}

static void report(const config_t *c, double *aead, double res[2][M__COUNT][MAX_RUNS])
{
    bench_stat_t s[2][M__COUNT], crypto = bench_stat(aead, c->runs);
    for (int side = 0; side < 2; side++)
        for (int m = 0; m < M__COUNT; m++)
            s[side][m] = bench_stat(res[side][m], c->runs);
    char cell[64];
    printf("| measure | raw | sealed | sealed/raw |\n|---|---|---|---|\n");
    printf("| AEAD seal 256 B (ops/s) | %s | — | — |\n", fmt_cell(cell, crypto));
    print_row("batched put (puts/s)", s[0][M_PUT], s[1][M_PUT]);
    print_row("durable commit p50 (µs)", s[0][M_P50], s[1][M_P50]);
    print_row("durable commit p99 (µs)", s[0][M_P99], s[1][M_P99]);
    print_row("random read (reads/s)", s[0][M_READ], s[1][M_READ]);

    printf("\nN=%zu, batch=%zu, commits=%zu, runs=%zu (median, min–max), dir=%s on %s, "
           "peak RSS %.1f MiB\n",
           c->n, c->batch, c->commits, c->runs, c->dir, c->fs, bench_peak_rss_mib());
    /* Where a sealed put's extra time goes, from the medians above. */
    double raw_us = 1e6 / s[0][M_PUT].median, sealed_us = 1e6 / s[1][M_PUT].median;
    printf("per put: raw %.2f µs, sealed %.2f µs (+%.2f), of which AEAD alone %.2f µs\n", raw_us,
           sealed_us, sealed_us - raw_us, 1e6 / crypto.median);
    double put_ratio = s[1][M_PUT].median / s[0][M_PUT].median;
    double p99_ratio = s[1][M_P99].median / s[0][M_P99].median;
    printf("targets: sealed batched put >= 60%% of raw: %s (%.0f%%); "
           "sealed commit p99 <= 1.5x raw: %s (%.2fx)\n",
           put_ratio >= 0.60 ? "met" : "NOT met", put_ratio * 100,
           p99_ratio <= 1.5 ? "met" : "NOT met", p99_ratio);
}

static void workload_make(const config_t *c, workload_t *w)
{
    w->keys = xcalloc(c->n + c->commits, KEY_BYTES);
    w->vals = xcalloc(VAL_POOL, VAL_BYTES);
    w->lat = xcalloc(c->commits, sizeof *w->lat);
    randombytes_buf(w->keys, (c->n + c->commits) * KEY_BYTES);
    randombytes_buf(w->vals, (size_t)VAL_POOL * VAL_BYTES);
}

int main(void)
{
    config_t c = {
        .n = bench_env("CAIRN_BENCH_N", 200000, 100000000),
        .batch = bench_env("CAIRN_BENCH_BATCH", 1000, 1000000),
        .commits = bench_env("CAIRN_BENCH_COMMITS", 300, 1000000),
        .runs = bench_env("CAIRN_BENCH_RUNS", 5, MAX_RUNS),
        .dir = bench_dir(),
    };
    if (sodium_init() < 0)
        bench_die("sodium_init", "libsodium could not initialise");
    /* Create the directory if need be; remove it at the end only if we did. */
    int made_dir = mkdir(c.dir, 0700) == 0;
    if (!made_dir && errno != EEXIST)
        bench_die(c.dir, strerror(errno));
    c.fs = bench_fs(c.dir);
    if (strcmp(c.fs, "tmpfs") == 0 || strcmp(c.fs, "ramfs") == 0)
        fprintf(stderr, "bench_store: %s is %s: fsync is free, commit latencies mean little\n",
                c.dir, c.fs);

    workload_t w;
    workload_make(&c, &w);
    static double res[2][M__COUNT][MAX_RUNS];
    double aead[MAX_RUNS], one[M__COUNT];
    for (size_t r = 0; r < c.runs; r++) {
        aead[r] = time_aead(&c, &w);
        for (int side = 0; side < 2; side++) { /* raw, then sealed: interleaved */
            run_once(side ? &sealed_backend : &raw_backend, &c, &w, one);
            for (int m = 0; m < M__COUNT; m++)
                res[side][m][r] = one[m];
        }
        fprintf(stderr, "run %zu/%zu done\n", r + 1, c.runs);
    }
    report(&c, aead, res);
    if (made_dir)
        rmdir(c.dir);
    free(w.keys);
    free(w.vals);
    free(w.lat);
    return 0;
}
