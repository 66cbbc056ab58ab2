/*
 * cairn/peers.h - whom a node dials, and how its sessions with each peer went.
 *
 * A node's peer list says which nodes its sync service connects to, and
 * where (HOST:PORT). It decides nothing about trust: who may connect, and
 * what a peer may hold, is the roster's business (docs/protocol.md). Beside
 * it, one status record per peer the node has had a session with (dialled
 * or not): when the last session was attempted and when one last completed,
 * how it ended, what moved. `cairn status` answers "am I up to date?" from
 * these records alone.
 *
 * Both live sealed in the store's meta database, under the peer's public
 * key (which identifies a device, never a patient). Every write is its own
 * durable transaction; the sync service makes them on its writer thread.
 * Reads open their own read transaction and may run beside the writer
 * (store.h, docs/architecture.md "Threading model").
 */
#ifndef CAIRN_PEERS_H
#define CAIRN_PEERS_H

#include <stddef.h>
#include <stdint.h>

#include "cairn/error.h"
#include "cairn/store.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CAIRN_PEER_HOST_MAX 253 /* longest host name (a DNS name, or an IPv6 literal in []) */
#define CAIRN_PEER_ADDR_MAX 259 /* HOST ':' PORT */
#define CAIRN_PEER_NAME_MAX 64  /* longest peer name, in bytes */
#define CAIRN_PEER_ERROR_MAX 32 /* longest last-error reason name */

/* One configured peer. Strings are NUL-terminated. */
typedef struct cairn_peer {
    uint8_t key[CAIRN_PUBLIC_KEY_BYTES]; /* the peer node's identity key */
    char addr[CAIRN_PEER_ADDR_MAX + 1];  /* HOST:PORT */
    char name[CAIRN_PEER_NAME_MAX + 1];  /* "" when none was given */
} cairn_peer_t;

/*
 * Split addr, "HOST:PORT", into host (cap bytes, NUL-terminated; an IPv6
 * literal "[::1]:7433" gives "::1") and port. HOST is 1 to
 * CAIRN_PEER_HOST_MAX characters of letters, digits, '.', '-', '_' (or, in
 * brackets, hex digits, ':' and '.'); PORT is 1 to 65535 in decimal digits,
 * without sign or leading zero. host may be NULL to validate only.
 * Errors: CAIRN_EINVAL (not of that form, or cap too small).
 */
cairn_err_t cairn_peer_addr_parse(const char *addr, char *host, size_t cap, uint16_t *port);

/*
 * Add peer key at addr (HOST:PORT, as above) with name (NULL or "" for
 * none; at most CAIRN_PEER_NAME_MAX bytes, no control characters), or
 * replace what is stored for key. One durable transaction.
 * Errors: CAIRN_EINVAL (a bad key, address or name: nothing is written;
 * the key of this node itself is refused too), the store's write errors.
 */
cairn_err_t cairn_peer_put(cairn_store_t *store, const uint8_t key[CAIRN_PUBLIC_KEY_BYTES],
                           const char *addr, const char *name);

/*
 * Remove peer key and its status record. Errors: CAIRN_ENOTFOUND (no such
 * peer; nothing changed), CAIRN_EINVAL, the store's write errors.
 */
cairn_err_t cairn_peer_remove(cairn_store_t *store, const uint8_t key[CAIRN_PUBLIC_KEY_BYTES]);

/*
 * The peer stored under key into *out. Errors: CAIRN_ENOTFOUND,
 * CAIRN_ECORRUPT (a damaged record), CAIRN_EINVAL, the store's read errors.
 */
cairn_err_t cairn_peer_get(cairn_store_t *store, const uint8_t key[CAIRN_PUBLIC_KEY_BYTES],
                           cairn_peer_t *out);

/*
 * Call fn for every configured peer, in key order; *peer is valid during
 * the call only. Nonzero from fn stops (not an error). All peers are read
 * and checked in one snapshot before the first call.
 * Errors: CAIRN_ECORRUPT (a damaged record: fn is not called at all),
 * CAIRN_ENOMEM, CAIRN_EINVAL, the store's read errors.
 */
typedef int (*cairn_peer_fn)(void *ctx, const cairn_peer_t *peer);
cairn_err_t cairn_peer_list(cairn_store_t *store, cairn_peer_fn fn, void *ctx);

/* How the sessions with one peer went. Counts are of the last session unless named total. */
typedef struct cairn_peer_status {
    uint64_t last_attempt_ms; /* Unix ms when the last session (or dial) began; 0: never */
    uint64_t last_ok_ms;      /* Unix ms when a session last completed (ended done); 0: never */
    uint64_t last_end_ms;     /* Unix ms when the last session or dial ended */
    int in_sync;              /* 1: the last session ended done, both sides had nothing left */
    char last_error[CAIRN_PEER_ERROR_MAX + 1];    /* why the last attempt failed (a reason
                                                     name such as "unreachable", "timeout",
                                                     "unknown-peer"); "" after a completed one */
    uint64_t changes_in, changes_out;             /* changes received (applied here) and sent */
    uint64_t bytes_in, bytes_out;                 /* bytes on the wire */
    uint64_t rejected;                            /* received changes ingest rejected */
    uint64_t changes_in_total, changes_out_total; /* over every session */
    uint64_t sessions;                            /* sessions that completed */
    uint64_t failures;                            /* attempts that did not (unreachable included) */
} cairn_peer_status_t;

/*
 * Store st as the status of peer key (a peer need not be configured: a node
 * keeps the status of peers that dialled it too). last_error must be a
 * NUL-terminated string of at most CAIRN_PEER_ERROR_MAX printable ASCII
 * characters and in_sync 0 or 1. One durable transaction.
 * Errors: CAIRN_EINVAL, the store's write errors.
 */
cairn_err_t cairn_peer_status_put(cairn_store_t *store, const uint8_t key[CAIRN_PUBLIC_KEY_BYTES],
                                  const cairn_peer_status_t *st);

/*
 * The status of peer key into *st. Errors: CAIRN_ENOTFOUND (no session
 * recorded yet), CAIRN_ECORRUPT (a damaged record), CAIRN_EINVAL, the
 * store's read errors.
 */
cairn_err_t cairn_peer_status_get(cairn_store_t *store, const uint8_t key[CAIRN_PUBLIC_KEY_BYTES],
                                  cairn_peer_status_t *st);

/*
 * Call fn for every status record, in key order, read and checked in one
 * snapshot before the first call; nonzero from fn stops.
 * Errors: as cairn_peer_list().
 */
typedef int (*cairn_peer_status_fn)(void *ctx, const uint8_t key[CAIRN_PUBLIC_KEY_BYTES],
                                    const cairn_peer_status_t *st);
cairn_err_t cairn_peer_status_list(cairn_store_t *store, cairn_peer_status_fn fn, void *ctx);

#ifdef __cplusplus
}
#endif

#endif
