/* storeview.c - see storeview.h. */
#include "storeview.h"

#include "alloc.h"
#include "config.h"
#include "hold.h"
#include "symbols.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

struct view {
    const void *map;
    size_t len;
};

/* The current mapping, swapped atomically: readers take no lock. Views
 * are never freed or unmapped (a reader on another thread may still use
 * one), and there are only as many as the daemon replaced its file. */
static _Atomic(struct view *) current;
static pthread_mutex_t reopen_lock = PTHREAD_MUTEX_INITIALIZER;
static _Atomic uint64_t next_try_ms;

/* Maps the snapshot file read-only; the fd is closed at once so nothing of
 * ours stays open for the server to trip over. */
static struct view *map_file(void)
{
    int fd = open(nm_cfg.snapshot_path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    struct view *v = NULL;
    struct stat st;
    if (fstat(fd, &st) == 0 && st.st_size > 0) {
        void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
        v = p == MAP_FAILED ? NULL : nm_malloc(sizeof(*v));
        if (v != NULL) {
            v->map = p;
            v->len = (size_t)st.st_size;
        } else if (p != MAP_FAILED) {
            munmap(p, (size_t)st.st_size);
        }
    }
    nm_real_close(fd);
    return v;
}

/* The current view; when missing or retired by the daemon, one thread
 * tries to (re)open the file, at most once a second. */
static const struct view *get_view(void)
{
    struct view *v = atomic_load_explicit(&current, memory_order_acquire);
    if (v != NULL && !nm_snapshot_is_retired(v->map, v->len))
        return v;
    uint64_t now = nm_now_ms();
    if (now < atomic_load(&next_try_ms) ||
        pthread_mutex_trylock(&reopen_lock) != 0)
        return v;
    atomic_store(&next_try_ms, now + 1000);
    struct view *fresh = map_file();
    if (fresh != NULL) {
        atomic_store_explicit(&current, fresh, memory_order_release);
        v = fresh;
    }
    pthread_mutex_unlock(&reopen_lock);
    return v;
}

bool nm_storeview_is_disabled(const char *host, size_t host_len,
                              const char *target, size_t target_len)
{
    const struct view *v = get_view();
    nm_slice_t h = {host, host_len}, t = {target, target_len};
    return v != NULL && nm_snapshot_is_disabled(v->map, v->len, h, t);
}

bool nm_storeview_lookup(const char *host, size_t host_len, const char *target,
                         size_t target_len, nm_snapshot_hit_t *hit)
{
    const struct view *v = get_view();
    nm_slice_t h = {host, host_len}, t = {target, target_len};
    return v != NULL && nm_snapshot_lookup(v->map, v->len, h, t, hit) == 1;
}
