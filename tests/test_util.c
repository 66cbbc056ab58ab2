/*
 * test_util.c - temporary directories, seeds and key files for the tests.
 */
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "test.h"

void test_tmpdir(char *out, size_t n, const char *tag)
{
    const char *base = getenv("TMPDIR");
    if (base == NULL || base[0] == '\0')
        base = "/tmp";
    snprintf(out, n, "%s/cairn-%s-XXXXXX", base, tag);
    CHECK(mkdtemp(out) != NULL);
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

void test_rmtree(const char *path)
{
    nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

unsigned long long test_seed(void)
{
    const char *s = getenv("CAIRN_TEST_SEED");
    unsigned long long seed;
    if (s != NULL && s[0] != '\0') {
        seed = strtoull(s, NULL, 10);
    } else {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        seed = (unsigned long long)ts.tv_sec * 1000003ull ^ (unsigned long long)ts.tv_nsec ^
               (unsigned long long)getpid();
    }
    fprintf(stderr, "seed: %llu (rerun with CAIRN_TEST_SEED=%llu)\n", seed, seed);
    return seed;
}

void test_key_file(char *out, size_t n, const char *dir)
{
    snprintf(out, n, "%s/key", dir);
    CHECK_OK(cairn_key_file_create(out));
}
