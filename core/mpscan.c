/*
 * mpscan.c - walk a MessagePack encoding with every length checked.
 *
 * An explicit stack of "elements still to read" per open container replaces
 * recursion, so hostile nesting cannot exhaust the C stack either.
 */
#include "mpscan.h"

#include <string.h>

#define DEPTH_MAX 32

static uint64_t be(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v = v << 8 | p[i];
    return v;
}

/*
 * Read the header at p: *skip is the bytes to step over (header and any
 * payload), *children the elements a container holds (0 for scalars).
 * Returns 0, or -1 if the header is invalid or does not fit.
 */
static int header(const uint8_t *p, size_t avail, uint64_t *skip, uint64_t *children)
{
    uint8_t t = p[0];
    uint64_t hdr = 1, body = 0;
    *children = 0;
    if (t <= 0x7f || t >= 0xe0 || t == 0xc0 || t == 0xc2 || t == 0xc3) {
        /* fixint, nil, false, true */
    } else if ((t & 0xf0) == 0x80) {
        *children = 2u * (t & 0x0f); /* fixmap */
    } else if ((t & 0xf0) == 0x90) {
        *children = t & 0x0f; /* fixarray */
    } else if ((t & 0xe0) == 0xa0) {
        body = t & 0x1f; /* fixstr */
    } else {
        /* Sizes of the length field for str/bin/ext 8,16,32 and fixed scalars. */
        int n;
        switch (t) {
        case 0xcc:
        case 0xd0:
            hdr = 2;
            break;
        case 0xcd:
        case 0xd1:
            hdr = 3;
            break;
        case 0xca:
        case 0xce:
        case 0xd2:
            hdr = 5;
            break;
        case 0xcb:
        case 0xcf:
        case 0xd3:
            hdr = 9;
            break;
        case 0xd4:
            hdr = 2, body = 1;
            break;
        case 0xd5:
            hdr = 2, body = 2;
            break;
        case 0xd6:
            hdr = 2, body = 4;
            break;
        case 0xd7:
            hdr = 2, body = 8;
            break;
        case 0xd8:
            hdr = 2, body = 16;
            break;
        case 0xc4:
        case 0xd9:
            n = 1;
            goto sized;
        case 0xc5:
        case 0xda:
            n = 2;
            goto sized;
        case 0xc6:
        case 0xdb:
            n = 4;
            goto sized;
        case 0xc7:
            n = 1;
            goto ext;
        case 0xc8:
            n = 2;
            goto ext;
        case 0xc9:
            n = 4;
            goto ext;
        case 0xdc:
        case 0xde:
            n = 2;
            goto container;
        case 0xdd:
        case 0xdf:
            n = 4;
            goto container;
        default:
            return -1; /* 0xc1 is never used */
        }
        goto done;
    sized:
        if (avail < 1 + (size_t)n)
            return -1;
        hdr = 1 + (uint64_t)n, body = be(p + 1, n);
        goto done;
    ext:
        if (avail < 2 + (size_t)n)
            return -1;
        hdr = 2 + (uint64_t)n, body = be(p + 1, n);
        goto done;
    container:
        if (avail < 1 + (size_t)n)
            return -1;
        hdr = 1 + (uint64_t)n;
        *children = be(p + 1, n) * (t == 0xde || t == 0xdf ? 2u : 1u);
    }
done:
    if (hdr > avail || body > avail - hdr)
        return -1;
    *skip = hdr + body;
    /* Each child takes at least one byte: a count beyond that is a lie. */
    return *children > avail - *skip ? -1 : 0;
}

cairn_err_t cairn__mp_prescan(const uint8_t *p, size_t len, int max_depth)
{
    uint64_t pending[DEPTH_MAX + 1];
    int depth = 0;
    size_t off = 0;
    if (max_depth > DEPTH_MAX)
        max_depth = DEPTH_MAX;
    pending[0] = 1; /* exactly one top-level object */
    while (depth >= 0) {
        if (pending[depth] == 0) {
            depth--;
            continue;
        }
        if (off >= len)
            return CAIRN_EMALFORMED;
        uint64_t skip, children;
        if (header(p + off, len - off, &skip, &children) != 0)
            return CAIRN_EMALFORMED;
        pending[depth]--;
        off += (size_t)skip;
        if (children > 0) {
            if (depth + 1 > max_depth)
                return CAIRN_EMALFORMED;
            pending[++depth] = children;
        }
    }
    return off == len ? CAIRN_OK : CAIRN_EMALFORMED;
}

int cairn__mp_sink_write(void *data, const char *p, size_t n)
{
    cairn_mp_sink_t *sk = data;
    if (sk->oom || cairn_buf_reserve(sk->buf, sk->buf->len + n) != CAIRN_OK) {
        sk->oom = 1;
        return -1;
    }
    memcpy(sk->buf->data + sk->buf->len, p, n);
    sk->buf->len += n;
    return 0;
}

void cairn__mp_pack_bin(msgpack_packer *pk, const void *p, size_t n)
{
    msgpack_pack_bin(pk, n);
    msgpack_pack_bin_body(pk, p, n);
}
