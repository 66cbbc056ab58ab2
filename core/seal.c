/*
 * seal.c - XChaCha20-Poly1305 sealing of every value cairn writes to disk.
 *
 * The one idea: the key never leaves sodium_malloc memory, and each value's
 * associated data pins it to its place, so moving ciphertext around is as
 * detectable as altering it.
 */
#include "seal.h"

#include <sodium.h>
#include <string.h>

cairn_err_t cairn__sealer_init(cairn_sealer_t *s, const uint8_t key[CAIRN_DATA_KEY_BYTES])
{
    memset(s, 0, sizeof *s);
    s->key = sodium_malloc(CAIRN_DATA_KEY_BYTES);
    if (s->key == NULL)
        return CAIRN_ENOMEM;
    memcpy(s->key, key, CAIRN_DATA_KEY_BYTES);
    sodium_mprotect_readonly(s->key);
    randombytes_buf(s->prefix, sizeof s->prefix);
    return CAIRN_OK;
}

void cairn__sealer_wipe(cairn_sealer_t *s)
{
    if (s->key != NULL)
        sodium_free(s->key); /* sodium_free wipes before unmapping */
    sodium_memzero(s, sizeof *s);
}

void cairn__seal(cairn_sealer_t *s, const uint8_t *ad, size_t ad_len, const uint8_t *pt,
                 size_t pt_len, uint8_t *out)
{
    uint8_t *nonce = out;
    memcpy(nonce, s->prefix, sizeof s->prefix);
    uint64_t c = s->counter++;
    for (int i = 0; i < 8; i++)
        nonce[16 + i] = (uint8_t)(c >> (8 * i));
    crypto_aead_xchacha20poly1305_ietf_encrypt(out + CAIRN_SEAL_NONCE_BYTES, NULL, pt, pt_len, ad,
                                               ad_len, NULL, nonce, s->key);
}

cairn_err_t cairn__unseal(const cairn_sealer_t *s, const uint8_t *ad, size_t ad_len,
                          const uint8_t *in, size_t in_len, uint8_t *out)
{
    if (in_len < CAIRN_SEAL_OVERHEAD)
        return CAIRN_ECORRUPT;
    size_t ct_len = in_len - CAIRN_SEAL_NONCE_BYTES;
    if (crypto_aead_xchacha20poly1305_ietf_decrypt(out, NULL, NULL, in + CAIRN_SEAL_NONCE_BYTES,
                                                   ct_len, ad, ad_len, in, s->key) != 0) {
        sodium_memzero(out, in_len - CAIRN_SEAL_OVERHEAD);
        return CAIRN_ECORRUPT;
    }
    return CAIRN_OK;
}
