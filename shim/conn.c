/* conn.c - the per-connection tracker (see conn.h).
 *
 * Write side in one picture: the server's bytes are cut into phases at
 * response boundaries. A response whose request could be answered by a 304
 * has its head HELD until complete (usually it arrives in one call, and is
 * not copied), then decided: either its 304 goes out and the rest of the
 * response is SWALLOWED (the server is told it was sent), or the head is
 * released in front of the following bytes and the response PASSES. Pass
 * phases call the real function with the server's own bytes; on a partial
 * write the parser is rolled back so the server's view stays exact.
 * Bytes the shim itself must deliver (a 304, a released head) that the
 * socket cannot take now are OWED and go out before any later byte. */
#include "alloc.h"
#include "conn.h"

#include "config.h"
#include "fdtable.h"
#include "filehash.h"
#include "flusher.h"
#include "headcache.h"
#include "clock.h"
#include "hold.h"
#include "log.h"
#include "report.h"
#include "deliver.h"
#include "storeview.h"
#include "symbols.h"
#include "tagwatch.h"
#include "transport_sock.h"

#include "bodyhash.h"
#include "cond.h"
#include "http_hdr.h"
#include "http_req.h"
#include "http_resp.h"
#include "httpdate.h"
#include "origin.h"
#include "resp304.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

/* Requests read but not yet answered; beyond this the client is pipelining
 * more than any real client does, and we stop following. */
#define PENDING_MAX 64
/* A 304 is the 200's head minus a few fields, plus Date and extras. */
#define RESP304_EXTRA 128
/* iovecs assembled for one pass-through call. */
#define PHASE_IOV_MAX 64

enum resp_state {
    RS_IDLE,    /* between responses: the next byte starts one */
    RS_HEAD,    /* holding a head until it is complete and decided */
    RS_PASS,    /* passing this response through */
    RS_SWALLOW, /* a 304 replaced this response: discard its bytes */
    RS_HOLD,    /* holding a 200 without ETag until its body is hashed */
    RS_SINK,    /* unframeable bytes after a 304: drop all, write side shut */
};

struct pending {
    struct pending *next;
    nm_req_t req;
};

struct nm_conn {
    pthread_mutex_t lock;
    struct nm_conn *free_next;
    /* Read without the lock by nm_conn_before_read: may something be held,
     * owed or claimable (set whenever the lock is let go)? False: the read
     * costs no lock. A stale false only delays to the flusher's deadline. */
    _Atomic bool may_owe;
    int refs;         /* fds naming this connection */
    nm_link_t link;   /* its transport, with the fd the server used last */
    bool is_given_up; /* pass everything through for life */
    bool is_in_flusher;
    bool has_exchanged; /* answered a request: report at close */
    uint8_t rs;
    /* read side */
    nm_req_parser_t reqp;
    struct pending *req_cur; /* head being parsed */
    struct pending *q_head, *q_tail;
    int q_len;
    /* write side */
    nm_resp_parser_t respp;
    nm_resp_t *resp;
    char *head; /* held head bytes that arrived in earlier calls */
    size_t head_len, head_cap;
    uint64_t head_started_ms; /* when a partial head began to be held */
    /* A fork split this exchange with a partial head held: whichever side
     * touches it first claims it (CAS in memory both sides share). */
    _Atomic int *takeover;
    int takeover_role; /* TAKE_PARENT or TAKE_CHILD */
    /* The split exchange had nothing of its response written yet: it is
     * claimed by the first side to write (not to touch) it. */
    bool is_claimed_by_write;
    struct nm_hold *hold; /* with RS_HOLD: the body so far */
    /* what became of the current response, reported when it ends */
    uint8_t outcome; /* nm_event_outcome_t */
    uint16_t reason; /* NM_REASON_* with NM_OUTCOME_NOT_HANDLED */
    bool is_synth;   /* the validator is ours */
    uint64_t saved_bytes;
    uint64_t body_bytes; /* de-chunked body bytes of a held response */
    char vtag[NM_SNAPSHOT_TAG_MAX + 1]; /* validator that left, if ours */
    struct nm_owed owed;                /* bytes the shim owes the client */
};

/* The fd under the connection, for logs. */
static int conn_fd(const struct nm_conn *c)
{
    return c->link.tp->fd_of(c->link.h);
}

static pthread_mutex_t table_lock = PTHREAD_MUTEX_INITIALIZER;

/* Request and response captures are recycled through small pools: a
 * malloc per request would cost more than parsing it (tools/bench). The
 * slots are taken by exchange and filled by compare-and-swap, so a busy
 * single-threaded server reuses the first slot without any lock. */
#define POOL_SLOTS 8
struct pool {
    void *_Atomic slots[POOL_SLOTS];
    size_t size;
};
static struct pool req_pool = {{NULL}, sizeof(struct pending)};
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

/* ---- allocation: connections are type-stable (recycled, never freed) so a
 * racing lookup that lost its fd can still lock and re-check safely. ---- */

static struct nm_conn *conn_new(int fd)
{
    struct nm_conn *c = free_conns;
    if (c != NULL) {
        free_conns = c->free_next;
    } else {
        c = nm_calloc(1, sizeof(*c));
        if (c == NULL)
            return NULL;
        pthread_mutex_init(&c->lock, NULL);
    }
    /* Everything but the mutex, which stays initialised for life. */
    memset((char *)c + offsetof(struct nm_conn, free_next), 0,
           sizeof(*c) - offsetof(struct nm_conn, free_next));
    c->link.tp = &nm_transport_sock;
    c->link.h.fd = fd;
    c->refs = 1;
    nm_http_req_init(&c->reqp);
    nm_http_resp_init(&c->respp);
    return c;
}

static void free_requests(struct nm_conn *c)
{
    struct pending *p = c->q_head;
    while (p != NULL) {
        struct pending *next = p->next;
        pool_put(&req_pool, p);
        p = next;
    }
    c->q_head = c->q_tail = NULL;
    c->q_len = 0;
    pool_put(&req_pool, c->req_cur);
    c->req_cur = NULL;
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

/* Drops everything but the owed bytes, which must still be delivered. */
static void release_state(struct nm_conn *c)
{
    free_requests(c);
    pool_put(&resp_pool, c->resp);
    c->resp = NULL;
    free_head(c);
    nm_hold_free(c->hold);
    c->hold = NULL;
}

static void release_unchanged(struct nm_conn *c);
static void resolve_takeover(struct nm_conn *c);
static void claim_for_write(struct nm_conn *c);
static void drop_claim(struct nm_conn *c);

/* The one way out of trouble: stop touching this connection. Held bytes
 * must have been delivered or owed by the caller. */
static void conn_give_up(struct nm_conn *c, const char *why)
{
    if (!c->is_given_up)
        nm_log(NM_LOG_INFO, "fd %d: passing through from now on: %s",
               conn_fd(c), why);
    /* Whatever is still held belongs to the client: it goes first. */
    if (!c->is_given_up &&
        (c->rs == RS_HOLD || (c->rs == RS_HEAD && c->head_len > 0)))
        release_unchanged(c);
    c->is_given_up = true;
    release_state(c);
}

static bool is_holding(const struct nm_conn *c);

/* Unlocks c, leaving the hint nm_conn_before_read reads. */
static void conn_unlock(struct nm_conn *c)
{
    bool may_owe =
        is_holding(c) || !nm_deliver_is_done(&c->owed) || c->takeover != NULL;
    atomic_store_explicit(&c->may_owe, may_owe, memory_order_relaxed);
    pthread_mutex_unlock(&c->lock);
}

struct nm_conn *nm_conn_acquire(int fd)
{
    uintptr_t v = nm_fdtable_get(fd);
    if (!NM_FD_IS_CONN(v))
        return NULL;
    struct nm_conn *c = (struct nm_conn *)v;
    pthread_mutex_lock(&c->lock);
    resolve_takeover(c);
    if (nm_fdtable_get(fd) != v || (c->is_given_up && c->owed.len == 0)) {
        conn_unlock(c);
        return NULL;
    }
    return c;
}

void nm_conn_release(struct nm_conn *c)
{
    conn_unlock(c);
}

/* ---- which sockets are ours ---- */

/* A TCP socket (v4 or v6) whose local port is handled. One getsockname; the
 * answer is cached in the fd table by the callers. */
static bool is_handled_tcp(int fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    int type = 0;
    socklen_t tlen = sizeof(type);
    if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tlen) != 0 ||
        type != SOCK_STREAM)
        return false;
    if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0)
        return false;
    uint16_t port;
    if (ss.ss_family == AF_INET)
        port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
    else if (ss.ss_family == AF_INET6)
        port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    else
        return false;
    return nm_config_port_ok(port);
}

static struct nm_conn *track(int fd)
{
    pthread_mutex_lock(&table_lock);
    struct nm_conn *c = conn_new(fd);
    if (c != NULL && nm_fdtable_set(fd, (uintptr_t)c) != 0) {
        c->free_next = free_conns;
        free_conns = c;
        c = NULL;
    }
    pthread_mutex_unlock(&table_lock);
    return c;
}

void nm_conn_on_accept(int listen_fd, int fd)
{
    uintptr_t lv = nm_fdtable_get(listen_fd);
    if (lv == NM_FD_UNKNOWN) {
        lv = is_handled_tcp(listen_fd) ? NM_FD_LISTEN_OK : NM_FD_IGNORED;
        nm_fdtable_set(listen_fd, lv);
    }
    /* A new fd number: whatever the slot held is stale. */
    nm_conn_drop_stale_fd(fd);
    if (lv == NM_FD_LISTEN_OK)
        track(fd);
    else
        nm_fdtable_set(fd, NM_FD_IGNORED);
}

struct nm_conn *nm_conn_adopt(int fd)
{
    if (!is_handled_tcp(fd)) {
        nm_fdtable_set(fd, NM_FD_IGNORED);
        return NULL;
    }
    struct nm_conn *c = track(fd);
    if (c == NULL)
        return NULL;
    pthread_mutex_lock(&c->lock);
    return c;
}

/* ---- delivering the shim's own bytes ---- */

/* Puts c under the flusher's watch; false when that is impossible. */
static bool register_flush(struct nm_conn *c)
{
    if (!c->is_in_flusher)
        c->is_in_flusher = nm_flusher_add(c);
    return c->is_in_flusher;
}

/* Bytes still owed after a send must be delivered by someone. */
static void watch_owed(struct nm_conn *c)
{
    if (!nm_deliver_is_done(&c->owed))
        register_flush(c);
}

/* Appends bytes to the owed queue; false when memory is short. */
static bool owe(struct nm_conn *c, const char *p, size_t n)
{
    bool is_ok = nm_deliver_owe(&c->owed, p, n);
    watch_owed(c);
    return is_ok;
}

/* Sends the owed bytes. may_block: wait on a blocking link, as the
 * server's own call would have. Returns true when nothing is owed. */
static bool flush_owed(struct nm_conn *c, bool may_block)
{
    return nm_deliver_flush(&c->owed, &c->link, may_block);
}

/* Is the shim sitting on bytes of this connection's current response? */
static bool is_holding(const struct nm_conn *c)
{
    return !c->is_given_up &&
           (c->rs == RS_HOLD || (c->rs == RS_HEAD && c->head_len > 0));
}

/* Never stall a client: what is held goes out unchanged (and the response
 * passes) once held longer than NOTMOD_HOLD_MS, or at once with now 0. */
static void release_overdue(struct nm_conn *c, uint64_t now_ms)
{
    if (!is_holding(c))
        return;
    uint64_t since =
        c->rs == RS_HOLD ? c->hold->started_ms : c->head_started_ms;
    if (now_ms != 0 && now_ms - since < nm_cfg.hold_ms)
        return;
    nm_log(NM_LOG_DEBUG, "fd %d: releasing a held response unchanged",
           conn_fd(c));
    release_unchanged(c);
    c->rs = RS_PASS;
}

bool nm_conn_flush_watched(void *item)
{
    struct nm_conn *c = item;
    pthread_mutex_lock(&c->lock);
    uint64_t now = nm_now_ms();
    /* A fork-split exchange is claimed only when its hold is due: the
     * other side (a child about to exec) must get the chance first. */
    if (c->takeover == NULL || now - c->head_started_ms >= nm_cfg.hold_ms)
        resolve_takeover(c);
    if (c->takeover == NULL)
        release_overdue(c, now);
    flush_owed(c, false);
    bool is_needed = !nm_deliver_is_done(&c->owed) || is_holding(c);
    if (!is_needed)
        c->is_in_flusher = false;
    conn_unlock(c);
    return !is_needed;
}

/* Delivers the shim's bytes (iov) before anything later: sent now without
 * blocking where possible, else waited for on a blocking link, else owed. */
static void send_own(struct nm_conn *c, const struct iovec *iov, int cnt)
{
    nm_deliver_send(&c->owed, &c->link, iov, cnt);
    watch_owed(c);
}

/* Delivers len bytes of a memfd after everything before it. */
static void send_own_file(struct nm_conn *c, int memfd, uint64_t len)
{
    nm_deliver_send_file(&c->owed, &c->link, memfd, len);
    watch_owed(c);
}

static void end_response(struct nm_conn *c);
static void forget(int fd, bool is_closing);

/* The parser reports the end of a message on the call after its last
 * byte (http_resp.h): asks for it with an empty feed. True when the
 * message is complete. */
static bool take_pending_done(struct nm_conn *c)
{
    nm_resp_event_t ev;
    return nm_http_resp_feed(&c->respp, c->resp, "", 0, &ev) == 0 &&
           ev == NM_RESP_EV_MSG_DONE;
}

/* Before a call that feeds nothing (sendfile): end a finished message. */
static void settle_pending_done(struct nm_conn *c)
{
    if (!c->is_given_up && (c->rs == RS_PASS || c->rs == RS_SWALLOW) &&
        take_pending_done(c))
        end_response(c);
}

/* ---- read side ---- */

static void queue_request(struct nm_conn *c)
{
    struct pending *p = c->req_cur;
    c->req_cur = NULL;
    p->next = NULL;
    if (c->q_tail != NULL)
        c->q_tail->next = p;
    else
        c->q_head = p;
    c->q_tail = p;
    c->q_len++;
}

/* One identity per origin (origin.h) for store keys, counters and routes:
 * the request's Host and target as the store knows them. A target that is
 * neither origin- nor absolute-form keeps its spelling, which no store key
 * and no route has. */
static void canon_origin(nm_req_t *r)
{
    if (r->flags & (NM_REQ_TRUNCATED_HOST | NM_REQ_TRUNCATED_TARGET))
        return;
    size_t host_len = r->host_len, target_len = r->target_len;
    if (nm_origin_canon(r->host, &host_len, sizeof(r->host), r->target,
                        &target_len, 80) == NM_OK) {
        r->host_len = (uint16_t)host_len;
        r->target_len = (uint16_t)target_len;
    }
}

static void feed_requests(struct nm_conn *c, const char *p, size_t len)
{
    while (len > 0 && !c->is_given_up) {
        if (c->req_cur == NULL) {
            c->req_cur = pool_get(&req_pool);
            if (c->req_cur == NULL) {
                conn_give_up(c, "out of memory");
                return;
            }
        }
        nm_req_event_t ev;
        long r = nm_http_req_feed(&c->reqp, &c->req_cur->req, p, len, &ev);
        if (r < 0) {
            conn_give_up(c, "request is not plain HTTP/1.x");
            return;
        }
        p += r;
        len -= (size_t)r;
        if (ev == NM_REQ_EV_HEAD_DONE) {
            const nm_req_t *r = &c->req_cur->req;
            /* After these the bytes are no longer HTTP/1.x messages. */
            if (r->method == NM_METHOD_CONNECT || (r->flags & NM_REQ_UPGRADE)) {
                conn_give_up(c, "CONNECT or Upgrade");
                return;
            }
            canon_origin(&c->req_cur->req);
            queue_request(c);
            if (c->q_len > PENDING_MAX)
                conn_give_up(c, "too many pipelined requests");
        }
    }
}

void nm_conn_on_read(struct nm_conn *c, const struct iovec *iov, int iovcnt,
                     size_t n)
{
    /* Body bytes of the request being answered: a client that streams a
     * body may wait for the response to what it sent (a pipelined request
     * is another head: its sender waits for nothing in particular). */
    bool is_answered_body = c->q_head != NULL && c->q_head == c->q_tail &&
                            c->req_cur == NULL &&
                            (c->q_head->req.flags & NM_REQ_HAS_BODY);
    for (int i = 0; i < iovcnt && n > 0 && !c->is_given_up; i++) {
        size_t take = iov[i].iov_len < n ? iov[i].iov_len : n;
        feed_requests(c, iov[i].iov_base, take);
        n -= take;
    }
    if (is_answered_body && is_holding(c))
        release_overdue(c, 0);
}

/* ---- write side ---- */

/* A read position in the server's iovec array. */
struct cursor {
    const struct iovec *iov;
    int cnt;
    int i;
    size_t off;
};

static size_t cur_piece(struct cursor *k, const char **p)
{
    while (k->i < k->cnt && k->off >= k->iov[k->i].iov_len) {
        k->i++;
        k->off = 0;
    }
    if (k->i >= k->cnt)
        return 0;
    *p = (const char *)k->iov[k->i].iov_base + k->off;
    return k->iov[k->i].iov_len - k->off;
}

/* Moves k forward by n bytes. */
static void cur_advance(struct cursor *k, size_t n)
{
    const char *p;
    size_t len;
    while (n > 0 && (len = cur_piece(k, &p)) > 0) {
        size_t take = len < n ? len : n;
        k->off += take;
        n -= take;
    }
}

/* Collects up to n bytes from k into out (at most cap entries); returns the
 * entry count and sets *got to the bytes covered. */
static int cur_slice(struct cursor k, size_t n, struct iovec *out, int cap,
                     size_t *got)
{
    int cnt = 0;
    *got = 0;
    const char *p;
    size_t len;
    while (n > 0 && cnt < cap && (len = cur_piece(&k, &p)) > 0) {
        size_t take = len < n ? len : n;
        out[cnt].iov_base = (void *)p;
        out[cnt].iov_len = take;
        cnt++;
        k.off += take;
        n -= take;
        *got += take;
    }
    return cnt;
}

/* Calls the real function the server used, on the server's own bytes. */
static ssize_t emit(struct nm_conn *c, enum nm_write_op op,
                    const struct iovec *iov, int cnt, int flags)
{
    return c->link.tp->pass(c->link.h, op, iov, cnt, flags);
}

static void pop_request(struct nm_conn *c)
{
    struct pending *p = c->q_head;
    if (p == NULL)
        return;
    c->q_head = p->next;
    if (c->q_head == NULL)
        c->q_tail = NULL;
    c->q_len--;
    pool_put(&req_pool, p);
}

/* Is this request conditional in a way a 304 could answer? */
static bool wants_decision(const nm_req_t *r)
{
    if (r->method != NM_METHOD_GET && r->method != NM_METHOD_HEAD)
        return false;
    if (!(r->flags & (NM_REQ_HAS_INM | NM_REQ_HAS_IMS)))
        return false;
    return !(r->flags & NM_REQ_TRUNCATED_COND);
}

/* The next byte starts a response: pair it with its request. */
static void start_response(struct nm_conn *c)
{
    if (c->q_head == NULL) {
        conn_give_up(c, "response without a request");
        return;
    }
    const nm_req_t *r = &c->q_head->req;
    nm_http_resp_expect_head(&c->respp, r->method == NM_METHOD_HEAD);
    if (c->resp == NULL) {
        c->resp = pool_get(&resp_pool);
        if (c->resp == NULL) {
            conn_give_up(c, "out of memory");
            return;
        }
    }
    c->outcome = NM_OUTCOME_PASSED;
    c->reason = NM_REASON_NONE;
    c->is_synth = false;
    c->saved_bytes = c->body_bytes = 0;
    c->vtag[0] = '\0';
    /* Every GET/HEAD head is looked at: it may need a 304 or a tag. */
    bool is_get_head =
        r->method == NM_METHOD_GET || r->method == NM_METHOD_HEAD;
    if (!is_get_head) {
        c->outcome = NM_OUTCOME_NOT_HANDLED;
        c->reason = NM_REASON_METHOD;
    }
    c->rs =
        is_get_head && !(r->flags & NM_REQ_TRUNCATED_COND) ? RS_HEAD : RS_PASS;
}

/* Copies the C string src into dst of cap bytes, truncated and always
 * terminated (snprintf("%s") did this at ~1,500 instructions a response). */
static size_t copy_str(char *dst, size_t cap, const char *src)
{
    size_t n = strnlen(src, cap - 1);
    memcpy(dst, src, n);
    dst[n] = '\0';
    return n;
}

/* Appends n bytes at out + *at when they fit in cap; false otherwise. */
static bool put_bytes(char *out, size_t cap, size_t *at, const char *p,
                      size_t n)
{
    if (cap - *at < n)
        return false;
    memcpy(out + *at, p, n);
    *at += n;
    return true;
}

static nm_slice_t field(const char *p, size_t len, bool is_present)
{
    nm_slice_t s = {is_present ? p : NULL, len};
    return s;
}

/* What notmod adds to a 200 without validators: its tag and, when the
 * store's date for that tag can be trusted, a Last-Modified; and a Date
 * when the server sent none (RFC 9110 §6.6.1), so that the 200s and 304s of
 * one URL agree for a cache that compares them. */
struct synth {
    char tag[NM_SNAPSHOT_TAG_MAX + 1];
    int64_t last_modified; /* -1: none to add */
    int64_t date;          /* the Date the response carries, -1: unknown */
    bool needs_date;       /* the server sent no Date: we add it */
};

/* The Date the response will carry: the server's, or now when it has
 * none (we add it). -1 when the server's cannot be read. */
static int64_t response_date(const nm_resp_t *resp, int64_t now)
{
    int64_t d;
    if (!(resp->flags & NM_RESP_HAS_DATE))
        return now;
    return nm_httpdate_parse(resp->date, resp->date_len, now, &d) == 0 ? d : -1;
}

/* Fills sy for tag served to req. hit is what the store said of the URL
 * (NULL: nothing). Its date becomes Last-Modified only when all hold
 * (docs/validators.md): the store's current tag is the one served, no
 * other tag went out for the URL from this server since the store could
 * have dated it (tagwatch.h), and the date is not after the response's
 * Date, so a date is published only once the clock has reached it. */
static void synth_for(struct synth *sy, const nm_req_t *req,
                      const nm_resp_t *resp, const char *tag,
                      const nm_snapshot_hit_t *hit, int64_t now)
{
    size_t tag_len = copy_str(sy->tag, sizeof(sy->tag), tag);
    sy->last_modified = -1;
    sy->needs_date = !(resp->flags & NM_RESP_HAS_DATE);
    sy->date = response_date(resp, now);
    if (resp->flags & NM_RESP_HAS_LAST_MODIFIED)
        return; /* the server's own stands */
    nm_slice_t host = {req->host, req->host_len};
    nm_slice_t target = {req->target, req->target_len};
    int64_t other_since =
        (req->flags & (NM_REQ_TRUNCATED_HOST | NM_REQ_TRUNCATED_TARGET))
            ? INT64_MAX
            : nm_tagwatch_served(nm_snapshot_url_key(host, target),
                                 XXH3_64bits(tag, tag_len), now);
    if (hit != NULL && (hit->flags & NM_SNAPSHOT_E_HAS_TAG) &&
        strcmp(hit->tag, tag) == 0 && hit->lm_unix > 0 &&
        hit->lm_unix > other_since && sy->date >= 0 && hit->lm_unix <= sy->date)
        sy->last_modified = hit->lm_unix;
}

/* Appends "Name: <IMF-fixdate>\r\n" for t; false when it does not fit. */
static bool put_date_line(char *out, size_t cap, size_t *n, const char *name,
                          int64_t t)
{
    char date[NM_HTTPDATE_LEN + 1];
    return nm_httpdate_format(t, date) == NM_HTTPDATE_LEN &&
           put_bytes(out, cap, n, name, strlen(name)) &&
           put_bytes(out, cap, n, date, NM_HTTPDATE_LEN) &&
           put_bytes(out, cap, n, "\r\n", 2);
}

/* The field lines a synth adds ("ETag: ...", maybe "Last-Modified: ..."
 * and, with is_200, "Date: ..."), CRLF-terminated, into out; returns their
 * length. A 304 gets its Date from nm_resp304_build. */
static size_t synth_lines(const struct synth *sy, bool is_200, char *out,
                          size_t cap)
{
    size_t n = 0;
    bool is_ok = put_bytes(out, cap, &n, "ETag: ", 6) &&
                 put_bytes(out, cap, &n, sy->tag, strlen(sy->tag)) &&
                 put_bytes(out, cap, &n, "\r\n", 2);
    if (is_ok && sy->last_modified >= 0)
        is_ok =
            put_date_line(out, cap, &n, "Last-Modified: ", sy->last_modified);
    if (is_ok && is_200 && sy->needs_date && sy->date >= 0)
        is_ok = put_date_line(out, cap, &n, "Date: ", sy->date);
    return is_ok ? n : 0;
}

/* RFC 9110 §13.2.2 through common/cond: may this 200 become a 304? */
static bool is_not_modified(const nm_req_t *r, const nm_resp_t *resp,
                            const struct synth *sy, int64_t now)
{
    if (resp->status != 200 || (resp->flags & NM_RESP_TRUNCATED_VALIDATOR))
        return false;
    if (!wants_decision(r))
        return false;
    if (sy == NULL &&
        !(resp->flags & (NM_RESP_HAS_ETAG | NM_RESP_HAS_LAST_MODIFIED)))
        return false;
    nm_cond_input_t in = {
        .method = r->method,
        .status = resp->status,
        .if_match =
            field(r->if_match, r->if_match_len, r->flags & NM_REQ_HAS_IF_MATCH),
        .if_none_match = field(r->inm, r->inm_len, r->flags & NM_REQ_HAS_INM),
        .if_modified_since =
            field(r->ims, r->ims_len, r->flags & NM_REQ_HAS_IMS),
        .if_unmodified_since =
            field(r->ius, r->ius_len, r->flags & NM_REQ_HAS_IUS),
        .is_ims_multi = r->flags & NM_REQ_IMS_MULTI,
        .is_ius_multi = r->flags & NM_REQ_IUS_MULTI,
        .is_cond_truncated = r->flags & NM_REQ_TRUNCATED_COND,
        .etag = sy ? field(sy->tag, strlen(sy->tag), true)
                   : field(resp->etag, resp->etag_len,
                           resp->flags & NM_RESP_HAS_ETAG),
        .last_modified = sy ? sy->last_modified : -1,
        .is_lm_exact = sy != NULL && sy->last_modified >= 0,
        .now = now,
    };
    int64_t lm;
    if ((resp->flags & NM_RESP_HAS_LAST_MODIFIED) &&
        nm_httpdate_parse(resp->last_modified, resp->last_modified_len, now,
                          &lm) == 0)
        in.last_modified = lm;
    return nm_cond_eval(&in) == NM_COND_NOT_MODIFIED;
}

/* Appends held head bytes that arrived in this call. */
static bool hold_head(struct nm_conn *c, struct cursor k, size_t n)
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
    while (n > 0 && (len = cur_piece(&k, &p)) > 0) {
        size_t take = len < n ? len : n;
        memcpy(c->head + c->head_len, p, take);
        c->head_len += take;
        k.off += take;
        n -= take;
    }
    return true;
}

/* Tells notmodd what became of one response (DESIGN.md "Figures"). */
static void report(const struct nm_conn *c, const nm_req_t *r,
                   const nm_resp_t *resp)
{
    nm_event_t ev = {
        .method = (uint8_t)r->method,
        .outcome = c->outcome,
        .status = (uint16_t)resp->status,
        .reason = c->reason,
        .body_len = (resp->flags & NM_RESP_HAS_CL) ? resp->content_length : 0,
        .bytes_saved = c->saved_bytes,
    };
    bool is_cond = r->flags & (NM_REQ_HAS_INM | NM_REQ_HAS_IMS);
    if (r->flags & NM_REQ_HAS_INM)
        ev.flags |= NM_EVENT_F_COND_INM;
    if (r->flags & NM_REQ_HAS_IMS)
        ev.flags |= NM_EVENT_F_COND_IMS;
    if (c->is_synth)
        ev.flags |= NM_EVENT_F_SYNTH_TAG;
    if (c->is_synth)
        ev.validator = (nm_slice_t){c->vtag, strlen(c->vtag)};
    else if (resp->flags & NM_RESP_HAS_ETAG)
        ev.validator = (nm_slice_t){resp->etag, resp->etag_len};
    /* DESIGN "missed revalidations": a revalidation answered with a full
     * 200 whose body is the one the URL already had, i.e. whose validator
     * is the store's current tag for it. */
    nm_snapshot_hit_t hit;
    if (is_cond && resp->status == 200 && ev.validator.len > 0 &&
        (c->outcome == NM_OUTCOME_PASSED ||
         c->outcome == NM_OUTCOME_TAG_ADDED) &&
        nm_storeview_lookup(r->host, r->host_len, r->target, r->target_len,
                            &hit) &&
        (hit.flags & NM_SNAPSHOT_E_HAS_TAG) &&
        hit.tag_len == ev.validator.len &&
        memcmp(hit.tag, ev.validator.ptr, hit.tag_len) == 0)
        ev.outcome = NM_OUTCOME_COND_MISS;
    if (!(r->flags & NM_REQ_TRUNCATED_HOST))
        ev.host = (nm_slice_t){r->host, r->host_len};
    if (!(r->flags & NM_REQ_TRUNCATED_TARGET))
        ev.path = (nm_slice_t){r->target, r->target_len};
    nm_report_send(&ev);
}

/* The message ended: the next byte belongs to the next response. A 1xx
 * is not final, so its request stays at the front of the queue. */
static void end_response(struct nm_conn *c)
{
    if (c->resp != NULL && c->resp->status >= 200 && c->q_head != NULL) {
        report(c, &c->q_head->req, c->resp);
        pop_request(c);
        c->has_exchanged = true;
        if (c->q_head == NULL) {
            /* Idle keep-alive connections cost what their struct costs. */
            pool_put(&resp_pool, c->resp);
            c->resp = NULL;
            free_head(c);
        }
    }
    c->rs = RS_IDLE;
}

/* Work on one server write: the state every phase needs. */
struct wctx {
    struct nm_conn *c;
    enum nm_write_op op;
    int flags;
    struct cursor k;
    size_t done; /* server bytes accounted for */
    /* bytes already parsed that must go out in front of the next pass
     * phase: the held copy (c->head) and/or a span of this call's input */
    size_t prefix_held; /* from c->head */
    struct cursor prefix_at;
    size_t prefix_input; /* from the input, starting at prefix_at */
};

/* Gives up mid-write: whatever is held goes out first, then the rest of the
 * server's bytes unchanged. Returns the server's result for the call. */
static ssize_t give_up_and_pass(struct wctx *w, const char *why)
{
    struct nm_conn *c = w->c;
    struct iovec v[PHASE_IOV_MAX];
    int n = 0;
    if (w->prefix_held > 0) {
        v[n].iov_base = c->head;
        v[n++].iov_len = w->prefix_held;
    }
    size_t got = 0;
    n += cur_slice(w->prefix_at, w->prefix_input, v + n, PHASE_IOV_MAX - n,
                   &got);
    if (n > 0)
        send_own(c, v, n);
    if (w->prefix_held > 0)
        c->head_len = 0; /* sent just now */
    w->prefix_held = w->prefix_input = 0;
    conn_give_up(c, why);
    if (!flush_owed(c, true)) {
        if (w->done > 0)
            return (ssize_t)w->done;
        errno = EAGAIN;
        return -1;
    }
    struct iovec rest[PHASE_IOV_MAX];
    int cnt = cur_slice(w->k, SIZE_MAX, rest, PHASE_IOV_MAX, &got);
    if (cnt == 0)
        return (ssize_t)w->done;
    ssize_t r = emit(c, w->op, rest, cnt, w->flags);
    if (r < 0)
        return w->done > 0 ? (ssize_t)w->done : -1;
    return (ssize_t)(w->done + (size_t)r);
}

/* Feeds the response parser from the cursor until an event or the end of
 * the input; returns bytes consumed (≥ 0) or an NM_E code. */
static long feed_until_event(struct wctx *w, nm_resp_event_t *ev,
                             nm_resp_event_t want)
{
    long total = 0;
    const char *p;
    size_t len;
    *ev = NM_RESP_EV_NONE;
    while ((len = cur_piece(&w->k, &p)) > 0) {
        nm_resp_event_t e;
        long r = nm_http_resp_feed(&w->c->respp, w->c->resp, p, len, &e);
        if (r < 0)
            return r;
        w->k.off += (size_t)r;
        total += r;
        if (e == want || e == NM_RESP_EV_MSG_DONE) {
            *ev = e;
            return total;
        }
    }
    /* Take a message's end now, so a complete response never waits for
     * the server's next call. */
    if (take_pending_done(w->c))
        *ev = NM_RESP_EV_MSG_DONE;
    return total;
}

/* Re-feeds n bytes from k after a rollback (a partial real write). */
static void refeed(struct nm_conn *c, struct cursor k, size_t n)
{
    const char *p;
    size_t len;
    while (n > 0 && (len = cur_piece(&k, &p)) > 0) {
        nm_resp_event_t e;
        long r =
            nm_http_resp_feed(&c->respp, c->resp, p, len < n ? len : n, &e);
        if (r <= 0)
            break;
        k.off += (size_t)r;
        n -= (size_t)r;
    }
}

/* RS_PASS: the server's bytes up to the end of this response go out in one
 * real call, behind any prefix. Returns 1 to go on, 0 to return w->done to
 * the server, or -1 to return -1 (errno set). */
static int phase_pass(struct wctx *w)
{
    struct nm_conn *c = w->c;
    if (!flush_owed(c, true))
        return w->done > 0 ? 0 : (errno = EAGAIN, -1);
    nm_resp_parser_t saved_p = c->respp;
    nm_resp_t saved_r;
    bool is_head_state = nm_http_resp_skippable(&c->respp) == 0;
    if (is_head_state)
        saved_r = *c->resp;
    struct cursor start = w->k;
    nm_resp_event_t ev;
    long m = feed_until_event(w, &ev, NM_RESP_EV_MSG_DONE);
    if (m < 0) {
        w->k = start;
        c->respp = saved_p;
        if (is_head_state)
            *c->resp = saved_r;
        return -2; /* caller gives up */
    }
    struct iovec v[PHASE_IOV_MAX];
    int n = 0;
    if (w->prefix_held > 0) {
        v[n].iov_base = c->head;
        v[n++].iov_len = w->prefix_held;
    }
    size_t got_prefix = 0, got = 0;
    n += cur_slice(w->prefix_at, w->prefix_input, v + n, PHASE_IOV_MAX - n,
                   &got_prefix);
    n += cur_slice(start, (size_t)m, v + n, PHASE_IOV_MAX - n, &got);
    size_t prefix = w->prefix_held + w->prefix_input;
    if (n == 0) { /* a message with nothing left to send */
        if (ev == NM_RESP_EV_MSG_DONE)
            end_response(c);
        return 1;
    }
    ssize_t r = emit(c, w->op, v, n, w->flags);
    if (r < 0 && prefix > 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        r = 0; /* the prefix is ours to deliver: owe it below */
    if (r < 0) {
        w->k = start;
        c->respp = saved_p;
        if (is_head_state)
            *c->resp = saved_r;
        return w->done > 0 ? 0 : -1;
    }
    size_t sent = (size_t)r;
    if (sent < prefix) {
        /* Part of our prefix is unsent: owe it; the server's bytes after it
         * were not taken, so roll the parser back to the prefix's end. */
        size_t held_left = w->prefix_held > sent ? w->prefix_held - sent : 0;
        if (held_left)
            owe(c, c->head + (w->prefix_held - held_left), held_left);
        struct iovec pv[PHASE_IOV_MAX];
        size_t skip = sent > w->prefix_held ? sent - w->prefix_held : 0;
        size_t pg;
        struct cursor pk = w->prefix_at;
        int pn = cur_slice(pk, w->prefix_input, pv, PHASE_IOV_MAX, &pg);
        for (int i = 0; i < pn; i++) {
            size_t s = skip < pv[i].iov_len ? skip : pv[i].iov_len;
            owe(c, (char *)pv[i].iov_base + s, pv[i].iov_len - s);
            skip -= s;
        }
        w->prefix_held = w->prefix_input = 0;
        c->head_len = 0;
        w->k = start;
        c->respp = saved_p;
        if (is_head_state)
            *c->resp = saved_r;
        if (w->done > 0)
            return 0;
        errno = EAGAIN;
        return -1;
    }
    c->head_len = 0;
    w->prefix_held = w->prefix_input = 0;
    size_t body_sent = sent - prefix;
    /* Short (partial write, or more iovecs than one call takes): */
    if (body_sent < (size_t)m) {
        /* Partial write: the server will retry the rest; parse only what
         * really left. */
        w->k = start;
        c->respp = saved_p;
        if (is_head_state)
            *c->resp = saved_r;
        refeed(c, start, body_sent);
        w->done += body_sent;
        return 0;
    }
    w->done += (size_t)m;
    if (ev == NM_RESP_EV_MSG_DONE)
        end_response(c);
    return 1;
}

/* Sends the 304 for the held head; false when it cannot be built. */
static bool send_304(struct wctx *w, const char *head, size_t head_len,
                     const struct synth *sy, int64_t now)
{
    char stack_buf[8192];
    size_t cap = head_len + RESP304_EXTRA;
    char *out = cap <= sizeof(stack_buf) ? stack_buf : nm_malloc(cap);
    if (out == NULL)
        return false;
    char extra[224] = "";
    size_t extra_len = sy ? synth_lines(sy, false, extra, sizeof(extra)) : 0;
    /* A close-delimited HTTP/1.1 200 says "close" by closing; its 304 has
     * no body to end that way, so it says it in words (RFC 9112 §9.6),
     * or the client would wait to reuse a connection about to close. */
    nm_slice_t conn_field;
    const nm_resp_t *resp = w->c->resp;
    if ((resp->flags & NM_RESP_CLOSE_DELIMITED) && resp->version_minor == 1 &&
        !(nm_hdr_find(head, head_len, "connection", &conn_field) == 1 &&
          nm_hdr_list_has(conn_field.ptr, conn_field.len, "close"))) {
        static const char close_line[] = "Connection: close\r\n";
        memcpy(extra + extra_len, close_line, sizeof(close_line) - 1);
        extra_len += sizeof(close_line) - 1;
    }
    /* The parser kept where each field line starts: no second scan of
     * the head (unless it had too many lines to keep). */
    long n =
        resp->line_count <= NM_RESP_LINES_MAX && resp->head_len == head_len
            ? nm_resp304_build_lines(head, head_len, resp->line_start,
                                     resp->line_count, extra, extra_len, now,
                                     out, cap)
            : nm_resp304_build(head, head_len, extra, extra_len, now, out, cap);
    if (n > 0) {
        struct iovec v = {.iov_base = out, .iov_len = (size_t)n};
        send_own(w->c, &v, 1);
        nm_log(NM_LOG_DEBUG, "fd %d: 304 substituted (%ld bytes)",
               conn_fd(w->c), n);
        struct nm_conn *c = w->c;
        c->outcome = NM_OUTCOME_SUBSTITUTED_304;
        /* DESIGN "bytes saved": the body not sent, plus the head
         * difference. A held body was counted as it came. */
        uint64_t body = (c->resp->flags & NM_RESP_HAS_CL)
                            ? c->resp->content_length
                            : c->body_bytes;
        c->saved_bytes =
            body + (head_len > (size_t)n ? head_len - (size_t)n : 0);
    }
    if (out != stack_buf)
        free(out);
    return n > 0;
}

/* Sends v[0..cnt) (room for one more entry) and then what is held of the
 * body behind it, in one call where possible: memory, then the memfd. */
static void send_with_held_body(struct nm_conn *c, struct iovec *v, int cnt)
{
    if (c->hold != NULL && c->hold->mem_len > 0) {
        v[cnt].iov_base = c->hold->mem;
        v[cnt++].iov_len = c->hold->mem_len;
    }
    if (cnt > 0)
        send_own(c, v, cnt);
    if (c->hold != NULL && c->hold->file_len > 0)
        send_own_file(c, c->hold->memfd, c->hold->file_len);
}

/* Sends the 200's head with our ETag line added before its empty line
 * (the server's own bytes and order kept), then what was held of its body:
 * memory first, then the memfd. */
static void release_with_tag(struct nm_conn *c, const char *head,
                             size_t head_len, const struct synth *sy)
{
    /* The empty line ending the head is CRLF, or LF from a CGI. */
    size_t cut = head_len >= 2 && head[head_len - 2] == '\r' ? 2 : 1;
    char line[256];
    size_t n = synth_lines(sy, true, line, sizeof(line) - 2);
    memcpy(line + n, cut == 2 ? "\r\n" : "\n", cut);
    n += cut;
    struct iovec v[3] = {{(void *)head, head_len - cut}, {line, n}};
    send_with_held_body(c, v, 2);
    c->outcome = NM_OUTCOME_TAG_ADDED;
}

/* Sends what is held exactly as the server wrote it. */
static void release_unchanged(struct nm_conn *c)
{
    struct iovec v[3] = {{c->head, c->head_len}};
    send_with_held_body(c, v, c->head_len > 0 ? 1 : 0);
    nm_hold_free(c->hold);
    c->hold = NULL;
    c->head_len = 0;
}

/* The held 200 is complete and tag is its validator: answer 304 when the
 * request's conditions match, else the 200 with the tag. */
static bool answer_with_tag(struct wctx *w, const char *tag)
{
    struct nm_conn *c = w->c;
    const nm_req_t *req = &c->q_head->req;
    int64_t now = time(NULL);
    struct synth sy;
    synth_for(&sy, req, c->resp, tag,
              c->hold && c->hold->has_store_hit ? &c->hold->store_hit : NULL,
              now);
    c->is_synth = true;
    copy_str(c->vtag, sizeof(c->vtag), tag);
    bool is_304 = is_not_modified(req, c->resp, &sy, now) &&
                  send_304(w, c->head, c->head_len, &sy, now);
    if (!is_304)
        release_with_tag(c, c->head, c->head_len, &sy);
    nm_hold_free(c->hold);
    c->hold = NULL;
    c->head_len = 0;
    return is_304;
}

/* True when this response will be held to hash its body (below): its 304,
 * if any, is decided once the tag is known, so that it carries the ETag
 * the 200 would have carried (RFC 9110 §15.4.5), not at the head. */
static bool will_hold(const nm_req_t *req, const nm_resp_t *resp)
{
    uint32_t no = NM_RESP_HAS_ETAG | NM_RESP_TRUNCATED_VALIDATOR |
                  NM_RESP_STREAMING | NM_RESP_NO_BODY;
    bool is_too_large = (resp->flags & NM_RESP_HAS_CL) &&
                        resp->content_length > nm_cfg.hold_max_bytes;
    return resp->status == 200 && !(resp->flags & no) &&
           req->method == NM_METHOD_GET && !is_too_large &&
           nm_hold_total() < nm_cfg.hold_total_bytes;
}

/* Chooses, for a complete 200 head without a server ETag, between adding
 * the tag a GET taught us (HEAD), holding the body to hash it (GET), or
 * nothing. Returns true when it took charge of the head. */
static bool start_hold_or_tag(struct wctx *w, const nm_req_t *req,
                              const char *head, size_t head_len,
                              bool is_contiguous, struct cursor start, size_t m,
                              int64_t now)
{
    struct nm_conn *c = w->c;
    const nm_resp_t *resp = c->resp;
    uint32_t no =
        NM_RESP_HAS_ETAG | NM_RESP_TRUNCATED_VALIDATOR | NM_RESP_STREAMING;
    if (resp->status != 200 || (resp->flags & no))
        return false;
    /* A tag known without the body: an operator's pin, or for a HEAD the
     * tag this process gave the same URL's GET. */
    char known[NM_SNAPSHOT_TAG_MAX + 1];
    nm_snapshot_hit_t hit;
    bool has_hit = nm_storeview_lookup(req->host, req->host_len, req->target,
                                       req->target_len, &hit);
    bool is_known = false;
    if (has_hit && (hit.flags & NM_SNAPSHOT_E_PINNED) &&
        (hit.flags & NM_SNAPSHOT_E_HAS_TAG)) {
        copy_str(known, sizeof(known), hit.tag);
        is_known = true;
    } else if (req->method == NM_METHOD_HEAD) {
        is_known = nm_headcache_get(req, resp, known);
    }
    if (is_known) {
        struct synth sy;
        synth_for(&sy, req, resp, known, has_hit ? &hit : NULL, now);
        c->is_synth = true;
        copy_str(c->vtag, sizeof(c->vtag), known);
        bool is_304 = is_not_modified(req, resp, &sy, now) &&
                      send_304(w, head, head_len, &sy, now);
        if (!is_304)
            release_with_tag(c, head, head_len, &sy);
        c->head_len = 0;
        /* The body (a GET's) is swallowed after a 304, else passes. */
        c->rs =
            is_304 || (resp->flags & NM_RESP_NO_BODY) ? RS_SWALLOW : RS_PASS;
        return true;
    }
    bool is_too_large = (resp->flags & NM_RESP_HAS_CL) &&
                        resp->content_length > nm_cfg.hold_max_bytes;
    if (req->method == NM_METHOD_GET && is_too_large) {
        c->outcome = NM_OUTCOME_NOT_HANDLED;
        c->reason = NM_REASON_TOO_LARGE;
    }
    if (req->method != NM_METHOD_GET || (resp->flags & NM_RESP_NO_BODY) ||
        is_too_large || nm_hold_total() >= nm_cfg.hold_total_bytes)
        return false;
    if (is_contiguous && !hold_head(c, start, m))
        return false;
    c->hold = nm_hold_new(nm_cfg.seed, nm_now_ms());
    if (c->hold == NULL) {
        if (is_contiguous)
            c->head_len = 0; /* the caller passes it from the input */
        return false;
    }
    c->hold->has_store_hit = has_hit;
    if (has_hit)
        c->hold->store_hit = hit;
    if (!register_flush(c)) { /* no deadline keeper: do not hold */
        nm_hold_free(c->hold);
        c->hold = NULL;
        if (is_contiguous)
            c->head_len = 0;
        return false;
    }
    c->rs = RS_HOLD;
    return true;
}

/* RS_HOLD: keeps the server's bytes and hashes the body they carry. */
static int phase_hold(struct wctx *w)
{
    struct nm_conn *c = w->c;
    struct cursor start = w->k;
    const char *p;
    size_t len;
    long m = 0;
    bool is_done = false;
    while (!is_done && (len = cur_piece(&w->k, &p)) > 0) {
        nm_resp_event_t e;
        long r = nm_http_resp_feed(&c->respp, c->resp, p, len, &e);
        if (r < 0) {
            w->k = start;
            release_unchanged(c);
            return -2;
        }
        if (e == NM_RESP_EV_BODY) {
            nm_hold_hash(c->hold, c->respp.body_ptr, c->respp.body_len);
            c->body_bytes += c->respp.body_len;
        }
        if (!nm_hold_append(c->hold, p, (size_t)r)) {
            /* Over a limit: what is held goes out unchanged, these bytes
             * right behind it, and the rest of the response passes. */
            release_unchanged(c);
            m += r;
            /* All m bytes were parsed: all of them go, in order, however
             * many iovecs they span. */
            struct cursor k = start;
            size_t left = (size_t)m;
            while (left > 0) {
                struct iovec v[PHASE_IOV_MAX];
                size_t got;
                int n = cur_slice(k, left, v, PHASE_IOV_MAX, &got);
                if (n == 0)
                    break;
                send_own(c, v, n);
                cur_advance(&k, got);
                left -= got;
            }
            w->k = k;
            w->done += (size_t)m;
            c->rs = RS_PASS;
            if (e == NM_RESP_EV_MSG_DONE)
                end_response(c);
            return 1;
        }
        w->k.off += (size_t)r;
        m += r;
        is_done = e == NM_RESP_EV_MSG_DONE;
    }
    if (!is_done)
        is_done = take_pending_done(c);
    w->done += (size_t)m;
    if (is_done) {
        char tag[NM_BODYHASH_TAG_LEN + 1];
        nm_hold_tag(c->hold, tag);
        answer_with_tag(w, tag);
        end_response(c);
    }
    return is_done ? 1 : 2;
}

/* RS_HEAD: gathers the head; when complete, decides and answers. Returns
 * as phase_pass, plus 2 when everything was held. */
static int phase_head(struct wctx *w)
{
    struct nm_conn *c = w->c;
    struct cursor start = w->k;
    nm_resp_event_t ev;
    long m = feed_until_event(w, &ev, NM_RESP_EV_HEAD_DONE);
    if (m >= 0 && ev != NM_RESP_EV_HEAD_DONE) { /* incomplete: hold it */
        if (c->head_len == 0) {
            c->head_started_ms = nm_now_ms();
            if (!register_flush(c)) /* nobody would keep the deadline */
                m = -1;
        }
        if (m >= 0 && hold_head(c, start, (size_t)m)) {
            w->done += (size_t)m;
            return 2;
        }
        m = -1;
    }
    const char *p = NULL;
    struct cursor s2 = start;
    bool is_contiguous =
        m >= 0 && c->head_len == 0 && cur_piece(&s2, &p) >= (size_t)m;
    if (m >= 0 && !is_contiguous && !hold_head(c, start, (size_t)m))
        m = -1;
    if (m < 0) { /* the held part goes out, then the rest unchanged */
        w->k = start;
        w->prefix_held = c->head_len;
        return -2;
    }
    w->done += (size_t)m;
    const char *head = is_contiguous ? p : c->head;
    size_t head_len = is_contiguous ? (size_t)m : c->head_len;
    int64_t now = time(NULL);
    const nm_req_t *req = &c->q_head->req;
    if (c->resp->status == 304)
        c->outcome = NM_OUTCOME_SERVER_304;
    else if (c->resp->status != 200 && c->resp->status >= 200) {
        c->outcome = NM_OUTCOME_NOT_HANDLED;
        c->reason = NM_REASON_STATUS;
    }
    if (c->resp->status == 200 &&
        nm_storeview_is_disabled(req->host, req->host_len, req->target,
                                 req->target_len)) {
        /* An operator disabled this route: hands off entirely. */
        c->outcome = NM_OUTCOME_NOT_HANDLED;
        c->reason = NM_REASON_DISABLED;
    } else if (!will_hold(req, c->resp) &&
               is_not_modified(req, c->resp, NULL, now) &&
               send_304(w, head, head_len, NULL, now)) {
        c->head_len = 0;
        c->rs = RS_SWALLOW;
        return 1;
    }
    /* No ETag from the server: maybe one of ours. */
    if (c->reason != NM_REASON_DISABLED &&
        start_hold_or_tag(w, req, head, head_len, is_contiguous, start,
                          (size_t)m, now))
        return 1;
    /* Pass: the head goes out in front of what follows it. */
    if (is_contiguous) {
        w->prefix_at = start;
        w->prefix_input = (size_t)m;
    } else {
        w->prefix_held = c->head_len;
    }
    c->rs = RS_PASS;
    return 1;
}

/* RS_SWALLOW: the 304 went out; the 200's remaining bytes are dropped. */
static int phase_swallow(struct wctx *w)
{
    nm_resp_event_t ev;
    long m = feed_until_event(w, &ev, NM_RESP_EV_MSG_DONE);
    if (m < 0) {
        /* The 304 left already, and the server's bytes after it cannot be
         * framed: nothing more can be sent without corrupting the stream.
         * End it cleanly for the client and drop the rest. */
        nm_log(NM_LOG_WARN, "fd %d: unframeable bytes after a 304",
               conn_fd(w->c));
        w->c->link.tp->shut_output(w->c->link.h);
        w->c->rs = RS_SINK;
        return 1;
    }
    w->done += (size_t)m;
    if (ev == NM_RESP_EV_MSG_DONE)
        end_response(w->c);
    return 1;
}

/* Total bytes in an iovec array, capped so it fits a ssize_t. */
static size_t iov_total(const struct iovec *iov, int cnt)
{
    size_t total = 0;
    for (int i = 0; i < cnt; i++) {
        if (iov[i].iov_len > (size_t)SSIZE_MAX - total)
            return (size_t)SSIZE_MAX;
        total += iov[i].iov_len;
    }
    return total;
}

ssize_t nm_conn_write(struct nm_conn *c, nm_handle_t h, enum nm_write_op op,
                      const struct iovec *iov, int iovcnt, int flags)
{
    struct wctx w = {.c = c, .op = op, .flags = flags};
    w.k.iov = iov;
    w.k.cnt = iovcnt;
    c->link.h = h;
    claim_for_write(c);
    if (!flush_owed(c, true)) {
        errno = EAGAIN;
        return -1;
    }
    if (c->is_given_up)
        return emit(c, op, iov, iovcnt, flags);
    for (;;) {
        const char *p;
        struct cursor peek = w.k;
        bool has_input = cur_piece(&peek, &p) > 0;
        bool has_prefix = w.prefix_held + w.prefix_input > 0;
        if (!has_input && !has_prefix)
            return (ssize_t)w.done;
        int r;
        switch (c->rs) {
        case RS_IDLE:
            start_response(c);
            r = c->is_given_up ? -2 : 1;
            break;
        case RS_HEAD:
            r = phase_head(&w);
            break;
        case RS_PASS:
            r = phase_pass(&w);
            break;
        case RS_SWALLOW:
            r = phase_swallow(&w);
            break;
        case RS_HOLD:
            r = phase_hold(&w);
            break;
        default: /* RS_SINK */
            return (ssize_t)iov_total(iov, iovcnt);
        }
        if (r == 1)
            continue;
        if (r == 0 || r == 2)
            return (ssize_t)w.done;
        if (r == -1)
            return -1;
        return give_up_and_pass(&w, "response framing not followed");
    }
}

/* ---- sendfile: bodies the shim never sees, followed by count ---- */

/* Bytes a real sendfile could read from in_fd at pos: the file's end caps
 * it; for anything but a regular file assume all of count. */
static size_t file_avail(int in_fd, off_t pos, size_t count)
{
    struct stat st;
    if (fstat(in_fd, &st) != 0 || !S_ISREG(st.st_mode))
        return count;
    if (pos >= st.st_size)
        return 0;
    uint64_t left = (uint64_t)(st.st_size - pos);
    return left < count ? (size_t)left : count;
}

/* The 200 being swallowed is sent from a file: advance the offset or the
 * file position exactly as the real call would, send nothing. */
static ssize_t swallow_sendfile(struct nm_conn *c, int in_fd, off_t *offset,
                                size_t count)
{
    off_t pos = offset ? *offset : lseek(in_fd, 0, SEEK_CUR);
    if (pos < 0)
        return -1; /* errno from lseek, as sendfile would fail */
    uint64_t sk =
        c->rs == RS_SWALLOW ? nm_http_resp_skippable(&c->respp) : UINT64_MAX;
    if (sk == 0) { /* chunk framing inside a file: cannot follow */
        c->link.tp->shut_output(c->link.h);
        c->rs = RS_SINK;
        sk = UINT64_MAX;
    }
    /* The server sized the body from the file it sends: what the real call
     * would read is count, capped by the body. No fstat here: the shim
     * makes no syscall the server did not make (issue 8). */
    size_t n = sk < count ? (size_t)sk : count;
    if (offset)
        *offset = pos + (off_t)n;
    else if (lseek(in_fd, pos + (off_t)n, SEEK_SET) < 0)
        return -1;
    if (c->rs == RS_SWALLOW) {
        nm_resp_event_t ev;
        nm_http_resp_skip(&c->respp, n, &ev);
        if (ev == NM_RESP_EV_MSG_DONE)
            end_response(c);
    }
    return (ssize_t)n;
}

/* Would the real sendfile fail? A zero count makes the kernel run its
 * checks (ESPIPE for an offset on a pipe, EINVAL for a socket or a pipe as
 * the source, EBADF...) and send nothing. True, with errno set, when the
 * call fails: then it must change nothing the shim holds (civetweb tries
 * sendfile from its CGI's pipe, gets ESPIPE, and reads and sends instead). */
static bool sendfile_fails(int out_fd, int in_fd, const off_t *offset,
                           ssize_t (*real)(int, int, off_t *, size_t))
{
    off_t probe = offset ? *offset : 0;
    return real(out_fd, in_fd, offset ? &probe : NULL, 0) < 0;
}

/* A held 200 whose body comes from a file: hash the file region the body
 * will be (pread, cached) instead of holding it, then answer: 304 (and the
 * sendfile calls are swallowed) or the head with our tag (and they pass).
 * Anything else releases the head unchanged, unless the call is going to
 * fail: then false, errno set, and the hold goes on. */
static bool hold_from_file(struct nm_conn *c, int out_fd, int in_fd,
                           off_t *offset,
                           ssize_t (*real)(int, int, off_t *, size_t))
{
    char tag[NM_BODYHASH_TAG_LEN + 1];
    uint64_t body = nm_http_resp_skippable(&c->respp);
    off_t pos = offset ? *offset : lseek(in_fd, 0, SEEK_CUR);
    bool is_whole_body =
        nm_hold_len(c->hold) == 0 && (c->resp->flags & NM_RESP_HAS_CL) &&
        !(c->resp->flags & NM_RESP_CHUNKED) && body == c->resp->content_length;
    nm_file_id_t id;
    if (is_whole_body && pos >= 0 && body <= nm_cfg.hold_max_bytes &&
        nm_filehash_tag(in_fd, pos, body, nm_cfg.seed, tag, &id)) {
        struct wctx w = {.c = c};
        if (c->q_head->req.method == NM_METHOD_GET && pos == 0)
            nm_headcache_put_file(&c->q_head->req, c->resp, tag, in_fd, &id);
        c->rs = answer_with_tag(&w, tag) ? RS_SWALLOW : RS_PASS;
        return true;
    }
    if (sendfile_fails(out_fd, in_fd, offset, real))
        return false;
    release_unchanged(c);
    c->rs = RS_PASS;
    return true;
}

ssize_t nm_conn_sendfile(struct nm_conn *c, int out_fd, int in_fd,
                         off_t *offset, size_t count,
                         ssize_t (*real)(int, int, off_t *, size_t))
{
    c->link.h.fd = out_fd;
    claim_for_write(c);
    if (!flush_owed(c, true)) {
        errno = EAGAIN;
        return -1;
    }
    settle_pending_done(c);
    if (!c->is_given_up && c->rs == RS_HOLD) {
        if (!hold_from_file(c, out_fd, in_fd, offset, real))
            return -1;
        /* The head (and our tag) must be out before any body byte. */
        if (!flush_owed(c, true)) {
            errno = EAGAIN;
            return -1;
        }
    }
    if (!c->is_given_up && (c->rs == RS_SWALLOW || c->rs == RS_SINK))
        return swallow_sendfile(c, in_fd, offset, count);
    uint64_t sk = 0;
    if (!c->is_given_up && c->rs == RS_PASS)
        sk = nm_http_resp_skippable(&c->respp);
    if (sk == 0 && !c->is_given_up && c->rs == RS_IDLE) {
        /* busybox calls sendfile again after the body to see EOF. */
        off_t pos = offset ? *offset : lseek(in_fd, 0, SEEK_CUR);
        if (pos >= 0 && file_avail(in_fd, pos, count) == 0)
            return 0;
    }
    if (sk == 0) {
        /* A head or framing bytes from a file: we cannot follow. Whatever
         * head is held goes out first. A call that fails anyway changes
         * nothing. */
        if (!c->is_given_up && sendfile_fails(out_fd, in_fd, offset, real))
            return -1;
        if (!c->is_given_up && c->head_len > 0) {
            struct iovec v = {.iov_base = c->head, .iov_len = c->head_len};
            send_own(c, &v, 1);
            c->head_len = 0;
        }
        if (!c->is_given_up)
            conn_give_up(c, "sendfile outside a body");
        if (!flush_owed(c, true)) {
            errno = EAGAIN;
            return -1;
        }
        return real(out_fd, in_fd, offset, count);
    }
    ssize_t r = real(out_fd, in_fd, offset, sk < count ? (size_t)sk : count);
    if (r > 0) {
        nm_resp_event_t ev;
        nm_http_resp_skip(&c->respp, (uint64_t)r, &ev);
        if (ev == NM_RESP_EV_MSG_DONE)
            end_response(c);
    }
    return r;
}

/* ---- fd bookkeeping ---- */

/* Delivers what the connection holds or owes before its last fd goes;
 * bounded so a dead client cannot hang the server's close. */
static void drain_before_close(struct nm_conn *c, int fd, bool is_eof)
{
    c->link.h.fd = fd;
    /* A close-delimited body ends here: its tag can still be used. */
    if (is_eof && !c->is_given_up && c->rs == RS_HOLD &&
        nm_http_resp_eof(&c->respp) == NM_RESP_EV_MSG_DONE) {
        char tag[NM_BODYHASH_TAG_LEN + 1];
        struct wctx w = {.c = c};
        nm_hold_tag(c->hold, tag);
        answer_with_tag(&w, tag);
        end_response(c);
    }
    release_overdue(c, 0);
    nm_deliver_flush_bounded(&c->owed, &c->link);
}

void nm_conn_forget_fd(int fd)
{
    forget(fd, true);
}

void nm_conn_drop_stale_fd(int fd)
{
    forget(fd, false);
}

/* fd no longer names its connection. is_closing: the fd is still that
 * socket, so what the shim holds or owes is delivered first; otherwise the
 * number already belongs to something new (closed behind our back) and
 * nothing may be written to it. */
static void forget(int fd, bool is_closing)
{
    /* Every close comes here; most fds (files, pipes) are no connection:
     * their slot is reset without the table lock, which guards the
     * sharing of connections between fds (dup), not plain marks. */
    uintptr_t seen = nm_fdtable_get(fd);
    if (!NM_FD_IS_CONN(seen)) {
        if (seen != NM_FD_UNKNOWN)
            nm_fdtable_set(fd, NM_FD_UNKNOWN);
        return;
    }
    pthread_mutex_lock(&table_lock);
    uintptr_t v = nm_fdtable_get(fd);
    if (v == NM_FD_UNKNOWN) {
        pthread_mutex_unlock(&table_lock);
        return;
    }
    nm_fdtable_set(fd, NM_FD_UNKNOWN);
    struct nm_conn *c = NM_FD_IS_CONN(v) ? (struct nm_conn *)v : NULL;
    bool is_last = c != NULL && --c->refs == 0;
    pthread_mutex_unlock(&table_lock);
    if (!is_last)
        return;
    pthread_mutex_lock(&c->lock);
    resolve_takeover(c);
    if (is_closing)
        drain_before_close(c, fd, true);
    bool had_exchange = c->has_exchanged;
    drop_claim(c);
    release_state(c);
    nm_deliver_drop(&c->owed);
    c->is_given_up = true; /* a racing holder of the pointer passes */
    conn_unlock(c);
    if (c->is_in_flusher)
        nm_flusher_remove(c);
    pthread_mutex_lock(&table_lock);
    c->free_next = free_conns;
    free_conns = c;
    pthread_mutex_unlock(&table_lock);
    if (had_exchange) /* the process may _exit next (fork per connection) */
        nm_report_flush();
}

void nm_conn_dup_fd(int oldfd, int newfd)
{
    if (oldfd == newfd)
        return;
    /* newfd already names oldfd's socket: nothing of its past may be
     * written there (dup2's implicit close was drained by the hook). */
    nm_conn_drop_stale_fd(newfd);
    pthread_mutex_lock(&table_lock);
    uintptr_t v = nm_fdtable_get(oldfd);
    if (v != NM_FD_UNKNOWN && nm_fdtable_set(newfd, v) == 0 && NM_FD_IS_CONN(v))
        ((struct nm_conn *)v)->refs++;
    pthread_mutex_unlock(&table_lock);
}

/* Is anything of this connection's exchange in flight right now? */
static bool is_busy(const struct nm_conn *c)
{
    return c->rs != RS_IDLE || c->q_len > 0 || c->req_cur != NULL;
}

/* A cell both sides of a fork share, to settle which one answers the
 * exchange in flight; NULL when it cannot be had. */
static _Atomic int *claim_cell(void)
{
    void *cell = mmap(NULL, sizeof(_Atomic int), PROT_READ | PROT_WRITE,
                      MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (cell == MAP_FAILED)
        return NULL;
    atomic_store((_Atomic int *)cell, 0);
    return cell;
}

static void flush_one(int fd, uintptr_t v, void *arg)
{
    struct nm_conn *c = (struct nm_conn *)v;
    pthread_mutex_lock(&c->lock);
    resolve_takeover(c);
    bool is_forking = arg != NULL && !c->is_given_up;
    /* Before fork (arg set): a head still being written is kept for
     * whichever side goes on writing it (python's CGI handler writes the
     * status line, then its child execs the script: see nm_conn_before_exec).
     */
    bool is_split = is_forking && c->rs == RS_HEAD && c->head_len > 0;
    /* A request read and nothing of its response written: the side that
     * writes first answers it (mini_httpd's child writes the response of
     * the CGI its parent execs; busybox's parent relays its child's). */
    bool is_unanswered = is_forking && c->rs == RS_IDLE && c->q_len > 0 &&
                         c->req_cur == NULL && !is_holding(c);
    if ((is_split || is_unanswered) && c->takeover == NULL) {
        c->takeover = claim_cell();
        c->is_claimed_by_write = is_unanswered;
    }
    if ((is_split || is_unanswered) && c->takeover != NULL) {
        nm_link_t named = {c->link.tp, {.fd = fd}};
        nm_deliver_flush_bounded(&c->owed, &named);
    } else if (conn_fd(c) == fd) {
        drain_before_close(c, fd, false);
    }
    conn_unlock(c);
}

/* At exit, what is held goes out unchanged, without blocking: a forked
 * child that carried an exchange may exit() without closing its socket
 * (the kernel's close is unseen). trylock: exit() may run from a signal
 * handler that interrupted this very shim holding the lock; then that
 * connection's bytes stay where they are rather than the process hang. */
static void deliver_one(int fd, uintptr_t v, void *arg)
{
    (void)arg;
    struct nm_conn *c = (struct nm_conn *)v;
    if (pthread_mutex_trylock(&c->lock) != 0)
        return;
    /* A fork-split exchange is left to the other side: it claims it at
     * its next touch or write, and sends what it holds then. */
    if (c->takeover == NULL) {
        /* an fd that still names it (the last one used may be closed) */
        c->link.h.fd = fd;
        release_overdue(c, 0);
        flush_owed(c, false);
    }
    conn_unlock(c);
}

void nm_conn_deliver_at_exit(void)
{
    nm_fdtable_each_conn(deliver_one, NULL);
}

void nm_conn_flush_all(void)
{
    nm_fdtable_each_conn(flush_one, NULL);
}

enum { TAKE_OPEN = 0, TAKE_CHILD = 1, TAKE_PARENT = 2 };

/* Settles a fork-split exchange (c locked): the first side to touch it
 * claims it; the other drops its copy of the held head, unsent, and stands
 * aside, so nothing is sent twice. */
static void resolve_takeover(struct nm_conn *c)
{
    if (c->takeover == NULL || c->is_claimed_by_write)
        return;
    int expected = TAKE_OPEN;
    bool is_mine = atomic_compare_exchange_strong(c->takeover, &expected,
                                                  c->takeover_role) ||
                   expected == c->takeover_role;
    munmap((void *)c->takeover, sizeof(_Atomic int));
    c->takeover = NULL;
    if (!is_mine) {
        c->head_len = 0; /* the other process sends it */
        conn_give_up(c, "the other side of a fork answers this exchange");
    }
}

/* Before a write: an exchange split by fork with nothing of its response
 * written is this side's when it writes first; the other side passes its
 * bytes through from then on (c locked). */
static void claim_for_write(struct nm_conn *c)
{
    if (c->takeover != NULL && c->is_claimed_by_write) {
        c->is_claimed_by_write = false;
        resolve_takeover(c);
    }
}

/* The connection goes without having written: leave the claim to the other
 * side, unclaimed. */
static void drop_claim(struct nm_conn *c)
{
    if (c->takeover != NULL && c->is_claimed_by_write) {
        munmap((void *)c->takeover, sizeof(_Atomic int));
        c->takeover = NULL;
        c->is_claimed_by_write = false;
    }
}

static void set_role(int fd, uintptr_t v, void *arg)
{
    (void)fd;
    struct nm_conn *c = (struct nm_conn *)v;
    if (c->takeover != NULL)
        c->takeover_role = (int)(intptr_t)arg;
}

/* After fork the parent goes on following its connections: servers that
 * fork a CGI relay its output themselves (busybox), or write nothing more
 * on that exchange (python's CGI: its child execs and writes the rest
 * unseen; the parent's parser then fails on any later byte and gives up).
 * An exchange split with a claim cell (a head begun, or a request with
 * nothing of its response written: flush_one) is followed by both until
 * one side claims it. In the child, any other exchange in flight is one we
 * cannot know the state of: stop following it. Idle ones (busybox forks
 * right after accept) are kept. */
static void settle_one(int fd, uintptr_t v, void *arg)
{
    (void)fd;
    (void)arg;
    struct nm_conn *c = (struct nm_conn *)v;
    pthread_mutex_init(&c->lock, NULL);
    pthread_mutex_lock(&c->lock);
    /* Owed bytes were the parent's to send, and were sent before fork. */
    nm_deliver_drop(&c->owed);
    if (c->takeover != NULL) {
        c->takeover_role = TAKE_CHILD;
    } else if (!c->is_given_up && is_busy(c)) {
        c->head_len = 0; /* never send what the parent holds */
        nm_hold_free(c->hold);
        c->hold = NULL;
        c->rs = RS_PASS;
        conn_give_up(c, "fork with an exchange in flight");
    }
    c->is_in_flusher = false;
    conn_unlock(c);
}

void nm_conn_before_fork(void)
{
    nm_fdtable_each_conn(flush_one, (void *)1);
    pthread_mutex_lock(&table_lock);
}

void nm_conn_after_fork_parent(void)
{
    pthread_mutex_unlock(&table_lock);
    nm_fdtable_each_conn(set_role, (void *)(intptr_t)TAKE_PARENT);
}

void nm_conn_after_fork_child(void)
{
    pthread_mutex_init(&table_lock, NULL);
    nm_fdtable_each_conn(settle_one, NULL);
}

struct range {
    unsigned first, last;
};

static void forget_in_range(int fd, uintptr_t v, void *arg)
{
    (void)v;
    const struct range *r = arg;
    if ((unsigned)fd >= r->first && (unsigned)fd <= r->last)
        nm_conn_forget_fd(fd);
}

void nm_conn_forget_range(unsigned first, unsigned last)
{
    struct range r = {first, last};
    nm_fdtable_each_conn(forget_in_range, &r);
}

void nm_conn_drain(int fd)
{
    struct nm_conn *c = nm_conn_acquire(fd);
    if (c == NULL)
        return;
    drain_before_close(c, fd, true);
    nm_conn_release(c);
    nm_report_flush(); /* shutdown usually precedes the end of a process */
}

/* Is the may_owe hint up for fd? Connections are never freed: the hint is
 * safe to read unlocked, and false costs the read no lock. */
static bool may_owe(int fd)
{
    uintptr_t v = nm_fdtable_get(fd);
    return NM_FD_IS_CONN(v) &&
           atomic_load_explicit(&((struct nm_conn *)v)->may_owe,
                                memory_order_relaxed);
}

void nm_conn_before_read(int fd, int flags)
{
    if (!may_owe(fd))
        return;
    struct nm_conn *c = nm_conn_acquire(fd);
    if (c == NULL)
        return;
    c->link.h.fd = fd;
    /* A held response stays held through a read that cannot wait: Apache
     * writes a streamed body, then looks for a pipelined request with a
     * non-blocking read (EAGAIN), then writes the last chunk. A read that
     * could block is the server waiting on its client, who must not be
     * left waiting on us meanwhile. Owed bytes go out either way. */
    if (is_holding(c) && c->link.tp->read_could_block(c->link.h, flags))
        release_overdue(c, 0);
    flush_owed(c, false);
    nm_conn_release(c);
}

void nm_conn_before_poll(int fd)
{
    /* The server waits for its client's next bytes (after a non-blocking
     * read found none): nothing may stay held meanwhile. */
    if (!may_owe(fd))
        return;
    struct nm_conn *c = nm_conn_acquire(fd);
    if (c == NULL)
        return;
    c->link.h.fd = fd;
    release_overdue(c, 0);
    flush_owed(c, false);
    nm_conn_release(c);
}

/* ---- exec of a process that writes a response onto the socket ---- */

/* glibc's fork without the atfork handlers (ours would take the lock we
 * hold) but with its own internal state reset. */
extern pid_t _Fork(void);

/* Feeds everything the exec'd program writes into the pipe through the
 * shim onto the socket, then finishes the response as a close would. */
static int relay(struct nm_conn *c, int sock, int in, pid_t child)
{
    char buf[16384];
    for (;;) {
        /* Unlocked while waiting: the flusher may release a hold past its
         * deadline meanwhile (a script that sleeps mid-body). */
        conn_unlock(c);
        ssize_t n = nm_real_read(in, buf, sizeof(buf));
        int err = errno;
        pthread_mutex_lock(&c->lock);
        errno = err;
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        size_t off = 0;
        while (off < (size_t)n) {
            struct iovec v = {buf + off, (size_t)n - off};
            ssize_t w = nm_conn_write(c, (nm_handle_t){.fd = sock}, NM_OP_WRITE,
                                      &v, 1, 0);
            if (w > 0)
                off += (size_t)w;
            else if (w < 0 && (errno == EAGAIN || errno == EINTR))
                c->link.tp->wait_writable(c->link.h, 1000);
            else
                break; /* the client is gone: drain the pipe anyway */
        }
    }
    drain_before_close(c, sock, true);
    int status = 0;
    while (waitpid(child, &status, 0) < 0 && errno == EINTR)
        ;
    return WIFEXITED(status)
               ? WEXITSTATUS(status)
               : 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

void nm_conn_before_exec(void)
{
    /* The program about to run will write its output on fd 1. When that
     * is a connection whose response is in progress (python's CGI handler
     * sent the status line, its child execs the script), the script's
     * bytes would bypass the shim: give the script a pipe instead and
     * relay it here. This process becomes the relay and exits with the
     * script's status, so the server waiting for it sees the response
     * complete before it closes the connection. */
    struct nm_conn *c = nm_conn_acquire(1);
    bool is_wanted = c != NULL && !c->is_given_up && c->q_len > 0 &&
                     (c->rs == RS_HEAD || c->rs == RS_IDLE);
    int p[2] = {-1, -1};
    if (is_wanted && pipe2(p, 0) == 0) {
        pid_t pid = _Fork();
        if (pid == 0) { /* the script: stdout is the pipe, nothing of ours */
            nm_real_dup2(p[1], 1);
            nm_real_close(p[0]);
            nm_real_close(p[1]);
            return; /* the caller goes on with the real exec */
        }
        if (pid > 0) {
            nm_real_close(p[1]);
            int code = relay(c, 1, p[0], pid);
            nm_conn_release(c);
            nm_report_flush();
            _exit(code);
        }
        nm_real_close(p[0]);
        nm_real_close(p[1]);
    }
    if (c != NULL)
        nm_conn_release(c);
    nm_conn_flush_all();
}
