/*
 * cursor.c - the changes of a plan a peer lacks, handed out one at a time.
 *
 * A push must not hold a plan's decoded log: a plan of 100,000 changes
 * would be 100,000 decoded changes in memory for one peer. So the cursor
 * splits the work. Opening it reads the plan's log index (keys of author,
 * seq and id; values the change's HLC) in one read transaction, decides
 * author by author what the peer lacks, and keeps only the (HLC, id) of
 * each selected change, sorted. Each cairn_cursor_next() then reads one
 * change's signed bytes in its own short read transaction.
 *
 * The order is (HLC, id) made causal: every change after the selected
 * changes it names (prev, deps, pred), so a receiver never parks one. The
 * clocks usually give that order already; opening decodes each selected
 * change once, for the ids it names, to make sure (order_causally), and
 * keeps only the edges.
 *
 * Why a read transaction per burst of next() (until cairn_cursor_pause)
 * rather than one for the cursor's life: a push is paced by the network
 * (the output limit), so a cursor may live for seconds or minutes; an LMDB
 * reader held that long pins every page the writer frees meanwhile and
 * makes the map grow. The session pauses the cursor each time it stops
 * pushing, so a snapshot lives for one burst of frames. A change is never
 * removed from the log once applied, so a change selected at open is still
 * there in any later snapshot.
 */
#include "cairn/replica.h"

#include "causal.h"
#include "grow.h"
#include "log.h"
#include "pkeys.h"
#include "store_int.h"

#include <stdlib.h>
#include <string.h>

/* A change selected for the peer: what ordering needs, not its bytes. */
typedef struct cursor_item {
    uint64_t hlc;
    uint8_t id[CAIRN_CHANGE_ID_BYTES];
} cursor_item_t;

/* One author's log entries, while its group is read. */
typedef struct group_entry {
    uint64_t seq;
    uint8_t id[CAIRN_CHANGE_ID_BYTES];
} group_entry_t;

struct cairn_cursor {
    cairn_store_t *store;
    uint8_t plan[CAIRN_PLAN_ID_BYTES];
    cursor_item_t *items;
    size_t n, cap, at;
    cairn_buf_t buf;  /* the bytes last handed out */
    cairn_txn_t *txn; /* the read snapshot of the current burst of next() */
};

/* The scan's state: the author being read and what is selected so far. */
typedef struct open_ctx {
    cairn_txn_t *txn;
    cairn_cursor_t *cur;
    const cairn_vec_entry_t *peer;
    size_t npeer;
    uint8_t author[32];
    group_entry_t *group;
    size_t ngroup, cap_group;
    cairn_err_t err;
} open_ctx_t;

/* The peer's entry for author (peer sorted by author), or NULL. */
static const cairn_vec_entry_t *peer_entry(const open_ctx_t *o, const uint8_t *author)
{
    size_t lo = 0, hi = o->npeer;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = memcmp(o->peer[mid].author, author, 32);
        if (c == 0)
            return &o->peer[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

/*
 * Whether the peer may lack more than the author's changes above its
 * max_seq: it holds a fork, we hold one below its max_seq, or we do not
 * hold its head (its chain went another way). Then all of the author's
 * changes are sent; ingest drops what the peer has.
 */
static int send_all(open_ctx_t *o, const cairn_vec_entry_t *p)
{
    if (p == NULL || p->count != p->max_seq)
        return 1;
    uint64_t mine_max = o->group[o->ngroup - 1].seq; /* keys run by seq */
    uint64_t upto = p->max_seq < mine_max ? p->max_seq : mine_max, held = 0;
    for (size_t k = 0; k < o->ngroup; k++)
        held += o->group[k].seq <= upto;
    if (held != upto)
        return 1;
    if (p->max_seq > mine_max)
        return 0; /* it is ahead: it will find out from our vector if we went astray */
    int rc = cairn__log_has(o->txn, o->cur->plan, p->head);
    if (rc < 0)
        o->err = (cairn_err_t)rc;
    return rc == 0;
}

/* Keep the id of one selected change (its HLC comes with the ordering pass). */
static cairn_err_t select_change(open_ctx_t *o, const group_entry_t *g)
{
    cairn_cursor_t *cur = o->cur;
    cairn_err_t err = cairn_grow(&cur->items, &cur->cap, cur->n, sizeof *cur->items, 64);
    if (err != CAIRN_OK)
        return err;
    cur->items[cur->n].hlc = 0;
    memcpy(cur->items[cur->n].id, g->id, CAIRN_CHANGE_ID_BYTES);
    cur->n++;
    return CAIRN_OK;
}

/*
 * The author just read in full: all of its changes when send_all says so,
 * otherwise those above the peer's max_seq.
 */
static void finish_group(open_ctx_t *o)
{
    if (o->ngroup == 0 || o->err != CAIRN_OK)
        return;
    const cairn_vec_entry_t *p = peer_entry(o, o->author);
    int all = send_all(o, p);
    for (size_t i = 0; i < o->ngroup && o->err == CAIRN_OK; i++)
        if (all || o->group[i].seq > p->max_seq)
            o->err = select_change(o, &o->group[i]);
    o->ngroup = 0;
}

/* One log key: (plan, 3, author, seq, id), in that order. */
static int on_log_key(void *ctx, const uint8_t *key, size_t len)
{
    open_ctx_t *o = ctx;
    if (len != CAIRN_PK_LOG_BYTES)
        return 0;
    const uint8_t *author = key + CAIRN_PK_PREFIX;
    if (o->ngroup > 0 && memcmp(author, o->author, 32) != 0)
        finish_group(o);
    if (o->err == CAIRN_OK)
        o->err = cairn_grow(&o->group, &o->cap_group, o->ngroup, sizeof *o->group, 64);
    if (o->err != CAIRN_OK)
        return 1;
    memcpy(o->author, author, 32);
    group_entry_t *g = &o->group[o->ngroup++];
    g->seq = cairn_pk_log_seq(key);
    memcpy(g->id, key + CAIRN_PK_SEQ_BYTES, CAIRN_CHANGE_ID_BYTES);
    return 0;
}

static int cmp_item(const void *a, const void *b)
{
    const cursor_item_t *x = a, *y = b;
    if (x->hlc != y->hlc)
        return x->hlc < y->hlc ? -1 : 1;
    return memcmp(x->id, y->id, CAIRN_CHANGE_ID_BYTES);
}

/* The items' indices sorted by id, to find a named change among them. */
typedef struct by_id {
    const cursor_item_t *items;
    size_t *idx, n;
} by_id_t;

static int cmp_idx_id(const void *a, const void *b, void *ctx)
{
    const cursor_item_t *items = ctx;
    return memcmp(items[*(const size_t *)a].id, items[*(const size_t *)b].id,
                  CAIRN_CHANGE_ID_BYTES);
}

static size_t find_item(void *ctx, const uint8_t *id)
{
    const by_id_t *b = ctx;
    size_t lo = 0, hi = b->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = memcmp(b->items[b->idx[mid]].id, id, CAIRN_CHANGE_ID_BYTES);
        if (c == 0)
            return b->idx[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return SIZE_MAX;
}

/* The item indices in (HLC, id) order. */
static int cmp_idx_clock(const void *a, const void *b, void *ctx)
{
    const cursor_item_t *items = ctx;
    return cmp_item(&items[*(const size_t *)a], &items[*(const size_t *)b]);
}

/*
 * Put the selected changes in causal order: each after the selected
 * changes it names, the lower (HLC, id) first among those free to go.
 * Clocks usually agree with causality, but not always: an honest node that
 * applied a change from a clock running days fast holds its own clock at
 * the 24 h bound, so its next change has a lower HLC than the one it
 * names. Each change is decoded once, for its HLC and the ids it names,
 * and freed; only the edges stay.
 */
static cairn_err_t order_causally(cairn_txn_t *txn, cairn_cursor_t *cur)
{
    size_t n = cur->n, nedges = 0, cap = 0;
    by_id_t b = {cur->items, malloc(n * sizeof(size_t)), n};
    size_t *by_clock = malloc(n * sizeof *by_clock), *rank = malloc(n * sizeof *rank);
    size_t *order = malloc(n * sizeof *order);
    cursor_item_t *sorted = malloc(n * sizeof *sorted);
    cairn_edge_t *e = NULL;
    cairn_buf_t buf = CAIRN_BUF_INIT;
    cairn_err_t err = b.idx && by_clock && rank && order && sorted ? CAIRN_OK : CAIRN_ENOMEM;
    for (size_t i = 0; i < n && err == CAIRN_OK; i++)
        b.idx[i] = by_clock[i] = i;
    if (err == CAIRN_OK)
        qsort_r(b.idx, n, sizeof *b.idx, cmp_idx_id, cur->items);
    /* Edges between item indices, as selected; clocks from the changes themselves. */
    for (size_t i = 0; i < n && err == CAIRN_OK; i++) {
        cairn_change_t *c = NULL;
        err = cairn__log_bytes(txn, cur->plan, cur->items[i].id, &buf);
        if (err == CAIRN_ENOTFOUND)
            err = CAIRN_ECORRUPT; /* indexed in the log, so it was applied */
        if (err == CAIRN_OK && cairn_change_decode(buf.data, buf.len, &c) != CAIRN_OK)
            err = CAIRN_ECORRUPT;
        if (err == CAIRN_OK) {
            cur->items[i].hlc = c->hlc;
            err = cairn__causal_edges(c, i, find_item, &b, &e, &nedges, &cap);
        }
        cairn_change_free(c);
    }
    /* Renumber by (HLC, id), so the walk's lowest-first is the clock order. */
    if (err == CAIRN_OK) {
        qsort_r(by_clock, n, sizeof *by_clock, cmp_idx_clock, cur->items);
        for (size_t r = 0; r < n; r++)
            rank[by_clock[r]] = r;
        for (size_t k = 0; k < nedges; k++)
            e[k] = (cairn_edge_t){rank[e[k].from], rank[e[k].to]};
        err = cairn__topo_order(n, e, nedges, order);
    }
    if (err == CAIRN_OK) {
        for (size_t i = 0; i < n; i++)
            sorted[i] = cur->items[by_clock[order[i]]];
        memcpy(cur->items, sorted, n * sizeof *sorted);
    }
    cairn_buf_free(&buf);
    free(b.idx);
    free(by_clock);
    free(rank);
    free(order);
    free(sorted);
    free(e);
    return err;
}

cairn_err_t cairn_cursor_open(cairn_store_t *store, const uint8_t plan[CAIRN_PLAN_ID_BYTES],
                              const cairn_vec_entry_t *peer, size_t npeer, cairn_cursor_t **out)
{
    if (store == NULL || plan == NULL || out == NULL || (npeer > 0 && peer == NULL))
        return CAIRN_EINVAL;
    *out = NULL;
    open_ctx_t o;
    memset(&o, 0, sizeof o);
    o.peer = peer;
    o.npeer = npeer;
    o.cur = calloc(1, sizeof *o.cur);
    if (o.cur == NULL)
        return CAIRN_ENOMEM;
    o.cur->store = store;
    memcpy(o.cur->plan, plan, CAIRN_PLAN_ID_BYTES);
    cairn_err_t err = cairn__kv_begin(&store->kv, 0, &o.txn);
    if (err != CAIRN_OK)
        goto out;
    uint8_t prefix[CAIRN_PK_PREFIX];
    cairn_pk_prefix(prefix, plan, CAIRN_PK_LOG);
    err = cairn__db_scan(o.txn, CAIRN_DB_PLANS, prefix, sizeof prefix, on_log_key, &o);
    if (err == CAIRN_OK) {
        finish_group(&o); /* the last author */
        err = o.err;
    }
    if (err == CAIRN_OK && o.cur->n > 1)
        err = order_causally(o.txn, o.cur);
    cairn_txn_abort(o.txn);
out:
    free(o.group);
    if (err != CAIRN_OK) {
        cairn_cursor_close(o.cur);
        return err;
    }
    *out = o.cur;
    return CAIRN_OK;
}

size_t cairn_cursor_count(const cairn_cursor_t *cur)
{
    return cur == NULL ? 0 : cur->n;
}

cairn_err_t cairn_cursor_next(cairn_cursor_t *cur, const uint8_t **bytes, size_t *len)
{
    if (cur == NULL || bytes == NULL || len == NULL)
        return CAIRN_EINVAL;
    *bytes = NULL;
    *len = 0;
    if (cur->at == cur->n) {
        cairn_cursor_pause(cur);
        return CAIRN_ENOTFOUND;
    }
    cairn_err_t err = CAIRN_OK;
    if (cur->txn == NULL)
        err = cairn__kv_begin(&cur->store->kv, 0, &cur->txn);
    if (err == CAIRN_OK)
        err = cairn__log_bytes(cur->txn, cur->plan, cur->items[cur->at].id, &cur->buf);
    if (err == CAIRN_ENOTFOUND)
        err = CAIRN_ECORRUPT; /* selected from the log, so it was applied: never removed */
    if (err != CAIRN_OK)
        return err;
    cur->at++;
    *bytes = cur->buf.data;
    *len = cur->buf.len;
    return CAIRN_OK;
}

void cairn_cursor_pause(cairn_cursor_t *cur)
{
    if (cur != NULL && cur->txn != NULL) {
        cairn_txn_abort(cur->txn);
        cur->txn = NULL;
    }
}

void cairn_cursor_close(cairn_cursor_t *cur)
{
    if (cur == NULL)
        return;
    cairn_cursor_pause(cur);
    free(cur->items);
    cairn_buf_free(&cur->buf);
    free(cur);
}
