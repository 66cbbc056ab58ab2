/*
 * cairn/cairn.h - the whole public API of libcairn.
 *
 * cairn keeps the shared care plans of a care team consistent across
 * disconnected sites. See docs/architecture.md for the layers.
 */
#ifndef CAIRN_CAIRN_H
#define CAIRN_CAIRN_H

#include "cairn/buf.h"
#include "cairn/bundle.h"
#include "cairn/change.h"
#include "cairn/error.h"
#include "cairn/hlc.h"
#include "cairn/identity.h"
#include "cairn/ingest.h"
#include "cairn/peers.h"
#include "cairn/plan.h"
#include "cairn/replica.h"
#include "cairn/schema.h"
#include "cairn/store.h"
#include "cairn/view.h"

#define CAIRN_VERSION_STRING "0.1.0"

#endif
