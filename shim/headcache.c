/* headcache.c - see headcache.h. */
#include "headcache.h"

#include "bodyhash.h"

#include <pthread.h>
#include <string.h>

#define SLOTS 256

struct entry {
    uint64_t url_hash;  /* 0: empty */
    uint64_t meta_hash; /* Content-Length, Last-Modified, encoding */
    char tag[NM_BODYHASH_TAG_LEN + 1];
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct entry slots[SLOTS];

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
    const unsigned char *s = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ s[i]) * 0x100000001b3ull;
    return h;
}

static uint64_t url_hash(const nm_req_t *r)
{
    uint64_t h = fnv(0xcbf29ce484222325ull, r->host, r->host_len);
    h = fnv(h, "\n", 1);
    h = fnv(h, r->target, r->target_len);
    return h ? h : 1;
}

static uint64_t meta_hash(const nm_resp_t *p)
{
    uint64_t cl = (p->flags & NM_RESP_HAS_CL) ? p->content_length : ~0ull;
    uint64_t h = fnv(0xcbf29ce484222325ull, &cl, sizeof(cl));
    uint32_t f =
        p->flags & (NM_RESP_HAS_LAST_MODIFIED | NM_RESP_HAS_CONTENT_ENCODING);
    h = fnv(h, &f, sizeof(f));
    if (p->flags & NM_RESP_HAS_LAST_MODIFIED)
        h = fnv(h, p->last_modified, p->last_modified_len);
    return h;
}

void nm_headcache_put(const nm_req_t *req, const nm_resp_t *resp,
                      const char *tag)
{
    if ((req->flags & (NM_REQ_TRUNCATED_TARGET | NM_REQ_TRUNCATED_HOST)) ||
        !(resp->flags & NM_RESP_HAS_CL))
        return;
    uint64_t u = url_hash(req);
    pthread_mutex_lock(&lock);
    struct entry *e = &slots[u % SLOTS];
    e->url_hash = u;
    e->meta_hash = meta_hash(resp);
    memcpy(e->tag, tag, sizeof(e->tag));
    pthread_mutex_unlock(&lock);
}

bool nm_headcache_get(const nm_req_t *req, const nm_resp_t *resp, char *tag)
{
    if ((req->flags & (NM_REQ_TRUNCATED_TARGET | NM_REQ_TRUNCATED_HOST)) ||
        !(resp->flags & NM_RESP_HAS_CL))
        return false;
    uint64_t u = url_hash(req);
    pthread_mutex_lock(&lock);
    const struct entry *e = &slots[u % SLOTS];
    bool is_hit = e->url_hash == u && e->meta_hash == meta_hash(resp);
    if (is_hit)
        memcpy(tag, e->tag, sizeof(e->tag));
    pthread_mutex_unlock(&lock);
    return is_hit;
}
