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

typedef enum cairn_err {
    CAIRN_OK = 0,
    CAIRN_EINVAL = -1,     /* an argument is invalid (NULL, empty, out of range) */
    CAIRN_ENOMEM = -2,     /* out of memory */
    CAIRN_EIO = -3,        /* the operating system reported an I/O error */
    CAIRN_ENODIR = -4,     /* the node directory (or a parent) does not exist */
    CAIRN_ENOTSTORE = -5,  /* the directory exists but holds no cairn store */
    CAIRN_EEXIST = -6,     /* a store (or other files) already exist there */
    CAIRN_EBADKEY = -7,    /* wrong passphrase or key file */
    CAIRN_ECORRUPT = -8,   /* stored data is corrupt or was tampered with */
    CAIRN_ELOCKED = -9,    /* another process has the store open */
    CAIRN_ENOSPC = -10,    /* the disk (or a file size limit) is full */
    CAIRN_EMAPFULL = -11,  /* the store reached its configured maximum size */
    CAIRN_EVERSION = -12,  /* the store's format is newer than this build */
    CAIRN_ENOTFOUND = -13, /* no record under that key */
    CAIRN_ETOOBIG = -14,   /* a key or value exceeds its maximum size */
    CAIRN_ENOPASS = -15,   /* no passphrase or key file was provided */
    CAIRN_ECRYPTO = -16,   /* the crypto library could not initialise */
    CAIRN_EPERM = -17,     /* the operating system denied access */
    CAIRN_EKEYKIND = -18,  /* the store is protected by the other kind of secret */
    CAIRN_EREADONLY = -19, /* a write was attempted in a read-only transaction */
    CAIRN_EMALFORMED = -20, /* bytes that are not a valid (canonical) encoding */
    CAIRN_EDENIED = -21,    /* the organisation's roster does not allow this author or edit */
} cairn_err_t;

/* Number of distinct error codes, CAIRN_OK included. */
#define CAIRN_ERR_COUNT 22

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
