/*
 * bench_util.h - what the benchmarks share: a clock, statistics over runs,
 * scratch directories on the real disk, number formatting, and nodes of one
 * organisation with the changes they hold. Every failure ends the program:
 * a benchmark that carried on past one would report a number for nothing.
 */
#ifndef CAIRN_BENCH_UTIL_H
#define CAIRN_BENCH_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "cairn/cairn.h"

/* The roles a clinician holds: enough to write every part of a plan. */
#define BENCH_CLINICAL (CAIRN_ROLE_CARE_MANAGER | CAIRN_ROLE_PRESCRIBER | CAIRN_ROLE_BH_SPECIALIST)

/* Monotonic seconds. */
double bench_now(void);

/* Sort n samples ascending. */
void bench_sort(double *v, size_t n);

/* Median, min and max of n samples (sorts v). */
typedef struct bench_stat {
    double median, min, max;
} bench_stat_t;
bench_stat_t bench_stat(double *v, size_t n);

/* An integer from 1 to max from the environment, or dflt if unset. */
size_t bench_env(const char *name, size_t dflt, size_t max);

/* CAIRN_BENCH_DIR, or ./bench-tmp: on the real disk, where fsync costs what it costs. */
const char *bench_dir(void);

/* A fresh directory named tag-XXXXXX under bench_dir(), created if need be; path to out. */
void bench_scratch(char *out, size_t n, const char *tag);
void bench_rmtree(const char *path);

/* The filesystem type of path ("ext4", "tmpfs", ...; "unknown"). */
const char *bench_fs(const char *path);

/* "1.23M", "45.6k", "789" into buf. */
const char *bench_fmt(char *buf, size_t n, double v);

/* Peak resident set size of this process, MiB. */
double bench_peak_rss_mib(void);

/* Exit with a message if err is not CAIRN_OK. */
void bench_check(cairn_err_t err, const char *what);

/* Print "program: what: why" and exit 1. */
void bench_die(const char *what, const char *why);

/* A node in a fresh scratch directory, unlocked by a key file there. */
typedef struct bench_node {
    char root[512], dir[600], key[600];
    cairn_store_t *store;
    uint8_t pk[32];
} bench_node_t;

void bench_node_create(bench_node_t *n, const char *tag);
void bench_node_destroy(bench_node_t *n);

/* n creates an organisation and is on its roster as name, clinician and admin. */
void bench_org_create(bench_node_t *n, const char *name);

/* Put node b on admin's roster as name (BENCH_CLINICAL), and b in admin's organisation. */
void bench_admit(bench_node_t *admin, bench_node_t *b, const char *name);

/* Set the plan's title to "Care plan rev i" in edit e. */
void bench_set_title(cairn_edit_t *e, size_t i);

/*
 * per_plan single-op changes (a plan title, "Care plan rev i") to each of
 * nplans plans, in groups of plans per batch of about BENCH_FILL_BATCH.
 */
#define BENCH_FILL_BATCH 1000
void bench_fill_titles(cairn_store_t *s, uint8_t (*plans)[CAIRN_PLAN_ID_BYTES], size_t nplans,
                       size_t per_plan);

/* n fresh random plan ids, to be freed by the caller. */
void *bench_plan_ids(size_t n);

/* Encoded changes, each in its own allocation. */
typedef struct bench_changes {
    uint8_t **bytes;
    size_t *lens;
    size_t n, cap;
} bench_changes_t;

/* A cairn_plan_changes callback appending copies to ctx, a bench_changes_t. */
int bench_collect(void *ctx, const uint8_t *id, const uint8_t *bytes, size_t len);
void bench_changes_free(bench_changes_t *cs);

/*
 * Ingest changes [from, cs->n) into s, batch per call, in order; returns
 * changes/s. Ends the program unless every one of them was applied.
 */
double bench_ingest_all(cairn_store_t *s, const bench_changes_t *cs, size_t from, size_t batch);

#endif
