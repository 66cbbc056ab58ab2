/*
 * cairn/identity.h - the node's identity key at work, without letting it out.
 *
 * A node's identity is the Ed25519 key pair cairn_store_init() creates and
 * the roster binds to a name and roles. Its secret half stays inside
 * libcairn, in the store's locked memory: callers (the sync handshake) ask
 * for the operation they need, never for the key. The sync handshake's
 * static-key Diffie-Hellman runs on the key's X25519 form, through the
 * birational map libsodium provides (crypto_sign_ed25519_sk_to_curve25519
 * and crypto_sign_ed25519_pk_to_curve25519); docs/protocol.md says why one
 * key serves both.
 */
#ifndef CAIRN_IDENTITY_H
#define CAIRN_IDENTITY_H

#include <stdint.h>

#include "cairn/error.h"
#include "cairn/store.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CAIRN_X25519_BYTES 32 /* an X25519 public key or shared secret */

/*
 * The X25519 form of this node's identity public key, into pub.
 * Errors: CAIRN_EINVAL (NULL argument), CAIRN_ECRYPTO (the key does not
 * convert: a corrupted identity).
 */
cairn_err_t cairn_store_identity_x25519(const cairn_store_t *store,
                                        uint8_t pub[CAIRN_X25519_BYTES]);

/*
 * X25519 of this node's identity secret (converted from Ed25519, in locked
 * memory, wiped before return) with peer_pub, an X25519 public key, into
 * shared. The caller owns shared and should wipe it once used (the Noise
 * handshake mixes it into its chaining key at once).
 * Errors: CAIRN_EINVAL (NULL argument), CAIRN_ENOMEM (no locked memory),
 * CAIRN_EBADKEY (peer_pub is a low-order point: the result would be zero;
 * shared is zeroed), CAIRN_ECRYPTO (the identity does not convert).
 */
cairn_err_t cairn_store_identity_dh(const cairn_store_t *store,
                                    const uint8_t peer_pub[CAIRN_X25519_BYTES],
                                    uint8_t shared[CAIRN_X25519_BYTES]);

#ifdef __cplusplus
}
#endif

#endif
