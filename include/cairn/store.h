/*
 * cairn/store.h - a node's encrypted local replica.
 *
 * A store is one directory: an LMDB environment (data.mdb, lock.mdb) and a
 * small "keyring" file. Every value in every database is sealed with
 * XChaCha20-Poly1305 under a random 256-bit data key; the data key is wrapped
 * under a key derived from a passphrase (Argon2id) or read from a key file.
 * The keyring also binds the format version. A node's Ed25519 identity and its
 * random node id are created by cairn_store_init() and kept, sealed, inside.
 *
 * Durability: a transaction whose commit returned CAIRN_OK is on disk (LMDB
 * fsyncs before returning) and survives a process kill or power loss.
 *
 * Concurrency: one process opens a store at a time (a second gets
 * CAIRN_ELOCKED). Within it, one writer thread at a time (batches, edits,
 * ingest, roster and organisation writes; a second write transaction is
 * CAIRN_EBUSY), and beside it any number of threads using the read API
 * (plan and change reads, plan lists and summaries, vectors, cursors,
 * roster membership, holding rights, the identity's key agreement), each
 * call on its own read transaction. A transaction is used by one thread
 * at a time. docs/architecture.md, "Threading model", says why.
 */
#ifndef CAIRN_STORE_H
#define CAIRN_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "cairn/buf.h"
#include "cairn/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The on-disk format this build writes and the newest it reads. */
#define CAIRN_FORMAT_VERSION 1u

#define CAIRN_NODE_ID_BYTES 16    /* random node id */
#define CAIRN_PUBLIC_KEY_BYTES 32 /* Ed25519 public key */
#define CAIRN_KEY_FILE_BYTES 32   /* a key file holds exactly this many random bytes */
#define CAIRN_RECORD_KEY_MAX 448  /* longest record key, in bytes */
#define CAIRN_RECORD_VALUE_MAX (16u * 1024u * 1024u) /* longest record value */

typedef struct cairn_store cairn_store_t;
typedef struct cairn_txn cairn_txn_t;

/* How the data key is protected. */
typedef enum cairn_unlock_kind {
    CAIRN_UNLOCK_PASSPHRASE = 1, /* Argon2id over a passphrase */
    CAIRN_UNLOCK_KEY_FILE = 2,   /* a file of CAIRN_KEY_FILE_BYTES random bytes */
} cairn_unlock_kind_t;

/*
 * The secret that unlocks a store. Filled by the caller; cairn copies nothing
 * it does not need and never keeps the passphrase after the call returns.
 */
typedef struct cairn_unlock {
    cairn_unlock_kind_t kind;
    const char *passphrase; /* PASSPHRASE: bytes, not necessarily NUL-terminated */
    size_t passphrase_len;  /* PASSPHRASE: length in bytes, at least 1 */
    const char *key_file;   /* KEY_FILE: path of the key file */
} cairn_unlock_t;

/* Argon2id cost for passphrase-protected stores (libsodium's presets). */
typedef enum cairn_kdf_cost {
    CAIRN_KDF_MODERATE = 0,    /* default: 256 MiB, 3 passes */
    CAIRN_KDF_INTERACTIVE = 1, /* 64 MiB, 2 passes: faster unlock, weaker */
    CAIRN_KDF_SENSITIVE = 2,   /* 1 GiB, 4 passes: slow unlock, strongest */
} cairn_kdf_cost_t;

typedef struct cairn_init_opts {
    cairn_kdf_cost_t kdf_cost; /* ignored for key files */
    size_t map_size;           /* maximum store size in bytes; 0 = default (32 GiB) */
} cairn_init_opts_t;

typedef struct cairn_store_info {
    uint32_t format_version;
    cairn_unlock_kind_t unlock_kind;
    uint8_t node_id[CAIRN_NODE_ID_BYTES];
    uint8_t public_key[CAIRN_PUBLIC_KEY_BYTES];
    uint64_t records;    /* entries in the record keyspace */
    uint64_t used_bytes; /* bytes of the map in use (pages * page size) */
    uint64_t map_size;   /* maximum size of the map */
} cairn_store_info_t;

/*
 * Write CAIRN_KEY_FILE_BYTES fresh random bytes to a new file at path, mode
 * 0600, synced to disk. Refuses to overwrite.
 * Errors: CAIRN_EINVAL, CAIRN_EEXIST (path exists), CAIRN_EPERM, CAIRN_ENOSPC,
 * CAIRN_EIO, CAIRN_ECRYPTO.
 */
cairn_err_t cairn_key_file_create(const char *path);

/*
 * Create a new store in dir. dir may not exist yet (its parent must) or must
 * be empty; it is created with mode 0700. Generates the node id, the Ed25519
 * identity and the data key, seals them, and syncs everything to disk before
 * returning. opts may be NULL for defaults.
 * Errors: CAIRN_EINVAL, CAIRN_ENODIR (parent missing), CAIRN_EEXIST (dir not
 * empty), CAIRN_EBADKEY (key file unreadable or of the wrong size), CAIRN_EPERM,
 * CAIRN_ENOSPC, CAIRN_ENOMEM, CAIRN_EIO, CAIRN_ECRYPTO. On error nothing is left
 * behind that a later init would trip over, except a directory cairn created.
 */
cairn_err_t cairn_store_init(const char *dir, const cairn_unlock_t *unlock,
                             const cairn_init_opts_t *opts);

/*
 * Tell how the store in dir is protected, without unlocking it, so a caller
 * can ask for the right secret. Writes nothing.
 * Errors: CAIRN_ENODIR, CAIRN_ENOTSTORE, CAIRN_EVERSION, CAIRN_ECORRUPT,
 * CAIRN_EPERM, CAIRN_EIO.
 */
cairn_err_t cairn_store_probe(const char *dir, cairn_unlock_kind_t *kind, uint32_t *version);

/*
 * Open the store in dir. On success *out is a handle to release with
 * cairn_store_close(). Opening modifies nothing on disk.
 * Errors: CAIRN_EINVAL, CAIRN_ENODIR, CAIRN_ENOTSTORE, CAIRN_EVERSION,
 * CAIRN_EKEYKIND (a passphrase for a key-file store or the reverse),
 * CAIRN_EBADKEY (wrong passphrase or key file), CAIRN_ELOCKED, CAIRN_ECORRUPT,
 * CAIRN_EPERM, CAIRN_ENOMEM, CAIRN_EIO, CAIRN_ECRYPTO.
 */
cairn_err_t cairn_store_open(const char *dir, const cairn_unlock_t *unlock, cairn_store_t **out);

/*
 * Close the store: aborts nothing (all transactions must be finished first),
 * wipes the data key and the identity from memory, releases the lock.
 * NULL is ignored.
 */
void cairn_store_close(cairn_store_t *store);

/* Fill *info. Errors: CAIRN_EINVAL, CAIRN_ECORRUPT, CAIRN_EIO. */
cairn_err_t cairn_store_info(cairn_store_t *store, cairn_store_info_t *info);

/*
 * The number of the store's last committed write transaction, into *seq,
 * counted across every process that has the store open: it grows by one
 * with each commit that wrote something (a commit that wrote nothing leaves
 * it). Takes no lock, opens no transaction: cheap enough to poll (the sync
 * service does, to send a local edit made by the CLI at once). May run
 * beside the writer thread. Errors: CAIRN_EINVAL, CAIRN_EIO.
 */
cairn_err_t cairn_store_commit_seq(cairn_store_t *store, uint64_t *seq);

/*
 * Begin a transaction: write != 0 for a read-write one (at most one at a
 * time per store), 0 for a read-only snapshot. Finish it with
 * cairn_txn_commit() or cairn_txn_abort(), which both free it.
 * Errors: CAIRN_EINVAL, CAIRN_ENOMEM, CAIRN_EMAPFULL, CAIRN_EIO.
 */
cairn_err_t cairn_txn_begin(cairn_store_t *store, int write, cairn_txn_t **out);

/*
 * Commit and free txn. When this returns CAIRN_OK the transaction's writes
 * are durable. On any error nothing of the transaction is applied and the
 * store keeps its previous committed state.
 * Errors: CAIRN_ENOSPC, CAIRN_EMAPFULL, CAIRN_EIO, CAIRN_EPERM.
 */
cairn_err_t cairn_txn_commit(cairn_txn_t *txn);

/* Discard txn's writes and free it. NULL is ignored. */
void cairn_txn_abort(cairn_txn_t *txn);

/*
 * Store val under key in the record keyspace, sealed. Keys are stored in the
 * clear so that LMDB can order them: they must not reveal anything about a
 * patient (use random ids). Overwrites an existing value.
 * Errors: CAIRN_EINVAL, CAIRN_EREADONLY, CAIRN_ETOOBIG (key longer than
 * CAIRN_RECORD_KEY_MAX or value longer than CAIRN_RECORD_VALUE_MAX),
 * CAIRN_EMAPFULL, CAIRN_ENOMEM, CAIRN_EIO. After an error other than EINVAL,
 * EREADONLY or ETOOBIG the transaction can only be aborted.
 */
cairn_err_t cairn_record_put(cairn_txn_t *txn, const void *key, size_t key_len, const void *val,
                             size_t val_len);

/*
 * Read and unseal the value under key into out (replacing its contents).
 * out's memory stays the caller's; wipe it with cairn_buf_free().
 * Errors: CAIRN_EINVAL, CAIRN_ENOTFOUND, CAIRN_ECORRUPT (the sealed value
 * failed authentication: tampered, truncated or moved from another key),
 * CAIRN_ENOMEM, CAIRN_EIO.
 */
cairn_err_t cairn_record_get(cairn_txn_t *txn, const void *key, size_t key_len, cairn_buf_t *out);

/*
 * Delete the record under key.
 * Errors: CAIRN_EINVAL, CAIRN_EREADONLY, CAIRN_ENOTFOUND, CAIRN_EIO.
 */
cairn_err_t cairn_record_del(cairn_txn_t *txn, const void *key, size_t key_len);

#ifdef __cplusplus
}
#endif

#endif
