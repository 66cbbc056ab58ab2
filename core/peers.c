/*
 * peers.c - the peer list and the per-peer sync status, sealed in meta.
 *
 * Two kinds of meta rows, keyed by a fixed prefix and the peer's 32-byte
 * public key (a device's key, never anything about a patient):
 *
 *   "peer/"   key -> 01, addr length (u16 BE), addr, name length (u8), name
 *   "peerst/" key -> 01, last_attempt, last_ok, last_end (u64 BE each),
 *                    in_sync (u8, 0 or 1), error length (u8), error,
 *                    nine u64 BE counters (as cairn_peer_status_t orders them)
 *
 * The rows go through kv.c like every other value, so they are sealed under
 * the data key and bound to their key. They are validated on the way in and
 * decoded strictly on the way out: a row that is not exactly one of these
 * shapes is CAIRN_ECORRUPT, never a half-read peer.
 */
#include "cairn/peers.h"

#include <string.h>

#include "grow.h"
#include "kv.h"
#include "store_int.h"

#define RECORD_VERSION 1u
#define NCOUNTERS 9u
#define STATUS_FIXED (1u + 3u * 8u + 1u + 1u + NCOUNTERS * 8u)

static const char peer_prefix[] = "peer/";
static const char status_prefix[] = "peerst/";
#define PEER_PREFIX_LEN (sizeof peer_prefix - 1)
#define STATUS_PREFIX_LEN (sizeof status_prefix - 1)
#define ROW_KEY_MAX (STATUS_PREFIX_LEN + CAIRN_PUBLIC_KEY_BYTES)

/* ---- validation ----------------------------------------------------------- */

static int host_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '-' || c == '_';
}

static int ipv6_char(char c)
{
    return (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || (c >= '0' && c <= '9') || c == ':' ||
           c == '.';
}

/* PORT: 1 to 65535, decimal digits, no sign, no leading zero. */
static int parse_port(const char *s, uint16_t *port)
{
    size_t n = strlen(s);
    if (n == 0 || n > 5 || s[0] == '0')
        return -1;
    unsigned long v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (unsigned long)(s[i] - '0');
    }
    if (v < 1 || v > 65535)
        return -1;
    *port = (uint16_t)v;
    return 0;
}

cairn_err_t cairn_peer_addr_parse(const char *addr, char *host, size_t cap, uint16_t *port)
{
    if (addr == NULL || strlen(addr) > CAIRN_PEER_ADDR_MAX)
        return CAIRN_EINVAL;
    const char *colon = strrchr(addr, ':');
    if (colon == NULL)
        return CAIRN_EINVAL;
    const char *h = addr;
    size_t hlen = (size_t)(colon - addr);
    int (*ok)(char) = host_char;
    if (hlen >= 2 && addr[0] == '[' && addr[hlen - 1] == ']') {
        h = addr + 1;
        hlen -= 2;
        ok = ipv6_char;
    }
    if (hlen == 0 || hlen > CAIRN_PEER_HOST_MAX)
        return CAIRN_EINVAL;
    for (size_t i = 0; i < hlen; i++)
        if (!ok(h[i]))
            return CAIRN_EINVAL;
    uint16_t p;
    if (parse_port(colon + 1, &p) != 0)
        return CAIRN_EINVAL;
    if (host != NULL) {
        if (cap <= hlen)
            return CAIRN_EINVAL;
        memcpy(host, h, hlen);
        host[hlen] = '\0';
    }
    if (port != NULL)
        *port = p;
    return CAIRN_OK;
}

/* A peer name: at most CAIRN_PEER_NAME_MAX bytes, no control characters (UTF-8 passes). */
static int name_ok(const char *name, size_t len)
{
    if (len > CAIRN_PEER_NAME_MAX)
        return 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)name[i];
        if (c < 0x20 || c == 0x7f)
            return 0;
    }
    return 1;
}

/* A reason name: printable ASCII, at most CAIRN_PEER_ERROR_MAX bytes. */
static int error_ok(const char *s, size_t len)
{
    if (len > CAIRN_PEER_ERROR_MAX)
        return 0;
    for (size_t i = 0; i < len; i++)
        if (s[i] < 0x20 || s[i] > 0x7e)
            return 0;
    return 1;
}

/* ---- encoding ---------------------------------------------------------------- */

static void put_u64(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--) {
        p[i] = (uint8_t)v;
        v >>= 8;
    }
}

static uint64_t get_u64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
}

static size_t row_key(uint8_t *out, const char *prefix, size_t plen, const uint8_t key[32])
{
    memcpy(out, prefix, plen);
    memcpy(out + plen, key, CAIRN_PUBLIC_KEY_BYTES);
    return plen + CAIRN_PUBLIC_KEY_BYTES;
}

/* Decode a peer row strictly into *out (key filled by the caller). */
static cairn_err_t peer_decode(const uint8_t *v, size_t len, cairn_peer_t *out)
{
    if (len < 4 || v[0] != RECORD_VERSION)
        return CAIRN_ECORRUPT;
    size_t alen = (size_t)v[1] << 8 | v[2];
    if (alen == 0 || alen > CAIRN_PEER_ADDR_MAX || 3 + alen + 1 > len)
        return CAIRN_ECORRUPT;
    size_t nlen = v[3 + alen];
    if (4 + alen + nlen != len)
        return CAIRN_ECORRUPT;
    memcpy(out->addr, v + 3, alen);
    out->addr[alen] = '\0';
    if (memchr(out->addr, '\0', alen) != NULL ||
        cairn_peer_addr_parse(out->addr, NULL, 0, NULL) != CAIRN_OK)
        return CAIRN_ECORRUPT;
    const char *name = (const char *)v + 4 + alen;
    if (!name_ok(name, nlen))
        return CAIRN_ECORRUPT;
    memcpy(out->name, name, nlen);
    out->name[nlen] = '\0';
    return CAIRN_OK;
}

static cairn_err_t status_decode(const uint8_t *v, size_t len, cairn_peer_status_t *st)
{
    if (len < STATUS_FIXED || v[0] != RECORD_VERSION)
        return CAIRN_ECORRUPT;
    memset(st, 0, sizeof *st);
    st->last_attempt_ms = get_u64(v + 1);
    st->last_ok_ms = get_u64(v + 9);
    st->last_end_ms = get_u64(v + 17);
    if (v[25] > 1)
        return CAIRN_ECORRUPT;
    st->in_sync = v[25];
    size_t elen = v[26];
    if (len != STATUS_FIXED + elen || !error_ok((const char *)v + 27, elen))
        return CAIRN_ECORRUPT;
    memcpy(st->last_error, v + 27, elen);
    st->last_error[elen] = '\0';
    const uint8_t *c = v + 27 + elen;
    uint64_t *fields[NCOUNTERS] = {&st->changes_in,        &st->changes_out, &st->bytes_in,
                                   &st->bytes_out,         &st->rejected,    &st->changes_in_total,
                                   &st->changes_out_total, &st->sessions,    &st->failures};
    for (size_t i = 0; i < NCOUNTERS; i++)
        *fields[i] = get_u64(c + 8 * i);
    return CAIRN_OK;
}

static size_t status_encode(const cairn_peer_status_t *st, uint8_t *out)
{
    size_t elen = strlen(st->last_error);
    out[0] = RECORD_VERSION;
    put_u64(out + 1, st->last_attempt_ms);
    put_u64(out + 9, st->last_ok_ms);
    put_u64(out + 17, st->last_end_ms);
    out[25] = (uint8_t)st->in_sync;
    out[26] = (uint8_t)elen;
    memcpy(out + 27, st->last_error, elen);
    uint8_t *c = out + 27 + elen;
    const uint64_t fields[NCOUNTERS] = {
        st->changes_in,       st->changes_out,       st->bytes_in, st->bytes_out, st->rejected,
        st->changes_in_total, st->changes_out_total, st->sessions, st->failures};
    for (size_t i = 0; i < NCOUNTERS; i++)
        put_u64(c + 8 * i, fields[i]);
    return STATUS_FIXED + elen;
}

/* ---- one-row transactions ------------------------------------------------------ */

/* Put (val != NULL) or delete rows in one write transaction. */
static cairn_err_t write_row(cairn_store_t *store, const uint8_t *k, size_t klen,
                             const uint8_t *val, size_t vlen)
{
    cairn_txn_t *txn;
    cairn_err_t err = cairn__kv_begin(&store->kv, 1, &txn);
    if (err != CAIRN_OK)
        return err;
    err = cairn__db_put(txn, CAIRN_DB_META, k, klen, val, vlen);
    if (err != CAIRN_OK) {
        cairn_txn_abort(txn);
        return err;
    }
    return cairn_txn_commit(txn);
}

static cairn_err_t read_row(cairn_store_t *store, const uint8_t *k, size_t klen, cairn_buf_t *out)
{
    cairn_txn_t *txn;
    cairn_err_t err = cairn__kv_begin(&store->kv, 0, &txn);
    if (err != CAIRN_OK)
        return err;
    err = cairn__db_get(txn, CAIRN_DB_META, k, klen, out);
    cairn_txn_abort(txn);
    return err;
}

cairn_err_t cairn_peer_put(cairn_store_t *store, const uint8_t key[CAIRN_PUBLIC_KEY_BYTES],
                           const char *addr, const char *name)
{
    if (store == NULL || key == NULL || addr == NULL)
        return CAIRN_EINVAL;
    if (name == NULL)
        name = "";
    size_t alen = strlen(addr), nlen = strlen(name);
    if (cairn_peer_addr_parse(addr, NULL, 0, NULL) != CAIRN_OK || !name_ok(name, nlen) ||
        memcmp(key, store->public_key, CAIRN_PUBLIC_KEY_BYTES) == 0)
        return CAIRN_EINVAL;
    uint8_t val[4 + CAIRN_PEER_ADDR_MAX + CAIRN_PEER_NAME_MAX];
    val[0] = RECORD_VERSION;
    val[1] = (uint8_t)(alen >> 8);
    val[2] = (uint8_t)alen;
    memcpy(val + 3, addr, alen);
    val[3 + alen] = (uint8_t)nlen;
    memcpy(val + 4 + alen, name, nlen);
    uint8_t k[ROW_KEY_MAX];
    size_t klen = row_key(k, peer_prefix, PEER_PREFIX_LEN, key);
    return write_row(store, k, klen, val, 4 + alen + nlen);
}

cairn_err_t cairn_peer_remove(cairn_store_t *store, const uint8_t key[CAIRN_PUBLIC_KEY_BYTES])
{
    if (store == NULL || key == NULL)
        return CAIRN_EINVAL;
    uint8_t k[ROW_KEY_MAX], ks[ROW_KEY_MAX];
    size_t klen = row_key(k, peer_prefix, PEER_PREFIX_LEN, key);
    size_t kslen = row_key(ks, status_prefix, STATUS_PREFIX_LEN, key);
    cairn_txn_t *txn;
    cairn_err_t err = cairn__kv_begin(&store->kv, 1, &txn);
    if (err != CAIRN_OK)
        return err;
    err = cairn__db_del(txn, CAIRN_DB_META, k, klen);
    if (err == CAIRN_OK) {
        err = cairn__db_del(txn, CAIRN_DB_META, ks, kslen);
        if (err == CAIRN_ENOTFOUND)
            err = CAIRN_OK; /* never had a session */
    }
    if (err != CAIRN_OK) {
        cairn_txn_abort(txn);
        return err;
    }
    return cairn_txn_commit(txn);
}

cairn_err_t cairn_peer_get(cairn_store_t *store, const uint8_t key[CAIRN_PUBLIC_KEY_BYTES],
                           cairn_peer_t *out)
{
    if (store == NULL || key == NULL || out == NULL)
        return CAIRN_EINVAL;
    uint8_t k[ROW_KEY_MAX];
    size_t klen = row_key(k, peer_prefix, PEER_PREFIX_LEN, key);
    cairn_buf_t buf = CAIRN_BUF_INIT;
    cairn_err_t err = read_row(store, k, klen, &buf);
    memset(out, 0, sizeof *out);
    if (err == CAIRN_OK)
        err = peer_decode(buf.data, buf.len, out);
    if (err == CAIRN_OK)
        memcpy(out->key, key, CAIRN_PUBLIC_KEY_BYTES);
    cairn_buf_free(&buf);
    return err;
}

cairn_err_t cairn_peer_status_put(cairn_store_t *store, const uint8_t key[CAIRN_PUBLIC_KEY_BYTES],
                                  const cairn_peer_status_t *st)
{
    if (store == NULL || key == NULL || st == NULL || (st->in_sync != 0 && st->in_sync != 1))
        return CAIRN_EINVAL;
    size_t elen = strnlen(st->last_error, sizeof st->last_error);
    if (elen == sizeof st->last_error || !error_ok(st->last_error, elen))
        return CAIRN_EINVAL;
    uint8_t val[STATUS_FIXED + CAIRN_PEER_ERROR_MAX];
    size_t vlen = status_encode(st, val);
    uint8_t k[ROW_KEY_MAX];
    size_t klen = row_key(k, status_prefix, STATUS_PREFIX_LEN, key);
    return write_row(store, k, klen, val, vlen);
}

cairn_err_t cairn_peer_status_get(cairn_store_t *store, const uint8_t key[CAIRN_PUBLIC_KEY_BYTES],
                                  cairn_peer_status_t *st)
{
    if (store == NULL || key == NULL || st == NULL)
        return CAIRN_EINVAL;
    uint8_t k[ROW_KEY_MAX];
    size_t klen = row_key(k, status_prefix, STATUS_PREFIX_LEN, key);
    cairn_buf_t buf = CAIRN_BUF_INIT;
    cairn_err_t err = read_row(store, k, klen, &buf);
    if (err == CAIRN_OK)
        err = status_decode(buf.data, buf.len, st);
    cairn_buf_free(&buf);
    return err;
}

/* ---- listing ------------------------------------------------------------------------ */

/* Rows of one prefix, decoded inside the scan's snapshot, handed out after it. */
typedef struct scan {
    cairn_txn_t *txn;
    size_t plen;
    int status; /* 0: peer rows, 1: status rows */
    cairn_peer_t *peers;
    cairn_peer_status_t *sts;
    uint8_t (*keys)[CAIRN_PUBLIC_KEY_BYTES];
    size_t n, cap, kcap, scap;
    cairn_buf_t buf;
    cairn_err_t err;
} scan_t;

static int scan_row(void *ctx, const uint8_t *key, size_t key_len)
{
    scan_t *s = ctx;
    if (key_len != s->plen + CAIRN_PUBLIC_KEY_BYTES) {
        s->err = CAIRN_ECORRUPT;
        return 1;
    }
    s->err = cairn__db_get(s->txn, CAIRN_DB_META, key, key_len, &s->buf);
    if (s->err == CAIRN_OK)
        s->err = cairn_grow(&s->keys, &s->kcap, s->n, sizeof *s->keys, 8);
    if (s->err == CAIRN_OK && !s->status)
        s->err = cairn_grow(&s->peers, &s->cap, s->n, sizeof *s->peers, 8);
    if (s->err == CAIRN_OK && s->status)
        s->err = cairn_grow(&s->sts, &s->scap, s->n, sizeof *s->sts, 8);
    if (s->err != CAIRN_OK)
        return 1;
    memcpy(s->keys[s->n], key + s->plen, CAIRN_PUBLIC_KEY_BYTES);
    if (s->status) {
        s->err = status_decode(s->buf.data, s->buf.len, &s->sts[s->n]);
    } else {
        memset(&s->peers[s->n], 0, sizeof s->peers[s->n]);
        s->err = peer_decode(s->buf.data, s->buf.len, &s->peers[s->n]);
        memcpy(s->peers[s->n].key, key + s->plen, CAIRN_PUBLIC_KEY_BYTES);
    }
    if (s->err != CAIRN_OK)
        return 1;
    s->n++;
    return 0;
}

static cairn_err_t scan_all(cairn_store_t *store, scan_t *s)
{
    const char *prefix = s->status ? status_prefix : peer_prefix;
    s->plen = s->status ? STATUS_PREFIX_LEN : PEER_PREFIX_LEN;
    cairn_err_t err = cairn__kv_begin(&store->kv, 0, &s->txn);
    if (err != CAIRN_OK)
        return err;
    s->err = CAIRN_OK;
    err = cairn__db_scan(s->txn, CAIRN_DB_META, prefix, s->plen, scan_row, s);
    cairn_txn_abort(s->txn);
    s->txn = NULL;
    cairn_buf_free(&s->buf);
    return err != CAIRN_OK ? err : s->err;
}

static void scan_free(scan_t *s)
{
    free(s->peers);
    free(s->sts);
    free(s->keys);
}

cairn_err_t cairn_peer_list(cairn_store_t *store, cairn_peer_fn fn, void *ctx)
{
    if (store == NULL || fn == NULL)
        return CAIRN_EINVAL;
    scan_t s;
    memset(&s, 0, sizeof s);
    cairn_err_t err = scan_all(store, &s);
    for (size_t i = 0; err == CAIRN_OK && i < s.n; i++)
        if (fn(ctx, &s.peers[i]) != 0)
            break;
    scan_free(&s);
    return err;
}

cairn_err_t cairn_peer_status_list(cairn_store_t *store, cairn_peer_status_fn fn, void *ctx)
{
    if (store == NULL || fn == NULL)
        return CAIRN_EINVAL;
    scan_t s;
    memset(&s, 0, sizeof s);
    s.status = 1;
    cairn_err_t err = scan_all(store, &s);
    for (size_t i = 0; err == CAIRN_OK && i < s.n; i++)
        if (fn(ctx, s.keys[i], &s.sts[i]) != 0)
            break;
    scan_free(&s);
    return err;
}
