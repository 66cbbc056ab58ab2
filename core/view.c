/*
 * view.c - typed reads of a merged plan state, on its public interface.
 *
 * A state is a sorted array of slots, one per written (etype, eid, field),
 * which cairn_plan_state_at() hands out by index; field 0 of an entity is
 * its membership and sorts first. So the present entities of one type are
 * a run of consecutive slots, found by binary search, and each entity of
 * it starts with its membership slot. This file uses nothing but that
 * public interface and the schema, so it cannot disagree with what
 * cairn_plan_state_field() reports.
 */
#include "view_int.h"

#include <sodium.h>
#include <string.h>

/* Number of slots in st: the first index at which cairn_plan_state_at fails. */
static size_t slot_count(const cairn_plan_state_t *st)
{
    cairn_field_view_t v;
    size_t lo = 0, hi = 1; /* every index below lo exists; find one that does not */
    while (cairn_plan_state_at(st, hi - 1, &v) == 0) {
        lo = hi;
        hi *= 2;
    }
    while (lo < hi) { /* the answer is in [lo, hi): index lo - 1 exists, hi - 1 does not */
        size_t mid = lo + (hi - lo) / 2;
        if (cairn_plan_state_at(st, mid, &v) == 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* The first slot index in [0, n) whose entity type is at least etype. */
static size_t first_of_type(const cairn_plan_state_t *st, size_t n, uint16_t etype)
{
    size_t lo = 0, hi = n;
    cairn_field_view_t v;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (cairn_plan_state_at(st, mid, &v) == 0 && v.etype < etype)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

cairn_err_t cairn_entity_iter_init(cairn_entity_iter_t *it, const cairn_plan_state_t *state,
                                   uint16_t etype)
{
    if (it == NULL || state == NULL || cairn_etype_kind(etype) == 0)
        return CAIRN_EINVAL;
    it->state = state;
    it->etype = etype;
    it->done = 0;
    it->next = cairn_etype_is_set(etype) ? first_of_type(state, slot_count(state), etype) : 0;
    return CAIRN_OK;
}

int cairn_entity_next(cairn_entity_iter_t *it, const uint8_t **eid)
{
    if (it->done)
        return 0;
    if (!cairn_etype_is_set(it->etype)) { /* a singleton: its one entity, once */
        it->done = 1;
        *eid = cairn_singleton_eid;
        return 1;
    }
    cairn_field_view_t v;
    while (cairn_plan_state_at(it->state, it->next, &v) == 0 && v.etype == it->etype) {
        it->next++;
        /* A membership slot holds live ADDs only: it starts a present entity. */
        if (v.field == CAIRN_F_MEMBERSHIP && cairn_plan_state_present(it->state, v.etype, v.eid)) {
            *eid = v.eid;
            return 1;
        }
    }
    it->done = 1;
    return 0;
}

/* ---- getters --------------------------------------------------------------- */

/*
 * Check the arguments, that field is of one of the kinds in want (a bit
 * per cairn_vkind_t; 0: any), and that the entity is present (unless
 * absent_ok); then read the field into *v, nvalues 0 if never written.
 */
static cairn_err_t read_field(const cairn_plan_state_t *st, uint16_t etype, const uint8_t *eid,
                              uint16_t field, unsigned want, int absent_ok, cairn_field_view_t *v)
{
    cairn_vkind_t kind = cairn_field_vkind(etype, field); /* 0 for field 0 and unknowns */
    if (st == NULL || eid == NULL || kind == 0 || (want != 0 && !(want & (1u << kind))))
        return CAIRN_EINVAL;
    if (!absent_ok && !cairn_plan_state_present(st, etype, eid))
        return CAIRN_ENOTFOUND;
    if (cairn_plan_state_field(st, etype, eid, field, v) != 0) {
        memset(v, 0, sizeof *v);
        v->etype = etype;
        v->eid = eid;
        v->field = field;
    }
    return CAIRN_OK;
}

/* How v stands, and the value shown: values[0] unless it is a clear; else NULL. */
static const cairn_value_t *shown(const cairn_field_view_t *v, cairn_fstate_t *fs)
{
    cairn_fstate_t f = CAIRN_FIELD_UNSET;
    const cairn_value_t *val = NULL;
    if (v->nvalues > 0 && v->values[0].type != CAIRN_VALUE_NIL)
        val = &v->values[0];
    if (v->conflict)
        f = CAIRN_FIELD_CONFLICT;
    else if (val != NULL)
        f = CAIRN_FIELD_SET;
    if (fs != NULL)
        *fs = f;
    return val;
}

#define STRING_KINDS                                                                               \
    (1u << CAIRN_VK_TEXT | 1u << CAIRN_VK_ENUM | 1u << CAIRN_VK_DATE | 1u << CAIRN_VK_REF |        \
     1u << CAIRN_VK_KEY)

cairn_err_t cairn__view_str(const cairn_plan_state_t *state, uint16_t etype, const uint8_t *eid,
                            uint16_t field, int absent_ok, const char **s, size_t *len,
                            cairn_fstate_t *fs)
{
    cairn_field_view_t v;
    if (s == NULL || len == NULL)
        return CAIRN_EINVAL;
    cairn_err_t err = read_field(state, etype, eid, field, STRING_KINDS, absent_ok, &v);
    if (err != CAIRN_OK)
        return err;
    cairn_fstate_t f;
    const cairn_value_t *val = shown(&v, &f);
    if (val != NULL && val->type != CAIRN_VALUE_STR)
        return CAIRN_ECORRUPT;
    *s = val == NULL ? NULL : val->s != NULL ? val->s : ""; /* "" is set, not unset */
    *len = val != NULL ? val->len : 0;
    if (fs != NULL)
        *fs = f;
    return CAIRN_OK;
}

cairn_err_t cairn__view_int(const cairn_plan_state_t *state, uint16_t etype, const uint8_t *eid,
                            uint16_t field, int absent_ok, int64_t *out, cairn_fstate_t *fs)
{
    cairn_field_view_t v;
    if (out == NULL)
        return CAIRN_EINVAL;
    cairn_err_t err = read_field(state, etype, eid, field, 1u << CAIRN_VK_INT, absent_ok, &v);
    if (err != CAIRN_OK)
        return err;
    cairn_fstate_t f;
    const cairn_value_t *val = shown(&v, &f);
    if (val != NULL && val->type != CAIRN_VALUE_INT)
        return CAIRN_ECORRUPT;
    *out = val != NULL ? val->i : 0;
    if (fs != NULL)
        *fs = f;
    return CAIRN_OK;
}

cairn_err_t cairn__view_hex(const cairn_plan_state_t *st, uint16_t etype, const uint8_t *eid,
                            uint16_t field, int absent_ok, cairn_vkind_t kind, uint8_t *out,
                            size_t n, cairn_fstate_t *fs)
{
    cairn_field_view_t v;
    uint8_t buf[32];
    if (out == NULL || n > sizeof buf)
        return CAIRN_EINVAL;
    cairn_err_t err = read_field(st, etype, eid, field, 1u << kind, absent_ok, &v);
    if (err != CAIRN_OK)
        return err;
    cairn_fstate_t f;
    const cairn_value_t *val = shown(&v, &f);
    memset(buf, 0, sizeof buf);
    if (val != NULL && (val->type != CAIRN_VALUE_STR || val->len != 2 * n ||
                        sodium_hex2bin(buf, n, val->s, val->len, NULL, NULL, NULL) != 0))
        return CAIRN_ECORRUPT;
    memcpy(out, buf, n);
    if (fs != NULL)
        *fs = f;
    return CAIRN_OK;
}

cairn_err_t cairn_entity_str(const cairn_plan_state_t *state, uint16_t etype,
                             const uint8_t eid[CAIRN_ENTITY_ID_BYTES], uint16_t field,
                             const char **s, size_t *len, cairn_fstate_t *fs)
{
    return cairn__view_str(state, etype, eid, field, 0, s, len, fs);
}

cairn_err_t cairn_entity_int(const cairn_plan_state_t *state, uint16_t etype,
                             const uint8_t eid[CAIRN_ENTITY_ID_BYTES], uint16_t field, int64_t *v,
                             cairn_fstate_t *fs)
{
    return cairn__view_int(state, etype, eid, field, 0, v, fs);
}

cairn_err_t cairn_entity_ref(const cairn_plan_state_t *state, uint16_t etype,
                             const uint8_t eid[CAIRN_ENTITY_ID_BYTES], uint16_t field,
                             uint8_t out[CAIRN_ENTITY_ID_BYTES], cairn_fstate_t *fs)
{
    return cairn__view_hex(state, etype, eid, field, 0, CAIRN_VK_REF, out, CAIRN_ENTITY_ID_BYTES,
                           fs);
}

cairn_err_t cairn_entity_key(const cairn_plan_state_t *state, uint16_t etype,
                             const uint8_t eid[CAIRN_ENTITY_ID_BYTES], uint16_t field,
                             uint8_t out[32], cairn_fstate_t *fs)
{
    return cairn__view_hex(state, etype, eid, field, 0, CAIRN_VK_KEY, out, 32, fs);
}

cairn_err_t cairn_entity_values(const cairn_plan_state_t *state, uint16_t etype,
                                const uint8_t eid[CAIRN_ENTITY_ID_BYTES], uint16_t field,
                                cairn_field_view_t *out)
{
    cairn_field_view_t v;
    if (out == NULL)
        return CAIRN_EINVAL;
    cairn_err_t err = read_field(state, etype, eid, field, 0, 0, &v);
    if (err == CAIRN_OK)
        *out = v;
    return err;
}
