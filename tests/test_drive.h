/*
 * test_drive.h - the caller's side of the sync work boundary, for tests.
 */
#ifndef CAIRN_TEST_DRIVE_H
#define CAIRN_TEST_DRIVE_H

#include <cairn/sync.h>

/*
 * Run the ingest work s has outstanding, one cairn_ingest per work, into
 * store, and report each done, until none is left: what an event loop with
 * the writer on its own thread does, in one thread. Returns the works run.
 * Fails the test if the store or the session fails.
 */
size_t test_sync_ingest(cairn_sync_t *s, cairn_store_t *store);

#endif
