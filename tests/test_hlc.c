/*
 * test_hlc.c - hybrid logical clock: monotonic, follows peers, bounded.
 */
#include <cairn/hlc.h>

#include "test.h"

static void monotonic_when_wall_stalls_or_goes_back(void)
{
    cairn_hlc_clock_t c = {0, 0};
    cairn_hlc_t a = cairn_hlc_tick(&c, 1000);
    cairn_hlc_t b = cairn_hlc_tick(&c, 1000);
    cairn_hlc_t d = cairn_hlc_tick(&c, 900); /* wall clock stepped back */
    CHECK(a == CAIRN_HLC_MAKE(1000, 0));
    CHECK(b == CAIRN_HLC_MAKE(1000, 1));
    CHECK(d == CAIRN_HLC_MAKE(1000, 2));
    CHECK(cairn_hlc_tick(&c, 2000) == CAIRN_HLC_MAKE(2000, 0));
    /* Counter overflow carries into the milliseconds and keeps order. */
    c.last = CAIRN_HLC_MAKE(5000, 0xffff);
    cairn_hlc_t e = cairn_hlc_tick(&c, 5000);
    CHECK(e > CAIRN_HLC_MAKE(5000, 0xffff) && CAIRN_HLC_MS(e) == 5001);
}

static void follows_a_peer_within_the_bound(void)
{
    cairn_hlc_clock_t c = {0, 60000};
    cairn_hlc_tick(&c, 1000);
    cairn_hlc_observe(&c, CAIRN_HLC_MAKE(31000, 7), 1000); /* 30 s ahead: followed */
    CHECK(c.last == CAIRN_HLC_MAKE(31000, 7));
    CHECK(cairn_hlc_tick(&c, 1001) == CAIRN_HLC_MAKE(31000, 8));
    /* An older remote does not move the clock back. */
    cairn_hlc_observe(&c, CAIRN_HLC_MAKE(10, 0), 1002);
    CHECK(c.last == CAIRN_HLC_MAKE(31000, 8));
}

static void a_days_fast_peer_drags_at_most_the_bound(void)
{
    cairn_hlc_clock_t c = {0, 0}; /* default bound: 24 h */
    uint64_t now = 1700000000000ull;
    uint64_t five_days = 5ull * 24 * 3600 * 1000;
    cairn_hlc_observe(&c, CAIRN_HLC_MAKE(now + five_days, 0), now);
    CHECK(CAIRN_HLC_MS(c.last) == now + CAIRN_HLC_DEFAULT_MAX_AHEAD_MS);
    cairn_hlc_t next = cairn_hlc_tick(&c, now + 1);
    CHECK(CAIRN_HLC_MS(next) <= now + CAIRN_HLC_DEFAULT_MAX_AHEAD_MS);
    /* Once wall time passes the bound the clock runs on wall time again. */
    uint64_t later = now + CAIRN_HLC_DEFAULT_MAX_AHEAD_MS + 5000;
    CHECK(cairn_hlc_tick(&c, later) == CAIRN_HLC_MAKE(later, 0));
}

int main(void)
{
    RUN(monotonic_when_wall_stalls_or_goes_back);
    RUN(follows_a_peer_within_the_bound);
    RUN(a_days_fast_peer_drags_at_most_the_bound);
    return 0;
}
