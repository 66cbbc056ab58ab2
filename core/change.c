/*
 * change.c - canonical encoding, signing and decoding of changes.
 *
 * Canonical form is enforced the simple way: decode with msgpack-c, then
 * encode the decoded change again and require the same bytes. msgpack-c's
 * packer always picks the shortest form, and the decoder checks that sets
 * (deps, pred) are strictly ascending, so two encodings of one change cannot
 * both pass.
 *
 * The signature is Ed25519 over BLAKE2b-256("cairn change v1\0" || the
 * encoding of the first eight fields). Hashing first lets verification run
 * incrementally over the signed bytes without copying them.
 */
#include "cairn/change.h"

#include "mpscan.h"

#include <msgpack.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

static const char sign_domain[] = "cairn change v1"; /* hashed with its NUL */

#define SIG_TAIL (2 + CAIRN_SIGNATURE_BYTES) /* bin8 header + signature */
#define FIELDS_SIGNED 8
#define FIELDS_ALL 9

/* ---- UTF-8 -------------------------------------------------------------- */

/* Strict UTF-8: no overlong forms, no surrogates, nothing above U+10FFFF. */
static int utf8_valid(const uint8_t *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        uint8_t c = s[i];
        size_t extra;
        uint32_t cp;
        if (c < 0x80) {
            i++;
            continue;
        } else if ((c & 0xe0) == 0xc0) {
            extra = 1, cp = c & 0x1f;
        } else if ((c & 0xf0) == 0xe0) {
            extra = 2, cp = c & 0x0f;
        } else if ((c & 0xf8) == 0xf0) {
            extra = 3, cp = c & 0x07;
        } else {
            return 0;
        }
        if (n - i <= extra)
            return 0;
        for (size_t k = 1; k <= extra; k++) {
            if ((s[i + k] & 0xc0) != 0x80)
                return 0;
            cp = cp << 6 | (s[i + k] & 0x3f);
        }
        static const uint32_t min_cp[4] = {0, 0x80, 0x800, 0x10000};
        if (cp < min_cp[extra] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return 0;
        i += extra + 1;
    }
    return 1;
}

/* ---- encoding ----------------------------------------------------------- */

static void pack_value(msgpack_packer *pk, const cairn_value_t *v)
{
    switch (v->type) {
    case CAIRN_VALUE_INT:
        msgpack_pack_int64(pk, v->i);
        break;
    case CAIRN_VALUE_STR:
        msgpack_pack_str(pk, v->len);
        msgpack_pack_str_body(pk, v->s, v->len);
        break;
    default:
        msgpack_pack_nil(pk);
    }
}

/*
 * str_at (may be NULL; only with an sbuffer packer) receives where the
 * op's string value starts in the encoding.
 */
static void pack_op(msgpack_packer *pk, const cairn_op_t *op, size_t *str_at)
{
    msgpack_pack_array(pk, 6);
    msgpack_pack_uint8(pk, (uint8_t)op->kind);
    msgpack_pack_uint16(pk, op->etype);
    cairn__mp_pack_bin(pk, op->eid, CAIRN_ENTITY_ID_BYTES);
    msgpack_pack_uint16(pk, op->field);
    if (str_at != NULL && op->value.type == CAIRN_VALUE_STR) {
        msgpack_pack_str(pk, op->value.len);
        *str_at = ((const msgpack_sbuffer *)pk->data)->size;
        msgpack_pack_str_body(pk, op->value.s, op->value.len);
    } else {
        pack_value(pk, &op->value);
    }
    msgpack_pack_array(pk, op->npred);
    for (size_t i = 0; i < op->npred; i++)
        cairn__mp_pack_bin(pk, op->pred[i].bytes, CAIRN_OP_ID_BYTES);
}

/* Encode c's fields; with_sig adds the ninth, the signature. str_at: see pack_op. */
static void pack_change(msgpack_packer *pk, const cairn_change_t *c, int with_sig, size_t *str_at)
{
    msgpack_pack_array(pk, with_sig ? FIELDS_ALL : FIELDS_SIGNED);
    msgpack_pack_uint8(pk, CAIRN_CHANGE_FORMAT);
    cairn__mp_pack_bin(pk, c->plan, CAIRN_PLAN_ID_BYTES);
    cairn__mp_pack_bin(pk, c->author, sizeof c->author);
    msgpack_pack_uint64(pk, c->seq);
    if (c->has_prev)
        cairn__mp_pack_bin(pk, c->prev, CAIRN_CHANGE_ID_BYTES);
    else
        msgpack_pack_nil(pk);
    msgpack_pack_array(pk, c->ndeps);
    for (size_t i = 0; i < c->ndeps; i++)
        cairn__mp_pack_bin(pk, c->deps[i], CAIRN_CHANGE_ID_BYTES);
    msgpack_pack_uint64(pk, c->hlc);
    msgpack_pack_array(pk, c->nops);
    for (size_t i = 0; i < c->nops; i++)
        pack_op(pk, &c->ops[i], str_at ? &str_at[i] : NULL);
    if (with_sig)
        cairn__mp_pack_bin(pk, c->sig, CAIRN_SIGNATURE_BYTES);
}

/* The digest the author signs: over the encoding of the first 8 fields. */
static void signing_digest(const uint8_t *bytes, size_t len, uint8_t out[32])
{
    const uint8_t header = 0x90 | FIELDS_SIGNED;
    crypto_generichash_state st;
    crypto_generichash_init(&st, NULL, 0, 32);
    crypto_generichash_update(&st, (const uint8_t *)sign_domain, sizeof sign_domain);
    crypto_generichash_update(&st, &header, 1);
    crypto_generichash_update(&st, bytes + 1, len - 1 - SIG_TAIL);
    crypto_generichash_final(&st, out, 32);
}

/* ---- decoding ----------------------------------------------------------- */

/* Sizes needed to hold a decoded change, gathered in a first pass. */
typedef struct sizes {
    size_t nops, ndeps, npred;
} sizes_t;

static int is_bin(const msgpack_object *o, size_t n)
{
    return o->type == MSGPACK_OBJECT_BIN && o->via.bin.size == n;
}

static int is_uint(const msgpack_object *o, uint64_t max)
{
    return o->type == MSGPACK_OBJECT_POSITIVE_INTEGER && o->via.u64 <= max;
}

/* Strictly ascending array of bin(n); count into *count. */
static cairn_err_t check_set(const msgpack_object *o, size_t n, size_t max, size_t *count)
{
    if (o->type != MSGPACK_OBJECT_ARRAY)
        return CAIRN_EMALFORMED;
    if (o->via.array.size > max)
        return CAIRN_ETOOBIG;
    for (uint32_t i = 0; i < o->via.array.size; i++) {
        const msgpack_object *e = &o->via.array.ptr[i];
        if (!is_bin(e, n))
            return CAIRN_EMALFORMED;
        if (i > 0 && memcmp(o->via.array.ptr[i - 1].via.bin.ptr, e->via.bin.ptr, n) >= 0)
            return CAIRN_EMALFORMED;
    }
    *count += o->via.array.size;
    return CAIRN_OK;
}

static cairn_err_t check_value(const msgpack_object *o)
{
    switch (o->type) {
    case MSGPACK_OBJECT_NIL:
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
        return (o->type == MSGPACK_OBJECT_NIL || o->via.u64 <= INT64_MAX) ? CAIRN_OK
                                                                          : CAIRN_EMALFORMED;
    case MSGPACK_OBJECT_NEGATIVE_INTEGER:
        return CAIRN_OK;
    case MSGPACK_OBJECT_STR:
        if (o->via.str.size > CAIRN_VALUE_STR_MAX)
            return CAIRN_ETOOBIG;
        return utf8_valid((const uint8_t *)o->via.str.ptr, o->via.str.size) ? CAIRN_OK
                                                                            : CAIRN_EMALFORMED;
    default:
        return CAIRN_EMALFORMED;
    }
}

static cairn_err_t check_op(const msgpack_object *o, sizes_t *sz)
{
    if (o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size != 6)
        return CAIRN_EMALFORMED;
    const msgpack_object *f = o->via.array.ptr;
    if (!is_uint(&f[0], CAIRN_OP_REMOVE) || f[0].via.u64 < CAIRN_OP_SET ||
        !is_uint(&f[1], UINT16_MAX) || !is_bin(&f[2], CAIRN_ENTITY_ID_BYTES) ||
        !is_uint(&f[3], UINT16_MAX))
        return CAIRN_EMALFORMED;
    cairn_err_t err = check_value(&f[4]);
    if (err == CAIRN_OK)
        err = check_set(&f[5], CAIRN_OP_ID_BYTES, CAIRN_OP_MAX_PRED, &sz->npred);
    return err;
}

static cairn_err_t check_change(const msgpack_object *root, sizes_t *sz)
{
    if (root->type != MSGPACK_OBJECT_ARRAY || root->via.array.size != FIELDS_ALL)
        return CAIRN_EMALFORMED;
    const msgpack_object *f = root->via.array.ptr;
    if (!is_uint(&f[0], UINT8_MAX) || f[0].via.u64 != CAIRN_CHANGE_FORMAT ||
        !is_bin(&f[1], CAIRN_PLAN_ID_BYTES) || !is_bin(&f[2], 32) || !is_uint(&f[3], UINT64_MAX) ||
        f[3].via.u64 == 0 || !is_uint(&f[6], UINT64_MAX) || !is_bin(&f[8], CAIRN_SIGNATURE_BYTES))
        return CAIRN_EMALFORMED;
    /* prev is nil exactly for the author's first change in the plan. */
    if (f[3].via.u64 == 1 ? f[4].type != MSGPACK_OBJECT_NIL : !is_bin(&f[4], 32))
        return CAIRN_EMALFORMED;
    cairn_err_t err = check_set(&f[5], CAIRN_CHANGE_ID_BYTES, CAIRN_CHANGE_MAX_DEPS, &sz->ndeps);
    if (err != CAIRN_OK)
        return err;
    if (f[7].type != MSGPACK_OBJECT_ARRAY || f[7].via.array.size == 0)
        return CAIRN_EMALFORMED;
    if (f[7].via.array.size > CAIRN_CHANGE_MAX_OPS)
        return CAIRN_ETOOBIG;
    sz->nops = f[7].via.array.size;
    for (uint32_t i = 0; i < sz->nops && err == CAIRN_OK; i++)
        err = check_op(&f[7].via.array.ptr[i], sz);
    return err;
}

/* msgpack_unpack_next leaves strings in the input; check rather than assume. */
static int strings_in_input(const msgpack_object *root, const uint8_t *src, size_t len)
{
    const msgpack_object *ops = &root->via.array.ptr[7];
    for (uint32_t i = 0; i < ops->via.array.size; i++) {
        const msgpack_object *v = &ops->via.array.ptr[i].via.array.ptr[4];
        if (v->type != MSGPACK_OBJECT_STR)
            continue;
        const uint8_t *p = (const uint8_t *)v->via.str.ptr;
        if (p < src || p + v->via.str.size > src + len)
            return 0;
    }
    return 1;
}

/*
 * One allocation holds the change, its ops, deps, preds and a copy of the
 * bytes; string values point into that copy.
 */
typedef struct change_block {
    cairn_change_t change;
    /* followed by: ops, deps, preds, bytes */
} change_block_t;

static void fill_value(cairn_value_t *v, const msgpack_object *o, const uint8_t *src,
                       const uint8_t *copy)
{
    /* Callers checked (strings_in_input) that strings point into src. */
    memset(v, 0, sizeof *v);
    if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
        v->type = CAIRN_VALUE_INT, v->i = (int64_t)o->via.u64;
    } else if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) {
        v->type = CAIRN_VALUE_INT, v->i = o->via.i64;
    } else if (o->type == MSGPACK_OBJECT_STR) {
        /* msgpack_unpack_next references the input: rebase into our copy. */
        v->type = CAIRN_VALUE_STR;
        v->s = (const char *)copy + ((const uint8_t *)o->via.str.ptr - src);
        v->len = o->via.str.size;
    }
}

/* A decoded change's single allocation: the struct, then its arrays and bytes. */
typedef struct layout {
    cairn_change_t *c;
    cairn_op_t *ops;
    uint8_t (*deps)[CAIRN_CHANGE_ID_BYTES];
    cairn_op_id_t *pred;
    uint8_t *bytes; /* a copy of the len bytes of the encoding */
} layout_t;

static int block_alloc(size_t nops, size_t ndeps, size_t npred, const uint8_t *src, size_t len,
                       layout_t *l)
{
    size_t ops_off = sizeof(change_block_t);
    size_t deps_off = ops_off + nops * sizeof(cairn_op_t);
    size_t pred_off = deps_off + ndeps * CAIRN_CHANGE_ID_BYTES;
    size_t bytes_off = pred_off + npred * sizeof(cairn_op_id_t);
    uint8_t *block = malloc(bytes_off + len);
    if (block == NULL)
        return 0;
    l->c = (cairn_change_t *)(void *)block;
    l->ops = (cairn_op_t *)(void *)(block + ops_off);
    l->deps = (uint8_t(*)[CAIRN_CHANGE_ID_BYTES])(block + deps_off);
    l->pred = (cairn_op_id_t *)(void *)(block + pred_off);
    l->bytes = block + bytes_off;
    memcpy(l->bytes, src, len);
    return 1;
}

static cairn_change_t *build(const msgpack_object *root, const sizes_t *sz, const uint8_t *src,
                             size_t len)
{
    layout_t l;
    if (!block_alloc(sz->nops, sz->ndeps, sz->npred, src, len, &l))
        return NULL;
    cairn_change_t *c = l.c;
    cairn_op_t *ops = l.ops;
    uint8_t(*deps)[CAIRN_CHANGE_ID_BYTES] = l.deps;
    cairn_op_id_t *pred = l.pred;
    uint8_t *copy = l.bytes;

    const msgpack_object *f = root->via.array.ptr;
    memset(c, 0, sizeof *c);
    memcpy(c->plan, f[1].via.bin.ptr, CAIRN_PLAN_ID_BYTES);
    memcpy(c->author, f[2].via.bin.ptr, 32);
    c->seq = f[3].via.u64;
    c->has_prev = f[4].type == MSGPACK_OBJECT_BIN;
    if (c->has_prev)
        memcpy(c->prev, f[4].via.bin.ptr, CAIRN_CHANGE_ID_BYTES);
    c->ndeps = f[5].via.array.size;
    for (size_t i = 0; i < c->ndeps; i++)
        memcpy(deps[i], f[5].via.array.ptr[i].via.bin.ptr, CAIRN_CHANGE_ID_BYTES);
    c->deps = (const uint8_t(*)[CAIRN_CHANGE_ID_BYTES])deps;
    c->hlc = f[6].via.u64;
    c->nops = sz->nops;
    for (size_t i = 0; i < c->nops; i++) {
        const msgpack_object *o = f[7].via.array.ptr[i].via.array.ptr;
        cairn_op_t *op = &ops[i];
        op->kind = (cairn_op_kind_t)o[0].via.u64;
        op->etype = (uint16_t)o[1].via.u64;
        memcpy(op->eid, o[2].via.bin.ptr, CAIRN_ENTITY_ID_BYTES);
        op->field = (uint16_t)o[3].via.u64;
        fill_value(&op->value, &o[4], src, copy);
        op->pred = pred;
        op->npred = o[5].via.array.size;
        for (size_t k = 0; k < op->npred; k++)
            memcpy(pred[k].bytes, o[5].via.array.ptr[k].via.bin.ptr, CAIRN_OP_ID_BYTES);
        pred += op->npred;
    }
    c->ops = ops;
    memcpy(c->sig, f[8].via.bin.ptr, CAIRN_SIGNATURE_BYTES);
    c->bytes = copy;
    c->len = len;
    crypto_generichash(c->id, CAIRN_CHANGE_ID_BYTES, copy, len, NULL, 0);
    return c;
}

/* Re-encode c and compare with its bytes: the canonical-form check. */
static cairn_err_t check_canonical(const cairn_change_t *c)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    pack_change(&pk, c, 1, NULL);
    cairn_err_t err = CAIRN_OK;
    if (sb.data == NULL)
        err = CAIRN_ENOMEM;
    else if (sb.size != c->len || memcmp(sb.data, c->bytes, c->len) != 0)
        err = CAIRN_EMALFORMED;
    if (sb.data != NULL)
        sodium_memzero(sb.data, sb.size);
    msgpack_sbuffer_destroy(&sb);
    return err;
}

cairn_err_t cairn_change_decode(const uint8_t *bytes, size_t len, cairn_change_t **out)
{
    if (bytes == NULL || out == NULL)
        return CAIRN_EINVAL;
    *out = NULL;
    if (len > CAIRN_CHANGE_MAX_BYTES)
        return CAIRN_ETOOBIG;
    if (len < 1 + SIG_TAIL)
        return CAIRN_EMALFORMED;

    /* Change, op, pred: three levels of nesting at most. */
    cairn_err_t err = cairn__mp_prescan(bytes, len, 4);
    if (err != CAIRN_OK)
        return err;
    msgpack_unpacked up;
    msgpack_unpacked_init(&up);
    size_t off = 0;
    sizes_t sz = {0, 0, 0};
    msgpack_unpack_return r = msgpack_unpack_next(&up, (const char *)bytes, len, &off);
    if (r == MSGPACK_UNPACK_NOMEM_ERROR)
        err = CAIRN_ENOMEM;
    else if (r != MSGPACK_UNPACK_SUCCESS || off != len)
        err = CAIRN_EMALFORMED; /* truncated, invalid, or trailing bytes */
    if (err == CAIRN_OK)
        err = check_change(&up.data, &sz);
    if (err == CAIRN_OK && !strings_in_input(&up.data, bytes, len))
        err = CAIRN_EIO; /* msgpack-c changed behaviour: refuse rather than misread */
    cairn_change_t *c = NULL;
    if (err == CAIRN_OK && (c = build(&up.data, &sz, bytes, len)) == NULL)
        err = CAIRN_ENOMEM;
    msgpack_unpacked_destroy(&up);
    if (err == CAIRN_OK)
        err = check_canonical(c);
    if (err != CAIRN_OK) {
        free(c);
        return err;
    }
    *out = c;
    return CAIRN_OK;
}

/*
 * The decoded form of a change create() has just encoded, built from the
 * draft rather than by decoding: tmp holds its sorted fields, str_at where
 * each op's string lies in bytes.
 */
static cairn_change_t *build_own(const cairn_change_t *tmp, const uint8_t *bytes, size_t len,
                                 const size_t *str_at)
{
    size_t npred = 0;
    for (size_t i = 0; i < tmp->nops; i++)
        npred += tmp->ops[i].npred;
    layout_t l;
    if (!block_alloc(tmp->nops, tmp->ndeps, npred, bytes, len, &l))
        return NULL;
    cairn_change_t *c = l.c;
    cairn_op_t *ops = l.ops;
    uint8_t(*deps)[CAIRN_CHANGE_ID_BYTES] = l.deps;
    cairn_op_id_t *pred = l.pred;
    uint8_t *copy = l.bytes;
    *c = *tmp;
    if (tmp->ndeps)
        memcpy(deps, tmp->deps, tmp->ndeps * CAIRN_CHANGE_ID_BYTES);
    c->deps = (const uint8_t(*)[CAIRN_CHANGE_ID_BYTES])deps;
    for (size_t i = 0; i < tmp->nops; i++) {
        ops[i] = tmp->ops[i];
        if (ops[i].npred)
            memcpy(pred, tmp->ops[i].pred, ops[i].npred * sizeof *pred);
        ops[i].pred = pred;
        pred += ops[i].npred;
        if (ops[i].value.type == CAIRN_VALUE_STR)
            ops[i].value.s = (const char *)copy + str_at[i];
    }
    c->ops = ops;
    memcpy(c->sig, copy + len - CAIRN_SIGNATURE_BYTES, CAIRN_SIGNATURE_BYTES);
    c->bytes = copy;
    c->len = len;
    crypto_generichash(c->id, CAIRN_CHANGE_ID_BYTES, copy, len, NULL, 0);
    return c;
}

/* What the decoder would refuse in an op, checked on the draft. */
static cairn_err_t draft_op_valid(const cairn_op_t *op)
{
    if (op->kind < CAIRN_OP_SET || op->kind > CAIRN_OP_REMOVE)
        return CAIRN_EINVAL;
    switch (op->value.type) {
    case CAIRN_VALUE_NIL:
    case CAIRN_VALUE_INT:
        return CAIRN_OK;
    case CAIRN_VALUE_STR:
        if (op->value.len > CAIRN_VALUE_STR_MAX)
            return CAIRN_ETOOBIG;
        return op->value.s != NULL && utf8_valid((const uint8_t *)op->value.s, op->value.len)
                   ? CAIRN_OK
                   : CAIRN_EINVAL;
    default:
        return CAIRN_EINVAL;
    }
}

int cairn_change_verify(const cairn_change_t *change)
{
    uint8_t digest[32];
    signing_digest(change->bytes, change->len, digest);
    return crypto_sign_verify_detached(change->sig, digest, sizeof digest, change->author);
}

void cairn_change_op_id(const cairn_change_t *change, uint16_t index, cairn_op_id_t *out)
{
    memcpy(out->bytes, change->id, CAIRN_CHANGE_ID_BYTES);
    out->bytes[CAIRN_CHANGE_ID_BYTES] = (uint8_t)(index >> 8);
    out->bytes[CAIRN_CHANGE_ID_BYTES + 1] = (uint8_t)index;
}

void cairn_change_free(cairn_change_t *change)
{
    if (change == NULL)
        return;
    /* The bytes hold patient content (values point into them). */
    sodium_memzero((void *)(uintptr_t)change->bytes, change->len);
    free(change);
}

/* ---- creation ----------------------------------------------------------- */

static int cmp_dep(const void *a, const void *b)
{
    return memcmp(a, b, CAIRN_CHANGE_ID_BYTES);
}

static int cmp_op_id(const void *a, const void *b)
{
    return memcmp(a, b, CAIRN_OP_ID_BYTES);
}

static int has_adjacent_dup(const void *base, size_t n, size_t size)
{
    const uint8_t *p = base;
    for (size_t i = 1; i < n; i++)
        if (memcmp(p + (i - 1) * size, p + i * size, size) == 0)
            return 1;
    return 0;
}

cairn_err_t cairn_change_create(const cairn_change_draft_t *d, const uint8_t *sk,
                                cairn_change_t **out)
{
    if (d == NULL || sk == NULL || out == NULL || d->plan == NULL || d->seq == 0 ||
        (d->seq > 1) != (d->prev != NULL) || d->nops == 0 || (d->ndeps && d->deps == NULL))
        return CAIRN_EINVAL;
    *out = NULL;
    if (d->nops > CAIRN_CHANGE_MAX_OPS || d->ndeps > CAIRN_CHANGE_MAX_DEPS)
        return CAIRN_ETOOBIG;

    /* Sorted copies of the sets, in one block. */
    size_t npred = 0;
    for (size_t i = 0; i < d->nops; i++) {
        if (d->ops[i].npred > CAIRN_OP_MAX_PRED)
            return CAIRN_ETOOBIG;
        npred += d->ops[i].npred;
    }
    size_t block_len = d->nops * sizeof(cairn_op_t) + npred * sizeof(cairn_op_id_t) +
                       d->ndeps * CAIRN_CHANGE_ID_BYTES + 1;
    uint8_t *block = malloc(block_len);
    if (block == NULL)
        return CAIRN_ENOMEM;
    cairn_op_t *ops = (cairn_op_t *)(void *)block;
    cairn_op_id_t *pred = (cairn_op_id_t *)(void *)(block + d->nops * sizeof(cairn_op_t));
    uint8_t(*deps)[CAIRN_CHANGE_ID_BYTES] = (uint8_t(*)[CAIRN_CHANGE_ID_BYTES])(pred + npred);
    cairn_err_t err = CAIRN_OK;
    if (d->ndeps)
        memcpy(deps, d->deps, d->ndeps * CAIRN_CHANGE_ID_BYTES);
    qsort(deps, d->ndeps, CAIRN_CHANGE_ID_BYTES, cmp_dep);
    if (has_adjacent_dup(deps, d->ndeps, CAIRN_CHANGE_ID_BYTES))
        err = CAIRN_EINVAL;
    for (size_t i = 0; i < d->nops && err == CAIRN_OK; i++) {
        err = draft_op_valid(&d->ops[i]);
        if (err != CAIRN_OK)
            break;
        ops[i] = d->ops[i];
        if (ops[i].npred)
            memcpy(pred, d->ops[i].pred, ops[i].npred * sizeof *pred);
        qsort(pred, ops[i].npred, sizeof *pred, cmp_op_id);
        if (has_adjacent_dup(pred, ops[i].npred, sizeof *pred))
            err = CAIRN_EINVAL;
        ops[i].pred = pred;
        pred += ops[i].npred;
    }

    cairn_change_t tmp;
    memset(&tmp, 0, sizeof tmp);
    memcpy(tmp.plan, d->plan, CAIRN_PLAN_ID_BYTES);
    crypto_sign_ed25519_sk_to_pk(tmp.author, sk);
    tmp.seq = d->seq;
    tmp.has_prev = d->prev != NULL;
    if (tmp.has_prev)
        memcpy(tmp.prev, d->prev, CAIRN_CHANGE_ID_BYTES);
    tmp.deps = (const uint8_t(*)[CAIRN_CHANGE_ID_BYTES])deps;
    tmp.ndeps = d->ndeps;
    tmp.hlc = d->hlc;
    tmp.ops = ops;
    tmp.nops = d->nops;

    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    size_t *str_at = malloc(d->nops * sizeof *str_at);
    if (err == CAIRN_OK && str_at == NULL)
        err = CAIRN_ENOMEM;
    if (err == CAIRN_OK) {
        pack_change(&pk, &tmp, 1, str_at); /* signature zero for now */
        if (sb.data == NULL) {
            err = CAIRN_ENOMEM;
        } else if (sb.size > CAIRN_CHANGE_MAX_BYTES) {
            err = CAIRN_ETOOBIG;
        } else {
            uint8_t digest[32];
            signing_digest((const uint8_t *)sb.data, sb.size, digest);
            crypto_sign_detached((uint8_t *)sb.data + sb.size - CAIRN_SIGNATURE_BYTES, NULL, digest,
                                 sizeof digest, sk);
            memcpy(tmp.sig, (uint8_t *)sb.data + sb.size - CAIRN_SIGNATURE_BYTES,
                   CAIRN_SIGNATURE_BYTES);
            *out = build_own(&tmp, (const uint8_t *)sb.data, sb.size, str_at);
            if (*out == NULL)
                err = CAIRN_ENOMEM;
        }
    }
    if (sb.data != NULL)
        sodium_memzero(sb.data, sb.size);
    msgpack_sbuffer_destroy(&sb);
    free(str_at);
    free(block);
    return err;
}
