/* filehash.c - see filehash.h. */
#include "alloc.h"
#include "filehash.h"

#include "bodyhash.h"
#include "spin.h"
#include "statcache.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CACHE_SLOTS 64

struct entry {
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime;
    off_t off;
    uint64_t len;
    uint64_t seed;
    char tag[NM_BODYHASH_TAG_LEN + 1];
};

static nm_spin_t cache_lock = NM_SPIN_INIT;
static struct entry cache[CACHE_SLOTS];

static bool same(const struct entry *e, const struct stat *st, off_t off,
                 uint64_t len, uint64_t seed)
{
    return e->tag[0] == '"' && e->dev == st->st_dev && e->ino == st->st_ino &&
           e->size == st->st_size && e->mtime.tv_sec == st->st_mtim.tv_sec &&
           e->mtime.tv_nsec == st->st_mtim.tv_nsec && e->off == off &&
           e->len == len && e->seed == seed;
}

/* Hashes the region with pread; false on a short file or a read error. */
static bool hash_region(int fd, off_t off, uint64_t len, uint64_t seed,
                        char *out)
{
    enum { CHUNK = 64 * 1024 };
    char *buf = nm_malloc(CHUNK);
    if (buf == NULL)
        return false;
    size_t hs = (sizeof(nm_bodyhash_t) + 63) & ~(size_t)63;
    nm_bodyhash_t *h = nm_aligned_alloc(64, hs);
    if (h == NULL) {
        free(buf);
        return false;
    }
    nm_bodyhash_init(h, seed);
    bool is_ok = true;
    while (len > 0) {
        size_t want = len < CHUNK ? (size_t)len : CHUNK;
        ssize_t r = pread(fd, buf, want, off);
        if (r <= 0) {
            is_ok = false;
            break;
        }
        nm_bodyhash_update(h, buf, (size_t)r);
        off += r;
        len -= (uint64_t)r;
    }
    if (is_ok)
        nm_bodyhash_final(h, out);
    free(h);
    free(buf);
    return is_ok;
}

bool nm_filehash_tag(int fd, off_t off, uint64_t len, uint64_t seed, char *out)
{
    struct stat st;
    /* The server's own fstat of this fd, if it made one (nginx does). */
    if (!nm_statcache_get(fd, &st) && fstat(fd, &st) != 0)
        return false;
    if (!S_ISREG(st.st_mode) || off < 0 ||
        (uint64_t)st.st_size < (uint64_t)off + len)
        return false;
    unsigned slot = (unsigned)((st.st_ino * 31 + (uint64_t)off) % CACHE_SLOTS);
    nm_spin_lock(&cache_lock);
    bool is_hit = same(&cache[slot], &st, off, len, seed);
    if (is_hit)
        memcpy(out, cache[slot].tag, sizeof(cache[slot].tag));
    nm_spin_unlock(&cache_lock);
    if (is_hit)
        return true;
    if (!hash_region(fd, off, len, seed, out))
        return false;
    /* A file modified while we read it gets no cached tag: re-check. */
    struct stat after;
    if (fstat(fd, &after) != 0 || after.st_mtim.tv_sec != st.st_mtim.tv_sec ||
        after.st_mtim.tv_nsec != st.st_mtim.tv_nsec ||
        after.st_size != st.st_size)
        return false;
    nm_spin_lock(&cache_lock);
    struct entry *e = &cache[slot];
    e->dev = st.st_dev;
    e->ino = st.st_ino;
    e->size = st.st_size;
    e->mtime = st.st_mtim;
    e->off = off;
    e->len = len;
    e->seed = seed;
    memcpy(e->tag, out, sizeof(e->tag));
    nm_spin_unlock(&cache_lock);
    return true;
}

void nm_filehash_after_fork_child(void)
{
    nm_spin_reset(&cache_lock);
}
