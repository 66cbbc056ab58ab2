/*
 * causal.c - a topological order of changes (Kahn's algorithm).
 *
 * Honest authors' clocks already respect causality (a node's clock moves
 * past every change it applies), so the (HLC, id) order is almost always
 * the answer; the graph walk makes it correct for any input, including
 * clocks that lie.
 */
#include "causal.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct edge {
    size_t from, to; /* to names from */
} edge_t;

typedef struct sorter {
    cairn_change_t *const *cs;
    size_t *by_id; /* indices sorted by change id */
    size_t n;
} sorter_t;

static int cmp_by_id(const void *a, const void *b, void *ctx)
{
    cairn_change_t *const *cs = ctx;
    const cairn_change_t *x = cs[*(const size_t *)a];
    const cairn_change_t *y = cs[*(const size_t *)b];
    return memcmp(x->id, y->id, CAIRN_CHANGE_ID_BYTES);
}

static int cmp_edge(const void *a, const void *b)
{
    const edge_t *x = a, *y = b;
    if (x->from != y->from)
        return x->from < y->from ? -1 : 1;
    return (x->to > y->to) - (x->to < y->to);
}

/* The index of the change with id, or n. */
static size_t find(const sorter_t *s, const uint8_t *id)
{
    size_t lo = 0, hi = s->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = memcmp(s->cs[s->by_id[mid]]->id, id, CAIRN_CHANGE_ID_BYTES);
        if (c == 0)
            return s->by_id[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return s->n;
}

/* Whether change a goes before change b among those free to go. */
static int before(cairn_change_t *const *cs, size_t a, size_t b)
{
    if (cs[a]->hlc != cs[b]->hlc)
        return cs[a]->hlc < cs[b]->hlc;
    return memcmp(cs[a]->id, cs[b]->id, CAIRN_CHANGE_ID_BYTES) < 0;
}

/* A binary min-heap of change indices under before(). */
static void heap_push(cairn_change_t *const *cs, size_t *h, size_t *len, size_t v)
{
    size_t i = (*len)++;
    h[i] = v;
    while (i > 0 && before(cs, h[i], h[(i - 1) / 2])) {
        size_t p = (i - 1) / 2, t = h[p];
        h[p] = h[i];
        h[i] = t;
        i = p;
    }
}

static size_t heap_pop(cairn_change_t *const *cs, size_t *h, size_t *len)
{
    size_t top = h[0], i = 0;
    h[0] = h[--(*len)];
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < *len && before(cs, h[l], h[m]))
            m = l;
        if (r < *len && before(cs, h[r], h[m]))
            m = r;
        if (m == i)
            return top;
        size_t t = h[m];
        h[m] = h[i];
        h[i] = t;
        i = m;
    }
}

/* Every (named, naming) pair within cs, deduplicated. */
static cairn_err_t collect_edges(const sorter_t *s, edge_t **out, size_t *nout)
{
    size_t cap = 0;
    for (size_t i = 0; i < s->n; i++) {
        cap += s->cs[i]->ndeps + 1;
        for (size_t k = 0; k < s->cs[i]->nops; k++)
            cap += s->cs[i]->ops[k].npred;
    }
    edge_t *e = malloc((cap ? cap : 1) * sizeof *e);
    if (e == NULL)
        return CAIRN_ENOMEM;
    size_t n = 0;
    for (size_t i = 0; i < s->n; i++) {
        const cairn_change_t *c = s->cs[i];
        size_t j;
        for (size_t d = 0; d < c->ndeps; d++)
            if ((j = find(s, c->deps[d])) != s->n && j != i)
                e[n++] = (edge_t){j, i};
        if (c->has_prev && (j = find(s, c->prev)) != s->n && j != i)
            e[n++] = (edge_t){j, i};
        for (size_t k = 0; k < c->nops; k++)
            for (size_t p = 0; p < c->ops[k].npred; p++)
                if ((j = find(s, c->ops[k].pred[p].bytes)) != s->n && j != i)
                    e[n++] = (edge_t){j, i};
    }
    qsort(e, n, sizeof *e, cmp_edge);
    size_t u = 0;
    for (size_t i = 0; i < n; i++)
        if (u == 0 || cmp_edge(&e[u - 1], &e[i]) != 0)
            e[u++] = e[i];
    *out = e;
    *nout = u;
    return CAIRN_OK;
}

cairn_err_t cairn_causal_order(cairn_change_t *const *cs, size_t n, size_t *order)
{
    sorter_t s = {cs, malloc((n ? n : 1) * sizeof(size_t)), n};
    size_t *indeg = calloc(n ? n : 1, sizeof *indeg), *first = malloc((n + 1) * sizeof *first);
    size_t *heap = malloc((n ? n : 1) * sizeof *heap), nedges = 0, hlen = 0, done = 0;
    edge_t *e = NULL;
    cairn_err_t err = (s.by_id && indeg && first && heap) ? CAIRN_OK : CAIRN_ENOMEM;
    if (err == CAIRN_OK) {
        for (size_t i = 0; i < n; i++)
            s.by_id[i] = i;
        qsort_r(s.by_id, n, sizeof *s.by_id, cmp_by_id, (void *)(uintptr_t)cs);
        err = collect_edges(&s, &e, &nedges);
    }
    if (err == CAIRN_OK) {
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
                heap_push(cs, heap, &hlen, i);
        while (hlen > 0) {
            size_t v = heap_pop(cs, heap, &hlen);
            order[done++] = v;
            for (size_t k = first[v]; k < first[v + 1]; k++)
                if (--indeg[e[k].to] == 0)
                    heap_push(cs, heap, &hlen, e[k].to);
        }
        /* A cycle cannot be built from hashes; if one were, keep the rest in id order. */
        for (size_t i = 0; done < n && i < n; i++)
            if (indeg[s.by_id[i]] > 0)
                order[done++] = s.by_id[i];
    }
    free(s.by_id);
    free(indeg);
    free(first);
    free(heap);
    free(e);
    return err;
}
