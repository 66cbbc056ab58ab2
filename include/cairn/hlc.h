/*
 * cairn/hlc.h - hybrid logical clocks.
 *
 * A timestamp is 48 bits of wall-clock milliseconds and a 16-bit counter,
 * packed into a uint64_t so that plain integer comparison orders them. Time
 * enters only as a parameter: the caller reads the wall clock (or a test
 * supplies one), which keeps the clock deterministic under simulation.
 *
 * A received timestamp may drag the local clock forward, but never more than
 * max_ahead_ms past local wall time: a peer whose clock is days fast cannot
 * push every later local write days into the future. Its changes are still
 * accepted; only the local clock refuses to follow.
 */
#ifndef CAIRN_HLC_H
#define CAIRN_HLC_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef uint64_t cairn_hlc_t;

#define CAIRN_HLC_MS(h) ((h) >> 16)
#define CAIRN_HLC_COUNTER(h) ((h)&0xffffu)
#define CAIRN_HLC_MAKE(ms, counter) (((uint64_t)(ms) << 16) | ((uint64_t)(counter)&0xffffu))
#define CAIRN_HLC_MS_MAX ((UINT64_C(1) << 48) - 1)
#define CAIRN_HLC_DEFAULT_MAX_AHEAD_MS (24u * 3600u * 1000u)

/* A clock a caller owns; zero-initialise, then set max_ahead_ms. */
typedef struct cairn_hlc_clock {
    cairn_hlc_t last;      /* the greatest timestamp issued or accepted */
    uint64_t max_ahead_ms; /* bound on following a peer's clock; 0 = the default */
} cairn_hlc_clock_t;

/*
 * A timestamp for a local event (a write) at wall time wall_ms: greater than
 * every timestamp this clock issued or accepted before.
 */
cairn_hlc_t cairn_hlc_tick(cairn_hlc_clock_t *clock, uint64_t wall_ms);

/*
 * Account for a received timestamp at wall time wall_ms. The local clock
 * moves to max(last, remote, wall), except that remote counts for no more
 * than wall_ms + max_ahead_ms. Returns the clock's new value.
 */
cairn_hlc_t cairn_hlc_observe(cairn_hlc_clock_t *clock, cairn_hlc_t remote, uint64_t wall_ms);

#ifdef __cplusplus
}
#endif

#endif
