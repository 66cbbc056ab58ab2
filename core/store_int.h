/*
 * store_int.h - the store handle, as core/'s layers above the roster see it
 * (private).
 *
 * The handle is made of parts, each with one owner that writes it:
 *   kv       kv.c: the sealed environment (opened and closed by store.c);
 *   identity store.c, at open: node id, Ed25519 key pair, unlock kind;
 *   org      roster.c: loaded at open, set through cairn__org_set() when the
 *            store creates or joins an organisation (org.c);
 *   clock    batch.c: advanced by ingest within a batch, saved at commit,
 *            restored on abort; now_ms/now_ctx set by cairn_store_set_clock();
 *   signer   batch.c starts it on the first background signature; store.c
 *            stops it at close.
 * Layers below the roster (kv, log, pstore) never see this struct: they are
 * handed a transaction.
 */
#ifndef CAIRN_CORE_STORE_INT_H
#define CAIRN_CORE_STORE_INT_H

#include <sys/types.h>
#include <time.h>

#include "cairn/hlc.h"
#include "cairn/store.h"
#include "kv.h"
#include "roster.h"
#include "signer.h"

struct cairn_store {
    cairn_kv_t kv;
    int lock_fd;          /* the keyring, held with flock(LOCK_EX) */
    uint8_t *identity_sk; /* Ed25519 secret key, sodium_malloc */
    uint8_t node_id[CAIRN_NODE_ID_BYTES];
    uint8_t public_key[CAIRN_PUBLIC_KEY_BYTES];
    cairn_unlock_kind_t unlock_kind;
    cairn_org_t org;
    cairn_hlc_clock_t clock;    /* persisted in meta at each batch commit */
    uint64_t (*now_ms)(void *); /* NULL: the system clock */
    void *now_ctx;
    cairn_signer_t signer; /* threads signing local edits, started on first use */
    int signer_on;
    dev_t dev; /* store.c: the keyring's identity, in the table of open stores */
    ino_t ino;
    cairn_store_t *next_open;
    int registered;
};

/* The store's clock now, in Unix ms. */
static inline uint64_t cairn_store_now(const cairn_store_t *store)
{
    if (store->now_ms != NULL)
        return store->now_ms(store->now_ctx);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

#endif
