/*
 * keyring.h - the wrapped data key at the root of a store (private to core/).
 *
 * The keyring file is the only part of a store that is read before the data
 * key is known. It is fixed-size and little-endian:
 *
 *   offset size field
 *        0    8 magic "CAIRNKR\0"
 *        8    4 format version
 *       12    1 unlock kind (1 passphrase, 2 key file)
 *       13    3 zero
 *       16    8 Argon2id opslimit (0 for key files)
 *       24    8 Argon2id memlimit in bytes (0 for key files)
 *       32   16 salt
 *       48   24 nonce
 *       72   48 data key sealed with XChaCha20-Poly1305 (32 + 16 tag)
 *
 * The first 72 bytes are the associated data of the seal: changing the
 * version, the kind or the KDF parameters makes unwrapping fail.
 */
#ifndef CAIRN_CORE_KEYRING_H
#define CAIRN_CORE_KEYRING_H

#include <stdint.h>

#include "cairn/store.h"
#include "seal.h"

#define CAIRN_KEYRING_FILE "keyring"
#define CAIRN_KEYRING_BYTES 120
#define CAIRN_KEYRING_SALT_BYTES 16

typedef struct cairn_keyring {
    uint32_t version;
    cairn_unlock_kind_t kind;
    uint64_t opslimit;
    uint64_t memlimit;
    uint8_t salt[CAIRN_KEYRING_SALT_BYTES];
    uint8_t nonce[CAIRN_SEAL_NONCE_BYTES];
    uint8_t wrapped[CAIRN_DATA_KEY_BYTES + CAIRN_SEAL_TAG_BYTES];
} cairn_keyring_t;

/*
 * Parse CAIRN_KEYRING_BYTES from fd (at offset 0).
 * Errors: CAIRN_ENOTSTORE (bad magic or short file), CAIRN_EVERSION (newer
 * format), CAIRN_ECORRUPT (invalid fields), CAIRN_EIO.
 */
CAIRN_MUST_USE cairn_err_t cairn__keyring_read(int fd, cairn_keyring_t *kr);

/* Write kr to dir/keyring durably; CAIRN_EEXIST if one is there. */
cairn_err_t cairn__keyring_write(const char *dir, const cairn_keyring_t *kr);

/*
 * Fill kr (version, kind, KDF parameters, salt, nonce) and wrap data_key
 * under the key derived from unlock.
 * Errors: CAIRN_EINVAL, CAIRN_EBADKEY (key file unusable), CAIRN_ENOMEM.
 */
cairn_err_t cairn__keyring_wrap(cairn_keyring_t *kr, const cairn_unlock_t *unlock,
                                cairn_kdf_cost_t cost, const uint8_t *data_key);

/*
 * Unwrap the data key into data_key (CAIRN_DATA_KEY_BYTES, caller's guarded
 * memory). Errors: CAIRN_EKEYKIND, CAIRN_EBADKEY, CAIRN_ENOMEM, CAIRN_EINVAL.
 */
CAIRN_MUST_USE cairn_err_t cairn__keyring_unwrap(const cairn_keyring_t *kr,
                                                 const cairn_unlock_t *unlock, uint8_t *data_key);

#endif
