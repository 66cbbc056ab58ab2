/*
 * hlc.c - hybrid logical clock rules (Kulkarni et al., 2014), with a bound.
 *
 * Packing milliseconds and counter into one integer turns the paper's
 * pairwise rules into max() and +1: when wall time has not passed the last
 * timestamp, the next one is last + 1, which carries from the counter into
 * the milliseconds if the counter overflows. Order is preserved either way.
 */
#include "cairn/hlc.h"

static uint64_t max_ahead(const cairn_hlc_clock_t *clock)
{
    return clock->max_ahead_ms ? clock->max_ahead_ms : CAIRN_HLC_DEFAULT_MAX_AHEAD_MS;
}

static cairn_hlc_t wall_hlc(uint64_t wall_ms)
{
    return CAIRN_HLC_MAKE(wall_ms > CAIRN_HLC_MS_MAX ? CAIRN_HLC_MS_MAX : wall_ms, 0);
}

cairn_hlc_t cairn_hlc_tick(cairn_hlc_clock_t *clock, uint64_t wall_ms)
{
    cairn_hlc_t w = wall_hlc(wall_ms);
    clock->last = w > clock->last ? w : clock->last + 1;
    return clock->last;
}

cairn_hlc_t cairn_hlc_observe(cairn_hlc_clock_t *clock, cairn_hlc_t remote, uint64_t wall_ms)
{
    uint64_t limit_ms = wall_ms + max_ahead(clock);
    cairn_hlc_t limit = wall_hlc(limit_ms < wall_ms ? CAIRN_HLC_MS_MAX : limit_ms);
    if (remote > limit)
        remote = limit;
    cairn_hlc_t w = wall_hlc(wall_ms);
    cairn_hlc_t m = remote > w ? remote : w;
    if (m > clock->last)
        clock->last = m;
    return clock->last;
}
