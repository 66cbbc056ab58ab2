/*
 * bundle.c - exporting changes to a sealed file and importing them.
 *
 * The frames are built in memory, sealed whole, and written with one
 * durable replace; an import reads, opens and checks every frame before it
 * ingests anything, so a damaged file changes nothing.
 */
#include "cairn/bundle.h"

#include "fsio.h"
#include "grow.h"
#include "pkeys.h"
#include "store_int.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char magic[8] = {'C', 'A', 'I', 'R', 'N', 'B', 'D', 'L'};
#define BUNDLE_VERSION 1u
#define HEADER_BYTES (sizeof magic + 1 + 32)
#define IMPORT_BATCH 1000

/* ---- export ------------------------------------------------------------------ */

typedef struct frames {
    cairn_buf_t buf;
    size_t count;
    cairn_err_t err;
} frames_t;

static int add_frame(void *ctx, const uint8_t *id, const uint8_t *bytes, size_t len)
{
    (void)id;
    frames_t *f = ctx;
    if (f->buf.len + 4 + len > CAIRN_BUNDLE_MAX_BYTES - HEADER_BYTES - crypto_box_SEALBYTES) {
        f->err = CAIRN_ETOOBIG;
        return 1;
    }
    f->err = cairn_buf_reserve(&f->buf, f->buf.len + 4 + len);
    if (f->err != CAIRN_OK)
        return 1;
    uint8_t *p = f->buf.data + f->buf.len;
    p[0] = (uint8_t)(len >> 24), p[1] = (uint8_t)(len >> 16), p[2] = (uint8_t)(len >> 8);
    p[3] = (uint8_t)len;
    memcpy(p + 4, bytes, len);
    f->buf.len += 4 + len;
    f->count++;
    return 0;
}

typedef struct plan_ids {
    uint8_t (*v)[CAIRN_PLAN_ID_BYTES];
    size_t n, cap;
    const uint8_t *skip; /* the roster, exported first */
    int oom;
} plan_ids_t;

static int add_plan(void *ctx, const uint8_t *plan, uint64_t nchanges)
{
    (void)nchanges;
    plan_ids_t *ids = ctx;
    if (ids->skip != NULL && memcmp(plan, ids->skip, CAIRN_PLAN_ID_BYTES) == 0)
        return 0;
    if (cairn_grow(&ids->v, &ids->cap, ids->n, sizeof *ids->v, 64) != CAIRN_OK) {
        ids->oom = 1;
        return 1;
    }
    memcpy(ids->v[ids->n++], plan, CAIRN_PLAN_ID_BYTES);
    return 0;
}

static cairn_err_t frames_of(cairn_store_t *store, const uint8_t *plan, frames_t *f)
{
    cairn_err_t err = cairn_plan_changes(store, plan, add_frame, f);
    return err == CAIRN_OK ? f->err : err;
}

static cairn_err_t seal_and_write(const frames_t *f, const uint8_t *recipient, const char *path)
{
    uint8_t curve_pk[crypto_box_PUBLICKEYBYTES];
    if (crypto_sign_ed25519_pk_to_curve25519(curve_pk, recipient) != 0)
        return CAIRN_EINVAL;
    size_t total = HEADER_BYTES + crypto_box_SEALBYTES + f->buf.len;
    uint8_t *out = malloc(total);
    if (out == NULL)
        return CAIRN_ENOMEM;
    memcpy(out, magic, sizeof magic);
    out[sizeof magic] = BUNDLE_VERSION;
    memcpy(out + sizeof magic + 1, recipient, 32);
    cairn_err_t err = crypto_box_seal(out + HEADER_BYTES, f->buf.data ? f->buf.data : out,
                                      f->buf.len, curve_pk) == 0
                          ? CAIRN_OK
                          : CAIRN_ECRYPTO;
    if (err == CAIRN_OK)
        err = cairn__write_file_durable(path, out, total, 0);
    free(out);
    return err;
}

cairn_err_t cairn_bundle_export(cairn_store_t *store, const uint8_t (*plans)[CAIRN_PLAN_ID_BYTES],
                                size_t nplans, const uint8_t recipient[32], const char *path,
                                size_t *count)
{
    if (store == NULL || recipient == NULL || path == NULL || (nplans > 0 && plans == NULL))
        return CAIRN_EINVAL;
    frames_t f = {CAIRN_BUF_INIT, 0, CAIRN_OK};
    plan_ids_t ids = {NULL, 0, 0, store->org.has ? store->org.roster_plan : NULL, 0};
    unsigned roles = 0;
    uint8_t curve_pk[crypto_box_PUBLICKEYBYTES];
    if (crypto_sign_ed25519_pk_to_curve25519(curve_pk, recipient) != 0)
        return CAIRN_EINVAL; /* not a node's public key */
    /* A bundle goes only to a member, and holds only what the member may hold. */
    cairn_err_t err = cairn_roster_member(store, recipient, cairn_store_now(store), &roles, NULL);
    int explicit = nplans > 0;
    if (err == CAIRN_OK && nplans == 0) {
        if (store->org.has)
            err = frames_of(store, store->org.roster_plan, &f);
        if (err == CAIRN_OK)
            err = cairn_plan_list(store, add_plan, &ids);
        if (err == CAIRN_OK && ids.oom)
            err = CAIRN_ENOMEM;
        plans = (const uint8_t(*)[CAIRN_PLAN_ID_BYTES])ids.v;
        nplans = ids.n;
    }
    for (size_t i = 0; i < nplans && err == CAIRN_OK; i++) {
        int may = 0;
        err = cairn_plan_may_hold(store, plans[i], recipient, roles, &may);
        if (err == CAIRN_OK && may)
            err = frames_of(store, plans[i], &f);
        else if (err == CAIRN_OK && explicit)
            err = CAIRN_EDENIED; /* asked by name for a plan the recipient may not hold */
    }
    if (err == CAIRN_OK)
        err = seal_and_write(&f, recipient, path);
    if (err == CAIRN_OK && count != NULL)
        *count = f.count;
    cairn_buf_free(&f.buf);
    free(ids.v);
    return err;
}

/* ---- import ------------------------------------------------------------------ */

static cairn_err_t read_file(const char *path, cairn_buf_t *out)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? CAIRN_ENOTFOUND : cairn__err_from_errno(errno);
    struct stat st;
    cairn_err_t err = fstat(fd, &st) == 0 ? CAIRN_OK : cairn__err_from_errno(errno);
    if (err == CAIRN_OK && (uint64_t)st.st_size > CAIRN_BUNDLE_MAX_BYTES)
        err = CAIRN_ETOOBIG;
    if (err == CAIRN_OK && (size_t)st.st_size < HEADER_BYTES + crypto_box_SEALBYTES)
        err = CAIRN_EMALFORMED;
    if (err == CAIRN_OK)
        err = cairn_buf_reserve(out, (size_t)st.st_size);
    if (err == CAIRN_OK)
        err = cairn__read_exact(fd, out->data, (size_t)st.st_size);
    if (err == CAIRN_ECORRUPT)
        err = CAIRN_EMALFORMED; /* shorter than it said: truncated */
    if (err == CAIRN_OK)
        out->len = (size_t)st.st_size;
    close(fd);
    return err;
}

/* Open the sealed part for this node into plain. */
static cairn_err_t open_sealed(cairn_store_t *store, const cairn_buf_t *file, cairn_buf_t *plain)
{
    if (memcmp(file->data, magic, sizeof magic) != 0)
        return CAIRN_EMALFORMED;
    if (file->data[sizeof magic] != BUNDLE_VERSION)
        return CAIRN_EVERSION;
    if (memcmp(file->data + sizeof magic + 1, store->public_key, 32) != 0)
        return CAIRN_EBADKEY; /* made for another node */
    uint8_t curve_pk[crypto_box_PUBLICKEYBYTES];
    uint8_t *curve_sk = sodium_malloc(crypto_box_SECRETKEYBYTES);
    if (curve_sk == NULL)
        return CAIRN_ENOMEM;
    size_t sealed_len = file->len - HEADER_BYTES;
    size_t plain_len = sealed_len - crypto_box_SEALBYTES;
    cairn_err_t err = cairn_buf_reserve(plain, plain_len ? plain_len : 1);
    if (err == CAIRN_OK &&
        (crypto_sign_ed25519_pk_to_curve25519(curve_pk, store->public_key) != 0 ||
         crypto_sign_ed25519_sk_to_curve25519(curve_sk, store->identity_sk) != 0))
        err = CAIRN_ECRYPTO;
    if (err == CAIRN_OK && crypto_box_seal_open(plain->data, file->data + HEADER_BYTES, sealed_len,
                                                curve_pk, curve_sk) != 0)
        err = CAIRN_EBADKEY; /* tampered with, or not for us */
    if (err == CAIRN_OK)
        plain->len = plain_len;
    sodium_free(curve_sk);
    return err;
}

/* Split plain into frames; every length is checked before anything is used. */
static cairn_err_t split_frames(const cairn_buf_t *plain, const uint8_t ***bytes, size_t **lens,
                                size_t *n)
{
    size_t count = 0;
    for (size_t off = 0; off < plain->len;) {
        if (plain->len - off < 4)
            return CAIRN_EMALFORMED;
        const uint8_t *p = plain->data + off;
        size_t len = (size_t)p[0] << 24 | (size_t)p[1] << 16 | (size_t)p[2] << 8 | p[3];
        if (len == 0 || len > plain->len - off - 4)
            return CAIRN_EMALFORMED;
        off += 4 + len;
        count++;
    }
    *bytes = malloc((count ? count : 1) * sizeof **bytes);
    *lens = malloc((count ? count : 1) * sizeof **lens);
    if (*bytes == NULL || *lens == NULL)
        return CAIRN_ENOMEM;
    size_t off = 0;
    for (size_t i = 0; i < count; i++) {
        const uint8_t *p = plain->data + off;
        (*lens)[i] = (size_t)p[0] << 24 | (size_t)p[1] << 16 | (size_t)p[2] << 8 | p[3];
        (*bytes)[i] = p + 4;
        off += 4 + (*lens)[i];
    }
    *n = count;
    return CAIRN_OK;
}

static void stats_add(cairn_ingest_stats_t *sum, const cairn_ingest_stats_t *s)
{
    sum->applied += s->applied;
    sum->duplicate += s->duplicate;
    sum->pending += s->pending;
    sum->rejected += s->rejected;
    sum->forks += s->forks;
    sum->verified += s->verified;
}

cairn_err_t cairn_bundle_import(cairn_store_t *store, const char *path, cairn_ingest_stats_t *stats)
{
    if (store == NULL || path == NULL)
        return CAIRN_EINVAL;
    cairn_buf_t file = CAIRN_BUF_INIT, plain = CAIRN_BUF_INIT;
    const uint8_t **bytes = NULL;
    size_t *lens = NULL, n = 0;
    cairn_ingest_stats_t sum = {0};
    cairn_err_t err = read_file(path, &file);
    if (err == CAIRN_OK)
        err = open_sealed(store, &file, &plain);
    if (err == CAIRN_OK)
        err = split_frames(&plain, &bytes, &lens, &n);
    for (size_t i = 0; i < n && err == CAIRN_OK; i += IMPORT_BATCH) {
        cairn_ingest_stats_t s;
        size_t k = n - i < IMPORT_BATCH ? n - i : IMPORT_BATCH;
        err = cairn_ingest(store, bytes + i, lens + i, k, NULL, &s);
        if (err == CAIRN_OK)
            stats_add(&sum, &s);
    }
    if (stats != NULL)
        *stats = sum;
    free(bytes);
    free(lens);
    cairn_buf_free(&file);
    cairn_buf_free(&plain);
    return err;
}
