/*
 * keyring.c - wrapping the data key under a passphrase or a key file.
 *
 * A passphrase goes through Argon2id with the parameters recorded in the
 * keyring, so a store created with one cost level opens the same way years
 * later. A key file is already 256 bits of randomness; it only needs a keyed
 * hash with the store's salt to become a key-encryption key.
 */
#include "keyring.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fsio.h"

static const uint8_t keyring_magic[8] = {'C', 'A', 'I', 'R', 'N', 'K', 'R', 0};
static const char keyfile_domain[] = "cairn key file kek v1";

#define KEYRING_AD_BYTES 72

static void put_le(uint8_t *p, uint64_t v, int n)
{
    for (int i = 0; i < n; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_le(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

static void keyring_encode(const cairn_keyring_t *kr, uint8_t out[CAIRN_KEYRING_BYTES])
{
    memset(out, 0, CAIRN_KEYRING_BYTES);
    memcpy(out, keyring_magic, 8);
    put_le(out + 8, kr->version, 4);
    out[12] = (uint8_t)kr->kind;
    put_le(out + 16, kr->opslimit, 8);
    put_le(out + 24, kr->memlimit, 8);
    memcpy(out + 32, kr->salt, sizeof kr->salt);
    memcpy(out + 48, kr->nonce, sizeof kr->nonce);
    memcpy(out + 72, kr->wrapped, sizeof kr->wrapped);
}

cairn_err_t cairn__keyring_read(int fd, cairn_keyring_t *kr)
{
    uint8_t b[CAIRN_KEYRING_BYTES];
    cairn_err_t err = cairn__read_exact(fd, b, sizeof b);
    if (err == CAIRN_ECORRUPT)
        return CAIRN_ENOTSTORE; /* too short to be a keyring */
    if (err != CAIRN_OK)
        return err;
    if (memcmp(b, keyring_magic, 8) != 0)
        return CAIRN_ENOTSTORE;
    kr->version = (uint32_t)get_le(b + 8, 4);
    if (kr->version > CAIRN_FORMAT_VERSION)
        return CAIRN_EVERSION;
    if (kr->version == 0 || b[13] || b[14] || b[15])
        return CAIRN_ECORRUPT;
    kr->kind = (cairn_unlock_kind_t)b[12];
    kr->opslimit = get_le(b + 16, 8);
    kr->memlimit = get_le(b + 24, 8);
    if (kr->kind == CAIRN_UNLOCK_PASSPHRASE) {
        /* Bounds keep a tampered header from asking for absurd work. */
        if (kr->opslimit < crypto_pwhash_OPSLIMIT_MIN || kr->opslimit > 64 ||
            kr->memlimit < crypto_pwhash_MEMLIMIT_MIN || kr->memlimit > (4ull << 30))
            return CAIRN_ECORRUPT;
    } else if (kr->kind == CAIRN_UNLOCK_KEY_FILE) {
        if (kr->opslimit != 0 || kr->memlimit != 0)
            return CAIRN_ECORRUPT;
    } else {
        return CAIRN_ECORRUPT;
    }
    memcpy(kr->salt, b + 32, sizeof kr->salt);
    memcpy(kr->nonce, b + 48, sizeof kr->nonce);
    memcpy(kr->wrapped, b + 72, sizeof kr->wrapped);
    return CAIRN_OK;
}

cairn_err_t cairn__keyring_write(const char *dir, const cairn_keyring_t *kr)
{
    char path[4096];
    uint8_t b[CAIRN_KEYRING_BYTES];
    cairn_err_t err = cairn__path_join(path, sizeof path, dir, CAIRN_KEYRING_FILE);
    if (err != CAIRN_OK)
        return err;
    keyring_encode(kr, b);
    return cairn__write_file_durable(path, b, sizeof b, 1);
}

/* Read a key file: a regular file of exactly CAIRN_KEY_FILE_BYTES. */
static cairn_err_t read_key_file(const char *path, uint8_t *key)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == EACCES ? CAIRN_EPERM : CAIRN_EBADKEY;
    struct stat st;
    cairn_err_t err = CAIRN_OK;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size != CAIRN_KEY_FILE_BYTES)
        err = CAIRN_EBADKEY;
    else if (cairn__read_exact(fd, key, CAIRN_KEY_FILE_BYTES) != CAIRN_OK)
        err = CAIRN_EBADKEY;
    close(fd);
    return err;
}

/* Derive the key-encryption key for kr from unlock into kek (guarded memory). */
static cairn_err_t derive_kek(const cairn_keyring_t *kr, const cairn_unlock_t *unlock, uint8_t *kek)
{
    if (unlock->kind == CAIRN_UNLOCK_PASSPHRASE) {
        if (crypto_pwhash(kek, CAIRN_DATA_KEY_BYTES, unlock->passphrase, unlock->passphrase_len,
                          kr->salt, kr->opslimit, (size_t)kr->memlimit,
                          crypto_pwhash_ALG_ARGON2ID13) != 0)
            return CAIRN_ENOMEM; /* libsodium fails here only when it cannot allocate */
        return CAIRN_OK;
    }
    uint8_t *file_key = sodium_malloc(CAIRN_KEY_FILE_BYTES);
    if (file_key == NULL)
        return CAIRN_ENOMEM;
    cairn_err_t err = read_key_file(unlock->key_file, file_key);
    if (err == CAIRN_OK) {
        crypto_generichash_state st;
        crypto_generichash_init(&st, kr->salt, sizeof kr->salt, CAIRN_DATA_KEY_BYTES);
        crypto_generichash_update(&st, (const uint8_t *)keyfile_domain, sizeof keyfile_domain);
        crypto_generichash_update(&st, file_key, CAIRN_KEY_FILE_BYTES);
        crypto_generichash_final(&st, kek, CAIRN_DATA_KEY_BYTES);
        sodium_memzero(&st, sizeof st);
    }
    sodium_free(file_key);
    return err;
}

static int unlock_valid(const cairn_unlock_t *u)
{
    if (u == NULL)
        return 0;
    if (u->kind == CAIRN_UNLOCK_PASSPHRASE)
        return u->passphrase != NULL && u->passphrase_len > 0;
    if (u->kind == CAIRN_UNLOCK_KEY_FILE)
        return u->key_file != NULL && u->key_file[0] != '\0';
    return 0;
}

cairn_err_t cairn__keyring_wrap(cairn_keyring_t *kr, const cairn_unlock_t *unlock,
                                cairn_kdf_cost_t cost, const uint8_t *data_key)
{
    if (!unlock_valid(unlock))
        return CAIRN_EINVAL;
    memset(kr, 0, sizeof *kr);
    kr->version = CAIRN_FORMAT_VERSION;
    kr->kind = unlock->kind;
    if (unlock->kind == CAIRN_UNLOCK_PASSPHRASE) {
        switch (cost) {
        case CAIRN_KDF_INTERACTIVE:
            kr->opslimit = crypto_pwhash_OPSLIMIT_INTERACTIVE;
            kr->memlimit = crypto_pwhash_MEMLIMIT_INTERACTIVE;
            break;
        case CAIRN_KDF_SENSITIVE:
            kr->opslimit = crypto_pwhash_OPSLIMIT_SENSITIVE;
            kr->memlimit = crypto_pwhash_MEMLIMIT_SENSITIVE;
            break;
        case CAIRN_KDF_MODERATE:
            kr->opslimit = crypto_pwhash_OPSLIMIT_MODERATE;
            kr->memlimit = crypto_pwhash_MEMLIMIT_MODERATE;
            break;
        default:
            return CAIRN_EINVAL;
        }
    }
    randombytes_buf(kr->salt, sizeof kr->salt);
    randombytes_buf(kr->nonce, sizeof kr->nonce);

    uint8_t *kek = sodium_malloc(CAIRN_DATA_KEY_BYTES);
    if (kek == NULL)
        return CAIRN_ENOMEM;
    cairn_err_t err = derive_kek(kr, unlock, kek);
    if (err == CAIRN_OK) {
        uint8_t ad[CAIRN_KEYRING_BYTES];
        keyring_encode(kr, ad);
        crypto_aead_xchacha20poly1305_ietf_encrypt(kr->wrapped, NULL, data_key,
                                                   CAIRN_DATA_KEY_BYTES, ad, KEYRING_AD_BYTES, NULL,
                                                   kr->nonce, kek);
    }
    sodium_free(kek);
    return err;
}

cairn_err_t cairn__keyring_unwrap(const cairn_keyring_t *kr, const cairn_unlock_t *unlock,
                                  uint8_t *data_key)
{
    if (!unlock_valid(unlock))
        return CAIRN_EINVAL;
    if (unlock->kind != kr->kind)
        return CAIRN_EKEYKIND;
    uint8_t *kek = sodium_malloc(CAIRN_DATA_KEY_BYTES);
    if (kek == NULL)
        return CAIRN_ENOMEM;
    cairn_err_t err = derive_kek(kr, unlock, kek);
    if (err == CAIRN_OK) {
        uint8_t ad[CAIRN_KEYRING_BYTES];
        keyring_encode(kr, ad);
        if (crypto_aead_xchacha20poly1305_ietf_decrypt(data_key, NULL, NULL, kr->wrapped,
                                                       sizeof kr->wrapped, ad, KEYRING_AD_BYTES,
                                                       kr->nonce, kek) != 0)
            err = CAIRN_EBADKEY;
    }
    sodium_free(kek);
    return err;
}
