/*
 * recon.h - range-based set reconciliation over (plan id, digest) items.
 *
 * Each replica's plans form a set of items. A range is the plans whose id
 * starts with a given prefix of `depth` hex digits (nibbles); plan ids are
 * random, so the 16 children of a range split it evenly. A range's
 * fingerprint is its item count and the sum, modulo 2^128, of BLAKE2b-128
 * over each item; prefix sums make any range's fingerprint O(log n). Two
 * replicas compare fingerprints top down and descend only into ranges that
 * differ, so the bytes exchanged grow with the difference, not the set.
 */
#ifndef CAIRN_SYNC_RECON_H
#define CAIRN_SYNC_RECON_H

#include <stddef.h>
#include <stdint.h>

#include "cairn/change.h"
#include "cairn/error.h"
#include "cairn/replica.h"

#define CAIRN_RECON_MAX_DEPTH 16 /* nibbles: the first 64 bits of a plan id */
#define CAIRN_RECON_FP_BYTES 8   /* fingerprint bytes sent per range */

typedef struct cairn_recon_item {
    uint8_t plan[CAIRN_PLAN_ID_BYTES];
    uint8_t digest[CAIRN_SYNC_DIGEST_BYTES];
    uint8_t queued; /* the session's: already queued for pushing this turn */
} cairn_recon_item_t;

typedef struct cairn_recon_range {
    uint8_t depth;   /* 0 .. CAIRN_RECON_MAX_DEPTH */
    uint64_t prefix; /* the first depth nibbles of the plan id */
} cairn_recon_range_t;

typedef struct cairn_recon_set {
    cairn_recon_item_t *items; /* sorted by plan id */
    size_t n, cap;
    uint64_t (*sums)[2]; /* sums[i]: the hashes of items[0..i), mod 2^128 (lo, hi) */
} cairn_recon_set_t;

/* Add an item (before cairn__recon_seal). */
cairn_err_t cairn__recon_add(cairn_recon_set_t *set, const uint8_t *plan, const uint8_t *digest);
/* Sort the items and compute the prefix sums. Duplicated plan ids: CAIRN_EINVAL. */
cairn_err_t cairn__recon_seal(cairn_recon_set_t *set);
void cairn__recon_free(cairn_recon_set_t *set);

/* The items of range r: [*lo, *hi). */
void cairn__recon_span(const cairn_recon_set_t *set, cairn_recon_range_t r, size_t *lo, size_t *hi);

/* Range r's item count and fingerprint (all zero when empty). */
void cairn__recon_fp(const cairn_recon_set_t *set, cairn_recon_range_t r, uint64_t *count,
                     uint8_t fp[CAIRN_RECON_FP_BYTES]);

/* Whether plan lies in range r. */
int cairn__recon_contains(cairn_recon_range_t r, const uint8_t *plan);

/* The item for plan, or NULL. */
cairn_recon_item_t *cairn__recon_find(const cairn_recon_set_t *set, const uint8_t *plan);

#endif
