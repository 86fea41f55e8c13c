/* filehash.c - see filehash.h. */
#include "alloc.h"
#include "filehash.h"

#include "bodyhash.h"
#include "spin.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CACHE_SLOTS 64

struct entry {
    nm_file_id_t id;
    off_t off;
    uint64_t len;
    uint64_t seed;
    char tag[NM_BODYHASH_TAG_LEN + 1];
};

static nm_spin_t cache_lock = NM_SPIN_INIT;
static struct entry cache[CACHE_SLOTS];

void nm_file_id_of(const struct stat *st, nm_file_id_t *id)
{
    memset(id, 0, sizeof(*id));
    id->dev = st->st_dev;
    id->ino = st->st_ino;
    id->size = st->st_size;
    id->mtime = st->st_mtim;
    id->ctime = st->st_ctim;
}

bool nm_file_id_equal(const nm_file_id_t *a, const nm_file_id_t *b)
{
    return a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
           a->mtime.tv_sec == b->mtime.tv_sec &&
           a->mtime.tv_nsec == b->mtime.tv_nsec &&
           a->ctime.tv_sec == b->ctime.tv_sec &&
           a->ctime.tv_nsec == b->ctime.tv_nsec;
}

static bool same(const struct entry *e, const nm_file_id_t *id, off_t off,
                 uint64_t len, uint64_t seed)
{
    return e->tag[0] == '"' && nm_file_id_equal(&e->id, id) && e->off == off &&
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

/* nm_filehash_tag; is_whole: only a file of exactly off + len bytes. */
static bool tag_of(int fd, off_t off, uint64_t len, uint64_t seed,
                   bool is_whole, char *out, nm_file_id_t *id)
{
    /* Our own fstat, not one the server made earlier: a server that keeps
     * files open (nginx open_file_cache) would show the identity the file
     * had then, and a cached tag would name bytes the file no longer has. */
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || off < 0 ||
        (uint64_t)st.st_size < (uint64_t)off + len ||
        (is_whole && (uint64_t)st.st_size != (uint64_t)off + len))
        return false;
    nm_file_id_of(&st, id);
    unsigned slot = (unsigned)((st.st_ino * 31 + (uint64_t)off) % CACHE_SLOTS);
    nm_spin_lock(&cache_lock);
    bool is_hit = same(&cache[slot], id, off, len, seed);
    if (is_hit)
        memcpy(out, cache[slot].tag, sizeof(cache[slot].tag));
    nm_spin_unlock(&cache_lock);
    if (is_hit)
        return true;
    if (!hash_region(fd, off, len, seed, out))
        return false;
    /* A file modified while we read it has no tag: the bytes read may mix
     * two versions. */
    struct stat after;
    nm_file_id_t id_after;
    if (fstat(fd, &after) != 0)
        return false;
    nm_file_id_of(&after, &id_after);
    if (!nm_file_id_equal(id, &id_after))
        return false;
    nm_spin_lock(&cache_lock);
    struct entry *e = &cache[slot];
    e->id = *id;
    e->off = off;
    e->len = len;
    e->seed = seed;
    memcpy(e->tag, out, sizeof(e->tag));
    nm_spin_unlock(&cache_lock);
    return true;
}

bool nm_filehash_tag(int fd, off_t off, uint64_t len, uint64_t seed, char *out,
                     nm_file_id_t *id)
{
    return tag_of(fd, off, len, seed, false, out, id);
}

bool nm_filehash_tag_whole(int fd, uint64_t len, uint64_t seed, char *out,
                           nm_file_id_t *id)
{
    return tag_of(fd, 0, len, seed, true, out, id);
}

void nm_filehash_after_fork_child(void)
{
    nm_spin_reset(&cache_lock);
}
