/*
 * conn.h - one TCP connection carrying one sync session (private to service/).
 *
 * The pump between a socket and a sans-I/O session (cairn/sync.h): bytes
 * read are fed in, the session's output is copied out and written (one
 * write at a time, so the session's output limit bounds what is buffered),
 * reading stops while cairn_sync_wants_input() says so, and each piece of
 * ingest work goes to the writer thread, one at a time per session, its
 * report coming back through the job's callback. Used by the service and
 * by the one-shot client alike, on the loop thread only.
 *
 * Life: cairn__svc_conn_new (then cairn__svc_conn_accept or cairn__svc_conn_connect), pumped by
 * events; when the session has ended, its output is sent and no work is
 * with the writer, the socket is closed and ops->ended runs once; the
 * owner frees the connection there or later with cairn__svc_conn_free.
 */
#ifndef CAIRN_SERVICE_CONN_H
#define CAIRN_SERVICE_CONN_H

#include <uv.h>

#include "writer.h"

typedef struct svc_conn svc_conn_t;

typedef struct svc_conn_ops {
    void (*authenticated)(svc_conn_t *c); /* the peer was admitted (c->peer) */
    void (*ended)(svc_conn_t *c);         /* everything is over: log, record, free */
} svc_conn_ops_t;

typedef enum svc_end {
    SVC_END_SESSION = 0, /* the session ended; see its close reason */
    SVC_END_LOST,        /* the connection broke while the session was live */
    SVC_END_CONNECT,     /* the connection could not be made */
    SVC_END_LOCAL,       /* a local failure (c->local_err) */
} svc_end_t;

struct svc_conn {
    uv_tcp_t tcp;
    uv_connect_t connect_req;
    uv_write_t write_req;
    cairn_sync_t *s;
    cairn_store_t *store;
    svc_writer_t *writer;
    const svc_conn_ops_t *ops;
    void *owner;             /* the service or the client */
    void *peer_slot;         /* the service's configured peer this dial is for, or NULL */
    svc_conn_t *prev, *next; /* the owner's list */
    svc_conn_t *dead_next;   /* the owner's list of ended connections, freed later */
    svc_job_t job;           /* the one ingest job a session has at a time */
    char rbuf[65536];
    uint8_t *wbuf;
    size_t wcap;
    int initiator;
    int tcp_inited, tcp_open, connecting, reading, writing, work_queued, finished;
    int duplicate; /* closed to keep one session per pair of nodes */
    svc_end_t end;
    cairn_err_t local_err;
    uint8_t peer[CAIRN_PUBLIC_KEY_BYTES];
    int peer_known;        /* peer holds the key the handshake authenticated */
    int admitted;          /* and the roster admitted it: only then is it recorded */
    uint64_t write_since;  /* loop time the pending write began (0: none) */
    uint64_t started_ms;   /* loop time */
    uint64_t started_wall; /* Unix ms */
    uint64_t rejected[CAIRN_REASON__COUNT]; /* received changes rejected, by reason */
    uint64_t applied, ingest_rejected;
    uint64_t plans_in; /* distinct plans received, when counted (count_plans) */
    int count_plans;
    uint8_t (*plans)[CAIRN_PLAN_ID_BYTES];
    size_t nplans, plans_cap;
};

/*
 * A connection over store for a session (initiator or responder) created
 * at loop time now. 0, or a cairn error (the session could not be made).
 */
/*
 * What a process needs before it runs connections over store: the store in
 * an organisation (CAIRN_ENOORG), libsodium (CAIRN_ECRYPTO), and SIGPIPE
 * ignored, so that a write to a connection the peer reset fails with EPIPE
 * instead of killing the process (libuv writes with write(2)).
 */
cairn_err_t cairn__svc_prepare(cairn_store_t *store);

cairn_err_t cairn__svc_conn_new(uv_loop_t *loop, cairn_store_t *store, svc_writer_t *writer,
                                const svc_conn_ops_t *ops, int initiator, uint64_t timeout_ms,
                                svc_conn_t **out);

/* Accept a pending connection from server into c and start. 0 or a libuv error. */
int cairn__svc_conn_accept(svc_conn_t *c, uv_stream_t *server);

/* Connect c to addr and start once connected. 0 or a libuv error (then nothing is pending). */
int cairn__svc_conn_connect(svc_conn_t *c, const struct sockaddr *addr);

/* Time passes: the session's keepalive and timeout. */
void cairn__svc_conn_tick(svc_conn_t *c, uint64_t now);

/* End the session for reason (a CLOSE is sent when the channel is up). */
void cairn__svc_conn_close(svc_conn_t *c, cairn_close_reason_t reason);

/* Drop the socket at once, without sending what is left (a shutdown deadline). */
void cairn__svc_conn_abort(svc_conn_t *c);

/* Whether the session is still live (handshake or running). */
int cairn__svc_conn_live(const svc_conn_t *c);

/* Release c; only after ops->ended ran. */
void cairn__svc_conn_free(svc_conn_t *c);

/* The reason name of how c ended: a close reason, "connection-lost", "unreachable", ... */
const char *cairn__svc_conn_end_name(const svc_conn_t *c);

#endif
