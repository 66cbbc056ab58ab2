/*
 * test_change.c - the change format: round trip, signatures, canonical form,
 * and every kind of malformed input, including random mutations.
 */
#include <cairn/change.h>
#include <msgpack.h>
#include <sodium.h>

#include "test.h"

static uint8_t pk[32], sk[64];
static const uint8_t plan[16] = {0x9f, 0x1c, 0x2e, 0x44, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11};

static cairn_value_t str_value(const char *s)
{
    cairn_value_t v = {CAIRN_VALUE_STR, 0, s, strlen(s)};
    return v;
}

static cairn_value_t int_value(int64_t i)
{
    cairn_value_t v = {CAIRN_VALUE_INT, i, NULL, 0};
    return v;
}

/* A two-op change: add a medication, set its dose over one earlier write. */
static cairn_change_t *sample(uint64_t seq, const uint8_t *prev)
{
    static cairn_op_id_t pred[2];
    memset(pred[0].bytes, 0xbb, sizeof pred[0].bytes);
    memset(pred[1].bytes, 0xaa, sizeof pred[1].bytes); /* unsorted on purpose */
    cairn_op_t ops[2];
    memset(ops, 0, sizeof ops);
    ops[0].kind = CAIRN_OP_ADD;
    ops[0].etype = 9;
    memset(ops[0].eid, 0x11, sizeof ops[0].eid);
    ops[1].kind = CAIRN_OP_SET;
    ops[1].etype = 9;
    memset(ops[1].eid, 0x11, sizeof ops[1].eid);
    ops[1].field = 3;
    ops[1].value = str_value("50 mg");
    ops[1].pred = pred;
    ops[1].npred = 2;
    uint8_t deps[2][32];
    memset(deps[0], 0xdd, 32);
    memset(deps[1], 0xcc, 32);
    cairn_change_draft_t d = {plan, seq, prev, (const uint8_t(*)[32])deps, 2,
                              CAIRN_HLC_MAKE(1764000000000ull, 3), ops, 2};
    cairn_change_t *c;
    CHECK_OK(cairn_change_create(&d, sk, &c));
    return c;
}

/* Whether two decoded changes agree field by field (values by content). */
static int same_change(const cairn_change_t *a, const cairn_change_t *b)
{
    if (memcmp(a->id, b->id, 32) || memcmp(a->plan, b->plan, 16) || memcmp(a->author, b->author, 32) ||
        a->seq != b->seq || a->has_prev != b->has_prev || a->ndeps != b->ndeps || a->hlc != b->hlc ||
        a->nops != b->nops || memcmp(a->sig, b->sig, 64) || a->len != b->len ||
        memcmp(a->bytes, b->bytes, a->len))
        return 0;
    if (a->has_prev && memcmp(a->prev, b->prev, 32))
        return 0;
    if (a->ndeps && memcmp(a->deps, b->deps, a->ndeps * 32))
        return 0;
    for (size_t i = 0; i < a->nops; i++) {
        const cairn_op_t *x = &a->ops[i], *y = &b->ops[i];
        if (x->kind != y->kind || x->etype != y->etype || memcmp(x->eid, y->eid, 16) ||
            x->field != y->field || x->value.type != y->value.type || x->npred != y->npred ||
            (x->npred && memcmp(x->pred, y->pred, x->npred * sizeof *x->pred)))
            return 0;
        if (x->value.type == CAIRN_VALUE_INT && x->value.i != y->value.i)
            return 0;
        if (x->value.type == CAIRN_VALUE_STR &&
            (x->value.len != y->value.len || memcmp(x->value.s, y->value.s, x->value.len)))
            return 0;
    }
    return 1;
}

static void round_trip(void)
{
    cairn_change_t *c = sample(1, NULL);
    CHECK(cairn_change_verify(c) == 0);
    cairn_change_t *d;
    CHECK_OK(cairn_change_decode(c->bytes, c->len, &d));
    CHECK(memcmp(c->id, d->id, 32) == 0);
    CHECK(same_change(c, d)); /* create's own view equals the decoder's */
    uint8_t id[32];
    crypto_generichash(id, 32, c->bytes, c->len, NULL, 0);
    CHECK(memcmp(id, d->id, 32) == 0);
    CHECK(memcmp(d->author, pk, 32) == 0 && memcmp(d->plan, plan, 16) == 0);
    CHECK(d->seq == 1 && !d->has_prev && d->ndeps == 2 && d->nops == 2);
    CHECK(d->deps[0][0] == 0xcc && d->deps[1][0] == 0xdd); /* sorted */
    CHECK(d->hlc == CAIRN_HLC_MAKE(1764000000000ull, 3));
    CHECK(d->ops[0].kind == CAIRN_OP_ADD && d->ops[0].value.type == CAIRN_VALUE_NIL);
    CHECK(d->ops[1].kind == CAIRN_OP_SET && d->ops[1].field == 3);
    CHECK(d->ops[1].value.type == CAIRN_VALUE_STR && d->ops[1].value.len == 5);
    CHECK(memcmp(d->ops[1].value.s, "50 mg", 5) == 0);
    CHECK(d->ops[1].npred == 2 && d->ops[1].pred[0].bytes[0] == 0xaa);
    CHECK(cairn_change_verify(d) == 0);
    cairn_op_id_t oid;
    cairn_change_op_id(d, 258, &oid);
    CHECK(memcmp(oid.bytes, d->id, 32) == 0 && oid.bytes[32] == 1 && oid.bytes[33] == 2);

    cairn_change_t *e = sample(2, c->id);
    CHECK(e->has_prev && memcmp(e->prev, c->id, 32) == 0 && cairn_change_verify(e) == 0);
    cairn_change_free(c);
    cairn_change_free(d);
    cairn_change_free(e);
}

static void values_of_every_type(void)
{
    const int64_t ints[] = {0, 1, 127, 128, 255, 256, 65535, 65536, INT64_MAX, -1, -32, -33,
                            -128, -129, INT64_MIN};
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++) {
        cairn_op_t op;
        memset(&op, 0, sizeof op);
        op.kind = CAIRN_OP_SET;
        op.value = int_value(ints[i]);
        cairn_change_draft_t d = {plan, 1, NULL, NULL, 0, 1, &op, 1};
        cairn_change_t *c;
        CHECK_OK(cairn_change_create(&d, sk, &c));
        CHECK(c->ops[0].value.type == CAIRN_VALUE_INT && c->ops[0].value.i == ints[i]);
        cairn_change_t *dec;
        CHECK_OK(cairn_change_decode(c->bytes, c->len, &dec));
        CHECK(same_change(c, dec));
        cairn_change_free(dec);
        cairn_change_free(c);
    }
    const char *strs[] = {"", "caf\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80"};
    for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++) {
        cairn_op_t op;
        memset(&op, 0, sizeof op);
        op.kind = CAIRN_OP_SET;
        op.value = str_value(strs[i]);
        cairn_change_draft_t d = {plan, 1, NULL, NULL, 0, 1, &op, 1};
        cairn_change_t *c;
        CHECK_OK(cairn_change_create(&d, sk, &c));
        cairn_change_t *dec;
        CHECK_OK(cairn_change_decode(c->bytes, c->len, &dec));
        CHECK(same_change(c, dec));
        cairn_change_free(dec);
        cairn_change_free(c);
    }
}

static void invalid_drafts(void)
{
    cairn_change_t *c;
    cairn_op_t op;
    memset(&op, 0, sizeof op);
    op.kind = CAIRN_OP_SET;
    uint8_t prev[32] = {0};
    const char *bad_utf8[] = {"\xc0\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xe2\x82", "\xff"};
    for (size_t i = 0; i < sizeof bad_utf8 / sizeof bad_utf8[0]; i++) {
        op.value = str_value(bad_utf8[i]);
        cairn_change_draft_t d = {plan, 1, NULL, NULL, 0, 1, &op, 1};
        CHECK_ERR(cairn_change_create(&d, sk, &c), CAIRN_EINVAL);
    }
    op.value = int_value(1);
    cairn_change_draft_t no_prev = {plan, 2, NULL, NULL, 0, 1, &op, 1};
    CHECK_ERR(cairn_change_create(&no_prev, sk, &c), CAIRN_EINVAL);
    cairn_change_draft_t prev_on_first = {plan, 1, prev, NULL, 0, 1, &op, 1};
    CHECK_ERR(cairn_change_create(&prev_on_first, sk, &c), CAIRN_EINVAL);
    cairn_change_draft_t no_ops = {plan, 1, NULL, NULL, 0, 1, &op, 0};
    CHECK_ERR(cairn_change_create(&no_ops, sk, &c), CAIRN_EINVAL);
    uint8_t dup[2][32];
    memset(dup, 7, sizeof dup);
    cairn_change_draft_t dup_deps = {plan, 1, NULL, (const uint8_t(*)[32])dup, 2, 1, &op, 1};
    CHECK_ERR(cairn_change_create(&dup_deps, sk, &c), CAIRN_EINVAL);
    static char big[CAIRN_VALUE_STR_MAX + 1];
    memset(big, 'a', sizeof big);
    op.value.type = CAIRN_VALUE_STR, op.value.s = big, op.value.len = sizeof big;
    cairn_change_draft_t too_long = {plan, 1, NULL, NULL, 0, 1, &op, 1};
    CHECK(cairn_change_create(&too_long, sk, &c) != CAIRN_OK);
    /* Many ops of maximal strings: over the change size limit. */
    static cairn_op_t many[CAIRN_CHANGE_MAX_OPS];
    for (size_t i = 0; i < CAIRN_CHANGE_MAX_OPS; i++) {
        memset(&many[i], 0, sizeof many[i]);
        many[i].kind = CAIRN_OP_SET;
        many[i].value.type = CAIRN_VALUE_STR, many[i].value.s = big;
        many[i].value.len = CAIRN_VALUE_STR_MAX;
    }
    cairn_change_draft_t huge = {plan, 1, NULL, NULL, 0, 1, many, CAIRN_CHANGE_MAX_OPS};
    CHECK_ERR(cairn_change_create(&huge, sk, &c), CAIRN_ETOOBIG);
}

static void forged_signatures_fail(void)
{
    cairn_change_t *c = sample(1, NULL);
    uint8_t copy[1024];
    CHECK(c->len <= sizeof copy);
    /* Any single changed byte: either it no longer decodes, or it no longer verifies. */
    for (size_t i = 0; i < c->len; i++) {
        memcpy(copy, c->bytes, c->len);
        copy[i] ^= 0x01;
        cairn_change_t *d;
        if (cairn_change_decode(copy, c->len, &d) == CAIRN_OK) {
            CHECK(cairn_change_verify(d) != 0);
            cairn_change_free(d);
        }
    }
    /* Another key's signature over the same content does not verify as ours. */
    uint8_t pk2[32], sk2[64];
    crypto_sign_keypair(pk2, sk2);
    memcpy(copy, c->bytes, c->len);
    memcpy(copy + 22, pk2, 32); /* the author field: after 0x99 01 c4 10 <16> c4 20 */
    cairn_change_t *d;
    CHECK_OK(cairn_change_decode(copy, c->len, &d));
    CHECK(memcmp(d->author, pk2, 32) == 0 && cairn_change_verify(d) != 0);
    cairn_change_free(d);
    cairn_change_free(c);
}

static void truncated_trailing_oversized(void)
{
    cairn_change_t *c = sample(1, NULL), *d;
    for (size_t n = 0; n < c->len; n++)
        CHECK_ERR(cairn_change_decode(c->bytes, n, &d), CAIRN_EMALFORMED);
    uint8_t copy[1024];
    memcpy(copy, c->bytes, c->len);
    copy[c->len] = 0xc0;
    CHECK_ERR(cairn_change_decode(copy, c->len + 1, &d), CAIRN_EMALFORMED);
    static uint8_t big[CAIRN_CHANGE_MAX_BYTES + 1];
    CHECK_ERR(cairn_change_decode(big, sizeof big, &d), CAIRN_ETOOBIG);
    CHECK_ERR(cairn_change_decode(NULL, 5, &d), CAIRN_EINVAL);
    cairn_change_free(c);
}

/* Headers that declare more than the input holds are refused before any allocation. */
static void hostile_headers(void)
{
    cairn_change_t *d;
    const uint8_t array32[] = {0xdd, 0xff, 0xff, 0xff, 0xff};
    const uint8_t map32[] = {0xdf, 0x7f, 0xff, 0xff, 0xff, 0xc0};
    const uint8_t bin32[] = {0x99, 0xc6, 0xff, 0xff, 0xff, 0xf0};
    const uint8_t str16[] = {0x91, 0xda, 0x10, 0x00, 'a'};
    const uint8_t never[] = {0x91, 0xc1};
    CHECK_ERR(cairn_change_decode(array32, sizeof array32, &d), CAIRN_EMALFORMED);
    CHECK_ERR(cairn_change_decode(map32, sizeof map32, &d), CAIRN_EMALFORMED);
    CHECK_ERR(cairn_change_decode(bin32, sizeof bin32, &d), CAIRN_EMALFORMED);
    CHECK_ERR(cairn_change_decode(str16, sizeof str16, &d), CAIRN_EMALFORMED);
    CHECK_ERR(cairn_change_decode(never, sizeof never, &d), CAIRN_EMALFORMED);
    /* A nesting bomb: 2,000 one-element arrays. */
    static uint8_t nest[2001];
    memset(nest, 0x91, 2000);
    nest[2000] = 0xc0;
    CHECK_ERR(cairn_change_decode(nest, sizeof nest, &d), CAIRN_EMALFORMED);
}

/* Re-pack a decoded change by hand, with one deliberate deviation. */
typedef enum { DEV_SEQ_UINT16, DEV_UNSORTED_DEPS, DEV_STR8_SHORT, DEV_EXTRA_FIELD } deviation_t;

static void pack_deviant(msgpack_sbuffer *sb, const cairn_change_t *c, deviation_t dev)
{
    msgpack_packer p;
    msgpack_packer_init(&p, sb, msgpack_sbuffer_write);
    msgpack_pack_array(&p, dev == DEV_EXTRA_FIELD ? 10 : 9);
    msgpack_pack_uint8(&p, 1);
    msgpack_pack_bin_with_body(&p, c->plan, 16);
    msgpack_pack_bin_with_body(&p, c->author, 32);
    if (dev == DEV_SEQ_UINT16) {
        const char seq16[3] = {(char)0xcd, 0, (char)c->seq};
        msgpack_sbuffer_write(sb, seq16, 3);
    } else {
        msgpack_pack_uint64(&p, c->seq);
    }
    msgpack_pack_nil(&p);
    msgpack_pack_array(&p, c->ndeps);
    for (size_t i = 0; i < c->ndeps; i++)
        msgpack_pack_bin_with_body(&p, c->deps[dev == DEV_UNSORTED_DEPS ? c->ndeps - 1 - i : i],
                                   32);
    msgpack_pack_uint64(&p, c->hlc);
    msgpack_pack_array(&p, 1);
    msgpack_pack_array(&p, 6);
    msgpack_pack_uint8(&p, CAIRN_OP_SET);
    msgpack_pack_uint16(&p, 9);
    msgpack_pack_bin_with_body(&p, c->ops[1].eid, 16);
    msgpack_pack_uint16(&p, 3);
    if (dev == DEV_STR8_SHORT) {
        const char hdr[2] = {(char)0xd9, 5};
        msgpack_sbuffer_write(sb, hdr, 2);
        msgpack_sbuffer_write(sb, "50 mg", 5);
    } else {
        msgpack_pack_str_with_body(&p, "50 mg", 5);
    }
    msgpack_pack_array(&p, 0);
    if (dev == DEV_EXTRA_FIELD)
        msgpack_pack_nil(&p);
    msgpack_pack_bin_with_body(&p, c->sig, 64);
}

static void non_canonical_rejected(void)
{
    cairn_change_t *c = sample(1, NULL), *d;
    const deviation_t devs[] = {DEV_SEQ_UINT16, DEV_UNSORTED_DEPS, DEV_STR8_SHORT,
                                DEV_EXTRA_FIELD};
    for (size_t i = 0; i < sizeof devs / sizeof devs[0]; i++) {
        msgpack_sbuffer sb;
        msgpack_sbuffer_init(&sb);
        pack_deviant(&sb, c, devs[i]);
        CHECK_ERR(cairn_change_decode((const uint8_t *)sb.data, sb.size, &d), CAIRN_EMALFORMED);
        msgpack_sbuffer_destroy(&sb);
    }
    cairn_change_free(c);
}

/* Random byte mutations never crash the decoder, and never pass both checks. */
static void random_mutations(void)
{
    unsigned long long seed = test_seed();
    uint8_t s[randombytes_SEEDBYTES] = {0};
    memcpy(s, &seed, sizeof seed);
    cairn_change_t *c = sample(1, NULL);
    uint8_t copy[1100], rnd[16];
    int decoded = 0;
    for (int iter = 0; iter < 20000; iter++) {
        s[8] = (uint8_t)iter, s[9] = (uint8_t)(iter >> 8);
        randombytes_buf_deterministic(rnd, sizeof rnd, s);
        size_t len = c->len;
        memcpy(copy, c->bytes, len);
        int edits = 1 + rnd[0] % 4;
        for (int k = 0; k < edits; k++) {
            size_t at = (size_t)(rnd[1 + 3 * k] | rnd[2 + 3 * k] << 8) % len;
            switch (rnd[3 + 3 * k] % 3) {
            case 0:
                copy[at] = rnd[13];
                break;
            case 1:
                len = at + 1; /* truncate */
                break;
            default:
                if (len < sizeof copy)
                    copy[len++] = rnd[14]; /* append */
            }
        }
        cairn_change_t *d;
        if (cairn_change_decode(copy, len, &d) == CAIRN_OK) {
            decoded++;
            if (len != c->len || memcmp(copy, c->bytes, len) != 0)
                CHECK(cairn_change_verify(d) != 0);
            cairn_change_free(d);
        }
    }
    fprintf(stderr, "   %d of 20000 mutants decoded; none verified\n", decoded);
    cairn_change_free(c);
}

/* The worked example of docs/change-format.md: the format must not drift. */
static void golden_example(void)
{
    uint8_t seed[32], gpk[32], gsk[64];
    for (int i = 0; i < 32; i++)
        seed[i] = (uint8_t)i;
    crypto_sign_seed_keypair(gpk, gsk, seed);
    uint8_t gplan[16], eid[16];
    for (int i = 0; i < 16; i++)
        gplan[i] = (uint8_t)(0xa0 + i), eid[i] = (uint8_t)(0x10 + i);
    cairn_op_t op;
    memset(&op, 0, sizeof op);
    op.kind = CAIRN_OP_SET;
    op.etype = 1;
    memcpy(op.eid, eid, 16);
    op.field = 1;
    op.value = str_value("Recovery plan");
    cairn_change_draft_t d = {gplan, 1, NULL, NULL, 0, CAIRN_HLC_MAKE(1764000000000ull, 0),
                              &op, 1};
    cairn_change_t *c;
    CHECK_OK(cairn_change_create(&d, gsk, &c));
    char hex[2 * 400 + 1], idhex[65];
    CHECK(c->len <= 400);
    sodium_bin2hex(hex, sizeof hex, c->bytes, c->len);
    sodium_bin2hex(idhex, sizeof idhex, c->id, 32);
    static const char want[] =
        "9901c410a0a1a2a3a4a5a6a7a8a9aaabacadaeafc42003a107bff3ce10be1d70dd18e74bc09967e4d6309b"
        "a50d5f1ddc8664125531b801c090cf019ab697e800000091960101c410101112131415161718191a1b1c1d"
        "1e1f01ad5265636f7665727920706c616e90c4406c1e09d93e29e3fc113135ce955c82393adf5e1e626352"
        "25307b2c6d83f394adc6a6bf78f3ae21a9c67226d96a19502140101f9149618c98d04eca835cbce906";
    static const char want_id[] =
        "a1b415c8f53493c20e98c384040595bdbc660a44039593180623e6223abfa1b1";
    if (getenv("CAIRN_PRINT_GOLDEN"))
        printf("bytes %s\nid %s\n", hex, idhex);
    CHECK(strcmp(hex, want) == 0);
    CHECK(strcmp(idhex, want_id) == 0);
    CHECK(memcmp(c->author, gpk, 32) == 0 && cairn_change_verify(c) == 0);
    cairn_change_free(c);
}

int main(void)
{
    CHECK(sodium_init() >= 0);
    crypto_sign_keypair(pk, sk);
    RUN(round_trip);
    RUN(values_of_every_type);
    RUN(invalid_drafts);
    RUN(forged_signatures_fail);
    RUN(truncated_trailing_oversized);
    RUN(non_canonical_rejected);
    RUN(hostile_headers);
    RUN(random_mutations);
    RUN(golden_example);
    return 0;
}
