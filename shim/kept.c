/* kept.c - see kept.h.
 *
 * A chained hash table over the URL key (the snapshot's, so one key names
 * a URL for both), each entry also on one LRU list; one mutex over both,
 * taken only for URLs on routes with freshness. An entry is one
 * allocation: its facts and the stored head behind them. */
#include "kept.h"

#include "alloc.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <xxhash.h>

#define BUCKETS 4096                 /* power of two */
#define ENTRIES_MAX 4096             /* heads per process */
#define BYTES_MAX (4u * 1024 * 1024) /* head bytes per process */

struct nm_kept_cand {
    struct nm_kept_cand *chain;           /* same bucket */
    struct nm_kept_cand *newer, *older;   /* LRU list */
    uint64_t url_key, url_check, ae_hash; /* ae_hash 0: no Vary */
    nm_fresh_stored_t st;
    char tag[NM_SNAPSHOT_TAG_MAX + 1];
    size_t tag_len;
    int64_t last_modified;
    bool is_lm_exact;
    uint64_t body_len;
    size_t head_len;
    char head[];
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct nm_kept_cand *buckets[BUCKETS];
static struct nm_kept_cand *newest, *oldest;
static _Atomic size_t count; /* read unlocked: 0 spares forget the lock */
static size_t bytes;

void nm_kept_note_request(struct nm_kept_req *kr, const char *head, size_t len)
{
    kr->is_fresh = nm_fresh_req_parse(head, len, &kr->rq) == 0;
    if (!kr->is_fresh)
        return;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    kr->read_us = (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
    kr->request_unix = time(NULL);
}

/* A second, independent hash of the URL: two URLs sharing the snapshot's
 * 64-bit key must not share a head. */
static uint64_t url_check(nm_slice_t host, nm_slice_t target)
{
    return XXH3_64bits_withSeed(target.ptr, target.len,
                                XXH3_64bits(host.ptr, host.len) ^ 0x6b657074);
}

/* The Vary key of an encoding; never 0 (0 means "no Vary"). */
static uint64_t ae_hash(const nm_fresh_req_t *rq)
{
    return XXH3_64bits(rq->ae_key, rq->ae_key_len) | 1;
}

/* The head as it left: the server's, with notmod's lines before its empty
 * line (CRLF, or LF from a CGI). */
static size_t assemble(const struct nm_kept_offer *o, char *out)
{
    size_t cut = o->head_len >= 2 && o->head[o->head_len - 2] == '\r' ? 2 : 1;
    size_t n = o->head_len - cut;
    memcpy(out, o->head, n);
    memcpy(out + n, o->lines, o->lines_len);
    memcpy(out + n + o->lines_len, o->head + n, cut);
    return o->head_len + o->lines_len;
}

/* Would a shared cache never reuse this head whatever the request (no
 * store, private, Vary on more than the encoding)? Then it is not worth
 * its memory; the decision judges the rest. */
static bool is_never_reused(const nm_fresh_stored_t *st)
{
    return st->status != 200 || st->vary == NM_FRESH_VARY_OTHER ||
           (st->cc.flags & (NM_CACHECTL_NO_STORE | NM_CACHECTL_PRIVATE));
}

struct nm_kept_cand *nm_kept_offer(const nm_req_t *req,
                                   const struct nm_kept_req *kr,
                                   const struct nm_kept_offer *o,
                                   int64_t now_unix)
{
    bool is_head = req->method == NM_METHOD_HEAD;
    if (kr == NULL || !kr->is_fresh ||
        (req->method != NM_METHOD_GET && !is_head) ||
        (is_head && o->lines_len > 0) || /* a HEAD's tag of our own */
        (req->flags & (NM_REQ_TRUNCATED_HOST | NM_REQ_TRUNCATED_TARGET)) ||
        o->tag_len == 0 || o->tag_len > NM_SNAPSHOT_TAG_MAX ||
        o->head_len < 2 || o->head_len + o->lines_len > NM_KEPT_HEAD_MAX)
        return NULL;
    char full[NM_KEPT_HEAD_MAX];
    size_t full_len = assemble(o, full);
    struct nm_kept_cand *e = nm_malloc(sizeof(*e) + full_len);
    if (e == NULL)
        return NULL;
    long n = nm_fresh_store_head(full, full_len, e->head, full_len);
    if (n <= 0 ||
        nm_fresh_stored_parse(e->head, (size_t)n, now_unix, &e->st) != 0 ||
        is_never_reused(&e->st)) {
        free(e);
        return NULL;
    }
    e->head_len = (size_t)n;
    e->st.req = kr->rq;
    e->st.is_synth_on_head = false;
    e->st.request_unix = kr->request_unix;
    nm_slice_t host = {req->host, req->host_len};
    nm_slice_t target = {req->target, req->target_len};
    e->url_key = nm_snapshot_url_key(host, target);
    e->url_check = url_check(host, target);
    e->ae_hash = e->st.vary == NM_FRESH_VARY_ENCODING && kr->rq.is_ae_keyed
                     ? ae_hash(&kr->rq)
                     : 0;
    memcpy(e->tag, o->tag, o->tag_len);
    e->tag[o->tag_len] = '\0';
    e->tag_len = o->tag_len;
    e->last_modified = o->last_modified;
    e->is_lm_exact = o->is_lm_exact;
    e->body_len = o->body_len;
    e->chain = e->newer = e->older = NULL;
    return e;
}

void nm_kept_cand_free(struct nm_kept_cand *cand)
{
    free(cand);
}

/* ---- the table; callers hold the lock ---- */

static struct nm_kept_cand **bucket_of(uint64_t url_key)
{
    return &buckets[url_key & (BUCKETS - 1)];
}

static void lru_unlink(struct nm_kept_cand *e)
{
    if (e->newer)
        e->newer->older = e->older;
    else
        newest = e->older;
    if (e->older)
        e->older->newer = e->newer;
    else
        oldest = e->newer;
    e->newer = e->older = NULL;
}

static void lru_push(struct nm_kept_cand *e)
{
    e->older = newest;
    e->newer = NULL;
    if (newest)
        newest->newer = e;
    newest = e;
    if (oldest == NULL)
        oldest = e;
}

/* Takes e out of the table and frees it; *link is the chain's pointer to
 * it. */
static void drop_at(struct nm_kept_cand **link)
{
    struct nm_kept_cand *e = *link;
    *link = e->chain;
    lru_unlink(e);
    atomic_fetch_sub(&count, 1);
    bytes -= e->head_len;
    free(e);
}

static void drop(struct nm_kept_cand *e)
{
    struct nm_kept_cand **link = bucket_of(e->url_key);
    while (*link != NULL && *link != e)
        link = &(*link)->chain;
    if (*link == e)
        drop_at(link);
}

/* Drops the URL's heads: all of them (ae_hash UINT64_MAX), or those a
 * head of ae_hash replaces (its own encoding's, and the unvaried one; an
 * unvaried head replaces all). */
static void drop_url(uint64_t url_key, uint64_t check, uint64_t ae)
{
    struct nm_kept_cand **link = bucket_of(url_key);
    while (*link != NULL) {
        struct nm_kept_cand *e = *link;
        bool is_url = e->url_key == url_key && e->url_check == check;
        if (is_url && (ae == UINT64_MAX || ae == 0 || e->ae_hash == 0 ||
                       e->ae_hash == ae))
            drop_at(link);
        else
            link = &e->chain;
    }
}

void nm_kept_commit(struct nm_kept_cand *e, int64_t now_unix)
{
    if (e == NULL)
        return;
    e->st.response_unix = now_unix;
    pthread_mutex_lock(&lock);
    drop_url(e->url_key, e->url_check, e->ae_hash);
    struct nm_kept_cand **b = bucket_of(e->url_key);
    e->chain = *b;
    *b = e;
    lru_push(e);
    atomic_fetch_add(&count, 1);
    bytes += e->head_len;
    while (oldest != NULL && oldest != e &&
           (atomic_load(&count) > ENTRIES_MAX || bytes > BYTES_MAX))
        drop(oldest);
    pthread_mutex_unlock(&lock);
}

void nm_kept_forget(const nm_req_t *req)
{
    if (atomic_load_explicit(&count, memory_order_relaxed) == 0 ||
        (req->flags & (NM_REQ_TRUNCATED_HOST | NM_REQ_TRUNCATED_TARGET)))
        return;
    nm_slice_t host = {req->host, req->host_len};
    nm_slice_t target = {req->target, req->target_len};
    uint64_t key = nm_snapshot_url_key(host, target);
    uint64_t check = url_check(host, target);
    pthread_mutex_lock(&lock);
    drop_url(key, check, UINT64_MAX);
    pthread_mutex_unlock(&lock);
}

bool nm_kept_get(nm_slice_t host, nm_slice_t target, const nm_fresh_req_t *rq,
                 struct nm_kept_head *out)
{
    if (atomic_load_explicit(&count, memory_order_relaxed) == 0)
        return false;
    uint64_t key = nm_snapshot_url_key(host, target);
    uint64_t check = url_check(host, target);
    uint64_t ae = rq->is_ae_keyed ? ae_hash(rq) : 0;
    pthread_mutex_lock(&lock);
    struct nm_kept_cand *e = *bucket_of(key);
    while (e != NULL && !(e->url_key == key && e->url_check == check &&
                          (e->ae_hash == 0 || e->ae_hash == ae)))
        e = e->chain;
    if (e != NULL) {
        out->st = e->st;
        memcpy(out->tag, e->tag, e->tag_len + 1);
        out->tag_len = e->tag_len;
        out->last_modified = e->last_modified;
        out->is_lm_exact = e->is_lm_exact;
        out->body_len = e->body_len;
        out->head_len = e->head_len;
        memcpy(out->head, e->head, e->head_len);
        lru_unlink(e);
        lru_push(e);
    }
    pthread_mutex_unlock(&lock);
    return e != NULL;
}

void nm_kept_before_fork(void)
{
    pthread_mutex_lock(&lock);
}

void nm_kept_after_fork_parent(void)
{
    pthread_mutex_unlock(&lock);
}

void nm_kept_after_fork_child(void)
{
    /* A child (a CGI about to exec, a worker) has answered nothing: what
     * it keeps is what it sees itself. */
    while (oldest != NULL)
        drop(oldest);
    pthread_mutex_init(&lock, NULL);
}
