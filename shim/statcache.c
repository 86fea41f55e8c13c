/* statcache.c - see statcache.h. A small direct-mapped table: a miss only
 * costs the fstat the shim would have made anyway. */
#include "statcache.h"

#include "spin.h"

#include <stdatomic.h>

#define SLOTS 256

struct entry {
    _Atomic int fd; /* -1: empty; read unlocked to skip the lock on a miss */
    struct stat st;
};

static nm_spin_t lock = NM_SPIN_INIT;
static struct entry slots[SLOTS] = {[0 ... SLOTS - 1] = {.fd = -1}};

/* A hint read without the lock. For get, a stale "no" costs an fstat; for
 * forget, it could only come from a put of the same fd number racing in
 * another thread with its close, which no server does (and the next open
 * of that number forgets it again). */
static bool is_cached(int fd)
{
    return atomic_load_explicit(&slots[fd % SLOTS].fd, memory_order_relaxed) ==
           fd;
}

void nm_statcache_put(int fd, const struct stat *st)
{
    if (fd < 0 || !S_ISREG(st->st_mode))
        return;
    nm_spin_lock(&lock);
    slots[fd % SLOTS].st = *st;
    atomic_store_explicit(&slots[fd % SLOTS].fd, fd, memory_order_relaxed);
    nm_spin_unlock(&lock);
}

bool nm_statcache_get(int fd, struct stat *st)
{
    if (fd < 0 || !is_cached(fd))
        return false;
    nm_spin_lock(&lock);
    bool is_hit = slots[fd % SLOTS].fd == fd;
    if (is_hit)
        *st = slots[fd % SLOTS].st;
    nm_spin_unlock(&lock);
    return is_hit;
}

void nm_statcache_forget(int fd)
{
    /* Every close and open comes here: most fds were never cached. */
    if (fd < 0 || !is_cached(fd))
        return;
    nm_spin_lock(&lock);
    if (slots[fd % SLOTS].fd == fd)
        slots[fd % SLOTS].fd = -1;
    nm_spin_unlock(&lock);
}

void nm_statcache_after_fork_child(void)
{
    nm_spin_reset(&lock);
}
