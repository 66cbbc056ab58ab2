/*
 * causal.h - putting a plan's changes in an order a receiver can apply
 * (private).
 */
#ifndef CAIRN_CORE_CAUSAL_H
#define CAIRN_CORE_CAUSAL_H

#include "cairn/change.h"

/*
 * Fill order[0..n) with the indices of cs so that every change comes after
 * the changes of cs it names (prev, deps, pred); among changes free to go,
 * the lower (HLC, id) first, so the order is the same on every node.
 * References to changes outside cs are ignored. CAIRN_ENOMEM only.
 */
cairn_err_t cairn_causal_order(cairn_change_t *const *cs, size_t n, size_t *order);

#endif
