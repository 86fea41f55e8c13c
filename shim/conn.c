/* conn.c - see conn.h. */
#include "alloc.h"
#include "conn.h"

#include "flusher.h"
#include "hold.h"
#include "log.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

/* Request and response captures are recycled through small pools: a
 * malloc per request would cost more than parsing it (tools/bench). The
 * slots are taken by exchange and filled by compare-and-swap, so a busy
 * single-threaded server reuses the first slot without any lock. */
#define POOL_SLOTS 8
struct pool {
    void *_Atomic slots[POOL_SLOTS];
    size_t size;
};
static struct pool req_pool = {{NULL}, sizeof(struct nm_pending)};
static struct pool resp_pool = {{NULL}, sizeof(nm_resp_t)};
/* Held-head buffers of the first size (most heads fit), same reason. */
#define HEAD_FIRST_CAP 1024
static struct pool head_pool = {{NULL}, HEAD_FIRST_CAP};

static void *pool_get(struct pool *p)
{
    for (int i = 0; i < POOL_SLOTS; i++) {
        if (atomic_load_explicit(&p->slots[i], memory_order_relaxed) == NULL)
            continue;
        void *item = atomic_exchange(&p->slots[i], NULL);
        if (item != NULL)
            return item;
    }
    return nm_malloc(p->size);
}

static void pool_put(struct pool *p, void *item)
{
    if (item == NULL)
        return;
    for (int i = 0; i < POOL_SLOTS; i++) {
        void *none = NULL;
        if (atomic_compare_exchange_strong(&p->slots[i], &none, item))
            return;
    }
    free(item);
}

static struct nm_conn *free_conns;

struct nm_conn *nm_conn_new(const struct nm_transport *tp, nm_handle_t h)
{
    struct nm_conn *c = free_conns;
    if (c != NULL) {
        free_conns = c->free_next;
    } else {
        c = nm_calloc(1, sizeof(*c));
        if (c == NULL)
            return NULL;
        nm_lock_init(&c->lock);
    }
    /* Everything but the mutex, which stays initialised for life. */
    memset((char *)c + offsetof(struct nm_conn, free_next), 0,
           sizeof(*c) - offsetof(struct nm_conn, free_next));
    c->link.tp = tp;
    c->link.h = h;
    c->refs = 1;
    nm_http_req_init(&c->reqp);
    nm_http_resp_init(&c->respp);
    return c;
}

void nm_conn_recycle(struct nm_conn *c)
{
    c->free_next = free_conns;
    free_conns = c;
}

void nm_conn_unlock(struct nm_conn *c)
{
    bool may_owe = nm_conn_is_holding(c) || !nm_deliver_is_done(&c->owed) ||
                   c->takeover != NULL;
    atomic_store_explicit(&c->may_owe, may_owe, memory_order_relaxed);
    nm_unlock(&c->lock);
}

/* ---- memory of the exchange ---- */

struct nm_pending *nm_conn_new_request(void)
{
    return pool_get(&req_pool);
}

void nm_conn_free_request(struct nm_pending *p)
{
    pool_put(&req_pool, p);
}

bool nm_conn_has_resp(struct nm_conn *c)
{
    if (c->resp == NULL)
        c->resp = pool_get(&resp_pool);
    return c->resp != NULL;
}

/* Gives the held-head buffer back (to the pool when it never grew). */
static void free_head(struct nm_conn *c)
{
    if (c->head_cap == HEAD_FIRST_CAP)
        pool_put(&head_pool, c->head);
    else
        free(c->head);
    c->head = NULL;
    c->head_len = c->head_cap = 0;
}

void nm_conn_idle(struct nm_conn *c)
{
    pool_put(&resp_pool, c->resp);
    c->resp = NULL;
    free_head(c);
}

bool nm_conn_keep_head(struct nm_conn *c, struct nm_cursor k, size_t n)
{
    if (c->head == NULL && n <= HEAD_FIRST_CAP) {
        c->head = pool_get(&head_pool);
        if (c->head == NULL)
            return false;
        c->head_cap = HEAD_FIRST_CAP;
    }
    if (c->head_len + n > c->head_cap) {
        size_t cap = c->head_cap ? c->head_cap * 2 : HEAD_FIRST_CAP;
        while (cap < c->head_len + n)
            cap *= 2;
        char *grown = nm_realloc(c->head, cap);
        if (grown == NULL)
            return false;
        c->head = grown;
        c->head_cap = cap;
    }
    const char *p;
    size_t len;
    while (n > 0 && (len = nm_cursor_piece(&k, &p)) > 0) {
        size_t take = len < n ? len : n;
        memcpy(c->head + c->head_len, p, take);
        c->head_len += take;
        k.off += take;
        n -= take;
    }
    return true;
}

static void free_requests(struct nm_conn *c)
{
    struct nm_pending *p = c->q_head;
    while (p != NULL) {
        struct nm_pending *next = p->next;
        pool_put(&req_pool, p);
        p = next;
    }
    c->q_head = c->q_tail = NULL;
    c->q_len = 0;
    pool_put(&req_pool, c->req_cur);
    c->req_cur = NULL;
}

void nm_conn_release_state(struct nm_conn *c)
{
    free_requests(c);
    pool_put(&resp_pool, c->resp);
    c->resp = NULL;
    free_head(c);
    nm_hold_free(c->hold);
    c->hold = NULL;
    nm_kept_cand_free(c->kept_cand);
    c->kept_cand = NULL;
}

/* ---- the ways out ---- */

void nm_conn_give_up(struct nm_conn *c, const char *why)
{
    if (!c->is_given_up)
        nm_log(NM_LOG_INFO, "fd %d: passing through from now on: %s",
               nm_conn_fd(c), why);
    /* Whatever is still held belongs to the client: it goes first. */
    if (nm_conn_is_holding(c))
        nm_conn_release_unchanged(c);
    c->is_given_up = true;
    nm_conn_release_state(c);
}

void nm_conn_release_unchanged(struct nm_conn *c)
{
    struct iovec v[3] = {{c->head, c->head_len}};
    nm_conn_send_with_held_body(c, v, c->head_len > 0 ? 1 : 0);
    nm_hold_free(c->hold);
    c->hold = NULL;
    c->head_len = 0;
}

void nm_conn_release_overdue(struct nm_conn *c, uint64_t now_ms)
{
    if (!nm_conn_is_holding(c))
        return;
    uint64_t since =
        c->phase == NM_PHASE_HOLD ? c->hold->started_ms : c->head_started_ms;
    if (now_ms != 0 && !nm_hold_is_due(since, now_ms))
        return;
    nm_log(NM_LOG_DEBUG, "fd %d: releasing a held response unchanged",
           nm_conn_fd(c));
    nm_conn_release_unchanged(c);
    c->phase = NM_PHASE_PASS;
}

/* ---- what the shim sends itself ---- */

bool nm_conn_watch(struct nm_conn *c)
{
    if (c->link.tp->is_inside_tls)
        return true; /* the server's own calls keep the deadline */
    if (!c->is_in_flusher)
        c->is_in_flusher = nm_flusher_add(c);
    return c->is_in_flusher;
}

/* Bytes still owed after a send must be delivered by someone. */
static void watch_owed(struct nm_conn *c)
{
    if (!nm_deliver_is_done(&c->owed))
        nm_conn_watch(c);
}

bool nm_conn_owe(struct nm_conn *c, const char *p, size_t n)
{
    bool is_ok = nm_deliver_owe(&c->owed, p, n);
    watch_owed(c);
    return is_ok;
}

void nm_conn_send_own(struct nm_conn *c, const struct iovec *iov, int cnt)
{
    nm_deliver_send(&c->owed, &c->link, iov, cnt);
    watch_owed(c);
}

void nm_conn_send_with_held_body(struct nm_conn *c, struct iovec *v, int cnt)
{
    if (c->hold != NULL && nm_hold_join_front(c->hold, v, cnt, &v[0])) {
        cnt = 1; /* one piece: over TLS, no copy to gather a record */
    } else if (c->hold != NULL && c->hold->mem_len > 0) {
        v[cnt].iov_base = c->hold->mem;
        v[cnt++].iov_len = c->hold->mem_len;
    }
    if (cnt > 0)
        nm_conn_send_own(c, v, cnt);
    if (c->hold != NULL && c->hold->file_len > 0) {
        nm_deliver_send_file(&c->owed, &c->link, c->hold->memfd,
                             c->hold->file_len);
        watch_owed(c);
    }
}

/* ---- an exchange split by fork ---- */

void nm_conn_resolve_takeover(struct nm_conn *c)
{
    if (c->takeover == NULL || c->is_claimed_by_write)
        return;
    int expected = NM_TAKE_OPEN;
    bool is_mine = atomic_compare_exchange_strong(c->takeover, &expected,
                                                  c->takeover_role) ||
                   expected == c->takeover_role;
    munmap((void *)c->takeover, sizeof(_Atomic int));
    c->takeover = NULL;
    if (!is_mine) {
        c->head_len = 0; /* the other process sends it */
        nm_conn_give_up(c, "the other side of a fork answers this exchange");
    }
}

void nm_conn_drop_claim(struct nm_conn *c)
{
    if (c->takeover != NULL && c->is_claimed_by_write) {
        munmap((void *)c->takeover, sizeof(_Atomic int));
        c->takeover = NULL;
        c->is_claimed_by_write = false;
    }
}

void nm_conn_offer_head(struct nm_conn *c, const char *head, size_t head_len,
                        const char *lines, size_t lines_len, nm_slice_t tag,
                        int64_t last_modified, bool is_lm_exact)
{
    const struct nm_pending *p = c->q_head;
    if (p == NULL || !p->kept.is_fresh || c->resp == NULL)
        return; /* the common case: no freshness on this route */
    struct nm_kept_offer o = {
        .head = head,
        .head_len = head_len,
        .lines = lines,
        .lines_len = lines_len,
        .tag = tag.ptr,
        .tag_len = tag.len,
        .last_modified = last_modified,
        .is_lm_exact = is_lm_exact,
        .body_len =
            (c->resp->flags & NM_RESP_HAS_CL) ? c->resp->content_length : 0,
    };
    nm_kept_cand_free(c->kept_cand);
    c->kept_cand = nm_kept_offer(&p->req, &p->kept, &o, time(NULL));
}

void nm_conn_offer_304(struct nm_conn *c, const char *head, size_t head_len,
                       nm_slice_t tag)
{
    const struct nm_pending *p = c->q_head;
    if (p == NULL || !p->kept.is_fresh)
        return;
    nm_kept_cand_free(c->kept_cand);
    c->kept_cand =
        nm_kept_offer_304(&p->req, &p->kept, head, head_len, tag, time(NULL));
}
