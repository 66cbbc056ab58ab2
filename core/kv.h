/*
 * kv.h - the bottom layer of core/: a sealed LMDB environment (private).
 *
 * Owns the environment, its databases, the data key's sealer and
 * transactions. Every value of every database is sealed through
 * cairn__db_put() and opened through cairn__db_get(); nothing above this
 * layer calls LMDB. Nothing here knows about plans, changes or rosters.
 *
 * Threads: a transaction belongs to the thread that began it (the
 * environment is opened with MDB_NOTLS only so that a read transaction may
 * be begun by one thread and ended by another: a thread pool). One write
 * transaction at a time per environment (CAIRN_EBUSY on this handle; LMDB
 * serialises writers of other processes). See docs/architecture.md.
 */
#ifndef CAIRN_CORE_KV_H
#define CAIRN_CORE_KV_H

#include <lmdb.h>

#include "cairn/buf.h"
#include "cairn/store.h"
#include "seal.h"

/* The databases of a store. The names are part of the on-disk format. */
typedef enum cairn_db {
    CAIRN_DB_META = 0, /* node id, identity, format version, org, clock */
    CAIRN_DB_RECORDS,  /* the public record keyspace */
    CAIRN_DB_PLANS,    /* everything per plan, keyed by plan id first (pkeys.h) */
    CAIRN_DB_PENDING,  /* change id -> bytes of a change waiting for deps */
    CAIRN_DB_WAITING,  /* missing change id, waiting change id -> empty */
    CAIRN_DB_FORKS,    /* plan, 3, author, seq -> empty: the author forked there */
    CAIRN_DB__COUNT
} cairn_db_t;

typedef struct cairn_kv {
    MDB_env *env;
    MDB_dbi dbi[CAIRN_DB__COUNT];
    cairn_sealer_t sealer;   /* set by the opener before cairn__kv_open */
    uint32_t format_version; /* bound into every value's associated data */
    int write_txn_open;
    char *dir; /* the node directory, to diagnose write failures (owned) */
} cairn_kv_t;

struct cairn_txn {
    cairn_kv_t *kv;
    MDB_txn *txn;
    int write;
    int failed;                           /* a write failed mid-way: only abort is allowed */
    MDB_cursor *cursors[CAIRN_DB__COUNT]; /* opened on first use, closed at the end */
};

/*
 * Open the environment in dir and its databases (with create, make them;
 * map_size applies then). kv->sealer and kv->format_version must be set.
 * Errors: LMDB's, mapped (CAIRN_ECORRUPT when a database is missing).
 */
cairn_err_t cairn__kv_open(cairn_kv_t *kv, const char *dir, size_t map_size, int create);
/* Close the environment and wipe the sealer; kv may be half-opened. */
void cairn__kv_close(cairn_kv_t *kv);

/*
 * Begin a transaction (write: the handle's only one; CAIRN_EBUSY while
 * another is open on kv). End it with cairn_txn_commit() or
 * cairn_txn_abort() (cairn/store.h).
 */
cairn_err_t cairn__kv_begin(cairn_kv_t *kv, int write, cairn_txn_t **out);

/* Map an LMDB return code to a cairn error. */
cairn_err_t cairn__err_from_mdb(int rc);

/*
 * Seal and put val under key in db. Same errors as cairn_record_put();
 * CAIRN_EPOISONED once an earlier write of txn failed.
 */
cairn_err_t cairn__db_put(cairn_txn_t *txn, cairn_db_t db, const void *key, size_t key_len,
                          const void *val, size_t val_len);

/* Get and unseal the value under key in db into out. As cairn_record_get(). */
cairn_err_t cairn__db_get(cairn_txn_t *txn, cairn_db_t db, const void *key, size_t key_len,
                          cairn_buf_t *out);

/* Delete key from db. As cairn_record_del(). */
cairn_err_t cairn__db_del(cairn_txn_t *txn, cairn_db_t db, const void *key, size_t key_len);

/* Whether key is in db (nothing unsealed). 1, 0, or a negative error. */
int cairn__db_has(cairn_txn_t *txn, cairn_db_t db, const void *key, size_t key_len);

/*
 * Call fn for every key of db that starts with prefix, in order; a nonzero
 * return from fn stops the scan (and is not an error). The transaction
 * keeps one cursor per database: fn may get and put, but must not scan,
 * seek or look for the last key in db itself.
 */
typedef int (*cairn_key_fn)(void *ctx, const uint8_t *key, size_t key_len);
cairn_err_t cairn__db_scan(cairn_txn_t *txn, cairn_db_t db, const void *prefix, size_t prefix_len,
                           cairn_key_fn fn, void *ctx);

/* The first key of db at or after key into out (cap bytes): CAIRN_ENOTFOUND if none. */
cairn_err_t cairn__db_seek(cairn_txn_t *txn, cairn_db_t db, const void *key, size_t key_len,
                           uint8_t *out, size_t cap, size_t *out_len);

/* The last key of db starting with prefix into key (cap bytes): CAIRN_ENOTFOUND if none. */
cairn_err_t cairn__db_last(cairn_txn_t *txn, cairn_db_t db, const void *prefix, size_t prefix_len,
                           uint8_t *key, size_t cap, size_t *key_len);

/* Number of entries in db. */
cairn_err_t cairn__db_count(cairn_txn_t *txn, cairn_db_t db, uint64_t *count);

/* Meta values of core/'s layers (the org key, the clock), by name. */
cairn_err_t cairn__meta_put(cairn_txn_t *txn, const char *name, const void *val, size_t len);
cairn_err_t cairn__meta_get(cairn_txn_t *txn, const char *name, cairn_buf_t *out);

#endif
