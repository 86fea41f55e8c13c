/* shared_map.h - the tables the shim shares between a server's forked
 * workers (tagwatch.c, headcache.c, kept.c): each one MAP_SHARED anonymous
 * mapping, made once per process image before its first fork, with a
 * try-lock per slot. A slot's holder may be a worker killed while holding
 * it, so a lock is tried a bounded number of times and then the caller
 * does without that slot: a miss (no date, no tag, no acceleration), never
 * a wait on another process and never a wrong answer. */
#ifndef NM_SHIM_SHARED_MAP_H
#define NM_SHIM_SHARED_MAP_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include "spin.h"

/* Tries per slot lock: a few hundred pauses, well under a microsecond
 * when the holder is running, and a holder that died is given up on. */
#define NM_SHARED_LOCK_TRIES 256

/* Maps bytes of zeroed memory that processes forked later share, once:
 * the first mapping stored in *slot wins, and every caller (racing threads
 * included) gets it. NULL when the mapping cannot be made. */
void *nm_shared_map_once(_Atomic(void *) *slot, size_t bytes);

/* The mapping made by nm_shared_map_once, or NULL. */
static inline void *nm_shared_map_get(_Atomic(void *) *slot)
{
    return atomic_load_explicit(slot, memory_order_acquire);
}

/* Takes a slot's lock; false when it stays busy (do without the slot). */
static inline bool nm_shared_try_lock(atomic_flag *busy)
{
    for (int n = 0; n < NM_SHARED_LOCK_TRIES; n++) {
        if (!atomic_flag_test_and_set_explicit(busy, memory_order_acquire))
            return true;
        NM_CPU_RELAX();
    }
    return false;
}

static inline void nm_shared_unlock(atomic_flag *busy)
{
    atomic_flag_clear_explicit(busy, memory_order_release);
}

#endif
