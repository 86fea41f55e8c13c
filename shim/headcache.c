/* headcache.c - see headcache.h. */
#include "headcache.h"

#include "spin.h"

#include "bodyhash.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SLOTS 256
#define PATH_CAP 256 /* longer paths are not remembered */

struct entry {
    uint64_t url_hash;  /* 0: empty */
    uint64_t meta_hash; /* Content-Length, Last-Modified, encoding */
    nm_file_id_t id;
    char path[PATH_CAP];
    char tag[NM_BODYHASH_TAG_LEN + 1];
};

static nm_spin_t lock = NM_SPIN_INIT;
static struct entry slots[SLOTS];

/* XXH3 (libxxhash, already here for body tags): a keyed FNV walked the
 * URL a byte at a time, ~250 instructions per tagged response. */
static uint64_t url_hash(const nm_req_t *r)
{
    uint64_t h = XXH3_64bits_withSeed(r->target, r->target_len,
                                      XXH3_64bits(r->host, r->host_len));
    return h ? h : 1;
}

static uint64_t meta_hash(const nm_resp_t *p)
{
    struct {
        uint64_t cl;
        uint32_t flags;
    } m;
    memset(&m, 0, sizeof(m)); /* padding too: it is hashed */
    m.cl = (p->flags & NM_RESP_HAS_CL) ? p->content_length : ~0ull;
    m.flags =
        p->flags & (NM_RESP_HAS_LAST_MODIFIED | NM_RESP_HAS_CONTENT_ENCODING);
    uint64_t h = XXH3_64bits(&m, sizeof(m));
    if (p->flags & NM_RESP_HAS_LAST_MODIFIED)
        h = XXH3_64bits_withSeed(p->last_modified, p->last_modified_len, h);
    return h;
}

static bool is_usable(const nm_req_t *req, const nm_resp_t *resp)
{
    return !(req->flags & (NM_REQ_TRUNCATED_TARGET | NM_REQ_TRUNCATED_HOST)) &&
           (resp->flags & NM_RESP_HAS_CL);
}

void nm_headcache_put_file(const nm_req_t *req, const nm_resp_t *resp,
                           const char *tag, int fd, const nm_file_id_t *id)
{
    if (!is_usable(req, resp) || resp->content_length != (uint64_t)id->size)
        return;
    uint64_t u = url_hash(req), m = meta_hash(resp);
    struct entry *e = &slots[u % SLOTS];
    nm_spin_lock(&lock);
    bool is_known = e->url_hash == u && e->meta_hash == m &&
                    nm_file_id_equal(&e->id, id) && strcmp(e->tag, tag) == 0;
    nm_spin_unlock(&lock);
    if (is_known)
        return; /* the steady state: no syscall */
    /* The path is what a HEAD will stat; the fd is gone by then. */
    char proc[32], path[PATH_CAP];
    snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
    ssize_t n = readlink(proc, path, sizeof(path) - 1);
    if (n <= 0 || (size_t)n >= sizeof(path) - 1 || path[0] != '/')
        return;
    path[n] = '\0';
    nm_spin_lock(&lock);
    e->url_hash = u;
    e->meta_hash = m;
    e->id = *id;
    memcpy(e->path, path, (size_t)n + 1);
    memcpy(e->tag, tag, sizeof(e->tag));
    nm_spin_unlock(&lock);
}

bool nm_headcache_get(const nm_req_t *req, const nm_resp_t *resp, char *tag)
{
    if (!is_usable(req, resp))
        return false;
    uint64_t u = url_hash(req);
    struct entry copy;
    nm_spin_lock(&lock);
    const struct entry *e = &slots[u % SLOTS];
    bool is_hit = e->url_hash == u && e->meta_hash == meta_hash(resp);
    if (is_hit)
        copy = *e;
    nm_spin_unlock(&lock);
    if (!is_hit)
        return false;
    /* The file must still be the one hashed: same inode, size, mtime and
     * ctime. A file replaced or rewritten since gets no tag on HEAD. */
    struct stat st;
    nm_file_id_t now;
    if (stat(copy.path, &st) != 0 || !S_ISREG(st.st_mode))
        return false;
    nm_file_id_of(&st, &now);
    if (!nm_file_id_equal(&copy.id, &now))
        return false;
    memcpy(tag, copy.tag, sizeof(copy.tag));
    return true;
}

void nm_headcache_after_fork_child(void)
{
    nm_spin_reset(&lock);
}
