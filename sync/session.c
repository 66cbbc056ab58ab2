/*
 * session.c - the sync session: its owner, its state, its one way to end.
 *
 * A session is three parts with one owner. The channel (channel.c) turns
 * bytes into frames and back under Noise; the turn logic (turn.c) reads
 * the store and decides what to ask and push; this file runs the handshake,
 * admits the peer, feeds frames to the turn logic, acts on the outcomes it
 * returns, and is the only writer of the session's state and close reason.
 * Every end goes through end_session().
 *
 * The work boundary: a CHANGES frame is not ingested here. Its changes are
 * copied into the inbox and handed to the caller as work
 * (cairn_sync_work); until the caller reports it done (cairn_sync_work_done)
 * the session takes no further frame from its input and sends no TURN, so a
 * turn never answers before the changes it follows are in the store. Feed,
 * tick and consumed therefore never commit to disk: an event loop may call
 * them for many peers and run the ingests elsewhere.
 */
#include "cairn/sync.h"

#include "cairn/identity.h"
#include "cairn/ingest.h"
#include "cairn/replica.h"
#include "channel.h"
#include "turn.h"

#include <stdlib.h>
#include <string.h>

#define DEFAULT_KEEPALIVE_MS 15000u
#define DEFAULT_TIMEOUT_MS 60000u
#define DEFAULT_OUTPUT_LIMIT ((size_t)4 << 20)

struct cairn_sync {
    cairn_store_t *store;
    cairn_sync_opts_t opts;
    cairn_sync_state_t state;
    cairn_close_reason_t reason;
    uint64_t now, last_rx, last_tx;
    uint64_t frames_seen; /* frames_out at the last look: a change means we sent */
    cairn_channel_t ch;
    int noise_step; /* handshake messages written or read */
    uint8_t version;
    uint8_t peer[32];
    int has_peer;
    int admitted; /* the peer passed the roster check (or was admitted provisionally) */
    unsigned peer_roles;
    uint8_t roster_plan[CAIRN_PLAN_ID_BYTES];
    int provisional; /* admitted without a roster of our own: we offer nothing */
    cairn_turn_t turn;
    cairn_inbox_t inbox; /* the changes of the work handed out */
    int work_out;        /* inbox is work the caller has not reported done */
    uint64_t applied, duplicate, pending, rejected;
};

static const char *const close_names[CAIRN_CLOSE_REASON__COUNT] = {
    "done", "protocol", "auth", "unknown-peer", "version", "timeout", "too-big", "store", "by-peer",
};

const char *cairn_close_reason_name(cairn_close_reason_t reason)
{
    return (unsigned)reason < CAIRN_CLOSE_REASON__COUNT ? close_names[reason] : "unknown";
}

static int session_live(const cairn_sync_t *s)
{
    return s->state == CAIRN_SYNC_HANDSHAKE || s->state == CAIRN_SYNC_RUNNING;
}

/* ---- the one close path ------------------------------------------------------------- */

/*
 * End the session for reason. tell: send CLOSE(reason) when the channel is
 * up (not after a peer's own CLOSE, nor for auth: that channel is not to be
 * trusted). Idempotent. Outstanding work is left alone: its changes stay
 * valid until cairn_sync_work_done or cairn_sync_free.
 */
static void end_session(cairn_sync_t *s, cairn_close_reason_t reason, int tell)
{
    if (!session_live(s))
        return;
    if (tell && reason != CAIRN_CLOSE_AUTH && cairn__channel_up(&s->ch)) {
        const uint8_t close[3] = {0x92, CAIRN_FRAME_CLOSE, (uint8_t)reason}; /* small fixints */
        (void)cairn__channel_send(&s->ch, close, sizeof close); /* best effort: we end anyway */
    }
    s->state = reason == CAIRN_CLOSE_DONE ? CAIRN_SYNC_DONE : CAIRN_SYNC_CLOSED;
    s->reason = reason;
    cairn__turn_reset(&s->turn);
}

void cairn_sync_close(cairn_sync_t *s, cairn_close_reason_t reason)
{
    if (s != NULL && (unsigned)reason < CAIRN_CLOSE_REASON__COUNT)
        end_session(s, reason, 1);
}

/* Act on what the turn logic found. */
static void act(cairn_sync_t *s, const cairn_turn_result_t *res)
{
    switch (res->outcome) {
    case CAIRN_TURN_CONTINUE:
        break;
    case CAIRN_TURN_CHANGES:
        s->work_out = 1;
        break;
    case CAIRN_TURN_DONE:
        end_session(s, CAIRN_CLOSE_DONE, 1);
        break;
    case CAIRN_TURN_CLOSE:
        end_session(s, res->reason, 1);
        break;
    case CAIRN_TURN_PEER_CLOSED:
        end_session(s, res->reason, 0);
        break;
    }
}

/* ---- handshake -------------------------------------------------------------------- */

/* Payloads: message 1 lists our versions, message 2 names the one chosen. */
static cairn_err_t hs_write(cairn_sync_t *s)
{
    /* Messages 1 and 2 carry a version (0 from a responder: none in common); 3 nothing. */
    uint8_t version = s->opts.initiator ? (uint8_t)CAIRN_SYNC_VERSION : s->version;
    cairn_err_t err = cairn__channel_hs_write(&s->ch, &version, s->noise_step == 2 ? 0 : 1);
    s->noise_step++;
    return err;
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
 * peer is judged again as they are ingested (cairn_sync_work_done).
 */
static void admit_peer(cairn_sync_t *s)
{
    memcpy(s->peer, cairn__channel_peer_key(&s->ch), 32);
    s->has_peer = 1;
    cairn_reason_t why;
    cairn_err_t err = cairn_roster_member(s->store, s->peer, s->now, &s->peer_roles, &why);
    if (err == CAIRN_EDENIED && why == CAIRN_REASON_UNKNOWN_AUTHOR && roster_empty(s)) {
        s->provisional = s->admitted = 1;
        return;
    }
    if (err == CAIRN_OK) {
        s->admitted = 1;
        return;
    }
    /* With the channel up (responder), the refusal is sent, encrypted. */
    end_session(s, err == CAIRN_EDENIED ? CAIRN_CLOSE_UNKNOWN_PEER : CAIRN_CLOSE_STORE, 1);
}

static void hs_read(cairn_sync_t *s, const uint8_t *p, size_t n)
{
    uint8_t payload[64];
    size_t plen;
    cairn_err_t err = cairn__channel_hs_read(&s->ch, p, n, payload, sizeof payload, &plen);
    s->noise_step++;
    if (err != CAIRN_OK) {
        end_session(s, err == CAIRN_EBADKEY ? CAIRN_CLOSE_AUTH : CAIRN_CLOSE_PROTOCOL, 1);
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
        end_session(s, CAIRN_CLOSE_VERSION, 1); /* no channel yet: nothing is sent */
        return;
    }
    if (s->noise_step == 2) /* judge the responder before message 3 reveals who we are */
        admit_peer(s);
}

/* Running: build the set and, on the initiator, send the opening turn. */
static cairn_err_t start_turns(cairn_sync_t *s)
{
    cairn_turn_result_t res;
    s->state = CAIRN_SYNC_RUNNING;
    cairn_err_t err =
        cairn__turn_start(&s->turn, &s->ch, s->store, s->roster_plan, s->peer, s->peer_roles,
                          s->opts.initiator, !s->provisional, s->opts.output_limit, &res);
    if (err == CAIRN_OK)
        act(s, &res);
    return err;
}

/* Move the handshake on: write while it is our turn. */
static cairn_err_t hs_advance(cairn_sync_t *s)
{
    while (s->state == CAIRN_SYNC_HANDSHAKE && !cairn__channel_up(&s->ch) &&
           cairn__channel_hs_my_turn(&s->ch)) {
        cairn_err_t err = hs_write(s);
        if (err != CAIRN_OK)
            return err;
        if (!s->opts.initiator && s->version == 0) /* told the peer: no common version */
            end_session(s, CAIRN_CLOSE_VERSION, 1);
    }
    if (s->state == CAIRN_SYNC_HANDSHAKE && cairn__channel_up(&s->ch)) {
        if (!s->opts.initiator)
            admit_peer(s); /* the responder knows the initiator from message 3 */
        if (s->state == CAIRN_SYNC_HANDSHAKE)
            return start_turns(s);
    }
    return CAIRN_OK;
}

/* ---- input ------------------------------------------------------------------------ */

static cairn_err_t on_frame(cairn_sync_t *s, const uint8_t *body, size_t n)
{
    if (s->state == CAIRN_SYNC_HANDSHAKE) {
        hs_read(s, body, n);
        return s->state == CAIRN_SYNC_HANDSHAKE ? hs_advance(s) : CAIRN_OK;
    }
    const uint8_t *plain;
    size_t plen;
    cairn_err_t err = cairn__channel_open(&s->ch, body, n, &plain, &plen);
    if (err == CAIRN_ENOMEM)
        return err;
    if (err != CAIRN_OK) {
        end_session(s, err == CAIRN_EBADKEY ? CAIRN_CLOSE_AUTH : CAIRN_CLOSE_PROTOCOL, 1);
        return CAIRN_OK;
    }
    cairn_turn_result_t res;
    err = cairn__turn_frame(&s->turn, &s->ch, plain, plen, &s->inbox, &res);
    if (err == CAIRN_OK)
        act(s, &res);
    return err;
}

/* Take and process buffered frames, until none is complete or work is out. */
static cairn_err_t drain(cairn_sync_t *s)
{
    cairn_err_t err = CAIRN_OK;
    while (err == CAIRN_OK && session_live(s) && !s->work_out) {
        const uint8_t *body;
        size_t n;
        int got = cairn__channel_next(&s->ch, &body, &n);
        if (got == 0)
            break;
        if (got < 0) {
            end_session(s, CAIRN_CLOSE_TOO_BIG, 1);
            break;
        }
        err = on_frame(s, body, n);
    }
    return err;
}

/* Produce output: pushes under the limit, and our TURN unless work is out. */
static cairn_err_t pump(cairn_sync_t *s)
{
    if (s->state != CAIRN_SYNC_RUNNING)
        return CAIRN_OK;
    cairn_turn_result_t res;
    cairn_err_t err = cairn__turn_pump(&s->turn, &s->ch, s->opts.output_limit, !s->work_out, &res);
    if (err == CAIRN_OK)
        act(s, &res);
    return err;
}

/* The end of every call that may produce: a local failure closes; note a send. */
static cairn_err_t finish(cairn_sync_t *s, cairn_err_t err)
{
    if (err != CAIRN_OK)
        end_session(s, CAIRN_CLOSE_STORE, 1);
    if (s->ch.frames_out != s->frames_seen) {
        s->frames_seen = s->ch.frames_out;
        s->last_tx = s->now;
    }
    return err;
}

cairn_err_t cairn_sync_feed(cairn_sync_t *s, const uint8_t *bytes, size_t len, uint64_t now_ms)
{
    if (s == NULL || (bytes == NULL && len > 0))
        return CAIRN_EINVAL;
    s->now = now_ms;
    if (!session_live(s))
        return CAIRN_OK; /* after the end nothing is read */
    /*
     * Heard from means a whole frame arrived, not a byte: a peer that
     * trickles bytes, or a length field altered on the way (the AEAD covers
     * bodies, not lengths) that leaves us waiting for bytes that never come
     * while PINGs keep trickling in, must still time out.
     */
    uint64_t frames = s->ch.frames_in;
    cairn_err_t err = cairn__channel_append(&s->ch, bytes, len);
    if (err == CAIRN_OK)
        err = drain(s);
    if (s->ch.frames_in != frames)
        s->last_rx = now_ms;
    if (err == CAIRN_OK)
        err = pump(s);
    return finish(s, err);
}

int cairn_sync_wants_input(const cairn_sync_t *s)
{
    if (s == NULL || !session_live(s))
        return 0;
    return !s->work_out || cairn__channel_buffered(&s->ch) < CAIRN_SYNC_INPUT_BOUND;
}

cairn_err_t cairn_sync_tick(cairn_sync_t *s, uint64_t now_ms)
{
    if (s == NULL)
        return CAIRN_EINVAL;
    s->now = now_ms;
    if (!session_live(s))
        return CAIRN_OK;
    /* A clock that steps back is treated as no time passing. */
    uint64_t quiet_rx = now_ms > s->last_rx ? now_ms - s->last_rx : 0;
    uint64_t quiet_tx = now_ms > s->last_tx ? now_ms - s->last_tx : 0;
    /*
     * While our own work is out the caller may have stopped reading (wants
     * input is 0): silence then is ours, not the peer's. The clock restarts
     * when the work is done.
     */
    /* A stranger gets a bounded time to prove who it is, however it trickles bytes. */
    uint64_t age = now_ms > s->opts.now_ms ? now_ms - s->opts.now_ms : 0;
    if (s->state == CAIRN_SYNC_HANDSHAKE && age >= CAIRN_SYNC_HANDSHAKE_MS) {
        end_session(s, CAIRN_CLOSE_TIMEOUT, 1);
        return finish(s, CAIRN_OK);
    }
    if (!s->work_out && quiet_rx >= s->opts.timeout_ms) {
        end_session(s, CAIRN_CLOSE_TIMEOUT, 1);
        return finish(s, CAIRN_OK);
    }
    cairn_err_t err = CAIRN_OK;
    if (s->state == CAIRN_SYNC_RUNNING && quiet_tx >= s->opts.keepalive_ms) {
        const uint8_t ping[2] = {0x91, CAIRN_FRAME_PING};
        err = cairn__channel_send(&s->ch, ping, sizeof ping);
    }
    if (err == CAIRN_OK)
        err = pump(s);
    return finish(s, err);
}

/* ---- the work boundary --------------------------------------------------------------- */

int cairn_sync_work(const cairn_sync_t *s, cairn_sync_work_t *work)
{
    if (work != NULL)
        memset(work, 0, sizeof *work);
    if (s == NULL || work == NULL || !s->work_out)
        return 0;
    work->bytes = s->inbox.bytes;
    work->lens = s->inbox.lens;
    work->n = s->inbox.n;
    return 1;
}

cairn_err_t cairn_sync_work_done(cairn_sync_t *s, cairn_err_t err,
                                 const cairn_ingest_stats_t *stats)
{
    if (s == NULL || !s->work_out)
        return CAIRN_EINVAL;
    s->work_out = 0;
    s->inbox.n = 0;
    s->last_rx = s->now > s->last_rx ? s->now : s->last_rx; /* the quiet was ours */
    if (err != CAIRN_OK) { /* nothing of it was committed: the next session sends it again */
        end_session(s, CAIRN_CLOSE_STORE, 1);
        return finish(s, CAIRN_OK);
    }
    if (stats != NULL) {
        s->applied += stats->applied;
        s->duplicate += stats->duplicate;
        s->pending += stats->pending;
        s->rejected += stats->rejected;
    }
    if (!session_live(s))
        return finish(s, CAIRN_OK);
    if (s->provisional &&
        cairn_roster_member(s->store, s->peer, s->now, &s->peer_roles, NULL) == CAIRN_OK)
        s->provisional = 0; /* the roster we were sent vouches for the peer */
    err = drain(s);
    if (err == CAIRN_OK)
        err = pump(s);
    return finish(s, err);
}

/* ---- the rest of the API ------------------------------------------------------------ */

/* The handshake's static DH, done by the store: the identity secret stays in libcairn. */
static cairn_err_t identity_dh(const void *ctx, const uint8_t peer[32], uint8_t shared[32])
{
    return cairn_store_identity_dh(ctx, peer, shared);
}

cairn_err_t cairn_sync_new(cairn_store_t *store, const cairn_sync_opts_t *opts, cairn_sync_t **out)
{
    if (store == NULL || opts == NULL || out == NULL)
        return CAIRN_EINVAL;
    uint8_t org[32], prologue[sizeof "cairn sync v1" + 32];
    cairn_store_info_t info;
    cairn_err_t err = cairn_org_key(store, org);
    if (err == CAIRN_OK)
        err = cairn_store_info(store, &info);
    if (err != CAIRN_OK)
        return err;
    cairn_sync_t *s = calloc(1, sizeof *s);
    if (s == NULL)
        return CAIRN_ENOMEM;
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
    cairn_noise_static_t key = {{0}, 0, identity_dh, store};
    memcpy(key.pub, info.public_key, 32);
    err = cairn__channel_init(&s->ch, opts->initiator, &key, prologue, sizeof prologue,
                              opts->ephemeral_seed, CAIRN_SYNC_MAX_FRAME);
    if (err == CAIRN_OK)
        err = finish(s, hs_advance(s));
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
    cairn__turn_free(&s->turn);
    cairn__channel_free(&s->ch);
    cairn__inbox_free(&s->inbox);
    free(s);
}

const uint8_t *cairn_sync_output(const cairn_sync_t *s, size_t *len)
{
    return cairn__channel_output(&s->ch, len);
}

cairn_err_t cairn_sync_consumed(cairn_sync_t *s, size_t n)
{
    if (s == NULL)
        return CAIRN_EINVAL;
    cairn_err_t err = cairn__channel_consumed(&s->ch, n);
    if (err != CAIRN_OK)
        return err;
    return finish(s, pump(s));
}

cairn_sync_state_t cairn_sync_state(const cairn_sync_t *s)
{
    return s->state;
}

cairn_close_reason_t cairn_sync_close_reason(const cairn_sync_t *s)
{
    return s->reason;
}

int cairn_sync_admitted(const cairn_sync_t *s)
{
    return s != NULL && s->admitted;
}

const uint8_t *cairn_sync_peer(const cairn_sync_t *s)
{
    return s->has_peer ? s->peer : NULL;
}

void cairn_sync_get_stats(const cairn_sync_t *s, cairn_sync_stats_t *out)
{
    memset(out, 0, sizeof *out);
    out->bytes_in = s->ch.bytes_in;
    out->bytes_out = s->ch.bytes_out;
    out->frames_in = s->ch.frames_in;
    out->frames_out = s->ch.frames_out;
    out->turns = s->turn.turns;
    out->changes_in = s->turn.changes_in;
    out->change_bytes_in = s->turn.change_bytes_in;
    out->changes_out = s->turn.changes_out;
    out->change_bytes_out = s->turn.change_bytes_out;
    out->applied = s->applied;
    out->duplicate = s->duplicate;
    out->pending = s->pending;
    out->rejected = s->rejected;
    out->plans_out = s->turn.plans_out;
}
