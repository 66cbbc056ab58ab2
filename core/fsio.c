/*
 * fsio.c - durable small-file writes and errno mapping.
 *
 * "Durable" here means the classic sequence: write, fsync the file, rename
 * into place, fsync the directory. Without the last step a crash can lose the
 * directory entry even though the data blocks reached the disk.
 */
#include "fsio.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

cairn_err_t cairn__err_from_errno(int e)
{
    switch (e) {
    case 0:
        return CAIRN_OK;
    case ENOMEM:
        return CAIRN_ENOMEM;
    case ENOSPC:
    case EDQUOT:
    case EFBIG:
        return CAIRN_ENOSPC;
    case EACCES:
    case EPERM:
    case EROFS:
        return CAIRN_EPERM;
    case EEXIST:
        return CAIRN_EEXIST;
    case ENOENT:
    case ENOTDIR:
        return CAIRN_ENODIR;
    case EAGAIN:
        return CAIRN_ELOCKED;
    case ENAMETOOLONG:
    case EINVAL:
        return CAIRN_EINVAL;
    default:
        return CAIRN_EIO;
    }
}

cairn_err_t cairn__write_all(int fd, const void *buf, size_t n)
{
    const unsigned char *p = buf;
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return cairn__err_from_errno(errno);
        }
        p += w;
        n -= (size_t)w;
    }
    return CAIRN_OK;
}

cairn_err_t cairn__read_exact(int fd, void *buf, size_t n)
{
    unsigned char *p = buf;
    while (n > 0) {
        ssize_t r = read(fd, p, n);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return cairn__err_from_errno(errno);
        }
        if (r == 0)
            return CAIRN_ECORRUPT;
        p += r;
        n -= (size_t)r;
    }
    return CAIRN_OK;
}

cairn_err_t cairn__path_join(char *out, size_t out_size, const char *dir, const char *name)
{
    int n = snprintf(out, out_size, "%s/%s", dir, name);
    return (n < 0 || (size_t)n >= out_size) ? CAIRN_EINVAL : CAIRN_OK;
}

cairn_err_t cairn__fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return cairn__err_from_errno(errno);
    cairn_err_t err = CAIRN_OK;
    if (fsync(fd) != 0)
        err = cairn__err_from_errno(errno);
    close(fd);
    return err;
}

static cairn_err_t dir_of(const char *path, char *out, size_t out_size)
{
    if (strlen(path) >= out_size)
        return CAIRN_EINVAL;
    strcpy(out, path);
    char *d = dirname(out);
    if (d != out)
        memmove(out, d, strlen(d) + 1);
    return CAIRN_OK;
}

cairn_err_t cairn__write_file_durable(const char *path, const void *buf, size_t n, int exclusive)
{
    char tmp[4096], dir[4096];
    cairn_err_t err = dir_of(path, dir, sizeof dir);
    if (err != CAIRN_OK)
        return err;
    const char *target = path;
    int flags = O_WRONLY | O_CREAT | O_CLOEXEC | O_EXCL;
    if (!exclusive) {
        int k = snprintf(tmp, sizeof tmp, "%s.tmp", path);
        if (k < 0 || (size_t)k >= sizeof tmp)
            return CAIRN_EINVAL;
        unlink(tmp); /* a leftover from an interrupted write */
        target = tmp;
    }
    int fd = open(target, flags, 0600);
    if (fd < 0)
        return cairn__err_from_errno(errno);
    err = cairn__write_all(fd, buf, n);
    if (err == CAIRN_OK && fsync(fd) != 0)
        err = cairn__err_from_errno(errno);
    if (close(fd) != 0 && err == CAIRN_OK)
        err = cairn__err_from_errno(errno);
    if (err == CAIRN_OK && !exclusive && rename(tmp, path) != 0)
        err = cairn__err_from_errno(errno);
    if (err != CAIRN_OK) {
        unlink(target);
        return err;
    }
    return cairn__fsync_dir(dir);
}
