/*
 * pstate.c - applying changes to a plan's merged state; its encoding.
 *
 * Applying a write: drop from its slot the writes it names as superseded
 * (pred), then insert it. Applying a remove: drop the adds it names. What
 * stays in a slot is what no one has superseded yet: one value normally,
 * several after concurrent writes. Last-writer-wins fields show the first
 * (greatest) of them; multi-value fields show them all, as a conflict.
 */
#include "pstate.h"

#include "grow.h"
#include "mpscan.h"
#include "schema.h"
#include "wipe.h"

#include <msgpack.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#define STATE_FORMAT 1u

cairn_plan_state_t *cairn__pstate_new(const uint8_t plan[CAIRN_PLAN_ID_BYTES])
{
    cairn_plan_state_t *st = calloc(1, sizeof *st);
    if (st != NULL)
        memcpy(st->plan, plan, CAIRN_PLAN_ID_BYTES);
    return st;
}

static void slot_release(cairn_pslot_t *s)
{
    for (uint32_t i = 0; i < s->n; i++)
        cairn__value_wipe(&s->values[i]);
    free(s->values);
    free(s->hlcs);
    free(s->authors);
    free(s->ops);
}

void cairn_plan_state_free(cairn_plan_state_t *st)
{
    if (st == NULL)
        return;
    for (size_t i = 0; i < st->nslots; i++)
        slot_release(&st->slots[i]);
    free(st->slots);
    free(st->heads);
    free(st->ents);
    free(st);
}

/* ---- sorted arrays ---------------------------------------------------------- */

/* A key to find in a sorted array: how one element compares with it. */
typedef struct key {
    uint16_t etype, field;
    const uint8_t *id; /* entity id, or change id for heads */
} search_key_t;

typedef int (*elem_cmp_fn)(const void *elem, const search_key_t *key);

/* Index of the element equal to key, or where it would go (with *found = 0). */
static size_t search(const void *base, size_t n, size_t size, elem_cmp_fn cmp,
                     const search_key_t *key, int *found)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = cmp((const uint8_t *)base + mid * size, key);
        if (c == 0) {
            *found = 1;
            return mid;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = 0;
    return lo;
}

/* ---- slots --------------------------------------------------------------- */

static int slot_cmp(const cairn_pslot_t *s, uint16_t etype, const uint8_t *eid, uint16_t field)
{
    if (s->etype != etype)
        return s->etype < etype ? -1 : 1;
    int c = memcmp(s->eid, eid, CAIRN_ENTITY_ID_BYTES);
    if (c != 0)
        return c;
    return s->field == field ? 0 : (s->field < field ? -1 : 1);
}

static int slot_elem_cmp(const void *elem, const search_key_t *k)
{
    return slot_cmp(elem, k->etype, k->id, k->field);
}

/* Index of the slot, or of where it would go (with *found = 0). */
static size_t slot_search(const cairn_plan_state_t *st, uint16_t etype, const uint8_t *eid,
                          uint16_t field, int *found)
{
    search_key_t k = {etype, field, eid};
    return search(st->slots, st->nslots, sizeof st->slots[0], slot_elem_cmp, &k, found);
}

const cairn_pslot_t *cairn__pstate_find(const cairn_plan_state_t *st, uint16_t etype,
                                        const uint8_t *eid, uint16_t field)
{
    int found;
    size_t i = slot_search(st, etype, eid, field, &found);
    return found ? &st->slots[i] : NULL;
}

static cairn_pslot_t *slot_get(cairn_plan_state_t *st, uint16_t etype, const uint8_t *eid,
                               uint16_t field)
{
    int found;
    size_t i = slot_search(st, etype, eid, field, &found);
    if (found)
        return &st->slots[i];
    if (cairn_grow(&st->slots, &st->cap_slots, st->nslots, sizeof *st->slots, 16) != CAIRN_OK)
        return NULL;
    memmove(&st->slots[i + 1], &st->slots[i], (st->nslots - i) * sizeof st->slots[0]);
    st->nslots++;
    cairn_pslot_t *s = &st->slots[i];
    memset(s, 0, sizeof *s);
    s->etype = etype;
    s->field = field;
    memcpy(s->eid, eid, CAIRN_ENTITY_ID_BYTES);
    return s;
}

static cairn_err_t slot_grow(cairn_pslot_t *s)
{
    if (s->n < s->cap)
        return CAIRN_OK;
    uint32_t cap = s->cap ? 2 * s->cap : 2;
    cairn_value_t *v = realloc(s->values, cap * sizeof *v);
    if (v != NULL)
        s->values = v;
    cairn_hlc_t *h = realloc(s->hlcs, cap * sizeof *h);
    if (h != NULL)
        s->hlcs = h;
    uint8_t(*a)[32] = realloc(s->authors, cap * sizeof *a);
    if (a != NULL)
        s->authors = a;
    cairn_op_id_t *o = realloc(s->ops, cap * sizeof *o);
    if (o != NULL)
        s->ops = o;
    if (v == NULL || h == NULL || a == NULL || o == NULL)
        return CAIRN_ENOMEM;
    s->cap = cap;
    return CAIRN_OK;
}

static void slot_remove_at(cairn_pslot_t *s, uint32_t i)
{
    cairn__value_wipe(&s->values[i]);
    uint32_t tail = s->n - i - 1;
    memmove(&s->values[i], &s->values[i + 1], tail * sizeof s->values[0]);
    memmove(&s->hlcs[i], &s->hlcs[i + 1], tail * sizeof s->hlcs[0]);
    memmove(&s->authors[i], &s->authors[i + 1], tail * sizeof s->authors[0]);
    memmove(&s->ops[i], &s->ops[i + 1], tail * sizeof s->ops[0]);
    s->n--;
}

/* Drop the live writes that pred names (those already gone are fine). */
static void slot_supersede(cairn_pslot_t *s, const cairn_op_id_t *pred, size_t npred)
{
    for (size_t p = 0; p < npred; p++)
        for (uint32_t i = 0; i < s->n; i++)
            if (memcmp(s->ops[i].bytes, pred[p].bytes, CAIRN_OP_ID_BYTES) == 0) {
                slot_remove_at(s, i);
                break;
            }
}

/* Whether write (hlc, author, op) sorts before live entry i (wins over it). */
static int beats(const cairn_pslot_t *s, uint32_t i, cairn_hlc_t hlc, const uint8_t *author,
                 const cairn_op_id_t *op)
{
    if (hlc != s->hlcs[i])
        return hlc > s->hlcs[i];
    int c = memcmp(author, s->authors[i], 32);
    if (c != 0)
        return c > 0;
    return memcmp(op->bytes, s->ops[i].bytes, CAIRN_OP_ID_BYTES) > 0;
}

static cairn_err_t slot_insert(cairn_pslot_t *s, const cairn_value_t *v, cairn_hlc_t hlc,
                               const uint8_t *author, const cairn_op_id_t *op)
{
    for (uint32_t i = 0; i < s->n; i++)
        if (memcmp(s->ops[i].bytes, op->bytes, CAIRN_OP_ID_BYTES) == 0)
            return CAIRN_OK; /* applied already */
    cairn_err_t err = slot_grow(s);
    if (err != CAIRN_OK)
        return err;
    uint32_t at = 0;
    while (at < s->n && !beats(s, at, hlc, author, op))
        at++;
    cairn_value_t copy;
    err = cairn__value_dup(&copy, v);
    if (err != CAIRN_OK)
        return err;
    uint32_t tail = s->n - at;
    memmove(&s->values[at + 1], &s->values[at], tail * sizeof s->values[0]);
    memmove(&s->hlcs[at + 1], &s->hlcs[at], tail * sizeof s->hlcs[0]);
    memmove(&s->authors[at + 1], &s->authors[at], tail * sizeof s->authors[0]);
    memmove(&s->ops[at + 1], &s->ops[at], tail * sizeof s->ops[0]);
    s->values[at] = copy;
    s->hlcs[at] = hlc;
    memcpy(s->authors[at], author, 32);
    s->ops[at] = *op;
    s->n++;
    return CAIRN_OK;
}

/* ---- resident entities ------------------------------------------------------ */

static int ent_cmp(const cairn_pent_t *e, uint16_t etype, const uint8_t *eid)
{
    if (e->etype != etype)
        return e->etype < etype ? -1 : 1;
    return memcmp(e->eid, eid, CAIRN_ENTITY_ID_BYTES);
}

static int ent_elem_cmp(const void *elem, const search_key_t *k)
{
    return ent_cmp(elem, k->etype, k->id);
}

static size_t ent_search(const cairn_plan_state_t *st, uint16_t etype, const uint8_t *eid,
                         int *found)
{
    search_key_t k = {etype, 0, eid};
    return search(st->ents, st->nents, sizeof st->ents[0], ent_elem_cmp, &k, found);
}

cairn_err_t cairn__pstate_touch(cairn_plan_state_t *st, uint16_t etype, const uint8_t *eid,
                                int dirty)
{
    int found;
    size_t i = ent_search(st, etype, eid, &found);
    if (!found) {
        if (cairn_grow(&st->ents, &st->cap_ents, st->nents, sizeof *st->ents, 16) != CAIRN_OK)
            return CAIRN_ENOMEM;
        memmove(&st->ents[i + 1], &st->ents[i], (st->nents - i) * sizeof st->ents[0]);
        st->nents++;
        st->ents[i].etype = etype;
        memcpy(st->ents[i].eid, eid, CAIRN_ENTITY_ID_BYTES);
        st->ents[i].dirty = 0;
        if (st->loader != NULL) {
            cairn_err_t err = st->loader(st->loader_ctx, st, etype, eid);
            if (err != CAIRN_OK) {
                memmove(&st->ents[i], &st->ents[i + 1], (st->nents - i - 1) * sizeof st->ents[0]);
                st->nents--;
                return err;
            }
        }
    }
    if (dirty)
        st->ents[i].dirty = 1;
    return CAIRN_OK;
}

/* ---- heads --------------------------------------------------------------- */

static int head_elem_cmp(const void *elem, const search_key_t *k)
{
    return memcmp(elem, k->id, CAIRN_CHANGE_ID_BYTES);
}

static size_t head_search(const cairn_plan_state_t *st, const uint8_t *id, int *found)
{
    search_key_t k = {0, 0, id};
    return search(st->heads, st->nheads, sizeof st->heads[0], head_elem_cmp, &k, found);
}

static void head_remove(cairn_plan_state_t *st, const uint8_t *id)
{
    int found;
    size_t i = head_search(st, id, &found);
    if (!found)
        return;
    memmove(&st->heads[i], &st->heads[i + 1], (st->nheads - i - 1) * sizeof st->heads[0]);
    st->nheads--;
}

static cairn_err_t head_insert(cairn_plan_state_t *st, const uint8_t *id)
{
    int found;
    size_t i = head_search(st, id, &found);
    if (found)
        return CAIRN_OK;
    if (cairn_grow(&st->heads, &st->cap_heads, st->nheads, sizeof *st->heads, 4) != CAIRN_OK)
        return CAIRN_ENOMEM;
    memmove(&st->heads[i + 1], &st->heads[i], (st->nheads - i) * sizeof st->heads[0]);
    memcpy(st->heads[i], id, CAIRN_CHANGE_ID_BYTES);
    st->nheads++;
    return CAIRN_OK;
}

/* ---- apply ---------------------------------------------------------------- */

static const cairn_value_t nil_value = {CAIRN_VALUE_NIL, 0, NULL, 0};

/* Take slot s out of st: a slot is kept only while it holds a live write. */
static void slot_drop(cairn_plan_state_t *st, cairn_pslot_t *s)
{
    size_t i = (size_t)(s - st->slots);
    slot_release(s);
    memmove(&st->slots[i], &st->slots[i + 1], (st->nslots - i - 1) * sizeof st->slots[0]);
    st->nslots--;
}

cairn_err_t cairn__pstate_apply(cairn_plan_state_t *st, const cairn_change_t *c, int inert)
{
    st->header_dirty = 1;
    for (size_t i = 0; i < c->nops && !inert; i++) {
        const cairn_op_t *op = &c->ops[i];
        cairn_err_t err = cairn__pstate_touch(st, op->etype, op->eid, 1);
        if (err != CAIRN_OK)
            return err;
        cairn_pslot_t *s = slot_get(st, op->etype, op->eid, op->field);
        if (s == NULL)
            return CAIRN_ENOMEM;
        slot_supersede(s, op->pred, op->npred);
        if (op->kind == CAIRN_OP_REMOVE) {
            if (s->n == 0)
                slot_drop(st, s);
            continue;
        }
        cairn_op_id_t id;
        cairn_change_op_id(c, (uint16_t)i, &id);
        err = slot_insert(s, op->kind == CAIRN_OP_SET ? &op->value : &nil_value, c->hlc, c->author,
                          &id);
        if (err != CAIRN_OK)
            return err;
    }
    for (size_t i = 0; i < c->ndeps; i++)
        head_remove(st, c->deps[i]);
    if (c->has_prev)
        head_remove(st, c->prev);
    st->nchanges++;
    return head_insert(st, c->id);
}

/* ---- encoding ------------------------------------------------------------- */

static void pack_entries(msgpack_packer *pk, const cairn_pslot_t *s)
{
    msgpack_pack_array(pk, s->n);
    for (uint32_t i = 0; i < s->n; i++) {
        msgpack_pack_array(pk, 4);
        cairn__mp_pack_bin(pk, s->ops[i].bytes, CAIRN_OP_ID_BYTES);
        msgpack_pack_uint64(pk, s->hlcs[i]);
        cairn__mp_pack_bin(pk, s->authors[i], 32);
        const cairn_value_t *v = &s->values[i];
        if (v->type == CAIRN_VALUE_INT)
            msgpack_pack_int64(pk, v->i);
        else if (v->type == CAIRN_VALUE_STR) {
            msgpack_pack_str(pk, v->len);
            msgpack_pack_str_body(pk, v->s, v->len);
        } else
            msgpack_pack_nil(pk);
    }
}

static void pack_slot(msgpack_packer *pk, const cairn_pslot_t *s)
{
    msgpack_pack_array(pk, 4);
    msgpack_pack_uint16(pk, s->etype);
    cairn__mp_pack_bin(pk, s->eid, CAIRN_ENTITY_ID_BYTES);
    msgpack_pack_uint16(pk, s->field);
    pack_entries(pk, s);
}

/* The canonical encoding of a complete state, to any packer. */
static void pack_state(msgpack_packer *pk, const cairn_plan_state_t *st)
{
    msgpack_pack_array(pk, 5);
    msgpack_pack_uint8(pk, STATE_FORMAT);
    cairn__mp_pack_bin(pk, st->plan, CAIRN_PLAN_ID_BYTES);
    msgpack_pack_uint64(pk, st->nchanges);
    msgpack_pack_array(pk, st->nheads);
    for (size_t i = 0; i < st->nheads; i++)
        cairn__mp_pack_bin(pk, st->heads[i], CAIRN_CHANGE_ID_BYTES);
    msgpack_pack_array(pk, st->nslots);
    for (size_t i = 0; i < st->nslots; i++)
        pack_slot(pk, &st->slots[i]);
}

cairn_err_t cairn__pstate_encode(const cairn_plan_state_t *st, cairn_buf_t *out)
{
    msgpack_packer pk;
    cairn_mp_sink_t sink = {out, 0};
    msgpack_packer_init(&pk, &sink, cairn__mp_sink_write);
    pack_state(&pk, st);
    return sink.oom ? CAIRN_ENOMEM : CAIRN_OK;
}

static int hash_write(void *data, const char *buf, size_t len)
{
    crypto_generichash_update(data, (const unsigned char *)buf, len);
    return 0;
}

/*
 * The encoding streams into the hash: nothing is allocated, so the digest
 * cannot fail (an encoding into a buffer could, and must never turn into
 * a digest of nothing).
 */
void cairn_plan_state_digest(const cairn_plan_state_t *st, uint8_t out[32])
{
    crypto_generichash_state h;
    msgpack_packer pk;
    crypto_generichash_init(&h, NULL, 0, 32);
    msgpack_packer_init(&pk, &h, hash_write);
    pack_state(&pk, st);
    crypto_generichash_final(&h, out, 32);
}

/* ---- decoding (of our own sealed blobs: corrupt, not hostile) ------------ */

static int obj_bin(const msgpack_object *o, size_t n)
{
    return o->type == MSGPACK_OBJECT_BIN && o->via.bin.size == n;
}

static int obj_array(const msgpack_object *o, size_t n)
{
    return o->type == MSGPACK_OBJECT_ARRAY && (n == SIZE_MAX || o->via.array.size == n);
}

static int obj_uint(const msgpack_object *o)
{
    return o->type == MSGPACK_OBJECT_POSITIVE_INTEGER;
}

static cairn_err_t decode_entry(cairn_pslot_t *s, const msgpack_object *o)
{
    if (!obj_array(o, 4))
        return CAIRN_ECORRUPT;
    const msgpack_object *f = o->via.array.ptr;
    if (!obj_bin(&f[0], CAIRN_OP_ID_BYTES) || !obj_uint(&f[1]) || !obj_bin(&f[2], 32))
        return CAIRN_ECORRUPT;
    cairn_value_t v = nil_value;
    if (f[3].type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
        v.type = CAIRN_VALUE_INT;
        v.i = (int64_t)f[3].via.u64;
    } else if (f[3].type == MSGPACK_OBJECT_NEGATIVE_INTEGER) {
        v.type = CAIRN_VALUE_INT;
        v.i = f[3].via.i64;
    } else if (f[3].type == MSGPACK_OBJECT_STR) {
        v.type = CAIRN_VALUE_STR;
        v.s = f[3].via.str.ptr;
        v.len = f[3].via.str.size;
    } else if (f[3].type != MSGPACK_OBJECT_NIL) {
        return CAIRN_ECORRUPT;
    }
    cairn_err_t err = slot_grow(s);
    if (err == CAIRN_OK)
        err = cairn__value_dup(&s->values[s->n], &v);
    if (err != CAIRN_OK)
        return err;
    memcpy(s->ops[s->n].bytes, f[0].via.bin.ptr, CAIRN_OP_ID_BYTES);
    s->hlcs[s->n] = f[1].via.u64;
    memcpy(s->authors[s->n], f[2].via.bin.ptr, 32);
    s->n++;
    return CAIRN_OK;
}

/* One slot of an entity row: [field, [entry...]]. */
static cairn_err_t decode_slot(cairn_plan_state_t *st, uint16_t etype, const uint8_t *eid,
                               const msgpack_object *o)
{
    if (!obj_array(o, 2))
        return CAIRN_ECORRUPT;
    const msgpack_object *f = o->via.array.ptr;
    if (!obj_uint(&f[0]) || f[0].via.u64 > UINT16_MAX || !obj_array(&f[1], SIZE_MAX) ||
        f[1].via.array.size == 0)
        return CAIRN_ECORRUPT;
    uint16_t field = (uint16_t)f[0].via.u64;
    if (cairn__pstate_find(st, etype, eid, field) != NULL)
        return CAIRN_ECORRUPT; /* each slot once */
    cairn_pslot_t *s = slot_get(st, etype, eid, field);
    if (s == NULL)
        return CAIRN_ENOMEM;
    for (uint32_t i = 0; i < f[1].via.array.size; i++) {
        cairn_err_t err = decode_entry(s, &f[1].via.array.ptr[i]);
        if (err != CAIRN_OK)
            return err;
    }
    return CAIRN_OK;
}

/* Unpack one stored value (our own, sealed: corrupt at worst, not hostile). */
static cairn_err_t unpack(msgpack_unpacked *up, const uint8_t *bytes, size_t len)
{
    size_t off = 0;
    msgpack_unpacked_init(up);
    if (msgpack_unpack_next(up, (const char *)bytes, len, &off) == MSGPACK_UNPACK_SUCCESS &&
        off == len)
        return CAIRN_OK;
    msgpack_unpacked_destroy(up);
    return CAIRN_ECORRUPT;
}

cairn_err_t cairn__pstate_decode_entity(cairn_plan_state_t *st, uint16_t etype, const uint8_t *eid,
                                        const uint8_t *bytes, size_t len)
{
    msgpack_unpacked up;
    cairn_err_t err = unpack(&up, bytes, len);
    if (err != CAIRN_OK)
        return err;
    if (!obj_array(&up.data, SIZE_MAX))
        err = CAIRN_ECORRUPT;
    for (uint32_t i = 0; err == CAIRN_OK && i < up.data.via.array.size; i++)
        err = decode_slot(st, etype, eid, &up.data.via.array.ptr[i]);
    msgpack_unpacked_destroy(&up);
    return err;
}

cairn_err_t cairn__pstate_decode_header(cairn_plan_state_t *st, const uint8_t *bytes, size_t len)
{
    msgpack_unpacked up;
    cairn_err_t err = unpack(&up, bytes, len);
    if (err != CAIRN_OK)
        return err;
    const msgpack_object *f = up.data.via.array.ptr;
    if (!obj_array(&up.data, 3) || !obj_uint(&f[0]) || f[0].via.u64 != STATE_FORMAT ||
        !obj_uint(&f[1]) || !obj_array(&f[2], SIZE_MAX))
        err = CAIRN_ECORRUPT;
    if (err == CAIRN_OK)
        st->nchanges = f[1].via.u64;
    for (uint32_t i = 0; err == CAIRN_OK && i < f[2].via.array.size; i++) {
        if (!obj_bin(&f[2].via.array.ptr[i], CAIRN_CHANGE_ID_BYTES))
            err = CAIRN_ECORRUPT;
        else
            err = head_insert(st, (const uint8_t *)f[2].via.array.ptr[i].via.bin.ptr);
    }
    msgpack_unpacked_destroy(&up);
    return err;
}

cairn_err_t cairn__pstate_encode_header(const cairn_plan_state_t *st, cairn_buf_t *out)
{
    msgpack_packer pk;
    cairn_mp_sink_t sink = {out, 0};
    msgpack_packer_init(&pk, &sink, cairn__mp_sink_write);
    msgpack_pack_array(&pk, 3);
    msgpack_pack_uint8(&pk, STATE_FORMAT);
    msgpack_pack_uint64(&pk, st->nchanges);
    msgpack_pack_array(&pk, st->nheads);
    for (size_t i = 0; i < st->nheads; i++)
        cairn__mp_pack_bin(&pk, st->heads[i], CAIRN_CHANGE_ID_BYTES);
    return sink.oom ? CAIRN_ENOMEM : CAIRN_OK;
}

cairn_err_t cairn__pstate_encode_entity(const cairn_plan_state_t *st, uint16_t etype,
                                        const uint8_t *eid, cairn_buf_t *out)
{
    int found;
    size_t first = slot_search(st, etype, eid, CAIRN_F_MEMBERSHIP, &found), end = first;
    while (end < st->nslots && st->slots[end].etype == etype &&
           memcmp(st->slots[end].eid, eid, CAIRN_ENTITY_ID_BYTES) == 0)
        end++;
    if (end == first)
        return CAIRN_OK; /* no live write left: the row goes */
    msgpack_packer pk;
    cairn_mp_sink_t sink = {out, 0};
    msgpack_packer_init(&pk, &sink, cairn__mp_sink_write);
    msgpack_pack_array(&pk, end - first);
    for (size_t i = first; i < end; i++) {
        msgpack_pack_array(&pk, 2);
        msgpack_pack_uint16(&pk, st->slots[i].field);
        pack_entries(&pk, &st->slots[i]);
    }
    return sink.oom ? CAIRN_ENOMEM : CAIRN_OK;
}

/* ---- public views ---------------------------------------------------------- */

static void view_of(const cairn_pslot_t *s, cairn_field_view_t *out)
{
    out->etype = s->etype;
    out->eid = s->eid;
    out->field = s->field;
    out->values = s->values;
    out->hlcs = s->hlcs;
    out->authors = (const uint8_t(*)[32])s->authors;
    out->nvalues = s->n;
    out->conflict = s->n > 1 && cairn_field_is_multi_value(s->etype, s->field);
}

uint64_t cairn_plan_state_changes(const cairn_plan_state_t *st)
{
    return st->nchanges;
}

int cairn_plan_state_present(const cairn_plan_state_t *st, uint16_t etype,
                             const uint8_t eid[CAIRN_ENTITY_ID_BYTES])
{
    const cairn_etype_desc_t *et = cairn__schema_etype(etype);
    if (et == NULL)
        return 0;
    if (et->kind == CAIRN_EK_SINGLETON)
        return 1;
    const cairn_pslot_t *s = cairn__pstate_find(st, etype, eid, CAIRN_F_MEMBERSHIP);
    return s != NULL && s->n > 0;
}

int cairn_plan_state_field(const cairn_plan_state_t *st, uint16_t etype,
                           const uint8_t eid[CAIRN_ENTITY_ID_BYTES], uint16_t field,
                           cairn_field_view_t *out)
{
    const cairn_pslot_t *s = cairn__pstate_find(st, etype, eid, field);
    if (s == NULL || s->n == 0)
        return -1;
    view_of(s, out);
    return 0;
}

int cairn_plan_state_at(const cairn_plan_state_t *st, size_t i, cairn_field_view_t *out)
{
    if (i >= st->nslots)
        return -1;
    view_of(&st->slots[i], out); /* every slot holds a live write */
    return 0;
}

size_t cairn_plan_state_conflicts(const cairn_plan_state_t *st)
{
    size_t n = 0;
    for (size_t k = 0; k < st->nslots; k++) {
        const cairn_pslot_t *s = &st->slots[k];
        if (s->n > 1 && cairn_field_is_multi_value(s->etype, s->field) &&
            cairn_plan_state_present(st, s->etype, s->eid))
            n++;
    }
    return n;
}

/* ---- rebuild from the log alone -------------------------------------------- */

/*
 * A second way to the same state, used to check the first: a write is live
 * if no write to its slot names it in pred, and a change is a head if no
 * change names it in deps or prev. No order of application is involved.
 */
typedef struct superseded {
    uint16_t etype, field;
    uint8_t eid[CAIRN_ENTITY_ID_BYTES];
    cairn_op_id_t op;
} superseded_t;

static int cmp_superseded(const void *pa, const void *pb)
{
    const superseded_t *a = pa, *b = pb;
    if (a->etype != b->etype)
        return a->etype < b->etype ? -1 : 1;
    int c = memcmp(a->eid, b->eid, CAIRN_ENTITY_ID_BYTES);
    if (c != 0)
        return c;
    if (a->field != b->field)
        return a->field < b->field ? -1 : 1;
    return memcmp(a->op.bytes, b->op.bytes, CAIRN_OP_ID_BYTES);
}

static int cmp_id(const void *a, const void *b)
{
    return memcmp(a, b, CAIRN_CHANGE_ID_BYTES);
}

static cairn_err_t collect_refs(cairn_change_t *const *cs, const int *inert, size_t n,
                                superseded_t **sup, size_t *nsup,
                                uint8_t (**refs)[CAIRN_CHANGE_ID_BYTES], size_t *nrefs)
{
    size_t ns = 0, nr = 0;
    for (size_t i = 0; i < n; i++) {
        nr += cs[i]->ndeps + 1;
        for (size_t k = 0; k < cs[i]->nops; k++)
            ns += cs[i]->ops[k].npred;
    }
    *sup = malloc((ns ? ns : 1) * sizeof **sup);
    *refs = malloc((nr ? nr : 1) * sizeof **refs);
    if (*sup == NULL || *refs == NULL)
        return CAIRN_ENOMEM;
    ns = nr = 0;
    for (size_t i = 0; i < n; i++) {
        const cairn_change_t *c = cs[i];
        for (size_t d = 0; d < c->ndeps; d++)
            memcpy((*refs)[nr++], c->deps[d], CAIRN_CHANGE_ID_BYTES);
        if (c->has_prev)
            memcpy((*refs)[nr++], c->prev, CAIRN_CHANGE_ID_BYTES);
        for (size_t k = 0; k < c->nops && !(inert && inert[i]); k++)
            for (size_t p = 0; p < c->ops[k].npred; p++) {
                superseded_t *s = &(*sup)[ns++];
                s->etype = c->ops[k].etype;
                s->field = c->ops[k].field;
                memcpy(s->eid, c->ops[k].eid, CAIRN_ENTITY_ID_BYTES);
                s->op = c->ops[k].pred[p];
            }
    }
    qsort(*sup, ns, sizeof **sup, cmp_superseded);
    qsort(*refs, nr, sizeof **refs, cmp_id);
    *nsup = ns;
    *nrefs = nr;
    return CAIRN_OK;
}

static cairn_err_t rebuild_change(cairn_plan_state_t *st, const cairn_change_t *c, int inert,
                                  const superseded_t *sup, size_t nsup, const void *refs,
                                  size_t nrefs)
{
    for (size_t k = 0; k < c->nops && !inert; k++) {
        const cairn_op_t *op = &c->ops[k];
        cairn_err_t err = cairn__pstate_touch(st, op->etype, op->eid, 1);
        if (err != CAIRN_OK)
            return err;
        if (op->kind == CAIRN_OP_REMOVE)
            continue;
        superseded_t key = {op->etype, op->field, {0}, {{0}}};
        memcpy(key.eid, op->eid, CAIRN_ENTITY_ID_BYTES);
        cairn_change_op_id(c, (uint16_t)k, &key.op);
        if (bsearch(&key, sup, nsup, sizeof *sup, cmp_superseded) != NULL)
            continue;
        cairn_pslot_t *s = slot_get(st, op->etype, op->eid, op->field);
        if (s == NULL)
            return CAIRN_ENOMEM;
        err = slot_insert(s, op->kind == CAIRN_OP_SET ? &op->value : &nil_value, c->hlc, c->author,
                          &key.op);
        if (err != CAIRN_OK)
            return err;
    }
    st->nchanges++;
    if (bsearch(c->id, refs, nrefs, CAIRN_CHANGE_ID_BYTES, cmp_id) != NULL)
        return CAIRN_OK;
    return head_insert(st, c->id);
}

cairn_err_t cairn__pstate_rebuild(const uint8_t plan[CAIRN_PLAN_ID_BYTES],
                                  cairn_change_t *const *changes, const int *inert, size_t n,
                                  cairn_plan_state_t **out)
{
    superseded_t *sup = NULL;
    uint8_t(*refs)[CAIRN_CHANGE_ID_BYTES] = NULL;
    size_t nsup = 0, nrefs = 0;
    cairn_plan_state_t *st = cairn__pstate_new(plan);
    cairn_err_t err =
        st ? collect_refs(changes, inert, n, &sup, &nsup, &refs, &nrefs) : CAIRN_ENOMEM;
    for (size_t i = 0; i < n && err == CAIRN_OK; i++)
        err = rebuild_change(st, changes[i], inert != NULL && inert[i], sup, nsup, refs, nrefs);
    if (st != NULL)
        st->header_dirty = 1;
    free(sup);
    free(refs);
    if (err != CAIRN_OK) {
        cairn_plan_state_free(st);
        return err;
    }
    *out = st;
    return CAIRN_OK;
}
