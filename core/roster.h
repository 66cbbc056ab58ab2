/*
 * roster.h - the organisation and its roster, as every layer above reads
 * them (private).
 *
 * Owns: the organisation's identity (its root key and the roster plan id
 * derived from it, loaded at open and set when the store creates or joins
 * one), judging a key against a roster state (who is a member, valid when,
 * with which roles), the inert flags of care-plan changes, who may hold a
 * plan, and the one rebuild of a plan's state from its log. Writes nothing
 * but the organisation's meta row; roster changes are written by ingest
 * like any other change.
 */
#ifndef CAIRN_CORE_ROSTER_H
#define CAIRN_CORE_ROSTER_H

#include "cairn/ingest.h"
#include "cairn/view.h" /* cairn_roster_entry_id, defined in roster.c */
#include "kv.h"
#include "pstate.h"

typedef struct cairn_org {
    int has;                                  /* the store belongs to an organisation */
    uint8_t key[32];                          /* its root public key */
    uint8_t roster_plan[CAIRN_PLAN_ID_BYTES]; /* cairn_roster_plan_id(key) */
} cairn_org_t;

/* Read the organisation from meta (none: org->has 0). CAIRN_ECORRUPT if damaged. */
cairn_err_t cairn__org_load(cairn_org_t *org, cairn_txn_t *txn);
/* Write key as the organisation in meta; cairn__org_set once that is durable. */
cairn_err_t cairn__org_put(cairn_txn_t *txn, const uint8_t key[32]);
void cairn__org_set(cairn_org_t *org, const uint8_t key[32]);
void cairn__org_clear(cairn_org_t *org);

/* Whether plan is org's roster. */
int cairn__org_is_roster(const cairn_org_t *org, const uint8_t *plan);

/* The member key of roster entry eid in roster, if it holds a valid one: 1, else 0. */
int cairn__roster_entry_key(const cairn_plan_state_t *roster, const uint8_t *eid, uint8_t key[32]);

/*
 * Judge member key against roster (a state of the roster plan, loading
 * entities as needed) at time at_ms: CAIRN_REASON_NONE with its roles, or
 * why not (unknown-author, not-valid; roles are still set for not-valid).
 * A load failure sets *err.
 */
cairn_reason_t cairn__roster_judge(cairn_plan_state_t *roster, const uint8_t key[32],
                                   uint64_t at_ms, unsigned *roles, cairn_err_t *err);

/*
 * Judge member key against org's roster as txn sees it: the root key is
 * valid with no roles; no organisation means unknown-author.
 */
cairn_err_t cairn__roster_judge_key(cairn_txn_t *txn, const cairn_org_t *org, const uint8_t key[32],
                                    uint64_t at_ms, unsigned *roles, cairn_reason_t *why);

/*
 * Which of cs (changes of a care plan) are inert against roster now: their
 * author is not valid at their time, or no longer on it.
 */
cairn_err_t cairn__inert_flags(cairn_plan_state_t *roster, cairn_change_t *const *cs, size_t n,
                               int *inert);

/*
 * Whether member key (with roles) may hold plan: the roster plan, every
 * plan for a care manager, otherwise a plan whose care team lists key.
 */
cairn_err_t cairn__roster_may_hold(cairn_txn_t *txn, const cairn_org_t *org, const uint8_t *plan,
                                   const uint8_t key[32], unsigned roles, int *may);

/*
 * THE rebuild: plan's state computed from its log alone, in any order,
 * into *out (complete, free with cairn_plan_state_free). A care plan's
 * changes are judged against roster (may be NULL: no organisation) as it
 * stands now, so a revocation voids what its member did after it; the
 * roster's own changes were judged once, at ingest, and are not judged
 * again. Used by ingest's re-evaluation and by cairn_plan_rebuild().
 */
cairn_err_t cairn__rebuild(cairn_txn_t *txn, const cairn_org_t *org, cairn_plan_state_t *roster,
                           const uint8_t *plan, cairn_plan_state_t **out);

#endif
