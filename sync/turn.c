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
 * Pushes go out first, roster first, in CHANGES frames streamed from a
 * cursor; then our TURN.
 *
 * This file works on a cairn_turn_t and the session's channel only. What
 * the session must do (close, take received changes as ingest work) comes
 * back as an outcome: nothing here ends a session or ingests a change.
 */
#include "turn.h"

#include "grow.h"
#include "mpscan.h"

#include <msgpack.h>
#include <stdlib.h>
#include <string.h>

#define LEAF_ITEMS 8 /* ranges this small go as item lists */
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
static int reply_full(const cairn_turn_t *t)
{
    return t->reply.est > REPLY_BUDGET;
}

static int reply_empty(const cairn_reply_t *r)
{
    return r->nranges == 0 && r->nitems == 0 && r->nvecs == 0 && r->nwants == 0 && r->nalls == 0;
}

static void chg_clear(cairn_turn_t *t)
{
    t->chg.len = t->nchg = 0;
}

void cairn__turn_reset(cairn_turn_t *t)
{
    for (size_t i = 0; i < t->npush; i++)
        free(t->pushes[i].vec);
    free(t->pushes);
    t->pushes = NULL;
    t->npush = t->push_at = t->cap_push = 0;
    cairn_cursor_close(t->cursor);
    t->cursor = NULL;
    reply_free(&t->reply);
    chg_clear(t);
    cairn_buf_free(&t->chg);
    free(t->chg_len);
    t->chg_len = NULL;
    t->cap_chg = 0;
    t->turn_due = 0;
}

void cairn__turn_free(cairn_turn_t *t)
{
    cairn__turn_reset(t);
    cairn__recon_free(&t->mine);
}

void cairn__inbox_free(cairn_inbox_t *inbox)
{
    cairn_buf_free(&inbox->data);
    free(inbox->bytes);
    free(inbox->lens);
    memset(inbox, 0, sizeof *inbox);
}

/* ---- packing -------------------------------------------------------------------- */

static void pack_vec(msgpack_packer *pk, const cairn_plan_vec_t *v)
{
    msgpack_pack_array(pk, 2);
    cairn__mp_pack_bin(pk, v->plan, CAIRN_PLAN_ID_BYTES);
    msgpack_pack_array(pk, v->nvec);
    for (size_t i = 0; i < v->nvec; i++) {
        msgpack_pack_array(pk, 4);
        cairn__mp_pack_bin(pk, v->vec[i].author, 32);
        msgpack_pack_uint64(pk, v->vec[i].max_seq);
        msgpack_pack_uint64(pk, v->vec[i].count);
        cairn__mp_pack_bin(pk, v->vec[i].head, CAIRN_CHANGE_ID_BYTES);
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
    cairn__recon_span(set, r, &lo, &hi);
    pack_range(pk, r, 1);
    msgpack_pack_array(pk, hi - lo);
    for (size_t i = lo; i < hi; i++) {
        msgpack_pack_array(pk, 2);
        cairn__mp_pack_bin(pk, set->items[i].plan, CAIRN_PLAN_ID_BYTES);
        cairn__mp_pack_bin(pk, set->items[i].digest, CAIRN_SYNC_DIGEST_BYTES);
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
static cairn_err_t send_turn(cairn_turn_t *t, cairn_channel_t *ch)
{
    cairn_reply_t *r = &t->reply;
    cairn_buf_t buf = CAIRN_BUF_INIT;
    cairn_mp_sink_t sink = {&buf, 0};
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sink, cairn__mp_sink_write);
    msgpack_pack_array(&pk, 6);
    msgpack_pack_uint8(&pk, CAIRN_FRAME_TURN);
    pack_ranges(&pk, r);
    msgpack_pack_array(&pk, r->nitems);
    for (size_t i = 0; i < r->nitems; i++)
        pack_items(&pk, &t->mine, r->item_ranges[i]);
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
        err = cairn__channel_send(ch, buf.data, buf.len);
    t->turns++;
    cairn_buf_free(&buf);
    reply_free(r);
    return err;
}

/* ---- pushing changes ------------------------------------------------------------ */

static cairn_err_t flush_changes(cairn_turn_t *t, cairn_channel_t *ch)
{
    if (t->nchg == 0)
        return CAIRN_OK;
    cairn_buf_t buf = CAIRN_BUF_INIT;
    cairn_mp_sink_t sink = {&buf, 0};
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sink, cairn__mp_sink_write);
    msgpack_pack_array(&pk, 2);
    msgpack_pack_uint8(&pk, CAIRN_FRAME_CHANGES);
    msgpack_pack_array(&pk, t->nchg);
    for (size_t i = 0, at = 0; i < t->nchg; at += t->chg_len[i++])
        cairn__mp_pack_bin(&pk, t->chg.data + at, t->chg_len[i]);
    cairn_err_t err = sink.oom ? CAIRN_ENOMEM : cairn__channel_send(ch, buf.data, buf.len);
    cairn_buf_free(&buf);
    chg_clear(t);
    return err;
}

/* Stage one change in the CHANGES frame being filled; a full frame goes out first. */
static cairn_err_t add_change(cairn_turn_t *t, cairn_channel_t *ch, const uint8_t *bytes,
                              size_t len)
{
    cairn_err_t err = CAIRN_OK;
    /* 16 bytes a change covers its bin header and the frame's own. */
    if (t->chg.len + 16 * t->nchg + len + 16 > CHANGES_FRAME_BYTES || t->nchg == CHANGES_FRAME_MAX)
        err = flush_changes(t, ch);
    if (err == CAIRN_OK)
        err = cairn_grow(&t->chg_len, &t->cap_chg, t->nchg, sizeof *t->chg_len, 16);
    if (err == CAIRN_OK)
        err = cairn_buf_reserve(&t->chg, t->chg.len + len);
    if (err != CAIRN_OK)
        return err;
    memcpy(t->chg.data + t->chg.len, bytes, len);
    t->chg.len += len;
    t->chg_len[t->nchg++] = len;
    t->changes_out++;
    t->change_bytes_out += len;
    return CAIRN_OK;
}

/*
 * Stream the pushes through a cursor, one plan after another, while the
 * output is under the limit: a frame at most goes past it. The cursor
 * keeps its place across calls, so a plan of any size is sent in pieces.
 */
static cairn_err_t run_pushes(cairn_turn_t *t, cairn_channel_t *ch, size_t limit)
{
    cairn_err_t err = CAIRN_OK;
    while (err == CAIRN_OK && t->push_at < t->npush && cairn__channel_unsent(ch) < limit) {
        const cairn_push_t *p = &t->pushes[t->push_at];
        if (t->cursor == NULL) {
            err = cairn_cursor_open(t->store, p->plan, p->vec, p->nvec, &t->cursor);
            if (err == CAIRN_OK && cairn_cursor_count(t->cursor) > 0)
                t->plans_out++;
        }
        size_t frames = ch->frames_out;
        /* Up to the next frame sent: then the limit is looked at again. */
        while (err == CAIRN_OK && ch->frames_out == frames) {
            const uint8_t *bytes;
            size_t len;
            err = cairn_cursor_next(t->cursor, &bytes, &len);
            if (err == CAIRN_OK)
                err = add_change(t, ch, bytes, len);
        }
        if (err == CAIRN_ENOTFOUND) { /* this plan is all out */
            cairn_cursor_close(t->cursor);
            t->cursor = NULL;
            t->push_at++;
            err = CAIRN_OK;
        }
    }
    cairn_cursor_pause(t->cursor); /* no snapshot held while the output drains */
    return err;
}

cairn_err_t cairn__turn_pump(cairn_turn_t *t, cairn_channel_t *ch, size_t output_limit,
                             int may_turn, cairn_turn_result_t *res)
{
    res->outcome = CAIRN_TURN_CONTINUE;
    if (!t->turn_due)
        return CAIRN_OK;
    cairn_err_t err = run_pushes(t, ch, output_limit);
    if (err != CAIRN_OK || t->push_at < t->npush || !may_turn)
        return err;
    err = flush_changes(t, ch);
    for (size_t i = 0; i < t->npush; i++) {
        cairn__recon_find(&t->mine, t->pushes[i].plan)->queued = 0;
        free(t->pushes[i].vec);
    }
    t->npush = t->push_at = 0;
    t->turn_due = 0;
    if (err != CAIRN_OK)
        return err;
    if (!t->peer_asked && reply_empty(&t->reply)) {
        res->outcome = CAIRN_TURN_DONE; /* neither side has anything left */
        return CAIRN_OK;
    }
    return send_turn(t, ch);
}

/* Queue a push of plan (ours, so the peer may hold it), roster first. */
static cairn_err_t queue_push(cairn_turn_t *t, const uint8_t *plan, const cairn_vec_entry_t *vec,
                              size_t nvec)
{
    cairn_recon_item_t *item = cairn__recon_find(&t->mine, plan);
    if (item == NULL || item->queued)
        return CAIRN_OK; /* not ours to give this peer, or already on its way */
    cairn_err_t err = PUSH_BACK(t->pushes, t->npush, t->cap_push);
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
    if (memcmp(plan, t->roster_plan, CAIRN_PLAN_ID_BYTES) == 0) {
        /* the roster goes first: it admits the authors of the rest */
        memmove(&t->pushes[1], &t->pushes[0], t->npush * sizeof t->pushes[0]);
        t->pushes[0] = p;
    } else {
        t->pushes[t->npush] = p;
    }
    t->npush++;
    return CAIRN_OK;
}

/* ---- building our reply ------------------------------------------------------------ */

static cairn_err_t add_vec(cairn_plan_vec_t **arr, size_t *n, size_t *cap, cairn_turn_t *t,
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
        err = cairn_plan_vector(t->store, plan, &v->vec, &v->nvec);
    if (err == CAIRN_OK)
        (*n)++;
    t->reply.est += 24 + v->nvec * 64;
    return err;
}

static cairn_err_t add_fp(cairn_turn_t *t, cairn_recon_range_t r)
{
    cairn_reply_t *rp = &t->reply;
    cairn_err_t err = PUSH_BACK(rp->ranges, rp->nranges, rp->cap_ranges);
    if (err != CAIRN_OK)
        return err;
    cairn_range_fp_t *f = &rp->ranges[rp->nranges++];
    rp->est += 24;
    f->r = r;
    cairn__recon_fp(&t->mine, r, &f->count, f->fp);
    return CAIRN_OK;
}

/* Push every plan of ours in range r. */
static cairn_err_t push_range(cairn_turn_t *t, cairn_recon_range_t r)
{
    size_t lo, hi;
    cairn__recon_span(&t->mine, r, &lo, &hi);
    cairn_err_t err = CAIRN_OK;
    for (size_t i = lo; i < hi && err == CAIRN_OK; i++)
        err = queue_push(t, t->mine.items[i].plan, NULL, 0);
    return err;
}

static cairn_err_t on_range(cairn_turn_t *t, cairn_recon_range_t r, uint64_t count,
                            const uint8_t *fp)
{
    uint64_t mc;
    uint8_t mfp[CAIRN_RECON_FP_BYTES];
    cairn__recon_fp(&t->mine, r, &mc, mfp);
    cairn_reply_t *rp = &t->reply;
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
        return push_range(t, r);
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
        err = add_fp(t, child);
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
        if (!is_array(e, 4) || !is_bin(&e->via.array.ptr[0], 32) ||
            !is_uint(&e->via.array.ptr[1]) || !is_uint(&e->via.array.ptr[2]) ||
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

static cairn_err_t on_items(cairn_turn_t *t, const msgpack_object *o, int *bad)
{
    cairn_recon_range_t r;
    if (!read_range(o, 3, &r) || !is_array(&o->via.array.ptr[2], SIZE_MAX)) {
        *bad = 1;
        return CAIRN_OK;
    }
    const msgpack_object *list = &o->via.array.ptr[2];
    cairn_reply_t *rp = &t->reply;
    cairn_err_t err = CAIRN_OK;
    /*
     * A peer sends items only for a range both sides hold few plans in (it
     * saw our count): longer lists, or a range where we hold many, break the
     * protocol, and would cost a product of the two to compare.
     */
    size_t lo, hi;
    cairn__recon_span(&t->mine, r, &lo, &hi);
    if (list->via.array.size > ITEMS_MAX || hi - lo > ITEMS_MAX) {
        *bad = 1;
        return CAIRN_OK;
    }
    for (uint32_t i = 0; i < list->via.array.size && err == CAIRN_OK; i++) {
        const msgpack_object *it = &list->via.array.ptr[i];
        if (!is_array(it, 2) || !is_bin(&it->via.array.ptr[0], CAIRN_PLAN_ID_BYTES) ||
            !is_bin(&it->via.array.ptr[1], CAIRN_SYNC_DIGEST_BYTES) ||
            !cairn__recon_contains(r, (const uint8_t *)it->via.array.ptr[0].via.bin.ptr)) {
            *bad = 1;
            return CAIRN_OK;
        }
        const uint8_t *plan = (const uint8_t *)it->via.array.ptr[0].via.bin.ptr;
        const cairn_recon_item_t *m = cairn__recon_find(&t->mine, plan);
        if (m == NULL ||
            memcmp(m->digest, it->via.array.ptr[1].via.bin.ptr, CAIRN_SYNC_DIGEST_BYTES) != 0)
            err = add_vec(&rp->vecs, &rp->nvecs, &rp->cap_vecs, t, plan, m != NULL);
    }
    /* Plans only we hold in r: the peer has none of their changes. */
    for (size_t k = lo; k < hi && err == CAIRN_OK; k++) {
        int theirs = 0;
        for (uint32_t i = 0; i < list->via.array.size && !theirs; i++)
            theirs = memcmp(list->via.array.ptr[i].via.array.ptr[0].via.bin.ptr,
                            t->mine.items[k].plan, CAIRN_PLAN_ID_BYTES) == 0;
        if (!theirs)
            err = queue_push(t, t->mine.items[k].plan, NULL, 0);
    }
    return err;
}

/*
 * Mark, in our vector, each author whose chain went another way than the
 * peer's: the peer is not ahead of us, yet we lack its head. A marked entry
 * (count 0, which no real chain has) makes the peer send all of that
 * author's changes. *marked: whether any was.
 */
static cairn_err_t mark_divergence(cairn_turn_t *t, const uint8_t *plan, cairn_vec_entry_t *mine,
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
        cairn_err_t err = cairn_plan_has_change(t->store, plan, theirs[j].head, &held);
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
static cairn_err_t on_vec(cairn_turn_t *t, const msgpack_object *o, int want_back, int *bad)
{
    uint8_t plan[CAIRN_PLAN_ID_BYTES];
    cairn_vec_entry_t *theirs, *mine = NULL;
    size_t n, nm = 0;
    if (!read_vec(o, plan, &theirs, &n)) {
        *bad = 1;
        return CAIRN_OK;
    }
    int marked = 0;
    cairn_err_t err = queue_push(t, plan, theirs, n);
    if (err == CAIRN_OK)
        err = cairn_plan_vector(t->store, plan, &mine, &nm);
    int want = err == CAIRN_OK && want_back && cairn_vector_behind(theirs, n, mine, nm);
    if (err == CAIRN_OK)
        err = mark_divergence(t, plan, mine, nm, theirs, n, &marked);
    if (err == CAIRN_OK && (want || marked)) {
        cairn_reply_t *rp = &t->reply;
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
static cairn_err_t on_ranges(cairn_turn_t *t, const msgpack_object *o, int *bad)
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
        return on_range(t, r, o->via.array.ptr[2].via.u64, fp);
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
        const msgpack_object *cnt = &kids->via.array.ptr[2 * c],
                             *f = &kids->via.array.ptr[2 * c + 1];
        if (!is_uint(cnt) || !is_uint(f)) {
            *bad = 1;
            return CAIRN_OK;
        }
        cairn_recon_range_t child = {r.depth, r.prefix << 4 | c};
        fp_bytes(f->via.u64, fp);
        err = on_range(t, child, cnt->via.u64, fp);
    }
    return err;
}

/* The frame breaks the protocol: the session is to close, telling the peer. */
static void refuse(cairn_turn_result_t *res)
{
    res->outcome = CAIRN_TURN_CLOSE;
    res->reason = CAIRN_CLOSE_PROTOCOL;
}

static cairn_err_t on_turn(cairn_turn_t *t, const msgpack_object *f, cairn_turn_result_t *res)
{
    for (int k = 1; k <= 5; k++)
        if (!is_array(&f[k], SIZE_MAX)) {
            refuse(res);
            return CAIRN_OK;
        }
    t->turns++;
    t->peer_asked = 0;
    int bad = 0;
    cairn_err_t err = CAIRN_OK;
    for (int k = 1; k <= 5; k++)
        t->peer_asked |= f[k].via.array.size > 0;
    /* Questions grow our reply: past the budget they wait for the next session. */
    for (uint32_t i = 0; i < f[1].via.array.size && err == CAIRN_OK && !bad && !reply_full(t); i++)
        err = on_ranges(t, &f[1].via.array.ptr[i], &bad);
    for (uint32_t i = 0; i < f[2].via.array.size && err == CAIRN_OK && !bad && !reply_full(t); i++)
        err = on_items(t, &f[2].via.array.ptr[i], &bad);
    for (uint32_t i = 0; i < f[3].via.array.size && err == CAIRN_OK && !bad && !reply_full(t); i++)
        err = on_vec(t, &f[3].via.array.ptr[i], 1, &bad);
    for (uint32_t i = 0; i < f[4].via.array.size && err == CAIRN_OK && !bad; i++)
        err = on_vec(t, &f[4].via.array.ptr[i], 0, &bad);
    for (uint32_t i = 0; i < f[5].via.array.size && err == CAIRN_OK && !bad; i++) {
        cairn_recon_range_t r;
        if (!read_range(&f[5].via.array.ptr[i], 2, &r))
            bad = 1;
        else
            err = push_range(t, r);
    }
    if (bad) {
        refuse(res);
        return CAIRN_OK;
    }
    t->turn_due = 1;
    return err;
}

/*
 * A CHANGES frame: its changes copied into the inbox, for the session to
 * hand out as ingest work. Nothing is ingested here.
 */
static cairn_err_t on_changes(cairn_turn_t *t, const msgpack_object *list, cairn_inbox_t *in,
                              cairn_turn_result_t *res)
{
    size_t n = list->via.array.size, total = 0;
    for (size_t i = 0; i < n; i++) {
        const msgpack_object *o = &list->via.array.ptr[i];
        if (o->type != MSGPACK_OBJECT_BIN) {
            refuse(res);
            return CAIRN_OK;
        }
        total += o->via.bin.size;
    }
    in->n = 0;
    cairn_err_t err = cairn_buf_reserve(&in->data, total ? total : 1);
    if (err == CAIRN_OK && n > in->cap) {
        const uint8_t **b = realloc(in->bytes, n * sizeof *b);
        if (b != NULL)
            in->bytes = b;
        size_t *l = b != NULL ? realloc(in->lens, n * sizeof *l) : NULL;
        if (l != NULL)
            in->lens = l;
        err = b != NULL && l != NULL ? CAIRN_OK : CAIRN_ENOMEM;
        if (err == CAIRN_OK)
            in->cap = n;
    }
    if (err != CAIRN_OK)
        return err;
    in->data.len = 0;
    for (size_t i = 0; i < n; i++) { /* data does not move from here on */
        const msgpack_object *o = &list->via.array.ptr[i];
        in->bytes[i] = in->data.data + in->data.len;
        in->lens[i] = o->via.bin.size;
        memcpy(in->data.data + in->data.len, o->via.bin.ptr, o->via.bin.size);
        in->data.len += o->via.bin.size;
    }
    in->n = n;
    t->changes_in += n;
    t->change_bytes_in += total;
    res->outcome = n > 0 ? CAIRN_TURN_CHANGES : CAIRN_TURN_CONTINUE;
    return CAIRN_OK;
}

cairn_err_t cairn__turn_frame(cairn_turn_t *t, cairn_channel_t *ch, const uint8_t *p, size_t n,
                              cairn_inbox_t *inbox, cairn_turn_result_t *res)
{
    msgpack_unpacked up;
    size_t off = 0;
    res->outcome = CAIRN_TURN_CONTINUE;
    /* TURN nests four deep (vectors); CHANGES two. */
    if (cairn__mp_prescan(p, n, 5) != CAIRN_OK) {
        refuse(res);
        return CAIRN_OK;
    }
    msgpack_unpacked_init(&up);
    cairn_err_t err = CAIRN_OK;
    if (msgpack_unpack_next(&up, (const char *)p, n, &off) != MSGPACK_UNPACK_SUCCESS || off != n ||
        !is_array(&up.data, SIZE_MAX) || up.data.via.array.size == 0 ||
        !is_uint(&up.data.via.array.ptr[0])) {
        refuse(res);
        msgpack_unpacked_destroy(&up);
        return CAIRN_OK;
    }
    const msgpack_object *f = up.data.via.array.ptr;
    size_t len = up.data.via.array.size;
    switch (f[0].via.u64) {
    case CAIRN_FRAME_CHANGES:
        if (len == 2 && is_array(&f[1], SIZE_MAX))
            err = on_changes(t, &f[1], inbox, res);
        else
            refuse(res);
        break;
    case CAIRN_FRAME_TURN:
        if (len == 6 && !t->turn_due)
            err = on_turn(t, f, res);
        else
            refuse(res); /* out of turn */
        break;
    case CAIRN_FRAME_PING: {
        uint8_t pong[2] = {0x91, CAIRN_FRAME_PONG};
        err = cairn__channel_send(ch, pong, sizeof pong);
        break;
    }
    case CAIRN_FRAME_PONG:
        break;
    case CAIRN_FRAME_CLOSE: {
        uint64_t why = len == 2 && is_uint(&f[1]) ? f[1].via.u64 : CAIRN_CLOSE_BY_PEER;
        res->outcome = CAIRN_TURN_PEER_CLOSED;
        res->reason =
            why < CAIRN_CLOSE_REASON__COUNT ? (cairn_close_reason_t)why : CAIRN_CLOSE_BY_PEER;
        break;
    }
    default:
        refuse(res);
    }
    msgpack_unpacked_destroy(&up);
    return err;
}

/* ---- the first turn --------------------------------------------------------------------- */

typedef struct set_ctx {
    cairn_turn_t *t;
    cairn_err_t err;
} set_ctx_t;

static int add_item(void *ctx, const uint8_t *plan, const uint8_t *digest)
{
    set_ctx_t *sc = ctx;
    int may = 0;
    sc->err = cairn_plan_may_hold(sc->t->store, plan, sc->t->peer, sc->t->peer_roles, &may);
    if (sc->err == CAIRN_OK && may)
        sc->err = cairn__recon_add(&sc->t->mine, plan, digest);
    return sc->err != CAIRN_OK;
}

cairn_err_t cairn__turn_start(cairn_turn_t *t, cairn_channel_t *ch, cairn_store_t *store,
                              const uint8_t roster_plan[CAIRN_PLAN_ID_BYTES],
                              const uint8_t peer[32], unsigned peer_roles, int initiator, int offer,
                              size_t output_limit, cairn_turn_result_t *res)
{
    res->outcome = CAIRN_TURN_CONTINUE;
    t->store = store;
    memcpy(t->roster_plan, roster_plan, CAIRN_PLAN_ID_BYTES);
    memcpy(t->peer, peer, 32);
    t->peer_roles = peer_roles;
    t->initiator = initiator != 0;
    set_ctx_t sc = {t, CAIRN_OK};
    /* An unproven peer gets nothing: its set stays empty. */
    cairn_err_t err = offer ? cairn_plan_summaries(t->store, add_item, &sc) : CAIRN_OK;
    if (err == CAIRN_OK)
        err = sc.err;
    if (err == CAIRN_OK)
        err = cairn__recon_seal(&t->mine);
    if (err != CAIRN_OK || !t->initiator)
        return err;
    /* The initiator opens: the whole set's fingerprint, and the roster's vector. */
    cairn_recon_range_t root = {0, 0};
    err = add_fp(t, root);
    if (err == CAIRN_OK)
        err = add_vec(&t->reply.vecs, &t->reply.nvecs, &t->reply.cap_vecs, t, t->roster_plan, 1);
    t->peer_asked = 1; /* an opening turn always goes out */
    t->turn_due = 1;
    return err == CAIRN_OK ? cairn__turn_pump(t, ch, output_limit, 1, res) : err;
}
