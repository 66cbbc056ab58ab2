/*
 * channel.h - a session's bytes: Noise transport, framing, buffers (private).
 *
 * The channel turns bytes received into frames and frames to send into
 * bytes. Wire: every message is a frame, a 4-byte big-endian length and
 * that many bytes. The three handshake frames carry Noise messages raw;
 * every later frame is one Noise transport message (docs/protocol.md).
 *
 * It knows nothing of what frames mean, of the store or of time: session.c
 * drives it, turn.c sends through it. It owns its buffers (input, output,
 * a decrypted frame, scratch for encryption) and the byte and frame counts.
 * Nothing here calls back into its users.
 */
#ifndef CAIRN_SYNC_CHANNEL_H
#define CAIRN_SYNC_CHANNEL_H

#include <stddef.h>
#include <stdint.h>

#include "cairn/buf.h"
#include "cairn/error.h"
#include "noise.h"

/* A frame's length field may say at most this: a full plaintext and its tag. */
#define CAIRN_CHANNEL_MAX_BODY(max_plain) ((max_plain) + CAIRN_NOISE_TAG_BYTES)
/* The largest handshake frame accepted: XX's messages are under 200 bytes with our payloads. */
#define CAIRN_CHANNEL_MAX_HANDSHAKE 512u

typedef struct cairn_channel {
    cairn_noise_t noise;
    size_t max_plain; /* largest plaintext of a transport frame */
    cairn_buf_t in;   /* received, not yet taken as frames: in.data[in_head..in.len) */
    size_t in_head;
    cairn_buf_t out; /* to send: out.data[out_head..out.len) */
    size_t out_head;
    cairn_buf_t plain; /* the last decrypted frame */
    cairn_buf_t scratch;
    uint64_t bytes_in, bytes_out, frames_in, frames_out;
} cairn_channel_t;

/*
 * Start ch (zeroed by the caller) for a Noise handshake: see cairn__noise_init
 * for the arguments (key->ctx must outlive the handshake). max_plain: the
 * largest transport plaintext either way.
 * Errors: those of cairn__noise_init.
 */
cairn_err_t cairn__channel_init(cairn_channel_t *ch, int initiator, const cairn_noise_static_t *key,
                                const uint8_t *prologue, size_t prologue_len,
                                const uint8_t *ephemeral_seed, size_t max_plain);

/* Wipe the Noise state and release (wiping) every buffer. Safe on a zeroed ch. */
void cairn__channel_free(cairn_channel_t *ch);

/* The handshake is done: frames are transport messages now. */
int cairn__channel_up(const cairn_channel_t *ch);
/* It is this side's turn to write a handshake message. */
int cairn__channel_hs_my_turn(const cairn_channel_t *ch);
/* The peer's static key once authenticated (see cairn__noise_remote_key), else NULL. */
const uint8_t *cairn__channel_peer_key(const cairn_channel_t *ch);

/*
 * Write the next handshake message, carrying payload (plen bytes), as a
 * frame. Errors: those of cairn__noise_write, CAIRN_ENOMEM.
 */
cairn_err_t cairn__channel_hs_write(cairn_channel_t *ch, const uint8_t *payload, size_t plen);

/*
 * Read a handshake frame (body, n bytes, from cairn__channel_next) and put
 * its payload in payload (cap bytes), its size in *plen.
 * Errors: those of cairn__noise_read.
 */
CAIRN_MUST_USE cairn_err_t cairn__channel_hs_read(cairn_channel_t *ch, const uint8_t *body,
                                                  size_t n, uint8_t *payload, size_t cap,
                                                  size_t *plen);

/*
 * Encrypt plain (n bytes, at most max_plain) as the next transport frame.
 * Errors: CAIRN_ETOOBIG (n above max_plain, or the nonce is exhausted),
 * CAIRN_EINVAL (the handshake is not done), CAIRN_ENOMEM.
 */
cairn_err_t cairn__channel_send(cairn_channel_t *ch, const uint8_t *plain, size_t n);

/* Append len received bytes to the input (copied). Errors: CAIRN_ENOMEM. */
cairn_err_t cairn__channel_append(cairn_channel_t *ch, const uint8_t *bytes, size_t len);

/*
 * Take the next complete frame of the input: 1 with *body (*n bytes, valid
 * until the next append or free) when one is there, 0 when the rest has not
 * arrived, -1 when its length field is above max_plain + the tag (during the
 * handshake: above CAIRN_CHANNEL_MAX_HANDSHAKE), which no
 * honest peer sends (nothing after it can be framed: the caller closes).
 */
int cairn__channel_next(cairn_channel_t *ch, const uint8_t **body, size_t *n);

/*
 * Decrypt a transport frame (body, n bytes) into the channel's plaintext
 * buffer: *plain, *plen (valid until the next open or free).
 * Errors: CAIRN_EBADKEY (authentication failed), CAIRN_EMALFORMED (too
 * short), CAIRN_ENOMEM; the first two kill the Noise state.
 */
CAIRN_MUST_USE cairn_err_t cairn__channel_open(cairn_channel_t *ch, const uint8_t *body, size_t n,
                                               const uint8_t **plain, size_t *plen);

/* Bytes received and not yet taken as frames. */
size_t cairn__channel_buffered(const cairn_channel_t *ch);

/* The bytes to send now (*len of them; NULL when none): valid until the next call on ch. */
const uint8_t *cairn__channel_output(const cairn_channel_t *ch, size_t *len);
/* n of them were sent. Errors: CAIRN_EINVAL (more than are unsent). */
cairn_err_t cairn__channel_consumed(cairn_channel_t *ch, size_t n);
/* Bytes produced and not yet sent. */
size_t cairn__channel_unsent(const cairn_channel_t *ch);

#endif
