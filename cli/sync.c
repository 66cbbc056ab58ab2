/*
 * sync.c - `cairn sync`: one sync session between two local replicas.
 *
 * Both stores are opened in this process and the session's bytes pass
 * through memory: the protocol is the one nodes speak over a network
 * (handshake, roster checks, reconciliation, changes through ingest), for
 * an administrator syncing an attached replica by hand. The network
 * service comes with libuv; this command has no sockets. It is also the
 * sessions' writer: the changes each session receives come out as work,
 * which this command ingests into that session's store at once.
 */
#include "cli.h"

#include <cairn/sync.h>
#include <string.h>
#include <sys/stat.h>


static int live(const cairn_sync_t *s)
{
    cairn_sync_state_t st = cairn_sync_state(s);
    return st == CAIRN_SYNC_HANDSHAKE || st == CAIRN_SYNC_RUNNING;
}

/*
 * Ingest the work s has outstanding into store, one commit per CHANGES
 * frame. A failing ingest is reported to the session (which closes with
 * reason store) and returned.
 */
static cairn_err_t run_work(cairn_sync_t *s, cairn_store_t *store)
{
    cairn_sync_work_t w;
    cairn_err_t err = CAIRN_OK;
    while (err == CAIRN_OK && cairn_sync_work(s, &w)) {
        cairn_ingest_stats_t st;
        cairn_err_t ierr = cairn_ingest(store, w.bytes, w.lens, w.n, NULL, &st);
        err = cairn_sync_work_done(s, ierr, &st);
        if (err == CAIRN_OK)
            err = ierr;
    }
    return err;
}

/*
 * Move one side's pending bytes to the other and run what the receiver
 * must ingest; 1 if any moved. The bytes stay valid until from is next
 * called, and feeding copies them into to.
 */
static int deliver(cairn_sync_t *from, cairn_sync_t *to, cairn_store_t *to_store,
                   cairn_err_t *err)
{
    size_t len;
    const uint8_t *p = cairn_sync_output(from, &len);
    if (len == 0)
        return 0;
    *err = cairn_sync_feed(to, p, len, cli_now_ms());
    if (*err == CAIRN_OK)
        *err = cairn_sync_consumed(from, len);
    if (*err == CAIRN_OK)
        *err = run_work(to, to_store);
    return *err == CAIRN_OK;
}

/* Run the session to its end; flights counts one-way deliveries. */
static cairn_err_t run(cairn_sync_t *s[2], cairn_store_t *store[2], int *flights)
{
    cairn_err_t err = CAIRN_OK;
    *flights = 0;
    while (err == CAIRN_OK && (live(s[0]) || live(s[1]))) {
        int moved = 0;
        for (int k = 0; k < 2 && err == CAIRN_OK; k++)
            if (deliver(s[k], s[1 - k], store[1 - k], &err)) {
                moved = 1;
                (*flights)++;
            }
        if (!moved)
            break; /* both wait: nothing more can happen in process */
    }
    return err;
}

static int report(cli_args_t *a, cairn_sync_t *s[2], int flights)
{
    cairn_sync_stats_t st[2];
    cairn_sync_get_stats(s[0], &st[0]);
    cairn_sync_get_stats(s[1], &st[1]);
    if (a->json) {
        json_t *o = json_pack("{s:s,s:I,s:I,s:I,s:I,s:I,s:i}", "result",
                              cairn_close_reason_name(cairn_sync_close_reason(s[0])),
                              "applied_at_peer", (json_int_t)st[1].applied, "applied_here",
                              (json_int_t)st[0].applied, "bytes_sent", (json_int_t)st[0].bytes_out,
                              "bytes_received", (json_int_t)st[1].bytes_out, "rejected",
                              (json_int_t)(st[0].rejected + st[1].rejected), "flights", flights);
        return cli_print_json(o, "sync");
    }
    printf("%s -> %s: %llu changes applied (%llu bytes sent)\n", a->pos[0], a->pos[1],
           (unsigned long long)st[1].applied, (unsigned long long)st[0].bytes_out);
    printf("%s -> %s: %llu changes applied (%llu bytes sent)\n", a->pos[1], a->pos[0],
           (unsigned long long)st[0].applied, (unsigned long long)st[1].bytes_out);
    if (st[0].rejected + st[1].rejected > 0)
        printf("rejected by ingest: %llu\n", (unsigned long long)(st[0].rejected + st[1].rejected));
    printf("%d flights; %s\n", flights, cairn_close_reason_name(cairn_sync_close_reason(s[0])));
    return 0;
}

/*
 * Whether s names a peer on the network (HOST:PORT, checked by the network
 * form) rather than a path: it has a colon and is not the name of a file.
 */
static int is_network_peer(const char *s)
{
    struct stat st;
    return strchr(s, ':') != NULL && stat(s, &st) != 0;
}

int cmd_sync(cli_args_t *a)
{
    if (cli_need_args(a, 2, "sync DIR PEERDIR|HOST:PORT [--json]"))
        return EXIT_USAGE;
    if (is_network_peer(a->pos[1]))
        return cli_sync_remote(a);
    cairn_store_t *store[2] = {NULL, NULL};
    int rc = 0; /* both stores are unlocked from the same secret sources */
    for (int k = 0; k < 2 && rc == 0; k++)
        rc = cli_open_dir(&a->secret, a->pos[k], &store[k]);
    cairn_sync_t *s[2] = {NULL, NULL};
    cairn_err_t err = CAIRN_OK;
    for (int k = 0; k < 2 && rc == 0 && err == CAIRN_OK; k++) {
        cairn_sync_opts_t o = {k == 0, cli_now_ms(), 0, 0, 0, NULL};
        err = cairn_sync_new(store[k], &o, &s[k]);
    }
    int flights = 0;
    if (rc == 0 && err == CAIRN_OK)
        err = run(s, store, &flights);
    if (rc == 0 && err == CAIRN_ENOORG)
        rc = cli_fail_msg("sync", "a store belongs to no organisation (cairn org create or join)",
                          err);
    else if (rc == 0 && err != CAIRN_OK)
        rc = cli_fail("sync", err);
    if (rc == 0)
        rc = report(a, s, flights);
    if (rc == 0) {
        int done = cairn_sync_state(s[0]) == CAIRN_SYNC_DONE &&
                   cairn_sync_state(s[1]) == CAIRN_SYNC_DONE;
        if (!done) {
            cairn_close_reason_t why = cairn_sync_close_reason(
                cairn_sync_state(s[0]) == CAIRN_SYNC_CLOSED ? s[0] : s[1]);
            fprintf(stderr, "cairn: sync: the session closed: %s\n", cairn_close_reason_name(why));
            /* As the network form: refused by authentication or the roster, else partial. */
            rc = why == CAIRN_CLOSE_AUTH || why == CAIRN_CLOSE_UNKNOWN_PEER ||
                         why == CAIRN_CLOSE_VERSION
                     ? EXIT_REFUSED
                     : EXIT_PARTIAL;
        }
    }
    cairn_sync_free(s[0]);
    cairn_sync_free(s[1]);
    cairn_store_close(store[0]);
    cairn_store_close(store[1]);
    return rc;
}
