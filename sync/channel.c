/*
 * channel.c - framing and the Noise transport over a session's buffers.
 *
 * The one idea: bytes in, frames out, and back, with every buffer owned
 * here. Input is appended at the end and taken from in_head; it is moved
 * down only when more arrives, so a frame handed out stays where it is
 * until then. Output is taken by the caller from out_head.
 */
#include "channel.h"

#include <string.h>

cairn_err_t cairn__channel_init(cairn_channel_t *ch, int initiator, const cairn_noise_static_t *key,
                                const uint8_t *prologue, size_t prologue_len,
                                const uint8_t *ephemeral_seed, size_t max_plain)
{
    ch->max_plain = max_plain;
    return cairn__noise_init(&ch->noise, initiator, key, prologue, prologue_len, ephemeral_seed);
}

void cairn__channel_free(cairn_channel_t *ch)
{
    cairn__noise_wipe(&ch->noise);
    cairn_buf_free(&ch->in);
    cairn_buf_free(&ch->out);
    cairn_buf_free(&ch->plain);
    cairn_buf_free(&ch->scratch);
    ch->in_head = ch->out_head = 0;
}

int cairn__channel_up(const cairn_channel_t *ch)
{
    return cairn__noise_done(&ch->noise);
}

int cairn__channel_hs_my_turn(const cairn_channel_t *ch)
{
    return cairn__noise_my_turn(&ch->noise);
}

const uint8_t *cairn__channel_peer_key(const cairn_channel_t *ch)
{
    return cairn__noise_remote_key(&ch->noise);
}

/* Append a frame to the output: length, then bytes. */
static cairn_err_t frame_raw(cairn_channel_t *ch, const uint8_t *p, size_t n)
{
    cairn_err_t err = cairn_buf_reserve(&ch->out, ch->out.len + 4 + n);
    if (err != CAIRN_OK)
        return err;
    uint8_t *d = ch->out.data + ch->out.len;
    d[0] = (uint8_t)(n >> 24), d[1] = (uint8_t)(n >> 16), d[2] = (uint8_t)(n >> 8);
    d[3] = (uint8_t)n;
    memcpy(d + 4, p, n);
    ch->out.len += 4 + n;
    ch->bytes_out += 4 + n;
    ch->frames_out++;
    return CAIRN_OK;
}

cairn_err_t cairn__channel_hs_write(cairn_channel_t *ch, const uint8_t *payload, size_t plen)
{
    uint8_t msg[256];
    size_t len;
    cairn_err_t err = cairn__noise_write(&ch->noise, payload, plen, msg, sizeof msg, &len);
    return err == CAIRN_OK ? frame_raw(ch, msg, len) : err;
}

cairn_err_t cairn__channel_hs_read(cairn_channel_t *ch, const uint8_t *body, size_t n,
                                   uint8_t *payload, size_t cap, size_t *plen)
{
    return cairn__noise_read(&ch->noise, body, n, payload, cap, plen);
}

cairn_err_t cairn__channel_send(cairn_channel_t *ch, const uint8_t *plain, size_t n)
{
    if (n > ch->max_plain)
        return CAIRN_ETOOBIG;
    cairn_err_t err = cairn_buf_reserve(&ch->scratch, n + CAIRN_NOISE_TAG_BYTES);
    if (err == CAIRN_OK)
        err = cairn__noise_encrypt(&ch->noise, NULL, 0, plain, n, ch->scratch.data);
    if (err == CAIRN_OK)
        err = frame_raw(ch, ch->scratch.data, n + CAIRN_NOISE_TAG_BYTES);
    return err;
}

cairn_err_t cairn__channel_append(cairn_channel_t *ch, const uint8_t *bytes, size_t len)
{
    if (ch->in_head > 0) { /* what was taken goes; the rest moves down */
        memmove(ch->in.data, ch->in.data + ch->in_head, ch->in.len - ch->in_head);
        ch->in.len -= ch->in_head;
        ch->in_head = 0;
    }
    if (len == 0)
        return CAIRN_OK;
    cairn_err_t err = cairn_buf_reserve(&ch->in, ch->in.len + len);
    if (err != CAIRN_OK)
        return err;
    memcpy(ch->in.data + ch->in.len, bytes, len);
    ch->in.len += len;
    ch->bytes_in += len;
    return CAIRN_OK;
}

int cairn__channel_next(cairn_channel_t *ch, const uint8_t **body, size_t *n)
{
    size_t avail = ch->in.len - ch->in_head;
    if (avail < 4)
        return 0;
    const uint8_t *p = ch->in.data + ch->in_head;
    size_t len = (size_t)p[0] << 24 | (size_t)p[1] << 16 | (size_t)p[2] << 8 | p[3];
    /* Before the handshake is done the peer is a stranger: its messages are small. */
    size_t max =
        cairn__channel_up(ch) ? CAIRN_CHANNEL_MAX_BODY(ch->max_plain) : CAIRN_CHANNEL_MAX_HANDSHAKE;
    if (len > max)
        return -1;
    if (avail - 4 < len)
        return 0; /* the rest of the frame has not arrived */
    ch->in_head += 4 + len;
    ch->frames_in++;
    *body = p + 4;
    *n = len;
    return 1;
}

cairn_err_t cairn__channel_open(cairn_channel_t *ch, const uint8_t *body, size_t n,
                                const uint8_t **plain, size_t *plen)
{
    cairn_err_t err = cairn_buf_reserve(&ch->plain, n ? n : 1);
    if (err != CAIRN_OK)
        return err;
    err = cairn__noise_decrypt(&ch->noise, NULL, 0, body, n, ch->plain.data);
    if (err != CAIRN_OK)
        return err;
    *plain = ch->plain.data;
    *plen = n - CAIRN_NOISE_TAG_BYTES;
    return CAIRN_OK;
}

size_t cairn__channel_buffered(const cairn_channel_t *ch)
{
    return ch->in.len - ch->in_head;
}

const uint8_t *cairn__channel_output(const cairn_channel_t *ch, size_t *len)
{
    *len = ch->out.len - ch->out_head;
    return *len ? ch->out.data + ch->out_head : NULL;
}

cairn_err_t cairn__channel_consumed(cairn_channel_t *ch, size_t n)
{
    if (n > ch->out.len - ch->out_head)
        return CAIRN_EINVAL;
    ch->out_head += n;
    if (ch->out_head == ch->out.len) {
        ch->out.len = ch->out_head = 0;
    } else if (ch->out_head > ch->out.len / 2) { /* keep the buffer from creeping */
        memmove(ch->out.data, ch->out.data + ch->out_head, ch->out.len - ch->out_head);
        ch->out.len -= ch->out_head;
        ch->out_head = 0;
    }
    return CAIRN_OK;
}

size_t cairn__channel_unsent(const cairn_channel_t *ch)
{
    return ch->out.len - ch->out_head;
}
