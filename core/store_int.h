/*
 * store_int.h - the store as core/'s other modules see it (private).
 *
 * Beyond the public record keyspace, core/ keeps its own LMDB databases
 * (meta now; the change log and plan state later). Every one of them is
 * sealed the same way, through cairn_db_put()/cairn_db_get().
 */
#ifndef CAIRN_CORE_STORE_INT_H
#define CAIRN_CORE_STORE_INT_H

#include <lmdb.h>

#include "cairn/hlc.h"
#include "cairn/store.h"
#include "seal.h"
#include "signer.h"

/* The databases of a store. The names are part of the on-disk format. */
typedef enum cairn_db {
    CAIRN_DB_META = 0, /* node id, identity, format version */
    CAIRN_DB_RECORDS,  /* the public record keyspace */
    CAIRN_DB_PLANS,    /* everything per plan, keyed by plan id first (pkeys.h) */
    CAIRN_DB_PENDING,  /* change id -> bytes of a change waiting for deps */
    CAIRN_DB_WAITING,  /* missing change id, waiting change id -> empty */
    CAIRN_DB_FORKS,    /* plan, 3, author, seq -> empty: the author forked there */
    CAIRN_DB__COUNT
} cairn_db_t;

struct cairn_store {
    MDB_env *env;
    MDB_dbi dbi[CAIRN_DB__COUNT];
    int lock_fd; /* the keyring, held with flock(LOCK_EX) */
    cairn_sealer_t sealer;
    uint8_t *identity_sk; /* Ed25519 secret key, sodium_malloc */
    uint8_t node_id[CAIRN_NODE_ID_BYTES];
    uint8_t public_key[CAIRN_PUBLIC_KEY_BYTES];
    cairn_unlock_kind_t unlock_kind;
    uint32_t format_version;
    int write_txn_open;
    char *dir; /* the node directory, to diagnose write failures */
    cairn_hlc_clock_t clock;     /* persisted in meta at each ingest commit */
    uint64_t (*now_ms)(void *);  /* NULL: the system clock */
    void *now_ctx;
    int has_org;
    uint8_t org[32];             /* the organisation's root public key */
    uint8_t roster_plan[16];     /* cairn_roster_plan_id(org) */
    cairn_signer_t signer;       /* threads signing local edits, started on first use */
    int signer_on;
};

struct cairn_txn {
    cairn_store_t *store;
    MDB_txn *txn;
    int write;
    int failed; /* a write failed mid-way: only abort is allowed */
    MDB_cursor *cursors[CAIRN_DB__COUNT]; /* opened on first use, closed at the end */
};

/* Map an LMDB return code to a cairn error. */
cairn_err_t cairn_err_from_mdb(int rc);

/* Seal and put val under key in db. Same errors as cairn_record_put(). */
cairn_err_t cairn_db_put(cairn_txn_t *txn, cairn_db_t db, const void *key, size_t key_len,
                         const void *val, size_t val_len);

/* Get and unseal the value under key in db into out. As cairn_record_get(). */
cairn_err_t cairn_db_get(cairn_txn_t *txn, cairn_db_t db, const void *key, size_t key_len,
                         cairn_buf_t *out);

/* Delete key from db. As cairn_record_del(). */
cairn_err_t cairn_db_del(cairn_txn_t *txn, cairn_db_t db, const void *key, size_t key_len);

/* Whether key is in db (nothing unsealed). 1, 0, or a negative error. */
int cairn_db_has(cairn_txn_t *txn, cairn_db_t db, const void *key, size_t key_len);

/*
 * Call fn for every key of db that starts with prefix, in order; a nonzero
 * return from fn stops the scan (and is not an error). The transaction
 * keeps one cursor per database: fn may get and put, but must not scan,
 * seek or look for the last key in db itself.
 */
typedef int (*cairn_key_fn)(void *ctx, const uint8_t *key, size_t key_len);
cairn_err_t cairn_db_scan(cairn_txn_t *txn, cairn_db_t db, const void *prefix, size_t prefix_len,
                          cairn_key_fn fn, void *ctx);

/* The first key of db at or after key into out (cap bytes): CAIRN_ENOTFOUND if none. */
cairn_err_t cairn_db_seek(cairn_txn_t *txn, cairn_db_t db, const void *key, size_t key_len,
                          uint8_t *out, size_t cap, size_t *out_len);

/* The last key of db starting with prefix into key (cap bytes): CAIRN_ENOTFOUND if none. */
cairn_err_t cairn_db_last(cairn_txn_t *txn, cairn_db_t db, const void *prefix, size_t prefix_len,
                          uint8_t *key, size_t cap, size_t *key_len);

/* Meta values of core/'s modules (the org key, the clock). */
cairn_err_t cairn_meta_put(cairn_txn_t *txn, const char *name, const void *val, size_t len);
cairn_err_t cairn_meta_get(cairn_txn_t *txn, const char *name, cairn_buf_t *out);

/* The store's clock now, in Unix ms. */
uint64_t cairn_store_now(const cairn_store_t *store);

/* Number of entries in db. */
cairn_err_t cairn_db_count(cairn_txn_t *txn, cairn_db_t db, uint64_t *count);

#endif
