/*
 * cairn/buf.h - a growable byte buffer the caller owns.
 *
 * Functions that return variable-length plaintext (a decrypted record, say)
 * write it into a cairn_buf_t supplied by the caller, growing it as needed.
 * Reusing one buffer across calls avoids an allocation per read. Because the
 * bytes may be patient data, cairn_buf_free() wipes them before release.
 */
#ifndef CAIRN_BUF_H
#define CAIRN_BUF_H

#include <stddef.h>
#include <stdint.h>

#include "cairn/error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct cairn_buf {
    uint8_t *data; /* owned by the buffer; NULL while cap == 0 */
    size_t len;    /* bytes in use */
    size_t cap;    /* bytes allocated */
} cairn_buf_t;

/* A zero-initialised cairn_buf_t is empty and valid. */
#define CAIRN_BUF_INIT {NULL, 0, 0}

/*
 * Ensure buf can hold at least n bytes in total. Existing contents are kept.
 * Errors: CAIRN_ENOMEM (buf unchanged).
 */
cairn_err_t cairn_buf_reserve(cairn_buf_t *buf, size_t n);

/* Wipe and release the buffer's memory; buf is left empty and reusable. */
void cairn_buf_free(cairn_buf_t *buf);

#ifdef __cplusplus
}
#endif

#endif
