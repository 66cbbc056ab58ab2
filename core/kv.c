/*
 * kv.c - the bottom layer: a sealed LMDB environment.
 *
 * The one idea: LMDB provides ordering, atomic multi-record transactions and
 * durability; this layer adds that nothing reaches LMDB unsealed. Each value
 * is sealed straight into the page LMDB reserves for it (MDB_RESERVE), with
 * the format version, database name and record key as associated data, so
 * ciphertext moved to another place fails to open. Everything above reads
 * and writes through the functions of kv.h; nothing here knows what the
 * bytes mean.
 */
#include "kv.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#include "fsio.h"

#define MAX_DBS 16

static const char *const db_names[CAIRN_DB__COUNT] = {
    [CAIRN_DB_META] = "meta",       [CAIRN_DB_RECORDS] = "records", [CAIRN_DB_PLANS] = "plans",
    [CAIRN_DB_PENDING] = "pending", [CAIRN_DB_WAITING] = "waiting", [CAIRN_DB_FORKS] = "forks",
};

cairn_err_t cairn__err_from_mdb(int rc)
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
        return rc > 0 ? cairn__err_from_errno(rc) : CAIRN_EIO;
    }
}

/* ---- sealing glue ------------------------------------------------------ */

/*
 * Associated data of a value: format version, database name, NUL, key.
 * Binding the name and key means ciphertext moved to another place fails.
 */
static size_t make_ad(uint8_t *ad, uint32_t version, cairn_db_t db, const void *key, size_t key_len)
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

cairn_err_t cairn__db_put(cairn_txn_t *txn, cairn_db_t db, const void *key, size_t key_len,
                          const void *val, size_t val_len)
{
    if (txn == NULL || (val == NULL && val_len > 0) || db >= CAIRN_DB__COUNT)
        return CAIRN_EINVAL;
    if (!txn->write)
        return CAIRN_EREADONLY;
    if (txn->failed)
        return CAIRN_EPOISONED;
    cairn_err_t err = check_key(key, key_len);
    if (err != CAIRN_OK)
        return err;
    if (val_len > CAIRN_RECORD_VALUE_MAX)
        return CAIRN_ETOOBIG;

    uint8_t ad[AD_MAX];
    size_t ad_len = make_ad(ad, txn->kv->format_version, db, key, key_len);
    MDB_val k = mdb_key(key, key_len);
    MDB_val v = {val_len + CAIRN_SEAL_OVERHEAD, NULL};
    int rc = mdb_put(txn->txn, txn->kv->dbi[db], &k, &v, MDB_RESERVE);
    if (rc != MDB_SUCCESS) {
        txn->failed = 1;
        return cairn__err_from_mdb(rc);
    }
    cairn__seal(&txn->kv->sealer, ad, ad_len, val, val_len, v.mv_data);
    return CAIRN_OK;
}

cairn_err_t cairn__db_get(cairn_txn_t *txn, cairn_db_t db, const void *key, size_t key_len,
                          cairn_buf_t *out)
{
    if (txn == NULL || out == NULL || db >= CAIRN_DB__COUNT)
        return CAIRN_EINVAL;
    cairn_err_t err = check_key(key, key_len);
    if (err != CAIRN_OK)
        return err;
    MDB_val k = mdb_key(key, key_len), v;
    int rc = mdb_get(txn->txn, txn->kv->dbi[db], &k, &v);
    if (rc != MDB_SUCCESS)
        return cairn__err_from_mdb(rc);
    if (v.mv_size < CAIRN_SEAL_OVERHEAD)
        return CAIRN_ECORRUPT;
    size_t pt_len = v.mv_size - CAIRN_SEAL_OVERHEAD;
    err = cairn_buf_reserve(out, pt_len ? pt_len : 1);
    if (err != CAIRN_OK)
        return err;
    uint8_t ad[AD_MAX];
    size_t ad_len = make_ad(ad, txn->kv->format_version, db, key, key_len);
    out->len = 0;
    err = cairn__unseal(&txn->kv->sealer, ad, ad_len, v.mv_data, v.mv_size, out->data);
    if (err == CAIRN_OK)
        out->len = pt_len;
    return err;
}

cairn_err_t cairn__db_del(cairn_txn_t *txn, cairn_db_t db, const void *key, size_t key_len)
{
    if (txn == NULL || db >= CAIRN_DB__COUNT)
        return CAIRN_EINVAL;
    if (!txn->write)
        return CAIRN_EREADONLY;
    if (txn->failed)
        return CAIRN_EPOISONED;
    cairn_err_t err = check_key(key, key_len);
    if (err != CAIRN_OK)
        return err;
    MDB_val k = mdb_key(key, key_len);
    int rc = mdb_del(txn->txn, txn->kv->dbi[db], &k, NULL);
    if (rc != MDB_SUCCESS && rc != MDB_NOTFOUND)
        txn->failed = 1;
    return cairn__err_from_mdb(rc);
}

int cairn__db_has(cairn_txn_t *txn, cairn_db_t db, const void *key, size_t key_len)
{
    if (txn == NULL || db >= CAIRN_DB__COUNT)
        return CAIRN_EINVAL;
    cairn_err_t err = check_key(key, key_len);
    if (err != CAIRN_OK)
        return err;
    MDB_val k = mdb_key(key, key_len), v;
    int rc = mdb_get(txn->txn, txn->kv->dbi[db], &k, &v);
    if (rc == MDB_NOTFOUND)
        return 0;
    return rc == MDB_SUCCESS ? 1 : cairn__err_from_mdb(rc);
}

/* The transaction's cursor on db, opened once and reused by every scan. */
static int txn_cursor(cairn_txn_t *txn, cairn_db_t db, MDB_cursor **out)
{
    if (txn->cursors[db] == NULL) {
        int rc = mdb_cursor_open(txn->txn, txn->kv->dbi[db], &txn->cursors[db]);
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

cairn_err_t cairn__db_scan(cairn_txn_t *txn, cairn_db_t db, const void *prefix, size_t prefix_len,
                           cairn_key_fn fn, void *ctx)
{
    MDB_cursor *cur;
    if (txn == NULL || fn == NULL || db >= CAIRN_DB__COUNT || (prefix == NULL && prefix_len))
        return CAIRN_EINVAL;
    int rc = txn_cursor(txn, db, &cur);
    if (rc != MDB_SUCCESS)
        return cairn__err_from_mdb(rc);
    MDB_val k = mdb_key(prefix, prefix_len), v;
    rc = prefix_len ? mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE)
                    : mdb_cursor_get(cur, &k, &v, MDB_FIRST);
    while (rc == MDB_SUCCESS && has_prefix(&k, prefix, prefix_len)) {
        if (fn(ctx, k.mv_data, k.mv_size) != 0)
            break;
        rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
    }
    return rc == MDB_SUCCESS || rc == MDB_NOTFOUND ? CAIRN_OK : cairn__err_from_mdb(rc);
}

cairn_err_t cairn__db_last(cairn_txn_t *txn, cairn_db_t db, const void *prefix, size_t prefix_len,
                           uint8_t *key, size_t cap, size_t *key_len)
{
    MDB_cursor *cur;
    uint8_t upper[CAIRN_RECORD_KEY_MAX + 1];
    if (txn == NULL || db >= CAIRN_DB__COUNT || prefix_len == 0 ||
        prefix_len > CAIRN_RECORD_KEY_MAX)
        return CAIRN_EINVAL;
    int rc = txn_cursor(txn, db, &cur);
    if (rc != MDB_SUCCESS)
        return cairn__err_from_mdb(rc);
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
        err = cairn__err_from_mdb(rc);
    }
    return err;
}

cairn_err_t cairn__db_seek(cairn_txn_t *txn, cairn_db_t db, const void *key, size_t key_len,
                           uint8_t *out, size_t cap, size_t *out_len)
{
    MDB_cursor *cur;
    if (txn == NULL || db >= CAIRN_DB__COUNT || key == NULL || key_len == 0 || out == NULL)
        return CAIRN_EINVAL;
    int rc = txn_cursor(txn, db, &cur);
    if (rc != MDB_SUCCESS)
        return cairn__err_from_mdb(rc);
    MDB_val k = mdb_key(key, key_len), v;
    rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
    cairn_err_t err = cairn__err_from_mdb(rc);
    if (err == CAIRN_OK && k.mv_size > cap)
        err = CAIRN_ETOOBIG;
    if (err == CAIRN_OK) {
        memcpy(out, k.mv_data, k.mv_size);
        *out_len = k.mv_size;
    }
    return err;
}

cairn_err_t cairn__meta_put(cairn_txn_t *txn, const char *name, const void *val, size_t len)
{
    return cairn__db_put(txn, CAIRN_DB_META, name, strlen(name), val, len);
}

cairn_err_t cairn__meta_get(cairn_txn_t *txn, const char *name, cairn_buf_t *out)
{
    return cairn__db_get(txn, CAIRN_DB_META, name, strlen(name), out);
}

cairn_err_t cairn__db_count(cairn_txn_t *txn, cairn_db_t db, uint64_t *count)
{
    MDB_stat st;
    if (txn == NULL || count == NULL || db >= CAIRN_DB__COUNT)
        return CAIRN_EINVAL;
    int rc = mdb_stat(txn->txn, txn->kv->dbi[db], &st);
    if (rc != MDB_SUCCESS)
        return cairn__err_from_mdb(rc);
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
static cairn_err_t diagnose_write_error(const cairn_kv_t *kv, int rc)
{
    cairn_err_t err = cairn__err_from_mdb(rc);
    if (err != CAIRN_EIO || kv->dir == NULL)
        return err;
    struct statvfs vfs;
    if (statvfs(kv->dir, &vfs) == 0 && (uint64_t)vfs.f_bavail * vfs.f_frsize < LOW_SPACE_BYTES)
        return CAIRN_ENOSPC;
    struct rlimit rl;
    char path[4096];
    struct stat st;
    if (getrlimit(RLIMIT_FSIZE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
        cairn__path_join(path, sizeof path, kv->dir, "data.mdb") == CAIRN_OK &&
        stat(path, &st) == 0 && (uint64_t)st.st_size + LOW_SPACE_BYTES >= rl.rlim_cur)
        return CAIRN_ENOSPC;
    return err;
}

cairn_err_t cairn__kv_begin(cairn_kv_t *kv, int write, cairn_txn_t **out)
{
    if (kv == NULL || out == NULL)
        return CAIRN_EINVAL;
    *out = NULL;
    if (write && kv->write_txn_open)
        return CAIRN_EBUSY; /* LMDB would deadlock on a second writer */
    cairn_txn_t *txn = calloc(1, sizeof *txn);
    if (txn == NULL)
        return CAIRN_ENOMEM;
    int rc = mdb_txn_begin(kv->env, NULL, write ? 0 : MDB_RDONLY, &txn->txn);
    if (rc != MDB_SUCCESS) {
        free(txn);
        return cairn__err_from_mdb(rc);
    }
    txn->kv = kv;
    txn->write = write != 0;
    if (write)
        kv->write_txn_open = 1;
    *out = txn;
    return CAIRN_OK;
}

static void txn_release(cairn_txn_t *txn)
{
    if (txn->write)
        txn->kv->write_txn_open = 0;
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
        err = CAIRN_EPOISONED;
    } else {
        /* mdb_txn_commit frees txn->txn whatever it returns. */
        err = diagnose_write_error(txn->kv, mdb_txn_commit(txn->txn));
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
    return cairn__db_put(txn, CAIRN_DB_RECORDS, key, key_len, val, val_len);
}

cairn_err_t cairn_record_get(cairn_txn_t *txn, const void *key, size_t key_len, cairn_buf_t *out)
{
    return cairn__db_get(txn, CAIRN_DB_RECORDS, key, key_len, out);
}

cairn_err_t cairn_record_del(cairn_txn_t *txn, const void *key, size_t key_len)
{
    return cairn__db_del(txn, CAIRN_DB_RECORDS, key, key_len);
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
    /* MDB_NOTLS: a read transaction belongs to its call, not to a thread (docs/architecture.md). */
    if (rc == MDB_SUCCESS)
        rc = mdb_env_open(env, dir, MDB_NOTLS, 0600);
    if (rc != MDB_SUCCESS) {
        if (env != NULL)
            mdb_env_close(env);
        return cairn__err_from_mdb(rc);
    }
    *out = env;
    return CAIRN_OK;
}

/* Open (or with create, create) every database; fills kv->dbi. */
static cairn_err_t dbs_open(cairn_kv_t *kv, int create)
{
    MDB_txn *txn;
    int rc = mdb_txn_begin(kv->env, NULL, create ? 0 : MDB_RDONLY, &txn);
    if (rc != MDB_SUCCESS)
        return cairn__err_from_mdb(rc);
    for (int i = 0; i < CAIRN_DB__COUNT && rc == MDB_SUCCESS; i++)
        rc = mdb_dbi_open(txn, db_names[i], create ? MDB_CREATE : 0, &kv->dbi[i]);
    if (rc != MDB_SUCCESS) {
        mdb_txn_abort(txn);
        /* A store without its databases is damaged, not merely absent. */
        return rc == MDB_NOTFOUND ? CAIRN_ECORRUPT : cairn__err_from_mdb(rc);
    }
    return cairn__err_from_mdb(mdb_txn_commit(txn));
}

cairn_err_t cairn__kv_open(cairn_kv_t *kv, const char *dir, size_t map_size, int create)
{
    cairn_err_t err = env_open(dir, map_size, create, &kv->env);
    int dead = 0;
    if (err == CAIRN_OK) /* reader slots of processes that died holding them */
        err = cairn__err_from_mdb(mdb_reader_check(kv->env, &dead));
    if (err == CAIRN_OK)
        err = dbs_open(kv, create);
    return err;
}

void cairn__kv_close(cairn_kv_t *kv)
{
    if (kv->env != NULL)
        mdb_env_close(kv->env);
    kv->env = NULL;
    cairn__sealer_wipe(&kv->sealer);
    free(kv->dir);
    kv->dir = NULL;
}
