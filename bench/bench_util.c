/*
 * bench_util.c - helpers shared by the benchmarks.
 */
#include "bench_util.h"

#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <time.h>

double bench_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

void bench_sort(double *v, size_t n)
{
    qsort(v, n, sizeof *v, cmp_double);
}

bench_stat_t bench_stat(double *v, size_t n)
{
    bench_stat_t s = {0, 0, 0};
    if (n == 0)
        return s;
    bench_sort(v, n);
    s.min = v[0];
    s.max = v[n - 1];
    s.median = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
    return s;
}

size_t bench_env(const char *name, size_t dflt, size_t max)
{
    const char *s = getenv(name);
    if (s == NULL || s[0] == '\0')
        return dflt;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || *end != '\0' || s[0] == '-' || v == 0 || v > max) {
        char why[96];
        snprintf(why, sizeof why, "'%s' is not an integer from 1 to %zu", s, max);
        bench_die(name, why);
    }
    return (size_t)v;
}

void bench_die(const char *what, const char *why)
{
    fprintf(stderr, "%s: %s: %s\n", program_invocation_short_name, what, why);
    exit(1);
}

void bench_check(cairn_err_t err, const char *what)
{
    if (err != CAIRN_OK)
        bench_die(what, cairn_strerror(err));
}

const char *bench_dir(void)
{
    const char *dir = getenv("CAIRN_BENCH_DIR");
    return dir == NULL || dir[0] == '\0' ? "./bench-tmp" : dir;
}

void bench_scratch(char *out, size_t n, const char *tag)
{
    const char *base = bench_dir();
    if (mkdir(base, 0700) != 0 && errno != EEXIST)
        bench_die(base, strerror(errno));
    if (snprintf(out, n, "%s/%s-XXXXXX", base, tag) >= (int)n)
        bench_die(base, "path too long");
    if (mkdtemp(out) == NULL)
        bench_die(out, strerror(errno));
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    if (remove(path) != 0)
        bench_die(path, strerror(errno));
    return 0;
}

/* A tree left behind would change the next run's disk: failing is an error. */
void bench_rmtree(const char *path)
{
    if (nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS) != 0)
        bench_die(path, "could not remove");
}

const char *bench_fs(const char *path)
{
    static const struct {
        unsigned long magic;
        const char *name;
    } known[] = {
        {0xEF53, "ext4"},      {0x58465342, "xfs"},   {0x9123683E, "btrfs"},
        {0x01021994, "tmpfs"}, {0x858458F6, "ramfs"}, {0x794C7630, "overlayfs"},
        {0x2FC12FC1, "zfs"},   {0xF2F52010, "f2fs"},  {0x6969, "nfs"},
    };
    struct statfs st;
    if (statfs(path, &st) != 0)
        return "unknown";
    unsigned long magic = (unsigned long)st.f_type & 0xFFFFFFFFu;
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (known[i].magic == magic)
            return known[i].name;
    return "unknown";
}

const char *bench_fmt(char *buf, size_t n, double v)
{
    if (v >= 1e6)
        snprintf(buf, n, "%.2fM", v / 1e6);
    else if (v >= 1e4)
        snprintf(buf, n, "%.1fk", v / 1e3);
    else
        snprintf(buf, n, "%.1f", v);
    return buf;
}

double bench_peak_rss_mib(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_maxrss / 1024.0;
}

void bench_node_create(bench_node_t *n, const char *tag)
{
    bench_scratch(n->root, sizeof n->root, tag);
    snprintf(n->key, sizeof n->key, "%s/key", n->root);
    snprintf(n->dir, sizeof n->dir, "%s/node", n->root);
    bench_check(cairn_key_file_create(n->key), "key file");
    cairn_unlock_t u = {CAIRN_UNLOCK_KEY_FILE, NULL, 0, n->key};
    cairn_init_opts_t opts = {CAIRN_KDF_INTERACTIVE, (size_t)16 << 30};
    bench_check(cairn_store_init(n->dir, &u, &opts), "store init");
    bench_check(cairn_store_open(n->dir, &u, &n->store), "store open");
    cairn_store_info_t info;
    bench_check(cairn_store_info(n->store, &info), "store info");
    memcpy(n->pk, info.public_key, 32);
}

void bench_node_destroy(bench_node_t *n)
{
    cairn_store_close(n->store);
    bench_rmtree(n->root);
}

void bench_org_create(bench_node_t *n, const char *name)
{
    bench_check(cairn_org_create(n->store, name), "org create");
    bench_check(cairn_roster_put(n->store, n->pk, name, BENCH_CLINICAL | CAIRN_ROLE_ADMIN, 0, 0),
                "roster put");
}

void *bench_plan_ids(size_t n)
{
    uint8_t(*plans)[CAIRN_PLAN_ID_BYTES] = malloc(n * CAIRN_PLAN_ID_BYTES);
    if (plans == NULL)
        bench_die("plans", "out of memory");
    for (size_t p = 0; p < n; p++)
        cairn_plan_id_new(plans[p]);
    return plans;
}

int bench_collect(void *ctx, const uint8_t *id, const uint8_t *bytes, size_t len)
{
    (void)id;
    bench_changes_t *cs = ctx;
    if (cs->n == cs->cap) {
        cs->cap = cs->cap ? 2 * cs->cap : 1024;
        cs->bytes = realloc(cs->bytes, cs->cap * sizeof *cs->bytes);
        cs->lens = realloc(cs->lens, cs->cap * sizeof *cs->lens);
        if (cs->bytes == NULL || cs->lens == NULL)
            bench_die("collect", "out of memory");
    }
    cs->bytes[cs->n] = malloc(len);
    if (cs->bytes[cs->n] == NULL)
        bench_die("collect", "out of memory");
    memcpy(cs->bytes[cs->n], bytes, len);
    cs->lens[cs->n++] = len;
    return 0;
}

void bench_changes_free(bench_changes_t *cs)
{
    for (size_t i = 0; i < cs->n; i++)
        free(cs->bytes[i]);
    free(cs->bytes);
    free(cs->lens);
    memset(cs, 0, sizeof *cs);
}

double bench_ingest_all(cairn_store_t *s, const bench_changes_t *cs, size_t from, size_t batch)
{
    size_t applied = 0;
    double t = bench_now();
    for (size_t i = from; i < cs->n; i += batch) {
        size_t k = cs->n - i < batch ? cs->n - i : batch;
        cairn_ingest_stats_t st;
        bench_check(
            cairn_ingest(s, (const uint8_t *const *)cs->bytes + i, cs->lens + i, k, NULL, &st),
            "ingest");
        applied += st.applied;
    }
    t = bench_now() - t;
    if (applied != cs->n - from)
        bench_die("ingest", "not every change was applied");
    return (double)(cs->n - from) / t;
}

void bench_admit(bench_node_t *admin, bench_node_t *b, const char *name)
{
    uint8_t key[32];
    bench_check(cairn_roster_put(admin->store, b->pk, name, BENCH_CLINICAL, 0, 0), "roster put");
    bench_check(cairn_org_key(admin->store, key), "org key");
    bench_check(cairn_org_join(b->store, key), "join");
}

void bench_set_title(cairn_edit_t *e, size_t i)
{
    char t[48];
    snprintf(t, sizeof t, "Care plan rev %zu", i);
    cairn_value_t v = {CAIRN_VALUE_STR, 0, t, strlen(t)};
    bench_check(cairn_edit_set(e, CAIRN_ET_PLAN, cairn_singleton_eid, CAIRN_F_PLAN_TITLE, &v),
                "edit set");
}

void bench_fill_titles(cairn_store_t *s, uint8_t (*plans)[CAIRN_PLAN_ID_BYTES], size_t nplans,
                       size_t per_plan)
{
    size_t group = BENCH_FILL_BATCH / per_plan ? BENCH_FILL_BATCH / per_plan : 1;
    for (size_t g = 0; g < nplans; g += group) {
        size_t end = g + group < nplans ? g + group : nplans;
        cairn_batch_t *b;
        bench_check(cairn_batch_begin(s, &b), "batch");
        for (size_t i = 0; i < per_plan; i++)
            for (size_t p = g; p < end; p++) {
                cairn_edit_t *e;
                bench_check(cairn_edit_begin(b, plans[p], &e), "edit begin");
                bench_set_title(e, i);
                bench_check(cairn_edit_commit(e, NULL), "edit commit");
            }
        bench_check(cairn_batch_commit(b), "batch commit");
    }
}
