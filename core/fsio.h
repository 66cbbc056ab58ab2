/*
 * fsio.h - small POSIX file helpers shared by the store's modules (private).
 *
 * All return cairn_err_t and map errno with cairn__err_from_errno(), so that a
 * full disk reads CAIRN_ENOSPC everywhere and a permission problem CAIRN_EPERM.
 */
#ifndef CAIRN_CORE_FSIO_H
#define CAIRN_CORE_FSIO_H

#include <stddef.h>

#include "cairn/error.h"

/* Map an errno value to the closest cairn error. */
cairn_err_t cairn__err_from_errno(int e);

/* Write all n bytes to fd, retrying on EINTR and short writes. */
cairn_err_t cairn__write_all(int fd, const void *buf, size_t n);

/* Read exactly n bytes from fd; a shorter file gives CAIRN_ECORRUPT. */
cairn_err_t cairn__read_exact(int fd, void *buf, size_t n);

/*
 * Create path with mode 0600 holding exactly buf[0..n), fsync it, and fsync
 * its directory. With exclusive, fail with CAIRN_EEXIST if path exists;
 * otherwise write to path.tmp and rename over path atomically.
 */
cairn_err_t cairn__write_file_durable(const char *path, const void *buf, size_t n, int exclusive);

/* fsync the directory dir so that entries created in it are durable. */
cairn_err_t cairn__fsync_dir(const char *dir);

/* Join dir and name into out (size out_size). CAIRN_EINVAL if it does not fit. */
cairn_err_t cairn__path_join(char *out, size_t out_size, const char *dir, const char *name);

#endif
