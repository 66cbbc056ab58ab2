/*
 * test_store.c - the encrypted store: round trips, every error path, and
 * proofs that nothing readable reaches the disk.
 *
 * Tests that damage a store reach under cairn with raw LMDB calls, as an
 * attacker holding the disk would, and then check that cairn notices.
 */
#include <errno.h>
#include <fcntl.h>
#include <lmdb.h>
#include <sched.h>
#include <signal.h>
#include <sodium.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test.h"

#define PASS "a long and correct passphrase"
#define MARKER "Margaret Okonkwo-Villanueva"

static char root[512];

static cairn_unlock_t pass_unlock(const char *p)
{
    cairn_unlock_t u = {CAIRN_UNLOCK_PASSPHRASE, p, strlen(p), NULL};
    return u;
}

static cairn_unlock_t file_unlock(const char *path)
{
    cairn_unlock_t u = {CAIRN_UNLOCK_KEY_FILE, NULL, 0, path};
    return u;
}

static const cairn_init_opts_t fast_kdf = {CAIRN_KDF_INTERACTIVE, 0};

/* A fresh directory path (not created) under the test root. */
static void node_path(char *out, size_t n, const char *name)
{
    snprintf(out, n, "%s/%s", root, name);
}

/* A new key-file store at root/name; its key file path goes to key. */
static void make_store(char *dir, size_t n, const char *name, char *key, size_t kn)
{
    char kdir[600];
    node_path(dir, n, name);
    snprintf(kdir, sizeof kdir, "%s.keydir", dir);
    CHECK(mkdir(kdir, 0700) == 0);
    test_key_file(key, kn, kdir);
    cairn_unlock_t u = file_unlock(key);
    CHECK_OK(cairn_store_init(dir, &u, NULL));
}

static void put_one(cairn_store_t *s, const char *key, const void *val, size_t len)
{
    cairn_txn_t *txn;
    CHECK_OK(cairn_txn_begin(s, 1, &txn));
    CHECK_OK(cairn_record_put(txn, key, strlen(key), val, len));
    CHECK_OK(cairn_txn_commit(txn));
}

static cairn_err_t get_one(cairn_store_t *s, const char *key, cairn_buf_t *out)
{
    cairn_txn_t *txn;
    CHECK_OK(cairn_txn_begin(s, 0, &txn));
    cairn_err_t err = cairn_record_get(txn, key, strlen(key), out);
    cairn_txn_abort(txn);
    return err;
}

/* BLAKE2b of a file's contents, to prove a failed operation changed nothing. */
static void file_hash(const char *dir, const char *name, uint8_t out[32])
{
    char path[700];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    CHECK(f != NULL);
    crypto_generichash_state st;
    crypto_generichash_init(&st, NULL, 0, 32);
    uint8_t buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0)
        crypto_generichash_update(&st, buf, n);
    fclose(f);
    crypto_generichash_final(&st, out, 32);
}

typedef struct {
    uint8_t data[32], keyring[32];
} snapshot_t;

static void snap(const char *dir, snapshot_t *s)
{
    file_hash(dir, "data.mdb", s->data);
    file_hash(dir, "keyring", s->keyring);
}

static void check_unchanged(const char *dir, const snapshot_t *before)
{
    snapshot_t now;
    snap(dir, &now);
    CHECK(memcmp(now.data, before->data, 32) == 0);
    CHECK(memcmp(now.keyring, before->keyring, 32) == 0);
}

/* Overwrite len bytes of dir/name at off. */
static void patch_file(const char *dir, const char *name, long off, const void *bytes, size_t len)
{
    char path[700];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    int fd = open(path, O_WRONLY);
    CHECK(fd >= 0);
    CHECK(pwrite(fd, bytes, len, off) == (ssize_t)len);
    close(fd);
}

/* ---- round trips ------------------------------------------------------- */

static void round_trip_and_reopen(void)
{
    char dir[600], key[700];
    make_store(dir, sizeof dir, "roundtrip", key, sizeof key);
    cairn_unlock_t u = file_unlock(key);
    cairn_store_t *s;
    cairn_store_info_t i1, i2;
    CHECK_OK(cairn_store_open(dir, &u, &s));
    CHECK_OK(cairn_store_info(s, &i1));
    CHECK(i1.records == 0 && i1.format_version == CAIRN_FORMAT_VERSION);
    CHECK(i1.unlock_kind == CAIRN_UNLOCK_KEY_FILE);

    cairn_txn_t *txn;
    CHECK_OK(cairn_txn_begin(s, 1, &txn));
    for (int i = 0; i < 500; i++) {
        char k[32], v[64];
        snprintf(k, sizeof k, "r%04d", i);
        int n = snprintf(v, sizeof v, "value number %d", i * 7);
        CHECK_OK(cairn_record_put(txn, k, strlen(k), v, (size_t)n));
    }
    CHECK_OK(cairn_record_put(txn, "empty", 5, NULL, 0));
    CHECK_OK(cairn_txn_commit(txn));
    cairn_store_close(s);

    CHECK_OK(cairn_store_open(dir, &u, &s));
    CHECK_OK(cairn_store_info(s, &i2));
    CHECK(i2.records == 501);
    CHECK(memcmp(i1.node_id, i2.node_id, sizeof i1.node_id) == 0);
    CHECK(memcmp(i1.public_key, i2.public_key, sizeof i1.public_key) == 0);
    cairn_buf_t b = CAIRN_BUF_INIT;
    for (int i = 0; i < 500; i++) {
        char k[32], v[64];
        snprintf(k, sizeof k, "r%04d", i);
        int n = snprintf(v, sizeof v, "value number %d", i * 7);
        CHECK_OK(get_one(s, k, &b));
        CHECK(b.len == (size_t)n && memcmp(b.data, v, b.len) == 0);
    }
    CHECK_OK(get_one(s, "empty", &b));
    CHECK(b.len == 0);
    CHECK_ERR(get_one(s, "absent", &b), CAIRN_ENOTFOUND);

    /* Overwrite, delete, and an aborted write leaves no trace. */
    put_one(s, "r0001", "new", 3);
    CHECK_OK(get_one(s, "r0001", &b));
    CHECK(b.len == 3 && memcmp(b.data, "new", 3) == 0);
    CHECK_OK(cairn_txn_begin(s, 1, &txn));
    CHECK_OK(cairn_record_del(txn, "r0002", 5));
    CHECK_ERR(cairn_record_del(txn, "nope", 4), CAIRN_ENOTFOUND);
    CHECK_OK(cairn_txn_commit(txn));
    CHECK_ERR(get_one(s, "r0002", &b), CAIRN_ENOTFOUND);
    CHECK_OK(cairn_txn_begin(s, 1, &txn));
    CHECK_OK(cairn_record_put(txn, "ghost", 5, "x", 1));
    cairn_txn_abort(txn);
    CHECK_ERR(get_one(s, "ghost", &b), CAIRN_ENOTFOUND);
    cairn_buf_free(&b);
    cairn_store_close(s);
}

static void passphrase_store(void)
{
    char dir[600];
    node_path(dir, sizeof dir, "pass");
    cairn_unlock_t good = pass_unlock(PASS), bad = pass_unlock(PASS "!");
    CHECK_OK(cairn_store_init(dir, &good, &fast_kdf));
    cairn_unlock_kind_t kind;
    uint32_t ver;
    CHECK_OK(cairn_store_probe(dir, &kind, &ver));
    CHECK(kind == CAIRN_UNLOCK_PASSPHRASE && ver == CAIRN_FORMAT_VERSION);

    cairn_store_t *s;
    CHECK_OK(cairn_store_open(dir, &good, &s));
    put_one(s, "k", "v", 1);
    cairn_store_close(s);

    snapshot_t before;
    snap(dir, &before);
    CHECK_ERR(cairn_store_open(dir, &bad, &s), CAIRN_EBADKEY);
    CHECK(s == NULL);
    cairn_unlock_t empty = pass_unlock("");
    CHECK_ERR(cairn_store_open(dir, &empty, &s), CAIRN_EINVAL);
    char kdir[700], key[800];
    snprintf(kdir, sizeof kdir, "%s.keydir", dir);
    CHECK(mkdir(kdir, 0700) == 0);
    test_key_file(key, sizeof key, kdir);
    cairn_unlock_t kf = file_unlock(key);
    CHECK_ERR(cairn_store_open(dir, &kf, &s), CAIRN_EKEYKIND);
    check_unchanged(dir, &before);

    cairn_buf_t b = CAIRN_BUF_INIT;
    CHECK_OK(cairn_store_open(dir, &good, &s));
    CHECK_OK(get_one(s, "k", &b));
    CHECK(b.len == 1 && b.data[0] == 'v');
    cairn_buf_free(&b);
    cairn_store_close(s);
}

static void key_file_errors(void)
{
    char dir[600], key[700], other[800], path[800];
    make_store(dir, sizeof dir, "keyfile", key, sizeof key);
    cairn_store_t *s;
    snapshot_t before;
    snap(dir, &before);

    snprintf(other, sizeof other, "%s.other", key);
    CHECK_OK(cairn_key_file_create(other));
    CHECK_ERR(cairn_key_file_create(other), CAIRN_EEXIST); /* never overwritten */
    cairn_unlock_t u = file_unlock(other);
    CHECK_ERR(cairn_store_open(dir, &u, &s), CAIRN_EBADKEY);

    snprintf(path, sizeof path, "%s.short", key);
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL && fwrite("0123456789", 1, 10, f) == 10);
    fclose(f);
    u = file_unlock(path);
    CHECK_ERR(cairn_store_open(dir, &u, &s), CAIRN_EBADKEY);
    u = file_unlock("/nonexistent/key");
    CHECK_ERR(cairn_store_open(dir, &u, &s), CAIRN_EBADKEY);
    cairn_unlock_t p = pass_unlock(PASS);
    CHECK_ERR(cairn_store_open(dir, &p, &s), CAIRN_EKEYKIND);
    check_unchanged(dir, &before);

    /* init refuses an unusable key file and leaves no directory behind. */
    char dir2[600];
    node_path(dir2, sizeof dir2, "keyfile-bad-init");
    u = file_unlock(path);
    CHECK_ERR(cairn_store_init(dir2, &u, NULL), CAIRN_EBADKEY);
    struct stat st;
    CHECK(stat(dir2, &st) != 0 && errno == ENOENT);
}

/* ---- where the store is, and what it is -------------------------------- */

static void wrong_places(void)
{
    char dir[600], key[700];
    make_store(dir, sizeof dir, "places", key, sizeof key);
    cairn_unlock_t u = file_unlock(key);
    cairn_store_t *s;

    char missing[600];
    node_path(missing, sizeof missing, "does-not-exist");
    CHECK_ERR(cairn_store_open(missing, &u, &s), CAIRN_ENODIR);
    CHECK_ERR(cairn_store_probe(missing, NULL, NULL), CAIRN_ENODIR);

    char empty[600];
    node_path(empty, sizeof empty, "empty-dir");
    CHECK(mkdir(empty, 0700) == 0);
    CHECK_ERR(cairn_store_open(empty, &u, &s), CAIRN_ENOTSTORE);

    char notdir[600];
    node_path(notdir, sizeof notdir, "plain-file");
    FILE *f = fopen(notdir, "w");
    CHECK(f != NULL);
    fputs("hello", f);
    fclose(f);
    CHECK_ERR(cairn_store_open(notdir, &u, &s), CAIRN_ENOTSTORE);
    CHECK_ERR(cairn_store_init(notdir, &u, NULL), CAIRN_EEXIST);

    char fake[600], fkr[700];
    node_path(fake, sizeof fake, "fake-store");
    CHECK(mkdir(fake, 0700) == 0);
    snprintf(fkr, sizeof fkr, "%s/keyring", fake);
    f = fopen(fkr, "w");
    CHECK(f != NULL);
    for (int i = 0; i < 200; i++)
        fputc('A', f);
    fclose(f);
    CHECK_ERR(cairn_store_open(fake, &u, &s), CAIRN_ENOTSTORE);

    /* init refuses an existing store, a non-empty dir, and a missing parent. */
    CHECK_ERR(cairn_store_init(dir, &u, NULL), CAIRN_EEXIST);
    CHECK_ERR(cairn_store_init(fake, &u, NULL), CAIRN_EEXIST);
    char orphan[600];
    node_path(orphan, sizeof orphan, "no-parent/child");
    CHECK_ERR(cairn_store_init(orphan, &u, NULL), CAIRN_ENODIR);

    /* A store whose data file vanished is damaged, and open creates nothing. */
    char data[700];
    snprintf(data, sizeof data, "%s/data.mdb", dir);
    CHECK(unlink(data) == 0);
    CHECK_ERR(cairn_store_open(dir, &u, &s), CAIRN_ECORRUPT);
    struct stat st;
    CHECK(stat(data, &st) != 0);
}

/*
 * One process opens a store once (LMDB forbids a second copy in one
 * process); other processes may open it at the same time and both read
 * and write it, their commits serialised by LMDB. A process holding the
 * keyring exclusively (maintenance) keeps everyone else out.
 */
static void open_by_two_processes(void)
{
    char dir[600], key[700];
    make_store(dir, sizeof dir, "locked", key, sizeof key);
    cairn_unlock_t u = file_unlock(key);
    cairn_store_t *a, *b;
    CHECK_OK(cairn_store_open(dir, &u, &a));
    CHECK_ERR(cairn_store_open(dir, &u, &b), CAIRN_ELOCKED);

    /* Another process opens it beside us, writes, and reads what we wrote. */
    cairn_txn_t *txn;
    CHECK_OK(cairn_txn_begin(a, 1, &txn));
    CHECK_OK(cairn_record_put(txn, "parent", 6, "p", 1));
    CHECK_OK(cairn_txn_commit(txn));
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        cairn_store_t *c;
        cairn_txn_t *t;
        cairn_buf_t v = CAIRN_BUF_INIT;
        int ok =
            cairn_store_open(dir, &u, &c) == CAIRN_OK && cairn_txn_begin(c, 1, &t) == CAIRN_OK &&
            cairn_record_get(t, "parent", 6, &v) == CAIRN_OK && v.len == 1 &&
            cairn_record_put(t, "child", 5, "c", 1) == CAIRN_OK && cairn_txn_commit(t) == CAIRN_OK;
        cairn_buf_free(&v);
        cairn_store_close(c);
        _exit(ok ? 0 : 1);
    }
    test_wait_ok(pid, "second opener");
    cairn_buf_t v = CAIRN_BUF_INIT;
    CHECK_OK(cairn_txn_begin(a, 0, &txn));
    CHECK_OK(cairn_record_get(txn, "child", 5, &v));
    CHECK(v.len == 1 && v.data[0] == 'c');
    cairn_txn_abort(txn);
    cairn_buf_free(&v);

    /* An exclusive holder of the keyring keeps a new opener out. */
    char kr[700];
    snprintf(kr, sizeof kr, "%s/keyring", dir);
    int fd = open(kr, O_RDONLY);
    CHECK(fd >= 0);
    cairn_store_close(a);
    CHECK(flock(fd, LOCK_EX | LOCK_NB) == 0);
    CHECK_ERR(cairn_store_open(dir, &u, &b), CAIRN_ELOCKED);
    close(fd);
    CHECK_OK(cairn_store_open(dir, &u, &b));
    cairn_store_close(b);
}

static void newer_format_refused(void)
{
    char dir[600], key[700];
    make_store(dir, sizeof dir, "version", key, sizeof key);
    cairn_unlock_t u = file_unlock(key);
    cairn_store_t *s;
    const uint8_t v2[4] = {CAIRN_FORMAT_VERSION + 1, 0, 0, 0};
    patch_file(dir, "keyring", 8, v2, 4);
    snapshot_t before;
    snap(dir, &before);
    CHECK_ERR(cairn_store_probe(dir, NULL, NULL), CAIRN_EVERSION);
    CHECK_ERR(cairn_store_open(dir, &u, &s), CAIRN_EVERSION);
    check_unchanged(dir, &before);
    const uint8_t v0[4] = {0, 0, 0, 0};
    patch_file(dir, "keyring", 8, v0, 4);
    CHECK_ERR(cairn_store_open(dir, &u, &s), CAIRN_ECORRUPT);
}

static void tampered_keyring(void)
{
    char dir[600], key[700];
    make_store(dir, sizeof dir, "tamper-keyring", key, sizeof key);
    cairn_unlock_t u = file_unlock(key);
    cairn_store_t *s;
    /* Each field covered by the wrap fails the unwrap: salt, nonce, sealed key. */
    const long offsets[] = {33, 50, 80, 119};
    for (size_t i = 0; i < sizeof offsets / sizeof offsets[0]; i++) {
        char path[700];
        uint8_t byte;
        snprintf(path, sizeof path, "%s/keyring", dir);
        int fd = open(path, O_RDWR);
        CHECK(fd >= 0 && pread(fd, &byte, 1, offsets[i]) == 1);
        byte ^= 0x40;
        CHECK(pwrite(fd, &byte, 1, offsets[i]) == 1);
        CHECK_ERR(cairn_store_open(dir, &u, &s), CAIRN_EBADKEY);
        byte ^= 0x40;
        CHECK(pwrite(fd, &byte, 1, offsets[i]) == 1);
        close(fd);
    }
    /* An unknown unlock kind, or KDF parameters on a key-file store. */
    const uint8_t kind9 = 9, ops1 = 1;
    patch_file(dir, "keyring", 12, &kind9, 1);
    CHECK_ERR(cairn_store_open(dir, &u, &s), CAIRN_ECORRUPT);
    const uint8_t kind2 = CAIRN_UNLOCK_KEY_FILE;
    patch_file(dir, "keyring", 12, &kind2, 1);
    patch_file(dir, "keyring", 16, &ops1, 1);
    CHECK_ERR(cairn_store_open(dir, &u, &s), CAIRN_ECORRUPT);
    /* Truncated keyring. */
    char path[700];
    snprintf(path, sizeof path, "%s/keyring", dir);
    CHECK(truncate(path, 60) == 0);
    CHECK_ERR(cairn_store_open(dir, &u, &s), CAIRN_ENOTSTORE);
}

/* ---- values on disk ---------------------------------------------------- */

/* Raw LMDB access to the store's "records" database, as an attacker. */
typedef struct {
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
} raw_t;

static void raw_open(raw_t *r, const char *dir)
{
    CHECK(mdb_env_create(&r->env) == 0);
    CHECK(mdb_env_set_maxdbs(r->env, 16) == 0);
    CHECK(mdb_env_open(r->env, dir, 0, 0600) == 0);
    CHECK(mdb_txn_begin(r->env, NULL, 0, &r->txn) == 0);
    CHECK(mdb_dbi_open(r->txn, "records", 0, &r->dbi) == 0);
}

static void raw_close(raw_t *r)
{
    CHECK(mdb_txn_commit(r->txn) == 0);
    mdb_env_close(r->env);
}

static MDB_val raw_get(raw_t *r, const char *key)
{
    MDB_val k = {strlen(key), (void *)(uintptr_t)key}, v;
    CHECK(mdb_get(r->txn, r->dbi, &k, &v) == 0);
    return v;
}

static void raw_put(raw_t *r, const char *key, const void *val, size_t len)
{
    MDB_val k = {strlen(key), (void *)(uintptr_t)key}, v = {len, (void *)(uintptr_t)val};
    CHECK(mdb_put(r->txn, r->dbi, &k, &v, 0) == 0);
}

static void tampered_values(void)
{
    char dir[600], key[700];
    make_store(dir, sizeof dir, "tamper-values", key, sizeof key);
    cairn_unlock_t u = file_unlock(key);
    cairn_store_t *s;
    cairn_buf_t b = CAIRN_BUF_INIT;
    CHECK_OK(cairn_store_open(dir, &u, &s));
    put_one(s, "a", "sertraline 50 mg daily", 22);
    put_one(s, "b", "quetiapine 25 mg at night", 25);
    put_one(s, "c", "crisis line 988", 15);
    put_one(s, "d", "untouched", 9);
    cairn_store_close(s);

    raw_t r;
    raw_open(&r, dir);
    /* a: flip one ciphertext bit in place. */
    MDB_val va = raw_get(&r, "a");
    uint8_t copy[256];
    CHECK(va.mv_size < sizeof copy);
    memcpy(copy, va.mv_data, va.mv_size);
    copy[30] ^= 1;
    raw_put(&r, "a", copy, va.mv_size);
    /* b: replaced by c's (valid) ciphertext, moved under another key. */
    MDB_val vc = raw_get(&r, "c");
    memcpy(copy, vc.mv_data, vc.mv_size);
    raw_put(&r, "b", copy, vc.mv_size);
    /* c: truncated below the seal's overhead. */
    raw_put(&r, "c", copy, 10);
    /* e: a record the attacker invents. */
    raw_put(&r, "e", copy, vc.mv_size);
    raw_close(&r);

    CHECK_OK(cairn_store_open(dir, &u, &s));
    CHECK_ERR(get_one(s, "a", &b), CAIRN_ECORRUPT);
    CHECK_ERR(get_one(s, "b", &b), CAIRN_ECORRUPT);
    CHECK_ERR(get_one(s, "c", &b), CAIRN_ECORRUPT);
    CHECK_ERR(get_one(s, "e", &b), CAIRN_ECORRUPT);
    CHECK_OK(get_one(s, "d", &b));
    CHECK(b.len == 9 && memcmp(b.data, "untouched", 9) == 0);
    cairn_buf_free(&b);
    cairn_store_close(s);
}

static void tampered_identity(void)
{
    char dir[600], key[700];
    make_store(dir, sizeof dir, "tamper-meta", key, sizeof key);
    cairn_unlock_t u = file_unlock(key);
    cairn_store_t *s;
    raw_t r;
    CHECK(mdb_env_create(&r.env) == 0);
    CHECK(mdb_env_set_maxdbs(r.env, 16) == 0);
    CHECK(mdb_env_open(r.env, dir, 0, 0600) == 0);
    CHECK(mdb_txn_begin(r.env, NULL, 0, &r.txn) == 0);
    CHECK(mdb_dbi_open(r.txn, "meta", 0, &r.dbi) == 0);
    MDB_val v = raw_get(&r, "identity");
    uint8_t copy[256];
    memcpy(copy, v.mv_data, v.mv_size);
    copy[40] ^= 0x80;
    raw_put(&r, "identity", copy, v.mv_size);
    raw_close(&r);
    CHECK_ERR(cairn_store_open(dir, &u, &s), CAIRN_ECORRUPT);
}

/* Does any file under dir contain needle? */
static int tree_contains(const char *dir, const void *needle, size_t n)
{
    static const char *const files[] = {"data.mdb", "lock.mdb", "keyring"};
    int found = 0;
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char path[700];
        snprintf(path, sizeof path, "%s/%s", dir, files[i]);
        FILE *f = fopen(path, "rb");
        if (f == NULL)
            continue;
        fseek(f, 0, SEEK_END);
        long size = ftell(f);
        rewind(f);
        char *all = malloc((size_t)size + 1);
        CHECK(all != NULL && fread(all, 1, (size_t)size, f) == (size_t)size);
        fclose(f);
        if (memmem(all, (size_t)size, needle, n) != NULL)
            found = 1;
        free(all);
    }
    return found;
}

static void no_plaintext_on_disk(void)
{
    char dir[600];
    node_path(dir, sizeof dir, "marker");
    cairn_unlock_t u = pass_unlock(PASS);
    CHECK_OK(cairn_store_init(dir, &u, &fast_kdf));
    cairn_store_t *s;
    CHECK_OK(cairn_store_open(dir, &u, &s));
    cairn_txn_t *txn;
    CHECK_OK(cairn_txn_begin(s, 1, &txn));
    for (int i = 0; i < 200; i++) {
        char k[16], v[8192];
        snprintf(k, sizeof k, "p%03d", i);
        /* Small values, and large ones that LMDB stores on overflow pages. */
        size_t len = i % 2 ? 64 : sizeof v;
        memset(v, ' ', len);
        memcpy(v + (size_t)i % (len - sizeof MARKER), MARKER, sizeof MARKER - 1);
        CHECK_OK(cairn_record_put(txn, k, strlen(k), v, len));
    }
    CHECK_OK(cairn_txn_commit(txn));
    /* Delete half: freed pages must not hold plaintext either. */
    CHECK_OK(cairn_txn_begin(s, 1, &txn));
    for (int i = 0; i < 200; i += 2) {
        char k[16];
        snprintf(k, sizeof k, "p%03d", i);
        CHECK_OK(cairn_record_del(txn, k, strlen(k)));
    }
    CHECK_OK(cairn_txn_commit(txn));
    CHECK(!tree_contains(dir, MARKER, strlen(MARKER))); /* while open */
    cairn_store_close(s);
    CHECK(!tree_contains(dir, MARKER, strlen(MARKER)));
    CHECK(!tree_contains(dir, "Okonkwo", 7));
    CHECK(!tree_contains(dir, PASS, strlen(PASS)));
    /* The check can fail: the marker is found when it is there. */
    CHECK(tree_contains(dir, "records", 7));
}

/* ---- limits and a full disk --------------------------------------------- */

static void limits_and_misuse(void)
{
    char dir[600], key[700];
    make_store(dir, sizeof dir, "limits", key, sizeof key);
    cairn_unlock_t u = file_unlock(key);
    cairn_store_t *s;
    CHECK_OK(cairn_store_open(dir, &u, &s));
    cairn_txn_t *txn, *txn2;
    char longkey[CAIRN_RECORD_KEY_MAX + 1];
    memset(longkey, 'k', sizeof longkey);
    CHECK_OK(cairn_txn_begin(s, 1, &txn));
    CHECK_ERR(cairn_txn_begin(s, 1, &txn2), CAIRN_EBUSY);
    CHECK_ERR(cairn_record_put(txn, longkey, sizeof longkey, "v", 1), CAIRN_ETOOBIG);
    CHECK_OK(cairn_record_put(txn, longkey, CAIRN_RECORD_KEY_MAX, "v", 1));
    CHECK_ERR(cairn_record_put(txn, "k", 0, "v", 1), CAIRN_EINVAL);
    CHECK_ERR(cairn_record_put(txn, "k", 1, NULL, 5), CAIRN_EINVAL);
    CHECK_ERR(cairn_record_put(txn, "k", 1, "v", (size_t)CAIRN_RECORD_VALUE_MAX + 1),
              CAIRN_ETOOBIG);
    CHECK_OK(cairn_txn_commit(txn));
    CHECK_OK(cairn_txn_begin(s, 0, &txn));
    CHECK_ERR(cairn_record_put(txn, "k", 1, "v", 1), CAIRN_EREADONLY);
    CHECK_ERR(cairn_record_del(txn, "k", 1), CAIRN_EREADONLY);
    cairn_txn_abort(txn);
    CHECK_ERR(cairn_store_open(NULL, &u, &s), CAIRN_EINVAL);
    CHECK_ERR(cairn_txn_begin(NULL, 0, &txn), CAIRN_EINVAL);
    cairn_store_close(s);
    cairn_store_close(NULL);
    cairn_txn_abort(NULL);
}

static void map_full_keeps_committed(void)
{
    char dir[600], kdir[700], key[800];
    node_path(dir, sizeof dir, "mapfull");
    snprintf(kdir, sizeof kdir, "%s.keydir", dir);
    CHECK(mkdir(kdir, 0700) == 0);
    test_key_file(key, sizeof key, kdir);
    cairn_unlock_t u = file_unlock(key);
    cairn_init_opts_t small = {CAIRN_KDF_INTERACTIVE, 1u << 20}; /* 1 MiB */
    CHECK_OK(cairn_store_init(dir, &u, &small));
    cairn_store_t *s;
    CHECK_OK(cairn_store_open(dir, &u, &s));
    put_one(s, "keep", "committed before", 16);
    static uint8_t big[4096];
    cairn_txn_t *txn;
    cairn_err_t err = CAIRN_OK;
    CHECK_OK(cairn_txn_begin(s, 1, &txn));
    for (int i = 0; i < 1000 && err == CAIRN_OK; i++) {
        char k[16];
        snprintf(k, sizeof k, "big%d", i);
        err = cairn_record_put(txn, k, strlen(k), big, sizeof big);
    }
    CHECK_ERR(err, CAIRN_EMAPFULL);
    CHECK_ERR(cairn_record_put(txn, "more", 4, "x", 1), CAIRN_EPOISONED); /* txn is dead */
    CHECK(cairn_txn_commit(txn) != CAIRN_OK);
    cairn_buf_t b = CAIRN_BUF_INIT;
    CHECK_OK(get_one(s, "keep", &b));
    CHECK(b.len == 16 && memcmp(b.data, "committed before", 16) == 0);
    put_one(s, "after", "still writable", 14);
    cairn_store_close(s);
    CHECK_OK(cairn_store_open(dir, &u, &s));
    CHECK_OK(get_one(s, "after", &b));
    CHECK_ERR(get_one(s, "big0", &b), CAIRN_ENOTFOUND);
    cairn_buf_free(&b);
    cairn_store_close(s);
}

/*
 * A full disk, simulated with RLIMIT_FSIZE in a child process: writes past
 * the limit fail with EFBIG as they would with ENOSPC. The child reports the
 * error it saw; the parent checks committed data survived intact.
 */
static void disk_full_keeps_committed(void)
{
    char dir[600], key[700];
    make_store(dir, sizeof dir, "diskfull", key, sizeof key);
    cairn_unlock_t u = file_unlock(key);
    cairn_store_t *s;
    CHECK_OK(cairn_store_open(dir, &u, &s));
    put_one(s, "keep", "committed before", 16);
    cairn_store_close(s);

    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        char data[700];
        struct stat st;
        snprintf(data, sizeof data, "%s/data.mdb", dir);
        if (stat(data, &st) != 0)
            _exit(100);
        signal(SIGXFSZ, SIG_IGN);
        struct rlimit rl = {(rlim_t)st.st_size + 8192, (rlim_t)st.st_size + 8192};
        if (setrlimit(RLIMIT_FSIZE, &rl) != 0)
            _exit(101);
        cairn_store_t *c;
        if (cairn_store_open(dir, &u, &c) != CAIRN_OK)
            _exit(102);
        static uint8_t big[8192];
        cairn_txn_t *txn;
        cairn_err_t err = cairn_txn_begin(c, 1, &txn);
        for (int i = 0; i < 512 && err == CAIRN_OK; i++) {
            char k[16];
            snprintf(k, sizeof k, "big%d", i);
            err = cairn_record_put(txn, k, strlen(k), big, sizeof big);
        }
        if (err == CAIRN_OK)
            err = cairn_txn_commit(txn);
        else
            cairn_txn_abort(txn);
        cairn_store_close(c);
        _exit(err == CAIRN_ENOSPC ? 0 : 110 - (int)err);
    }
    test_wait_ok(pid, "disk-full child");
    cairn_buf_t b = CAIRN_BUF_INIT;
    CHECK_OK(cairn_store_open(dir, &u, &s));
    CHECK_OK(get_one(s, "keep", &b));
    CHECK(b.len == 16 && memcmp(b.data, "committed before", 16) == 0);
    CHECK_ERR(get_one(s, "big0", &b), CAIRN_ENOTFOUND);
    put_one(s, "after", "x", 1);
    cairn_buf_free(&b);
    cairn_store_close(s);
}

/* Fill the store in a child until a write fails; exit 0 if it said ENOSPC. */
static void fill_until_full(const char *dir, const cairn_unlock_t *u)
{
    cairn_store_t *c;
    if (cairn_store_open(dir, u, &c) != CAIRN_OK)
        _exit(102);
    static uint8_t big[65536];
    cairn_err_t err = CAIRN_OK;
    for (int t = 0; t < 10000 && err == CAIRN_OK; t++) {
        cairn_txn_t *txn;
        err = cairn_txn_begin(c, 1, &txn);
        for (int i = 0; i < 8 && err == CAIRN_OK; i++) {
            char k[32];
            snprintf(k, sizeof k, "fill%d.%d", t, i);
            err = cairn_record_put(txn, k, strlen(k), big, sizeof big);
        }
        if (err == CAIRN_OK)
            err = cairn_txn_commit(txn);
        else if (txn != NULL)
            cairn_txn_abort(txn);
    }
    cairn_store_close(c);
    _exit(err == CAIRN_ENOSPC ? 0 : 110 - (int)err);
}

/*
 * A really full file system: a 4 MiB tmpfs in a private mount namespace.
 * Needs root and permission to mount; says so and skips where it has not.
 */
static void real_full_filesystem(void)
{
    char mnt[600];
    node_path(mnt, sizeof mnt, "tmpfs");
    CHECK(mkdir(mnt, 0700) == 0);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        if (unshare(CLONE_NEWNS) != 0 ||
            mount("none", "/", "none", MS_REC | MS_PRIVATE, NULL) != 0 ||
            mount("tmpfs", mnt, "tmpfs", 0, "size=4m") != 0)
            _exit(77);
        char dir[700], key[800];
        snprintf(key, sizeof key, "%s/key", mnt);
        snprintf(dir, sizeof dir, "%s/node", mnt);
        cairn_unlock_t u = file_unlock(key);
        if (cairn_key_file_create(key) != CAIRN_OK || cairn_store_init(dir, &u, NULL) != CAIRN_OK)
            _exit(101);
        cairn_store_t *s;
        if (cairn_store_open(dir, &u, &s) != CAIRN_OK)
            _exit(102);
        put_one(s, "keep", "committed before", 16);
        cairn_store_close(s);
        pid_t filler = fork();
        if (filler == 0)
            fill_until_full(dir, &u);
        int st;
        if (waitpid(filler, &st, 0) != filler || !WIFEXITED(st))
            _exit(104);
        if (WEXITSTATUS(st) != 0)
            _exit(WEXITSTATUS(st));
        /* Committed data survived, and the store still opens and reads. */
        cairn_buf_t b = CAIRN_BUF_INIT;
        if (cairn_store_open(dir, &u, &s) != CAIRN_OK)
            _exit(105);
        if (get_one(s, "keep", &b) != CAIRN_OK || b.len != 16 ||
            memcmp(b.data, "committed before", 16) != 0)
            _exit(106);
        cairn_buf_free(&b);
        cairn_store_close(s);
        _exit(0);
    }
    int status;
    CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status));
    if (WEXITSTATUS(status) == 77) {
        fprintf(stderr, "   skipped: cannot mount a tmpfs here (needs root)\n");
        return;
    }
    if (WEXITSTATUS(status) != 0)
        fprintf(stderr, "   full-filesystem child exited %d\n", WEXITSTATUS(status));
    CHECK(WEXITSTATUS(status) == 0);
}

static void error_names_are_distinct(void)
{
    for (int i = 0; i < CAIRN_ERR_COUNT; i++) {
        for (int j = i + 1; j < CAIRN_ERR_COUNT; j++) {
            CHECK(strcmp(cairn_err_name((cairn_err_t)-i), cairn_err_name((cairn_err_t)-j)) != 0);
            CHECK(strcmp(cairn_strerror((cairn_err_t)-i), cairn_strerror((cairn_err_t)-j)) != 0);
        }
    }
    CHECK(strcmp(cairn_err_name((cairn_err_t)-999), "CAIRN_EUNKNOWN") == 0);
    CHECK(strcmp(cairn_strerror((cairn_err_t)1), "unknown error") == 0);
}

int main(void)
{
    CHECK(sodium_init() >= 0);
    test_tmpdir(root, sizeof root, "store");
    RUN(error_names_are_distinct);
    RUN(round_trip_and_reopen);
    RUN(passphrase_store);
    RUN(key_file_errors);
    RUN(wrong_places);
    RUN(open_by_two_processes);
    RUN(newer_format_refused);
    RUN(tampered_keyring);
    RUN(tampered_values);
    RUN(tampered_identity);
    RUN(no_plaintext_on_disk);
    RUN(limits_and_misuse);
    RUN(map_full_keeps_committed);
    RUN(disk_full_keeps_committed);
    RUN(real_full_filesystem);
    test_rmtree(root);
    return 0;
}
