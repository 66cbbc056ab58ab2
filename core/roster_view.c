/*
 * roster_view.c - the organisation's roster read as entries, not slots.
 *
 * The roster is an ordinary plan of roster_entry entities (docs/data-model.md,
 * "The roster"). This file reads it through the typed getters of view.c and
 * the public plan interface only; who may write what is still decided by
 * ingest, which judges authors against the same fields.
 */
#include "cairn/view.h"

#include "cairn/ingest.h"
#include "view_int.h"
#include "wipe.h"

#include <string.h>

cairn_err_t cairn_roster_read(cairn_store_t *store, cairn_plan_state_t **out)
{
    uint8_t org[32], plan[CAIRN_PLAN_ID_BYTES];
    if (store == NULL || out == NULL)
        return CAIRN_EINVAL;
    cairn_err_t err = cairn_org_key(store, org);
    if (err != CAIRN_OK)
        return err;
    cairn_roster_plan_id(org, plan);
    return cairn_plan_read(store, plan, out);
}

/*
 * An int field of entry eid as ingest counts it: unset and cleared read as
 * 0; negative values cannot pass ingest. absent_ok: eid may be removed.
 */
static cairn_err_t entry_int(const cairn_plan_state_t *st, const uint8_t *eid, uint16_t field,
                             int absent_ok, uint64_t *out)
{
    int64_t v;
    cairn_err_t err = cairn__view_int(st, CAIRN_ET_ROSTER_ENTRY, eid, field, absent_ok, &v, NULL);
    if (err == CAIRN_OK && v < 0)
        err = CAIRN_ECORRUPT;
    if (err == CAIRN_OK)
        *out = (uint64_t)v;
    return err;
}

/*
 * Fill *e from the fields of entry eid, which is present, or (present 0)
 * removed, its fields as the state keeps them.
 */
static cairn_err_t entry_fill(const cairn_plan_state_t *st, const uint8_t *eid, int present,
                              cairn_roster_entry_t *e)
{
    cairn_roster_entry_t r;
    cairn_fstate_t key_state;
    uint64_t roles = 0;
    int any = !present; /* whether eid may be absent */
    memset(&r, 0, sizeof r);
    memcpy(r.eid, eid, CAIRN_ENTITY_ID_BYTES);
    r.present = present;
    cairn_err_t err = cairn__view_hex(st, CAIRN_ET_ROSTER_ENTRY, eid, CAIRN_F_ROSTER_ENTRY_KEY, any,
                                      CAIRN_VK_KEY, r.key, sizeof r.key, &key_state);
    if (err == CAIRN_OK)
        err = cairn__view_str(st, CAIRN_ET_ROSTER_ENTRY, eid, CAIRN_F_ROSTER_ENTRY_NAME, any,
                              &r.name, &r.name_len, NULL);
    if (err == CAIRN_OK)
        err = entry_int(st, eid, CAIRN_F_ROSTER_ENTRY_ROLES, any, &roles);
    if (err == CAIRN_OK)
        err = entry_int(st, eid, CAIRN_F_ROSTER_ENTRY_VALID_FROM, any, &r.valid_from);
    if (err == CAIRN_OK)
        err = entry_int(st, eid, CAIRN_F_ROSTER_ENTRY_VALID_UNTIL, any, &r.valid_until);
    if (err == CAIRN_OK)
        err = entry_int(st, eid, CAIRN_F_ROSTER_ENTRY_REVOKED_AT, any, &r.revoked_at);
    if (err == CAIRN_OK && roles > CAIRN_ROLE_ALL)
        err = CAIRN_ECORRUPT;
    if (err != CAIRN_OK)
        return err;
    r.has_key = key_state == CAIRN_FIELD_SET;
    r.roles = (unsigned)roles;
    *e = r;
    return CAIRN_OK;
}

cairn_err_t cairn_roster_iter_init(cairn_roster_iter_t *it, const cairn_plan_state_t *roster)
{
    if (it == NULL)
        return CAIRN_EINVAL;
    return cairn_entity_iter_init(&it->entities, roster, CAIRN_ET_ROSTER_ENTRY);
}

cairn_err_t cairn_roster_next(cairn_roster_iter_t *it, cairn_roster_entry_t *entry)
{
    const uint8_t *eid;
    if (it == NULL || entry == NULL)
        return CAIRN_EINVAL;
    if (!cairn_entity_next(&it->entities, &eid))
        return CAIRN_ENOTFOUND;
    return entry_fill(it->entities.state, eid, 1, entry);
}

/* Whether any field of roster entry eid, membership included, was ever written. */
static int ever_written(const cairn_plan_state_t *st, const uint8_t *eid)
{
    cairn_field_view_t v;
    for (uint16_t f = CAIRN_F_MEMBERSHIP; cairn_field_name(CAIRN_ET_ROSTER_ENTRY, f) != NULL; f++)
        if (cairn_plan_state_field(st, CAIRN_ET_ROSTER_ENTRY, eid, f, &v) == 0)
            return 1;
    return 0;
}

cairn_err_t cairn_roster_get(const cairn_plan_state_t *roster, const uint8_t key[32],
                             cairn_roster_entry_t *entry)
{
    uint8_t eid[CAIRN_ENTITY_ID_BYTES];
    if (roster == NULL || key == NULL || entry == NULL)
        return CAIRN_EINVAL;
    cairn_roster_entry_id(key, eid);
    int present = cairn_plan_state_present(roster, CAIRN_ET_ROSTER_ENTRY, eid);
    if (!present && !ever_written(roster, eid))
        return CAIRN_ENOTFOUND;
    return entry_fill(roster, eid, present, entry);
}
