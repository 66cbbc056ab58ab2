/*
 * recon.c - the item set, ranges and fingerprints of reconciliation.
 */
#include "recon.h"

#include "grow.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

cairn_err_t cairn__recon_add(cairn_recon_set_t *set, const uint8_t *plan, const uint8_t *digest)
{
    if (cairn_grow(&set->items, &set->cap, set->n, sizeof *set->items, 256) != CAIRN_OK)
        return CAIRN_ENOMEM;
    memcpy(set->items[set->n].plan, plan, CAIRN_PLAN_ID_BYTES);
    memcpy(set->items[set->n].digest, digest, CAIRN_SYNC_DIGEST_BYTES);
    set->items[set->n].queued = 0;
    set->n++;
    return CAIRN_OK;
}

static int cmp_item(const void *a, const void *b)
{
    return memcmp(a, b, CAIRN_PLAN_ID_BYTES);
}

static uint64_t load_le64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

cairn_err_t cairn__recon_seal(cairn_recon_set_t *set)
{
    if (set->n > 1)
        qsort(set->items, set->n, sizeof *set->items, cmp_item);
    for (size_t i = 1; i < set->n; i++)
        if (cmp_item(&set->items[i - 1], &set->items[i]) == 0)
            return CAIRN_EINVAL;
    free(set->sums);
    set->sums = malloc((set->n + 1) * sizeof *set->sums);
    if (set->sums == NULL)
        return CAIRN_ENOMEM;
    set->sums[0][0] = set->sums[0][1] = 0;
    for (size_t i = 0; i < set->n; i++) {
        uint8_t h[16];
        crypto_generichash_state hs; /* the item is its plan and digest; the flag is not */
        crypto_generichash_init(&hs, NULL, 0, sizeof h);
        crypto_generichash_update(&hs, set->items[i].plan, CAIRN_PLAN_ID_BYTES);
        crypto_generichash_update(&hs, set->items[i].digest, CAIRN_SYNC_DIGEST_BYTES);
        crypto_generichash_final(&hs, h, sizeof h);
        uint64_t lo = set->sums[i][0] + load_le64(h);
        set->sums[i + 1][0] = lo;
        set->sums[i + 1][1] = set->sums[i][1] + load_le64(h + 8) + (lo < set->sums[i][0]);
    }
    return CAIRN_OK;
}

void cairn__recon_free(cairn_recon_set_t *set)
{
    free(set->items);
    free(set->sums);
    memset(set, 0, sizeof *set);
}

/* The first 64 bits of a plan id, big-endian: what ranges are prefixes of. */
static uint64_t key64(const uint8_t *plan)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | plan[i];
    return v;
}

int cairn__recon_contains(cairn_recon_range_t r, const uint8_t *plan)
{
    if (r.depth == 0)
        return 1;
    return key64(plan) >> (64 - 4 * r.depth) == r.prefix;
}

/* The first index whose key64 is >= k. */
static size_t lower(const cairn_recon_set_t *set, uint64_t k)
{
    size_t lo = 0, hi = set->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (key64(set->items[mid].plan) < k)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

void cairn__recon_span(const cairn_recon_set_t *set, cairn_recon_range_t r, size_t *lo, size_t *hi)
{
    if (r.depth == 0) {
        *lo = 0;
        *hi = set->n;
        return;
    }
    unsigned shift = 64 - 4 * r.depth;
    uint64_t first = r.prefix << shift;
    uint64_t last = first | ((shift == 64 ? 0 : (UINT64_C(1) << shift)) - 1);
    *lo = lower(set, first);
    *hi = last == UINT64_MAX ? set->n : lower(set, last + 1);
}

void cairn__recon_fp(const cairn_recon_set_t *set, cairn_recon_range_t r, uint64_t *count,
                     uint8_t fp[CAIRN_RECON_FP_BYTES])
{
    size_t lo, hi;
    cairn__recon_span(set, r, &lo, &hi);
    *count = hi - lo;
    uint64_t s = hi > lo ? set->sums[hi][0] - set->sums[lo][0] : 0;
    uint64_t t =
        hi > lo ? set->sums[hi][1] - set->sums[lo][1] - (set->sums[hi][0] < set->sums[lo][0]) : 0;
    /* Fold the 128-bit sum into the bytes sent. */
    uint64_t f = s ^ (t * UINT64_C(0x9e3779b97f4a7c15));
    for (int i = 0; i < CAIRN_RECON_FP_BYTES; i++)
        fp[i] = (uint8_t)(f >> (8 * i));
}

cairn_recon_item_t *cairn__recon_find(const cairn_recon_set_t *set, const uint8_t *plan)
{
    if (set->n == 0)
        return NULL;
    return bsearch(plan, set->items, set->n, sizeof *set->items, cmp_item);
}
