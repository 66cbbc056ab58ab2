/*
 * cli.h - what the command files of cairn share (private to cli/).
 *
 * Each command group lives in its own file (org.c, plan.c, show.c,
 * bundle.c, sync.c) and gets a parsed cli_args_t from main.c. The helpers here turn
 * library errors into messages and exit statuses, parse and print hex,
 * open a store with its secret, and print JSON, so that every command
 * reports in the same way. Nothing here merges or stores anything.
 */
#ifndef CAIRN_CLI_H
#define CAIRN_CLI_H

#include <cairn/cairn.h>
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>

#include "unlock.h"

#define EXIT_USAGE 2
/* Exit statuses of a sync session, both forms (docs/cli.md). */
#define EXIT_PARTIAL 3     /* began, did not complete: what arrived is kept, run again */
#define EXIT_UNREACHABLE 4 /* no connection */
#define EXIT_REFUSED 5     /* authentication or roster */

/* Lowercase hex of n bytes: 2n digits and a NUL. */
#define CLI_HEX(n) (2 * (n) + 1)

/* A time option that was not given (every given time is at most 2^47). */
#define CLI_NO_TIME UINT64_MAX

typedef struct cli_args {
    cli_secret_t secret;
    cairn_init_opts_t init;
    int json;
    const char *file;   /* --file */
    const char *name;   /* --name */
    const char *title;  /* --title */
    const char *to;     /* --to: a node's public key, in hex */
    unsigned roles;     /* --roles, as CAIRN_ROLE_* bits; 0 when not given */
    uint64_t from;      /* --from, Unix ms; 0 when not given */
    uint64_t until, at; /* --until, --at, Unix ms; CLI_NO_TIME when not given */
    const char *listen;  /* serve --listen HOST:PORT */
    uint64_t interval_s; /* serve --interval, seconds; 0 when not given */
    int log_json;        /* serve --log-format json */
    int log_level;       /* serve --log-level, as cairn_log_level_t (default info) */
    int npos;
    char **pos; /* the positional arguments after the command, in order */
} cli_args_t;

/* The exit status for err: 0 for CAIRN_OK, else 10 + the negated code. */
int cli_exit_code(cairn_err_t err);

/* Print "cairn: WHAT: MESSAGE (NAME)" to stderr; return the exit status. */
int cli_fail(const char *what, cairn_err_t err);

/*
 * Print "cairn: WHAT: MESSAGE (NAME)" with a message that says more than
 * cairn_strerror() can in this context; return the exit status.
 */
int cli_fail_msg(const char *what, const char *msg, cairn_err_t err);

/* Print "cairn: MESSAGE" (printf-style) to stderr; return EXIT_USAGE. */
int cli_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Print "usage: cairn SYNOPSIS" to stderr; return EXIT_USAGE. */
int cli_usage(const char *synopsis);

/* 0 if exactly n positional arguments were given, else print the synopsis. */
int cli_need_args(const cli_args_t *a, int n, const char *synopsis);

/* 0 if at least n positional arguments were given, else print the synopsis. */
int cli_need_min_args(const cli_args_t *a, int n, const char *synopsis);

/* Write the lowercase hex of b[0..n) and a NUL to out (CLI_HEX(n) bytes). */
void cli_hex(char *out, const uint8_t *b, size_t n);

/* Print the lowercase hex of b[0..n) (n at most 32) and a newline on stdout. */
void cli_print_hex(const uint8_t *b, size_t n);

/*
 * Parse exactly 2n hex digits (either case) from s into out. Returns 0, or
 * prints "cairn: WHAT must be 2n hex digits" and returns -1.
 */
int cli_parse_hex(const char *s, uint8_t *out, size_t n, const char *what);

/* The wall clock in Unix ms. */
uint64_t cli_now_ms(void);

/*
 * Open the store in dir, getting its secret from the sources in secret as
 * unlock.h describes; the secret is wiped afterwards, so the same sources
 * can open another store. Returns 0, or prints why and returns the exit
 * status.
 */
int cli_open_dir(cli_secret_t *secret, const char *dir, cairn_store_t **store);

/* cli_open_dir() of the store in a->pos[0] with a's secret. */
int cli_open_store(cli_args_t *a, cairn_store_t **store);

/* Parse a role list "care-manager,prescriber" into CAIRN_ROLE_* bits; -1 if bad. */
int cli_parse_roles(const char *s, unsigned *roles);

/* Write roles as names joined by commas into out. */
void cli_roles_str(unsigned roles, char *out, size_t n);

/* A JSON array of the names of roles; NULL if out of memory. */
json_t *cli_roles_json(unsigned roles);

/*
 * Print s[0..len) to f with control characters escaped (\n, \t, \xNN), so
 * that stored text cannot drive the terminal.
 */
void cli_print_text(FILE *f, const char *s, size_t len);

/* Dump o (steals the reference) indented to stdout; 0 or an exit status. */
int cli_print_json(json_t *o, const char *what);

/* A store's organisation, and the plan id of its roster. */
typedef struct cli_org {
    int has; /* 0: the store belongs to no organisation; the rest is unset */
    uint8_t key[32];
    uint8_t roster[CAIRN_PLAN_ID_BYTES];
} cli_org_t;

/* Fill *org; a store of no organisation is CAIRN_OK with org->has 0. */
cairn_err_t cli_org_read(cairn_store_t *store, cli_org_t *org);

/* Whether plan is the roster of org. */
int cli_is_roster(const cli_org_t *org, const uint8_t plan[CAIRN_PLAN_ID_BYTES]);

/*
 * Read the roster of the open store's organisation into *roster: NULL when
 * the store belongs to no organisation. Free with cairn_plan_state_free().
 */
cairn_err_t cli_roster_read(cairn_store_t *store, cairn_plan_state_t **roster);

/*
 * The name roster gives member key (its entry present, for that key, with a
 * name): 1 with *name and *len set (valid while roster is), else 0. roster
 * may be NULL (no organisation): 0.
 */
int cli_roster_name(const cairn_plan_state_t *roster, const uint8_t key[32], const char **name,
                    size_t *len);

/* Command groups (org.c, plan.c, show.c, bundle.c, sync.c). */
int cmd_id(cli_args_t *a);
int cmd_org_create(cli_args_t *a);
int cmd_org_join(cli_args_t *a);
int cmd_org_show(cli_args_t *a);
int cmd_roster_add(cli_args_t *a);
int cmd_roster_revoke(cli_args_t *a);
int cmd_plan_new(cli_args_t *a);
int cmd_plan_list(cli_args_t *a);
int cmd_plan_add(cli_args_t *a);
int cmd_plan_set(cli_args_t *a);
int cmd_plan_remove(cli_args_t *a);
int cmd_plan_show(cli_args_t *a);
int cmd_conflicts(cli_args_t *a);
int cmd_bundle_export(cli_args_t *a);
int cmd_bundle_import(cli_args_t *a);
int cmd_sync(cli_args_t *a);
int cmd_serve(cli_args_t *a);
int cmd_peer_add(cli_args_t *a);
int cmd_peer_list(cli_args_t *a);
int cmd_peer_remove(cli_args_t *a);

/* serve.c: `sync DIR HOST:PORT`, one session over TCP with a running service. */
int cli_sync_remote(cli_args_t *a);

/*
 * serve.c: the per-peer rows `status` shows (configured peers and every
 * peer with a recorded session), read into *rows; print them as text or
 * JSON after the store is closed; free them with cli_peer_status_free.
 */
cairn_err_t cli_peer_status_read(cairn_store_t *store, void **rows);
void cli_peer_status_print(void *rows);
json_t *cli_peer_status_json(void *rows);
void cli_peer_status_free(void *rows);

#endif
