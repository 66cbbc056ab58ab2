/*
 * session.c - the sync session: handshake, frames, turns (docs/protocol.md).
 *
 * Wire: every message is a frame, a 4-byte big-endian length and that many
 * bytes. The three handshake frames carry Noise messages; every later frame
 * is one Noise transport message whose plaintext is a MessagePack array
 * [type, ...]. After the handshake the sides take turns: a turn is any
 * number of CHANGES frames and one TURN frame holding the turn's questions
 * and answers. A side whose TURN asks nothing, answered by a TURN asking
 * nothing, ends the session with CLOSE(done).
 */
#include "cairn/sync.h"

#include "cairn/ingest.h"
#include "cairn/replica.h"
#include "mpscan.h"
#include "noise.h"
#include "recon.h"
#include "turn.h"

#include <msgpack.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_KEEPALIVE_MS 15000u
#define DEFAULT_TIMEOUT_MS 60000u
#define DEFAULT_OUTPUT_LIMIT ((size_t)4 << 20)

static const char *const close_names[CAIRN_CLOSE_REASON__COUNT] = {
    "done", "protocol", "auth", "unknown-peer", "version", "timeout", "too-big", "store",
    "by-peer",
};

const char *cairn_close_reason_name(cairn_close_reason_t reason)
{
    return (unsigned)reason < CAIRN_CLOSE_REASON__COUNT ? close_names[reason] : "unknown";
}

/* ---- output ------------------------------------------------------------------ */

/* Append a frame: length, then bytes. */
static cairn_err_t frame_raw(cairn_sync_t *s, const uint8_t *p, size_t n)
{
    cairn_err_t err = cairn_buf_reserve(&s->out, s->out.len + 4 + n);
    if (err != CAIRN_OK)
        return err;
    uint8_t *d = s->out.data + s->out.len;
    d[0] = (uint8_t)(n >> 24), d[1] = (uint8_t)(n >> 16), d[2] = (uint8_t)(n >> 8);
    d[3] = (uint8_t)n;
    memcpy(d + 4, p, n);
    s->out.len += 4 + n;
    s->stats.bytes_out += 4 + n;
    s->stats.frames_out++;
    s->last_tx = s->now;
    return CAIRN_OK;
}

/* Encrypt plain as the next transport message and frame it. */
cairn_err_t cairn_sync_send(cairn_sync_t *s, const uint8_t *plain, size_t n)
{
    if (n > CAIRN_SYNC_MAX_FRAME)
        return CAIRN_ETOOBIG;
    cairn_err_t err = cairn_buf_reserve(&s->scratch, n + CAIRN_NOISE_TAG_BYTES);
    if (err == CAIRN_OK)
        err = cairn_noise_encrypt(&s->noise, NULL, 0, plain, n, s->scratch.data);
    if (err == CAIRN_OK)
        err = frame_raw(s, s->scratch.data, n + CAIRN_NOISE_TAG_BYTES);
    return err;
}

static void send_small(cairn_sync_t *s, uint8_t type, int64_t arg, int with_arg)
{
    uint8_t b[16];
    size_t n = 0;
    b[n++] = with_arg ? 0x92 : 0x91;
    b[n++] = type;
    if (with_arg)
        b[n++] = (uint8_t)arg; /* reasons are small positive fixints */
    cairn_sync_send(s, b, n);
}

/* Close for reason, telling the peer if the channel is up. */
void cairn_sync_close(cairn_sync_t *s, cairn_close_reason_t reason)
{
    if (s->state == CAIRN_SYNC_DONE || s->state == CAIRN_SYNC_CLOSED)
        return;
    if (s->state == CAIRN_SYNC_RUNNING && reason != CAIRN_CLOSE_AUTH)
        send_small(s, CAIRN_FRAME_CLOSE, reason, 1);
    s->state = reason == CAIRN_CLOSE_DONE ? CAIRN_SYNC_DONE : CAIRN_SYNC_CLOSED;
    s->reason = reason;
    cairn_turn_reset(s);
}

/* ---- handshake -------------------------------------------------------------------- */

/* Payloads: message 1 lists our versions, message 2 names the one chosen. */
static cairn_err_t hs_write(cairn_sync_t *s)
{
    /* Messages 1 and 2 carry a version (0 from a responder: none in common); 3 nothing. */
    uint8_t version = s->opts.initiator ? (uint8_t)CAIRN_SYNC_VERSION : s->version, msg[256];
    size_t len;
    cairn_err_t err = cairn_noise_write(&s->noise, &version, s->noise_step == 2 ? 0 : 1, msg,
                                        sizeof msg, &len);
    s->noise_step++;
    return err == CAIRN_OK ? frame_raw(s, msg, len) : err;
}

/* Whether this store holds no roster yet (it has joined, nothing more). */
static int roster_empty(cairn_sync_t *s)
{
    cairn_vec_entry_t *v = NULL;
    size_t n = 1;
    if (cairn_plan_vector(s->store, s->roster_plan, &v, &n) != CAIRN_OK)
        n = 1;
    free(v);
    return n == 0;
}

/*
 * The peer is on our roster now, or the session ends here. A node that has
 * joined but holds no roster yet admits the peer provisionally: it offers
 * nothing (its set is empty, so no plan of ours flows) and takes the roster,
 * whose changes prove themselves (signed by the organisation's key); the
 * peer is judged again as they arrive.
 */
static void admit_peer(cairn_sync_t *s)
{
    memcpy(s->peer, cairn_noise_remote_key(&s->noise), 32);
    s->has_peer = 1;
    cairn_reason_t why;
    cairn_err_t err = cairn_roster_member(s->store, s->peer, s->now, &s->peer_roles, &why);
    if (err == CAIRN_EDENIED && why == CAIRN_REASON_UNKNOWN_AUTHOR && roster_empty(s)) {
        s->provisional = 1;
        return;
    }
    if (err == CAIRN_OK)
        return;
    /* With the channel up (responder), the refusal is sent, encrypted. */
    if (cairn_noise_done(&s->noise))
        s->state = CAIRN_SYNC_RUNNING;
    cairn_sync_close(s, err == CAIRN_EDENIED ? CAIRN_CLOSE_UNKNOWN_PEER : CAIRN_CLOSE_STORE);
}

static void hs_read(cairn_sync_t *s, const uint8_t *p, size_t n)
{
    uint8_t payload[64];
    size_t plen;
    cairn_err_t err = cairn_noise_read(&s->noise, p, n, payload, sizeof payload, &plen);
    s->noise_step++;
    if (err != CAIRN_OK) {
        cairn_sync_close(s, err == CAIRN_EBADKEY ? CAIRN_CLOSE_AUTH : CAIRN_CLOSE_PROTOCOL);
        return;
    }
    if (s->noise_step == 1) { /* responder read message 1: pick a version */
        s->version = 0;
        for (size_t i = 0; i < plen; i++)
            if (payload[i] == CAIRN_SYNC_VERSION)
                s->version = CAIRN_SYNC_VERSION;
    } else if (s->noise_step == 2) { /* initiator read message 2 */
        s->version = plen == 1 ? payload[0] : 0;
    }
    if (s->noise_step == 2 && s->version != CAIRN_SYNC_VERSION) {
        s->reason = CAIRN_CLOSE_VERSION;
        s->state = CAIRN_SYNC_CLOSED;
        return;
    }
    if (s->noise_step == 2) /* judge the responder before message 3 reveals who we are */
        admit_peer(s);
}

/* Move the handshake on: write while it is our turn. */
static cairn_err_t hs_advance(cairn_sync_t *s)
{
    while (s->state == CAIRN_SYNC_HANDSHAKE && !cairn_noise_done(&s->noise) &&
           cairn_noise_my_turn(&s->noise)) {
        cairn_err_t err = hs_write(s);
        if (err != CAIRN_OK)
            return err;
        if (!s->opts.initiator && s->version == 0) { /* told the peer: no common version */
            s->state = CAIRN_SYNC_CLOSED;
            s->reason = CAIRN_CLOSE_VERSION;
        }
    }
    if (s->state == CAIRN_SYNC_HANDSHAKE && cairn_noise_done(&s->noise)) {
        if (!s->opts.initiator)
            admit_peer(s); /* the responder knows the initiator from message 3 */
        if (s->state == CAIRN_SYNC_HANDSHAKE) {
            s->state = CAIRN_SYNC_RUNNING;
            return cairn_turn_start(s);
        }
    }
    return CAIRN_OK;
}

/* ---- input ------------------------------------------------------------------------ */

static cairn_err_t on_frame(cairn_sync_t *s, const uint8_t *p, size_t n)
{
    s->stats.frames_in++;
    if (s->state == CAIRN_SYNC_HANDSHAKE) {
        hs_read(s, p, n);
        return s->state == CAIRN_SYNC_HANDSHAKE ? hs_advance(s) : CAIRN_OK;
    }
    cairn_err_t err = cairn_buf_reserve(&s->plain, n);
    if (err != CAIRN_OK)
        return err;
    err = cairn_noise_decrypt(&s->noise, NULL, 0, p, n, s->plain.data);
    if (err != CAIRN_OK) {
        cairn_sync_close(s, err == CAIRN_EBADKEY ? CAIRN_CLOSE_AUTH : CAIRN_CLOSE_PROTOCOL);
        return CAIRN_OK;
    }
    return cairn_turn_frame(s, s->plain.data, n - CAIRN_NOISE_TAG_BYTES);
}

cairn_err_t cairn_sync_feed(cairn_sync_t *s, const uint8_t *bytes, size_t len, uint64_t now_ms)
{
    if (s == NULL || (bytes == NULL && len > 0))
        return CAIRN_EINVAL;
    s->now = now_ms;
    if (s->state == CAIRN_SYNC_DONE || s->state == CAIRN_SYNC_CLOSED)
        return CAIRN_OK;
    s->last_rx = now_ms;
    s->stats.bytes_in += len;
    cairn_err_t err = cairn_buf_reserve(&s->in, s->in.len + len);
    if (err != CAIRN_OK) {
        cairn_sync_close(s, CAIRN_CLOSE_STORE);
        return err;
    }
    memcpy(s->in.data + s->in.len, bytes, len);
    s->in.len += len;
    size_t off = 0;
    while (err == CAIRN_OK && s->in.len - off >= 4 &&
           (s->state == CAIRN_SYNC_HANDSHAKE || s->state == CAIRN_SYNC_RUNNING)) {
        const uint8_t *p = s->in.data + off;
        size_t n = (size_t)p[0] << 24 | (size_t)p[1] << 16 | (size_t)p[2] << 8 | p[3];
        if (n > CAIRN_SYNC_MAX_FRAME + CAIRN_NOISE_TAG_BYTES) {
            cairn_sync_close(s, CAIRN_CLOSE_TOO_BIG);
            break;
        }
        if (s->in.len - off - 4 < n)
            break; /* the rest of the frame has not arrived */
        off += 4 + n;
        err = on_frame(s, p + 4, n);
    }
    memmove(s->in.data, s->in.data + off, s->in.len - off);
    s->in.len -= off;
    if (err == CAIRN_OK && s->state == CAIRN_SYNC_RUNNING)
        err = cairn_turn_pump(s);
    if (err != CAIRN_OK)
        cairn_sync_close(s, CAIRN_CLOSE_STORE);
    return err;
}

cairn_err_t cairn_sync_tick(cairn_sync_t *s, uint64_t now_ms)
{
    if (s == NULL)
        return CAIRN_EINVAL;
    s->now = now_ms;
    if (s->state != CAIRN_SYNC_HANDSHAKE && s->state != CAIRN_SYNC_RUNNING)
        return CAIRN_OK;
    /* A clock that steps back is treated as no time passing. */
    uint64_t quiet_rx = now_ms > s->last_rx ? now_ms - s->last_rx : 0;
    uint64_t quiet_tx = now_ms > s->last_tx ? now_ms - s->last_tx : 0;
    if (quiet_rx >= s->opts.timeout_ms) {
        cairn_sync_close(s, CAIRN_CLOSE_TIMEOUT);
        return CAIRN_OK;
    }
    if (s->state == CAIRN_SYNC_RUNNING && quiet_tx >= s->opts.keepalive_ms)
        send_small(s, CAIRN_FRAME_PING, 0, 0);
    cairn_err_t err = s->state == CAIRN_SYNC_RUNNING ? cairn_turn_pump(s) : CAIRN_OK;
    if (err != CAIRN_OK)
        cairn_sync_close(s, CAIRN_CLOSE_STORE);
    return err;
}

/* ---- the rest of the API ------------------------------------------------------------ */

cairn_err_t cairn_sync_new(cairn_store_t *store, const cairn_sync_opts_t *opts,
                           cairn_sync_t **out)
{
    if (store == NULL || opts == NULL || out == NULL)
        return CAIRN_EINVAL;
    uint8_t org[32], prologue[sizeof "cairn sync v1" + 32];
    cairn_err_t err = cairn_org_key(store, org);
    if (err != CAIRN_OK)
        return err;
    cairn_sync_t *s = calloc(1, sizeof *s);
    uint8_t *sk = sodium_malloc(64);
    if (s == NULL || sk == NULL) {
        free(s);
        if (sk != NULL)
            sodium_free(sk);
        return CAIRN_ENOMEM;
    }
    s->store = store;
    s->opts = *opts;
    if (s->opts.keepalive_ms == 0)
        s->opts.keepalive_ms = DEFAULT_KEEPALIVE_MS;
    if (s->opts.timeout_ms == 0)
        s->opts.timeout_ms = DEFAULT_TIMEOUT_MS;
    if (s->opts.output_limit == 0)
        s->opts.output_limit = DEFAULT_OUTPUT_LIMIT;
    s->now = s->last_rx = s->last_tx = opts->now_ms;
    s->version = CAIRN_SYNC_VERSION;
    /* The organisation is in the prologue: another organisation's node cannot finish. */
    memcpy(prologue, "cairn sync v1", sizeof "cairn sync v1");
    memcpy(prologue + sizeof "cairn sync v1", org, 32);
    cairn_roster_plan_id(org, s->roster_plan);
    err = cairn_store_identity_secret(store, sk);
    if (err == CAIRN_OK)
        err = cairn_noise_init(&s->noise, opts->initiator, sk, prologue, sizeof prologue,
                               opts->ephemeral_seed);
    sodium_free(sk);
    if (err == CAIRN_OK)
        err = hs_advance(s);
    if (err != CAIRN_OK) {
        cairn_sync_free(s);
        return err;
    }
    *out = s;
    return CAIRN_OK;
}

void cairn_sync_free(cairn_sync_t *s)
{
    if (s == NULL)
        return;
    cairn_turn_reset(s);
    cairn_recon_free(&s->mine);
    cairn_noise_wipe(&s->noise);
    cairn_buf_free(&s->in);
    cairn_buf_free(&s->out);
    cairn_buf_free(&s->plain);
    cairn_buf_free(&s->scratch);
    free(s);
}

const uint8_t *cairn_sync_output(const cairn_sync_t *s, size_t *len)
{
    *len = s->out.len - s->out_head;
    return *len ? s->out.data + s->out_head : NULL;
}

cairn_err_t cairn_sync_consumed(cairn_sync_t *s, size_t n)
{
    if (s == NULL || n > s->out.len - s->out_head)
        return CAIRN_EINVAL;
    s->out_head += n;
    if (s->out_head == s->out.len)
        s->out.len = s->out_head = 0;
    else if (s->out_head > s->out.len / 2) { /* keep the buffer from creeping */
        memmove(s->out.data, s->out.data + s->out_head, s->out.len - s->out_head);
        s->out.len -= s->out_head;
        s->out_head = 0;
    }
    cairn_err_t err = s->state == CAIRN_SYNC_RUNNING ? cairn_turn_pump(s) : CAIRN_OK;
    if (err != CAIRN_OK)
        cairn_sync_close(s, CAIRN_CLOSE_STORE);
    return err;
}

cairn_sync_state_t cairn_sync_state(const cairn_sync_t *s)
{
    return s->state;
}

cairn_close_reason_t cairn_sync_close_reason(const cairn_sync_t *s)
{
    return s->reason;
}

const uint8_t *cairn_sync_peer(const cairn_sync_t *s)
{
    return s->has_peer ? s->peer : NULL;
}

void cairn_sync_get_stats(const cairn_sync_t *s, cairn_sync_stats_t *out)
{
    *out = s->stats;
}
