/* storeview.c - see storeview.h.
 *
 * The snapshot is read into private memory, not mapped: a file truncated
 * in place under a MAP_SHARED mapping kills the server with SIGBUS on the
 * next read (the hostile-traffic tests did exactly that), and fail-open
 * forbids it. A lookup reads the private copy (no syscall, no lock); the
 * copy is refreshed from the file at most every REFRESH_MS: open, pread of
 * the 64-byte header, and only when the generation moved, the whole file.
 * Copies are short-lived to readers, so the two previous ones are kept
 * before being freed. */
#include "storeview.h"

#include "alloc.h"
#include "config.h"
#include "clock.h"
#include "symbols.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define REFRESH_MS 50
#define SNAPSHOT_MAX_BYTES (64u << 20) /* larger files are not copied */
#define KEEP 3

struct view {
    char *buf;
    size_t len;
    uint64_t generation;
};

static _Atomic(struct view *) current;
static struct view *kept[KEEP]; /* ring of recent copies, oldest freed */
static int kept_next;
static pthread_mutex_t refresh_lock = PTHREAD_MUTEX_INITIALIZER;
static _Atomic uint64_t next_refresh_ms;

static void view_free(struct view *v)
{
    if (v != NULL) {
        free(v->buf);
        free(v);
    }
}

/* Publishes v (may be NULL: no snapshot) and retires the oldest copy. */
static void publish(struct view *v)
{
    atomic_store_explicit(&current, v, memory_order_release);
    view_free(kept[kept_next]);
    kept[kept_next] = v;
    kept_next = (kept_next + 1) % KEEP;
}

/* Reads exactly len bytes at off; false on a short read or an error. */
static bool read_all(int fd, char *p, size_t len, off_t off)
{
    while (len > 0) {
        ssize_t r = pread(fd, p, len, off);
        if (r <= 0)
            return false;
        p += r;
        len -= (size_t)r;
        off += r;
    }
    return true;
}

/* Re-reads the file when its generation moved; drops the copy when the
 * file is gone or no longer a snapshot. */
static void refresh(void)
{
    struct view *cur = atomic_load(&current);
    int fd = nm_real_open(nm_cfg.snapshot_path, O_RDONLY | O_CLOEXEC, 0);
    if (fd < 0) {
        if (cur != NULL)
            publish(NULL);
        /* No daemon: look again in a second, not every 50 ms. */
        atomic_store(&next_refresh_ms, nm_now_ms() + 1000);
        return;
    }
    char head[NM_SNAPSHOT_HEADER_LEN];
    struct stat st;
    bool is_ok = read_all(fd, head, sizeof(head), 0) && fstat(fd, &st) == 0 &&
                 st.st_size > 0 && (uint64_t)st.st_size <= SNAPSHOT_MAX_BYTES;
    /* Header: u32 magic, u32 version, u64 seq, u64 generation (snapshot.h).
     * Unchanged generation and size: the copy is current. */
    uint64_t gen = 0;
    memcpy(&gen, head + 16, sizeof(gen));
    if (is_ok && cur != NULL && cur->len == (size_t)st.st_size &&
        gen == cur->generation) {
        nm_real_close(fd);
        return;
    }
    struct view *v = NULL;
    if (is_ok) {
        v = nm_malloc(sizeof(*v));
        char *buf = v ? nm_malloc((size_t)st.st_size) : NULL;
        /* A seqlock over the copy: the writer must not have been inside
         * (odd seq) nor have moved on (changed seq) while we read. */
        uint64_t seq1, seq2 = 1;
        char again[NM_SNAPSHOT_HEADER_LEN];
        memcpy(&seq1, head + 8, sizeof(seq1));
        if (buf != NULL && read_all(fd, buf, (size_t)st.st_size, 0) &&
            read_all(fd, again, sizeof(again), 0))
            memcpy(&seq2, again + 8, sizeof(seq2));
        if (buf != NULL && seq1 % 2 == 0 && seq1 == seq2 &&
            memcmp(buf + 8, head + 8, 8) == 0) {
            v->buf = buf;
            v->len = (size_t)st.st_size;
            memcpy(&v->generation, buf + 16, sizeof(v->generation));
        } else {
            free(buf);
            free(v);
            nm_real_close(fd);
            return; /* torn: keep the current copy, try again soon */
        }
    }
    nm_real_close(fd);
    publish(v);
}

void nm_storeview_tick(void)
{
    uint64_t now = nm_now_ms();
    if (now >= atomic_load_explicit(&next_refresh_ms, memory_order_relaxed) &&
        pthread_mutex_trylock(&refresh_lock) == 0) {
        atomic_store(&next_refresh_ms, now + REFRESH_MS);
        refresh();
        pthread_mutex_unlock(&refresh_lock);
    }
}

/* The current copy, as the last tick left it: no clock read per lookup. */
static const struct view *get_view(void)
{
    return atomic_load_explicit(&current, memory_order_acquire);
}

bool nm_storeview_is_disabled(const char *host, size_t host_len,
                              const char *target, size_t target_len)
{
    const struct view *v = get_view();
    nm_slice_t h = {host, host_len}, t = {target, target_len};
    /* Without a snapshot nothing is disabled, but an unsafe path still is. */
    return nm_snapshot_is_disabled(v ? v->buf : NULL, v ? v->len : 0, h, t);
}

bool nm_storeview_lookup(uint64_t url_key, nm_snapshot_hit_t *hit)
{
    const struct view *v = get_view();
    return v != NULL && url_key != 0 &&
           nm_snapshot_lookup_key(v->buf, v->len, url_key, hit) == 1;
}

void nm_storeview_after_fork_child(void)
{
    pthread_mutex_init(&refresh_lock, NULL);
}

bool nm_storeview_may_be_fresh(void)
{
    const struct view *v = get_view();
    return v != NULL && nm_snapshot_may_be_fresh(v->buf, v->len);
}

int64_t nm_storeview_fresh_for(const char *host, size_t host_len,
                               const char *target, size_t target_len)
{
    const struct view *v = get_view();
    nm_slice_t h = {host, host_len}, t = {target, target_len};
    return v != NULL ? nm_snapshot_fresh_for(v->buf, v->len, h, t) : 0;
}

void nm_storeview_before_fork(void)
{
    nm_storeview_tick();
}

uint64_t nm_storeview_generation(void)
{
    const struct view *v = get_view();
    return v != NULL ? v->generation : 0;
}
