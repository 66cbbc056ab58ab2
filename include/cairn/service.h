/*
 * cairn/service.h - the sync service over TCP (libcairn_service).
 *
 * Two entry points, both over an open store: cairn_service_run(), the
 * long-running service `cairn serve` is (listen, dial the configured peers,
 * run every session through the sans-I/O protocol of cairn/sync.h, ingest
 * on one writer thread), and cairn_sync_remote(), one manual session with a
 * running service (`cairn sync DIR HOST:PORT`). The event loop (libuv) is
 * inside: this header includes no libuv header, so a program embedding the
 * service needs none. docs/service.md describes the service, its logs and
 * its threads.
 *
 * The store stays usable by other processes meanwhile (the CLI beside the
 * service): LMDB serialises their writers, and the service notices their
 * commits within cairn_service_opts_t.poll_ms and sends them to its peers.
 */
#ifndef CAIRN_SERVICE_H
#define CAIRN_SERVICE_H

#include <stdint.h>
#include <stdio.h>

#include "cairn/error.h"
#include "cairn/ingest.h"
#include "cairn/store.h"
#include "cairn/sync.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CAIRN_SERVICE_PORT 7433u             /* the default listening port */
#define CAIRN_SERVICE_HOST "127.0.0.1"       /* the default listening address */
#define CAIRN_SERVICE_INTERVAL_MS 30000u     /* default: dial each peer this often */
#define CAIRN_SERVICE_POLL_MS 200u           /* default: look for other processes' commits */
#define CAIRN_SERVICE_BACKOFF_MIN_MS 1000u   /* first retry of an unreachable peer */
#define CAIRN_SERVICE_BACKOFF_MAX_MS 300000u /* longest wait between retries */
#define CAIRN_SERVICE_MAX_SESSIONS 256u      /* sessions at once; more are refused at accept */

typedef enum cairn_log_format {
    CAIRN_LOG_TEXT = 0, /* "2024-05-01T10:00:00.123Z info session-closed peer=1a2b3c4d ..." */
    CAIRN_LOG_JSON = 1, /* one JSON object per line */
} cairn_log_format_t;

typedef enum cairn_log_level {
    CAIRN_LOG_ERROR = 0,
    CAIRN_LOG_WARN = 1,
    CAIRN_LOG_INFO = 2, /* the default */
    CAIRN_LOG_DEBUG = 3,
} cairn_log_level_t;

/* Options of the service; zero fields take the defaults. */
typedef struct cairn_service_opts {
    const char *listen_host; /* NULL: CAIRN_SERVICE_HOST */
    uint16_t listen_port;    /* 0: CAIRN_SERVICE_PORT */
    uint64_t interval_ms;    /* 0: CAIRN_SERVICE_INTERVAL_MS */
    uint64_t poll_ms;        /* 0: CAIRN_SERVICE_POLL_MS */
    uint64_t timeout_ms;     /* a session silent this long is closed (0: the protocol's 60 s) */
    cairn_log_format_t log_format;
    cairn_log_level_t log_level;
    FILE *log; /* NULL: stderr. Lines carry ids and counts, never content */
} cairn_service_opts_t;

/*
 * Run the service over store until SIGINT or SIGTERM: listen, accept, dial
 * every configured peer (cairn/peers.h) every interval and within poll_ms
 * of a commit made by another process, with exponential backoff and jitter
 * while a peer is unreachable; at most one session per peer at a time.
 * On the signal: stop accepting, let the ingest under way commit, close
 * every session (CLOSE by-peer), record each peer's status, and return
 * CAIRN_OK. store must belong to an organisation and stay open until the
 * call returns; the calling thread runs the event loop, and one more thread
 * (started and joined here) runs every write. It sets SIGPIPE to be
 * ignored in the process (as cairn_sync_remote does), so that a peer that
 * resets its connection gives an error, not the death of the process.
 * Errors: CAIRN_EINVAL, CAIRN_ENOORG, CAIRN_ENET (the address cannot be
 * listened on: in use, or not this machine's), CAIRN_ENOMEM, the store's
 * read errors.
 */
cairn_err_t cairn_service_run(cairn_store_t *store, const cairn_service_opts_t *opts);

/* How a manual session ended. */
typedef enum cairn_remote_outcome {
    CAIRN_REMOTE_IN_SYNC = 0,     /* the session completed: both sides hold the same */
    CAIRN_REMOTE_PARTIAL = 1,     /* it began but did not complete (cut, timeout, closed
                                     early by the peer): what arrived is kept; run again */
    CAIRN_REMOTE_UNREACHABLE = 2, /* no connection (refused, no route, no such host) */
    CAIRN_REMOTE_REFUSED = 3,     /* authentication or roster: another organisation, a key
                                     not on a roster, no common version */
    CAIRN_REMOTE_STORE = 4,       /* the local store failed (result.store_err says how) */
} cairn_remote_outcome_t;

const char *cairn_remote_outcome_name(cairn_remote_outcome_t o); /* "in-sync", ... */

typedef struct cairn_remote_result {
    cairn_remote_outcome_t outcome;
    cairn_close_reason_t reason; /* the session's close reason (when it began) */
    cairn_err_t store_err;       /* CAIRN_REMOTE_STORE: the local error */
    cairn_sync_stats_t stats;    /* what moved, as the session counted it */
    uint64_t plans_in;           /* distinct plans among the changes received */
    uint64_t duration_ms;
    uint64_t rejected[CAIRN_REASON__COUNT]; /* received changes rejected, by reason */
    uint8_t peer[CAIRN_PUBLIC_KEY_BYTES];   /* the peer's key, when authenticated */
    int peer_known;
} cairn_remote_result_t;

/* Called on progress (at most every 100 ms and once at the end); stats are the session's. */
typedef void (*cairn_remote_progress_fn)(void *ctx, const cairn_sync_stats_t *stats);

/*
 * One session with the service at host:port, initiated by this side, run
 * to its end, with its ingest on a writer thread of its own; the peer's
 * status (cairn/peers.h) is recorded when the peer authenticated. The
 * outcome is in *result whatever it was: unreachable and refused are
 * outcomes, not errors. progress may be NULL.
 * Errors: CAIRN_EINVAL, CAIRN_ENOORG, CAIRN_ENOMEM.
 */
cairn_err_t cairn_sync_remote(cairn_store_t *store, const char *host, uint16_t port,
                              uint64_t timeout_ms, cairn_remote_progress_fn progress, void *ctx,
                              cairn_remote_result_t *result);

#ifdef __cplusplus
}
#endif

#endif
