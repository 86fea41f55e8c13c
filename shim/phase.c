/* phase.c - see phase.h.
 *
 * One server call is a walk over its bytes (a cursor in its iovecs) from
 * phase to phase: each phase parses what belongs to it and says what comes
 * next (enum step). Bytes the shim must send in front of the server's own
 * (a head it held) travel with the walk as a prefix and leave with the
 * next pass-through call; bytes the shim sends itself that the socket
 * cannot take now are owed (conn.h) and go out before any later byte. */
#include "phase.h"

#include "answer.h"
#include "clock.h"
#include "config.h"
#include "decide.h"
#include "exchange.h"
#include "filehash.h"
#include "headcache.h"
#include "hold.h"
#include "log.h"
#include "storeview.h"

#include "bodyhash.h"
#include "httpdate.h"

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* iovecs assembled for one pass-through call. */
#define PHASE_IOV_MAX 64

/* Work on one server write: the state every phase needs. */
struct wctx {
    struct nm_conn *c;
    enum nm_write_op op;
    int flags;
    struct nm_cursor k;
    size_t done; /* server bytes accounted for */
    /* bytes already parsed that must go out in front of the next pass
     * phase: the held copy (c->head) and/or a span of this call's input */
    size_t prefix_held; /* from c->head */
    struct nm_cursor prefix_at;
    size_t prefix_input; /* from the input, starting at prefix_at */
};

/* What a phase tells nm_phase_write to do next. */
enum step {
    STEP_NEXT,    /* go on: the next phase takes what is left */
    STEP_RETURN,  /* return w->done: all taken (maybe held), or the real
                     call took less than offered */
    STEP_FAILED,  /* return -1, errno set */
    STEP_GIVE_UP, /* these bytes cannot be followed: give up, pass them */
};

/* Nothing more of this call can go now: the server learns what was taken,
 * or with nothing taken, fails with err (0: errno as it is). */
static enum step stop(struct wctx *w, int err)
{
    if (w->done > 0)
        return STEP_RETURN;
    if (err != 0)
        errno = err;
    return STEP_FAILED;
}

/* Where the parse stood before a phase fed it: the cursor, the parser and,
 * while it is in a head (the only time feeding changes it), the response
 * capture. A body skips that copy. */
struct mark {
    struct nm_cursor k;
    nm_resp_parser_t parser;
    bool has_resp;
    nm_resp_t resp;
};

static void mark(const struct wctx *w, struct mark *m)
{
    m->k = w->k;
    m->parser = w->c->respp;
    m->has_resp = nm_http_resp_skippable(&w->c->respp) == 0;
    if (m->has_resp)
        m->resp = *w->c->resp;
}

/* Back to the mark: the bytes fed since were not taken by the server's
 * call after all. */
static void rollback(struct wctx *w, const struct mark *m)
{
    w->k = m->k;
    w->c->respp = m->parser;
    if (m->has_resp)
        *w->c->resp = m->resp;
}

/* Calls the real function the server used, on the server's own bytes. */
static ssize_t emit(struct nm_conn *c, enum nm_write_op op,
                    const struct iovec *iov, int cnt, int flags)
{
    return c->link.tp->pass(c->link.h, op, iov, cnt, flags);
}

/* The prefix (see struct wctx) into v, from entry 0; returns the count. */
static int prefix_iov(const struct wctx *w, struct iovec *v, int cap)
{
    int n = 0;
    if (w->prefix_held > 0) {
        v[n].iov_base = w->c->head;
        v[n++].iov_len = w->prefix_held;
    }
    size_t got;
    return n +
           nm_cursor_slice(w->prefix_at, w->prefix_input, v + n, cap - n, &got);
}

/* Gives up mid-write: whatever is held goes out first, then the rest of the
 * server's bytes unchanged. Returns the server's result for the call. */
static ssize_t give_up_and_pass(struct wctx *w, const char *why)
{
    struct nm_conn *c = w->c;
    struct iovec v[PHASE_IOV_MAX];
    int n = prefix_iov(w, v, PHASE_IOV_MAX);
    if (n > 0)
        nm_conn_send_own(c, v, n);
    if (w->prefix_held > 0)
        c->head_len = 0; /* sent just now */
    w->prefix_held = w->prefix_input = 0;
    nm_conn_give_up(c, why);
    if (!nm_conn_flush_owed(c, true)) {
        if (w->done > 0)
            return (ssize_t)w->done;
        errno = EAGAIN;
        return -1;
    }
    struct iovec rest[PHASE_IOV_MAX];
    size_t got;
    int cnt = nm_cursor_slice(w->k, SIZE_MAX, rest, PHASE_IOV_MAX, &got);
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
    while ((len = nm_cursor_piece(&w->k, &p)) > 0) {
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
    if (nm_exchange_is_done(w->c))
        *ev = NM_RESP_EV_MSG_DONE;
    return total;
}

/* Re-feeds n bytes from k after a rollback (a partial real write). */
static void refeed(struct nm_conn *c, struct nm_cursor k, size_t n)
{
    const char *p;
    size_t len;
    while (n > 0 && (len = nm_cursor_piece(&k, &p)) > 0) {
        nm_resp_event_t e;
        long r =
            nm_http_resp_feed(&c->respp, c->resp, p, len < n ? len : n, &e);
        if (r <= 0)
            break;
        k.off += (size_t)r;
        n -= (size_t)r;
    }
}

/* Part of the prefix did not go (sent of it did): the rest is owed, since
 * it is the shim's to deliver. */
static void owe_prefix_rest(struct wctx *w, size_t sent)
{
    struct nm_conn *c = w->c;
    size_t held_left = w->prefix_held > sent ? w->prefix_held - sent : 0;
    if (held_left)
        nm_conn_owe(c, c->head + (w->prefix_held - held_left), held_left);
    struct iovec pv[PHASE_IOV_MAX];
    size_t skip = sent > w->prefix_held ? sent - w->prefix_held : 0;
    size_t pg;
    int pn =
        nm_cursor_slice(w->prefix_at, w->prefix_input, pv, PHASE_IOV_MAX, &pg);
    for (int i = 0; i < pn; i++) {
        size_t s = skip < pv[i].iov_len ? skip : pv[i].iov_len;
        nm_conn_owe(c, (char *)pv[i].iov_base + s, pv[i].iov_len - s);
        skip -= s;
    }
    w->prefix_held = w->prefix_input = 0;
    c->head_len = 0;
}

/* NM_PHASE_PASS: the server's bytes up to the end of this response go out
 * in one real call, behind any prefix. */
static enum step phase_pass(struct wctx *w)
{
    struct nm_conn *c = w->c;
    if (!nm_conn_flush_owed(c, true))
        return stop(w, EAGAIN);
    struct mark at;
    mark(w, &at);
    nm_resp_event_t ev;
    long m = feed_until_event(w, &ev, NM_RESP_EV_MSG_DONE);
    if (m < 0) {
        rollback(w, &at);
        return STEP_GIVE_UP;
    }
    struct iovec v[PHASE_IOV_MAX];
    int n = prefix_iov(w, v, PHASE_IOV_MAX);
    size_t got;
    n += nm_cursor_slice(at.k, (size_t)m, v + n, PHASE_IOV_MAX - n, &got);
    size_t prefix = w->prefix_held + w->prefix_input;
    if (n == 0) { /* a message with nothing left to send */
        if (ev == NM_RESP_EV_MSG_DONE)
            nm_exchange_end(c);
        return STEP_NEXT;
    }
    ssize_t r = emit(c, w->op, v, n, w->flags);
    if (r < 0 && prefix > 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        r = 0; /* the prefix is ours to deliver: owe it below */
    if (r < 0) {
        rollback(w, &at);
        return stop(w, 0);
    }
    size_t sent = (size_t)r;
    if (sent < prefix) {
        /* Part of our prefix is unsent: owe it; the server's bytes after it
         * were not taken, so roll the parser back to the prefix's end. */
        owe_prefix_rest(w, sent);
        rollback(w, &at);
        return stop(w, EAGAIN);
    }
    c->head_len = 0;
    w->prefix_held = w->prefix_input = 0;
    size_t body_sent = sent - prefix;
    /* Short (partial write, or more iovecs than one call takes): the
     * server will retry the rest; parse only what really left. */
    if (body_sent < (size_t)m) {
        rollback(w, &at);
        refeed(c, at.k, body_sent);
        w->done += body_sent;
        return STEP_RETURN;
    }
    w->done += (size_t)m;
    if (ev == NM_RESP_EV_MSG_DONE)
        nm_exchange_end(c);
    return STEP_NEXT;
}

/* NM_PHASE_HOLD: keeps the server's bytes and hashes the body they carry. */
static enum step phase_hold(struct wctx *w)
{
    struct nm_conn *c = w->c;
    struct nm_cursor start = w->k;
    const char *p;
    size_t len;
    long m = 0;
    bool is_done = false;
    while (!is_done && (len = nm_cursor_piece(&w->k, &p)) > 0) {
        nm_resp_event_t e;
        long r = nm_http_resp_feed(&c->respp, c->resp, p, len, &e);
        if (r < 0) {
            w->k = start;
            nm_conn_release_unchanged(c);
            return STEP_GIVE_UP;
        }
        if (e == NM_RESP_EV_BODY) {
            nm_hold_hash(c->hold, c->respp.body_ptr, c->respp.body_len);
            c->body_bytes += c->respp.body_len;
        }
        if (!nm_hold_append(c->hold, p, (size_t)r)) {
            /* Over a limit: what is held goes out unchanged, these bytes
             * right behind it, and the rest of the response passes. */
            nm_conn_release_unchanged(c);
            m += r;
            /* All m bytes were parsed: all of them go, in order, however
             * many iovecs they span. */
            struct nm_cursor k = start;
            size_t left = (size_t)m;
            while (left > 0) {
                struct iovec v[PHASE_IOV_MAX];
                size_t got;
                int n = nm_cursor_slice(k, left, v, PHASE_IOV_MAX, &got);
                if (n == 0)
                    break;
                nm_conn_send_own(c, v, n);
                nm_cursor_advance(&k, got);
                left -= got;
            }
            w->k = k;
            w->done += (size_t)m;
            c->phase = NM_PHASE_PASS;
            if (e == NM_RESP_EV_MSG_DONE)
                nm_exchange_end(c);
            return STEP_NEXT;
        }
        w->k.off += (size_t)r;
        m += r;
        is_done = e == NM_RESP_EV_MSG_DONE;
    }
    if (!is_done)
        is_done = nm_exchange_is_done(c);
    w->done += (size_t)m;
    if (!is_done)
        return STEP_RETURN; /* all of it held */
    char tag[NM_BODYHASH_TAG_LEN + 1];
    nm_hold_tag(c->hold, tag);
    if (c->q_head->req.method == NM_METHOD_GET)
        nm_headcache_put_held(c->q_head->url_key, c->resp, c->head, c->head_len,
                              tag, c->body_bytes);
    nm_answer_held(c, tag);
    nm_exchange_end(c);
    return STEP_NEXT;
}

/* A complete 200 head that can take notmod's tag: with a tag known
 * already, answer now (304, or the head with the tag); else hold the body
 * to hash it, when the decision allows. head is either this call's input
 * (is_contiguous: m bytes at start) or c->head. True when it took charge of
 * the head. */
static bool take_ours(struct wctx *w, nm_decide_in_t *in, const char *head,
                      size_t head_len, bool is_contiguous,
                      struct nm_cursor start, size_t m)
{
    struct nm_conn *c = w->c;
    nm_snapshot_hit_t hit;
    bool has_hit = nm_storeview_lookup(c->q_head->url_key, &hit);
    char known[NM_SNAPSHOT_TAG_MAX + 1];
    if (nm_answer_known_tag(c, has_hit ? &hit : NULL, known)) {
        bool is_304 = nm_answer_with_tag(c, head, head_len, known,
                                         has_hit ? &hit : NULL, in->now);
        c->head_len = 0;
        /* The body (a GET's) is swallowed after a 304, else passes. */
        c->phase = is_304 || (in->resp->flags & NM_RESP_NO_BODY)
                       ? NM_PHASE_SWALLOW
                       : NM_PHASE_PASS;
        return true;
    }
    nm_verdict_t v = nm_decide_untagged(in, &c->note);
    if (v != NM_VERDICT_HOLD)
        return false;
    if (is_contiguous && !nm_conn_keep_head(c, start, m))
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
    if (!nm_conn_watch(c)) { /* no deadline keeper: do not hold */
        nm_hold_free(c->hold);
        c->hold = NULL;
        if (is_contiguous)
            c->head_len = 0;
        return false;
    }
    c->phase = NM_PHASE_HOLD;
    return true;
}

/* The decision's facts about c's complete head, besides the messages. */
static void gather(const struct nm_conn *c, nm_decide_in_t *in)
{
    const nm_req_t *req = in->req;
    in->is_disabled = c->resp->status == 200 &&
                      nm_storeview_is_disabled(req->host, req->host_len,
                                               req->target, req->target_len);
    enum nm_hold_admit admit = nm_hold_admits(c->resp);
    in->is_too_large = admit == NM_HOLD_TOO_LARGE;
    in->can_hold = admit == NM_HOLD_ADMITTED;
}

/* A 200 leaving with the server's own ETag (or replaced by a 304 built
 * from it), or the server's own 304: a head acceleration may keep, or
 * renew (a no-op off routes with freshness). */
static void offer_servers(struct nm_conn *c, const char *head, size_t head_len,
                          int64_t now)
{
    const nm_resp_t *r = c->resp;
    if (!c->q_head->kept.is_fresh || (r->status != 200 && r->status != 304) ||
        (r->flags & NM_RESP_TRUNCATED_VALIDATOR) ||
        !(r->flags & NM_RESP_HAS_ETAG))
        return;
    if (r->status == 304) { /* it renews the head it validated */
        nm_conn_offer_304(c, head, head_len,
                          (nm_slice_t){r->etag, r->etag_len});
        return;
    }
    int64_t lm = -1;
    if ((r->flags & NM_RESP_HAS_LAST_MODIFIED) &&
        nm_httpdate_parse(r->last_modified, r->last_modified_len, now, &lm) !=
            0)
        lm = -1;
    nm_conn_offer_head(c, head, head_len, NULL, 0,
                       (nm_slice_t){r->etag, r->etag_len}, lm, false);
}

/* An interim head (100 Continue to a request with Expect, 103 Early
 * Hints): it goes out now, in order, and the final head of the same
 * response is still to come, so the phase stays NM_PHASE_HEAD. Sent as
 * the shim's own bytes (owed if the socket cannot take them), since the
 * final head may be held behind it. */
static enum step pass_interim(struct wctx *w, const char *head, size_t head_len)
{
    struct iovec v = {(void *)head, head_len};
    nm_conn_send_own(w->c, &v, 1);
    w->c->head_len = 0;
    return STEP_NEXT;
}

/* NM_PHASE_HEAD: gathers the head; when complete, decides and answers. */
static enum step phase_head(struct wctx *w)
{
    struct nm_conn *c = w->c;
    struct nm_cursor start = w->k;
    nm_resp_event_t ev;
    long m = feed_until_event(w, &ev, NM_RESP_EV_HEAD_DONE);
    if (m >= 0 && ev != NM_RESP_EV_HEAD_DONE) { /* incomplete: hold it */
        if (c->head_len == 0) {
            c->head_started_ms = nm_now_ms();
            if (!nm_conn_watch(c)) /* nobody would keep the deadline */
                m = -1;
        }
        if (m >= 0 && nm_conn_keep_head(c, start, (size_t)m)) {
            w->done += (size_t)m;
            return STEP_RETURN; /* all of it held */
        }
        m = -1;
    }
    const char *p = NULL;
    struct nm_cursor s2 = start;
    bool is_contiguous =
        m >= 0 && c->head_len == 0 && nm_cursor_piece(&s2, &p) >= (size_t)m;
    if (m >= 0 && !is_contiguous && !nm_conn_keep_head(c, start, (size_t)m))
        m = -1;
    if (m < 0) { /* the held part goes out, then the rest unchanged */
        w->k = start;
        w->prefix_held = c->head_len;
        return STEP_GIVE_UP;
    }
    w->done += (size_t)m;
    const char *head = is_contiguous ? p : c->head;
    size_t head_len = is_contiguous ? (size_t)m : c->head_len;
    if (c->resp->status < 200)
        return pass_interim(w, head, head_len);
    nm_decide_in_t in = {
        .req = &c->q_head->req, .resp = c->resp, .now = time(NULL)};
    gather(c, &in);
    nm_verdict_t v = nm_decide_head(&in, &c->note);
    if (v != NM_VERDICT_OURS)
        offer_servers(c, head, head_len, in.now);
    if (v == NM_VERDICT_NOT_MODIFIED) {
        if (nm_answer_304(c, head, head_len, NULL, in.now)) {
            c->head_len = 0;
            c->phase = NM_PHASE_SWALLOW;
            return STEP_NEXT;
        }
        v = nm_decide_is_ours(&in) ? NM_VERDICT_OURS : NM_VERDICT_PASS;
    }
    if (v == NM_VERDICT_OURS &&
        take_ours(w, &in, head, head_len, is_contiguous, start, (size_t)m))
        return STEP_NEXT;
    if (c->resp->status == 304 &&
        nm_answer_server_304(c, head, head_len, in.now)) {
        c->head_len = 0;
        c->phase = NM_PHASE_SWALLOW; /* a 304 has no body to swallow */
        return STEP_NEXT;
    }
    /* Pass: the head goes out in front of what follows it. */
    if (is_contiguous) {
        w->prefix_at = start;
        w->prefix_input = (size_t)m;
    } else {
        w->prefix_held = c->head_len;
    }
    c->phase = NM_PHASE_PASS;
    return STEP_NEXT;
}

/* NM_PHASE_SWALLOW: the 304 went out; the 200's remaining bytes are
 * dropped. */
static enum step phase_swallow(struct wctx *w)
{
    nm_resp_event_t ev;
    long m = feed_until_event(w, &ev, NM_RESP_EV_MSG_DONE);
    if (m < 0) {
        /* The 304 left already, and the server's bytes after it cannot be
         * framed: nothing more can be sent without corrupting the stream.
         * End it cleanly for the client and drop the rest. */
        nm_log(NM_LOG_WARN, "fd %d: unframeable bytes after a 304",
               nm_conn_fd(w->c));
        w->c->link.tp->shut_output(w->c->link.h);
        w->c->phase = NM_PHASE_SINK;
        return STEP_NEXT;
    }
    w->done += (size_t)m;
    if (ev == NM_RESP_EV_MSG_DONE)
        nm_exchange_end(w->c);
    return STEP_NEXT;
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

ssize_t nm_phase_write(struct nm_conn *c, nm_handle_t h, enum nm_write_op op,
                       const struct iovec *iov, int iovcnt, int flags)
{
    struct wctx w = {.c = c, .op = op, .flags = flags};
    w.k.iov = iov;
    w.k.cnt = iovcnt;
    c->link.h = h;
    nm_conn_claim_for_write(c);
    if (!nm_conn_flush_owed(c, true)) {
        errno = EAGAIN;
        return -1;
    }
    if (c->is_given_up)
        return emit(c, op, iov, iovcnt, flags);
    for (;;) {
        const char *p;
        struct nm_cursor peek = w.k;
        bool has_input = nm_cursor_piece(&peek, &p) > 0;
        bool has_prefix = w.prefix_held + w.prefix_input > 0;
        /* Out of bytes: done, except that a body held for its tag may be
         * whole already (Content-Length: 0; nginx writes an empty file's
         * head and nothing more): phase_hold answers it now, not at the
         * hold's deadline, or returns. */
        if (!has_input && !has_prefix && c->phase != NM_PHASE_HOLD)
            return (ssize_t)w.done;
        enum step s;
        switch (c->phase) {
        case NM_PHASE_IDLE:
            nm_exchange_start(c);
            s = c->is_given_up ? STEP_GIVE_UP : STEP_NEXT;
            break;
        case NM_PHASE_HEAD:
            s = phase_head(&w);
            break;
        case NM_PHASE_PASS:
            s = phase_pass(&w);
            break;
        case NM_PHASE_SWALLOW:
            s = phase_swallow(&w);
            break;
        case NM_PHASE_HOLD:
            s = phase_hold(&w);
            break;
        default: /* NM_PHASE_SINK */
            return (ssize_t)iov_total(iov, iovcnt);
        }
        switch (s) {
        case STEP_NEXT:
            continue;
        case STEP_RETURN:
            return (ssize_t)w.done;
        case STEP_FAILED:
            return -1;
        default: /* STEP_GIVE_UP */
            return give_up_and_pass(&w, "response framing not followed");
        }
    }
}

/* ---- sendfile: bodies the shim never sees, followed by count ---- */

/* Before a call that feeds nothing: end a message already complete. */
static void settle_done(struct nm_conn *c)
{
    if (!c->is_given_up &&
        (c->phase == NM_PHASE_PASS || c->phase == NM_PHASE_SWALLOW) &&
        nm_exchange_is_done(c))
        nm_exchange_end(c);
}

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
    uint64_t sk = c->phase == NM_PHASE_SWALLOW
                      ? nm_http_resp_skippable(&c->respp)
                      : UINT64_MAX;
    if (sk == 0) { /* chunk framing inside a file: cannot follow */
        c->link.tp->shut_output(c->link.h);
        c->phase = NM_PHASE_SINK;
        sk = UINT64_MAX;
    }
    /* The server sized the body from the file it sends: what the real call
     * would read is count, capped by the body. No fstat here: on the
     * server's every call, the shim makes no syscall the server did not
     * make. */
    size_t n = sk < count ? (size_t)sk : count;
    if (offset)
        *offset = pos + (off_t)n;
    else if (lseek(in_fd, pos + (off_t)n, SEEK_SET) < 0)
        return -1;
    if (c->phase == NM_PHASE_SWALLOW) {
        nm_resp_event_t ev;
        nm_http_resp_skip(&c->respp, n, &ev);
        if (ev == NM_RESP_EV_MSG_DONE)
            nm_exchange_end(c);
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
    if (is_whole_body && pos >= 0 && nm_hold_fits(body) &&
        nm_filehash_tag(in_fd, pos, body, nm_cfg.seed, tag, &id)) {
        if (c->q_head->req.method == NM_METHOD_GET && pos == 0)
            nm_headcache_put_file(c->q_head->url_key, c->resp, c->head,
                                  c->head_len, tag, in_fd, &id);
        c->phase = nm_answer_held(c, tag) ? NM_PHASE_SWALLOW : NM_PHASE_PASS;
        return true;
    }
    if (sendfile_fails(out_fd, in_fd, offset, real))
        return false;
    nm_conn_release_unchanged(c);
    c->phase = NM_PHASE_PASS;
    return true;
}

ssize_t nm_phase_sendfile(struct nm_conn *c, int out_fd, int in_fd,
                          off_t *offset, size_t count,
                          ssize_t (*real)(int, int, off_t *, size_t))
{
    c->link.h.fd = out_fd;
    nm_conn_claim_for_write(c);
    if (!nm_conn_flush_owed(c, true)) {
        errno = EAGAIN;
        return -1;
    }
    settle_done(c);
    if (!c->is_given_up && c->phase == NM_PHASE_HOLD) {
        if (!hold_from_file(c, out_fd, in_fd, offset, real))
            return -1;
        /* The head (and our tag) must be out before any body byte. */
        if (!nm_conn_flush_owed(c, true)) {
            errno = EAGAIN;
            return -1;
        }
    }
    if (!c->is_given_up &&
        (c->phase == NM_PHASE_SWALLOW || c->phase == NM_PHASE_SINK))
        return swallow_sendfile(c, in_fd, offset, count);
    uint64_t sk = 0;
    if (!c->is_given_up && c->phase == NM_PHASE_PASS)
        sk = nm_http_resp_skippable(&c->respp);
    if (sk == 0 && !c->is_given_up && c->phase == NM_PHASE_IDLE) {
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
            nm_conn_send_own(c, &v, 1);
            c->head_len = 0;
        }
        if (!c->is_given_up)
            nm_conn_give_up(c, "sendfile outside a body");
        if (!nm_conn_flush_owed(c, true)) {
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
            nm_exchange_end(c);
    }
    return r;
}

/* ---- the end of the output ---- */

void nm_phase_drain(struct nm_conn *c, nm_handle_t h, bool is_eof)
{
    c->link.h = h;
    /* A close-delimited body ends here: its tag can still be used. */
    if (is_eof && !c->is_given_up && c->phase == NM_PHASE_HOLD &&
        nm_http_resp_eof(&c->respp) == NM_RESP_EV_MSG_DONE) {
        char tag[NM_BODYHASH_TAG_LEN + 1];
        nm_hold_tag(c->hold, tag);
        nm_answer_held(c, tag);
        nm_exchange_end(c);
    }
    nm_conn_release_overdue(c, 0);
    nm_deliver_flush_bounded(&c->owed, &c->link);
}
