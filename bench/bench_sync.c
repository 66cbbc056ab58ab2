/*
 * bench_sync.c - reconciliation cost: bytes, round trips and time.
 *
 * (1) Two replicas of PLANS x PER_PLAN changes (default 100,000 x 10 = 1M)
 *     that differ by DIFF changes (half new on each side, in random plans):
 *     bytes each way besides the missing changes themselves, round trips,
 *     time. (2) The same two replicas once in sync: bytes and round trips.
 *     (3) An empty replica against SMALL changes (default 100,000 in 1,000
 *     plans), beside ingesting the same changes straight from memory.
 * Sessions run in process over an in-memory pipe: a flight is one
 * direction's bytes; a round trip is two flights. (1) and (2) repeat RUNS
 * times on the same pair (new differences each time); (3) uses a fresh
 * empty replica each run. Medians with min-max.
 *
 * Environment: CAIRN_BENCH_PLANS, CAIRN_BENCH_PER_PLAN, CAIRN_BENCH_DIFF,
 * CAIRN_BENCH_SMALL_PLANS, CAIRN_BENCH_RUNS, CAIRN_BENCH_DIR.
 */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_pipe.h"
#include "bench_util.h"
#include "cairn/cairn.h"
#include "cairn/sync.h"

#define BATCH 1000
#define MAX_RUNS 64

/* ---- sessions over a pipe ---------------------------------------------------------- */

typedef struct result {
    double seconds;
    double round_trips; /* after the handshake */
    uint64_t bytes[2], change_bytes[2], changes[2];
} result_t;

static void run_session(cairn_store_t *a, cairn_store_t *b, result_t *r)
{
    bench_pipe_result_t p;
    bench_pipe_session(a, b, &p);
    memset(r, 0, sizeof *r);
    r->seconds = p.seconds;
    int flights = p.flights > 3 ? p.flights - 3 : 0; /* the three handshake messages */
    r->round_trips = (flights + 1) / 2;
    for (int k = 0; k < 2; k++) {
        r->bytes[k] = p.stats[k].bytes_out;
        r->change_bytes[k] = p.stats[k].change_bytes_out;
        r->changes[k] = p.stats[k].changes_out;
    }
}

/* ---- workloads ------------------------------------------------------------------------- */

/* diff changes: half on a, half on b, each in a random plan. */
static void diverge(cairn_store_t *a, cairn_store_t *b, uint8_t (*plans)[CAIRN_PLAN_ID_BYTES],
                    size_t nplans, size_t diff)
{
    for (int side = 0; side < 2; side++) {
        cairn_batch_t *bt;
        bench_check(cairn_batch_begin(side ? b : a, &bt), "batch");
        for (size_t i = side; i < diff; i += 2) {
            cairn_edit_t *e;
            bench_check(cairn_edit_begin(bt, plans[randombytes_uniform((uint32_t)nplans)], &e),
                        "edit");
            bench_set_title(e, 1000 + i);
            bench_check(cairn_edit_commit(e, NULL), "edit commit");
        }
        bench_check(cairn_batch_commit(bt), "batch commit");
    }
}

/* admin puts b on its organisation's roster as name, a clinician; b joins. */
/* ---- main ---------------------------------------------------------------------------------- */

typedef struct cfg {
    size_t plans, per_plan, diff, small_plans, runs;
} cfg_t;

static void row(const char *name, double *v, size_t n, int integer)
{
    bench_stat_t s = bench_stat(v, n);
    if (integer)
        printf("| %s | %.0f | %.0f–%.0f |\n", name, s.median, s.min, s.max);
    else
        printf("| %s | %.3f | %.3f–%.3f |\n", name, s.median, s.min, s.max);
}

int main(void)
{
    if (sodium_init() < 0)
        bench_die("libsodium", "cannot initialise");
    cfg_t c = {bench_env("CAIRN_BENCH_PLANS", 100000, 100000000),
               bench_env("CAIRN_BENCH_PER_PLAN", 10, 1000000),
               bench_env("CAIRN_BENCH_DIFF", 100, 100000000),
               bench_env("CAIRN_BENCH_SMALL_PLANS", 1000, 10000000),
               bench_env("CAIRN_BENCH_RUNS", 5, MAX_RUNS)};
    bench_node_t a, b;
    bench_node_create(&a, "sync-a");
    bench_node_create(&b, "sync-b");
    bench_org_create(&a, "a");
    bench_admit(&a, &b, "b");
    uint8_t(*plans)[CAIRN_PLAN_ID_BYTES] = bench_plan_ids(c.plans);
    double t = bench_now();
    bench_fill_titles(a.store, plans, c.plans, c.per_plan);
    double fill_s = bench_now() - t;
    result_t first;
    run_session(a.store, b.store, &first); /* b starts empty: the whole replica moves */
    fprintf(stderr, "built: %zu changes in %.1f s; initial sync %.1f s\n", c.plans * c.per_plan,
            fill_s, first.seconds);

    double d_bytes_a[MAX_RUNS], d_bytes_b[MAX_RUNS], d_rt[MAX_RUNS], d_s[MAX_RUNS], d_chg[MAX_RUNS];
    double s_bytes[MAX_RUNS], s_rt[MAX_RUNS], s_s[MAX_RUNS];
    for (size_t r = 0; r < c.runs; r++) {
        result_t res;
        diverge(a.store, b.store, plans, c.plans, c.diff);
        run_session(a.store, b.store, &res);
        d_bytes_a[r] = (double)(res.bytes[0] - res.change_bytes[0]);
        d_bytes_b[r] = (double)(res.bytes[1] - res.change_bytes[1]);
        d_chg[r] = (double)(res.changes[0] + res.changes[1]);
        d_rt[r] = res.round_trips;
        d_s[r] = res.seconds;
        run_session(a.store, b.store, &res); /* now in sync */
        s_bytes[r] = (double)(res.bytes[0] + res.bytes[1]);
        s_rt[r] = res.round_trips;
        s_s[r] = res.seconds;
        if (res.changes[0] + res.changes[1] != 0)
            bench_die("in sync", "changes moved between replicas in sync");
        fprintf(stderr, "run %zu/%zu done\n", r + 1, c.runs);
    }

    /* (3) an empty replica against small_plans x 100 changes */
    bench_node_t cs;
    bench_node_create(&cs, "sync-c");
    bench_org_create(&cs, "c");
    uint8_t(*small)[CAIRN_PLAN_ID_BYTES] = bench_plan_ids(c.small_plans);
    bench_fill_titles(cs.store, small, c.small_plans, 100);
    bench_changes_t all = {0};
    uint8_t okey[32], rplan[CAIRN_PLAN_ID_BYTES];
    bench_check(cairn_org_key(cs.store, okey), "org key");
    cairn_roster_plan_id(okey, rplan);
    bench_check(cairn_plan_changes(cs.store, rplan, bench_collect, &all), "export roster");
    size_t roster_n = all.n; /* the roster first, so the raw replica knows the authors */
    for (size_t p = 0; p < c.small_plans; p++)
        bench_check(cairn_plan_changes(cs.store, small[p], bench_collect, &all), "export");
    double e_s[MAX_RUNS], e_rate[MAX_RUNS], e_raw[MAX_RUNS], e_bytes[MAX_RUNS], e_rt[MAX_RUNS];
    for (size_t r = 0; r < c.runs; r++) {
        bench_node_t d, raw;
        bench_node_create(&d, "sync-d");
        bench_admit(&cs, &d, "d");
        result_t res;
        run_session(d.store, cs.store, &res);
        e_s[r] = res.seconds;
        e_rate[r] = (double)res.changes[1] / res.seconds;
        e_bytes[r] = (double)(res.bytes[0] + res.bytes[1] - res.change_bytes[1]);
        e_rt[r] = res.round_trips;
        bench_node_destroy(&d);
        /* the same changes ingested straight from memory, into an org member */
        bench_node_create(&raw, "sync-raw");
        bench_check(cairn_org_join(raw.store, okey), "join raw");
        bench_check(cairn_ingest(raw.store, (const uint8_t *const *)all.bytes, all.lens, roster_n,
                                 NULL, NULL),
                    "raw roster");
        e_raw[r] = bench_ingest_all(raw.store, &all, roster_n, BATCH);
        bench_node_destroy(&raw);
    }

    printf("| measure | median | min–max |\n|---|---|---|\n");
    row("(1) differ by DIFF: bytes initiator→responder, besides the changes", d_bytes_a, c.runs, 1);
    row("(1) differ by DIFF: bytes responder→initiator, besides the changes", d_bytes_b, c.runs, 1);
    row("(1) differ by DIFF: changes sent", d_chg, c.runs, 1);
    row("(1) differ by DIFF: round trips after the handshake", d_rt, c.runs, 1);
    row("(1) differ by DIFF: seconds", d_s, c.runs, 0);
    row("(2) in sync: bytes both ways, handshake included", s_bytes, c.runs, 1);
    row("(2) in sync: round trips after the handshake", s_rt, c.runs, 1);
    row("(2) in sync: seconds", s_s, c.runs, 0);
    row("(3) empty vs SMALL: seconds", e_s, c.runs, 0);
    row("(3) empty vs SMALL: changes/s through sync", e_rate, c.runs, 1);
    row("(3) empty vs SMALL: raw ingest of the same changes, changes/s", e_raw, c.runs, 1);
    row("(3) empty vs SMALL: bytes besides the changes", e_bytes, c.runs, 1);
    row("(3) empty vs SMALL: round trips after the handshake", e_rt, c.runs, 1);
    printf("\nreplicas of %zu changes in %zu plans; DIFF = %zu; SMALL = %zu changes in %zu plans; "
           "%zu runs; %s; peak RSS %.1f MiB\n",
           c.plans * c.per_plan, c.plans, c.diff, all.n - roster_n, c.small_plans, c.runs,
           bench_fs(a.root), bench_peak_rss_mib());
    bench_changes_free(&all);
    free(plans);
    free(small);
    bench_node_destroy(&cs);
    bench_node_destroy(&a);
    bench_node_destroy(&b);
    return 0;
}
