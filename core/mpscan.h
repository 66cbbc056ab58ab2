/*
 * mpscan.h - a bounds check for untrusted MessagePack (private to core/).
 *
 * msgpack-c's unpacker allocates room for a container's declared element
 * count before reading the elements, so five hostile bytes can ask for
 * gigabytes. cairn_mp_prescan() walks the encoding first, without
 * allocating, and accepts it only if it is exactly one object, every length
 * fits in the bytes that remain, every container's count is at most the
 * bytes remaining (each element needs one), and nesting is shallow.
 */
#ifndef CAIRN_CORE_MPSCAN_H
#define CAIRN_CORE_MPSCAN_H

#include <stddef.h>
#include <stdint.h>

#include "cairn/error.h"

/* CAIRN_OK, or CAIRN_EMALFORMED for anything else. */
cairn_err_t cairn_mp_prescan(const uint8_t *p, size_t len, int max_depth);

#endif
