/*
 * test_crash.c - a writer killed with SIGKILL at random points loses nothing
 * it acknowledged, never leaves half a transaction, and the store reopens.
 *
 * The child writes batches of records, one transaction each, and after each
 * successful commit writes the batch number to a pipe: that is its
 * acknowledgement, as it would be to a user or a peer. The parent kills it
 * after a random delay (sometimes during open, mostly mid-stream), then
 * checks every acknowledged batch is complete and correct, and that the batch
 * that was in flight is either wholly there or wholly absent.
 */
#include <signal.h>
#include <sodium.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "test.h"

#define ROUNDS 60
#define BATCH 8

/* Deterministic value of record (round, batch, i): 40 to 3,000 bytes. */
static size_t make_value(uint8_t *out, int round, int batch, int i)
{
    uint8_t seed[32];
    char label[64];
    int n = snprintf(label, sizeof label, "r%d b%d i%d", round, batch, i);
    crypto_generichash(seed, sizeof seed, (const uint8_t *)label, (size_t)n, NULL, 0);
    size_t len = 40 + (size_t)(seed[0] | seed[1] << 8) % 2960;
    randombytes_buf_deterministic(out, len, seed);
    return len;
}

static void make_key(char *out, size_t n, int round, int batch, int i)
{
    snprintf(out, n, "r%03d/b%05d/%d", round, batch, i);
}

static void writer(const char *dir, const cairn_unlock_t *u, int round, int ack_fd)
{
    cairn_store_t *s;
    if (cairn_store_open(dir, u, &s) != CAIRN_OK)
        _exit(3);
    static uint8_t val[3000];
    for (int batch = 0;; batch++) {
        cairn_txn_t *txn;
        if (cairn_txn_begin(s, 1, &txn) != CAIRN_OK)
            _exit(4);
        for (int i = 0; i < BATCH; i++) {
            char key[64];
            make_key(key, sizeof key, round, batch, i);
            size_t len = make_value(val, round, batch, i);
            if (cairn_record_put(txn, key, strlen(key), val, len) != CAIRN_OK)
                _exit(5);
        }
        if (cairn_txn_commit(txn) != CAIRN_OK)
            _exit(6);
        if (write(ack_fd, &batch, sizeof batch) != (ssize_t)sizeof batch)
            _exit(7);
    }
}

/* How many records of (round, batch) are present and correct; -1 if any is wrong. */
static int batch_present(cairn_txn_t *txn, int round, int batch, cairn_buf_t *b)
{
    static uint8_t want[3000];
    int present = 0;
    for (int i = 0; i < BATCH; i++) {
        char key[64];
        make_key(key, sizeof key, round, batch, i);
        cairn_err_t err = cairn_record_get(txn, key, strlen(key), b);
        if (err == CAIRN_ENOTFOUND)
            continue;
        if (err != CAIRN_OK)
            return -1;
        size_t len = make_value(want, round, batch, i);
        if (b->len != len || memcmp(b->data, want, len) != 0)
            return -1;
        present++;
    }
    return present;
}

int main(void)
{
    CHECK(sodium_init() >= 0);
    unsigned long long seed = test_seed();
    srandom((unsigned)seed);
    char root[512], dir[600], key[600];
    test_tmpdir(root, sizeof root, "crash");
    snprintf(dir, sizeof dir, "%s/node", root);
    test_key_file(key, sizeof key, root);
    cairn_unlock_t u = {CAIRN_UNLOCK_KEY_FILE, NULL, 0, key};
    CHECK_OK(cairn_store_init(dir, &u, NULL));

    int acked[ROUNDS];
    long total_acked = 0;
    cairn_buf_t b = CAIRN_BUF_INIT;
    for (int round = 0; round < ROUNDS; round++) {
        int fds[2];
        CHECK(pipe(fds) == 0);
        pid_t pid = fork();
        CHECK(pid >= 0);
        if (pid == 0) {
            close(fds[0]);
            writer(dir, &u, round, fds[1]);
        }
        close(fds[1]);
        /* 0-60 ms: early kills land in open, later ones mid-commit. */
        long delay_us = random() % 60000;
        struct timespec ts = {0, delay_us * 1000};
        nanosleep(&ts, NULL);
        kill(pid, SIGKILL);
        int status;
        CHECK(waitpid(pid, &status, 0) == pid);
        if (!(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)) {
            fprintf(stderr, "round %d: writer exited on its own, status %d\n", round, status);
            CHECK(0);
        }
        acked[round] = -1;
        int batch;
        while (read(fds[0], &batch, sizeof batch) == (ssize_t)sizeof batch)
            acked[round] = batch;
        close(fds[0]);
        total_acked += acked[round] + 1;

        /* The store opens, and everything acknowledged so far is intact. */
        cairn_store_t *s;
        cairn_txn_t *txn;
        CHECK_OK(cairn_store_open(dir, &u, &s));
        CHECK_OK(cairn_txn_begin(s, 0, &txn));
        for (int r = 0; r <= round; r++) {
            for (int bt = 0; bt <= acked[r]; bt++) {
                if (batch_present(txn, r, bt, &b) != BATCH) {
                    fprintf(stderr, "round %d: acknowledged batch %d of round %d lost\n", round,
                            bt, r);
                    CHECK(0);
                }
            }
        }
        /* The batch in flight at the kill: all or nothing, never half. */
        int inflight = batch_present(txn, round, acked[round] + 1, &b);
        CHECK(inflight == 0 || inflight == BATCH);
        CHECK(batch_present(txn, round, acked[round] + 2, &b) == 0);
        cairn_txn_abort(txn);
        cairn_store_close(s);
        fprintf(stderr, "round %2d: killed after %5ld us, %4d batches acknowledged%s\n", round,
                delay_us, acked[round] + 1, inflight ? ", in-flight batch committed" : "");
    }
    fprintf(stderr, "%d kills, %ld acknowledged batches (%ld records), all present\n", ROUNDS,
            total_acked, total_acked * BATCH);
    cairn_buf_free(&b);
    test_rmtree(root);
    return 0;
}
