/*
 * buf.c - the caller-owned growable byte buffer.
 *
 * Buffers grow geometrically and are wiped on release: they carry decrypted
 * records, which may be patient data.
 */
#include "cairn/buf.h"

#include <sodium.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

cairn_err_t cairn_buf_reserve(cairn_buf_t *buf, size_t n)
{
    if (buf == NULL)
        return CAIRN_EINVAL;
    if (n <= buf->cap)
        return CAIRN_OK;
    size_t cap = buf->cap ? buf->cap : 64;
    while (cap < n) {
        if (cap > SIZE_MAX / 2)
            return CAIRN_ENOMEM;
        cap *= 2;
    }
    /* Not realloc: the old block may hold plaintext and must be wiped. */
    uint8_t *p = malloc(cap);
    if (p == NULL)
        return CAIRN_ENOMEM;
    if (buf->data != NULL) {
        memcpy(p, buf->data, buf->len);
        sodium_memzero(buf->data, buf->cap);
        free(buf->data);
    }
    buf->data = p;
    buf->cap = cap;
    return CAIRN_OK;
}

void cairn_buf_free(cairn_buf_t *buf)
{
    if (buf == NULL)
        return;
    if (buf->data != NULL) {
        sodium_memzero(buf->data, buf->cap);
        free(buf->data);
    }
    buf->data = NULL;
    buf->len = 0;
    buf->cap = 0;
}
