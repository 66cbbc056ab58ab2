/*
 * causal.h - putting a plan's changes in an order a receiver can apply
 * (private).
 */
#ifndef CAIRN_CORE_CAUSAL_H
#define CAIRN_CORE_CAUSAL_H

#include "cairn/change.h"

/* An edge of the graph of changes: change to names change from. */
typedef struct cairn_edge {
    size_t from, to;
} cairn_edge_t;

/*
 * Fill order[0..n) with 0..n-1 so that every node comes after the nodes
 * that edges (nedges of them, any order, duplicates allowed; sorted in
 * place) say it names; among nodes free to go, the lowest index first. So
 * nodes numbered in (HLC, id) order come out in that order wherever it is
 * causal. CAIRN_ENOMEM only.
 */
cairn_err_t cairn__topo_order(size_t n, cairn_edge_t *edges, size_t nedges, size_t *order);

/*
 * Fill order[0..n) with the indices of cs so that every change comes after
 * the changes of cs it names (prev, deps, pred); among changes free to go,
 * the lower (HLC, id) first, so the order is the same on every node.
 * References to changes outside cs are ignored. CAIRN_ENOMEM only.
 */
cairn_err_t cairn__causal_order(cairn_change_t *const *cs, size_t n, size_t *order);

/*
 * The edges from the changes that c (node to) names to c: for each id c
 * names that find(ctx, id) maps to a node (not SIZE_MAX, not to itself),
 * appended to *edges (grown as needed; *n and *cap updated).
 */
cairn_err_t cairn__causal_edges(const cairn_change_t *c, size_t to,
                                size_t (*find)(void *ctx, const uint8_t *id), void *ctx,
                                cairn_edge_t **edges, size_t *n, size_t *cap);

#endif
