/*
 * grow.h - room for one more item in a growable array.
 */
#ifndef CAIRN_GROW_H
#define CAIRN_GROW_H

#include "cairn/error.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/*
 * arrp is the address of the array's pointer (T **), n the items in use,
 * *cap the items allocated, size sizeof(T). When n == *cap the array
 * doubles (to first when empty); on failure it is left as it was.
 */
static inline cairn_err_t cairn_grow(void *arrp, size_t *cap, size_t n, size_t size, size_t first)
{
    if (n < *cap)
        return CAIRN_OK;
    size_t c = *cap ? 2 * *cap : first;
    if (c > SIZE_MAX / size)
        return CAIRN_ENOMEM;
    void *old, *p;
    memcpy(&old, arrp, sizeof old); /* T ** as void *: copied, never aliased */
    p = realloc(old, c * size);
    if (p == NULL)
        return CAIRN_ENOMEM;
    memcpy(arrp, &p, sizeof p);
    *cap = c;
    return CAIRN_OK;
}

#endif
