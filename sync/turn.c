/*
 * turn.c - reconciliation turns: what to ask, what to answer, what to send.
 *
 * On reading the peer's TURN, for each of its
 *   ranges (count, fingerprint): equal to ours, nothing; we hold nothing
 *     there, ask for all of it; it holds nothing, push all of ours; both
 *     small, send our items; else send the 16 children's fingerprints;
 *   item lists: compare with ours; for each plan that differs or only it
 *     holds, send our vector; plans only we hold, push all;
 *   vectors: push what it lacks; if it holds what we lack, send a want
 *     with our vector;
 *   wants: push what it lacks; alls: push every plan of ours in the range.
 * Pushes go out first, roster first, in CHANGES frames; then our TURN.
 */
#include "turn.h"

#include "cairn/ingest.h"
#include "grow.h"
#include "mpscan.h"

#include <msgpack.h>
#include <stdlib.h>
#include <string.h>

#define LEAF_ITEMS 8                       /* ranges this small go as item lists */
/* The most items a list may hold: LEAF_ITEMS, and slack for the deepest ranges. */
#define ITEMS_MAX (4 * LEAF_ITEMS)
/*
 * A TURN stays well under a frame: past this estimate a turn asks no more
 * (further differing ranges and plans wait for the next session, which
 * starts from what this one settled).
 */
#define REPLY_BUDGET ((size_t)512 << 10)
#define CHANGES_FRAME_BYTES ((size_t)256 << 10)
#define CHANGES_FRAME_MAX 2048

#define PUSH_BACK(arr, n, cap) cairn_grow(&(arr), &(cap), (n), sizeof *(arr), 16)

static void reply_free(cairn_reply_t *r)
{
    for (size_t i = 0; i < r->nvecs; i++)
        free(r->vecs[i].vec);
    for (size_t i = 0; i < r->nwants; i++)
        free(r->wants[i].vec);
    free(r->ranges);
    free(r->item_ranges);
    free(r->vecs);
    free(r->wants);
    free(r->alls);
    memset(r, 0, sizeof *r);
}

/* Whether the reply has reached its budget (est: an upper estimate of its size). */
static int reply_full(const cairn_sync_t *s)
{
    return s->reply.est > REPLY_BUDGET;
}

static int reply_empty(const cairn_reply_t *r)
{
    return r->nranges == 0 && r->nitems == 0 && r->nvecs == 0 && r->nwants == 0 && r->nalls == 0;
}

static void chg_clear(cairn_sync_t *s)
{
    s->chg.len = s->nchg = 0;
}

void cairn_turn_reset(cairn_sync_t *s)
{
    for (size_t i = 0; i < s->npush; i++)
        free(s->pushes[i].vec);
    free(s->pushes);
    s->pushes = NULL;
    s->npush = s->push_at = s->cap_push = 0;
    reply_free(&s->reply);
    chg_clear(s);
    cairn_buf_free(&s->chg);
    free(s->chg_len);
    s->chg_len = NULL;
    s->cap_chg = 0;
    s->turn_due = 0;
}

/* ---- packing -------------------------------------------------------------------- */

static void pack_vec(msgpack_packer *pk, const cairn_plan_vec_t *v)
{
    msgpack_pack_array(pk, 2);
    cairn_mp_pack_bin(pk, v->plan, CAIRN_PLAN_ID_BYTES);
    msgpack_pack_array(pk, v->nvec);
    for (size_t i = 0; i < v->nvec; i++) {
        msgpack_pack_array(pk, 4);
        cairn_mp_pack_bin(pk, v->vec[i].author, 32);
        msgpack_pack_uint64(pk, v->vec[i].max_seq);
        msgpack_pack_uint64(pk, v->vec[i].count);
        cairn_mp_pack_bin(pk, v->vec[i].head, CAIRN_CHANGE_ID_BYTES);
    }
}

static void pack_range(msgpack_packer *pk, cairn_recon_range_t r, size_t extra)
{
    msgpack_pack_array(pk, 2 + extra);
    msgpack_pack_uint8(pk, r.depth);
    msgpack_pack_uint64(pk, r.prefix);
}

static void pack_items(msgpack_packer *pk, const cairn_recon_set_t *set, cairn_recon_range_t r)
{
    size_t lo, hi;
    cairn_recon_span(set, r, &lo, &hi);
    pack_range(pk, r, 1);
    msgpack_pack_array(pk, hi - lo);
    for (size_t i = lo; i < hi; i++) {
        msgpack_pack_array(pk, 2);
        cairn_mp_pack_bin(pk, set->items[i].plan, CAIRN_PLAN_ID_BYTES);
        cairn_mp_pack_bin(pk, set->items[i].digest, CAIRN_SYNC_DIGEST_BYTES);
    }
}

static uint64_t fp_u64(const uint8_t *fp)
{
    uint64_t v = 0;
    for (int i = CAIRN_RECON_FP_BYTES - 1; i >= 0; i--)
        v = v << 8 | fp[i];
    return v;
}

/* Whether ranges[i..i+16) are the 16 children of one range, in order. */
static int is_split(const cairn_reply_t *r, size_t i)
{
    if (i + 16 > r->nranges || r->ranges[i].r.depth == 0)
        return 0;
    for (size_t c = 0; c < 16; c++) {
        const cairn_recon_range_t *x = &r->ranges[i + c].r;
        if (x->depth != r->ranges[i].r.depth || x->prefix != (r->ranges[i].r.prefix | c) ||
            (r->ranges[i].r.prefix & 15) != 0)
            return 0;
    }
    return 1;
}

/*
 * Ranges: a lone one as [depth, prefix, count, fp]; the 16 children of a
 * range, which is what descending sends, as [depth, parent prefix,
 * [count, fp, ...x16]]: a third of the bytes.
 */
static void pack_ranges(msgpack_packer *pk, const cairn_reply_t *r)
{
    size_t n = 0;
    for (size_t i = 0; i < r->nranges; i += is_split(r, i) ? 16 : 1)
        n++;
    msgpack_pack_array(pk, n);
    for (size_t i = 0; i < r->nranges;) {
        const cairn_range_fp_t *f = &r->ranges[i];
        if (is_split(r, i)) {
            msgpack_pack_array(pk, 3);
            msgpack_pack_uint8(pk, f->r.depth);
            msgpack_pack_uint64(pk, f->r.prefix >> 4);
            msgpack_pack_array(pk, 32);
            for (size_t c = 0; c < 16; c++) {
                msgpack_pack_uint64(pk, r->ranges[i + c].count);
                msgpack_pack_uint64(pk, fp_u64(r->ranges[i + c].fp));
            }
            i += 16;
        } else {
            pack_range(pk, f->r, 2);
            msgpack_pack_uint64(pk, f->count);
            msgpack_pack_uint64(pk, fp_u64(f->fp));
            i++;
        }
    }
}

/* Our TURN: [2, ranges, items, vecs, wants, alls]. */
static cairn_err_t send_turn(cairn_sync_t *s)
{
    cairn_reply_t *r = &s->reply;
    cairn_buf_t buf = CAIRN_BUF_INIT;
    cairn_mp_sink_t sink = {&buf, 0};
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sink, cairn_mp_sink_write);
    msgpack_pack_array(&pk, 6);
    msgpack_pack_uint8(&pk, CAIRN_FRAME_TURN);
    pack_ranges(&pk, r);
    msgpack_pack_array(&pk, r->nitems);
    for (size_t i = 0; i < r->nitems; i++)
        pack_items(&pk, &s->mine, r->item_ranges[i]);
    msgpack_pack_array(&pk, r->nvecs);
    for (size_t i = 0; i < r->nvecs; i++)
        pack_vec(&pk, &r->vecs[i]);
    msgpack_pack_array(&pk, r->nwants);
    for (size_t i = 0; i < r->nwants; i++)
        pack_vec(&pk, &r->wants[i]);
    msgpack_pack_array(&pk, r->nalls);
    for (size_t i = 0; i < r->nalls; i++)
        pack_range(&pk, r->alls[i], 0);
    cairn_err_t err = sink.oom ? CAIRN_ENOMEM : CAIRN_OK;
    if (err == CAIRN_OK && buf.len > CAIRN_SYNC_MAX_FRAME)
        err = CAIRN_ETOOBIG; /* the budget keeps replies far below this */
    if (err == CAIRN_OK)
        err = cairn_sync_send(s, buf.data, buf.len);
    s->stats.turns++;
    cairn_buf_free(&buf);
    reply_free(r);
    return err;
}

/* ---- pushing changes ------------------------------------------------------------ */

static cairn_err_t flush_changes(cairn_sync_t *s)
{
    if (s->nchg == 0)
        return CAIRN_OK;
    cairn_buf_t buf = CAIRN_BUF_INIT;
    cairn_mp_sink_t sink = {&buf, 0};
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sink, cairn_mp_sink_write);
    msgpack_pack_array(&pk, 2);
    msgpack_pack_uint8(&pk, CAIRN_FRAME_CHANGES);
    msgpack_pack_array(&pk, s->nchg);
    for (size_t i = 0, at = 0; i < s->nchg; at += s->chg_len[i++])
        cairn_mp_pack_bin(&pk, s->chg.data + at, s->chg_len[i]);
    cairn_err_t err = sink.oom ? CAIRN_ENOMEM : cairn_sync_send(s, buf.data, buf.len);
    cairn_buf_free(&buf);
    chg_clear(s);
    return err;
}

typedef struct push_ctx {
    cairn_sync_t *s;
    cairn_err_t err;
} push_ctx_t;

static int add_change(void *ctx, const uint8_t *id, const uint8_t *bytes, size_t len)
{
    (void)id;
    push_ctx_t *pc = ctx;
    cairn_sync_t *s = pc->s;
    /* 16 bytes a change covers its bin header and the frame's own. */
    if (s->chg.len + 16 * s->nchg + len + 16 > CHANGES_FRAME_BYTES ||
        s->nchg == CHANGES_FRAME_MAX)
        pc->err = flush_changes(s);
    if (pc->err == CAIRN_OK)
        pc->err = cairn_grow(&s->chg_len, &s->cap_chg, s->nchg, sizeof *s->chg_len, 16);
    if (pc->err == CAIRN_OK)
        pc->err = cairn_buf_reserve(&s->chg, s->chg.len + len);
    if (pc->err != CAIRN_OK)
        return 1;
    memcpy(s->chg.data + s->chg.len, bytes, len);
    s->chg.len += len;
    s->chg_len[s->nchg++] = len;
    s->stats.changes_out++;
    s->stats.change_bytes_out += len;
    return 0;
}

static cairn_err_t run_push(cairn_sync_t *s, const cairn_push_t *p)
{
    push_ctx_t pc = {s, CAIRN_OK};
    cairn_err_t err = cairn_plan_changes_since(s->store, p->plan, p->vec, p->nvec, add_change, &pc);
    return err == CAIRN_OK ? pc.err : err;
}

static size_t unsent(const cairn_sync_t *s)
{
    return s->out.len - s->out_head;
}

cairn_err_t cairn_turn_pump(cairn_sync_t *s)
{
    cairn_err_t err = CAIRN_OK;
    while (err == CAIRN_OK && s->turn_due && s->push_at < s->npush &&
           unsent(s) < s->opts.output_limit)
        err = run_push(s, &s->pushes[s->push_at++]);
    if (err != CAIRN_OK || !s->turn_due || s->push_at < s->npush)
        return err;
    err = flush_changes(s);
    for (size_t i = 0; i < s->npush; i++) {
        cairn_recon_find(&s->mine, s->pushes[i].plan)->queued = 0;
        free(s->pushes[i].vec);
    }
    s->npush = s->push_at = 0;
    s->turn_due = 0;
    if (err != CAIRN_OK)
        return err;
    if (!s->peer_asked && reply_empty(&s->reply)) {
        cairn_sync_close(s, CAIRN_CLOSE_DONE); /* neither side has anything left */
        return CAIRN_OK;
    }
    return send_turn(s);
}

/* Queue a push of plan (ours, so the peer may hold it), roster first. */
static cairn_err_t queue_push(cairn_sync_t *s, const uint8_t *plan, const cairn_vec_entry_t *vec,
                              size_t nvec)
{
    cairn_recon_item_t *item = cairn_recon_find(&s->mine, plan);
    if (item == NULL || item->queued)
        return CAIRN_OK; /* not ours to give this peer, or already on its way */
    cairn_err_t err = PUSH_BACK(s->pushes, s->npush, s->cap_push);
    if (err != CAIRN_OK)
        return err;
    cairn_push_t p = {{0}, NULL, nvec};
    memcpy(p.plan, plan, CAIRN_PLAN_ID_BYTES);
    if (nvec > 0) {
        p.vec = malloc(nvec * sizeof *vec);
        if (p.vec == NULL)
            return CAIRN_ENOMEM;
        memcpy(p.vec, vec, nvec * sizeof *vec);
    }
    item->queued = 1;
    if (memcmp(plan, s->roster_plan, CAIRN_PLAN_ID_BYTES) == 0) {
        /* the roster goes first: it admits the authors of the rest */
        memmove(&s->pushes[1], &s->pushes[0], s->npush * sizeof s->pushes[0]);
        s->pushes[0] = p;
    } else {
        s->pushes[s->npush] = p;
    }
    s->npush++;
    return CAIRN_OK;
}

/* ---- building our reply ------------------------------------------------------------ */

static cairn_err_t add_vec(cairn_plan_vec_t **arr, size_t *n, size_t *cap, cairn_sync_t *s,
                           const uint8_t *plan, int mine_known)
{
    cairn_err_t err = cairn_grow(arr, cap, *n, sizeof **arr, 16);
    if (err != CAIRN_OK)
        return err;
    cairn_plan_vec_t *v = &(*arr)[*n];
    memcpy(v->plan, plan, CAIRN_PLAN_ID_BYTES);
    v->vec = NULL;
    v->nvec = 0;
    if (mine_known)
        err = cairn_plan_vector(s->store, plan, &v->vec, &v->nvec);
    if (err == CAIRN_OK)
        (*n)++;
    s->reply.est += 24 + v->nvec * 64;
    return err;
}

static cairn_err_t add_fp(cairn_sync_t *s, cairn_recon_range_t r)
{
    cairn_reply_t *rp = &s->reply;
    cairn_err_t err = PUSH_BACK(rp->ranges, rp->nranges, rp->cap_ranges);
    if (err != CAIRN_OK)
        return err;
    cairn_range_fp_t *f = &rp->ranges[rp->nranges++];
    rp->est += 24;
    f->r = r;
    cairn_recon_fp(&s->mine, r, &f->count, f->fp);
    return CAIRN_OK;
}

/* Push every plan of ours in range r. */
static cairn_err_t push_range(cairn_sync_t *s, cairn_recon_range_t r)
{
    size_t lo, hi;
    cairn_recon_span(&s->mine, r, &lo, &hi);
    cairn_err_t err = CAIRN_OK;
    for (size_t i = lo; i < hi && err == CAIRN_OK; i++)
        err = queue_push(s, s->mine.items[i].plan, NULL, 0);
    return err;
}

static cairn_err_t on_range(cairn_sync_t *s, cairn_recon_range_t r, uint64_t count,
                            const uint8_t *fp)
{
    uint64_t mc;
    uint8_t mfp[CAIRN_RECON_FP_BYTES];
    cairn_recon_fp(&s->mine, r, &mc, mfp);
    cairn_reply_t *rp = &s->reply;
    if (mc == count && memcmp(mfp, fp, sizeof mfp) == 0)
        return CAIRN_OK;
    if (mc == 0) {
        cairn_err_t err = PUSH_BACK(rp->alls, rp->nalls, rp->cap_alls);
        if (err == CAIRN_OK)
            rp->alls[rp->nalls++] = r;
        rp->est += 16;
        return err;
    }
    if (count == 0)
        return push_range(s, r);
    if (mc + count <= LEAF_ITEMS || r.depth == CAIRN_RECON_MAX_DEPTH) {
        cairn_err_t err = PUSH_BACK(rp->item_ranges, rp->nitems, rp->cap_items);
        if (err == CAIRN_OK)
            rp->item_ranges[rp->nitems++] = r;
        rp->est += 24 + LEAF_ITEMS * 40;
        return err;
    }
    cairn_err_t err = CAIRN_OK;
    for (uint64_t c = 0; c < 16 && err == CAIRN_OK; c++) {
        cairn_recon_range_t child = {(uint8_t)(r.depth + 1), r.prefix << 4 | c};
        err = add_fp(s, child);
    }
    return err;
}

/* ---- reading a frame ------------------------------------------------------------------ */

static int is_bin(const msgpack_object *o, size_t n)
{
    return o->type == MSGPACK_OBJECT_BIN && o->via.bin.size == n;
}

static int is_uint(const msgpack_object *o)
{
    return o->type == MSGPACK_OBJECT_POSITIVE_INTEGER;
}

static int is_array(const msgpack_object *o, size_t n)
{
    return o->type == MSGPACK_OBJECT_ARRAY && (n == SIZE_MAX || o->via.array.size == n);
}

/* [depth, prefix, ...]: a valid range, or 0. */
static int read_range(const msgpack_object *o, size_t len, cairn_recon_range_t *r)
{
    if (!is_array(o, len) || !is_uint(&o->via.array.ptr[0]) || !is_uint(&o->via.array.ptr[1]))
        return 0;
    uint64_t d = o->via.array.ptr[0].via.u64, p = o->via.array.ptr[1].via.u64;
    if (d > CAIRN_RECON_MAX_DEPTH || (d < 16 && p >> (4 * d) != 0))
        return 0;
    r->depth = (uint8_t)d;
    r->prefix = p;
    return 1;
}

/* [plan, [[author, max, count, head]...]] into a vector (malloc'd). */
static int read_vec(const msgpack_object *o, uint8_t *plan, cairn_vec_entry_t **vec, size_t *n)
{
    if (!is_array(o, 2) || !is_bin(&o->via.array.ptr[0], CAIRN_PLAN_ID_BYTES) ||
        !is_array(&o->via.array.ptr[1], SIZE_MAX))
        return 0;
    memcpy(plan, o->via.array.ptr[0].via.bin.ptr, CAIRN_PLAN_ID_BYTES);
    const msgpack_object *a = &o->via.array.ptr[1];
    *n = a->via.array.size;
    *vec = malloc((*n ? *n : 1) * sizeof **vec);
    if (*vec == NULL)
        return 0;
    for (size_t i = 0; i < *n; i++) {
        const msgpack_object *e = &a->via.array.ptr[i];
        if (!is_array(e, 4) || !is_bin(&e->via.array.ptr[0], 32) || !is_uint(&e->via.array.ptr[1]) ||
            !is_uint(&e->via.array.ptr[2]) ||
            !is_bin(&e->via.array.ptr[3], CAIRN_CHANGE_ID_BYTES) ||
            (i > 0 && memcmp(a->via.array.ptr[i - 1].via.array.ptr[0].via.bin.ptr,
                             e->via.array.ptr[0].via.bin.ptr, 32) >= 0)) {
            free(*vec);
            return 0; /* sorted by author, each once: vec_find relies on it */
        }
        memcpy((*vec)[i].author, e->via.array.ptr[0].via.bin.ptr, 32);
        (*vec)[i].max_seq = e->via.array.ptr[1].via.u64;
        (*vec)[i].count = e->via.array.ptr[2].via.u64;
        memcpy((*vec)[i].head, e->via.array.ptr[3].via.bin.ptr, CAIRN_CHANGE_ID_BYTES);
    }
    return 1;
}

static cairn_err_t on_items(cairn_sync_t *s, const msgpack_object *o, int *bad)
{
    cairn_recon_range_t r;
    if (!read_range(o, 3, &r) || !is_array(&o->via.array.ptr[2], SIZE_MAX)) {
        *bad = 1;
        return CAIRN_OK;
    }
    const msgpack_object *list = &o->via.array.ptr[2];
    cairn_reply_t *rp = &s->reply;
    cairn_err_t err = CAIRN_OK;
    /*
     * A peer sends items only for a range both sides hold few plans in (it
     * saw our count): longer lists, or a range where we hold many, break the
     * protocol, and would cost a product of the two to compare.
     */
    size_t lo, hi;
    cairn_recon_span(&s->mine, r, &lo, &hi);
    if (list->via.array.size > ITEMS_MAX || hi - lo > ITEMS_MAX) {
        *bad = 1;
        return CAIRN_OK;
    }
    for (uint32_t i = 0; i < list->via.array.size && err == CAIRN_OK; i++) {
        const msgpack_object *it = &list->via.array.ptr[i];
        if (!is_array(it, 2) || !is_bin(&it->via.array.ptr[0], CAIRN_PLAN_ID_BYTES) ||
            !is_bin(&it->via.array.ptr[1], CAIRN_SYNC_DIGEST_BYTES) ||
            !cairn_recon_contains(r, (const uint8_t *)it->via.array.ptr[0].via.bin.ptr)) {
            *bad = 1;
            return CAIRN_OK;
        }
        const uint8_t *plan = (const uint8_t *)it->via.array.ptr[0].via.bin.ptr;
        const cairn_recon_item_t *m = cairn_recon_find(&s->mine, plan);
        if (m == NULL || memcmp(m->digest, it->via.array.ptr[1].via.bin.ptr,
                                CAIRN_SYNC_DIGEST_BYTES) != 0)
            err = add_vec(&rp->vecs, &rp->nvecs, &rp->cap_vecs, s, plan, m != NULL);
    }
    /* Plans only we hold in r: the peer has none of their changes. */
    for (size_t k = lo; k < hi && err == CAIRN_OK; k++) {
        int theirs = 0;
        for (uint32_t i = 0; i < list->via.array.size && !theirs; i++)
            theirs = memcmp(list->via.array.ptr[i].via.array.ptr[0].via.bin.ptr,
                            s->mine.items[k].plan, CAIRN_PLAN_ID_BYTES) == 0;
        if (!theirs)
            err = queue_push(s, s->mine.items[k].plan, NULL, 0);
    }
    return err;
}

/*
 * Mark, in our vector, each author whose chain went another way than the
 * peer's: the peer is not ahead of us, yet we lack its head. A marked entry
 * (count 0, which no real chain has) makes the peer send all of that
 * author's changes. *marked: whether any was.
 */
static cairn_err_t mark_divergence(cairn_sync_t *s, const uint8_t *plan, cairn_vec_entry_t *mine,
                                   size_t nm, const cairn_vec_entry_t *theirs, size_t n,
                                   int *marked)
{
    *marked = 0;
    for (size_t i = 0, j = 0; i < nm; i++) {
        while (j < n && memcmp(theirs[j].author, mine[i].author, 32) < 0)
            j++;
        if (j == n || memcmp(theirs[j].author, mine[i].author, 32) != 0 ||
            theirs[j].max_seq > mine[i].max_seq)
            continue;
        int held;
        cairn_err_t err = cairn_plan_has_change(s->store, plan, theirs[j].head, &held);
        if (err != CAIRN_OK)
            return err;
        if (!held) {
            mine[i].count = 0;
            *marked = 1;
        }
    }
    return CAIRN_OK;
}

/*
 * A vector from the peer: push what it lacks. Then want, with our vector,
 * if it holds what we lack (asked for with a VEC) or if a chain diverged.
 */
static cairn_err_t on_vec(cairn_sync_t *s, const msgpack_object *o, int want_back, int *bad)
{
    uint8_t plan[CAIRN_PLAN_ID_BYTES];
    cairn_vec_entry_t *theirs, *mine = NULL;
    size_t n, nm = 0;
    if (!read_vec(o, plan, &theirs, &n)) {
        *bad = 1;
        return CAIRN_OK;
    }
    int marked = 0;
    cairn_err_t err = queue_push(s, plan, theirs, n);
    if (err == CAIRN_OK)
        err = cairn_plan_vector(s->store, plan, &mine, &nm);
    int want = err == CAIRN_OK && want_back && cairn_vector_behind(theirs, n, mine, nm);
    if (err == CAIRN_OK)
        err = mark_divergence(s, plan, mine, nm, theirs, n, &marked);
    if (err == CAIRN_OK && (want || marked)) {
        cairn_reply_t *rp = &s->reply;
        err = cairn_grow(&rp->wants, &rp->cap_wants, rp->nwants, sizeof *rp->wants, 16);
        if (err == CAIRN_OK) {
            cairn_plan_vec_t *w = &rp->wants[rp->nwants++];
            memcpy(w->plan, plan, CAIRN_PLAN_ID_BYTES);
            w->vec = mine;
            w->nvec = nm;
            rp->est += 24 + nm * 64;
            mine = NULL;
        }
    }
    free(mine);
    free(theirs);
    return err;
}

static void fp_bytes(uint64_t v, uint8_t *fp)
{
    for (int i = 0; i < CAIRN_RECON_FP_BYTES; i++)
        fp[i] = (uint8_t)(v >> (8 * i));
}

/* One element of a TURN's ranges: a lone range, or a range's 16 children. */
static cairn_err_t on_ranges(cairn_sync_t *s, const msgpack_object *o, int *bad)
{
    uint8_t fp[CAIRN_RECON_FP_BYTES];
    cairn_recon_range_t r;
    if (is_array(o, 4)) {
        if (!read_range(o, 4, &r) || !is_uint(&o->via.array.ptr[2]) ||
            !is_uint(&o->via.array.ptr[3])) {
            *bad = 1;
            return CAIRN_OK;
        }
        fp_bytes(o->via.array.ptr[3].via.u64, fp);
        return on_range(s, r, o->via.array.ptr[2].via.u64, fp);
    }
    const msgpack_object *kids = is_array(o, 3) ? &o->via.array.ptr[2] : NULL;
    if (kids == NULL || !read_range(o, 3, &r) || r.depth == 0 || !is_array(kids, 32)) {
        *bad = 1;
        return CAIRN_OK;
    }
    /* read_range checked the prefix against depth; the parent is one nibble shorter. */
    if (r.prefix >> (4 * (r.depth - 1)) != 0) {
        *bad = 1;
        return CAIRN_OK;
    }
    cairn_err_t err = CAIRN_OK;
    for (uint64_t c = 0; c < 16 && err == CAIRN_OK; c++) {
        const msgpack_object *cnt = &kids->via.array.ptr[2 * c], *f = &kids->via.array.ptr[2 * c + 1];
        if (!is_uint(cnt) || !is_uint(f)) {
            *bad = 1;
            return CAIRN_OK;
        }
        cairn_recon_range_t child = {r.depth, r.prefix << 4 | c};
        fp_bytes(f->via.u64, fp);
        err = on_range(s, child, cnt->via.u64, fp);
    }
    return err;
}

static cairn_err_t on_turn(cairn_sync_t *s, const msgpack_object *f)
{
    for (int k = 1; k <= 5; k++)
        if (!is_array(&f[k], SIZE_MAX)) {
            cairn_sync_close(s, CAIRN_CLOSE_PROTOCOL);
            return CAIRN_OK;
        }
    s->stats.turns++;
    s->peer_asked = 0;
    int bad = 0;
    cairn_err_t err = CAIRN_OK;
    for (int k = 1; k <= 5; k++)
        s->peer_asked |= f[k].via.array.size > 0;
    /* Questions grow our reply: past the budget they wait for the next session. */
    for (uint32_t i = 0; i < f[1].via.array.size && err == CAIRN_OK && !bad && !reply_full(s); i++)
        err = on_ranges(s, &f[1].via.array.ptr[i], &bad);
    for (uint32_t i = 0; i < f[2].via.array.size && err == CAIRN_OK && !bad && !reply_full(s); i++)
        err = on_items(s, &f[2].via.array.ptr[i], &bad);
    for (uint32_t i = 0; i < f[3].via.array.size && err == CAIRN_OK && !bad && !reply_full(s); i++)
        err = on_vec(s, &f[3].via.array.ptr[i], 1, &bad);
    for (uint32_t i = 0; i < f[4].via.array.size && err == CAIRN_OK && !bad; i++)
        err = on_vec(s, &f[4].via.array.ptr[i], 0, &bad);
    for (uint32_t i = 0; i < f[5].via.array.size && err == CAIRN_OK && !bad; i++) {
        cairn_recon_range_t r;
        if (!read_range(&f[5].via.array.ptr[i], 2, &r))
            bad = 1;
        else
            err = push_range(s, r);
    }
    if (bad) {
        cairn_sync_close(s, CAIRN_CLOSE_PROTOCOL);
        return CAIRN_OK;
    }
    s->turn_due = 1;
    return err;
}

static cairn_err_t on_changes(cairn_sync_t *s, const msgpack_object *list)
{
    size_t n = list->via.array.size;
    const uint8_t **bytes = malloc((n ? n : 1) * sizeof *bytes);
    size_t *lens = malloc((n ? n : 1) * sizeof *lens);
    cairn_err_t err = bytes && lens ? CAIRN_OK : CAIRN_ENOMEM;
    for (size_t i = 0; i < n && err == CAIRN_OK; i++) {
        const msgpack_object *o = &list->via.array.ptr[i];
        if (o->type != MSGPACK_OBJECT_BIN) {
            cairn_sync_close(s, CAIRN_CLOSE_PROTOCOL);
            n = 0;
            break;
        }
        bytes[i] = (const uint8_t *)o->via.bin.ptr;
        lens[i] = o->via.bin.size;
        s->stats.change_bytes_in += lens[i];
    }
    cairn_ingest_stats_t st = {0};
    if (err == CAIRN_OK && n > 0)
        err = cairn_ingest(s->store, bytes, lens, n, NULL, &st);
    if (err == CAIRN_OK && s->provisional &&
        cairn_roster_member(s->store, s->peer, s->now, &s->peer_roles, NULL) == CAIRN_OK)
        s->provisional = 0; /* the roster we were sent vouches for the peer */
    s->stats.changes_in += n;
    s->stats.applied += st.applied;
    s->stats.duplicate += st.duplicate;
    s->stats.pending += st.pending;
    s->stats.rejected += st.rejected;
    free(bytes);
    free(lens);
    return err;
}

cairn_err_t cairn_turn_frame(cairn_sync_t *s, const uint8_t *p, size_t n)
{
    msgpack_unpacked up;
    size_t off = 0;
    /* TURN nests four deep (vectors); CHANGES two. */
    if (cairn_mp_prescan(p, n, 5) != CAIRN_OK) {
        cairn_sync_close(s, CAIRN_CLOSE_PROTOCOL);
        return CAIRN_OK;
    }
    msgpack_unpacked_init(&up);
    cairn_err_t err = CAIRN_OK;
    if (msgpack_unpack_next(&up, (const char *)p, n, &off) != MSGPACK_UNPACK_SUCCESS ||
        off != n || !is_array(&up.data, SIZE_MAX) || up.data.via.array.size == 0 ||
        !is_uint(&up.data.via.array.ptr[0])) {
        cairn_sync_close(s, CAIRN_CLOSE_PROTOCOL);
        msgpack_unpacked_destroy(&up);
        return CAIRN_OK;
    }
    const msgpack_object *f = up.data.via.array.ptr;
    size_t len = up.data.via.array.size;
    switch (f[0].via.u64) {
    case CAIRN_FRAME_CHANGES:
        if (len == 2 && is_array(&f[1], SIZE_MAX))
            err = on_changes(s, &f[1]);
        else
            cairn_sync_close(s, CAIRN_CLOSE_PROTOCOL);
        break;
    case CAIRN_FRAME_TURN:
        if (len == 6 && !s->turn_due)
            err = on_turn(s, f);
        else
            cairn_sync_close(s, CAIRN_CLOSE_PROTOCOL); /* out of turn */
        break;
    case CAIRN_FRAME_PING: {
        uint8_t pong[2] = {0x91, CAIRN_FRAME_PONG};
        err = cairn_sync_send(s, pong, sizeof pong);
        break;
    }
    case CAIRN_FRAME_PONG:
        break;
    case CAIRN_FRAME_CLOSE: {
        uint64_t why = len == 2 && is_uint(&f[1]) ? f[1].via.u64 : CAIRN_CLOSE_BY_PEER;
        s->state = why == CAIRN_CLOSE_DONE ? CAIRN_SYNC_DONE : CAIRN_SYNC_CLOSED;
        s->reason = why < CAIRN_CLOSE_REASON__COUNT ? (cairn_close_reason_t)why
                                                     : CAIRN_CLOSE_BY_PEER;
        cairn_turn_reset(s);
        break;
    }
    default:
        cairn_sync_close(s, CAIRN_CLOSE_PROTOCOL);
    }
    msgpack_unpacked_destroy(&up);
    return err;
}

/* ---- the first turn --------------------------------------------------------------------- */

typedef struct set_ctx {
    cairn_sync_t *s;
    cairn_err_t err;
} set_ctx_t;

static int add_item(void *ctx, const uint8_t *plan, const uint8_t *digest)
{
    set_ctx_t *sc = ctx;
    int may = 0;
    if (sc->s->provisional)
        return 1; /* an unproven peer gets nothing */
    sc->err = cairn_plan_may_hold(sc->s->store, plan, sc->s->peer, sc->s->peer_roles, &may);
    if (sc->err == CAIRN_OK && may)
        sc->err = cairn_recon_add(&sc->s->mine, plan, digest);
    return sc->err != CAIRN_OK;
}

cairn_err_t cairn_turn_start(cairn_sync_t *s)
{
    set_ctx_t sc = {s, CAIRN_OK};
    cairn_err_t err = cairn_plan_summaries(s->store, add_item, &sc);
    if (err == CAIRN_OK)
        err = sc.err;
    if (err == CAIRN_OK)
        err = cairn_recon_seal(&s->mine);
    if (err != CAIRN_OK || !s->opts.initiator)
        return err;
    /* The initiator opens: the whole set's fingerprint, and the roster's vector. */
    cairn_recon_range_t root = {0, 0};
    err = add_fp(s, root);
    if (err == CAIRN_OK)
        err = add_vec(&s->reply.vecs, &s->reply.nvecs, &s->reply.cap_vecs, s, s->roster_plan, 1);
    s->peer_asked = 1; /* an opening turn always goes out */
    s->turn_due = 1;
    return err == CAIRN_OK ? cairn_turn_pump(s) : err;
}
