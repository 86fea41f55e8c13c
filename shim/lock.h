/* lock.h - the lock of a connection (conn.h): a futex word, as glibc's
 * mutex has, without the mutex's type and owner bookkeeping. Uncontended,
 * a lock and its unlock are one compare-and-swap and one exchange, where
 * an uncontended pthread mutex pair cost about 64 instructions
 * (callgrind), three times per request. Contended, a waiter sleeps in the
 * kernel: a holder may wait on a blocking socket (owed bytes) for long.
 * Not reentrant, not shared between processes; a fork child initialises
 * again what it keeps. */
#ifndef NM_SHIM_LOCK_H
#define NM_SHIM_LOCK_H

#include <errno.h>
#include <linux/futex.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <sys/syscall.h>
#include <unistd.h>

/* 0: free; 1: held; 2: held, and someone may be waiting. */
typedef struct nm_lock {
    _Atomic int word;
} nm_lock_t;

static inline void nm_lock_init(nm_lock_t *l)
{
    atomic_store_explicit(&l->word, 0, memory_order_relaxed);
}

/* The contended path (Drepper, "Futexes Are Tricky", mutex 3): mark the
 * word as waited for, sleep while it stays so. errno is the caller's. */
static __attribute__((noinline)) void nm_lock_wait(nm_lock_t *l)
{
    int saved = errno;
    while (atomic_exchange_explicit(&l->word, 2, memory_order_acquire) != 0)
        syscall(SYS_futex, &l->word, FUTEX_WAIT_PRIVATE, 2, NULL, NULL, 0);
    errno = saved;
}

static inline void nm_lock(nm_lock_t *l)
{
    int free_word = 0;
    if (!atomic_compare_exchange_strong_explicit(&l->word, &free_word, 1,
                                                 memory_order_acquire,
                                                 memory_order_relaxed))
        nm_lock_wait(l);
}

/* True when it took the lock; never waits. */
static inline bool nm_lock_try(nm_lock_t *l)
{
    int free_word = 0;
    return atomic_compare_exchange_strong_explicit(
        &l->word, &free_word, 1, memory_order_acquire, memory_order_relaxed);
}

static __attribute__((noinline)) void nm_lock_wake(nm_lock_t *l)
{
    int saved = errno;
    syscall(SYS_futex, &l->word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
    errno = saved;
}

static inline void nm_unlock(nm_lock_t *l)
{
    if (atomic_exchange_explicit(&l->word, 0, memory_order_release) == 2)
        nm_lock_wake(l);
}

#endif
