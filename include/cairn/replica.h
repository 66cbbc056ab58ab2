/*
 * cairn/replica.h - what the sync protocol asks of a replica.
 *
 * A summary per plan (a short digest that is equal on two replicas exactly
 * when they hold the same changes of the plan), a per-author version
 * vector inside a plan, a cursor over the changes a peer lacks given its
 * vector, and who may hold which plan. The protocol (sync/) is built on these alone.
 */
#ifndef CAIRN_REPLICA_H
#define CAIRN_REPLICA_H

#include <stddef.h>
#include <stdint.h>

#include "cairn/change.h"
#include "cairn/ingest.h"
#include "cairn/store.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CAIRN_SYNC_DIGEST_BYTES 16

/* Called for each plan the store holds; nonzero stops. */
typedef int (*cairn_plan_fn)(void *ctx, const uint8_t plan[CAIRN_PLAN_ID_BYTES], uint64_t nchanges);
cairn_err_t cairn_plan_list(cairn_store_t *store, cairn_plan_fn fn, void *ctx);

/*
 * Called for each plan held, in plan id order, with its sync digest:
 * BLAKE2b-128 over "cairn sync digest v1\0", the change count (8 bytes,
 * big-endian) and the sorted heads. The heads name every applied change
 * (each change is a head or reachable from one), so equal digests mean
 * equal change sets. Nonzero from fn stops.
 */
typedef int (*cairn_summary_fn)(void *ctx, const uint8_t plan[CAIRN_PLAN_ID_BYTES],
                                const uint8_t digest[CAIRN_SYNC_DIGEST_BYTES]);
cairn_err_t cairn_plan_summaries(cairn_store_t *store, cairn_summary_fn fn, void *ctx);

/* One author's part of a plan's version vector. */
typedef struct cairn_vec_entry {
    uint8_t author[32];
    uint64_t max_seq;                    /* highest sequence number held */
    uint64_t count;                      /* changes held (more than max_seq after a fork) */
    uint8_t head[CAIRN_CHANGE_ID_BYTES]; /* the (lowest) id at max_seq: whoever holds it
                                            holds the same chain below it */
} cairn_vec_entry_t;

/*
 * The plan's version vector, sorted by author, into a malloc'd array (*out,
 * *n; free() it). An unknown plan gives an empty vector.
 */
cairn_err_t cairn_plan_vector(cairn_store_t *store, const uint8_t plan[CAIRN_PLAN_ID_BYTES],
                              cairn_vec_entry_t **out, size_t *n);

/*
 * Whether a replica with vector peer (sorted by author) lacks anything this
 * store holds of the plan: 1 or 0.
 */
int cairn_vector_behind(const cairn_vec_entry_t *mine, size_t nmine, const cairn_vec_entry_t *peer,
                        size_t npeer);

/*
 * A cursor over the changes of a plan that a replica with vector peer
 * lacks: an author's changes above the peer's max_seq when this store holds
 * the peer's head for the author (so the chains agree below it); otherwise
 * all of the author's changes (a fork on either side, or a chain that went
 * another way: a restored backup). Ingest drops what the peer already has.
 *
 * The changes come out in causal order (each after the selected changes it
 * names: prev, deps, pred), the lower (HLC, id) first among those free to
 * go, so a receiver given them one by one never parks one, even when a
 * clock ran days fast and its followers' clocks were held at the bound.
 *
 * Memory: the cursor keeps the id and HLC of each selected change (40
 * bytes), never the changes themselves, so pushing a plan of 100,000
 * changes holds no decoded log; opening decodes each selected change once,
 * one at a time, for the ids it names. The selection is made at open from one
 * read snapshot; changes applied afterwards are not included.
 */
typedef struct cairn_cursor cairn_cursor_t;

/*
 * Open a cursor on plan for a peer whose vector is peer (npeer entries,
 * sorted by author, each once; NULL if npeer is 0: the peer holds nothing).
 * peer is read during the call only. An unknown plan gives an empty cursor.
 * *out is released with cairn_cursor_close().
 * Errors: CAIRN_EINVAL, CAIRN_ENOMEM, CAIRN_ECORRUPT, the store's read errors.
 */
cairn_err_t cairn_cursor_open(cairn_store_t *store, const uint8_t plan[CAIRN_PLAN_ID_BYTES],
                              const cairn_vec_entry_t *peer, size_t npeer, cairn_cursor_t **out);

/* How many changes the cursor selected at open (handed out or not). */
size_t cairn_cursor_count(const cairn_cursor_t *cur);

/*
 * The next change's signed bytes: *bytes (*len of them) point into the
 * cursor and stay valid until the next call on cur or its close. Each call
 * reads in its own short read transaction (a cursor paced by the network
 * must not pin an LMDB snapshot for minutes); a change once applied is
 * never removed, so it is found in any later snapshot.
 * Errors: CAIRN_ENOTFOUND when every selected change has been handed out
 * (*bytes NULL, *len 0), CAIRN_EINVAL, CAIRN_ECORRUPT, CAIRN_ENOMEM, the
 * store's read errors. After an error other than CAIRN_ENOTFOUND the same
 * change is tried again by the next call.
 */
cairn_err_t cairn_cursor_next(cairn_cursor_t *cur, const uint8_t **bytes, size_t *len);

/* Release cur and wipe the last bytes it handed out. NULL is ignored. */
/*
 * End the read snapshot the cursor's next() calls share (begun by the
 * first after open or after a pause): call it when the caller stops
 * reading for a while (a session, when its output reaches the limit), so
 * no reader is held while the network is slow. The next next() begins a
 * new one. Idempotent.
 */
void cairn_cursor_pause(cairn_cursor_t *cur);

void cairn_cursor_close(cairn_cursor_t *cur);

/* Whether plan's change id is applied here: 1 or 0 in *held. */
cairn_err_t cairn_plan_has_change(cairn_store_t *store, const uint8_t plan[CAIRN_PLAN_ID_BYTES],
                                  const uint8_t id[CAIRN_CHANGE_ID_BYTES], int *held);

/*
 * Judge member key against this store's roster at time now_ms: CAIRN_OK
 * with its roles, or CAIRN_EDENIED with the reason (unknown-author,
 * not-valid). The organisation's root key is valid with no roles.
 */
cairn_err_t cairn_roster_member(cairn_store_t *store, const uint8_t key[32], uint64_t now_ms,
                                unsigned *roles, cairn_reason_t *why);

/*
 * Whether member key (with roles) may hold plan: the roster plan, every
 * plan for a care manager, otherwise a plan whose care team lists key as a
 * member's person_key. 1 or 0 in *may.
 */
cairn_err_t cairn_plan_may_hold(cairn_store_t *store, const uint8_t plan[CAIRN_PLAN_ID_BYTES],
                                const uint8_t key[32], unsigned roles, int *may);

#ifdef __cplusplus
}
#endif

#endif
