/*
 * view_int.h - the typed getters of cairn/view.h for this library's own
 * readers (private).
 *
 * The public getters refuse an entity that is not present. A reader that
 * must also show a removed entity's fields as the state keeps them (the
 * roster's cairn_roster_get()) passes absent_ok; everything else is as
 * cairn/view.h states for cairn_entity_str(), cairn_entity_int() and
 * cairn_entity_ref()/cairn_entity_key() (kind CAIRN_VK_REF or CAIRN_VK_KEY,
 * n bytes of out, at most 32).
 */
#ifndef CAIRN_CORE_VIEW_INT_H
#define CAIRN_CORE_VIEW_INT_H

#include "cairn/view.h"

cairn_err_t cairn__view_str(const cairn_plan_state_t *state, uint16_t etype, const uint8_t *eid,
                            uint16_t field, int absent_ok, const char **s, size_t *len,
                            cairn_fstate_t *fs);
cairn_err_t cairn__view_int(const cairn_plan_state_t *state, uint16_t etype, const uint8_t *eid,
                            uint16_t field, int absent_ok, int64_t *v, cairn_fstate_t *fs);
cairn_err_t cairn__view_hex(const cairn_plan_state_t *state, uint16_t etype, const uint8_t *eid,
                            uint16_t field, int absent_ok, cairn_vkind_t kind, uint8_t *out,
                            size_t n, cairn_fstate_t *fs);

#endif
