/*
 * wipe.c - copies of values that may hold patient content, and wiping them;
 * the derived ids of the roster and the log.
 */
#include "wipe.h"

#include <sodium.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

void cairn__wipe_free(void *p, size_t n)
{
    if (p == NULL)
        return;
    sodium_memzero(p, n);
    free(p);
}

cairn_err_t cairn__value_dup(cairn_value_t *dst, const cairn_value_t *src)
{
    *dst = *src;
    if (src->type != CAIRN_VALUE_STR)
        return CAIRN_OK;
    char *s = malloc(src->len ? src->len : 1);
    if (s == NULL)
        return CAIRN_ENOMEM;
    memcpy(s, src->s, src->len);
    dst->s = s;
    return CAIRN_OK;
}

void cairn__value_wipe(cairn_value_t *v)
{
    if (v->type == CAIRN_VALUE_STR)
        cairn__wipe_free((void *)(uintptr_t)v->s, v->len);
    v->type = CAIRN_VALUE_NIL;
    v->s = NULL;
}

void cairn__ops_release(cairn_op_t *ops, size_t n)
{
    for (size_t i = 0; ops != NULL && i < n; i++) {
        free((void *)(uintptr_t)ops[i].pred);
        ops[i].pred = NULL;
        cairn__value_wipe(&ops[i].value);
    }
    free(ops);
}

void cairn__hash_domain(uint8_t *out, size_t out_len, const char *domain, const void *a,
                        size_t a_len, const void *b, size_t b_len, const void *c, size_t c_len)
{
    crypto_generichash_state st;
    crypto_generichash_init(&st, NULL, 0, out_len);
    crypto_generichash_update(&st, (const uint8_t *)domain, strlen(domain) + 1);
    const void *parts[3] = {a, b, c};
    size_t lens[3] = {a_len, b_len, c_len};
    for (int i = 0; i < 3 && parts[i] != NULL; i++)
        crypto_generichash_update(&st, parts[i], lens[i]);
    crypto_generichash_final(&st, out, out_len);
}
