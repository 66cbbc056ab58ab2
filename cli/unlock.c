/*
 * unlock.c - obtaining a passphrase or key file without ever blocking a script.
 */
#include "unlock.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#define PASS_MAX 1024
#define PASS_MIN_NEW 8

static char *pass_alloc(void)
{
    char *p = sodium_malloc(PASS_MAX);
    if (p != NULL)
        memset(p, 0, PASS_MAX);
    return p;
}

/* Strip one trailing "\n" or "\r\n" (files and terminals add them). */
static size_t chomp(char *p, size_t n)
{
    if (n > 0 && p[n - 1] == '\n')
        n--;
    if (n > 0 && p[n - 1] == '\r')
        n--;
    p[n] = '\0';
    return n;
}

static cairn_err_t read_pass_file(const char *path, char *dst, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        fprintf(stderr, "cairn: cannot read passphrase file %s: %s\n", path, strerror(errno));
        return CAIRN_ENOPASS;
    }
    ssize_t n = read(fd, dst, PASS_MAX - 1);
    close(fd);
    if (n < 0 || n == PASS_MAX - 1) {
        fprintf(stderr, "cairn: passphrase file %s is unreadable or longer than %d bytes\n", path,
                PASS_MAX - 2);
        return CAIRN_ENOPASS;
    }
    *len = chomp(dst, (size_t)n);
    return CAIRN_OK;
}

/* Prompt on the terminal with echo off. Only called when stdin is a tty. */
static cairn_err_t prompt(const char *what, char *dst, size_t *len)
{
    FILE *tty = fopen("/dev/tty", "r+");
    if (tty == NULL)
        return CAIRN_ENOPASS;
    int fd = fileno(tty);
    struct termios old, quiet;
    int have_termios = tcgetattr(fd, &old) == 0;
    if (have_termios) {
        quiet = old;
        quiet.c_lflag &= (tcflag_t) ~(ECHO | ECHONL);
        quiet.c_lflag |= ICANON;
        tcsetattr(fd, TCSAFLUSH, &quiet);
    }
    fprintf(tty, "%s: ", what);
    fflush(tty);
    char *got = fgets(dst, PASS_MAX, tty);
    if (have_termios)
        tcsetattr(fd, TCSAFLUSH, &old);
    fputc('\n', tty);
    fclose(tty);
    if (got == NULL)
        return CAIRN_ENOPASS;
    *len = chomp(dst, strlen(dst));
    return CAIRN_OK;
}

static void no_secret_message(void)
{
    fprintf(stderr, "cairn: no passphrase: use --passphrase-file FILE, set CAIRN_PASSPHRASE, "
                    "use --key-file FILE, or run on a terminal to be asked\n");
}

/* Get a passphrase from the non-interactive sources, else the terminal. */
static cairn_err_t get_pass(cli_secret_t *s, int confirm)
{
    size_t len = 0;
    cairn_err_t err = CAIRN_OK;
    const char *env = getenv("CAIRN_PASSPHRASE");
    s->pass = pass_alloc();
    if (s->pass == NULL)
        return CAIRN_ENOMEM;
    if (s->passphrase_file != NULL) {
        err = read_pass_file(s->passphrase_file, s->pass, &len);
    } else if (env != NULL) {
        len = strlen(env);
        if (len >= PASS_MAX) {
            fprintf(stderr, "cairn: CAIRN_PASSPHRASE is longer than %d bytes\n", PASS_MAX - 1);
            return CAIRN_ENOPASS;
        }
        memcpy(s->pass, env, len);
    } else if (isatty(STDIN_FILENO)) {
        err = prompt("Passphrase", s->pass, &len);
        if (err == CAIRN_OK && confirm) {
            char *again = pass_alloc();
            size_t len2 = 0;
            if (again == NULL)
                return CAIRN_ENOMEM;
            err = prompt("Passphrase again", again, &len2);
            if (err == CAIRN_OK && (len2 != len || sodium_memcmp(again, s->pass, len) != 0)) {
                fprintf(stderr, "cairn: the passphrases differ\n");
                err = CAIRN_ENOPASS;
            }
            sodium_free(again);
        } else if (err != CAIRN_OK) {
            no_secret_message();
        }
    } else {
        no_secret_message();
        return CAIRN_ENOPASS;
    }
    if (err != CAIRN_OK)
        return err;
    if (len == 0) {
        fprintf(stderr, "cairn: the passphrase is empty\n");
        return CAIRN_ENOPASS;
    }
    s->unlock.kind = CAIRN_UNLOCK_PASSPHRASE;
    s->unlock.passphrase = s->pass;
    s->unlock.passphrase_len = len;
    return CAIRN_OK;
}

static const char *key_file_source(const cli_secret_t *s)
{
    return s->key_file != NULL ? s->key_file : getenv("CAIRN_KEY_FILE");
}

cairn_err_t cli_secret_for_init(cli_secret_t *s)
{
    const char *kf = key_file_source(s);
    if (kf != NULL) {
        s->unlock.kind = CAIRN_UNLOCK_KEY_FILE;
        s->unlock.key_file = kf;
        return CAIRN_OK;
    }
    cairn_err_t err = get_pass(s, 1);
    if (err == CAIRN_OK && s->unlock.passphrase_len < PASS_MIN_NEW) {
        fprintf(stderr, "cairn: a new passphrase needs at least %d characters\n", PASS_MIN_NEW);
        err = CAIRN_ENOPASS;
    }
    return err;
}

cairn_err_t cli_secret_for_open(cli_secret_t *s, const char *dir)
{
    cairn_unlock_kind_t kind;
    cairn_err_t err = cairn_store_probe(dir, &kind, NULL);
    if (err != CAIRN_OK)
        return err; /* the caller reports store errors uniformly */
    const char *kf = key_file_source(s);
    if (kind == CAIRN_UNLOCK_KEY_FILE) {
        if (kf == NULL) {
            fprintf(stderr, "cairn: %s is protected by a key file: use --key-file FILE or set "
                            "CAIRN_KEY_FILE\n", dir);
            return CAIRN_ENOPASS;
        }
        s->unlock.kind = CAIRN_UNLOCK_KEY_FILE;
        s->unlock.key_file = kf;
        return CAIRN_OK;
    }
    if (s->key_file != NULL) {
        fprintf(stderr, "cairn: %s is protected by a passphrase, not a key file\n", dir);
        return CAIRN_EKEYKIND;
    }
    return get_pass(s, 0);
}

void cli_secret_free(cli_secret_t *s)
{
    if (s->pass != NULL)
        sodium_free(s->pass);
    s->pass = NULL;
    memset(&s->unlock, 0, sizeof s->unlock);
}
