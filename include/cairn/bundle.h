/*
 * cairn/bundle.h - changes carried by hand, as an encrypted file.
 *
 * An administrator without a network exports the changes of some plans to a
 * bundle for one recipient node, carries it over, and imports it there.
 * The bundle is sealed to the recipient's identity key (X25519 derived from
 * its Ed25519 key, libsodium's sealed box): a lost USB stick reveals
 * nothing but sizes. Every change inside still goes through ingest, so a
 * bundle can add nothing that a peer could not have sent.
 *
 * Layout: "CAIRNBDL", version (1 byte), recipient Ed25519 key (32 bytes),
 * then crypto_box_seal() of the frames: for each change, its length as a
 * big-endian u32 and its signed bytes.
 */
#ifndef CAIRN_BUNDLE_H
#define CAIRN_BUNDLE_H

#include <stddef.h>
#include <stdint.h>

#include "cairn/change.h"
#include "cairn/ingest.h"
#include "cairn/replica.h"
#include "cairn/store.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CAIRN_BUNDLE_MAX_BYTES ((size_t)1 << 30) /* largest bundle file */

/*
 * Write every change of the given plans (all plans the store holds that the
 * recipient may hold if nplans is 0, the organisation's roster first) to
 * path, sealed for the node whose public key is recipient. The recipient
 * must be a valid member on this store's roster, and may receive only the
 * plans cairn_plan_may_hold() allows (CAIRN_EDENIED otherwise: an unknown
 * recipient, or a plan named that it may not hold). *count (may be NULL)
 * is the number of changes. The file is replaced atomically and made
 * durable.
 */
cairn_err_t cairn_bundle_export(cairn_store_t *store, const uint8_t (*plans)[CAIRN_PLAN_ID_BYTES],
                                size_t nplans, const uint8_t recipient[32], const char *path,
                                size_t *count);

/*
 * Open the bundle at path (sealed for this node) and ingest its changes in
 * batches. Errors: CAIRN_EMALFORMED (not a bundle, or damaged framing),
 * CAIRN_EBADKEY (sealed for another node, or tampered with),
 * CAIRN_ETOOBIG, and the store's. Rejected changes are counted in stats.
 */
cairn_err_t cairn_bundle_import(cairn_store_t *store, const char *path,
                                cairn_ingest_stats_t *stats);


#ifdef __cplusplus
}
#endif

#endif
