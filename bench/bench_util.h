/*
 * bench_util.h - what the benchmarks share: a clock, statistics over runs,
 * scratch directories on the real disk, and compact number formatting.
 */
#ifndef CAIRN_BENCH_UTIL_H
#define CAIRN_BENCH_UTIL_H

#include <stddef.h>

#include "cairn/store.h"

/* Monotonic seconds. */
double bench_now(void);

/* Median, min and max of n samples (sorts v). */
typedef struct bench_stat {
    double median, min, max;
} bench_stat_t;
bench_stat_t bench_stat(double *v, size_t n);

/* A positive integer from the environment, or dflt. */
size_t bench_env(const char *name, size_t dflt);

/* A fresh directory under CAIRN_BENCH_DIR (default ./bench-tmp); path to out. */
void bench_scratch(char *out, size_t n, const char *tag);
void bench_rmtree(const char *path);

/* The filesystem type of path ("ext4", "tmpfs", ...). */
const char *bench_fs(const char *path);

/* "1.23M", "45.6k", "789" into buf. */
const char *bench_fmt(char *buf, size_t n, double v);

/* Peak resident set size of this process, MiB. */
double bench_peak_rss_mib(void);

/* A node in a fresh scratch directory, unlocked by a key file there. */
typedef struct bench_node {
    char root[512], dir[600], key[600];
    cairn_store_t *store;
    unsigned char pk[32];
} bench_node_t;

void bench_node_create(bench_node_t *n, const char *tag);
void bench_node_destroy(bench_node_t *n);

/* Exit with a message if err is not CAIRN_OK. */
void bench_check(int err, const char *what);

/* Print a message and exit 1. */
void bench_die(const char *what, const char *why);

#endif
