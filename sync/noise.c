/*
 * noise.c - Noise XX handshake and transport cipher, fed bytes, giving bytes.
 *
 * The one idea: the code mirrors the spec's three layers. A CipherState
 * (key + counter) encrypts; the SymmetricState (h, ck and a CipherState)
 * absorbs everything said so far into h and every DH result into ck; the
 * HandshakeState walks XX's token list, writing or reading each token. A
 * single hash h over the whole transcript is what makes tampering, another
 * prologue or a replayed message fail at the next authenticated field.
 */
#include "noise.h"

#include <sodium.h>
#include <string.h>

#define HASHLEN CAIRN_NOISE_HASH_BYTES
#define BLOCKLEN 128
#define KEYLEN CAIRN_NOISE_KEY_BYTES
#define TAGLEN CAIRN_NOISE_TAG_BYTES

static const char protocol_name[] = "Noise_XX_25519_ChaChaPoly_BLAKE2b";

/* n->state: 0 is dead so that a zeroed or wiped struct refuses every call. */
enum { ST_DEAD = 0, ST_MSG1, ST_MSG2, ST_MSG3, ST_DONE };

/* XX as token lists, one per message; 0 ends a list. */
enum { T_END = 0, T_E, T_S, T_EE, T_ES, T_SE };
static const uint8_t xx_tokens[3][5] = {
    {T_E, T_END},
    {T_E, T_EE, T_S, T_ES, T_END},
    {T_S, T_SE, T_END},
};
static const size_t xx_overhead[3] = {CAIRN_NOISE_MSG1_OVERHEAD, CAIRN_NOISE_MSG2_OVERHEAD,
                                      CAIRN_NOISE_MSG3_OVERHEAD};

/* ---- HASH, HMAC, HKDF ---------------------------------------------------------------- */

/* BLAKE2b-512 of a || b: the two-part input is all MixHash and HMAC need. */
static void hash2(uint8_t out[HASHLEN], const uint8_t *a, size_t a_len, const uint8_t *b,
                  size_t b_len)
{
    crypto_generichash_state st;
    crypto_generichash_init(&st, NULL, 0, HASHLEN);
    crypto_generichash_update(&st, a, a_len);
    crypto_generichash_update(&st, b, b_len);
    crypto_generichash_final(&st, out, HASHLEN);
    sodium_memzero(&st, sizeof st);
}

/* HMAC over a || b; HKDF feeds "previous output || counter byte" as two parts. */
static void hmac2(uint8_t out[HASHLEN], const uint8_t *key, size_t key_len, const uint8_t *a,
                  size_t a_len, const uint8_t *b, size_t b_len)
{
    uint8_t k0[BLOCKLEN] = {0}, pad[BLOCKLEN], inner[HASHLEN];
    crypto_generichash_state st;

    if (key_len > BLOCKLEN) /* RFC 2104: long keys are hashed first */
        hash2(k0, key, key_len, NULL, 0);
    else if (key_len > 0)
        memcpy(k0, key, key_len);

    for (size_t i = 0; i < BLOCKLEN; i++)
        pad[i] = k0[i] ^ 0x36;
    crypto_generichash_init(&st, NULL, 0, HASHLEN);
    crypto_generichash_update(&st, pad, BLOCKLEN);
    crypto_generichash_update(&st, a, a_len);
    crypto_generichash_update(&st, b, b_len);
    crypto_generichash_final(&st, inner, HASHLEN);

    for (size_t i = 0; i < BLOCKLEN; i++)
        pad[i] = k0[i] ^ 0x5c;
    hash2(out, pad, BLOCKLEN, inner, HASHLEN);

    sodium_memzero(k0, sizeof k0);
    sodium_memzero(pad, sizeof pad);
    sodium_memzero(inner, sizeof inner);
    sodium_memzero(&st, sizeof st);
}

void cairn__noise_hmac(uint8_t out[HASHLEN], const uint8_t *key, size_t key_len,
                       const uint8_t *data, size_t data_len)
{
    hmac2(out, key, key_len, data, data_len, NULL, 0);
}

void cairn__noise_hkdf(const uint8_t ck[HASHLEN], const uint8_t *ikm, size_t ikm_len,
                       uint8_t out1[HASHLEN], uint8_t out2[HASHLEN], uint8_t *out3)
{
    uint8_t temp[HASHLEN], o1[HASHLEN], o2[HASHLEN];
    const uint8_t one = 1, two = 2, three = 3;

    cairn__noise_hmac(temp, ck, HASHLEN, ikm, ikm_len);
    hmac2(o1, temp, HASHLEN, &one, 1, NULL, 0);
    hmac2(o2, temp, HASHLEN, o1, HASHLEN, &two, 1);
    if (out3 != NULL)
        hmac2(out3, temp, HASHLEN, o2, HASHLEN, &three, 1);
    /* Written last, so callers may pass ck itself as an output. */
    memcpy(out1, o1, HASHLEN);
    memcpy(out2, o2, HASHLEN);
    sodium_memzero(temp, sizeof temp);
    sodium_memzero(o1, sizeof o1);
    sodium_memzero(o2, sizeof o2);
}

/* ---- CipherState --------------------------------------------------------------------- */

static void cipher_init(cairn_noise_cipher_t *c, const uint8_t key64[HASHLEN])
{
    memcpy(c->k, key64, KEYLEN); /* HASHLEN 64: Noise truncates to the first 32 bytes */
    c->n = 0;
    c->has_key = 1;
}

static void nonce_of(uint8_t nonce[12], uint64_t n)
{
    memset(nonce, 0, 4);
    for (int i = 0; i < 8; i++)
        nonce[4 + i] = (uint8_t)(n >> (8 * i));
}

/* EncryptWithAd: without a key (message 1) the plaintext passes through. */
static cairn_err_t cipher_encrypt(cairn_noise_cipher_t *c, const uint8_t *ad, size_t ad_len,
                                  const uint8_t *pt, size_t len, uint8_t *out)
{
    uint8_t nonce[12];
    if (!c->has_key) {
        if (len > 0)
            memmove(out, pt, len);
        return CAIRN_OK;
    }
    if (c->n == UINT64_MAX) /* reserved by Noise: the session must end */
        return CAIRN_ETOOBIG;
    nonce_of(nonce, c->n);
    crypto_aead_chacha20poly1305_ietf_encrypt(out, NULL, pt, len, ad, ad_len, NULL, nonce, c->k);
    c->n++;
    return CAIRN_OK;
}

/* DecryptWithAd: len includes the tag when there is a key. */
static cairn_err_t cipher_decrypt(cairn_noise_cipher_t *c, const uint8_t *ad, size_t ad_len,
                                  const uint8_t *ct, size_t len, uint8_t *out)
{
    uint8_t nonce[12];
    if (!c->has_key) {
        if (len > 0)
            memmove(out, ct, len);
        return CAIRN_OK;
    }
    if (c->n == UINT64_MAX)
        return CAIRN_ETOOBIG;
    nonce_of(nonce, c->n); /* len >= TAGLEN: every caller checked the message's size */
    if (crypto_aead_chacha20poly1305_ietf_decrypt(out, NULL, NULL, ct, len, ad, ad_len, nonce,
                                                  c->k) != 0) {
        if (out != NULL) /* NULL only for an empty plaintext */
            sodium_memzero(out, len - TAGLEN);
        return CAIRN_EBADKEY;
    }
    c->n++;
    return CAIRN_OK;
}

/* ---- SymmetricState ------------------------------------------------------------------ */

static void mix_hash(cairn_noise_t *n, const uint8_t *data, size_t len)
{
    hash2(n->h, n->h, HASHLEN, data, len);
}

/* MixKey(dh), then wipe dh: every DH result goes through here. */
static void mix_key(cairn_noise_t *n, uint8_t dh[KEYLEN])
{
    uint8_t k[HASHLEN];
    cairn__noise_hkdf(n->ck, dh, KEYLEN, n->ck, k, NULL);
    cipher_init(&n->cs, k);
    sodium_memzero(dh, KEYLEN);
    sodium_memzero(k, sizeof k);
}

/* MixKey(DH(sk, pk)). A zero DH result (low-order pk) is refused, as libsodium reports it. */
static cairn_err_t mix_key_dh(cairn_noise_t *n, const uint8_t sk[KEYLEN], const uint8_t pk[KEYLEN])
{
    uint8_t dh[KEYLEN];
    if (crypto_scalarmult(dh, sk, pk) != 0) {
        sodium_memzero(dh, sizeof dh);
        return CAIRN_EBADKEY;
    }
    mix_key(n, dh);
    return CAIRN_OK;
}

/* MixKey(DH(own static, pk)): the caller's function holds the secret. */
static cairn_err_t mix_key_static(cairn_noise_t *n, const uint8_t pk[KEYLEN])
{
    uint8_t dh[KEYLEN];
    cairn_err_t err = n->s.dh(n->s.ctx, pk, dh);
    if (err != CAIRN_OK) {
        sodium_memzero(dh, sizeof dh);
        return err;
    }
    mix_key(n, dh);
    return CAIRN_OK;
}

/* Encrypted output is len (+ TAGLEN once keyed) bytes, then hashed into h. */
static cairn_err_t encrypt_and_hash(cairn_noise_t *n, const uint8_t *pt, size_t len, uint8_t *out)
{
    size_t out_len = len + (n->cs.has_key ? TAGLEN : 0);
    cairn_err_t err = cipher_encrypt(&n->cs, n->h, HASHLEN, pt, len, out);
    if (err == CAIRN_OK)
        mix_hash(n, out, out_len);
    return err;
}

/* ct and out must not overlap: h absorbs ct after it is decrypted. */
static cairn_err_t decrypt_and_hash(cairn_noise_t *n, const uint8_t *ct, size_t len, uint8_t *out)
{
    cairn_err_t err = cipher_decrypt(&n->cs, n->h, HASHLEN, ct, len, out);
    if (err == CAIRN_OK)
        mix_hash(n, ct, len);
    return err;
}

/* ---- HandshakeState ------------------------------------------------------------------ */

/* Kill the session: wipe every secret and refuse further calls. */
static cairn_err_t fail(cairn_noise_t *n, cairn_err_t err)
{
    sodium_memzero(n, sizeof *n); /* state becomes ST_DEAD */
    return err;
}

static cairn_err_t setup(cairn_noise_t *n, int initiator, const uint8_t *prologue,
                         size_t prologue_len, const uint8_t *ephemeral_seed)
{
    n->initiator = initiator != 0;
    n->max_msg = CAIRN_NOISE_MAX_TRANSPORT;
    /* The name is shorter than HASHLEN: h is the name zero-padded, not its hash. */
    memcpy(n->h, protocol_name, sizeof protocol_name - 1);
    memcpy(n->ck, n->h, HASHLEN);
    mix_hash(n, prologue, prologue_len);

    if (ephemeral_seed != NULL)
        memcpy(n->e_sk, ephemeral_seed, KEYLEN);
    else
        randombytes_buf(n->e_sk, KEYLEN);
    if (crypto_scalarmult_base(n->e_pub, n->e_sk) != 0)
        return fail(n, CAIRN_EINVAL);
    n->state = ST_MSG1;
    return CAIRN_OK;
}

cairn_err_t cairn__noise_init(cairn_noise_t *n, int initiator, const cairn_noise_static_t *key,
                              const uint8_t *prologue, size_t prologue_len,
                              const uint8_t *ephemeral_seed)
{
    if (n == NULL || key == NULL || key->dh == NULL || (prologue == NULL && prologue_len > 0))
        return CAIRN_EINVAL;
    memset(n, 0, sizeof *n);
    if (sodium_init() < 0)
        return CAIRN_ECRYPTO;
    n->s = *key;
    return setup(n, initiator, prologue, prologue_len, ephemeral_seed);
}

/* The DH of cairn__noise_init_x25519: ctx is the caller's raw X25519 secret. */
static cairn_err_t raw_x25519_dh(const void *ctx, const uint8_t peer[KEYLEN],
                                 uint8_t shared[KEYLEN])
{
    return crypto_scalarmult(shared, ctx, peer) == 0 ? CAIRN_OK : CAIRN_EBADKEY;
}

cairn_err_t cairn__noise_init_x25519(cairn_noise_t *n, int initiator, const uint8_t x25519_sk[32],
                                     const uint8_t *prologue, size_t prologue_len,
                                     const uint8_t *ephemeral_seed)
{
    if (n == NULL || x25519_sk == NULL)
        return CAIRN_EINVAL;
    if (sodium_init() < 0)
        return CAIRN_ECRYPTO;
    cairn_noise_static_t key = {{0}, 1, raw_x25519_dh, x25519_sk};
    if (crypto_scalarmult_base(key.pub, x25519_sk) != 0)
        return CAIRN_EINVAL;
    return cairn__noise_init(n, initiator, &key, prologue, prologue_len, ephemeral_seed);
}

/* ee, es, se: which secret meets which public key depends on the role. */
static cairn_err_t dh_token(cairn_noise_t *n, int tok)
{
    int ini = n->initiator;
    switch (tok) {
    case T_EE:
        return mix_key_dh(n, n->e_sk, n->re);
    case T_ES:
        return ini ? mix_key_dh(n, n->e_sk, n->rs_dh) : mix_key_static(n, n->re);
    default: /* T_SE */
        return ini ? mix_key_static(n, n->re) : mix_key_dh(n, n->e_sk, n->rs_dh);
    }
}

/* The peer's static key, just decrypted into rs; the DH needs it on the other curve form. */
static cairn_err_t rs_to_dh(cairn_noise_t *n)
{
    if (n->s.x25519)
        memcpy(n->rs_dh, n->rs, KEYLEN);
    else if (crypto_sign_ed25519_pk_to_curve25519(n->rs_dh, n->rs) != 0)
        return CAIRN_EBADKEY;
    return CAIRN_OK;
}

/* Split(): one CipherState per direction; the handshake's secrets go. */
static void split(cairn_noise_t *n)
{
    uint8_t k1[HASHLEN], k2[HASHLEN];
    cairn__noise_hkdf(n->ck, NULL, 0, k1, k2, NULL);
    cipher_init(&n->tx, n->initiator ? k1 : k2);
    cipher_init(&n->rx, n->initiator ? k2 : k1);
    sodium_memzero(k1, sizeof k1);
    sodium_memzero(k2, sizeof k2);
    sodium_memzero(n->ck, sizeof n->ck);
    sodium_memzero(&n->cs, sizeof n->cs);
    sodium_memzero(n->e_sk, sizeof n->e_sk);
    n->s.dh = NULL; /* the static key's work is over: forget its context */
    n->s.ctx = NULL;
}

/* A handshake message went through: on to the next, or to the transport after message 3. */
static void advance(cairn_noise_t *n)
{
    if (n->state == ST_MSG3)
        split(n);
    n->state++;
}

static int in_handshake(const cairn_noise_t *n)
{
    return n->state >= ST_MSG1 && n->state <= ST_MSG3;
}

static int writes_step(const cairn_noise_t *n)
{
    /* Initiator writes messages 1 and 3, the responder message 2. */
    return (n->state == ST_MSG2) != (n->initiator != 0);
}

int cairn__noise_my_turn(const cairn_noise_t *n)
{
    return n != NULL && in_handshake(n) && writes_step(n);
}

int cairn__noise_done(const cairn_noise_t *n)
{
    return n != NULL && n->state == ST_DONE;
}

/* WriteMessage: the current message's tokens, then the payload; out has room (checked). */
static cairn_err_t write_message(cairn_noise_t *n, const uint8_t *payload, size_t plen,
                                 uint8_t *out)
{
    const uint8_t *tok = xx_tokens[n->state - ST_MSG1];
    size_t pos = 0;
    cairn_err_t err = CAIRN_OK;
    for (; *tok != T_END && err == CAIRN_OK; tok++) {
        if (*tok == T_E) {
            memcpy(out + pos, n->e_pub, KEYLEN);
            mix_hash(n, n->e_pub, KEYLEN);
            pos += KEYLEN;
        } else if (*tok == T_S) {
            err = encrypt_and_hash(n, n->s.pub, KEYLEN, out + pos);
            pos += KEYLEN + TAGLEN; /* every `s` in XX follows a DH */
        } else {
            err = dh_token(n, *tok);
        }
    }
    return err == CAIRN_OK ? encrypt_and_hash(n, payload, plen, out + pos) : err;
}

cairn_err_t cairn__noise_write(cairn_noise_t *n, const uint8_t *payload, size_t plen, uint8_t *out,
                               size_t cap, size_t *len)
{
    if (n == NULL || out == NULL || len == NULL || (payload == NULL && plen > 0) ||
        !cairn__noise_my_turn(n))
        return CAIRN_EINVAL;
    size_t total = xx_overhead[n->state - ST_MSG1] + plen;
    if (plen > CAIRN_NOISE_MAX_HANDSHAKE || total > CAIRN_NOISE_MAX_HANDSHAKE || total > cap)
        return CAIRN_EINVAL;
    cairn_err_t err = write_message(n, payload, plen, out);
    if (err != CAIRN_OK)
        return fail(n, err);
    *len = total;
    advance(n);
    return CAIRN_OK;
}

/* ReadMessage: the current message's tokens, then the payload; msg is long enough (checked). */
static cairn_err_t read_message(cairn_noise_t *n, const uint8_t *msg, size_t len, uint8_t *payload)
{
    const uint8_t *tok = xx_tokens[n->state - ST_MSG1];
    size_t pos = 0;
    cairn_err_t err = CAIRN_OK;
    for (; *tok != T_END && err == CAIRN_OK; tok++) {
        if (*tok == T_E) {
            memcpy(n->re, msg + pos, KEYLEN);
            mix_hash(n, n->re, KEYLEN);
            pos += KEYLEN;
        } else if (*tok == T_S) {
            err = decrypt_and_hash(n, msg + pos, KEYLEN + TAGLEN, n->rs);
            if (err == CAIRN_OK)
                err = rs_to_dh(n);
            pos += KEYLEN + TAGLEN;
        } else {
            err = dh_token(n, *tok);
        }
    }
    return err == CAIRN_OK ? decrypt_and_hash(n, msg + pos, len - pos, payload) : err;
}

cairn_err_t cairn__noise_read(cairn_noise_t *n, const uint8_t *msg, size_t len, uint8_t *payload,
                              size_t cap, size_t *plen)
{
    if (n == NULL || msg == NULL || plen == NULL || (payload == NULL && cap > 0) ||
        !in_handshake(n) || writes_step(n))
        return CAIRN_EINVAL;
    size_t overhead = xx_overhead[n->state - ST_MSG1];
    if (len < overhead || len > CAIRN_NOISE_MAX_HANDSHAKE)
        return fail(n, CAIRN_EMALFORMED);
    if (len - overhead > cap) /* the payload's size once decrypted */
        return fail(n, CAIRN_ETOOBIG);
    cairn_err_t err = read_message(n, msg, len, payload);
    if (err != CAIRN_OK)
        return fail(n, err);
    *plen = len - overhead;
    advance(n);
    return CAIRN_OK;
}

const uint8_t *cairn__noise_remote_key(const cairn_noise_t *n)
{
    if (n == NULL)
        return NULL;
    /* The initiator reads it in message 2, the responder in message 3; a failure wipes it. */
    int known = n->state == ST_DONE || (n->initiator && n->state == ST_MSG3);
    return known ? n->rs : NULL;
}

const uint8_t *cairn__noise_handshake_hash(const cairn_noise_t *n)
{
    return cairn__noise_done(n) ? n->h : NULL;
}

/* ---- Transport ----------------------------------------------------------------------- */

cairn_err_t cairn__noise_set_max(cairn_noise_t *n, size_t max)
{
    if (n == NULL || n->state == ST_DEAD || max < TAGLEN || max > CAIRN_NOISE_MAX_TRANSPORT)
        return CAIRN_EINVAL;
    n->max_msg = max;
    return CAIRN_OK;
}

cairn_err_t cairn__noise_encrypt(cairn_noise_t *n, const uint8_t *ad, size_t ad_len,
                                 const uint8_t *plain, size_t len, uint8_t *out)
{
    if (!cairn__noise_done(n) || out == NULL || (plain == NULL && len > 0) ||
        (ad == NULL && ad_len > 0) || len > n->max_msg - TAGLEN)
        return CAIRN_EINVAL;
    cairn_err_t err = cipher_encrypt(&n->tx, ad, ad_len, plain, len, out);
    return err == CAIRN_OK ? CAIRN_OK : fail(n, err);
}

cairn_err_t cairn__noise_decrypt(cairn_noise_t *n, const uint8_t *ad, size_t ad_len,
                                 const uint8_t *cipher, size_t len, uint8_t *out)
{
    if (!cairn__noise_done(n) || cipher == NULL || (out == NULL && len > TAGLEN) ||
        (ad == NULL && ad_len > 0))
        return CAIRN_EINVAL;
    if (len < TAGLEN || len > n->max_msg)
        return fail(n, CAIRN_EMALFORMED);
    cairn_err_t err = cipher_decrypt(&n->rx, ad, ad_len, cipher, len, out);
    return err == CAIRN_OK ? CAIRN_OK : fail(n, err);
}

void cairn__noise_wipe(cairn_noise_t *n)
{
    if (n != NULL)
        sodium_memzero(n, sizeof *n);
}
