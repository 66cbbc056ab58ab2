/*
 * bench_pipe.c - one sync session between two stores over an in-memory pipe.
 */
#include "bench_pipe.h"

#include <string.h>

#include "bench_util.h"

static int live(const cairn_sync_t *s)
{
    cairn_sync_state_t st = cairn_sync_state(s);
    return st == CAIRN_SYNC_HANDSHAKE || st == CAIRN_SYNC_RUNNING;
}

void bench_pipe_session(cairn_store_t *a, cairn_store_t *b, bench_pipe_result_t *r)
{
    cairn_sync_t *s[2];
    cairn_sync_opts_t o = {1, 1, 0, 0, 0, NULL};
    bench_check(cairn_sync_new(a, &o, &s[0]), "sync a");
    o.initiator = 0;
    bench_check(cairn_sync_new(b, &o, &s[1]), "sync b");
    memset(r, 0, sizeof *r);
    double t = bench_now();
    for (uint64_t now = 2; live(s[0]) || live(s[1]); now++) {
        int moved = 0;
        for (int k = 0; k < 2; k++) {
            size_t len;
            const uint8_t *p = cairn_sync_output(s[k], &len);
            if (len == 0)
                continue;
            /* p stays valid until s[k] is next called: the peer reads it in place. */
            bench_check(cairn_sync_feed(s[1 - k], p, len, now), "feed");
            bench_check(cairn_sync_consumed(s[k], len), "consumed");
            cairn_sync_work_t w;
            while (cairn_sync_work(s[1 - k], &w)) {
                cairn_ingest_stats_t st;
                cairn_err_t err = cairn_ingest(k ? a : b, w.bytes, w.lens, w.n, NULL, &st);
                bench_check(err, "ingest");
                bench_check(cairn_sync_work_done(s[1 - k], err, &st), "work done");
            }
            moved = 1;
            r->flights++;
        }
        if (!moved)
            break;
    }
    r->seconds = bench_now() - t;
    int ok = cairn_sync_state(s[0]) == CAIRN_SYNC_DONE && cairn_sync_state(s[1]) == CAIRN_SYNC_DONE;
    for (int k = 0; k < 2; k++) {
        cairn_sync_get_stats(s[k], &r->stats[k]);
        cairn_sync_free(s[k]);
    }
    if (!ok)
        bench_die("in-process session", "did not end cleanly");
}
