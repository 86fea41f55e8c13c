/* accel.c - see accel.h. Every test the request fails sends it to the
 * server byte for byte; the order of the tests puts the cheap ones that
 * most requests fail (not conditional, no route with freshness) first. */
#include "accel.h"

#include "decide.h"
#include "exchange.h"
#include "kept.h"
#include "log.h"
#include "report.h"
#include "storeview.h"

#include "event.h"
#include "fresh.h"

#include <string.h>
#include <time.h>

/* A 304 is the stored head minus a few fields, plus Date and Age. */
#define ACCEL_304_EXTRA 160
/* A head spread over several buffers (readv) is looked at up to this. */
#define ACCEL_GATHER_MAX 4096

/* The request head whole at the start of buf, parsed as the server's
 * parser would parse it next (a copy: the connection's is untouched);
 * its length, or 0 when the bytes do not begin a whole head there. */
static size_t parse_head(const struct nm_conn *c, const char *buf, size_t n,
                         nm_req_t *req)
{
    nm_req_parser_t p = c->reqp;
    nm_req_event_t ev;
    /* A request without a body ends on the call after its head. */
    if (nm_http_req_feed(&p, req, "", 0, &ev) < 0)
        return 0;
    long len = nm_http_req_oneshot(&p, req, buf, n, &ev);
    return len > 0 && ev == NM_REQ_EV_HEAD_DONE ? (size_t)len : 0;
}

/* Could this request be answered at all: GET or HEAD, conditional, every
 * field it carries whole, plain HTTP/1.x after it? */
static bool is_candidate(const nm_req_t *r)
{
    uint32_t cut =
        NM_REQ_TRUNCATED_TARGET | NM_REQ_TRUNCATED_HOST | NM_REQ_TRUNCATED_COND;
    return (r->method == NM_METHOD_GET || r->method == NM_METHOD_HEAD) &&
           (r->flags & (NM_REQ_HAS_INM | NM_REQ_HAS_IMS)) &&
           !(r->flags & (cut | NM_REQ_UPGRADE));
}

/* The request's conditions against the kept 200's validators, as a
 * substitution would judge them (nm_decide_not_modified). */
static void cond_of(const nm_req_t *r, const struct nm_kept_head *k,
                    int64_t now, nm_cond_input_t *in)
{
    nm_decide_cond_request(r, in);
    in->status = 200;
    in->etag = (nm_slice_t){k->tag, k->tag_len};
    in->last_modified = k->last_modified;
    in->is_lm_exact = k->is_lm_exact;
    in->now = now;
}

/* Rule 4 of "Deciding on a read": the store's current tag for the URL is
 * the kept head's, byte for byte. A purge removes the entry (and with it
 * acceleration); another process's newer tag replaces it. */
static bool is_current(const nm_req_t *r, const struct nm_kept_head *k)
{
    nm_snapshot_hit_t hit;
    return nm_storeview_lookup(nm_exchange_url_key(r), &hit) &&
           (hit.flags & NM_SNAPSHOT_E_HAS_TAG) && hit.tag_len == k->tag_len &&
           memcmp(hit.tag, k->tag, k->tag_len) == 0;
}

/* The accelerated 304's event (docs/acceleration.md, "Answering"). */
static void report(const nm_req_t *r, const struct nm_kept_head *k,
                   size_t len_304)
{
    nm_event_t ev = {
        .method = (uint8_t)r->method,
        .outcome = NM_OUTCOME_ACCELERATED_304,
        .status = 304,
        .bytes_saved =
            k->body_len + (k->head_len > len_304 ? k->head_len - len_304 : 0),
        .validator = {k->tag, k->tag_len},
        .host = {r->host, r->host_len},
        .path = {r->target, r->target_len},
    };
    if (r->flags & NM_REQ_HAS_INM)
        ev.flags |= NM_EVENT_F_COND_INM;
    if (r->flags & NM_REQ_HAS_IMS)
        ev.flags |= NM_EVENT_F_COND_IMS;
    nm_report_send(&ev);
}

/* Sends the 304 of k at age_s (restamped from the one kept); false when
 * it cannot be made. */
static bool answer(struct nm_conn *c, const nm_req_t *r,
                   const struct nm_kept_head *k, int64_t age_s, int64_t now)
{
    char out[NM_KEPT_304_MAX + ACCEL_304_EXTRA];
    long n = nm_fresh_restamp_304(k->tmpl, k->tmpl_len, age_s, now, out,
                                  sizeof(out));
    if (n <= 0)
        return false;
    struct iovec v = {.iov_base = out, .iov_len = (size_t)n};
    nm_conn_send_own(c, &v, 1);
    report(r, k, (size_t)n);
    c->has_exchanged = true; /* its event is flushed when it closes */
    nm_log(NM_LOG_DEBUG, "fd %d: 304 accelerated (age %lld s)", nm_conn_fd(c),
           (long long)age_s);
    return true;
}

/* Rules 3 and 4 of "Deciding on a read" for the kept head k: the route's
 * freshness (0: none, or disabled) and whether k's tag is the URL's
 * current one, as the snapshot says; asked of each snapshot generation
 * once, and remembered with k. */
static int64_t route_fresh_s(const nm_req_t *r, const nm_fresh_req_t *rq,
                             const struct nm_kept_head *k, uint64_t gen,
                             bool *is_cur)
{
    if (gen != 0 && k->view_gen == gen) {
        *is_cur = k->is_view_current;
        return k->view_fresh_s;
    }
    int64_t fresh_s =
        nm_storeview_fresh_for(r->host, r->host_len, r->target, r->target_len);
    if (fresh_s != 0 && nm_storeview_is_disabled(r->host, r->host_len,
                                                 r->target, r->target_len))
        fresh_s = 0;
    *is_cur = fresh_s != 0 && is_current(r, k);
    if (gen != 0)
        nm_kept_set_view((nm_slice_t){r->host, r->host_len},
                         (nm_slice_t){r->target, r->target_len}, rq,
                         (nm_slice_t){k->tag, k->tag_len}, gen, fresh_s,
                         *is_cur);
    return fresh_s;
}

/* The decision over a parsed head of len bytes; true when answered. */
static bool decide_and_answer(struct nm_conn *c, const char *head, size_t len,
                              const nm_req_t *r)
{
    /* Read first: what is remembered under it was judged by it or a newer
     * copy, never an older one. */
    uint64_t gen = nm_storeview_generation();
    nm_fresh_req_t rq;
    struct nm_kept_head k;
    nm_slice_t host = {r->host, r->host_len};
    nm_slice_t target = {r->target, r->target_len};
    if (nm_fresh_req_parse(head, len, &rq) != 0 ||
        !nm_kept_get(host, target, &rq, &k))
        return false; /* nothing kept: not a fresh route, or not yet */
    bool is_cur;
    int64_t fresh_s = route_fresh_s(r, &rq, &k, gen, &is_cur);
    if (fresh_s == 0 || !is_cur) {
        nm_log(NM_LOG_DEBUG, "fd %d: to the server: %s", nm_conn_fd(c),
               fresh_s == 0 ? "off" : "not the store's current tag");
        return false;
    }
    nm_cond_input_t cond;
    int64_t now = time(NULL), age_s = 0;
    cond_of(r, &k, now, &cond);
    nm_fresh_verdict_t v =
        nm_fresh_decide(&k.st, &rq, &cond, fresh_s, now, &age_s);
    if (v != NM_FRESH_ACCELERATE) {
        nm_log(NM_LOG_DEBUG, "fd %d: to the server: %s", nm_conn_fd(c),
               nm_fresh_verdict_name(v));
        return false;
    }
    return answer(c, r, &k, age_s, now);
}

/* The first bytes of iov (n in all) in one piece: iov[0] itself, or
 * gathered into tmp (cap bytes) when a head may span several. */
static const char *first_bytes(const struct iovec *iov, int cnt, size_t *n,
                               char *tmp, size_t cap)
{
    if (cnt == 1 || iov[0].iov_len >= *n) {
        if (iov[0].iov_len < *n)
            *n = iov[0].iov_len;
        return iov[0].iov_base;
    }
    size_t got = 0;
    for (int i = 0; i < cnt && got < *n && got < cap; i++) {
        size_t k = iov[i].iov_len;
        if (k > *n - got)
            k = *n - got;
        if (k > cap - got)
            k = cap - got;
        memcpy(tmp + got, iov[i].iov_base, k);
        got += k;
    }
    *n = got;
    return tmp;
}

size_t nm_accel_take(struct nm_conn *c, const struct iovec *iov, int cnt,
                     size_t n)
{
    /* Pipelining order: every request the server read is answered, and
     * nothing of a response is held. Owed bytes are fine: the 304 goes
     * behind them. */
    if (c->is_given_up || c->phase != NM_PHASE_IDLE || c->q_len != 0 ||
        c->head_len != 0 || c->hold != NULL || !nm_storeview_may_be_fresh())
        return 0;
    char tmp[ACCEL_GATHER_MAX];
    const char *buf = first_bytes(iov, cnt, &n, tmp, sizeof(tmp));
    nm_req_t req;
    size_t len = parse_head(c, buf, n, &req);
    if (len == 0 || !is_candidate(&req))
        return 0;
    nm_exchange_canon_origin(&req);
    return decide_and_answer(c, buf, len, &req) ? len : 0;
}
