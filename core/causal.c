/*
 * causal.c - a topological order of changes (Kahn's algorithm).
 *
 * Honest authors' clocks usually respect causality (a node's clock moves
 * past every change it applies), so the (HLC, id) order is almost always
 * the answer; the graph walk makes it correct for any input: a clock that
 * lies, or one held back by the 24 h bound after a peer's clock ran fast.
 */
#include "causal.h"

#include "grow.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static int cmp_edge(const void *a, const void *b)
{
    const cairn_edge_t *x = a, *y = b;
    if (x->from != y->from)
        return x->from < y->from ? -1 : 1;
    return (x->to > y->to) - (x->to < y->to);
}

/* A binary min-heap of node indices. */
static void heap_push(size_t *h, size_t *len, size_t v)
{
    size_t i = (*len)++;
    h[i] = v;
    while (i > 0 && h[i] < h[(i - 1) / 2]) {
        size_t p = (i - 1) / 2, t = h[p];
        h[p] = h[i];
        h[i] = t;
        i = p;
    }
}

static size_t heap_pop(size_t *h, size_t *len)
{
    size_t top = h[0], i = 0;
    h[0] = h[--(*len)];
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < *len && h[l] < h[m])
            m = l;
        if (r < *len && h[r] < h[m])
            m = r;
        if (m == i)
            return top;
        size_t t = h[m];
        h[m] = h[i];
        h[i] = t;
        i = m;
    }
}

cairn_err_t cairn__topo_order(size_t n, cairn_edge_t *e, size_t nedges, size_t *order)
{
    size_t *indeg = calloc(n ? n : 1, sizeof *indeg), *first = malloc((n + 1) * sizeof *first);
    size_t *heap = malloc((n ? n : 1) * sizeof *heap), hlen = 0, done = 0;
    cairn_err_t err = (indeg && first && heap) ? CAIRN_OK : CAIRN_ENOMEM;
    if (err == CAIRN_OK) {
        if (nedges > 1) /* e may be NULL when there are none */
            qsort(e, nedges, sizeof *e, cmp_edge);
        size_t u = 0;
        for (size_t i = 0; i < nedges; i++)
            if (u == 0 || cmp_edge(&e[u - 1], &e[i]) != 0)
                e[u++] = e[i];
        nedges = u;
        /* first[v]: where v's outgoing edges start in e (sorted by from). */
        for (size_t i = 0, k = 0; i <= n; i++) {
            while (k < nedges && e[k].from < i)
                k++;
            first[i] = k;
        }
        for (size_t k = 0; k < nedges; k++)
            indeg[e[k].to]++;
        for (size_t i = 0; i < n; i++)
            if (indeg[i] == 0)
                heap_push(heap, &hlen, i);
        while (hlen > 0) {
            size_t v = heap_pop(heap, &hlen);
            order[done++] = v;
            for (size_t k = first[v]; k < first[v + 1]; k++)
                if (--indeg[e[k].to] == 0)
                    heap_push(heap, &hlen, e[k].to);
        }
        /* A cycle cannot be built from hashes; if one were, keep the rest in order. */
        for (size_t i = 0; done < n && i < n; i++)
            if (indeg[i] > 0)
                order[done++] = i;
    }
    free(indeg);
    free(first);
    free(heap);
    return err;
}

static cairn_err_t edge_add(size_t from, size_t to, cairn_edge_t **e, size_t *n, size_t *cap)
{
    cairn_err_t err = cairn_grow(e, cap, *n, sizeof **e, 64);
    if (err == CAIRN_OK)
        (*e)[(*n)++] = (cairn_edge_t){from, to};
    return err;
}

cairn_err_t cairn__causal_edges(const cairn_change_t *c, size_t to,
                                size_t (*find)(void *ctx, const uint8_t *id), void *ctx,
                                cairn_edge_t **e, size_t *n, size_t *cap)
{
    cairn_err_t err = CAIRN_OK;
    size_t j;
    for (size_t d = 0; d < c->ndeps && err == CAIRN_OK; d++)
        if ((j = find(ctx, c->deps[d])) != SIZE_MAX && j != to)
            err = edge_add(j, to, e, n, cap);
    if (err == CAIRN_OK && c->has_prev && (j = find(ctx, c->prev)) != SIZE_MAX && j != to)
        err = edge_add(j, to, e, n, cap);
    for (size_t k = 0; k < c->nops && err == CAIRN_OK; k++)
        for (size_t p = 0; p < c->ops[k].npred && err == CAIRN_OK; p++)
            if ((j = find(ctx, c->ops[k].pred[p].bytes)) != SIZE_MAX && j != to)
                err = edge_add(j, to, e, n, cap);
    return err;
}

/* ---- over decoded changes ----------------------------------------------------------- */

typedef struct sorter {
    cairn_change_t *const *cs;
    size_t *rank;  /* rank[i]: position of cs[i] in (HLC, id) order */
    size_t *by_id; /* indices of cs sorted by change id */
    size_t n;
} sorter_t;

static int cmp_by_id(const void *a, const void *b, void *ctx)
{
    cairn_change_t *const *cs = ctx;
    return memcmp(cs[*(const size_t *)a]->id, cs[*(const size_t *)b]->id, CAIRN_CHANGE_ID_BYTES);
}

static int cmp_by_clock(const void *a, const void *b, void *ctx)
{
    cairn_change_t *const *cs = ctx;
    const cairn_change_t *x = cs[*(const size_t *)a], *y = cs[*(const size_t *)b];
    if (x->hlc != y->hlc)
        return x->hlc < y->hlc ? -1 : 1;
    return memcmp(x->id, y->id, CAIRN_CHANGE_ID_BYTES);
}

/* The (HLC, id) rank of the change with id, or SIZE_MAX. */
static size_t find_rank(void *ctx, const uint8_t *id)
{
    const sorter_t *s = ctx;
    size_t lo = 0, hi = s->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = memcmp(s->cs[s->by_id[mid]]->id, id, CAIRN_CHANGE_ID_BYTES);
        if (c == 0)
            return s->rank[s->by_id[mid]];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return SIZE_MAX;
}

cairn_err_t cairn__causal_order(cairn_change_t *const *cs, size_t n, size_t *order)
{
    size_t m = n ? n : 1;
    sorter_t s = {cs, malloc(m * sizeof(size_t)), malloc(m * sizeof(size_t)), n};
    size_t *by_clock = malloc(m * sizeof *by_clock), nedges = 0, cap = 0;
    cairn_edge_t *e = NULL;
    cairn_err_t err = (s.rank && s.by_id && by_clock) ? CAIRN_OK : CAIRN_ENOMEM;
    if (err == CAIRN_OK) {
        for (size_t i = 0; i < n; i++)
            s.by_id[i] = by_clock[i] = i;
        qsort_r(s.by_id, n, sizeof *s.by_id, cmp_by_id, (void *)(uintptr_t)cs);
        qsort_r(by_clock, n, sizeof *by_clock, cmp_by_clock, (void *)(uintptr_t)cs);
        for (size_t r = 0; r < n; r++)
            s.rank[by_clock[r]] = r;
    }
    for (size_t i = 0; i < n && err == CAIRN_OK; i++)
        err = cairn__causal_edges(cs[i], s.rank[i], find_rank, &s, &e, &nedges, &cap);
    if (err == CAIRN_OK)
        err = cairn__topo_order(n, e, nedges, order); /* ranks, in order */
    for (size_t i = 0; i < n && err == CAIRN_OK; i++)
        order[i] = by_clock[order[i]];
    free(s.rank);
    free(s.by_id);
    free(by_clock);
    free(e);
    return err;
}
