/*
 * log.h - the change log of every plan (private).
 *
 * Owns the rows of signed changes (plan, 2, id -> bytes), the log index
 * (plan, 3, author, seq, id -> the change's HLC) and the fork marks. A
 * change is appended once, by ingest, after every check passed; nothing
 * here judges a change. Everything works inside a transaction the caller
 * holds; nothing here knows about batches, rosters or the store handle.
 */
#ifndef CAIRN_CORE_LOG_H
#define CAIRN_CORE_LOG_H

#include "cairn/change.h"
#include "kv.h"

/* Whether plan's change id is applied here: 1, 0, or a negative error. */
int cairn__log_has(cairn_txn_t *txn, const uint8_t *plan, const uint8_t *id);

/* The signed bytes of plan's change id into out; CAIRN_ENOTFOUND if not held. */
cairn_err_t cairn__log_bytes(cairn_txn_t *txn, const uint8_t *plan, const uint8_t *id,
                             cairn_buf_t *out);

/*
 * The HLC of author's change id at seq in plan, from the log index:
 * CAIRN_ENOTFOUND if the index has no such entry, CAIRN_ECORRUPT if the
 * entry is not 8 bytes.
 */
cairn_err_t cairn__log_clock(cairn_txn_t *txn, const uint8_t *plan, const uint8_t *author,
                             uint64_t seq, const uint8_t *id, cairn_hlc_t *hlc);

/* The author's own last change in plan: *seq 0 (id untouched) if none. */
cairn_err_t cairn__log_chain_head(cairn_txn_t *txn, const uint8_t *plan, const uint8_t *author,
                                  uint64_t *seq, uint8_t id[CAIRN_CHANGE_ID_BYTES]);

/* Whether author has any change in plan: 1 or 0 in *found. */
cairn_err_t cairn__log_has_author(cairn_txn_t *txn, const uint8_t *plan, const uint8_t *author,
                                  int *found);

/*
 * Append checked change c: its bytes, its log entry, and a fork mark if
 * its author already had a change at c's seq (*forked 1). Write errors
 * of the store.
 */
cairn_err_t cairn__log_append(cairn_txn_t *txn, const cairn_change_t *c, int *forked);

/*
 * A plan's log, decoded, in log order (author, seq, id) into *cs (*n of
 * them); free with cairn__log_free. CAIRN_ECORRUPT if an indexed change is
 * missing or does not decode.
 */
cairn_err_t cairn__log_load(cairn_txn_t *txn, const uint8_t *plan, cairn_change_t ***cs, size_t *n);
void cairn__log_free(cairn_change_t **cs, size_t n);

#endif
