/* kept.c - see kept.h.
 *
 * SETS sets of WAYS heads in a MAP_SHARED anonymous mapping (about 10 MiB
 * of address space, pages touched only when used), indexed by the URL key
 * (the snapshot's, so one key names a URL for both): every head of a URL,
 * one per encoding, sits in one set. Each set has its own try-lock, like
 * tagwatch.c's slots: a process killed inside one leaves that set locked,
 * which only ends acceleration for its URLs, never answers wrongly; a
 * set busy past a few hundred spins is skipped (not kept, not answered),
 * so no server call ever waits on another process. A full set drops its
 * least recently used head. */
#include "kept.h"

#include "alloc.h"
#include "shared_map.h"

#include "http_hdr.h"
#include "httpdate.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <xxhash.h>

#define SETS 1024 /* power of two */
#define WAYS 4

/* A head and its facts: a way of the table, and a candidate. */
struct kept {
    uint64_t url_key;            /* 0: an empty way */
    uint64_t url_check, ae_hash; /* ae_hash 0: no Vary */
    uint64_t last_use;           /* the set's tick at its last use */
    nm_fresh_stored_t st;
    char tag[NM_SNAPSHOT_TAG_MAX + 1];
    size_t tag_len;
    int64_t last_modified;
    bool is_lm_exact;
    uint64_t body_len;
    uint64_t view_gen; /* nm_kept_head's */
    int64_t view_fresh_s;
    bool is_view_current;
    size_t tmpl_len;
    char tmpl[NM_KEPT_304_MAX]; /* its 304 (nm_kept_head) */
    size_t head_len;
    char head[NM_KEPT_HEAD_MAX]; /* nm_fresh_store_head's */
};

struct nm_kept_cand {
    struct kept k;
};

struct set {
    atomic_flag busy;
    uint64_t tick;
    struct kept ways[WAYS];
};

static _Atomic(void *) table;

/* The shared sets, or NULL before (or without) nm_kept_init. */
static struct set *all_sets(void)
{
    return nm_shared_map_get(&table);
}

void nm_kept_init(void)
{
    nm_shared_map_once(&table, SETS * sizeof(struct set)); /* forks share it */
}

/* The set of url_key, locked; NULL when there is no table or the set
 * stays busy. */
static struct set *lock_set(uint64_t url_key)
{
    struct set *sets = all_sets();
    if (sets == NULL)
        return NULL;
    struct set *s = &sets[url_key & (SETS - 1)];
    return nm_shared_try_lock(&s->busy) ? s : NULL;
}

static void unlock_set(struct set *s)
{
    nm_shared_unlock(&s->busy);
}

/* Copies what a head uses of src (not the unused tails of its buffers). */
static void copy_kept(struct kept *dst, const struct kept *src)
{
    memcpy(dst, src, offsetof(struct kept, tmpl));
    memcpy(dst->tmpl, src->tmpl, src->tmpl_len);
    dst->head_len = src->head_len;
    memcpy(dst->head, src->head, src->head_len);
}

/* Builds e's 304 once, at age 0 (restamped per use); false when it cannot
 * be built: then the head is not kept. */
static bool build_tmpl(struct kept *e, int64_t now_unix)
{
    long n = nm_fresh_build_304(e->head, e->head_len, 0, now_unix, e->tmpl,
                                sizeof(e->tmpl));
    e->tmpl_len = n > 0 ? (size_t)n : 0;
    return n > 0;
}

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
    if (o->lines_len > 0) /* lines may be NULL then */
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
    if (all_sets() == NULL || kr == NULL || !kr->is_fresh ||
        (req->method != NM_METHOD_GET && !is_head) ||
        (is_head && o->lines_len > 0) || /* a HEAD's tag of our own */
        (req->flags & (NM_REQ_TRUNCATED_HOST | NM_REQ_TRUNCATED_TARGET)) ||
        o->tag_len == 0 || o->tag_len > NM_SNAPSHOT_TAG_MAX ||
        o->head_len < 2 || o->head_len + o->lines_len > NM_KEPT_HEAD_MAX)
        return NULL;
    char full[NM_KEPT_HEAD_MAX];
    size_t full_len = assemble(o, full);
    struct nm_kept_cand *cand = nm_malloc(sizeof(*cand));
    if (cand == NULL)
        return NULL;
    struct kept *e = &cand->k;
    long n = nm_fresh_store_head(full, full_len, e->head, sizeof(e->head));
    if (n <= 0 ||
        nm_fresh_stored_parse(e->head, (size_t)n, now_unix, &e->st) != 0 ||
        is_never_reused(&e->st)) {
        free(cand);
        return NULL;
    }
    e->head_len = (size_t)n;
    e->view_gen = 0; /* no snapshot has judged it yet */
    e->view_fresh_s = 0;
    e->is_view_current = false;
    if (!build_tmpl(e, now_unix)) {
        free(cand);
        return NULL;
    }
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
    return cand;
}

/* The kept head of the URL (and the request's encoding) whose tag is tag,
 * copied into e; false when none. */
static bool find_tagged(const struct nm_kept_req *kr, uint64_t key,
                        uint64_t check, nm_slice_t tag, struct kept *e)
{
    uint64_t ae = kr->rq.is_ae_keyed ? ae_hash(&kr->rq) : 0;
    struct set *s = lock_set(key);
    if (s == NULL)
        return false;
    bool is_found = false;
    for (int i = 0; i < WAYS && !is_found; i++) {
        const struct kept *w = &s->ways[i];
        is_found = w->url_key == key && w->url_check == check &&
                   (w->ae_hash == 0 || w->ae_hash == ae) &&
                   w->tag_len == tag.len &&
                   memcmp(w->tag, tag.ptr, tag.len) == 0;
        if (is_found)
            copy_kept(e, w);
    }
    unlock_set(s);
    return is_found;
}

/* The Last-Modified a 304 confirms: its own when it has one (-1 when that
 * does not parse), else the kept one. */
static int64_t last_modified_of(const char *h304, size_t len, int64_t kept,
                                int64_t now_unix)
{
    nm_slice_t v;
    int64_t lm;
    if (nm_hdr_find(h304, len, "last-modified", &v) != 1)
        return kept;
    return nm_httpdate_parse(v.ptr, v.len, now_unix, &lm) == 0 ? lm : -1;
}

struct nm_kept_cand *nm_kept_offer_304(const nm_req_t *req,
                                       const struct nm_kept_req *kr,
                                       const char *h304, size_t len,
                                       nm_slice_t tag, int64_t now_unix)
{
    if (all_sets() == NULL || kr == NULL || !kr->is_fresh || tag.len == 0 ||
        tag.len > NM_SNAPSHOT_TAG_MAX ||
        (req->flags & (NM_REQ_TRUNCATED_HOST | NM_REQ_TRUNCATED_TARGET)))
        return NULL;
    nm_slice_t host = {req->host, req->host_len};
    nm_slice_t target = {req->target, req->target_len};
    struct nm_kept_cand *cand = nm_malloc(sizeof(*cand));
    if (cand == NULL)
        return NULL;
    struct kept *e = &cand->k;
    char merged[NM_KEPT_HEAD_MAX];
    long n = -1;
    if (find_tagged(kr, nm_snapshot_url_key(host, target),
                    url_check(host, target), tag, e))
        n = nm_fresh_freshen_head(e->head, e->head_len, h304, len, merged,
                                  sizeof(merged));
    nm_fresh_req_t stored_req = e->st.req;
    if (n <= 0 ||
        nm_fresh_stored_parse(merged, (size_t)n, now_unix, &e->st) != 0 ||
        is_never_reused(&e->st)) {
        free(cand);
        return NULL;
    }
    memcpy(e->head, merged, (size_t)n);
    e->head_len = (size_t)n;
    e->view_gen = 0; /* no snapshot has judged it yet */
    e->view_fresh_s = 0;
    e->is_view_current = false;
    if (!build_tmpl(e, now_unix)) {
        free(cand);
        return NULL;
    }
    /* The stored response is the same one, selected by its tag: the
     * request it answered stays; its times are this exchange's. */
    e->st.req = stored_req;
    e->st.is_synth_on_head = false;
    e->st.request_unix = kr->request_unix;
    e->last_modified = last_modified_of(h304, len, e->last_modified, now_unix);
    if (e->last_modified < 0)
        e->is_lm_exact = false;
    return cand;
}

void nm_kept_cand_free(struct nm_kept_cand *cand)
{
    free(cand);
}

/* ---- the table ---- */

/* Is way w a head of the URL (check) that a head of encoding ae replaces
 * (ae UINT64_MAX: every head of the URL)? An unvaried head replaces them
 * all, and is replaced by any. */
static bool is_replaced(const struct kept *w, uint64_t url_key, uint64_t check,
                        uint64_t ae)
{
    return w->url_key == url_key && w->url_check == check &&
           (ae == UINT64_MAX || ae == 0 || w->ae_hash == 0 || w->ae_hash == ae);
}

void nm_kept_commit(struct nm_kept_cand *cand, int64_t now_unix)
{
    if (cand == NULL)
        return;
    struct kept *e = &cand->k;
    e->st.response_unix = now_unix;
    struct set *s = lock_set(e->url_key);
    if (s != NULL) {
        struct kept *slot = NULL;
        for (int i = 0; i < WAYS; i++) {
            struct kept *w = &s->ways[i];
            if (is_replaced(w, e->url_key, e->url_check, e->ae_hash))
                w->url_key = 0;
            if (slot == NULL ||
                (slot->url_key != 0 &&
                 (w->url_key == 0 || w->last_use < slot->last_use)))
                slot = w;
        }
        e->last_use = ++s->tick;
        copy_kept(slot, e);
        unlock_set(s);
    }
    free(cand);
}

void nm_kept_forget(const nm_req_t *req, uint64_t key)
{
    if (all_sets() == NULL || key == 0)
        return;
    nm_slice_t host = {req->host, req->host_len};
    nm_slice_t target = {req->target, req->target_len};
    struct set *s = &all_sets()[key & (SETS - 1)];
    /* A set no URL ever used is left untouched (and unpaged). */
    if (__atomic_load_n(&s->tick, __ATOMIC_RELAXED) == 0)
        return;
    uint64_t check = url_check(host, target);
    if ((s = lock_set(key)) == NULL)
        return; /* the snapshot's tag check still guards these URLs */
    for (int i = 0; i < WAYS; i++)
        if (is_replaced(&s->ways[i], key, check, UINT64_MAX))
            s->ways[i].url_key = 0;
    unlock_set(s);
}

/* The way of s holding the head a request of encoding hash ae selects
 * for the URL (key, check); NULL when none. s locked. */
static struct kept *way_of(struct set *s, uint64_t key, uint64_t check,
                           uint64_t ae)
{
    for (int i = 0; i < WAYS; i++) {
        struct kept *w = &s->ways[i];
        if (w->url_key == key && w->url_check == check &&
            (w->ae_hash == 0 || w->ae_hash == ae))
            return w;
    }
    return NULL;
}

bool nm_kept_get(nm_slice_t host, nm_slice_t target, const nm_fresh_req_t *rq,
                 struct nm_kept_head *out)
{
    if (all_sets() == NULL)
        return false;
    uint64_t key = nm_snapshot_url_key(host, target);
    struct set *s = &all_sets()[key & (SETS - 1)];
    if (__atomic_load_n(&s->tick, __ATOMIC_RELAXED) == 0) /* unused: no lock */
        return false;
    uint64_t check = url_check(host, target);
    uint64_t ae = rq->is_ae_keyed ? ae_hash(rq) : 0;
    if ((s = lock_set(key)) == NULL)
        return false;
    struct kept *e = way_of(s, key, check, ae);
    if (e != NULL) {
        e->last_use = ++s->tick;
        out->st = e->st;
        memcpy(out->tag, e->tag, e->tag_len + 1);
        out->tag_len = e->tag_len;
        out->last_modified = e->last_modified;
        out->is_lm_exact = e->is_lm_exact;
        out->body_len = e->body_len;
        out->head_len = e->head_len;
        out->view_gen = e->view_gen;
        out->view_fresh_s = e->view_fresh_s;
        out->is_view_current = e->is_view_current;
        out->tmpl_len = e->tmpl_len;
        memcpy(out->tmpl, e->tmpl, e->tmpl_len);
    }
    unlock_set(s);
    return e != NULL;
}

void nm_kept_set_view(nm_slice_t host, nm_slice_t target,
                      const nm_fresh_req_t *rq, nm_slice_t tag, uint64_t gen,
                      int64_t fresh_s, bool is_current)
{
    if (all_sets() == NULL)
        return;
    uint64_t key = nm_snapshot_url_key(host, target);
    uint64_t check = url_check(host, target);
    struct set *s = lock_set(key);
    if (s == NULL)
        return;
    struct kept *e = way_of(s, key, check, rq->is_ae_keyed ? ae_hash(rq) : 0);
    /* The same head still: a newer one was never judged by this view. */
    if (e != NULL && e->tag_len == tag.len &&
        memcmp(e->tag, tag.ptr, tag.len) == 0) {
        e->view_gen = gen;
        e->view_fresh_s = fresh_s;
        e->is_view_current = is_current;
    }
    unlock_set(s);
}
