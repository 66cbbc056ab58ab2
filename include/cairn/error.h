/*
 * cairn/error.h - the one error type of the cairn library.
 *
 * Every fallible function returns a cairn_err_t: CAIRN_OK (zero) on success,
 * a negative code otherwise. Results travel through out-parameters. The
 * library never prints, never exits and never aborts on bad input; turning a
 * code into a message and an exit status is the caller's job.
 */
#ifndef CAIRN_ERROR_H
#define CAIRN_ERROR_H

#ifdef __cplusplus
extern "C" {
#endif

/*
 * The one table of errors: code, value, message (what cairn_strerror gives).
 * The enum, cairn_err_name() and cairn_strerror() are generated from it, so
 * a code, its name and its sentence cannot drift apart. Values are stable:
 * the CLI's exit status is 10 - value (docs/cli.md).
 */
#define CAIRN_ERRNO_MAP(X)                                                                         \
    X(OK, 0, "success")                                                                            \
    X(EINVAL, -1, "invalid argument")                                                              \
    X(ENOMEM, -2, "out of memory")                                                                 \
    X(EIO, -3, "input/output error")                                                               \
    X(ENODIR, -4, "directory does not exist")                                                      \
    X(ENOTSTORE, -5, "not a cairn store")                                                          \
    X(EEXIST, -6, "a store or other files already exist there")                                    \
    X(EBADKEY, -7, "wrong passphrase or key file")                                                 \
    X(ECORRUPT, -8, "stored data is corrupt or was tampered with")                                 \
    X(ELOCKED, -9, "store is in use: open in this process already, or held alone by another")      \
    X(ENOSPC, -10, "disk full")                                                                    \
    X(EMAPFULL, -11, "store reached its maximum size")                                             \
    X(EVERSION, -12, "store format is newer than this version of cairn supports")                  \
    X(ENOTFOUND, -13, "not found")                                                                 \
    X(ETOOBIG, -14, "key or value too large")                                                      \
    X(ENOPASS, -15, "no passphrase or key file given")                                             \
    X(ECRYPTO, -16, "crypto library failed to initialise")                                         \
    X(EPERM, -17, "permission denied")                                                             \
    X(EKEYKIND, -18, "store is protected by the other kind of secret")                             \
    X(EREADONLY, -19, "write in a read-only transaction")                                          \
    X(EMALFORMED, -20, "malformed or non-canonical encoding")                                      \
    X(EDENIED, -21, "not allowed by the organisation's roster")                                    \
    X(EBUSY, -22, "a write transaction is already open on this store handle")                      \
    X(ECONFLICT, -23, "another edit of this plan came first in the batch")                         \
    X(EPOISONED, -24, "an earlier write of this transaction failed: only abort remains")           \
    X(ENOORG, -25, "the store belongs to no organisation")                                         \
    X(ENET, -26, "network error: address in use or unavailable")

typedef enum cairn_err {
#define CAIRN_ERR_ENUM_(name, value, msg) CAIRN_##name = value,
    CAIRN_ERRNO_MAP(CAIRN_ERR_ENUM_)
#undef CAIRN_ERR_ENUM_
} cairn_err_t;

/*
 * On verification and decoding functions: a result that must not be
 * ignored by accident (libsodium does the same on its verify functions).
 */
#if defined(__GNUC__) || defined(__clang__)
#define CAIRN_MUST_USE __attribute__((warn_unused_result))
#else
#define CAIRN_MUST_USE
#endif

/* Number of distinct error codes, CAIRN_OK included. */
#define CAIRN_ERR_COUNT 27

/*
 * A short human-readable sentence for err ("wrong passphrase or key file").
 * Never NULL; unknown codes give "unknown error". The string is static.
 */
const char *cairn_strerror(cairn_err_t err);

/*
 * The symbolic name of err ("CAIRN_EBADKEY"). Never NULL; unknown codes give
 * "CAIRN_EUNKNOWN". The string is static.
 */
const char *cairn_err_name(cairn_err_t err);

#ifdef __cplusplus
}
#endif

#endif
