/*
 * store.c - the top of core/: a node store's lifecycle, composing the rest.
 *
 * The one idea: a store opens only with the right secret. The keyring
 * unwraps the data key, kv.c opens the sealed environment with it, the
 * identity and format are read from meta and the roster layer loads the
 * organisation. Nothing below calls into this file.
 *
 * Layout of a node directory: keyring (see keyring.h), data.mdb, lock.mdb.
 * The keyring is written last at init, so its presence marks a complete store.
 */
#include "store_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "fsio.h"
#include "keyring.h"

#define DEFAULT_MAP_SIZE ((size_t)32 << 30) /* address space only; valgrind refuses 64 GiB */

/*
 * The stores this process has open, by the keyring's device and inode:
 * the one piece of process-wide state in core/. Several processes may
 * open a store (LMDB serialises their writers), but one process must not
 * open an environment twice: closing either copy's files would drop the
 * locks LMDB holds for the other (lmdb.h, "caveats").
 */
static pthread_mutex_t open_lock = PTHREAD_MUTEX_INITIALIZER;
static cairn_store_t *open_stores;
static pthread_once_t open_once = PTHREAD_ONCE_INIT;

/*
 * A child of fork() holds none of its parent's LMDB locks (POSIX record
 * locks are not inherited) and must not use the parent's handles: it
 * starts with no store open.
 */
static void open_forget_in_child(void)
{
    pthread_mutex_init(&open_lock, NULL);
    open_stores = NULL;
}

static void open_install(void)
{
    pthread_atfork(NULL, NULL, open_forget_in_child);
}

/* Register store as open; CAIRN_ELOCKED if this process has it open already. */
static cairn_err_t register_open(cairn_store_t *store)
{
    struct stat st;
    if (fstat(store->lock_fd, &st) != 0)
        return cairn__err_from_errno(errno);
    store->dev = st.st_dev;
    store->ino = st.st_ino;
    cairn_err_t err = CAIRN_OK;
    pthread_once(&open_once, open_install);
    pthread_mutex_lock(&open_lock);
    for (cairn_store_t *o = open_stores; o != NULL && err == CAIRN_OK; o = o->next_open)
        if (o->dev == store->dev && o->ino == store->ino)
            err = CAIRN_ELOCKED;
    if (err == CAIRN_OK) {
        store->next_open = open_stores;
        open_stores = store;
        store->registered = 1;
    }
    pthread_mutex_unlock(&open_lock);
    return err;
}

static void unregister_open(cairn_store_t *store)
{
    if (!store->registered)
        return;
    pthread_mutex_lock(&open_lock);
    for (cairn_store_t **p = &open_stores; *p != NULL; p = &(*p)->next_open)
        if (*p == store) {
            *p = store->next_open;
            break;
        }
    pthread_mutex_unlock(&open_lock);
    store->registered = 0;
}

/* Keys of the meta database. */
static const char meta_format[] = "format";
static const char meta_node_id[] = "node_id";
static const char meta_identity[] = "identity";

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

cairn_err_t cairn_txn_begin(cairn_store_t *store, int write, cairn_txn_t **out)
{
    if (store == NULL || out == NULL)
        return CAIRN_EINVAL;
    return cairn__kv_begin(&store->kv, write, out);
}

static cairn_err_t meta_write(cairn_store_t *store)
{
    cairn_txn_t *txn;
    uint8_t ver[4];
    for (int i = 0; i < 4; i++)
        ver[i] = (uint8_t)(store->kv.format_version >> (8 * i));
    cairn_err_t err = cairn_txn_begin(store, 1, &txn);
    if (err != CAIRN_OK)
        return err;
    err = cairn__db_put(txn, CAIRN_DB_META, meta_format, sizeof meta_format - 1, ver, 4);
    if (err == CAIRN_OK)
        err = cairn__db_put(txn, CAIRN_DB_META, meta_node_id, sizeof meta_node_id - 1,
                            store->node_id, CAIRN_NODE_ID_BYTES);
    if (err == CAIRN_OK)
        err = cairn__db_put(txn, CAIRN_DB_META, meta_identity, sizeof meta_identity - 1,
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
    cairn_err_t err = cairn__db_get(txn, CAIRN_DB_META, key, strlen(key), buf);
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
        else if (v != store->kv.format_version)
            err = CAIRN_ECORRUPT;
    }
    if (err == CAIRN_OK)
        err = meta_get(txn, meta_node_id, &buf, store->node_id, CAIRN_NODE_ID_BYTES);
    if (err == CAIRN_OK)
        err = meta_get(txn, meta_identity, &buf, store->identity_sk, crypto_sign_SECRETKEYBYTES);
    if (err == CAIRN_OK)
        crypto_sign_ed25519_sk_to_pk(store->public_key, store->identity_sk);
    if (err == CAIRN_OK)
        err = cairn__org_load(&store->org, txn);
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
        cairn__signer_stop(&store->signer);
    cairn__kv_close(&store->kv);
    unregister_open(store); /* after LMDB let go of its files */
    if (store->identity_sk != NULL)
        sodium_free(store->identity_sk);
    if (store->lock_fd >= 0)
        close(store->lock_fd); /* releases the flock */
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
        return cairn__fsync_dir(".");
    if (slash == parent)
        slash[1] = '\0'; /* "/x": the root */
    else
        *slash = '\0';
    return cairn__fsync_dir(parent);
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
        return cairn__err_from_errno(errno);
    DIR *d = opendir(dir);
    if (d == NULL)
        return errno == ENOTDIR ? CAIRN_EEXIST : cairn__err_from_errno(errno);
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
        if (cairn__path_join(path, sizeof path, dir, files[i]) == CAIRN_OK)
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
    err = cairn__keyring_wrap(&kr, unlock, opts->kdf_cost, data_key);
    if (err != CAIRN_OK)
        goto out;

    store->kv.format_version = CAIRN_FORMAT_VERSION;
    store->unlock_kind = unlock->kind;
    randombytes_buf(store->node_id, sizeof store->node_id);
    crypto_sign_keypair(store->public_key, store->identity_sk);
    err = cairn__sealer_init(&store->kv.sealer, data_key);
    if (err == CAIRN_OK)
        err = cairn__kv_open(&store->kv, dir, map_size, 1);
    if (err == CAIRN_OK)
        err = meta_write(store);
    if (err == CAIRN_OK)
        err = cairn__keyring_write(dir, &kr); /* last: marks the store complete */
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
        return errno == ENOENT ? CAIRN_ENODIR : cairn__err_from_errno(errno);
    if (!S_ISDIR(st.st_mode))
        return CAIRN_ENOTSTORE;
    cairn_err_t err = cairn__path_join(path, sizeof path, dir, CAIRN_KEYRING_FILE);
    if (err != CAIRN_OK)
        return err;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? CAIRN_ENOTSTORE : cairn__err_from_errno(errno);
    err = cairn__keyring_read(fd, kr);
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
    if ((store->kv.dir = strdup(dir)) == NULL) {
        err = CAIRN_ENOMEM;
        goto out;
    }
    /*
     * Shared: other processes may have the store open too (the service and
     * the CLI); an operation that needs the store alone takes LOCK_EX.
     */
    if (flock(store->lock_fd, LOCK_SH | LOCK_NB) != 0) {
        err = errno == EWOULDBLOCK ? CAIRN_ELOCKED : cairn__err_from_errno(errno);
        goto out;
    }
    err = register_open(store);
    if (err != CAIRN_OK)
        goto out;
    store->kv.format_version = kr.version;
    store->unlock_kind = kr.kind;

    data_key = sodium_malloc(CAIRN_DATA_KEY_BYTES);
    err = data_key == NULL ? CAIRN_ENOMEM : cairn__keyring_unwrap(&kr, unlock, data_key);
    if (err == CAIRN_OK)
        err = cairn__sealer_init(&store->kv.sealer, data_key);
    if (err != CAIRN_OK)
        goto out;

    /* mdb_env_open would create an empty data.mdb: refuse instead. */
    err = cairn__path_join(path, sizeof path, dir, "data.mdb");
    if (err == CAIRN_OK && stat(path, &st) != 0)
        err = errno == ENOENT ? CAIRN_ECORRUPT : cairn__err_from_errno(errno);
    if (err == CAIRN_OK)
        err = cairn__kv_open(&store->kv, dir, 0, 0);
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
    info->format_version = store->kv.format_version;
    info->unlock_kind = store->unlock_kind;
    memcpy(info->node_id, store->node_id, sizeof info->node_id);
    memcpy(info->public_key, store->public_key, sizeof info->public_key);

    MDB_envinfo ei;
    MDB_stat es;
    mdb_env_info(store->kv.env, &ei);
    mdb_env_stat(store->kv.env, &es);
    info->used_bytes = (uint64_t)(ei.me_last_pgno + 1) * es.ms_psize;
    info->map_size = ei.me_mapsize;

    cairn_txn_t *txn;
    cairn_err_t err = cairn_txn_begin(store, 0, &txn);
    if (err != CAIRN_OK)
        return err;
    err = cairn__db_count(txn, CAIRN_DB_RECORDS, &info->records);
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
    cairn_err_t err = cairn__write_file_durable(path, key, CAIRN_KEY_FILE_BYTES, 1);
    sodium_free(key);
    return err;
}
