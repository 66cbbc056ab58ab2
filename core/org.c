/*
 * org.c - the organisation and its roster, written: creating or joining an
 * organisation, and roster entries put or revoked.
 *
 * A roster write is one signed change of the roster plan, made like any
 * edit (edit.h) and ingested like any change: signed by the organisation's
 * root key when this store holds it, else by this node, which the roster
 * must then list as an administrator.
 */
#include "edit.h"

#include "wipe.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

static const char meta_org_sk[] = "org_sk";

cairn_err_t cairn_org_key(cairn_store_t *store, uint8_t org[32])
{
    if (store == NULL || org == NULL)
        return CAIRN_EINVAL;
    if (!store->org.has)
        return CAIRN_ENOORG;
    memcpy(org, store->org.key, 32);
    return CAIRN_OK;
}

cairn_err_t cairn_org_join(cairn_store_t *store, const uint8_t org[32])
{
    if (store == NULL || org == NULL)
        return CAIRN_EINVAL;
    if (store->org.has)
        return memcmp(store->org.key, org, 32) == 0 ? CAIRN_OK : CAIRN_EEXIST;
    cairn_txn_t *txn;
    cairn_err_t err = cairn__kv_begin(&store->kv, 1, &txn);
    if (err != CAIRN_OK)
        return err;
    err = cairn__org_put(txn, org);
    if (err != CAIRN_OK) {
        cairn_txn_abort(txn);
        return err;
    }
    err = cairn_txn_commit(txn);
    if (err == CAIRN_OK)
        cairn__org_set(&store->org, org);
    return err;
}

/* The organisation's root secret key, if this store holds it. */
static cairn_err_t root_sk(cairn_txn_t *txn, uint8_t *sk)
{
    cairn_buf_t buf = CAIRN_BUF_INIT;
    cairn_err_t err = cairn__meta_get(txn, meta_org_sk, &buf);
    if (err == CAIRN_OK && buf.len != crypto_sign_SECRETKEYBYTES)
        err = CAIRN_ECORRUPT;
    if (err == CAIRN_OK)
        memcpy(sk, buf.data, crypto_sign_SECRETKEYBYTES);
    cairn_buf_free(&buf);
    return err;
}

static cairn_err_t set_int(cairn_edit_t *e, const uint8_t *eid, uint16_t field, int64_t v)
{
    cairn_value_t val = {v ? CAIRN_VALUE_INT : CAIRN_VALUE_NIL, v, NULL, 0};
    return cairn_edit_set(e, CAIRN_ET_ROSTER_ENTRY, eid, field, &val);
}

static cairn_err_t set_str(cairn_edit_t *e, const uint8_t *eid, uint16_t field, const char *s)
{
    cairn_value_t val = {CAIRN_VALUE_STR, 0, s, strlen(s)};
    return cairn_edit_set(e, CAIRN_ET_ROSTER_ENTRY, eid, field, &val);
}

typedef struct roster_write {
    const uint8_t *key;
    const char *name; /* NULL: a revocation */
    unsigned roles;
    uint64_t valid_from, valid_until, revoked_at;
} roster_write_t;

static cairn_err_t roster_ops(cairn_edit_t *e, const roster_write_t *w)
{
    uint8_t eid[CAIRN_ENTITY_ID_BYTES];
    char hex[65];
    cairn_roster_entry_id(w->key, eid);
    sodium_bin2hex(hex, sizeof hex, w->key, 32);
    int present;
    cairn_err_t err = cairn__edit_present(e, CAIRN_ET_ROSTER_ENTRY, eid, &present);
    if (err != CAIRN_OK)
        return err;
    if (w->name == NULL) {
        if (!present)
            return CAIRN_ENOTFOUND;
        return set_int(e, eid, CAIRN_F_ROSTER_ENTRY_REVOKED_AT, (int64_t)w->revoked_at);
    }
    err = present ? CAIRN_OK : cairn__edit_add_id(e, CAIRN_ET_ROSTER_ENTRY, eid);
    if (err == CAIRN_OK)
        err = set_str(e, eid, CAIRN_F_ROSTER_ENTRY_KEY, hex);
    if (err == CAIRN_OK)
        err = set_str(e, eid, CAIRN_F_ROSTER_ENTRY_NAME, w->name);
    if (err == CAIRN_OK)
        err = set_int(e, eid, CAIRN_F_ROSTER_ENTRY_ROLES, w->roles);
    if (err == CAIRN_OK)
        err = set_int(e, eid, CAIRN_F_ROSTER_ENTRY_VALID_FROM, (int64_t)w->valid_from);
    if (err == CAIRN_OK)
        err = set_int(e, eid, CAIRN_F_ROSTER_ENTRY_VALID_UNTIL, (int64_t)w->valid_until);
    if (err == CAIRN_OK && present) /* enrolling again lifts a revocation */
        err = set_int(e, eid, CAIRN_F_ROSTER_ENTRY_REVOKED_AT, 0);
    return err;
}

/* One roster change in batch b, signed by the root if b's store holds it. */
static cairn_err_t roster_write(cairn_batch_t *b, const roster_write_t *w)
{
    cairn_store_t *store = b->store;
    if (!store->org.has)
        return CAIRN_ENOORG;
    uint8_t *sk = sodium_malloc(crypto_sign_SECRETKEYBYTES);
    if (sk == NULL)
        return CAIRN_ENOMEM;
    cairn_err_t err = root_sk(b->txn, sk);
    const uint8_t *signer_sk = sk, *signer_pk = store->org.key;
    if (err == CAIRN_ENOTFOUND) {
        signer_sk = store->identity_sk;
        signer_pk = store->public_key;
        err = CAIRN_OK;
    }
    cairn_edit_t *e = NULL;
    if (err == CAIRN_OK)
        err = cairn__edit_begin_as(b, store->org.roster_plan, signer_sk, signer_pk, &e);
    if (err == CAIRN_OK)
        err = roster_ops(e, w);
    if (err == CAIRN_OK) {
        uint8_t id[CAIRN_CHANGE_ID_BYTES]; /* sign now: sk is freed below */
        err = cairn_edit_commit(e, id);
        e = NULL;
    }
    cairn_edit_abort(e);
    sodium_free(sk);
    return err;
}

static cairn_err_t roster_write_one(cairn_store_t *store, const roster_write_t *w)
{
    cairn_batch_t *b;
    cairn_err_t err = cairn_batch_begin(store, &b);
    if (err != CAIRN_OK)
        return err;
    err = roster_write(b, w);
    if (err != CAIRN_OK) {
        cairn_batch_abort(b);
        return err;
    }
    return cairn_batch_commit(b);
}

cairn_err_t cairn_roster_put(cairn_store_t *store, const uint8_t key[32], const char *name,
                             unsigned roles, uint64_t valid_from, uint64_t valid_until)
{
    if (store == NULL || key == NULL || name == NULL || roles == 0 ||
        (roles & ~CAIRN_ROLE_ALL) != 0)
        return CAIRN_EINVAL;
    roster_write_t w = {key, name, roles, valid_from, valid_until, 0};
    return roster_write_one(store, &w);
}

cairn_err_t cairn_roster_revoke(cairn_store_t *store, const uint8_t key[32], uint64_t at_ms)
{
    if (store == NULL || key == NULL || at_ms == 0)
        return CAIRN_EINVAL;
    roster_write_t w = {key, NULL, 0, 0, 0, at_ms};
    return roster_write_one(store, &w);
}

cairn_err_t cairn_org_create(cairn_store_t *store, const char *node_name)
{
    if (store == NULL || node_name == NULL)
        return CAIRN_EINVAL;
    if (store->org.has)
        return CAIRN_EEXIST;
    uint8_t *sk = sodium_malloc(crypto_sign_SECRETKEYBYTES);
    uint8_t pk[32];
    cairn_batch_t *b = NULL;
    cairn_err_t err = sk ? cairn_batch_begin(store, &b) : CAIRN_ENOMEM;
    if (err == CAIRN_OK) {
        crypto_sign_keypair(pk, sk);
        err = cairn__org_put(b->txn, pk);
    }
    if (err == CAIRN_OK)
        err = cairn__meta_put(b->txn, meta_org_sk, sk, crypto_sign_SECRETKEYBYTES);
    if (err == CAIRN_OK) {
        cairn__org_set(&store->org, pk); /* the root's roster entry needs the roster plan id */
        roster_write_t w = {store->public_key, node_name, CAIRN_ROLE_ADMIN, 0, 0, 0};
        err = roster_write(b, &w);
    }
    if (err == CAIRN_OK)
        err = cairn_batch_commit(b);
    else
        cairn_batch_abort(b);
    if (err != CAIRN_OK)
        cairn__org_clear(&store->org);
    if (sk != NULL)
        sodium_free(sk);
    return err;
}
