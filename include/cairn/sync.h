/*
 * cairn/sync.h - one sync session with a peer, as a sans-I/O state machine.
 *
 * The caller owns the connection and the clock: it feeds the bytes it
 * receives (cairn_sync_feed), sends the bytes the session produces
 * (cairn_sync_output / cairn_sync_consumed), and tells the time
 * (cairn_sync_tick). The session never touches a socket, an event loop or
 * the system clock; it reads and writes the local store through the core
 * API, and every change it receives goes through ingest.
 *
 * A session: a Noise XX handshake (identity keys, the organisation's key in
 * the prologue, protocol versions in the payloads), a check of the peer on
 * the roster, then turns of reconciliation (docs/protocol.md): fingerprints
 * of plan ranges top down, item lists for small differing ranges, version
 * vectors for differing plans, and the changes each side lacks, in causal
 * order, the roster first. Either side may close with a reason.
 */
#ifndef CAIRN_SYNC_H
#define CAIRN_SYNC_H

#include <stddef.h>
#include <stdint.h>

#include "cairn/error.h"
#include "cairn/store.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CAIRN_SYNC_VERSION 1u
#define CAIRN_SYNC_MAX_FRAME ((size_t)1 << 20) /* largest frame payload */

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
    uint64_t bytes_in, bytes_out;   /* on the wire, framing included */
    uint64_t change_bytes_in, change_bytes_out; /* the changes' own bytes */
    uint64_t frames_in, frames_out;
    uint64_t turns;                 /* control messages sent and received */
    uint64_t changes_in, changes_out;
    uint64_t applied, duplicate, pending, rejected; /* of changes_in, by ingest */
} cairn_sync_stats_t;

/*
 * A session over store (which must belong to an organisation). The
 * initiator's first handshake message is ready as output at once.
 * Errors: CAIRN_EINVAL, CAIRN_ENOTFOUND (the store has no organisation),
 * CAIRN_ENOMEM.
 */
cairn_err_t cairn_sync_new(cairn_store_t *store, const cairn_sync_opts_t *opts,
                           cairn_sync_t **out);
void cairn_sync_free(cairn_sync_t *s);

/*
 * Feed len received bytes at time now_ms. Frames complete in them are
 * processed (changes ingested); output may grow. A protocol or peer error
 * closes the session (see cairn_sync_state) and is not an error of the
 * call; only a failing store returns an error (the session is closed too).
 */
cairn_err_t cairn_sync_feed(cairn_sync_t *s, const uint8_t *bytes, size_t len, uint64_t now_ms);

/* Time passes: keepalives, timeouts, and output held back by the limit. */
cairn_err_t cairn_sync_tick(cairn_sync_t *s, uint64_t now_ms);

/* The bytes to send now (*len of them; NULL when none). */
const uint8_t *cairn_sync_output(const cairn_sync_t *s, size_t *len);
/* n of those bytes were sent; the session may produce more. */
cairn_err_t cairn_sync_consumed(cairn_sync_t *s, size_t n);

cairn_sync_state_t cairn_sync_state(const cairn_sync_t *s);
cairn_close_reason_t cairn_sync_close_reason(const cairn_sync_t *s);
/* The peer's identity key once authenticated, else NULL. */
const uint8_t *cairn_sync_peer(const cairn_sync_t *s);
void cairn_sync_get_stats(const cairn_sync_t *s, cairn_sync_stats_t *out);

#ifdef __cplusplus
}
#endif

#endif
