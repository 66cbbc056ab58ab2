/*
 * wipe.h - memory that may hold patient content: copies and wiping (private).
 */
#ifndef CAIRN_CORE_WIPE_H
#define CAIRN_CORE_WIPE_H

#include <stddef.h>

#include "cairn/change.h"

/* Zero n bytes at p (not optimised away), then free p. NULL is ignored. */
void cairn__wipe_free(void *p, size_t n);

/* dst := src, with a string copied to memory dst owns. CAIRN_ENOMEM. */
cairn_err_t cairn__value_dup(cairn_value_t *dst, const cairn_value_t *src);

/* Release what cairn__value_dup allocated, wiping it. */
void cairn__value_wipe(cairn_value_t *v);

/*
 * Release an array of n ops built by an edit (each op's pred array malloc'd,
 * its value copied by cairn__value_dup), wiping values, then the array.
 */
void cairn__ops_release(cairn_op_t *ops, size_t n);

/*
 * BLAKE2b of out_len bytes over domain (with its NUL) then each part in
 * turn (a NULL part ends the list): the derived ids of the roster and log.
 */
void cairn__hash_domain(uint8_t *out, size_t out_len, const char *domain, const void *a,
                        size_t a_len, const void *b, size_t b_len, const void *c, size_t c_len);

#endif
