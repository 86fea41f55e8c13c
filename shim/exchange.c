/* exchange.c - see exchange.h. */
#include "exchange.h"

#include "kept.h"
#include "report.h"
#include "storeview.h"

#include "event.h"
#include "origin.h"

#include <string.h>
#include <time.h>

/* Requests read but not yet answered; beyond this the client is pipelining
 * more than any real client does, and we stop following. */
#define PENDING_MAX 64

static void queue_request(struct nm_conn *c)
{
    struct nm_pending *p = c->req_cur;
    c->req_cur = NULL;
    p->next = NULL;
    if (c->q_tail != NULL)
        c->q_tail->next = p;
    else
        c->q_head = p;
    c->q_tail = p;
    c->q_len++;
}

static void pop_request(struct nm_conn *c)
{
    struct nm_pending *p = c->q_head;
    if (p == NULL)
        return;
    c->q_head = p->next;
    if (c->q_head == NULL)
        c->q_tail = NULL;
    c->q_len--;
    nm_conn_free_request(p);
}

/* One identity per origin (origin.h) for store keys, counters and routes:
 * the request's Host and target as the store knows them. A target that is
 * neither origin- nor absolute-form keeps its spelling, which no store key
 * and no route has. */
bool nm_exchange_canon_origin(nm_req_t *r)
{
    if (r->flags & (NM_REQ_TRUNCATED_HOST | NM_REQ_TRUNCATED_TARGET))
        return false;
    size_t host_len = r->host_len, target_len = r->target_len;
    if (nm_origin_canon(r->host, &host_len, sizeof(r->host), r->target,
                        &target_len, 80) != NM_OK)
        return false;
    r->host_len = (uint16_t)host_len;
    r->target_len = (uint16_t)target_len;
    return true;
}

uint64_t nm_exchange_url_key(const nm_req_t *r)
{
    if (r->flags & (NM_REQ_TRUNCATED_HOST | NM_REQ_TRUNCATED_TARGET))
        return 0;
    return nm_snapshot_url_key((nm_slice_t){r->host, r->host_len},
                               (nm_slice_t){r->target, r->target_len});
}

/* The request's canonical origin and its store key: a host made
 * canonical is in lower case already, and is not folded again for the key
 * (nm_snapshot_url_key_lower: the same key, about 20 instructions less). */
static uint64_t canon_and_key(nm_req_t *r)
{
    return nm_exchange_canon_origin(r)
               ? nm_snapshot_url_key_lower(
                     (nm_slice_t){r->host, r->host_len},
                     (nm_slice_t){r->target, r->target_len})
               : nm_exchange_url_key(r);
}

/* A request on a route with freshness (docs/acceleration.md) carries the
 * facts its 200 would be kept with, and the time it was read. Its head
 * must have come whole in one read (head NULL: it did not); else its 200
 * is not kept, which only costs a later acceleration. */
static void note_fresh(struct nm_pending *p, const char *head, size_t len)
{
    const nm_req_t *r = &p->req;
    p->kept.is_fresh = false;
    if (head == NULL || !nm_storeview_may_be_fresh() ||
        (r->method != NM_METHOD_GET && r->method != NM_METHOD_HEAD) ||
        nm_storeview_fresh_for(r->host, r->host_len, r->target,
                               r->target_len) == 0)
        return;
    nm_kept_note_request(&p->kept, head, len);
}

static void feed_requests(struct nm_conn *c, const char *p, size_t len)
{
    while (len > 0 && !c->is_given_up) {
        if (c->req_cur == NULL) {
            c->req_cur = nm_conn_new_request();
            if (c->req_cur == NULL) {
                nm_conn_give_up(c, "out of memory");
                return;
            }
        }
        nm_req_event_t ev;
        long r = nm_http_req_feed(&c->reqp, &c->req_cur->req, p, len, &ev);
        /* The head ended in these bytes and began in them too? */
        bool is_whole = r > 0 && (size_t)r == c->reqp.lex.head_len;
        if (r < 0) {
            nm_conn_give_up(c, "request is not plain HTTP/1.x");
            return;
        }
        const char *head = is_whole ? p : NULL;
        p += r;
        len -= (size_t)r;
        if (ev == NM_REQ_EV_HEAD_DONE) {
            const nm_req_t *r = &c->req_cur->req;
            /* After these the bytes are no longer HTTP/1.x messages. */
            if (r->method == NM_METHOD_CONNECT || (r->flags & NM_REQ_UPGRADE)) {
                nm_conn_give_up(c, "CONNECT or Upgrade");
                return;
            }
            c->req_cur->url_key = canon_and_key(&c->req_cur->req);
            note_fresh(c->req_cur, head, c->reqp.lex.head_len);
            queue_request(c);
            if (c->q_len > PENDING_MAX)
                nm_conn_give_up(c, "too many pipelined requests");
            /* A request without a body ends with its head: take the end
             * now, not in a second feed (about 50 instructions). */
            (void)nm_http_req_take_done(&c->reqp);
        }
    }
}

void nm_exchange_on_read(struct nm_conn *c, const struct iovec *iov, int iovcnt,
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
    if (is_answered_body && nm_conn_is_holding(c))
        nm_conn_release_overdue(c, 0);
}

void nm_exchange_start(struct nm_conn *c)
{
    if (c->q_head == NULL) {
        nm_conn_give_up(c, "response without a request");
        return;
    }
    const nm_req_t *r = &c->q_head->req;
    nm_http_resp_expect_head(&c->respp, r->method == NM_METHOD_HEAD);
    if (!nm_conn_has_resp(c)) {
        nm_conn_give_up(c, "out of memory");
        return;
    }
    c->note.outcome = NM_OUTCOME_PASSED;
    c->note.reason = NM_REASON_NONE;
    c->is_synth = false;
    c->saved_bytes = c->body_bytes = 0;
    c->vtag[0] = '\0';
    c->vtag_len = 0;
    /* Every GET/HEAD head is looked at: it may need a 304 or a tag. */
    bool is_get_head =
        r->method == NM_METHOD_GET || r->method == NM_METHOD_HEAD;
    if (!is_get_head) {
        c->note.outcome = NM_OUTCOME_NOT_HANDLED;
        c->note.reason = NM_REASON_METHOD;
    }
    c->phase = is_get_head && !(r->flags & NM_REQ_TRUNCATED_COND)
                   ? NM_PHASE_HEAD
                   : NM_PHASE_PASS;
}

/* Tells notmodd what became of one response (its "Figures"). */
static void report(const struct nm_conn *c, const struct nm_pending *p,
                   const nm_resp_t *resp)
{
    const nm_req_t *r = &p->req;
    const struct nm_kept_req *kr = &p->kept;
    nm_event_t ev = {
        .method = (uint8_t)r->method,
        .outcome = c->note.outcome,
        .status = (uint16_t)resp->status,
        .reason = c->note.reason,
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
    if (kr->is_fresh) { /* the estimate of server time avoided */
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        uint64_t us = (uint64_t)ts.tv_sec * 1000000 +
                      (uint64_t)ts.tv_nsec / 1000 - kr->read_us;
        ev.flags |= NM_EVENT_F_TIMED;
        ev.server_us = us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
    }
    if (c->link.tp->is_inside_tls)
        ev.flags |=
            NM_EVENT_F_TLS | (c->has_exchanged ? 0 : NM_EVENT_F_TLS_FIRST);
    if (c->is_synth)
        ev.validator = (nm_slice_t){c->vtag, c->vtag_len};
    else if (resp->flags & NM_RESP_HAS_ETAG)
        ev.validator = (nm_slice_t){resp->etag, resp->etag_len};
    /* A "missed revalidation": a revalidation answered with a full 200
     * whose body is the one the URL already had, i.e. whose validator is
     * the store's current tag for it. */
    nm_snapshot_hit_t hit;
    if (is_cond && resp->status == 200 && ev.validator.len > 0 &&
        (c->note.outcome == NM_OUTCOME_PASSED ||
         c->note.outcome == NM_OUTCOME_TAG_ADDED) &&
        nm_storeview_lookup(p->url_key, &hit) &&
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

/* Is this method one a response to may change the resource (RFC 9111
 * §4.4: a cache invalidates on an unsafe method's non-error response)? */
static bool is_unsafe(nm_method_t m)
{
    return m != NM_METHOD_GET && m != NM_METHOD_HEAD &&
           m != NM_METHOD_OPTIONS && m != NM_METHOD_TRACE;
}

/* The response ended whole: its head is kept for acceleration when it was
 * offered (a 200 on a route with freshness); any other answer ends what
 * is kept of the URL (not a 200, an unsafe method that succeeded, a 200
 * that could not be kept), except a 304, which confirms a validator (and
 * renews the head it validated, when it was offered). */
static void keep_or_forget(struct nm_conn *c, const struct nm_pending *p)
{
    const nm_req_t *r = &p->req;
    int status = c->resp->status;
    if (c->kept_cand != NULL && (status == 200 || status == 304)) {
        nm_kept_commit(c->kept_cand, time(NULL));
        c->kept_cand = NULL;
        return;
    }
    nm_kept_cand_free(c->kept_cand);
    c->kept_cand = NULL;
    bool is_safe_answer = !is_unsafe(r->method) || status >= 400;
    if (!is_safe_answer || (status != 304 && !is_unsafe(r->method)))
        nm_kept_forget(r, p->url_key);
}

void nm_exchange_end(struct nm_conn *c)
{
    if (c->resp != NULL && c->resp->status >= 200 && c->q_head != NULL) {
        report(c, c->q_head, c->resp);
        keep_or_forget(c, c->q_head);
        pop_request(c);
        c->has_exchanged = true;
        if (c->q_head == NULL)
            nm_conn_idle(c);
    }
    c->phase = NM_PHASE_IDLE;
}
