/*
 * store.c - the node's LMDB environment, opened only with the right secret.
 *
 * The one idea: LMDB provides ordering, atomic multi-record transactions and
 * durability; this module adds that nothing reaches LMDB unsealed. Each value
 * is sealed straight into the page LMDB reserves for it (MDB_RESERVE), with
 * the database name and record key as associated data.
 *
 * Layout of a node directory: keyring (see keyring.h), data.mdb, lock.mdb.
 * The keyring is written last at init, so its presence marks a complete store.
 */
#include "store_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "batch.h"
#include "fsio.h"
#include "keyring.h"

#define DEFAULT_MAP_SIZE ((size_t)32 << 30) /* address space only; valgrind refuses 64 GiB */
#define MAX_DBS 16

static const char *const db_names[CAIRN_DB__COUNT] = {
    [CAIRN_DB_META] = "meta",
    [CAIRN_DB_RECORDS] = "records",
    [CAIRN_DB_PLANS] = "plans",
    [CAIRN_DB_PENDING] = "pending",
    [CAIRN_DB_WAITING] = "waiting",
    [CAIRN_DB_FORKS] = "forks",
};

/* Keys of the meta database. */
static const char meta_format[] = "format";
static const char meta_node_id[] = "node_id";
static const char meta_identity[] = "identity";

cairn_err_t cairn_err_from_mdb(int rc)
{
    switch (rc) {
    case MDB_SUCCESS:
        return CAIRN_OK;
    case MDB_NOTFOUND:
        return CAIRN_ENOTFOUND;
    case MDB_MAP_FULL:
        return CAIRN_EMAPFULL;
    case MDB_CORRUPTED:
    case MDB_PAGE_NOTFOUND:
    case MDB_INVALID:
    case MDB_INCOMPATIBLE:
        return CAIRN_ECORRUPT;
    case MDB_VERSION_MISMATCH:
        return CAIRN_EVERSION;
    case MDB_BAD_VALSIZE:
        return CAIRN_ETOOBIG;
    default:
        return rc > 0 ? cairn_err_from_errno(rc) : CAIRN_EIO;
    }
}

/* ---- sealing glue ------------------------------------------------------ */

/*
 * Associated data of a value: format version, database name, NUL, key.
 * Binding the name and key means ciphertext moved to another place fails.
 */
static size_t make_ad(uint8_t *ad, uint32_t version, cairn_db_t db, const void *key,
                      size_t key_len)
{
    size_t name_len = strlen(db_names[db]);
    ad[0] = (uint8_t)version;
    memcpy(ad + 1, db_names[db], name_len + 1);
    memcpy(ad + 2 + name_len, key, key_len);
    return 2 + name_len + key_len;
}

#define AD_MAX (2 + 16 + CAIRN_RECORD_KEY_MAX)

/* LMDB's MDB_val is not const-correct; it never writes through a key. */
static MDB_val mdb_key(const void *key, size_t key_len)
{
    MDB_val k = {key_len, (void *)(uintptr_t)key};
    return k;
}

static cairn_err_t check_key(const void *key, size_t key_len)
{
    if (key == NULL || key_len == 0)
        return CAIRN_EINVAL;
    return key_len > CAIRN_RECORD_KEY_MAX ? CAIRN_ETOOBIG : CAIRN_OK;
}

cairn_err_t cairn_db_put(cairn_txn_t *txn, cairn_db_t db, const void *key, size_t key_len,
                         const void *val, size_t val_len)
{
    if (txn == NULL || (val == NULL && val_len > 0) || db >= CAIRN_DB__COUNT)
        return CAIRN_EINVAL;
    if (!txn->write)
        return CAIRN_EREADONLY;
    if (txn->failed)
        return CAIRN_EINVAL;
    cairn_err_t err = check_key(key, key_len);
    if (err != CAIRN_OK)
        return err;
    if (val_len > CAIRN_RECORD_VALUE_MAX)
        return CAIRN_ETOOBIG;

    uint8_t ad[AD_MAX];
    size_t ad_len = make_ad(ad, txn->store->format_version, db, key, key_len);
    MDB_val k = mdb_key(key, key_len);
    MDB_val v = {val_len + CAIRN_SEAL_OVERHEAD, NULL};
    int rc = mdb_put(txn->txn, txn->store->dbi[db], &k, &v, MDB_RESERVE);
    if (rc != MDB_SUCCESS) {
        txn->failed = 1;
        return cairn_err_from_mdb(rc);
    }
    cairn_seal(&txn->store->sealer, ad, ad_len, val, val_len, v.mv_data);
    return CAIRN_OK;
}

cairn_err_t cairn_db_get(cairn_txn_t *txn, cairn_db_t db, const void *key, size_t key_len,
                         cairn_buf_t *out)
{
    if (txn == NULL || out == NULL || db >= CAIRN_DB__COUNT)
        return CAIRN_EINVAL;
    cairn_err_t err = check_key(key, key_len);
    if (err != CAIRN_OK)
        return err;
    MDB_val k = mdb_key(key, key_len), v;
    int rc = mdb_get(txn->txn, txn->store->dbi[db], &k, &v);
    if (rc != MDB_SUCCESS)
        return cairn_err_from_mdb(rc);
    if (v.mv_size < CAIRN_SEAL_OVERHEAD)
        return CAIRN_ECORRUPT;
    size_t pt_len = v.mv_size - CAIRN_SEAL_OVERHEAD;
    err = cairn_buf_reserve(out, pt_len ? pt_len : 1);
    if (err != CAIRN_OK)
        return err;
    uint8_t ad[AD_MAX];
    size_t ad_len = make_ad(ad, txn->store->format_version, db, key, key_len);
    out->len = 0;
    err = cairn_unseal(&txn->store->sealer, ad, ad_len, v.mv_data, v.mv_size, out->data);
    if (err == CAIRN_OK)
        out->len = pt_len;
    return err;
}

cairn_err_t cairn_db_del(cairn_txn_t *txn, cairn_db_t db, const void *key, size_t key_len)
{
    if (txn == NULL || db >= CAIRN_DB__COUNT)
        return CAIRN_EINVAL;
    if (!txn->write)
        return CAIRN_EREADONLY;
    if (txn->failed)
        return CAIRN_EINVAL;
    cairn_err_t err = check_key(key, key_len);
    if (err != CAIRN_OK)
        return err;
    MDB_val k = mdb_key(key, key_len);
    int rc = mdb_del(txn->txn, txn->store->dbi[db], &k, NULL);
    if (rc != MDB_SUCCESS && rc != MDB_NOTFOUND)
        txn->failed = 1;
    return cairn_err_from_mdb(rc);
}

int cairn_db_has(cairn_txn_t *txn, cairn_db_t db, const void *key, size_t key_len)
{
    if (txn == NULL || db >= CAIRN_DB__COUNT)
        return CAIRN_EINVAL;
    cairn_err_t err = check_key(key, key_len);
    if (err != CAIRN_OK)
        return err;
    MDB_val k = mdb_key(key, key_len), v;
    int rc = mdb_get(txn->txn, txn->store->dbi[db], &k, &v);
    if (rc == MDB_NOTFOUND)
        return 0;
    return rc == MDB_SUCCESS ? 1 : cairn_err_from_mdb(rc);
}

/* The transaction's cursor on db, opened once and reused by every scan. */
static int txn_cursor(cairn_txn_t *txn, cairn_db_t db, MDB_cursor **out)
{
    if (txn->cursors[db] == NULL) {
        int rc = mdb_cursor_open(txn->txn, txn->store->dbi[db], &txn->cursors[db]);
        if (rc != MDB_SUCCESS)
            return rc;
    }
    *out = txn->cursors[db];
    return MDB_SUCCESS;
}

/* Close the cached cursors (before the transaction ends: read-only ones must be). */
static void txn_close_cursors(cairn_txn_t *txn)
{
    for (int i = 0; i < CAIRN_DB__COUNT; i++)
        if (txn->cursors[i] != NULL) {
            mdb_cursor_close(txn->cursors[i]);
            txn->cursors[i] = NULL;
        }
}

static int has_prefix(const MDB_val *k, const void *prefix, size_t prefix_len)
{
    return k->mv_size >= prefix_len && memcmp(k->mv_data, prefix, prefix_len) == 0;
}

cairn_err_t cairn_db_scan(cairn_txn_t *txn, cairn_db_t db, const void *prefix, size_t prefix_len,
                          cairn_key_fn fn, void *ctx)
{
    MDB_cursor *cur;
    if (txn == NULL || fn == NULL || db >= CAIRN_DB__COUNT || (prefix == NULL && prefix_len))
        return CAIRN_EINVAL;
    int rc = txn_cursor(txn, db, &cur);
    if (rc != MDB_SUCCESS)
        return cairn_err_from_mdb(rc);
    MDB_val k = mdb_key(prefix, prefix_len), v;
    rc = prefix_len ? mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE)
                    : mdb_cursor_get(cur, &k, &v, MDB_FIRST);
    while (rc == MDB_SUCCESS && has_prefix(&k, prefix, prefix_len)) {
        if (fn(ctx, k.mv_data, k.mv_size) != 0)
            break;
        rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
    }
    return rc == MDB_SUCCESS || rc == MDB_NOTFOUND ? CAIRN_OK : cairn_err_from_mdb(rc);
}

cairn_err_t cairn_db_last(cairn_txn_t *txn, cairn_db_t db, const void *prefix, size_t prefix_len,
                          uint8_t *key, size_t cap, size_t *key_len)
{
    MDB_cursor *cur;
    uint8_t upper[CAIRN_RECORD_KEY_MAX + 1];
    if (txn == NULL || db >= CAIRN_DB__COUNT || prefix_len == 0 ||
        prefix_len > CAIRN_RECORD_KEY_MAX)
        return CAIRN_EINVAL;
    int rc = txn_cursor(txn, db, &cur);
    if (rc != MDB_SUCCESS)
        return cairn_err_from_mdb(rc);
    /* Seek just past every key with the prefix (prefix, then 0xff...), step back. */
    memcpy(upper, prefix, prefix_len);
    memset(upper + prefix_len, 0xff, CAIRN_RECORD_KEY_MAX + 1 - prefix_len);
    MDB_val k = {sizeof upper, upper}, v;
    rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
    if (rc == MDB_SUCCESS)
        rc = mdb_cursor_get(cur, &k, &v, MDB_PREV);
    else if (rc == MDB_NOTFOUND)
        rc = mdb_cursor_get(cur, &k, &v, MDB_LAST);
    cairn_err_t err = CAIRN_ENOTFOUND;
    if (rc == MDB_SUCCESS && has_prefix(&k, prefix, prefix_len)) {
        err = k.mv_size <= cap ? CAIRN_OK : CAIRN_ETOOBIG;
        if (err == CAIRN_OK) {
            memcpy(key, k.mv_data, k.mv_size);
            *key_len = k.mv_size;
        }
    } else if (rc != MDB_SUCCESS && rc != MDB_NOTFOUND) {
        err = cairn_err_from_mdb(rc);
    }
    return err;
}

cairn_err_t cairn_db_seek(cairn_txn_t *txn, cairn_db_t db, const void *key, size_t key_len,
                          uint8_t *out, size_t cap, size_t *out_len)
{
    MDB_cursor *cur;
    if (txn == NULL || db >= CAIRN_DB__COUNT || key == NULL || key_len == 0 || out == NULL)
        return CAIRN_EINVAL;
    int rc = txn_cursor(txn, db, &cur);
    if (rc != MDB_SUCCESS)
        return cairn_err_from_mdb(rc);
    MDB_val k = mdb_key(key, key_len), v;
    rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
    cairn_err_t err = cairn_err_from_mdb(rc);
    if (err == CAIRN_OK && k.mv_size > cap)
        err = CAIRN_ETOOBIG;
    if (err == CAIRN_OK) {
        memcpy(out, k.mv_data, k.mv_size);
        *out_len = k.mv_size;
    }
    return err;
}

cairn_err_t cairn_meta_put(cairn_txn_t *txn, const char *name, const void *val, size_t len)
{
    return cairn_db_put(txn, CAIRN_DB_META, name, strlen(name), val, len);
}

cairn_err_t cairn_meta_get(cairn_txn_t *txn, const char *name, cairn_buf_t *out)
{
    return cairn_db_get(txn, CAIRN_DB_META, name, strlen(name), out);
}

uint64_t cairn_store_now(const cairn_store_t *store)
{
    if (store->now_ms != NULL)
        return store->now_ms(store->now_ctx);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

cairn_hlc_t cairn_store_hlc(const cairn_store_t *store)
{
    return store ? store->clock.last : 0;
}

void cairn_store_set_clock(cairn_store_t *store, uint64_t (*now_ms)(void *ctx), void *ctx)
{
    if (store == NULL)
        return;
    store->now_ms = now_ms;
    store->now_ctx = ctx;
}

cairn_err_t cairn_db_count(cairn_txn_t *txn, cairn_db_t db, uint64_t *count)
{
    MDB_stat st;
    if (txn == NULL || count == NULL || db >= CAIRN_DB__COUNT)
        return CAIRN_EINVAL;
    int rc = mdb_stat(txn->txn, txn->store->dbi[db], &st);
    if (rc != MDB_SUCCESS)
        return cairn_err_from_mdb(rc);
    *count = st.ms_entries;
    return CAIRN_OK;
}

/* ---- transactions ------------------------------------------------------ */

/* Below this much free space a failed write is taken to be a full disk. */
#define LOW_SPACE_BYTES ((uint64_t)16 << 20)

/*
 * LMDB turns a short write into EIO, losing the reason. When a write fails
 * that way, look at the disk: little space left, or a data file at the
 * process's file-size limit, means the disk is full, which a user can fix.
 */
static cairn_err_t diagnose_write_error(const cairn_store_t *store, int rc)
{
    cairn_err_t err = cairn_err_from_mdb(rc);
    if (err != CAIRN_EIO || store->dir == NULL)
        return err;
    struct statvfs vfs;
    if (statvfs(store->dir, &vfs) == 0 &&
        (uint64_t)vfs.f_bavail * vfs.f_frsize < LOW_SPACE_BYTES)
        return CAIRN_ENOSPC;
    struct rlimit rl;
    char path[4096];
    struct stat st;
    if (getrlimit(RLIMIT_FSIZE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
        cairn_path_join(path, sizeof path, store->dir, "data.mdb") == CAIRN_OK &&
        stat(path, &st) == 0 && (uint64_t)st.st_size + LOW_SPACE_BYTES >= rl.rlim_cur)
        return CAIRN_ENOSPC;
    return err;
}

cairn_err_t cairn_txn_begin(cairn_store_t *store, int write, cairn_txn_t **out)
{
    if (store == NULL || out == NULL)
        return CAIRN_EINVAL;
    *out = NULL;
    if (write && store->write_txn_open)
        return CAIRN_EINVAL; /* LMDB would deadlock on a second writer */
    cairn_txn_t *txn = calloc(1, sizeof *txn);
    if (txn == NULL)
        return CAIRN_ENOMEM;
    int rc = mdb_txn_begin(store->env, NULL, write ? 0 : MDB_RDONLY, &txn->txn);
    if (rc != MDB_SUCCESS) {
        free(txn);
        return cairn_err_from_mdb(rc);
    }
    txn->store = store;
    txn->write = write != 0;
    if (write)
        store->write_txn_open = 1;
    *out = txn;
    return CAIRN_OK;
}

static void txn_release(cairn_txn_t *txn)
{
    if (txn->write)
        txn->store->write_txn_open = 0;
    free(txn);
}

cairn_err_t cairn_txn_commit(cairn_txn_t *txn)
{
    if (txn == NULL)
        return CAIRN_EINVAL;
    cairn_err_t err;
    txn_close_cursors(txn);
    if (txn->failed) {
        mdb_txn_abort(txn->txn);
        err = CAIRN_EINVAL;
    } else {
        /* mdb_txn_commit frees txn->txn whatever it returns. */
        err = diagnose_write_error(txn->store, mdb_txn_commit(txn->txn));
    }
    txn_release(txn);
    return err;
}

void cairn_txn_abort(cairn_txn_t *txn)
{
    if (txn == NULL)
        return;
    txn_close_cursors(txn);
    mdb_txn_abort(txn->txn);
    txn_release(txn);
}

cairn_err_t cairn_record_put(cairn_txn_t *txn, const void *key, size_t key_len, const void *val,
                             size_t val_len)
{
    return cairn_db_put(txn, CAIRN_DB_RECORDS, key, key_len, val, val_len);
}

cairn_err_t cairn_record_get(cairn_txn_t *txn, const void *key, size_t key_len, cairn_buf_t *out)
{
    return cairn_db_get(txn, CAIRN_DB_RECORDS, key, key_len, out);
}

cairn_err_t cairn_record_del(cairn_txn_t *txn, const void *key, size_t key_len)
{
    return cairn_db_del(txn, CAIRN_DB_RECORDS, key, key_len);
}

/* ---- environment ------------------------------------------------------- */

static cairn_err_t env_open(const char *dir, size_t map_size, int create, MDB_env **out)
{
    MDB_env *env = NULL;
    int rc = mdb_env_create(&env);
    if (rc == MDB_SUCCESS)
        rc = mdb_env_set_maxdbs(env, MAX_DBS);
    if (rc == MDB_SUCCESS && create)
        rc = mdb_env_set_mapsize(env, map_size);
    /* MDB_NOTLS: read transactions are not tied to threads (libuv's pool). */
    if (rc == MDB_SUCCESS)
        rc = mdb_env_open(env, dir, MDB_NOTLS, 0600);
    if (rc != MDB_SUCCESS) {
        if (env != NULL)
            mdb_env_close(env);
        return cairn_err_from_mdb(rc);
    }
    *out = env;
    return CAIRN_OK;
}

/* Open (or with create, create) every database; fills store->dbi. */
static cairn_err_t dbs_open(cairn_store_t *store, int create)
{
    MDB_txn *txn;
    int rc = mdb_txn_begin(store->env, NULL, create ? 0 : MDB_RDONLY, &txn);
    if (rc != MDB_SUCCESS)
        return cairn_err_from_mdb(rc);
    for (int i = 0; i < CAIRN_DB__COUNT && rc == MDB_SUCCESS; i++)
        rc = mdb_dbi_open(txn, db_names[i], create ? MDB_CREATE : 0, &store->dbi[i]);
    if (rc != MDB_SUCCESS) {
        mdb_txn_abort(txn);
        /* A store without its databases is damaged, not merely absent. */
        return rc == MDB_NOTFOUND ? CAIRN_ECORRUPT : cairn_err_from_mdb(rc);
    }
    return cairn_err_from_mdb(mdb_txn_commit(txn));
}

static cairn_err_t meta_write(cairn_store_t *store)
{
    cairn_txn_t *txn;
    uint8_t ver[4];
    for (int i = 0; i < 4; i++)
        ver[i] = (uint8_t)(store->format_version >> (8 * i));
    cairn_err_t err = cairn_txn_begin(store, 1, &txn);
    if (err != CAIRN_OK)
        return err;
    err = cairn_db_put(txn, CAIRN_DB_META, meta_format, sizeof meta_format - 1, ver, 4);
    if (err == CAIRN_OK)
        err = cairn_db_put(txn, CAIRN_DB_META, meta_node_id, sizeof meta_node_id - 1,
                           store->node_id, CAIRN_NODE_ID_BYTES);
    if (err == CAIRN_OK)
        err = cairn_db_put(txn, CAIRN_DB_META, meta_identity, sizeof meta_identity - 1,
                           store->identity_sk, crypto_sign_SECRETKEYBYTES);
    if (err != CAIRN_OK) {
        cairn_txn_abort(txn);
        return err;
    }
    return cairn_txn_commit(txn);
}

/* Read one meta value of exactly want bytes into dst. */
static cairn_err_t meta_get(cairn_txn_t *txn, const char *key, cairn_buf_t *buf, void *dst,
                            size_t want)
{
    cairn_err_t err = cairn_db_get(txn, CAIRN_DB_META, key, strlen(key), buf);
    if (err == CAIRN_ENOTFOUND || (err == CAIRN_OK && buf->len != want))
        return CAIRN_ECORRUPT;
    if (err == CAIRN_OK)
        memcpy(dst, buf->data, want);
    return err;
}

static cairn_err_t meta_read(cairn_store_t *store)
{
    cairn_txn_t *txn;
    cairn_buf_t buf = CAIRN_BUF_INIT;
    uint8_t ver[4];
    cairn_err_t err = cairn_txn_begin(store, 0, &txn);
    if (err != CAIRN_OK)
        return err;
    err = meta_get(txn, meta_format, &buf, ver, 4);
    if (err == CAIRN_OK) {
        uint32_t v = (uint32_t)ver[0] | (uint32_t)ver[1] << 8 | (uint32_t)ver[2] << 16 |
                     (uint32_t)ver[3] << 24;
        if (v > CAIRN_FORMAT_VERSION)
            err = CAIRN_EVERSION;
        else if (v != store->format_version)
            err = CAIRN_ECORRUPT;
    }
    if (err == CAIRN_OK)
        err = meta_get(txn, meta_node_id, &buf, store->node_id, CAIRN_NODE_ID_BYTES);
    if (err == CAIRN_OK)
        err = meta_get(txn, meta_identity, &buf, store->identity_sk, crypto_sign_SECRETKEYBYTES);
    if (err == CAIRN_OK)
        crypto_sign_ed25519_sk_to_pk(store->public_key, store->identity_sk);
    if (err == CAIRN_OK)
        err = cairn_org_load(store, txn);
    cairn_buf_free(&buf);
    cairn_txn_abort(txn);
    return err;
}

static cairn_store_t *store_alloc(void)
{
    cairn_store_t *store = calloc(1, sizeof *store);
    if (store == NULL)
        return NULL;
    store->lock_fd = -1;
    store->identity_sk = sodium_malloc(crypto_sign_SECRETKEYBYTES);
    if (store->identity_sk == NULL) {
        free(store);
        return NULL;
    }
    return store;
}

void cairn_store_close(cairn_store_t *store)
{
    if (store == NULL)
        return;
    if (store->signer_on)
        cairn_signer_stop(&store->signer);
    if (store->env != NULL)
        mdb_env_close(store->env);
    cairn_sealer_wipe(&store->sealer);
    if (store->identity_sk != NULL)
        sodium_free(store->identity_sk);
    if (store->lock_fd >= 0)
        close(store->lock_fd); /* releases the flock */
    free(store->dir);
    sodium_memzero(store, sizeof *store);
    free(store);
}

/* ---- init -------------------------------------------------------------- */

/* Make dir, or accept it if it exists and is empty. *created tells which. */
/* fsync the directory that holds dir, so that a directory just made there survives. */
static cairn_err_t fsync_parent(const char *dir)
{
    char parent[4096];
    size_t n = strlen(dir);
    if (n == 0 || n >= sizeof parent)
        return CAIRN_EINVAL;
    memcpy(parent, dir, n + 1);
    while (n > 1 && parent[n - 1] == '/') /* "a/b/" is "a/b" */
        parent[--n] = '\0';
    char *slash = strrchr(parent, '/');
    if (slash == NULL)
        return cairn_fsync_dir(".");
    if (slash == parent)
        slash[1] = '\0'; /* "/x": the root */
    else
        *slash = '\0';
    return cairn_fsync_dir(parent);
}

static cairn_err_t prepare_dir(const char *dir, int *created)
{
    *created = 0;
    if (mkdir(dir, 0700) == 0) {
        *created = 1;
        return fsync_parent(dir);
    }
    if (errno == ENOENT)
        return CAIRN_ENODIR;
    if (errno != EEXIST)
        return cairn_err_from_errno(errno);
    DIR *d = opendir(dir);
    if (d == NULL)
        return errno == ENOTDIR ? CAIRN_EEXIST : cairn_err_from_errno(errno);
    struct dirent *e;
    cairn_err_t err = CAIRN_OK;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
            err = CAIRN_EEXIST;
            break;
        }
    }
    closedir(d);
    return err;
}

static void remove_partial(const char *dir, int created)
{
    static const char *const files[] = {"data.mdb", "lock.mdb", CAIRN_KEYRING_FILE};
    char path[4096];
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++)
        if (cairn_path_join(path, sizeof path, dir, files[i]) == CAIRN_OK)
            unlink(path);
    if (created)
        rmdir(dir);
}

cairn_err_t cairn_store_init(const char *dir, const cairn_unlock_t *unlock,
                             const cairn_init_opts_t *opts)
{
    if (dir == NULL || unlock == NULL)
        return CAIRN_EINVAL;
    if (sodium_init() < 0)
        return CAIRN_ECRYPTO;
    cairn_init_opts_t defaults = {CAIRN_KDF_MODERATE, 0};
    if (opts == NULL)
        opts = &defaults;
    size_t map_size = opts->map_size ? opts->map_size : DEFAULT_MAP_SIZE;

    int created = 0, touched = 0;
    cairn_keyring_t kr;
    cairn_store_t *store = store_alloc();
    uint8_t *data_key = sodium_malloc(CAIRN_DATA_KEY_BYTES);
    cairn_err_t err = CAIRN_ENOMEM;
    if (store == NULL || data_key == NULL)
        goto out;

    err = prepare_dir(dir, &created);
    if (err != CAIRN_OK)
        goto out;
    touched = 1;
    /* Wrap first: a bad key file or passphrase fails before LMDB files exist. */
    randombytes_buf(data_key, CAIRN_DATA_KEY_BYTES);
    err = cairn_keyring_wrap(&kr, unlock, opts->kdf_cost, data_key);
    if (err != CAIRN_OK)
        goto out;

    store->format_version = CAIRN_FORMAT_VERSION;
    store->unlock_kind = unlock->kind;
    randombytes_buf(store->node_id, sizeof store->node_id);
    crypto_sign_keypair(store->public_key, store->identity_sk);
    err = cairn_sealer_init(&store->sealer, data_key);
    if (err == CAIRN_OK)
        err = env_open(dir, map_size, 1, &store->env);
    if (err == CAIRN_OK)
        err = dbs_open(store, 1);
    if (err == CAIRN_OK)
        err = meta_write(store);
    if (err == CAIRN_OK)
        err = cairn_keyring_write(dir, &kr); /* last: marks the store complete */
out:
    cairn_store_close(store);
    if (data_key != NULL)
        sodium_free(data_key);
    if (err != CAIRN_OK && touched)
        remove_partial(dir, created);
    return err;
}

/* ---- open -------------------------------------------------------------- */

/* Open and parse dir/keyring; on success *fd is the open keyring file. */
static cairn_err_t keyring_load(const char *dir, cairn_keyring_t *kr, int *fd_out)
{
    struct stat st;
    char path[4096];
    if (dir == NULL || dir[0] == '\0')
        return CAIRN_EINVAL;
    if (stat(dir, &st) != 0)
        return errno == ENOENT ? CAIRN_ENODIR : cairn_err_from_errno(errno);
    if (!S_ISDIR(st.st_mode))
        return CAIRN_ENOTSTORE;
    cairn_err_t err = cairn_path_join(path, sizeof path, dir, CAIRN_KEYRING_FILE);
    if (err != CAIRN_OK)
        return err;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? CAIRN_ENOTSTORE : cairn_err_from_errno(errno);
    err = cairn_keyring_read(fd, kr);
    if (err != CAIRN_OK) {
        close(fd);
        return err;
    }
    *fd_out = fd;
    return CAIRN_OK;
}

cairn_err_t cairn_store_probe(const char *dir, cairn_unlock_kind_t *kind, uint32_t *version)
{
    cairn_keyring_t kr;
    int fd;
    cairn_err_t err = keyring_load(dir, &kr, &fd);
    if (err != CAIRN_OK)
        return err;
    close(fd);
    if (kind != NULL)
        *kind = kr.kind;
    if (version != NULL)
        *version = kr.version;
    return CAIRN_OK;
}

cairn_err_t cairn_store_open(const char *dir, const cairn_unlock_t *unlock, cairn_store_t **out)
{
    if (dir == NULL || unlock == NULL || out == NULL)
        return CAIRN_EINVAL;
    *out = NULL;
    if (sodium_init() < 0)
        return CAIRN_ECRYPTO;

    cairn_keyring_t kr;
    char path[4096];
    struct stat st;
    uint8_t *data_key = NULL;
    cairn_store_t *store = store_alloc();
    cairn_err_t err = CAIRN_ENOMEM;
    if (store == NULL)
        goto out;
    err = keyring_load(dir, &kr, &store->lock_fd);
    if (err != CAIRN_OK)
        goto out;
    if ((store->dir = strdup(dir)) == NULL) {
        err = CAIRN_ENOMEM;
        goto out;
    }
    if (flock(store->lock_fd, LOCK_EX | LOCK_NB) != 0) {
        err = errno == EWOULDBLOCK ? CAIRN_ELOCKED : cairn_err_from_errno(errno);
        goto out;
    }
    store->format_version = kr.version;
    store->unlock_kind = kr.kind;

    data_key = sodium_malloc(CAIRN_DATA_KEY_BYTES);
    err = data_key == NULL ? CAIRN_ENOMEM : cairn_keyring_unwrap(&kr, unlock, data_key);
    if (err == CAIRN_OK)
        err = cairn_sealer_init(&store->sealer, data_key);
    if (err != CAIRN_OK)
        goto out;

    /* mdb_env_open would create an empty data.mdb: refuse instead. */
    err = cairn_path_join(path, sizeof path, dir, "data.mdb");
    if (err == CAIRN_OK && stat(path, &st) != 0)
        err = errno == ENOENT ? CAIRN_ECORRUPT : cairn_err_from_errno(errno);
    if (err == CAIRN_OK)
        err = env_open(dir, 0, 0, &store->env);
    if (err == CAIRN_OK)
        err = dbs_open(store, 0);
    if (err == CAIRN_OK)
        err = meta_read(store);
out:
    if (data_key != NULL)
        sodium_free(data_key);
    if (err != CAIRN_OK) {
        cairn_store_close(store);
        return err;
    }
    *out = store;
    return CAIRN_OK;
}

cairn_err_t cairn_store_info(cairn_store_t *store, cairn_store_info_t *info)
{
    if (store == NULL || info == NULL)
        return CAIRN_EINVAL;
    memset(info, 0, sizeof *info);
    info->format_version = store->format_version;
    info->unlock_kind = store->unlock_kind;
    memcpy(info->node_id, store->node_id, sizeof info->node_id);
    memcpy(info->public_key, store->public_key, sizeof info->public_key);

    MDB_envinfo ei;
    MDB_stat es;
    mdb_env_info(store->env, &ei);
    mdb_env_stat(store->env, &es);
    info->used_bytes = (uint64_t)(ei.me_last_pgno + 1) * es.ms_psize;
    info->map_size = ei.me_mapsize;

    cairn_txn_t *txn;
    cairn_err_t err = cairn_txn_begin(store, 0, &txn);
    if (err != CAIRN_OK)
        return err;
    err = cairn_db_count(txn, CAIRN_DB_RECORDS, &info->records);
    cairn_txn_abort(txn);
    return err;
}

cairn_err_t cairn_key_file_create(const char *path)
{
    if (path == NULL || path[0] == '\0')
        return CAIRN_EINVAL;
    if (sodium_init() < 0)
        return CAIRN_ECRYPTO;
    uint8_t *key = sodium_malloc(CAIRN_KEY_FILE_BYTES);
    if (key == NULL)
        return CAIRN_ENOMEM;
    randombytes_buf(key, CAIRN_KEY_FILE_BYTES);
    cairn_err_t err = cairn_write_file_durable(path, key, CAIRN_KEY_FILE_BYTES, 1);
    sodium_free(key);
    return err;
}
