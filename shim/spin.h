/* spin.h - the lock of the shim's small shared caches (stat, file tags,
 * HEAD tags). Their critical sections are a few dozen instructions; an
 * uncontended pthread mutex pair cost about 100 (callgrind), five times
 * per request. Spins briefly, then yields, so a holder preempted inside
 * is waited for without burning the core. Not reentrant, like the mutex
 * it replaces. After fork the child clears it (the holder may be a thread
 * that does not exist there). */
#ifndef NM_SHIM_SPIN_H
#define NM_SHIM_SPIN_H

#include <sched.h>
#include <stdatomic.h>
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define NM_CPU_RELAX() _mm_pause()
#else
#define NM_CPU_RELAX() ((void)0)
#endif

typedef struct nm_spin {
    atomic_flag flag;
} nm_spin_t;

#define NM_SPIN_INIT                                                           \
    {                                                                          \
        ATOMIC_FLAG_INIT                                                       \
    }

static inline void nm_spin_lock(nm_spin_t *l)
{
    for (unsigned n = 0;
         atomic_flag_test_and_set_explicit(&l->flag, memory_order_acquire);
         n++) {
        if (n < 64)
            NM_CPU_RELAX();
        else
            sched_yield();
    }
}

static inline void nm_spin_unlock(nm_spin_t *l)
{
    atomic_flag_clear_explicit(&l->flag, memory_order_release);
}

/* In the child after fork: nobody holds it there. */
static inline void nm_spin_reset(nm_spin_t *l)
{
    atomic_flag_clear_explicit(&l->flag, memory_order_relaxed);
}

#endif
