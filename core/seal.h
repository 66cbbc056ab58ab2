/*
 * seal.h - authenticated encryption of stored values (private to core/).
 *
 * A sealed value is nonce (24) || ciphertext || tag (16), XChaCha20-Poly1305
 * under the store's data key. The caller supplies associated data naming
 * where the value lives, so a value copied under another key fails to open.
 *
 * Nonces are a random 128-bit prefix drawn when the sealer is created,
 * followed by a 64-bit counter: unique without a system call per value.
 */
#ifndef CAIRN_CORE_SEAL_H
#define CAIRN_CORE_SEAL_H

#include <stddef.h>
#include <stdint.h>

#include "cairn/error.h"

#define CAIRN_DATA_KEY_BYTES 32
#define CAIRN_SEAL_NONCE_BYTES 24
#define CAIRN_SEAL_TAG_BYTES 16
#define CAIRN_SEAL_OVERHEAD (CAIRN_SEAL_NONCE_BYTES + CAIRN_SEAL_TAG_BYTES)

typedef struct cairn_sealer {
    uint8_t *key;       /* CAIRN_DATA_KEY_BYTES in sodium_malloc memory */
    uint8_t prefix[16]; /* random per sealer */
    uint64_t counter;   /* next nonce suffix */
} cairn_sealer_t;

/* Copy key into guarded memory and draw a nonce prefix. Errors: CAIRN_ENOMEM. */
cairn_err_t cairn__sealer_init(cairn_sealer_t *s, const uint8_t key[CAIRN_DATA_KEY_BYTES]);

/* Wipe and free the key. Safe on a zeroed or already wiped sealer. */
void cairn__sealer_wipe(cairn_sealer_t *s);

/* Seal pt (pt_len bytes) into out, which must hold pt_len + CAIRN_SEAL_OVERHEAD. */
void cairn__seal(cairn_sealer_t *s, const uint8_t *ad, size_t ad_len, const uint8_t *pt,
                 size_t pt_len, uint8_t *out);

/*
 * Open in (in_len bytes) into out, which must hold in_len - CAIRN_SEAL_OVERHEAD.
 * Errors: CAIRN_ECORRUPT (too short, or authentication failed; out is wiped).
 */
CAIRN_MUST_USE cairn_err_t cairn__unseal(const cairn_sealer_t *s, const uint8_t *ad, size_t ad_len,
                                         const uint8_t *in, size_t in_len, uint8_t *out);

#endif
