/*
 * bundle.c - cairn bundle export|import: changes carried by hand.
 *
 * A bundle is sealed to one recipient node's key, so the exporter names
 * the recipient (its cairn id). Importing sends every change through
 * libcairn's ingest, as sync would: the counts printed are its verdicts.
 */
#include "cli.h"

#include <stdlib.h>

/* The message for an export libcairn refused. */
static int export_fail(const char *file, cairn_err_t err)
{
    if (err == CAIRN_EINVAL) /* the one argument libcairn can still refuse */
        return cli_fail_msg("--to", "not a node's public key (cairn id prints one)", err);
    return cli_fail(file, err);
}

int cmd_bundle_export(cli_args_t *a)
{
    if (a->npos < 2 || a->to == NULL)
        return cli_usage("bundle export DIR --to NODEKEY FILE [PLAN ...]");
    uint8_t to[32];
    if (cli_parse_hex(a->to, to, 32, "--to NODEKEY") != 0)
        return EXIT_USAGE;
    size_t nplans = (size_t)a->npos - 2, count = 0;
    uint8_t(*plans)[CAIRN_PLAN_ID_BYTES] = calloc(nplans ? nplans : 1, sizeof *plans);
    if (plans == NULL)
        return cli_fail("bundle export", CAIRN_ENOMEM);
    int rc = 0;
    for (size_t i = 0; i < nplans && rc == 0; i++)
        if (cli_parse_hex(a->pos[2 + i], plans[i], CAIRN_PLAN_ID_BYTES, "PLAN") != 0)
            rc = EXIT_USAGE;
    cairn_store_t *store;
    if (rc == 0 && (rc = cli_open_store(a, &store)) == 0) {
        cairn_err_t err = cairn_bundle_export(store, (const uint8_t(*)[CAIRN_PLAN_ID_BYTES])plans,
                                              nplans, to, a->pos[1], &count);
        cairn_store_close(store);
        rc = err == CAIRN_OK ? 0 : export_fail(a->pos[1], err);
    }
    free(plans);
    if (rc != 0)
        return rc;
    char hex[CLI_HEX(32)];
    cli_hex(hex, to, 32);
    printf("wrote %zu change%s to %s, sealed for node %.16s...\n", count, count == 1 ? "" : "s",
           a->pos[1], hex);
    return 0;
}

static int print_stats(const cairn_ingest_stats_t *s, int json)
{
    if (json)
        return cli_print_json(json_pack("{s:I, s:I, s:I, s:I, s:I, s:I}", "applied",
                                        (json_int_t)s->applied, "duplicate",
                                        (json_int_t)s->duplicate, "pending", (json_int_t)s->pending,
                                        "rejected", (json_int_t)s->rejected, "forks",
                                        (json_int_t)s->forks, "verified", (json_int_t)s->verified),
                              "bundle import");
    printf("applied %zu, duplicate %zu, pending %zu, rejected %zu\n", s->applied, s->duplicate,
           s->pending, s->rejected);
    if (s->forks > 0)
        printf("warning: %zu change%s forked an author's history (same sequence number twice)\n",
               s->forks, s->forks == 1 ? "" : "s");
    return 0;
}

int cmd_bundle_import(cli_args_t *a)
{
    if (cli_need_args(a, 2, "bundle import DIR FILE [--json]"))
        return EXIT_USAGE;
    cairn_store_t *store;
    int rc = cli_open_store(a, &store);
    if (rc != 0)
        return rc;
    cairn_ingest_stats_t stats = {0};
    cairn_err_t err = cairn_bundle_import(store, a->pos[1], &stats);
    cairn_store_close(store);
    switch (err) {
    case CAIRN_OK:
        return print_stats(&stats, a->json);
    case CAIRN_EBADKEY:
        return cli_fail_msg(a->pos[1], "sealed for another node, or altered", err);
    case CAIRN_EMALFORMED:
        return cli_fail_msg(a->pos[1], "not a cairn bundle, or damaged", err);
    case CAIRN_ENOTFOUND:
        return cli_fail_msg(a->pos[1], "no such file", err);
    case CAIRN_EVERSION:
        return cli_fail_msg(a->pos[1], "bundle format is newer than this version of cairn", err);
    case CAIRN_ETOOBIG:
        return cli_fail_msg(a->pos[1], "larger than a bundle may be (1 GiB)", err);
    default:
        return cli_fail(a->pos[1], err);
    }
}
