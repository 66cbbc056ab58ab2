/*
 * serve.c - `cairn serve`, `cairn peer add|list|remove`, `cairn sync DIR
 * HOST:PORT`, and the per-peer part of `cairn status`.
 *
 * The service and the manual network session live in libcairn_service
 * (cairn/service.h); this file parses, calls and prints. The per-peer rows
 * are read from the store (cairn/peers.h), so `status` answers while a
 * service holds the store, without asking it.
 */
#include "cli.h"

#include <cairn/service.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ---- peers and their status, as rows ------------------------------------------------ */

typedef struct peer_row {
    cairn_peer_t peer;
    int configured;
    int has_status;
    cairn_peer_status_t st;
} peer_row_t;

typedef struct rows {
    peer_row_t *v;
    size_t n, cap;
    int oom;
} rows_t;

static peer_row_t *row_for(rows_t *r, const uint8_t key[32])
{
    for (size_t i = 0; i < r->n; i++)
        if (memcmp(r->v[i].peer.key, key, 32) == 0)
            return &r->v[i];
    if (r->n == r->cap) {
        size_t cap = r->cap ? 2 * r->cap : 8;
        peer_row_t *v = realloc(r->v, cap * sizeof *v);
        if (v == NULL) {
            r->oom = 1;
            return NULL;
        }
        r->v = v;
        r->cap = cap;
    }
    peer_row_t *row = &r->v[r->n++];
    memset(row, 0, sizeof *row);
    memcpy(row->peer.key, key, 32);
    return row;
}

static int add_peer(void *ctx, const cairn_peer_t *p)
{
    peer_row_t *row = row_for(ctx, p->key);
    if (row == NULL)
        return 1;
    row->peer = *p;
    row->configured = 1;
    return 0;
}

static int add_status(void *ctx, const uint8_t key[32], const cairn_peer_status_t *st)
{
    peer_row_t *row = row_for(ctx, key);
    if (row == NULL)
        return 1;
    row->st = *st;
    row->has_status = 1;
    return 0;
}

/* Every configured peer, then every other peer with a status (it dialled us). */
static cairn_err_t read_rows(cairn_store_t *store, rows_t *r)
{
    memset(r, 0, sizeof *r);
    cairn_err_t err = cairn_peer_list(store, add_peer, r);
    if (err == CAIRN_OK)
        err = cairn_peer_status_list(store, add_status, r);
    return err == CAIRN_OK && r->oom ? CAIRN_ENOMEM : err;
}

static void fmt_time(char *out, size_t n, uint64_t ms)
{
    if (ms == 0) {
        snprintf(out, n, "never");
        return;
    }
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void fmt_ago(char *out, size_t n, uint64_t ms)
{
    uint64_t now = cli_now_ms();
    if (ms == 0 || ms > now) {
        out[0] = '\0';
        return;
    }
    uint64_t s = (now - ms) / 1000;
    if (s < 120)
        snprintf(out, n, " (%llu s ago)", (unsigned long long)s);
    else if (s < 7200)
        snprintf(out, n, " (%llu min ago)", (unsigned long long)(s / 60));
    else
        snprintf(out, n, " (%llu h ago)", (unsigned long long)(s / 3600));
}

static void print_row(const peer_row_t *row, int with_status)
{
    char key[CLI_HEX(32)];
    cli_hex(key, row->peer.key, 32);
    printf("peer %s", key);
    if (row->configured) {
        printf(" %s", row->peer.addr);
        if (row->peer.name[0] != '\0') {
            printf(" ");
            cli_print_text(stdout, row->peer.name, strlen(row->peer.name));
        }
    } else {
        printf(" (not dialled: it connected to this node)");
    }
    printf("\n");
    if (!with_status)
        return;
    if (!row->has_status) {
        printf("  no session yet\n");
        return;
    }
    const cairn_peer_status_t *st = &row->st;
    char t[32], ago[32];
    fmt_time(t, sizeof t, st->last_ok_ms);
    fmt_ago(ago, sizeof ago, st->last_ok_ms);
    printf("  last completed  %s%s\n", t, ago);
    fmt_time(t, sizeof t, st->last_attempt_ms);
    fmt_ago(ago, sizeof ago, st->last_attempt_ms);
    printf("  last attempt    %s%s\n", t, ago);
    printf("  last session    %s\n", st->in_sync ? "ended in sync" : "did not end in sync");
    printf("  last error      %s\n", st->last_error[0] ? st->last_error : "none");
    printf("  changes         %llu received, %llu sent in the last session; %llu and %llu in "
           "all\n",
           (unsigned long long)st->changes_in, (unsigned long long)st->changes_out,
           (unsigned long long)st->changes_in_total, (unsigned long long)st->changes_out_total);
    printf("  sessions        %llu completed, %llu failed\n", (unsigned long long)st->sessions,
           (unsigned long long)st->failures);
}

static json_t *row_json(const peer_row_t *row, int with_status)
{
    char key[CLI_HEX(32)];
    cli_hex(key, row->peer.key, 32);
    json_t *o = json_pack("{s:s,s:b}", "key", key, "configured", row->configured);
    if (o == NULL)
        return NULL;
    if (row->configured) {
        json_object_set_new(o, "addr", json_string(row->peer.addr));
        json_object_set_new(o, "name",
                            row->peer.name[0] ? json_string(row->peer.name) : json_null());
    }
    if (!with_status)
        return o;
    if (!row->has_status) {
        json_object_set_new(o, "status", json_null());
        return o;
    }
    const cairn_peer_status_t *st = &row->st;
    json_t *s = json_pack(
        "{s:I,s:I,s:I,s:b,s:o,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I}", "last_completed_ms",
        (json_int_t)st->last_ok_ms, "last_attempt_ms", (json_int_t)st->last_attempt_ms,
        "last_end_ms", (json_int_t)st->last_end_ms, "in_sync", st->in_sync, "last_error",
        st->last_error[0] ? json_string(st->last_error) : json_null(), "changes_received",
        (json_int_t)st->changes_in, "changes_sent", (json_int_t)st->changes_out, "bytes_received",
        (json_int_t)st->bytes_in, "bytes_sent", (json_int_t)st->bytes_out, "rejected",
        (json_int_t)st->rejected, "changes_received_total", (json_int_t)st->changes_in_total,
        "changes_sent_total", (json_int_t)st->changes_out_total, "sessions",
        (json_int_t)st->sessions, "failures", (json_int_t)st->failures);
    json_object_set_new(o, "status", s);
    return o;
}

static json_t *rows_json(const rows_t *r, int with_status)
{
    json_t *arr = json_array();
    for (size_t i = 0; arr != NULL && i < r->n; i++)
        if (json_array_append_new(arr, row_json(&r->v[i], with_status)) != 0) {
            json_decref(arr);
            return NULL;
        }
    return arr;
}

cairn_err_t cli_peer_status_read(cairn_store_t *store, void **rows)
{
    rows_t *r = malloc(sizeof *r);
    if (r == NULL)
        return CAIRN_ENOMEM;
    cairn_err_t err = read_rows(store, r);
    if (err != CAIRN_OK) {
        free(r->v);
        free(r);
        return err;
    }
    *rows = r;
    return CAIRN_OK;
}

void cli_peer_status_print(void *rows)
{
    rows_t *r = rows;
    printf("peers       %zu\n", r->n);
    for (size_t i = 0; i < r->n; i++)
        print_row(&r->v[i], 1);
}

json_t *cli_peer_status_json(void *rows)
{
    return rows_json(rows, 1);
}

void cli_peer_status_free(void *rows)
{
    rows_t *r = rows;
    if (r != NULL)
        free(r->v);
    free(r);
}

/* ---- peer add / list / remove ------------------------------------------------------------ */

int cmd_peer_add(cli_args_t *a)
{
    static const char synopsis[] = "peer add DIR NODEKEY HOST:PORT [--name NAME]";
    if (cli_need_args(a, 3, synopsis))
        return EXIT_USAGE;
    uint8_t key[32];
    if (cli_parse_hex(a->pos[1], key, 32, "NODEKEY") != 0)
        return EXIT_USAGE;
    if (cairn_peer_addr_parse(a->pos[2], NULL, 0, NULL) != CAIRN_OK)
        return cli_usage_error("HOST:PORT must be a host name or address and a port from 1 to "
                               "65535 (an IPv6 address in brackets: [::1]:7433)");
    if (a->name != NULL && (strlen(a->name) > CAIRN_PEER_NAME_MAX))
        return cli_usage_error("--name takes at most %d bytes", CAIRN_PEER_NAME_MAX);
    cairn_store_t *store;
    int rc = cli_open_store(a, &store);
    if (rc != 0)
        return rc;
    cairn_store_info_t info;
    cairn_err_t err = cairn_store_info(store, &info);
    int self = err == CAIRN_OK && memcmp(info.public_key, key, 32) == 0;
    if (err == CAIRN_OK && !self)
        err = cairn_peer_put(store, key, a->pos[2], a->name);
    cairn_store_close(store);
    if (self)
        return cli_usage_error("NODEKEY is this node's own key");
    if (err == CAIRN_EINVAL)
        return cli_fail_msg("peer add", "the name holds a control character", err);
    if (err != CAIRN_OK)
        return cli_fail("peer add", err);
    printf("peer %s at %s\n", a->pos[1], a->pos[2]);
    return 0;
}

int cmd_peer_list(cli_args_t *a)
{
    if (cli_need_args(a, 1, "peer list DIR [--json]"))
        return EXIT_USAGE;
    cairn_store_t *store;
    int rc = cli_open_store(a, &store);
    if (rc != 0)
        return rc;
    rows_t r;
    memset(&r, 0, sizeof r);
    cairn_err_t err = cairn_peer_list(store, add_peer, &r);
    if (err == CAIRN_OK && r.oom)
        err = CAIRN_ENOMEM;
    cairn_store_close(store);
    if (err != CAIRN_OK) {
        free(r.v);
        return cli_fail("peer list", err);
    }
    if (a->json) {
        rc = cli_print_json(rows_json(&r, 0), "peer list");
    } else {
        for (size_t i = 0; i < r.n; i++)
            print_row(&r.v[i], 0);
        if (r.n == 0)
            printf("no peers\n");
    }
    free(r.v);
    return rc;
}

int cmd_peer_remove(cli_args_t *a)
{
    if (cli_need_args(a, 2, "peer remove DIR NODEKEY"))
        return EXIT_USAGE;
    uint8_t key[32];
    if (cli_parse_hex(a->pos[1], key, 32, "NODEKEY") != 0)
        return EXIT_USAGE;
    cairn_store_t *store;
    int rc = cli_open_store(a, &store);
    if (rc != 0)
        return rc;
    cairn_err_t err = cairn_peer_remove(store, key);
    cairn_store_close(store);
    if (err == CAIRN_ENOTFOUND)
        return cli_fail_msg("peer remove", "no such peer", err);
    if (err != CAIRN_OK)
        return cli_fail("peer remove", err);
    printf("removed peer %s\n", a->pos[1]);
    return 0;
}

/* ---- serve ------------------------------------------------------------------------------- */

int cmd_serve(cli_args_t *a)
{
    if (cli_need_args(a, 1,
                      "serve DIR [--listen HOST:PORT] [--interval SECONDS] "
                      "[--log-format text|json] [--log-level error|warn|info|debug]"))
        return EXIT_USAGE;
    char host[CAIRN_PEER_HOST_MAX + 1] = CAIRN_SERVICE_HOST;
    uint16_t port = CAIRN_SERVICE_PORT;
    if (a->listen != NULL && cairn_peer_addr_parse(a->listen, host, sizeof host, &port) != CAIRN_OK)
        return cli_usage_error("--listen takes HOST:PORT, an IP address and a port from 1 to "
                               "65535");
    cairn_store_t *store;
    int rc = cli_open_store(a, &store);
    if (rc != 0)
        return rc;
    cairn_service_opts_t o;
    memset(&o, 0, sizeof o);
    o.listen_host = host;
    o.listen_port = port;
    o.interval_ms = a->interval_s * 1000u;
    o.log_format = a->log_json ? CAIRN_LOG_JSON : CAIRN_LOG_TEXT;
    o.log_level = (cairn_log_level_t)a->log_level;
    cairn_err_t err = cairn_service_run(store, &o);
    cairn_store_close(store);
    if (err == CAIRN_ENOORG)
        return cli_fail_msg("serve",
                            "the store belongs to no organisation (cairn org create or "
                            "join)",
                            err);
    if (err == CAIRN_EINVAL)
        return cli_fail_msg("serve", "--listen takes an IP address, not a host name", err);
    if (err == CAIRN_ENET)
        return cli_fail_msg("serve",
                            "cannot listen there: the port is in use, or the address "
                            "is not this machine's",
                            err);
    return err == CAIRN_OK ? 0 : cli_fail("serve", err);
}

/* ---- sync DIR HOST:PORT -------------------------------------------------------------------- */

typedef struct progress {
    int tty;
    uint64_t last_ms;
    int printed;
} progress_t;

static void on_progress(void *ctx, const cairn_sync_stats_t *st)
{
    progress_t *p = ctx;
    uint64_t now = cli_now_ms();
    if (!p->tty && now - p->last_ms < 1000)
        return; /* plain lines: one a second at most */
    p->last_ms = now;
    fprintf(stderr, "%sreceived %llu changes (%llu bytes), sent %llu changes (%llu bytes)%s",
            p->tty ? "\r" : "", (unsigned long long)st->changes_in,
            (unsigned long long)st->bytes_in, (unsigned long long)st->changes_out,
            (unsigned long long)st->bytes_out, p->tty ? "\033[K" : "\n");
    p->printed = 1;
}

static int remote_report(cli_args_t *a, const cairn_remote_result_t *r)
{
    char peer[CLI_HEX(32)] = "";
    if (r->peer_known)
        cli_hex(peer, r->peer, 32);
    const char *reason = cairn_close_reason_name(r->reason);
    if (a->json) {
        json_t *rej = json_object();
        for (int i = 0; rej != NULL && i < CAIRN_REASON__COUNT; i++)
            if (r->rejected[i] > 0)
                json_object_set_new(rej, cairn_reason_name((cairn_reason_t)i),
                                    json_integer((json_int_t)r->rejected[i]));
        json_t *o =
            json_pack("{s:s,s:s,s:o,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:o}", "result",
                      cairn_remote_outcome_name(r->outcome), "reason", reason, "peer",
                      r->peer_known ? json_string(peer) : json_null(), "plans_received",
                      (json_int_t)r->plans_in, "changes_received", (json_int_t)r->stats.changes_in,
                      "applied", (json_int_t)r->stats.applied, "bytes_received",
                      (json_int_t)r->stats.bytes_in, "plans_sent", (json_int_t)r->stats.plans_out,
                      "changes_sent", (json_int_t)r->stats.changes_out, "bytes_sent",
                      (json_int_t)r->stats.bytes_out, "duration_ms", (json_int_t)r->duration_ms,
                      "rejected", rej != NULL ? rej : json_object());
        return cli_print_json(o, "sync");
    }
    printf("peer      %s\n", r->peer_known ? peer : "(not authenticated)");
    printf("result    %s (%s)\n", cairn_remote_outcome_name(r->outcome),
           r->outcome == CAIRN_REMOTE_UNREACHABLE ? "no connection" : reason);
    printf("received  %llu changes in %llu plans, %llu applied, %llu bytes\n",
           (unsigned long long)r->stats.changes_in, (unsigned long long)r->plans_in,
           (unsigned long long)r->stats.applied, (unsigned long long)r->stats.bytes_in);
    printf("sent      %llu changes in %llu plans, %llu bytes\n",
           (unsigned long long)r->stats.changes_out, (unsigned long long)r->stats.plans_out,
           (unsigned long long)r->stats.bytes_out);
    printf("rejected  %llu", (unsigned long long)r->stats.rejected);
    int any = 0;
    for (int i = 0; i < CAIRN_REASON__COUNT; i++)
        if (r->rejected[i] > 0) {
            printf("%s%s %llu", any ? ", " : " (", cairn_reason_name((cairn_reason_t)i),
                   (unsigned long long)r->rejected[i]);
            any = 1;
        }
    printf("%s\n", any ? ")" : "");
    printf("duration  %llu ms\n", (unsigned long long)r->duration_ms);
    return 0;
}

int cli_sync_remote(cli_args_t *a)
{
    char host[CAIRN_PEER_HOST_MAX + 1];
    uint16_t port;
    if (cairn_peer_addr_parse(a->pos[1], host, sizeof host, &port) != CAIRN_OK)
        return cli_usage_error("HOST:PORT must be a host and a port from 1 to 65535");
    cairn_store_t *store;
    int rc = cli_open_store(a, &store);
    if (rc != 0)
        return rc;
    progress_t p = {isatty(STDERR_FILENO), cli_now_ms(), 0};
    cairn_remote_result_t r;
    cairn_err_t err = cairn_sync_remote(store, host, port, 0, on_progress, &p, &r);
    cairn_store_close(store);
    if (p.printed && p.tty)
        fprintf(stderr, "\n");
    if (err == CAIRN_ENOORG)
        return cli_fail_msg("sync",
                            "the store belongs to no organisation (cairn org create or "
                            "join)",
                            err);
    if (err != CAIRN_OK)
        return cli_fail("sync", err);
    rc = remote_report(a, &r);
    if (rc != 0)
        return rc;
    switch (r.outcome) {
    case CAIRN_REMOTE_IN_SYNC:
        return 0;
    case CAIRN_REMOTE_PARTIAL:
        fprintf(stderr, "cairn: sync: the session did not complete (%s): run it again\n",
                cairn_close_reason_name(r.reason));
        return EXIT_PARTIAL;
    case CAIRN_REMOTE_UNREACHABLE:
        fprintf(stderr, "cairn: sync: %s: no connection (is cairn serve running there?)\n",
                a->pos[1]);
        return EXIT_UNREACHABLE;
    case CAIRN_REMOTE_REFUSED:
        fprintf(stderr, "cairn: sync: refused (%s): %s\n", cairn_close_reason_name(r.reason),
                r.reason == CAIRN_CLOSE_AUTH
                    ? "the peer is of another organisation, or the handshake was altered"
                    : "a node is not on the other's roster, or no protocol version in common");
        return EXIT_REFUSED;
    case CAIRN_REMOTE_STORE:
        return cli_fail_msg("sync",
                            "the local store failed: nothing of the failed step was "
                            "committed",
                            r.store_err);
    }
    return 0;
}
