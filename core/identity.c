/*
 * identity.c - operations with the node's identity key, which stays here.
 *
 * The secret lives in store->identity_sk (sodium_malloc'd by store.c). The
 * one idea: hand out results, not keys. The X25519 secret derived for a
 * Diffie-Hellman exists only during the call, in locked memory, and is
 * wiped before return.
 */
#include "cairn/identity.h"

#include "store_int.h"

#include <sodium.h>

cairn_err_t cairn_store_identity_x25519(const cairn_store_t *store,
                                        uint8_t pub[CAIRN_X25519_BYTES])
{
    if (store == NULL || pub == NULL)
        return CAIRN_EINVAL;
    return crypto_sign_ed25519_pk_to_curve25519(pub, store->public_key) == 0 ? CAIRN_OK
                                                                             : CAIRN_ECRYPTO;
}

cairn_err_t cairn_store_identity_dh(const cairn_store_t *store,
                                    const uint8_t peer_pub[CAIRN_X25519_BYTES],
                                    uint8_t shared[CAIRN_X25519_BYTES])
{
    if (store == NULL || peer_pub == NULL || shared == NULL || store->identity_sk == NULL)
        return CAIRN_EINVAL;
    cairn_err_t err = CAIRN_OK;
    uint8_t *x_sk = sodium_malloc(crypto_scalarmult_SCALARBYTES);
    if (x_sk == NULL)
        return CAIRN_ENOMEM;
    if (crypto_sign_ed25519_sk_to_curve25519(x_sk, store->identity_sk) != 0) {
        err = CAIRN_ECRYPTO;
        goto out;
    }
    if (crypto_scalarmult(shared, x_sk, peer_pub) != 0) { /* a low-order point: all zero */
        sodium_memzero(shared, CAIRN_X25519_BYTES);
        err = CAIRN_EBADKEY;
    }
out:
    sodium_free(x_sk); /* sodium_free wipes before it unmaps */
    return err;
}
