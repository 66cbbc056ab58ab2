/*
 * replica.c - summaries, version vectors and holding rights, for sync.
 *
 * All of it is read from what ingest keeps anyway: the plan headers (heads
 * and change count), the log keys (author, seq per change), the roster and
 * the plans' care teams. Nothing here writes.
 */
#include "cairn/replica.h"

#include "batch.h"
#include "grow.h"
#include "pkeys.h"
#include "wipe.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

/* ---- plan headers ---------------------------------------------------------- */

typedef int (*header_fn)(void *ctx, const cairn_plan_state_t *header);

/* The next plan id after p (big-endian increment); 0 when p was the last. */
static int plan_next(uint8_t *p)
{
    for (int i = CAIRN_PLAN_ID_BYTES - 1; i >= 0; i--)
        if (++p[i] != 0)
            return 1;
    return 0;
}

cairn_err_t cairn_headers_each(cairn_txn_t *txn, int (*fn)(void *, const cairn_plan_state_t *),
                               void *ctx)
{
    cairn_err_t err;
    uint8_t at[CAIRN_PK_PREFIX] = {0}, key[CAIRN_RECORD_KEY_MAX];
    cairn_buf_t buf = CAIRN_BUF_INIT;
    size_t len;
    /* A plan's keys start with its header: seek to it, then past the plan. */
    while ((err = cairn_db_seek(txn, CAIRN_DB_PLANS, at, sizeof at, key, sizeof key, &len)) ==
           CAIRN_OK) {
        if (len < CAIRN_PK_PREFIX) {
            err = CAIRN_ECORRUPT;
            break;
        }
        /*
         * A plan whose first key is not its header is one a write transaction
         * is building: its header is written at commit. It counts as empty.
         */
        int has_header = key[CAIRN_PLAN_ID_BYTES] == CAIRN_PK_HEADER;
        cairn_plan_state_t *st = cairn_pstate_new(key);
        err = st == NULL   ? CAIRN_ENOMEM
              : has_header ? cairn_db_get(txn, CAIRN_DB_PLANS, key, CAIRN_PK_PREFIX, &buf)
                           : CAIRN_OK;
        if (err == CAIRN_OK && has_header)
            err = cairn_pstate_decode_header(st, buf.data, buf.len);
        int stop = err == CAIRN_OK && fn(ctx, st) != 0;
        cairn_plan_state_free(st);
        memcpy(at, key, CAIRN_PLAN_ID_BYTES);
        at[CAIRN_PLAN_ID_BYTES] = 0;
        if (err != CAIRN_OK || stop || !plan_next(at))
            break;
    }
    cairn_buf_free(&buf);
    return err == CAIRN_ENOTFOUND ? CAIRN_OK : err;
}

/* Call fn with the header of every plan, in plan id order. */
static cairn_err_t headers_each(cairn_store_t *store, header_fn fn, void *ctx)
{
    cairn_txn_t *txn;
    cairn_err_t err = cairn_txn_begin(store, 0, &txn);
    if (err != CAIRN_OK)
        return err;
    err = cairn_headers_each(txn, fn, ctx);
    cairn_txn_abort(txn);
    return err;
}

typedef struct list_ctx {
    cairn_plan_fn fn;
    cairn_summary_fn sfn;
    void *ctx;
} list_ctx_t;

static int list_one(void *ctx, const cairn_plan_state_t *h)
{
    const list_ctx_t *l = ctx;
    return l->fn(l->ctx, h->plan, h->nchanges);
}

cairn_err_t cairn_plan_list(cairn_store_t *store, cairn_plan_fn fn, void *ctx)
{
    if (store == NULL || fn == NULL)
        return CAIRN_EINVAL;
    list_ctx_t l = {fn, NULL, ctx};
    return headers_each(store, list_one, &l);
}

static int summary_one(void *ctx, const cairn_plan_state_t *h)
{
    const list_ctx_t *l = ctx;
    uint8_t count[8], digest[CAIRN_SYNC_DIGEST_BYTES];
    for (int i = 0; i < 8; i++)
        count[i] = (uint8_t)(h->nchanges >> (56 - 8 * i));
    cairn_hash_domain(digest, sizeof digest, "cairn sync digest v1", count, sizeof count,
                      h->nheads ? (const void *)h->heads : (const void *)count,
                      h->nheads * CAIRN_CHANGE_ID_BYTES, NULL, 0);
    return l->sfn(l->ctx, h->plan, digest);
}

cairn_err_t cairn_plan_summaries(cairn_store_t *store, cairn_summary_fn fn, void *ctx)
{
    if (store == NULL || fn == NULL)
        return CAIRN_EINVAL;
    list_ctx_t l = {NULL, fn, ctx};
    return headers_each(store, summary_one, &l);
}

/* ---- version vectors --------------------------------------------------------- */

/* The log keys of a plan: (author, seq, id) per change, in that order. */
typedef struct log_keys {
    uint8_t (*k)[CAIRN_PK_LOG_BYTES];
    size_t n, cap;
    int oom;
} log_keys_t;

static int collect_log(void *ctx, const uint8_t *key, size_t len)
{
    log_keys_t *lk = ctx;
    if (len != CAIRN_PK_LOG_BYTES)
        return 0;
    if (cairn_grow(&lk->k, &lk->cap, lk->n, sizeof *lk->k, 64) != CAIRN_OK) {
        lk->oom = 1;
        return 1;
    }
    memcpy(lk->k[lk->n++], key, CAIRN_PK_LOG_BYTES);
    return 0;
}

static cairn_err_t read_log(cairn_txn_t *txn, const uint8_t *plan, log_keys_t *lk)
{
    uint8_t prefix[CAIRN_PK_PREFIX];
    cairn_pk_prefix(prefix, plan, CAIRN_PK_LOG);
    cairn_err_t err = cairn_db_scan(txn, CAIRN_DB_PLANS, prefix, sizeof prefix, collect_log, lk);
    return err == CAIRN_OK && lk->oom ? CAIRN_ENOMEM : err;
}

static const uint8_t *log_author(const uint8_t *k)
{
    return k + CAIRN_PK_PREFIX;
}

/* The vector of a log (sorted by author, as the keys are). */
static cairn_err_t vector_of(const log_keys_t *lk, cairn_vec_entry_t **out, size_t *n)
{
    cairn_vec_entry_t *v = malloc((lk->n ? lk->n : 1) * sizeof *v);
    if (v == NULL)
        return CAIRN_ENOMEM;
    size_t m = 0;
    for (size_t first = 0; first < lk->n;) {
        cairn_vec_entry_t *e = &v[m++];
        memcpy(e->author, log_author(lk->k[first]), 32);
        e->max_seq = e->count = 0;
        size_t i = first;
        for (; i < lk->n && memcmp(log_author(lk->k[i]), e->author, 32) == 0; i++) {
            uint64_t seq = cairn_pk_log_seq(lk->k[i]);
            e->count++;
            if (seq > e->max_seq) { /* keys run by (seq, id): the first at a seq is the lowest id */
                e->max_seq = seq;
                memcpy(e->head, lk->k[i] + CAIRN_PK_SEQ_BYTES, CAIRN_CHANGE_ID_BYTES);
            }
        }
        first = i;
    }
    *out = v;
    *n = m;
    return CAIRN_OK;
}

cairn_err_t cairn_plan_vector(cairn_store_t *store, const uint8_t plan[CAIRN_PLAN_ID_BYTES],
                              cairn_vec_entry_t **out, size_t *n)
{
    if (store == NULL || plan == NULL || out == NULL || n == NULL)
        return CAIRN_EINVAL;
    cairn_txn_t *txn;
    log_keys_t lk = {NULL, 0, 0, 0};
    cairn_err_t err = cairn_txn_begin(store, 0, &txn);
    if (err != CAIRN_OK)
        return err;
    err = read_log(txn, plan, &lk);
    cairn_txn_abort(txn);
    if (err == CAIRN_OK)
        err = vector_of(&lk, out, n);
    free(lk.k);
    return err;
}

static const cairn_vec_entry_t *vec_find(const cairn_vec_entry_t *v, size_t n, const uint8_t *a)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = memcmp(v[mid].author, a, 32);
        if (c == 0)
            return &v[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

int cairn_vector_behind(const cairn_vec_entry_t *mine, size_t nmine, const cairn_vec_entry_t *peer,
                        size_t npeer)
{
    for (size_t i = 0; i < nmine; i++) {
        const cairn_vec_entry_t *p = vec_find(peer, npeer, mine[i].author);
        if (p == NULL || p->max_seq < mine[i].max_seq || p->count != mine[i].count ||
            memcmp(p->head, mine[i].head, CAIRN_CHANGE_ID_BYTES) != 0)
            return 1;
    }
    return 0;
}

cairn_err_t cairn_plan_has_change(cairn_store_t *store, const uint8_t plan[CAIRN_PLAN_ID_BYTES],
                                  const uint8_t id[CAIRN_CHANGE_ID_BYTES], int *held)
{
    if (store == NULL || plan == NULL || id == NULL || held == NULL)
        return CAIRN_EINVAL;
    cairn_txn_t *txn;
    uint8_t k[CAIRN_PK_CHANGE_BYTES];
    cairn_err_t err = cairn_txn_begin(store, 0, &txn);
    if (err != CAIRN_OK)
        return err;
    int rc = cairn_db_has(txn, CAIRN_DB_PLANS, k, cairn_pk_change(k, plan, id));
    cairn_txn_abort(txn);
    *held = rc == 1;
    return rc < 0 ? (cairn_err_t)rc : CAIRN_OK;
}

/* ---- who may hold what ----------------------------------------------------------- */

cairn_err_t cairn_roster_member(cairn_store_t *store, const uint8_t key[32], uint64_t now_ms,
                                unsigned *roles, cairn_reason_t *why)
{
    if (store == NULL || key == NULL || roles == NULL)
        return CAIRN_EINVAL;
    cairn_reason_t r = CAIRN_REASON_UNKNOWN_AUTHOR;
    cairn_err_t err = CAIRN_OK;
    *roles = 0;
    if (store->has_org && memcmp(key, store->org, 32) == 0) {
        r = CAIRN_REASON_NONE;
    } else if (store->has_org) {
        cairn_txn_t *txn;
        cairn_plan_state_t *roster = NULL;
        err = cairn_txn_begin(store, 0, &txn);
        if (err != CAIRN_OK)
            return err;
        err = cairn_state_load(txn, store->roster_plan, &roster);
        if (err == CAIRN_OK)
            r = cairn_roster_judge(roster, key, now_ms, roles, &err);
        cairn_plan_state_free(roster);
        cairn_txn_abort(txn);
    }
    if (why != NULL)
        *why = r;
    if (err != CAIRN_OK)
        return err;
    return r == CAIRN_REASON_NONE ? CAIRN_OK : CAIRN_EDENIED;
}

/* Whether a present member of st has person_key hex. */
static int on_team(const cairn_plan_state_t *st, const char *hex)
{
    uint16_t person = (uint16_t)cairn_field_by_name(CAIRN_ET_MEMBER, "person_key");
    for (size_t i = 0; i < st->nslots; i++) {
        const cairn_pslot_t *s = &st->slots[i];
        if (s->etype != CAIRN_ET_MEMBER || s->field != person || s->n == 0 ||
            s->values[0].type != CAIRN_VALUE_STR || s->values[0].len != 64 ||
            memcmp(s->values[0].s, hex, 64) != 0)
            continue;
        if (cairn_plan_state_present(st, CAIRN_ET_MEMBER, s->eid))
            return 1;
    }
    return 0;
}

typedef struct team_ctx {
    cairn_plan_state_t *st;
    cairn_err_t err;
} team_ctx_t;

static int load_member(void *ctx, const uint8_t *key, size_t len)
{
    team_ctx_t *t = ctx;
    if (len != CAIRN_PK_ENTITY_BYTES)
        return 0;
    t->err = cairn_pstate_touch(t->st, CAIRN_ET_MEMBER, key + CAIRN_PK_PREFIX + 2, 0);
    return t->err != CAIRN_OK;
}

/* The plan's care team alone: its member rows, not the rest of the plan. */
static cairn_err_t load_team(cairn_txn_t *txn, const uint8_t *plan, cairn_plan_state_t **out)
{
    uint8_t prefix[CAIRN_PK_ENTITY_BYTES];
    cairn_pk_entity(prefix, plan, CAIRN_ET_MEMBER, cairn_singleton_eid);
    team_ctx_t t = {NULL, CAIRN_OK};
    cairn_err_t err = cairn_state_load(txn, plan, &t.st);
    if (err == CAIRN_OK)
        err = cairn_db_scan(txn, CAIRN_DB_PLANS, prefix, CAIRN_PK_PREFIX + 2, load_member, &t);
    if (err == CAIRN_OK)
        err = t.err;
    *out = t.st;
    return err;
}

cairn_err_t cairn_plan_may_hold(cairn_store_t *store, const uint8_t plan[CAIRN_PLAN_ID_BYTES],
                                const uint8_t key[32], unsigned roles, int *may)
{
    if (store == NULL || plan == NULL || key == NULL || may == NULL)
        return CAIRN_EINVAL;
    *may = (store->has_org && memcmp(plan, store->roster_plan, CAIRN_PLAN_ID_BYTES) == 0) ||
           (roles & CAIRN_ROLE_CARE_MANAGER) != 0;
    if (*may)
        return CAIRN_OK;
    char hex[65];
    sodium_bin2hex(hex, sizeof hex, key, 32);
    cairn_txn_t *txn;
    cairn_plan_state_t *st = NULL;
    cairn_err_t err = cairn_txn_begin(store, 0, &txn);
    if (err != CAIRN_OK)
        return err;
    err = load_team(txn, plan, &st);
    if (err == CAIRN_OK)
        *may = on_team(st, hex);
    cairn_plan_state_free(st); /* it reads through txn: free it first */
    cairn_txn_abort(txn);
    return err;
}
