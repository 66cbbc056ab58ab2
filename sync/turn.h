/*
 * turn.h - reconciliation turns, as a state of their own (private).
 *
 * session.c owns a cairn_turn_t and calls in; turn.c reads the store, sends
 * its frames through the session's channel, and reports what it found as
 * an outcome. It never ends the session, never writes the session's state
 * and never calls back into session.c: a CLOSE to send, a peer that closed,
 * received changes to ingest are outcomes the session acts on.
 */
#ifndef CAIRN_SYNC_TURN_H
#define CAIRN_SYNC_TURN_H

#include "cairn/buf.h"
#include "cairn/replica.h"
#include "cairn/sync.h"
#include "channel.h"
#include "recon.h"

/* Frame types: the first element of a transport frame's MessagePack array. */
enum {
    CAIRN_FRAME_CHANGES = 1, /* [1, [change bytes...]] */
    CAIRN_FRAME_TURN = 2,    /* [2, ranges, items, vecs, wants, alls] */
    CAIRN_FRAME_PING = 3,    /* [3] */
    CAIRN_FRAME_PONG = 4,    /* [4] */
    CAIRN_FRAME_CLOSE = 5,   /* [5, reason] */
};

/* What a call into the turn logic asks of the session. */
typedef enum cairn_turn_outcome {
    CAIRN_TURN_CONTINUE = 0, /* nothing: go on */
    CAIRN_TURN_CHANGES,      /* a CHANGES frame arrived: its changes are in the inbox */
    CAIRN_TURN_DONE,         /* neither side has anything left: end with done */
    CAIRN_TURN_CLOSE,        /* end the session for reason, telling the peer */
    CAIRN_TURN_PEER_CLOSED,  /* the peer closed for reason: end without a word */
} cairn_turn_outcome_t;

typedef struct cairn_turn_result {
    cairn_turn_outcome_t outcome;
    cairn_close_reason_t reason; /* CLOSE and PEER_CLOSED */
} cairn_turn_result_t;

/*
 * Changes received in one CHANGES frame, copied out of the frame: bytes[i]
 * (lens[i] of them) point into data. Owned by whoever holds the inbox (the
 * session); cairn__turn_frame refills it.
 */
typedef struct cairn_inbox {
    cairn_buf_t data;
    const uint8_t **bytes;
    size_t *lens;
    size_t n, cap;
} cairn_inbox_t;

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

/* The reconciliation of one session. Zeroed by its owner; fields private to turn.c. */
typedef struct cairn_turn {
    cairn_store_t *store;
    uint8_t roster_plan[CAIRN_PLAN_ID_BYTES]; /* the organisation's roster: pushed first */
    uint8_t peer[32];
    unsigned peer_roles;
    int initiator;
    cairn_recon_set_t mine; /* the plans we hold that the peer may hold */
    cairn_push_t *pushes;   /* plans still to send this turn, roster first */
    size_t npush, push_at, cap_push;
    cairn_cursor_t *cursor; /* streaming pushes[push_at] */
    cairn_reply_t reply;
    int turn_due;    /* our TURN goes out once the pushes are sent */
    int peer_asked;  /* the peer's last TURN asked something */
    cairn_buf_t chg; /* the CHANGES frame being filled: its changes end to end */
    size_t *chg_len, nchg, cap_chg;
    uint64_t turns, changes_out, change_bytes_out, changes_in, change_bytes_in;
    uint64_t plans_out; /* plans of which at least one change was pushed */
} cairn_turn_t;

/*
 * After the handshake: build the set of plans the peer may hold (none when
 * offer is 0: a provisionally admitted peer gets nothing), and, on the
 * initiator, produce the opening TURN into ch. Errors: the store's, ENOMEM.
 */
cairn_err_t cairn__turn_start(cairn_turn_t *t, cairn_channel_t *ch, cairn_store_t *store,
                              const uint8_t roster_plan[CAIRN_PLAN_ID_BYTES],
                              const uint8_t peer[32], unsigned peer_roles, int initiator, int offer,
                              size_t output_limit, cairn_turn_result_t *res);

/*
 * One decrypted transport frame (p, n bytes). A CHANGES frame's changes are
 * copied into inbox (outcome CHANGES); a PING is answered through ch.
 * Errors: local failures only (ENOMEM, the store's); a bad frame is the
 * outcome CLOSE with reason protocol.
 */
cairn_err_t cairn__turn_frame(cairn_turn_t *t, cairn_channel_t *ch, const uint8_t *p, size_t n,
                              cairn_inbox_t *inbox, cairn_turn_result_t *res);

/*
 * Produce output while fewer than output_limit bytes are unsent in ch:
 * pushed changes, frame by frame, and then, if may_turn, our TURN (or the
 * outcome DONE when neither side has anything left).
 */
cairn_err_t cairn__turn_pump(cairn_turn_t *t, cairn_channel_t *ch, size_t output_limit,
                             int may_turn, cairn_turn_result_t *res);

/* Drop pushes, the reply, the cursor and buffers; the set stays. */
void cairn__turn_reset(cairn_turn_t *t);
/* cairn__turn_reset and the set: t is then empty. */
void cairn__turn_free(cairn_turn_t *t);

/* Release an inbox's memory (wiping the bytes). */
void cairn__inbox_free(cairn_inbox_t *inbox);

#endif
