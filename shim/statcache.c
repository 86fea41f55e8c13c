/* statcache.c - see statcache.h. A small direct-mapped table: a miss only
 * costs the fstat the shim would have made anyway. */
#include "statcache.h"

#include <pthread.h>

#define SLOTS 256

struct entry {
    int fd; /* -1: empty */
    struct stat st;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct entry slots[SLOTS] = {[0 ... SLOTS - 1] = {.fd = -1}};

void nm_statcache_put(int fd, const struct stat *st)
{
    if (fd < 0 || !S_ISREG(st->st_mode))
        return;
    pthread_mutex_lock(&lock);
    slots[fd % SLOTS].fd = fd;
    slots[fd % SLOTS].st = *st;
    pthread_mutex_unlock(&lock);
}

bool nm_statcache_get(int fd, struct stat *st)
{
    if (fd < 0)
        return false;
    pthread_mutex_lock(&lock);
    bool is_hit = slots[fd % SLOTS].fd == fd;
    if (is_hit)
        *st = slots[fd % SLOTS].st;
    pthread_mutex_unlock(&lock);
    return is_hit;
}

void nm_statcache_forget(int fd)
{
    if (fd < 0)
        return;
    pthread_mutex_lock(&lock);
    if (slots[fd % SLOTS].fd == fd)
        slots[fd % SLOTS].fd = -1;
    pthread_mutex_unlock(&lock);
}
