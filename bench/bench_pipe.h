/*
 * bench_pipe.h - one sync session between two stores in this process, over
 * an in-memory pipe: the in-process baseline of bench_sync and bench_serve.
 */
#ifndef CAIRN_BENCH_PIPE_H
#define CAIRN_BENCH_PIPE_H

#include "cairn/cairn.h"
#include "cairn/sync.h"

typedef struct bench_pipe_result {
    double seconds;
    int flights;                 /* one-way deliveries that carried bytes, handshake included */
    cairn_sync_stats_t stats[2]; /* a's session, b's session */
} bench_pipe_result_t;

/*
 * a initiates, b responds; each side's received changes are ingested as
 * the session hands them out (one cairn_ingest per CHANGES frame, as a
 * writer would). Dies unless both sides end done.
 */
void bench_pipe_session(cairn_store_t *a, cairn_store_t *b, bench_pipe_result_t *r);

#endif
