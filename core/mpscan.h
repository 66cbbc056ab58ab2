/*
 * mpscan.h - MessagePack helpers: a bounds check for untrusted input, and
 * packing into a cairn_buf_t (private to core/ and sync/).
 *
 * msgpack-c's unpacker allocates room for a container's declared element
 * count before reading the elements, so five hostile bytes can ask for
 * gigabytes. cairn__mp_prescan() walks the encoding first, without
 * allocating, and accepts it only if it is exactly one object, every length
 * fits in the bytes that remain, every container's count is at most the
 * bytes remaining (each element needs one), and nesting is shallow.
 */
#ifndef CAIRN_CORE_MPSCAN_H
#define CAIRN_CORE_MPSCAN_H

#include <stddef.h>
#include <stdint.h>

#include <msgpack.h>

#include "cairn/buf.h"
#include "cairn/error.h"

/* CAIRN_OK, or CAIRN_EMALFORMED for anything else. */
CAIRN_MUST_USE cairn_err_t cairn__mp_prescan(const uint8_t *p, size_t len, int max_depth);

/*
 * A msgpack packer's destination that appends to a cairn_buf_t (which
 * wipes what it held when it grows). A failed reserve is remembered in oom
 * rather than lost in msgpack's ignored return values.
 */
typedef struct cairn_mp_sink {
    cairn_buf_t *buf;
    int oom;
} cairn_mp_sink_t;

int cairn__mp_sink_write(void *data, const char *p, size_t n);

/* Pack n bytes as a msgpack bin. */
void cairn__mp_pack_bin(msgpack_packer *pk, const void *p, size_t n);

#endif
