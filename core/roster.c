/*
 * roster.c - the organisation, judging keys against its roster, holding
 * rights, and the one rebuild of a plan from its log.
 *
 * The roster is a plan like any other (entities of type roster entry, one
 * per member key, under an id derived from the key); what makes it the
 * roster is that its plan id is derived from the organisation's root key.
 * Judging reads the roster's merged state, so every replica holding the
 * same roster changes reaches the same verdict.
 */
#include "roster.h"

#include "log.h"
#include "pkeys.h"
#include "pstore.h"
#include "schema.h"
#include "wipe.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

static const char meta_org[] = "org";

/* ---- the organisation ---------------------------------------------------- */

void cairn_roster_plan_id(const uint8_t org[32], uint8_t plan[CAIRN_PLAN_ID_BYTES])
{
    cairn__hash_domain(plan, CAIRN_PLAN_ID_BYTES, "cairn roster v1", org, 32, NULL, 0, NULL, 0);
}

void cairn__org_set(cairn_org_t *org, const uint8_t key[32])
{
    memcpy(org->key, key, 32);
    cairn_roster_plan_id(key, org->roster_plan);
    org->has = 1;
}

void cairn__org_clear(cairn_org_t *org)
{
    memset(org, 0, sizeof *org);
}

cairn_err_t cairn__org_put(cairn_txn_t *txn, const uint8_t key[32])
{
    return cairn__meta_put(txn, meta_org, key, 32);
}

cairn_err_t cairn__org_load(cairn_org_t *org, cairn_txn_t *txn)
{
    cairn_buf_t buf = CAIRN_BUF_INIT;
    cairn_err_t err = cairn__meta_get(txn, meta_org, &buf);
    if (err == CAIRN_OK && buf.len != 32)
        err = CAIRN_ECORRUPT;
    if (err == CAIRN_OK)
        cairn__org_set(org, buf.data);
    cairn_buf_free(&buf);
    return err == CAIRN_ENOTFOUND ? CAIRN_OK : err;
}

int cairn__org_is_roster(const cairn_org_t *org, const uint8_t *plan)
{
    return org->has && memcmp(plan, org->roster_plan, CAIRN_PLAN_ID_BYTES) == 0;
}

/* ---- judging ------------------------------------------------------------- */

void cairn_roster_entry_id(const uint8_t key[32], uint8_t eid[CAIRN_ENTITY_ID_BYTES])
{
    cairn__hash_domain(eid, CAIRN_ENTITY_ID_BYTES, "cairn roster entry v1", key, 32, NULL, 0, NULL,
                       0);
}

/* The integer winner of a roster field, or dflt when unset or cleared. */
static int64_t roster_int(const cairn_plan_state_t *roster, const uint8_t *eid, uint16_t field,
                          int64_t dflt)
{
    const cairn_pslot_t *s = cairn__pstate_find(roster, CAIRN_ET_ROSTER_ENTRY, eid, field);
    if (s == NULL || s->n == 0 || s->values[0].type != CAIRN_VALUE_INT)
        return dflt;
    return s->values[0].i;
}

/* The winning key field of roster entry eid, if it is 64 hex digits. */
static const char *roster_key_hex(const cairn_plan_state_t *roster, const uint8_t *eid)
{
    const cairn_pslot_t *s =
        cairn__pstate_find(roster, CAIRN_ET_ROSTER_ENTRY, eid, CAIRN_F_ROSTER_ENTRY_KEY);
    if (s == NULL || s->n == 0 || s->values[0].type != CAIRN_VALUE_STR || s->values[0].len != 64)
        return NULL;
    return s->values[0].s;
}

int cairn__roster_entry_key(const cairn_plan_state_t *roster, const uint8_t *eid, uint8_t key[32])
{
    const char *hex = roster_key_hex(roster, eid);
    return hex != NULL && sodium_hex2bin(key, 32, hex, 64, NULL, NULL, NULL) == 0;
}

static int roster_key_matches(const cairn_plan_state_t *roster, const uint8_t *eid,
                              const uint8_t *author)
{
    char hex[65];
    const char *have = roster_key_hex(roster, eid);
    if (have == NULL)
        return 0;
    sodium_bin2hex(hex, sizeof hex, author, 32);
    return memcmp(hex, have, 64) == 0;
}

cairn_reason_t cairn__roster_judge(cairn_plan_state_t *roster, const uint8_t key[32],
                                   uint64_t at_ms, unsigned *roles, cairn_err_t *err)
{
    uint8_t eid[CAIRN_ENTITY_ID_BYTES];
    cairn_roster_entry_id(key, eid);
    *err = cairn__pstate_touch(roster, CAIRN_ET_ROSTER_ENTRY, eid, 0);
    if (*err != CAIRN_OK)
        return CAIRN_REASON_NONE;
    if (!cairn_plan_state_present(roster, CAIRN_ET_ROSTER_ENTRY, eid) ||
        !roster_key_matches(roster, eid, key))
        return CAIRN_REASON_UNKNOWN_AUTHOR;
    int64_t at = (int64_t)at_ms;
    int64_t from = roster_int(roster, eid, CAIRN_F_ROSTER_ENTRY_VALID_FROM, 0);
    int64_t until = roster_int(roster, eid, CAIRN_F_ROSTER_ENTRY_VALID_UNTIL, 0);
    int64_t revoked = roster_int(roster, eid, CAIRN_F_ROSTER_ENTRY_REVOKED_AT, 0);
    *roles = (unsigned)roster_int(roster, eid, CAIRN_F_ROSTER_ENTRY_ROLES,
                                  0); /* also when not valid: see precheck */
    if (at < from || (until != 0 && at >= until) || (revoked != 0 && at >= revoked))
        return CAIRN_REASON_NOT_VALID;
    return CAIRN_REASON_NONE;
}

cairn_err_t cairn__roster_judge_key(cairn_txn_t *txn, const cairn_org_t *org, const uint8_t key[32],
                                    uint64_t at_ms, unsigned *roles, cairn_reason_t *why)
{
    cairn_err_t err = CAIRN_OK;
    *roles = 0;
    *why = CAIRN_REASON_UNKNOWN_AUTHOR;
    if (org->has && memcmp(key, org->key, 32) == 0) {
        *why = CAIRN_REASON_NONE;
    } else if (org->has) {
        cairn_plan_state_t *roster = NULL;
        err = cairn__state_load(txn, org->roster_plan, &roster);
        if (err == CAIRN_OK)
            *why = cairn__roster_judge(roster, key, at_ms, roles, &err);
        cairn_plan_state_free(roster);
    }
    return err;
}

cairn_err_t cairn__inert_flags(cairn_plan_state_t *roster, cairn_change_t *const *cs, size_t n,
                               int *inert)
{
    cairn_err_t err = CAIRN_OK;
    for (size_t i = 0; i < n && err == CAIRN_OK; i++) {
        unsigned roles;
        cairn_reason_t why =
            cairn__roster_judge(roster, cs[i]->author, CAIRN_HLC_MS(cs[i]->hlc), &roles, &err);
        inert[i] = why != CAIRN_REASON_NONE;
    }
    return err;
}

/* ---- who may hold what ------------------------------------------------------ */

/* Whether a present member of st has person_key hex. */
static int on_team(const cairn_plan_state_t *st, const char *hex)
{
    for (size_t i = 0; i < st->nslots; i++) {
        const cairn_pslot_t *s = &st->slots[i];
        if (s->etype != CAIRN_ET_MEMBER || s->field != CAIRN_F_MEMBER_PERSON_KEY || s->n == 0 ||
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
    t->err = cairn__pstate_touch(t->st, CAIRN_ET_MEMBER, key + CAIRN_PK_PREFIX + 2, 0);
    return t->err != CAIRN_OK;
}

/* The plan's care team alone: its member rows, not the rest of the plan. */
static cairn_err_t load_team(cairn_txn_t *txn, const uint8_t *plan, cairn_plan_state_t **out)
{
    uint8_t prefix[CAIRN_PK_ENTITY_BYTES];
    cairn_pk_entity(prefix, plan, CAIRN_ET_MEMBER, cairn_singleton_eid);
    team_ctx_t t = {NULL, CAIRN_OK};
    cairn_err_t err = cairn__state_load(txn, plan, &t.st);
    if (err == CAIRN_OK)
        err = cairn__db_scan(txn, CAIRN_DB_PLANS, prefix, CAIRN_PK_PREFIX + 2, load_member, &t);
    if (err == CAIRN_OK)
        err = t.err;
    *out = t.st;
    return err;
}

cairn_err_t cairn__roster_may_hold(cairn_txn_t *txn, const cairn_org_t *org, const uint8_t *plan,
                                   const uint8_t key[32], unsigned roles, int *may)
{
    *may = cairn__org_is_roster(org, plan) || (roles & CAIRN_ROLE_CARE_MANAGER) != 0;
    if (*may)
        return CAIRN_OK;
    char hex[65];
    sodium_bin2hex(hex, sizeof hex, key, 32);
    cairn_plan_state_t *st = NULL;
    cairn_err_t err = load_team(txn, plan, &st);
    if (err == CAIRN_OK)
        *may = on_team(st, hex);
    cairn_plan_state_free(st);
    return err;
}

/* ---- the one rebuild ------------------------------------------------------------- */

cairn_err_t cairn__rebuild(cairn_txn_t *txn, const cairn_org_t *org, cairn_plan_state_t *roster,
                           const uint8_t *plan, cairn_plan_state_t **out)
{
    cairn_change_t **cs = NULL;
    size_t n = 0;
    int *inert = NULL;
    cairn_err_t err = cairn__log_load(txn, plan, &cs, &n);
    if (err == CAIRN_OK)
        err = (inert = calloc(n ? n : 1, sizeof *inert)) ? CAIRN_OK : CAIRN_ENOMEM;
    if (err == CAIRN_OK && roster != NULL && !cairn__org_is_roster(org, plan))
        err = cairn__inert_flags(roster, cs, n, inert);
    if (err == CAIRN_OK)
        err = cairn__pstate_rebuild(plan, cs, inert, n, out);
    cairn__log_free(cs, n);
    free(inert);
    return err;
}
