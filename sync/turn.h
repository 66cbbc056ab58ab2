/*
 * turn.h - the session's state, shared by its two halves (private):
 * session.c (handshake, frames, the API) and turn.c (reconciliation).
 */
#ifndef CAIRN_SYNC_TURN_H
#define CAIRN_SYNC_TURN_H

#include "cairn/buf.h"
#include "cairn/replica.h"
#include "cairn/sync.h"
#include "noise.h"
#include "recon.h"

/* Frame types: the first element of a frame's MessagePack array. */
enum {
    CAIRN_FRAME_CHANGES = 1, /* [1, [change bytes...]] */
    CAIRN_FRAME_TURN = 2,    /* [2, ranges, items, vecs, wants, alls] */
    CAIRN_FRAME_PING = 3,    /* [3] */
    CAIRN_FRAME_PONG = 4,    /* [4] */
    CAIRN_FRAME_CLOSE = 5,   /* [5, reason] */
};

/* Changes of one plan to send, and the peer's vector for it (none: all). */
typedef struct cairn_push {
    uint8_t plan[CAIRN_PLAN_ID_BYTES];
    cairn_vec_entry_t *vec;
    size_t nvec;
} cairn_push_t;

/* A plan's vector, asked about or answered with. */
typedef struct cairn_plan_vec {
    uint8_t plan[CAIRN_PLAN_ID_BYTES];
    cairn_vec_entry_t *vec;
    size_t nvec;
} cairn_plan_vec_t;

typedef struct cairn_range_fp {
    cairn_recon_range_t r;
    uint64_t count;
    uint8_t fp[CAIRN_RECON_FP_BYTES];
} cairn_range_fp_t;

/* The next TURN this side will send, built while reading the peer's. */
typedef struct cairn_reply {
    cairn_range_fp_t *ranges;
    size_t nranges, cap_ranges;
    cairn_recon_range_t *item_ranges; /* our items in each */
    size_t nitems, cap_items;
    cairn_plan_vec_t *vecs, *wants;
    size_t nvecs, cap_vecs, nwants, cap_wants;
    cairn_recon_range_t *alls;
    size_t nalls, cap_alls;
    size_t est; /* an upper estimate of the encoded size */
} cairn_reply_t;

struct cairn_sync {
    cairn_store_t *store;
    cairn_sync_opts_t opts;
    cairn_sync_state_t state;
    cairn_close_reason_t reason;
    uint64_t now, last_rx, last_tx;
    cairn_noise_t noise;
    int noise_step; /* handshake messages written or read */
    uint8_t version;
    uint8_t peer[32];
    int has_peer;
    unsigned peer_roles;
    uint8_t roster_plan[CAIRN_PLAN_ID_BYTES]; /* the organisation's roster: pushed first */
    int provisional; /* admitted without a roster of our own: we offer nothing */
    cairn_buf_t in, out, plain, scratch;
    size_t out_head;
    cairn_sync_stats_t stats;

    /* reconciliation */
    int have_set;           /* mine is built (after the handshake) */
    cairn_recon_set_t mine; /* the plans we hold that the peer may hold */
    cairn_push_t *pushes;   /* changes still to send this turn, roster first */
    size_t npush, push_at, cap_push;
    cairn_reply_t reply;
    int turn_due;      /* our TURN goes out once the pushes are sent */
    int peer_asked;    /* the peer's last TURN asked something */
    cairn_buf_t chg;   /* the CHANGES frame being filled: its changes end to end */
    size_t *chg_len, nchg, cap_chg;
};

/* Send plain as one encrypted frame. */
cairn_err_t cairn_sync_send(cairn_sync_t *s, const uint8_t *plain, size_t n);
/* End the session for reason (sent to the peer when the channel is up). */
void cairn_sync_close(cairn_sync_t *s, cairn_close_reason_t reason);

/* turn.c: first turn after the handshake; one decrypted frame; produce output. */
cairn_err_t cairn_turn_start(cairn_sync_t *s);
cairn_err_t cairn_turn_frame(cairn_sync_t *s, const uint8_t *p, size_t n);
cairn_err_t cairn_turn_pump(cairn_sync_t *s);
void cairn_turn_reset(cairn_sync_t *s);

#endif
