/* snapshot_writer.c - see snapshot_writer.h. */
#include "snapshot_writer.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "snapshot.h"
#include "strmap.h"
#include "url.h"

#define MIN_SLOTS 4096u

struct nm_snapw {
    struct event_base *base;
    struct event *timer;
    const nm_store_t *store;
    char *path;
    void *map;
    size_t len;
    uint32_t slots;
    nm_strmap_t dirty_urls, dirty_prefixes;
    bool is_accelerate_origin; /* notmodd --accelerate origin */
};

/* Smallest power of two that keeps the table under half full. */
static uint32_t slots_for(size_t entries)
{
    uint32_t s = MIN_SLOTS;
    while (s < NM_SNAPSHOT_SLOTS_MAX && (size_t)s < entries * 2)
        s *= 2;
    return s;
}

static void put_rec(void *w_, const nm_store_rec_t *r);
static void put_prefix(void *w_, const char *prefix);
static void put_fresh(void *w_, const char *prefix, int64_t fresh_s);

/* Entries the store needs in the snapshot. */
static size_t entries_of(const nm_store_t *st)
{
    return nm_store_count(st) + nm_store_disabled_count(st) +
           nm_store_fresh_count(st);
}

/* Publishes one URL from the store, or removes it when gone. Returns
 * NM_E_NOSPACE when the table needs to grow. */
static int apply_url(nm_snapw_t *w, const char *url)
{
    nm_slice_t host, target;
    nm_url_split(url, &host, &target);
    const nm_store_rec_t *r = nm_store_get(w->store, url);
    if (!r || (!r->tag && !r->pin_tag)) {
        nm_snapshot_w_remove_url(w->map, w->len, host, target);
        return 0;
    }
    const char *tag = r->pin_tag ? r->pin_tag : r->tag;
    nm_slice_t t = {tag, strlen(tag)};
    return nm_snapshot_w_put_url(w->map, w->len, host, target, t,
                                 nm_store_published_lm(r), r->pin_tag != NULL);
}

/* A prefix's two policies: disabled, and its freshness. */
static int apply_prefix(nm_snapw_t *w, const char *prefix)
{
    nm_slice_t host, path;
    nm_url_split(prefix, &host, &path);
    int rc = nm_snapshot_w_set_disabled(w->map, w->len, host, path,
                                        nm_store_is_disabled(w->store, prefix));
    int64_t fresh_s = 0;
    bool is_fresh = nm_store_get_fresh(w->store, prefix, &fresh_s);
    int rc2 =
        nm_snapshot_w_set_fresh(w->map, w->len, host, path, is_fresh, fresh_s);
    return rc < 0 ? rc : rc2;
}

static void put_rec(void *w_, const nm_store_rec_t *r)
{
    apply_url(w_, r->url);
}

static void put_prefix(void *w_, const char *prefix)
{
    apply_prefix(w_, prefix);
}

static void put_fresh(void *w_, const char *prefix, int64_t fresh_s)
{
    (void)fresh_s;
    apply_prefix(w_, prefix);
}

/* Builds a complete new file at w->path by temp file + rename, then
 * retires the old mapping so shims re-open the path. */
static int rebuild(nm_snapw_t *w)
{
    uint32_t slots = slots_for(entries_of(w->store));
    size_t len = nm_snapshot_region_len(slots);
    char tmp[4096];
    snprintf(tmp, sizeof(tmp), "%s.tmp.%d", w->path, (int)getpid());
    int fd = open(tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return -errno;
    fchmod(fd, 0644); /* shims of every user read it; umask aside */
    void *map = MAP_FAILED;
    if (ftruncate(fd, (off_t)len) == 0)
        map = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    int err = errno;
    close(fd);
    if (map == MAP_FAILED) {
        unlink(tmp);
        return -err;
    }
    uint64_t gen = 1;
    if (w->map)
        gen = nm_snapw_generation(w) + 1;
    nm_snapshot_w_init(map, len, slots, gen);
    void *old = w->map;
    size_t old_len = w->len;
    w->map = map;
    w->len = len;
    w->slots = slots;
    nm_snapshot_w_begin(map);
    nm_snapshot_w_set_accelerate_origin(map, w->is_accelerate_origin);
    nm_store_each(w->store, put_rec, w);
    nm_store_each_disabled(w->store, put_prefix, w);
    nm_store_each_fresh(w->store, put_fresh, w);
    nm_snapshot_w_end(map, (int64_t)time(NULL));
    if (rename(tmp, w->path) != 0) {
        err = errno;
        unlink(tmp);
        munmap(map, len);
        w->map = old;
        w->len = old_len;
        return -err;
    }
    if (old) {
        nm_snapshot_w_retire(old);
        munmap(old, old_len);
    }
    return 0;
}

/* Marks a snapshot left by an earlier notmodd retired, so shims that map
 * it move to the file we are about to publish. */
static void retire_previous(const char *path)
{
    int fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0)
        return;
    struct stat sb;
    if (fstat(fd, &sb) == 0 && sb.st_size >= NM_SNAPSHOT_HEADER_LEN) {
        void *m = mmap(NULL, (size_t)sb.st_size, PROT_READ | PROT_WRITE,
                       MAP_SHARED, fd, 0);
        if (m != MAP_FAILED) {
            if (nm_snapshot_w_used(m, (size_t)sb.st_size) >= 0)
                nm_snapshot_w_retire(m);
            munmap(m, (size_t)sb.st_size);
        }
    }
    close(fd);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    nm_snapw_flush(arg);
}

nm_snapw_t *nm_snapw_open(struct event_base *base, const char *path,
                          const nm_store_t *store)
{
    nm_snapw_t *w = calloc(1, sizeof(*w));
    if (!w)
        return NULL;
    w->base = base;
    w->store = store;
    w->path = strdup(path);
    w->timer = evtimer_new(base, on_timer, w);
    nm_strmap_init(&w->dirty_urls);
    nm_strmap_init(&w->dirty_prefixes);
    if (!w->path || !w->timer) {
        nm_snapw_close(w);
        errno = ENOMEM;
        return NULL;
    }
    retire_previous(path);
    int rc = rebuild(w);
    if (rc < 0) {
        nm_snapw_close(w);
        errno = -rc;
        return NULL;
    }
    return w;
}

void nm_snapw_mark(void *snapw, nm_store_kind_t kind, const char *key)
{
    nm_snapw_t *w = snapw;
    if (!w)
        return; /* store loaded before the writer exists */
    nm_strmap_upsert(kind == NM_STORE_CHANGED_URL ? &w->dirty_urls
                                                  : &w->dirty_prefixes,
                     key, NULL);
    if (!evtimer_pending(w->timer, NULL)) {
        struct timeval tv = {0, NM_SNAPW_BATCH_MS * 1000};
        evtimer_add(w->timer, &tv);
    }
}

struct apply_ctx {
    nm_snapw_t *w;
    bool is_full;
};

static void apply_dirty_url(void *arg, nm_strmap_node_t *n)
{
    struct apply_ctx *c = arg;
    if (!c->is_full && apply_url(c->w, n->key) == NM_E_NOSPACE)
        c->is_full = true;
}

static void apply_dirty_prefix(void *arg, nm_strmap_node_t *n)
{
    struct apply_ctx *c = arg;
    if (!c->is_full && apply_prefix(c->w, n->key) == NM_E_NOSPACE)
        c->is_full = true;
}

void nm_snapw_flush(nm_snapw_t *w)
{
    if (w->dirty_urls.count == 0 && w->dirty_prefixes.count == 0)
        return;
    struct apply_ctx c = {w, false};
    /* Grow before the table gets crowded: probes stay short. */
    if (slots_for(entries_of(w->store)) <= w->slots) {
        nm_snapshot_w_begin(w->map);
        nm_strmap_each(&w->dirty_urls, apply_dirty_url, &c);
        nm_strmap_each(&w->dirty_prefixes, apply_dirty_prefix, &c);
        nm_snapshot_w_end(w->map, (int64_t)time(NULL));
    } else {
        c.is_full = true;
    }
    if (c.is_full) {
        int rc = rebuild(w);
        if (rc < 0)
            nm_log(LOG_ERR, "snapshot %s: rebuild failed: %s", w->path,
                   strerror(-rc));
    }
    nm_strmap_free(&w->dirty_urls, NULL);
    nm_strmap_free(&w->dirty_prefixes, NULL);
}

void nm_snapw_set_accelerate_origin(nm_snapw_t *w, bool is_origin)
{
    w->is_accelerate_origin = is_origin;
    nm_snapshot_w_begin(w->map);
    nm_snapshot_w_set_accelerate_origin(w->map, is_origin);
    nm_snapshot_w_end(w->map, (int64_t)time(NULL));
}

int64_t nm_snapw_fresh_for(const nm_snapw_t *w, nm_slice_t host,
                           nm_slice_t target)
{
    return nm_snapshot_fresh_for(w->map, w->len, host, target);
}

bool nm_snapw_is_disabled(const nm_snapw_t *w, nm_slice_t host,
                          nm_slice_t target)
{
    return nm_snapshot_is_disabled(w->map, w->len, host, target);
}

uint64_t nm_snapw_generation(const nm_snapw_t *w)
{
    return nm_snapshot_generation(w->map, w->len);
}

const char *nm_snapw_path(const nm_snapw_t *w)
{
    return w->path;
}

void nm_snapw_close(nm_snapw_t *w)
{
    if (!w)
        return;
    if (w->map) {
        nm_snapw_flush(w);
        munmap(w->map, w->len);
    }
    if (w->timer)
        event_free(w->timer);
    nm_strmap_free(&w->dirty_urls, NULL);
    nm_strmap_free(&w->dirty_prefixes, NULL);
    free(w->path);
    free(w);
}
