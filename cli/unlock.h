/*
 * unlock.h - where the CLI gets a store's secret from (private to cli/).
 *
 * In order: --key-file or CAIRN_KEY_FILE; --passphrase-file; CAIRN_PASSPHRASE;
 * a no-echo prompt on the terminal, only when standard input is a terminal.
 * Without any of these the command fails at once: it never waits for input
 * that cannot come (CI, cron, pipes).
 */
#ifndef CAIRN_CLI_UNLOCK_H
#define CAIRN_CLI_UNLOCK_H

#include <cairn/cairn.h>

typedef struct cli_secret {
    const char *key_file;        /* from --key-file, or NULL */
    const char *passphrase_file; /* from --passphrase-file, or NULL */
    char *pass;                  /* sodium_malloc; owned here */
    cairn_unlock_t unlock;
} cli_secret_t;

/*
 * Fill s->unlock for creating a store (confirm: prompt twice). Prints its own
 * error message on failure and returns the error.
 */
cairn_err_t cli_secret_for_init(cli_secret_t *s);

/* Fill s->unlock for opening the store in dir, matching how it is protected. */
cairn_err_t cli_secret_for_open(cli_secret_t *s, const char *dir);

/* Wipe and free the passphrase. */
void cli_secret_free(cli_secret_t *s);

#endif
