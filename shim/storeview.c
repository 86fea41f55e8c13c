/* storeview.c - see storeview.h. */
#include "storeview.h"

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

static pthread_mutex_t view_lock = PTHREAD_MUTEX_INITIALIZER;
static struct view current;
static _Atomic uint64_t next_try_ms;

/* Maps the snapshot file read-only; the fd is closed at once so nothing of
 * ours stays open for the server to trip over. */
static struct view map_file(void)
{
    struct view v = {NULL, 0};
    int fd = open(nm_cfg.snapshot_path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return v;
    struct stat st;
    if (fstat(fd, &st) == 0 && st.st_size > 0) {
        void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
        if (p != MAP_FAILED) {
            v.map = p;
            v.len = (size_t)st.st_size;
        }
    }
    nm_real_close(fd);
    return v;
}

/* The current mapping, (re)opened at most once a second when missing or
 * retired. Old mappings are never unmapped: a reader on another thread may
 * still use one, and there are few. */
static struct view get_view(void)
{
    pthread_mutex_lock(&view_lock);
    struct view v = current;
    bool is_stale = v.map == NULL || nm_snapshot_is_retired(v.map, v.len);
    uint64_t now = nm_now_ms();
    if (is_stale && now >= atomic_load(&next_try_ms)) {
        atomic_store(&next_try_ms, now + 1000);
        struct view fresh = map_file();
        if (fresh.map != NULL)
            current = v = fresh;
    }
    pthread_mutex_unlock(&view_lock);
    return v;
}

bool nm_storeview_is_disabled(const char *host, size_t host_len,
                              const char *target, size_t target_len)
{
    struct view v = get_view();
    nm_slice_t h = {host, host_len}, t = {target, target_len};
    return v.map != NULL && nm_snapshot_is_disabled(v.map, v.len, h, t);
}

bool nm_storeview_lookup(const char *host, size_t host_len, const char *target,
                         size_t target_len, nm_snapshot_hit_t *hit)
{
    struct view v = get_view();
    nm_slice_t h = {host, host_len}, t = {target, target_len};
    return v.map != NULL && nm_snapshot_lookup(v.map, v.len, h, t, hit) == 1;
}
