/*
 * cairn/sync.h - one sync session with a peer, as a sans-I/O state machine.
 *
 * The caller owns the connection, the clock and the disk writes: it feeds
 * the bytes it receives (cairn_sync_feed), sends the bytes the session
 * produces (cairn_sync_output / cairn_sync_consumed), tells the time
 * (cairn_sync_tick), and runs the ingest of the changes the session
 * receives (cairn_sync_work / cairn_sync_work_done). The session never
 * touches a socket, an event loop or the system clock, and never commits to
 * the store: it only reads it (plan digests, vectors, the changes to push,
 * the roster).
 *
 * A session: a Noise XX handshake (identity keys, the organisation's key in
 * the prologue, protocol versions in the payloads), a check of the peer on
 * the roster, then turns of reconciliation (docs/protocol.md): fingerprints
 * of plan ranges top down, item lists for small differing ranges, version
 * vectors for differing plans, and the changes each side lacks, streamed
 * plan by plan, the roster first. Either side may close with a reason.
 *
 * Threads: a session is used by one thread at a time (the event loop's).
 * The arrays of a work (cairn_sync_work_t) may be read on another thread
 * (a writer thread running cairn_ingest) between cairn_sync_work and
 * cairn_sync_work_done; the session does not touch them meanwhile. The
 * session only reads the store, through the read API that store.h allows
 * beside one writer thread, so the loop may go on feeding and ticking
 * sessions of a store while its writer thread ingests their work.
 *
 * A typical loop, per session s of store st:
 *
 *     on bytes read:   if (cairn_sync_wants_input(s)) cairn_sync_feed(s, b, n, now);
 *                      else stop reading the socket until work is done
 *     while (cairn_sync_work(s, &w)) {      (here or on a writer thread)
 *         err = cairn_ingest(st, w.bytes, w.lens, w.n, NULL, &stats);
 *         cairn_sync_work_done(s, err, &stats);
 *     }
 *     send cairn_sync_output(s, &len), then cairn_sync_consumed(s, sent);
 *     on a timer:      cairn_sync_tick(s, now);
 *     when cairn_sync_state(s) is DONE or CLOSED: send what output is
 *                      left, drop the connection, cairn_sync_free(s).
 */
#ifndef CAIRN_SYNC_H
#define CAIRN_SYNC_H

#include <stddef.h>
#include <stdint.h>

#include "cairn/error.h"
#include "cairn/ingest.h"
#include "cairn/store.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CAIRN_SYNC_VERSION 1u
#define CAIRN_SYNC_MAX_FRAME ((size_t)1 << 20) /* largest frame payload */
/*
 * While work is outstanding, buffered input past this many bytes (one
 * largest frame, its length field and tag) makes cairn_sync_wants_input 0.
 */
#define CAIRN_SYNC_INPUT_BOUND (CAIRN_SYNC_MAX_FRAME + 4 + 16)
/*
 * A session still in its handshake this long after it was created closes
 * with reason timeout, whatever bytes arrive: a stranger cannot hold a
 * connection by trickling them.
 */
#define CAIRN_SYNC_HANDSHAKE_MS 10000u

typedef struct cairn_sync cairn_sync_t;

typedef enum cairn_sync_state {
    CAIRN_SYNC_HANDSHAKE = 0,
    CAIRN_SYNC_RUNNING = 1, /* authenticated, reconciling */
    CAIRN_SYNC_DONE = 2,    /* both sides had nothing more: closed cleanly */
    CAIRN_SYNC_CLOSED = 3,  /* closed for the reason cairn_sync_close_reason() gives */
} cairn_sync_state_t;

/* Why a session ended. The numbers travel in CLOSE frames. */
typedef enum cairn_close_reason {
    CAIRN_CLOSE_DONE = 0,         /* nothing more to exchange */
    CAIRN_CLOSE_PROTOCOL = 1,     /* a frame that breaks the protocol */
    CAIRN_CLOSE_AUTH = 2,         /* handshake or frame authentication failed */
    CAIRN_CLOSE_UNKNOWN_PEER = 3, /* the peer is not a valid member of our roster */
    CAIRN_CLOSE_VERSION = 4,      /* no protocol version in common */
    CAIRN_CLOSE_TIMEOUT = 5,      /* nothing heard for too long */
    CAIRN_CLOSE_TOO_BIG = 6,      /* a frame over the maximum */
    CAIRN_CLOSE_STORE = 7,        /* the local store failed (disk full...) */
    CAIRN_CLOSE_BY_PEER = 8,      /* the peer closed without saying why */
    CAIRN_CLOSE_REASON__COUNT
} cairn_close_reason_t;

const char *cairn_close_reason_name(cairn_close_reason_t reason);

typedef struct cairn_sync_opts {
    int initiator;                 /* nonzero: this side sends the first message */
    uint64_t now_ms;               /* the time at creation */
    uint64_t keepalive_ms;         /* send a ping after this much silence (0: 15 s) */
    uint64_t timeout_ms;           /* close after hearing nothing this long (0: 60 s) */
    size_t output_limit;           /* produce no more while this much is unsent (0: 4 MiB) */
    const uint8_t *ephemeral_seed; /* 32 bytes for a replayable simulation; NULL: random */
} cairn_sync_opts_t;

typedef struct cairn_sync_stats {
    uint64_t bytes_in, bytes_out;               /* on the wire, framing included */
    uint64_t change_bytes_in, change_bytes_out; /* the changes' own bytes */
    uint64_t frames_in, frames_out;
    uint64_t turns; /* control messages sent and received */
    uint64_t changes_in, changes_out;
    uint64_t applied, duplicate, pending, rejected; /* of changes_in, as work_done reported */
    uint64_t plans_out;                             /* plans of which changes were pushed */
} cairn_sync_stats_t;

/*
 * A session over store (which must belong to an organisation), released
 * with cairn_sync_free. store must stay open until then. The initiator's
 * first handshake message is ready as output at once.
 * Errors: CAIRN_EINVAL, CAIRN_ENOORG (the store has no organisation),
 * CAIRN_ENOMEM, the store's read errors.
 */
cairn_err_t cairn_sync_new(cairn_store_t *store, const cairn_sync_opts_t *opts, cairn_sync_t **out);

/*
 * Release s and everything it holds, outstanding work included (its arrays
 * are invalid from here on: run or abandon it first). Sends nothing: call
 * cairn_sync_close first to tell the peer. NULL is ignored.
 */
void cairn_sync_free(cairn_sync_t *s);

/*
 * Feed len received bytes (copied; bytes may be reused at once) at time
 * now_ms. Complete frames are processed in order until one of CHANGES:
 * its changes become work (cairn_sync_work), and later frames stay
 * buffered, unprocessed, until that work is reported done. Nothing is
 * committed to the store here. Output may grow. A protocol or peer error
 * closes the session (see cairn_sync_state) and is not an error of the
 * call. Bytes fed after the session ended are ignored (CAIRN_OK).
 * Errors: CAIRN_EINVAL; a local failure (CAIRN_ENOMEM, the store's read
 * errors), which also closes the session with reason store.
 */
cairn_err_t cairn_sync_feed(cairn_sync_t *s, const uint8_t *bytes, size_t len, uint64_t now_ms);

/*
 * Whether the caller should read more from the connection for s: 0 once
 * the session ended, or while work is outstanding and at least
 * CAIRN_SYNC_INPUT_BOUND bytes are buffered unprocessed; else 1. Feeding
 * anyway is not an error (the bytes are buffered); it is how a caller
 * keeps one slow writer from making the session buffer without bound.
 */
int cairn_sync_wants_input(const cairn_sync_t *s);

/* Time passes: keepalives, timeouts, and output held back by the limit. Errors: as feed. */
cairn_err_t cairn_sync_tick(cairn_sync_t *s, uint64_t now_ms);

/*
 * The bytes to send now (*len of them; NULL when none), valid until the
 * next call on s other than the getters below.
 */
const uint8_t *cairn_sync_output(const cairn_sync_t *s, size_t *len);
/*
 * n of those bytes were sent; the session may produce more.
 * Errors: CAIRN_EINVAL (n above what is unsent), as feed.
 */
cairn_err_t cairn_sync_consumed(cairn_sync_t *s, size_t n);

/*
 * Ingest work: the changes of one received CHANGES frame, for the caller to
 * run through cairn_ingest (all n in one call, or grouped with other
 * sessions' work of the same store into one call: their order within a
 * session must be kept). bytes[i] holds lens[i] bytes. Owned by the session:
 * the arrays and bytes stay valid and unchanged until cairn_sync_work_done
 * or cairn_sync_free, even if the session is closed meanwhile.
 */
typedef struct cairn_sync_work {
    const uint8_t *const *bytes;
    const size_t *lens;
    size_t n;
} cairn_sync_work_t;

/*
 * Whether work is outstanding: 1 with *work filled (the same work each time
 * until it is reported done), else 0 with *work zeroed. Work handed out
 * before a close stays outstanding, and may still be run and reported: its
 * changes were received whole and passed the frame's authentication.
 */
int cairn_sync_work(const cairn_sync_t *s, cairn_sync_work_t *work);

/*
 * The outstanding work was run: err is what cairn_ingest returned, stats
 * (may be NULL) what it counted for these changes (the caller's share when
 * it grouped several sessions' work). On CAIRN_OK the session goes on: it
 * judges a provisionally admitted peer against the roster now held,
 * processes buffered frames (which may give new work) and may produce
 * output, its next TURN included. Any other err closes the session with
 * reason store (CLOSE store is sent): nothing of the work was committed,
 * and the next session offers it again.
 * Errors: CAIRN_EINVAL (no work outstanding); a local failure of going on,
 * as feed.
 */
cairn_err_t cairn_sync_work_done(cairn_sync_t *s, cairn_err_t err,
                                 const cairn_ingest_stats_t *stats);

/*
 * End the session for reason, for shutdown or eviction (say
 * CAIRN_CLOSE_TIMEOUT for an idle peer, CAIRN_CLOSE_DONE for a clean
 * shutdown). When the channel is up a CLOSE frame carrying reason is added
 * to the output: send it before dropping the connection. State becomes
 * CAIRN_SYNC_DONE (reason done) or CAIRN_SYNC_CLOSED; later feeds are
 * ignored. Idempotent: a session already ended keeps its first reason and
 * sends nothing more. Outstanding work stays valid (cairn_sync_work). A
 * reason out of range, or NULL s, is ignored.
 */
void cairn_sync_close(cairn_sync_t *s, cairn_close_reason_t reason);

cairn_sync_state_t cairn_sync_state(const cairn_sync_t *s);
cairn_close_reason_t cairn_sync_close_reason(const cairn_sync_t *s);
/*
 * The peer's identity key once the handshake authenticated it, else NULL:
 * also for a peer the roster then refused (to name it in a log).
 */
const uint8_t *cairn_sync_peer(const cairn_sync_t *s);
/*
 * Whether the peer was admitted: on our roster now, or provisionally while
 * we hold no roster. Only an admitted peer is one to keep records of.
 */
int cairn_sync_admitted(const cairn_sync_t *s);
void cairn_sync_get_stats(const cairn_sync_t *s, cairn_sync_stats_t *out);

#ifdef __cplusplus
}
#endif

#endif
