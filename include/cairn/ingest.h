/*
 * cairn/ingest.h - the one path by which changes enter a store.
 *
 * Local edits, changes received by sync and bundles imported by hand all go
 * through cairn_ingest() (or its batch form). Each change is checked, in
 * order: size and decoding; signature; hash chain and sequence; author on
 * the organisation's roster and valid at the change's time; the author's
 * roles allow every operation; causal dependencies present. A change whose
 * dependencies are missing waits, durably, in a bounded pending area and is
 * applied when they arrive. Nothing of a rejected change is applied.
 */
#ifndef CAIRN_INGEST_H
#define CAIRN_INGEST_H

#include <stddef.h>
#include <stdint.h>

#include "cairn/change.h"
#include "cairn/error.h"
#include "cairn/store.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum cairn_verdict {
    CAIRN_APPLIED = 0,   /* applied to the plan's state */
    CAIRN_DUPLICATE = 1, /* already held (applied or pending): nothing done */
    CAIRN_PENDING = 2,   /* valid, waiting for changes it depends on */
    CAIRN_REJECTED = 3,  /* see the reason; nothing stored */
    CAIRN_INERT = 4,     /* kept in the history, its operations void: its author was not
                            valid at its time (reason not-valid). Judged again whenever the
                            roster entry changes, on every replica alike */
} cairn_verdict_t;

/* Why a change was rejected. The numbers are stable (logs, protocol). */
typedef enum cairn_reason {
    CAIRN_REASON_NONE = 0,
    CAIRN_REASON_TOO_BIG = 1,       /* over CAIRN_CHANGE_MAX_BYTES or a count limit */
    CAIRN_REASON_MALFORMED = 2,     /* not a canonical encoding of a change */
    CAIRN_REASON_BAD_SIGNATURE = 3, /* signature does not verify under the author key */
    CAIRN_REASON_BAD_CHAIN = 4,     /* prev is not the author's change seq - 1 */
    CAIRN_REASON_UNKNOWN_AUTHOR = 5,/* author not on the roster (or no organisation) */
    CAIRN_REASON_NOT_VALID = 6,     /* author's entry not valid at the change's time */
    CAIRN_REASON_NOT_PERMITTED = 7, /* the author's roles do not allow an operation */
    CAIRN_REASON_INVALID_OP = 8,    /* unknown type or field, bad value, schema rule */
    CAIRN_REASON_PENDING_FULL = 9,  /* dependencies missing and no room to wait */
    CAIRN_REASON__COUNT
} cairn_reason_t;

const char *cairn_reason_name(cairn_reason_t reason); /* "bad-signature" */

typedef struct cairn_ingest_result {
    cairn_verdict_t verdict;
    cairn_reason_t reason;               /* REJECTED only */
    uint8_t id[CAIRN_CHANGE_ID_BYTES];   /* zero if the bytes did not decode */
    int fork;                            /* the author already had another change at this seq */
} cairn_ingest_result_t;

/* Counts over one call. */
typedef struct cairn_ingest_stats {
    size_t applied;   /* includes pending changes released by this call */
    size_t duplicate;
    size_t pending;
    size_t rejected;
    size_t forks;
    size_t verified;  /* signatures actually checked (the rest by hash chain) */
    size_t inert;     /* kept with their operations void (author not valid then) */
} cairn_ingest_stats_t;

/* The most changes that may wait for missing dependencies. */
#define CAIRN_PENDING_MAX 100000u

/*
 * Ingest n encoded changes in one transaction: all of it is durable when
 * this returns CAIRN_OK, none of it otherwise. results (n entries, may be
 * NULL) and stats (may be NULL) report per change and in total. A rejected
 * change is not an error of the call. Errors: the store's (CAIRN_ENOSPC,
 * CAIRN_EMAPFULL, CAIRN_EIO, CAIRN_ECORRUPT, CAIRN_ENOMEM).
 */
cairn_err_t cairn_ingest(cairn_store_t *store, const uint8_t *const *bytes, const size_t *lens,
                         size_t n, cairn_ingest_result_t *results, cairn_ingest_stats_t *stats);

/* A batch: one write transaction (cairn/plan.h: begin, commit, abort, edits). */
typedef struct cairn_batch cairn_batch_t;

/*
 * cairn_ingest() into an open batch: nothing is durable until
 * cairn_batch_commit(). For a writer that groups the changes several
 * sync sessions received into one commit. Changes still being signed in
 * the background for the batch's edits go in first. stats count this
 * call only. Errors: as cairn_ingest(); after one, only
 * cairn_batch_abort() remains (commit returns the same error).
 */
cairn_err_t cairn_batch_ingest(cairn_batch_t *batch, const uint8_t *const *bytes,
                               const size_t *lens, size_t n, cairn_ingest_result_t *results,
                               cairn_ingest_stats_t *stats);

/* ---- the organisation and its roster ----------------------------------- */

/*
 * Create an organisation: a fresh root key pair, kept sealed in store, whose
 * public key becomes the store's organisation. The root signs a roster
 * entry making this node an administrator. Fails with CAIRN_EEXIST if the
 * store already belongs to an organisation.
 */
cairn_err_t cairn_org_create(cairn_store_t *store, const char *node_name);

/* Make store a node of the organisation with public key org (enrol). */
cairn_err_t cairn_org_join(cairn_store_t *store, const uint8_t org[32]);

/* The store's organisation key; CAIRN_ENOTFOUND if it has none. */
cairn_err_t cairn_org_key(cairn_store_t *store, uint8_t org[32]);

/* The plan id of the organisation's roster. */
void cairn_roster_plan_id(const uint8_t org[32], uint8_t plan[CAIRN_PLAN_ID_BYTES]);

/*
 * Add or update member key on the roster: name, roles (CAIRN_ROLE_*) and
 * validity [valid_from, valid_until) in Unix ms (valid_until 0: open).
 * Signed by the organisation root if this store holds it, else by this
 * node (which must be an administrator). One signed change.
 */
cairn_err_t cairn_roster_put(cairn_store_t *store, const uint8_t key[32], const char *name,
                             unsigned roles, uint64_t valid_from, uint64_t valid_until);

/* Revoke member key from time at_ms on. One signed change. */
cairn_err_t cairn_roster_revoke(cairn_store_t *store, const uint8_t key[32], uint64_t at_ms);

/* ---- reading the log --------------------------------------------------- */

/*
 * Called for every change of a plan, in causal order (each after those it
 * names; ties by HLC, then id); nonzero stops.
 */
typedef int (*cairn_change_fn)(void *ctx, const uint8_t id[CAIRN_CHANGE_ID_BYTES],
                               const uint8_t *bytes, size_t len);

cairn_err_t cairn_plan_changes(cairn_store_t *store, const uint8_t plan[CAIRN_PLAN_ID_BYTES],
                               cairn_change_fn fn, void *ctx);

/* The signed bytes of plan's change id into out; CAIRN_ENOTFOUND if not applied here. */
cairn_err_t cairn_change_get(cairn_store_t *store, const uint8_t plan[CAIRN_PLAN_ID_BYTES],
                             const uint8_t id[CAIRN_CHANGE_ID_BYTES], cairn_buf_t *out);

/* Number of changes waiting in the pending area. */
cairn_err_t cairn_pending_count(cairn_store_t *store, uint64_t *count);

/*
 * Rebuild the state of plan from its log alone and store it; digest (may be
 * NULL) receives the rebuilt state's digest.
 */
cairn_err_t cairn_plan_rebuild(cairn_store_t *store, const uint8_t plan[CAIRN_PLAN_ID_BYTES],
                               uint8_t digest[32]);

/*
 * The clock this store reads for new changes and for validity checks, in
 * Unix ms; NULL restores the system clock. For tests and simulations.
 */
void cairn_store_set_clock(cairn_store_t *store, uint64_t (*now_ms)(void *ctx), void *ctx);

/* The greatest HLC timestamp this store has issued or accepted. */
cairn_hlc_t cairn_store_hlc(const cairn_store_t *store);

#ifdef __cplusplus
}
#endif

#endif
