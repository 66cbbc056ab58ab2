/*
 * err.c - names and sentences for cairn_err_t.
 *
 * One table indexed by the negated code keeps the name and the message of
 * every error side by side, so adding a code is one line here.
 */
#include "cairn/error.h"

#include <stddef.h>

static const struct {
    const char *name;
    const char *message;
} err_table[CAIRN_ERR_COUNT] = {
    {"CAIRN_OK", "success"},
    {"CAIRN_EINVAL", "invalid argument"},
    {"CAIRN_ENOMEM", "out of memory"},
    {"CAIRN_EIO", "input/output error"},
    {"CAIRN_ENODIR", "directory does not exist"},
    {"CAIRN_ENOTSTORE", "not a cairn store"},
    {"CAIRN_EEXIST", "a store or other files already exist there"},
    {"CAIRN_EBADKEY", "wrong passphrase or key file"},
    {"CAIRN_ECORRUPT", "stored data is corrupt or was tampered with"},
    {"CAIRN_ELOCKED", "store is in use by another process"},
    {"CAIRN_ENOSPC", "disk full"},
    {"CAIRN_EMAPFULL", "store reached its maximum size"},
    {"CAIRN_EVERSION", "store format is newer than this version of cairn supports"},
    {"CAIRN_ENOTFOUND", "not found"},
    {"CAIRN_ETOOBIG", "key or value too large"},
    {"CAIRN_ENOPASS", "no passphrase or key file given"},
    {"CAIRN_ECRYPTO", "crypto library failed to initialise"},
    {"CAIRN_EPERM", "permission denied"},
    {"CAIRN_EKEYKIND", "store is protected by the other kind of secret"},
    {"CAIRN_EREADONLY", "write in a read-only transaction"},
    {"CAIRN_EMALFORMED", "malformed or non-canonical encoding"},
    {"CAIRN_EDENIED", "not allowed by the organisation's roster"},
};

static int err_index(cairn_err_t err)
{
    int i = -(int)err;
    return (i >= 0 && i < CAIRN_ERR_COUNT) ? i : -1;
}

const char *cairn_strerror(cairn_err_t err)
{
    int i = err_index(err);
    return i < 0 ? "unknown error" : err_table[i].message;
}

const char *cairn_err_name(cairn_err_t err)
{
    int i = err_index(err);
    return i < 0 ? "CAIRN_EUNKNOWN" : err_table[i].name;
}
