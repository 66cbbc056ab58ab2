/*
 * pkeys.h - keys of the `plans` database (private).
 *
 * Everything kept about a plan lives under keys that start with its id:
 * the state header, the state's entity rows, the signed changes, and the
 * log index by author and sequence. A batch that touches a plan therefore
 * dirties a few neighbouring LMDB pages, not one page per table; that is
 * what keeps a durable write of many small changes close to LMDB's own
 * put rate. A one-byte kind after the plan id separates the four.
 */
#ifndef CAIRN_CORE_PKEYS_H
#define CAIRN_CORE_PKEYS_H

#include <stdint.h>
#include <string.h>

#include "cairn/change.h"

enum {
    CAIRN_PK_HEADER = 0, /* plan, 0 -> change count and heads */
    CAIRN_PK_ENTITY = 1, /* plan, 1, etype (BE), eid -> the entity's slots */
    CAIRN_PK_CHANGE = 2, /* plan, 2, change id -> signed bytes */
    CAIRN_PK_LOG = 3,    /* plan, 3, author, seq (BE), change id -> its HLC (BE) */
};

#define CAIRN_PK_PREFIX (CAIRN_PLAN_ID_BYTES + 1)
#define CAIRN_PK_ENTITY_BYTES (CAIRN_PK_PREFIX + 2 + CAIRN_ENTITY_ID_BYTES)
#define CAIRN_PK_CHANGE_BYTES (CAIRN_PK_PREFIX + CAIRN_CHANGE_ID_BYTES)
#define CAIRN_PK_AUTHOR_BYTES (CAIRN_PK_PREFIX + 32)
#define CAIRN_PK_SEQ_BYTES (CAIRN_PK_AUTHOR_BYTES + 8)
#define CAIRN_PK_LOG_BYTES (CAIRN_PK_SEQ_BYTES + CAIRN_CHANGE_ID_BYTES)

static inline size_t cairn_pk_prefix(uint8_t *k, const uint8_t *plan, uint8_t kind)
{
    memcpy(k, plan, CAIRN_PLAN_ID_BYTES);
    k[CAIRN_PLAN_ID_BYTES] = kind;
    return CAIRN_PK_PREFIX;
}

static inline size_t cairn_pk_entity(uint8_t *k, const uint8_t *plan, uint16_t etype,
                                     const uint8_t *eid)
{
    size_t n = cairn_pk_prefix(k, plan, CAIRN_PK_ENTITY);
    k[n] = (uint8_t)(etype >> 8);
    k[n + 1] = (uint8_t)etype;
    memcpy(k + n + 2, eid, CAIRN_ENTITY_ID_BYTES);
    return CAIRN_PK_ENTITY_BYTES;
}

static inline size_t cairn_pk_change(uint8_t *k, const uint8_t *plan, const uint8_t *id)
{
    size_t n = cairn_pk_prefix(k, plan, CAIRN_PK_CHANGE);
    memcpy(k + n, id, CAIRN_CHANGE_ID_BYTES);
    return CAIRN_PK_CHANGE_BYTES;
}

/* plan, 3, author, seq: the prefix of the log keys at one sequence number. */
static inline size_t cairn_pk_seq(uint8_t *k, const uint8_t *plan, const uint8_t *author,
                                  uint64_t seq)
{
    size_t n = cairn_pk_prefix(k, plan, CAIRN_PK_LOG);
    memcpy(k + n, author, 32);
    for (int i = 0; i < 8; i++)
        k[n + 32 + i] = (uint8_t)(seq >> (56 - 8 * i));
    return CAIRN_PK_SEQ_BYTES;
}

static inline size_t cairn_pk_log(uint8_t *k, const uint8_t *plan, const uint8_t *author,
                                  uint64_t seq, const uint8_t *id)
{
    cairn_pk_seq(k, plan, author, seq);
    memcpy(k + CAIRN_PK_SEQ_BYTES, id, CAIRN_CHANGE_ID_BYTES);
    return CAIRN_PK_LOG_BYTES;
}

static inline uint64_t cairn_be64_load(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
}

static inline void cairn_be64_store(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (56 - 8 * i));
}

static inline uint64_t cairn_pk_log_seq(const uint8_t *k)
{
    uint64_t s = 0;
    for (int i = 0; i < 8; i++)
        s = s << 8 | k[CAIRN_PK_AUTHOR_BYTES + i];
    return s;
}

#endif
