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
#include <unistd.h>

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

bench_stat_t bench_stat(double *v, size_t n)
{
    bench_stat_t s = {0, 0, 0};
    if (n == 0)
        return s;
    qsort(v, n, sizeof *v, cmp_double);
    s.min = v[0];
    s.max = v[n - 1];
    s.median = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
    return s;
}

size_t bench_env(const char *name, size_t dflt)
{
    const char *s = getenv(name);
    if (s == NULL || *s == '\0')
        return dflt;
    char *end;
    unsigned long v = strtoul(s, &end, 10);
    if (*end != '\0' || v == 0)
        bench_die(name, "must be a positive integer");
    return (size_t)v;
}

void bench_die(const char *what, const char *why)
{
    fprintf(stderr, "bench: %s: %s\n", what, why);
    exit(1);
}

void bench_scratch(char *out, size_t n, const char *tag)
{
    const char *base = getenv("CAIRN_BENCH_DIR");
    if (base == NULL || *base == '\0')
        base = "./bench-tmp";
    if (mkdir(base, 0700) != 0 && errno != EEXIST)
        bench_die(base, strerror(errno));
    snprintf(out, n, "%s/%s-XXXXXX", base, tag);
    if (mkdtemp(out) == NULL)
        bench_die(out, strerror(errno));
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

void bench_rmtree(const char *path)
{
    nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

const char *bench_fs(const char *path)
{
    struct statfs st;
    if (statfs(path, &st) != 0)
        return "unknown";
    switch ((unsigned long)st.f_type) {
    case 0xEF53UL:
        return "ext4";
    case 0x01021994UL:
        return "tmpfs";
    case 0x58465342UL:
        return "xfs";
    case 0x9123683EUL:
        return "btrfs";
    case 0x794c7630UL:
        return "overlayfs";
    default:
        return "other";
    }
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

void bench_check(int err, const char *what)
{
    if (err != CAIRN_OK)
        bench_die(what, cairn_strerror((cairn_err_t)err));
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
