/*
 * test_drive.c - running a session's ingest work, as its caller must.
 */
#include "test_drive.h"

#include "test.h"

size_t test_sync_ingest(cairn_sync_t *s, cairn_store_t *store)
{
    cairn_sync_work_t w;
    size_t works = 0;
    while (cairn_sync_work(s, &w)) {
        cairn_ingest_stats_t st;
        cairn_err_t err = cairn_ingest(store, w.bytes, w.lens, w.n, NULL, &st);
        CHECK_OK(err);
        CHECK_OK(cairn_sync_work_done(s, err, &st));
        works++;
    }
    return works;
}
