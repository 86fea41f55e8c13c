/* headcache.c - see headcache.h. */
#include "headcache.h"

#include "spin.h"

#include "bodyhash.h"

#include <string.h>

#define SLOTS 256

struct entry {
    uint64_t url_hash;  /* 0: empty */
    uint64_t meta_hash; /* Content-Length, Last-Modified, encoding */
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

void nm_headcache_put(const nm_req_t *req, const nm_resp_t *resp,
                      const char *tag)
{
    if ((req->flags & (NM_REQ_TRUNCATED_TARGET | NM_REQ_TRUNCATED_HOST)) ||
        !(resp->flags & NM_RESP_HAS_CL))
        return;
    uint64_t u = url_hash(req);
    nm_spin_lock(&lock);
    struct entry *e = &slots[u % SLOTS];
    e->url_hash = u;
    e->meta_hash = meta_hash(resp);
    memcpy(e->tag, tag, sizeof(e->tag));
    nm_spin_unlock(&lock);
}

bool nm_headcache_get(const nm_req_t *req, const nm_resp_t *resp, char *tag)
{
    if ((req->flags & (NM_REQ_TRUNCATED_TARGET | NM_REQ_TRUNCATED_HOST)) ||
        !(resp->flags & NM_RESP_HAS_CL))
        return false;
    uint64_t u = url_hash(req);
    nm_spin_lock(&lock);
    const struct entry *e = &slots[u % SLOTS];
    bool is_hit = e->url_hash == u && e->meta_hash == meta_hash(resp);
    if (is_hit)
        memcpy(tag, e->tag, sizeof(e->tag));
    nm_spin_unlock(&lock);
    return is_hit;
}

void nm_headcache_after_fork_child(void)
{
    nm_spin_reset(&lock);
}
