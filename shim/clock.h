/* clock.h - the shim's one clock for deadlines (holds, report batches,
 * snapshot refresh): monotonic milliseconds. Header only: read per
 * response on the hot path. Dates on the wire use time(), not this. */
#ifndef NM_SHIM_CLOCK_H
#define NM_SHIM_CLOCK_H

#include <stdint.h>
#include <time.h>

/* Monotonic milliseconds at clock-tick resolution. The coarse clock (a
 * tick, 1-4 ms) is plenty for deadlines of hundreds of ms, and is read
 * without the TSC. */
static inline uint64_t nm_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

#endif
