/*
 * ingest.c - the single path by which changes enter a store.
 *
 * Checks run in the order of cairn/ingest.h; the first that fails names the
 * reason, and a rejected change writes nothing. Every verdict depends only
 * on the change's bytes and on what the store holds. The roster is
 * consulted as it stands when the change arrives; a change outside its
 * author's validity is kept inert, and judged again when that member's
 * entry changes, so replicas agree whatever the order (docs/change-format.md).
 *
 * Signatures are checked per hash chain: within a batch, changes of one
 * author in one plan are sorted by sequence, and a change whose id is the
 * prev of an authenticated successor is authenticated by that successor's
 * signature (the successor signed over that id, and BLAKE2b binds the id to
 * the bytes). Only chain tips, and changes that do not link, are verified.
 */
#include "ingest_int.h"

#include "grow.h"
#include "log.h"
#include "pkeys.h"
#include "schema.h"

#include <stdlib.h>
#include <string.h>

static const char *const reason_names[CAIRN_REASON__COUNT] = {
    "none",           "too-big",   "malformed",     "bad-signature", "bad-chain",
    "unknown-author", "not-valid", "not-permitted", "invalid-op",    "pending-full",
};

const char *cairn_reason_name(cairn_reason_t reason)
{
    return (unsigned)reason < CAIRN_REASON__COUNT ? reason_names[reason] : "unknown";
}

/* ---- the pipeline ---------------------------------------------------------- */

cairn_err_t cairn__pipeline_init(cairn_pipeline_t *p, cairn_store_t *store, cairn_txn_t *txn)
{
    memset(p, 0, sizeof *p);
    p->store = store;
    p->txn = txn;
    p->cache.txn = txn;
    return cairn__db_count(txn, CAIRN_DB_PENDING, &p->pending);
}

void cairn__pipeline_free(cairn_pipeline_t *p)
{
    cairn__cache_free(&p->cache);
    free(p->ready);
    free(p->reeval);
    p->ready = NULL;
    p->reeval = NULL;
}

static int in_roster(const cairn_pipeline_t *p, const uint8_t *plan)
{
    return cairn__org_is_roster(&p->store->org, plan);
}

/* ---- checks ------------------------------------------------------------------ */

/* Whether plan's change id is applied here. */
static int has_change(cairn_pipeline_t *b, const uint8_t *plan, const uint8_t *id, cairn_err_t *err)
{
    int rc = cairn__log_has(b->txn, plan, id);
    if (rc < 0)
        *err = (cairn_err_t)rc;
    return rc == 1;
}

/*
 * The roles of c's author at c's time, or a reason. In the roster itself
 * the organisation's root key acts as an administrator.
 */
static cairn_reason_t author_roles(cairn_pipeline_t *b, const cairn_change_t *c, int roster_change,
                                   unsigned *roles, cairn_err_t *err)
{
    const cairn_org_t *org = &b->store->org;
    if (roster_change && memcmp(c->author, org->key, 32) == 0) {
        *roles = CAIRN_ROLE_ADMIN;
        return CAIRN_REASON_NONE;
    }
    cairn_plan_state_t *roster;
    *err = cairn__cache_plan(&b->cache, org->roster_plan, &roster);
    if (*err != CAIRN_OK)
        return CAIRN_REASON_NONE;
    return cairn__roster_judge(roster, c->author, CAIRN_HLC_MS(c->hlc), roles, err);
}

/* Collect the ids c names that the store does not hold. */
typedef struct missing {
    uint8_t ids[CAIRN_CHANGE_MAX_DEPS + 1 + CAIRN_CHANGE_MAX_OPS][CAIRN_CHANGE_ID_BYTES];
    size_t n;
} missing_t;

static void missing_add(missing_t *m, const uint8_t *id)
{
    for (size_t i = 0; i < m->n; i++)
        if (memcmp(m->ids[i], id, CAIRN_CHANGE_ID_BYTES) == 0)
            return;
    if (m->n < sizeof m->ids / sizeof m->ids[0])
        memcpy(m->ids[m->n++], id, CAIRN_CHANGE_ID_BYTES);
}

/* Add to m the deps and pred changes of c not held here. */
static cairn_err_t find_missing(cairn_pipeline_t *b, const cairn_change_t *c, missing_t *m)
{
    cairn_err_t err = CAIRN_OK;
    for (size_t i = 0; i < c->ndeps && err == CAIRN_OK; i++)
        if (!has_change(b, c->plan, c->deps[i], &err))
            missing_add(m, c->deps[i]);
    for (size_t i = 0; i < c->nops && err == CAIRN_OK; i++)
        for (size_t p = 0; p < c->ops[i].npred && err == CAIRN_OK; p++)
            if (!has_change(b, c->plan, c->ops[i].pred[p].bytes, &err))
                missing_add(m, c->ops[i].pred[p].bytes);
    return err;
}

/*
 * prev must be the author's change seq - 1 in this plan (held, or missing),
 * and c's clock must be past prev's: an author cannot step back in time
 * along its own chain, so a revoked key cannot date new changes before
 * the last one it made.
 */
static cairn_reason_t check_chain(cairn_pipeline_t *b, const cairn_change_t *c, missing_t *m,
                                  cairn_err_t *err)
{
    if (!c->has_prev)
        return CAIRN_REASON_NONE;
    if (!has_change(b, c->plan, c->prev, err)) {
        missing_add(m, c->prev);
        return CAIRN_REASON_NONE;
    }
    cairn_hlc_t prev_hlc = 0;
    *err = cairn__log_clock(b->txn, c->plan, c->author, c->seq - 1, c->prev, &prev_hlc);
    if (*err == CAIRN_ENOTFOUND) { /* held, but not as the author's change seq - 1 */
        *err = CAIRN_OK;
        return CAIRN_REASON_BAD_CHAIN;
    }
    return *err == CAIRN_OK && c->hlc <= prev_hlc ? CAIRN_REASON_BAD_CHAIN : CAIRN_REASON_NONE;
}

/* ---- park, apply, release ------------------------------------------------------ */

static cairn_err_t park(cairn_pipeline_t *b, const cairn_change_t *c, const missing_t *m)
{
    cairn_err_t err =
        cairn__db_put(b->txn, CAIRN_DB_PENDING, c->id, CAIRN_CHANGE_ID_BYTES, c->bytes, c->len);
    uint8_t k[2 * CAIRN_CHANGE_ID_BYTES];
    memcpy(k + CAIRN_CHANGE_ID_BYTES, c->id, CAIRN_CHANGE_ID_BYTES);
    for (size_t i = 0; i < m->n && err == CAIRN_OK; i++) {
        memcpy(k, m->ids[i], CAIRN_CHANGE_ID_BYTES);
        err = cairn__db_put(b->txn, CAIRN_DB_WAITING, k, sizeof k, "", 0);
    }
    if (err == CAIRN_OK)
        b->pending++;
    return err;
}

typedef struct collect {
    cairn_pipeline_t *b;
    cairn_err_t err;
} collect_t;

static int collect_waiter(void *ctx, const uint8_t *key, size_t len)
{
    collect_t *col = ctx;
    cairn_pipeline_t *b = col->b;
    if (len != 2 * CAIRN_CHANGE_ID_BYTES)
        return 0;
    if (cairn_grow(&b->ready, &b->cap_ready, b->nready, sizeof *b->ready, 16) != CAIRN_OK) {
        col->err = CAIRN_ENOMEM;
        return 1;
    }
    memcpy(b->ready[b->nready++].id, key + CAIRN_CHANGE_ID_BYTES, CAIRN_CHANGE_ID_BYTES);
    return 0;
}

/* Queue the changes that waited for id, and forget that they did. */
static cairn_err_t release_waiters(cairn_pipeline_t *b, const uint8_t *id)
{
    size_t first = b->nready;
    collect_t col = {b, CAIRN_OK};
    cairn_err_t err =
        cairn__db_scan(b->txn, CAIRN_DB_WAITING, id, CAIRN_CHANGE_ID_BYTES, collect_waiter, &col);
    if (err == CAIRN_OK)
        err = col.err;
    uint8_t k[2 * CAIRN_CHANGE_ID_BYTES];
    memcpy(k, id, CAIRN_CHANGE_ID_BYTES);
    for (size_t i = first; i < b->nready && err == CAIRN_OK; i++) {
        memcpy(k + CAIRN_CHANGE_ID_BYTES, b->ready[i].id, CAIRN_CHANGE_ID_BYTES);
        err = cairn__db_del(b->txn, CAIRN_DB_WAITING, k, sizeof k);
    }
    return err;
}

/*
 * Remember the members whose roster entries roster change c touched: their
 * changes in care plans are judged again at commit (a revocation may make
 * some inert, a new entry may bring some back).
 */
static cairn_err_t note_roster_keys(cairn_pipeline_t *b, const cairn_change_t *c)
{
    cairn_plan_state_t *roster;
    cairn_err_t err = cairn__cache_plan(&b->cache, b->store->org.roster_plan, &roster);
    for (size_t i = 0; i < c->nops && err == CAIRN_OK; i++) {
        uint8_t key[32];
        if (c->ops[i].etype != CAIRN_ET_ROSTER_ENTRY ||
            !cairn__roster_entry_key(roster, c->ops[i].eid, key))
            continue;
        size_t k = 0;
        while (k < b->nreeval && memcmp(b->reeval[k], key, 32) != 0)
            k++;
        if (k < b->nreeval)
            continue;
        err = cairn_grow(&b->reeval, &b->cap_reeval, b->nreeval, sizeof *b->reeval, 8);
        if (err == CAIRN_OK)
            memcpy(b->reeval[b->nreeval++], key, 32);
    }
    return err;
}

static cairn_err_t apply(cairn_pipeline_t *b, const cairn_change_t *c, cairn_ingest_result_t *res,
                         int inert)
{
    int forked = 0;
    cairn_err_t err = cairn__log_append(b->txn, c, &forked);
    if (err == CAIRN_OK && forked) {
        res->fork = 1;
        b->stats.forks++;
    }
    cairn_plan_state_t *st;
    if (err == CAIRN_OK)
        err = cairn__cache_plan(&b->cache, c->plan, &st);
    if (err == CAIRN_OK)
        err = cairn__pstate_apply(st, c, inert);
    if (err == CAIRN_OK && in_roster(b, c->plan))
        err = note_roster_keys(b, c);
    if (err != CAIRN_OK)
        return err;
    cairn__cache_mark_dirty(&b->cache, c->plan);
    cairn_hlc_observe(&b->store->clock, c->hlc, cairn_store_now(b->store));
    res->verdict = inert ? CAIRN_INERT : CAIRN_APPLIED;
    res->reason = inert ? CAIRN_REASON_NOT_VALID : CAIRN_REASON_NONE;
    if (inert)
        b->stats.inert++;
    else
        b->stats.applied++;
    /* Nothing can wait on c when nothing waits at all (the usual case). */
    return b->pending == 0 ? CAIRN_OK : release_waiters(b, c->id);
}

cairn_reason_t cairn__pipeline_precheck(cairn_pipeline_t *b, const cairn_change_t *c,
                                        cairn_err_t *err)
{
    int roster_change = in_roster(b, c->plan);
    unsigned roles = 0;
    if (!b->store->org.has) /* no roster: no author is known */
        return CAIRN_REASON_UNKNOWN_AUTHOR;
    cairn_reason_t why = cairn__schema_check(c, roster_change);
    if (why == CAIRN_REASON_NONE)
        why = author_roles(b, c, roster_change, &roles, err);
    /* A change outside its author's validity must still be one the roles allow. */
    if ((why == CAIRN_REASON_NONE || why == CAIRN_REASON_NOT_VALID) && *err == CAIRN_OK &&
        !cairn__schema_allows(c, roles))
        why = CAIRN_REASON_NOT_PERMITTED;
    return why;
}

/* Every check after the signature; on success c is applied or parked. */
static cairn_err_t process_checked(cairn_pipeline_t *b, const cairn_change_t *c,
                                   cairn_ingest_result_t *res)
{
    cairn_err_t err = CAIRN_OK;
    missing_t m; /* about 10 KiB; per call, as released changes nest */
    memcpy(res->id, c->id, CAIRN_CHANGE_ID_BYTES);
    if (has_change(b, c->plan, c->id, &err) || err != CAIRN_OK) {
        res->verdict = CAIRN_DUPLICATE;
        b->stats.duplicate += err == CAIRN_OK;
        return err;
    }
    int rc =
        b->pending == 0 ? 0 : cairn__db_has(b->txn, CAIRN_DB_PENDING, c->id, CAIRN_CHANGE_ID_BYTES);
    if (rc != 0) {
        res->verdict = CAIRN_DUPLICATE;
        b->stats.duplicate += rc == 1;
        return rc < 0 ? (cairn_err_t)rc : CAIRN_OK;
    }
    m.n = 0;
    cairn_reason_t why = check_chain(b, c, &m, &err);
    if (why == CAIRN_REASON_NONE && err == CAIRN_OK)
        why = cairn__pipeline_precheck(b, c, &err);
    /*
     * A care-plan change made outside its author's validity is kept but
     * inert: every replica then holds the same history whichever it learned
     * first, the change or the revocation, and none applies its operations.
     */
    int inert = why == CAIRN_REASON_NOT_VALID && !in_roster(b, c->plan);
    if (inert)
        why = CAIRN_REASON_NONE;
    if (why == CAIRN_REASON_NONE && err == CAIRN_OK)
        err = find_missing(b, c, &m);
    if (err != CAIRN_OK)
        return err;
    if (why != CAIRN_REASON_NONE) {
        res->verdict = CAIRN_REJECTED;
        res->reason = why;
        b->stats.rejected++;
        return CAIRN_OK;
    }
    if (m.n > 0) {
        if (b->pending >= CAIRN_PENDING_MAX) {
            res->verdict = CAIRN_REJECTED;
            res->reason = CAIRN_REASON_PENDING_FULL;
            b->stats.rejected++;
            return CAIRN_OK;
        }
        res->verdict = CAIRN_PENDING;
        b->stats.pending++;
        return park(b, c, &m);
    }
    return apply(b, c, res, inert);
}

/* Take a released change out of the pending area and process it again. */
static cairn_err_t process_released(cairn_pipeline_t *b, const uint8_t *queued_id)
{
    uint8_t id[CAIRN_CHANGE_ID_BYTES]; /* the queue may move while we work */
    memcpy(id, queued_id, sizeof id);
    cairn_buf_t buf = CAIRN_BUF_INIT;
    cairn_change_t *c = NULL;
    cairn_err_t err = cairn__db_get(b->txn, CAIRN_DB_PENDING, id, CAIRN_CHANGE_ID_BYTES, &buf);
    if (err == CAIRN_ENOTFOUND) /* released twice (it waited on two ids): done already */
        return CAIRN_OK;
    if (err == CAIRN_OK)
        err = cairn__db_del(b->txn, CAIRN_DB_PENDING, id, CAIRN_CHANGE_ID_BYTES);
    if (err == CAIRN_OK) {
        b->pending--;
        /* The pending area is sealed under our key: its bytes were checked. */
        err = cairn_change_decode(buf.data, buf.len, &c) == CAIRN_OK ? CAIRN_OK : CAIRN_ECORRUPT;
    }
    if (err == CAIRN_OK) {
        cairn_ingest_result_t res = {0};
        err = process_checked(b, c, &res);
        if (res.verdict == CAIRN_PENDING)
            b->stats.pending--; /* still waiting: not new */
    }
    cairn_change_free(c);
    cairn_buf_free(&buf);
    return err;
}

cairn_err_t cairn__pipeline_process(cairn_pipeline_t *b, const cairn_change_t *c,
                                    cairn_ingest_result_t *res)
{
    if (b->failed != CAIRN_OK)
        return b->failed;
    size_t first = b->nready;
    cairn_err_t err = process_checked(b, c, res);
    /* Released changes may release more; the queue grows as we go. */
    for (size_t i = first; i < b->nready && err == CAIRN_OK; i++)
        err = process_released(b, b->ready[i].id);
    b->nready = first;
    if (err != CAIRN_OK)
        b->failed = err;
    return err;
}

/* ---- cairn_ingest: decode, authenticate per chain, process ------------------- */

typedef struct item {
    cairn_change_t *c;
    size_t index;
    int authentic;
} item_t;

static int cmp_chain(const void *pa, const void *pb)
{
    const item_t *a = pa, *b = pb;
    if (a->c == NULL || b->c == NULL)
        return (a->c == NULL) - (b->c == NULL);
    int c = memcmp(a->c->author, b->c->author, 32);
    if (c == 0)
        c = memcmp(a->c->plan, b->c->plan, CAIRN_PLAN_ID_BYTES);
    if (c == 0 && a->c->seq != b->c->seq)
        c = a->c->seq < b->c->seq ? -1 : 1;
    if (c == 0)
        c = memcmp(a->c->id, b->c->id, CAIRN_CHANGE_ID_BYTES);
    return c;
}

/* Whether succ links back to c: same author and plan, the next seq, prev = c. */
static int links(const cairn_change_t *c, const cairn_change_t *succ)
{
    return succ->has_prev && succ->seq == c->seq + 1 && memcmp(succ->author, c->author, 32) == 0 &&
           memcmp(succ->plan, c->plan, CAIRN_PLAN_ID_BYTES) == 0 &&
           memcmp(succ->prev, c->id, CAIRN_CHANGE_ID_BYTES) == 0;
}

/*
 * Authenticate sorted items from the highest seq of each chain down: an
 * item is authentic if an authentic item links back to it, or if its own
 * signature verifies. Forks sort next to each other; each is checked.
 */
static void authenticate(item_t *items, size_t n, cairn_ingest_stats_t *stats)
{
    for (size_t k = n; k-- > 0;) {
        item_t *it = &items[k];
        if (it->c == NULL)
            continue;
        for (size_t j = k + 1; j < n && items[j].c != NULL; j++) {
            if (items[j].c->seq > it->c->seq + 1 ||
                memcmp(items[j].c->author, it->c->author, 32) != 0 ||
                memcmp(items[j].c->plan, it->c->plan, CAIRN_PLAN_ID_BYTES) != 0)
                break;
            if (items[j].authentic && links(it->c, items[j].c)) {
                it->authentic = 1;
                break;
            }
        }
        if (!it->authentic) {
            stats->verified++;
            it->authentic = cairn_change_verify(it->c) == 0;
        }
    }
}

static void reject(cairn_ingest_result_t *res, cairn_ingest_stats_t *stats, cairn_reason_t why)
{
    res->verdict = CAIRN_REJECTED;
    res->reason = why;
    stats->rejected++;
}

cairn_err_t cairn__pipeline_run(cairn_pipeline_t *p, const uint8_t *const *bytes,
                                const size_t *lens, size_t n, cairn_ingest_result_t *res)
{
    item_t *items = calloc(n ? n : 1, sizeof *items);
    item_t **order = calloc(n ? n : 1, sizeof *order);
    cairn_err_t err = items == NULL || order == NULL ? CAIRN_ENOMEM : p->failed;
    for (size_t i = 0; i < n && err == CAIRN_OK; i++) {
        memset(&res[i], 0, sizeof res[i]);
        items[i].index = i;
        cairn_err_t derr = cairn_change_decode(bytes[i], lens[i], &items[i].c);
        if (derr == CAIRN_ENOMEM)
            err = derr;
        else if (derr != CAIRN_OK)
            reject(&res[i], &p->stats,
                   derr == CAIRN_ETOOBIG ? CAIRN_REASON_TOO_BIG : CAIRN_REASON_MALFORMED);
    }
    if (err == CAIRN_OK) {
        qsort(items, n, sizeof *items, cmp_chain);
        authenticate(items, n, &p->stats);
        for (size_t k = 0; k < n; k++) {
            item_t *it = &items[k];
            order[it->index] = it;
            if (it->c != NULL && !it->authentic) {
                memcpy(res[it->index].id, it->c->id, CAIRN_CHANGE_ID_BYTES);
                reject(&res[it->index], &p->stats, CAIRN_REASON_BAD_SIGNATURE);
                cairn_change_free(it->c);
                it->c = NULL;
            }
        }
        /* Process in arrival order, which is causal order from a sane peer. */
        for (size_t i = 0; i < n && err == CAIRN_OK; i++)
            if (order[i]->c != NULL)
                err = cairn__pipeline_process(p, order[i]->c, &res[i]);
    }
    for (size_t i = 0; items != NULL && i < n; i++)
        cairn_change_free(items[i].c);
    free(items);
    free(order);
    if (err != CAIRN_OK && p->failed == CAIRN_OK)
        p->failed = err;
    return err;
}
