/*
 * wipe.h - releasing memory that may have held patient content (private).
 */
#ifndef CAIRN_CORE_WIPE_H
#define CAIRN_CORE_WIPE_H

#include <stddef.h>

/* Zero n bytes at p (not optimised away), then free p. NULL is ignored. */
void cairn_wipe_free(void *p, size_t n);

#endif
