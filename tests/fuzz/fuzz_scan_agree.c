/* fuzz_scan_agree.c - the one-shot head scanner (common/head_scan.c, the
 * oneshot paths of http_req.c and http_resp.c) against the incremental
 * parser fed one byte at a time, which never sees a whole head. Three runs
 * of the same stream must give the same transcript (every event and its
 * offset, every capture, flags, framing, line offsets, the parser's body
 * state, bodies, the error):
 *   bytewise   one byte per call;
 *   oneshot    nm_http_*_oneshot on the first head, then bytewise;
 *   whole      the stream in one call (the one-shot takes every head it
 *              can: pipelined requests, a final response after a 1xx).
 * Besides, every instruction set's scan (portable, SSE2, AVX2 where the
 * CPU has it) must find the same end and the same bitmaps.
 * Input: one byte s (bit 0: 0 request stream, 1 response stream; bits 1-7:
 * which responses answer HEAD, bit i for response i mod 7), then the
 * stream. */
#include "fuzz_util.h"
#include "head_scan.h"
#include "http_req.h"
#include "http_resp.h"

enum { BYTEWISE, ONESHOT, WHOLE };

static void put_req(fuzz_tr_t *t, const nm_req_parser_t *p, const nm_req_t *r)
{
    tr_printf(t, " m=%d v=%d f=%x t=", (int)r->method, r->version_minor,
              (unsigned)r->flags);
    tr_bytes(t, r->target, r->target_len);
    tr_printf(t, " h=");
    tr_bytes(t, r->host, r->host_len);
    tr_printf(t, " inm=");
    tr_bytes(t, r->inm, r->inm_len);
    tr_printf(t, " ims=");
    tr_bytes(t, r->ims, r->ims_len);
    tr_printf(t, " im=");
    tr_bytes(t, r->if_match, r->if_match_len);
    tr_printf(t, " ius=");
    tr_bytes(t, r->ius, r->ius_len);
    tr_printf(t, " | st=%u fr=%x left=%llu cl=%llu hl=%u n=%u\n",
              (unsigned)p->state, (unsigned)p->framing,
              (unsigned long long)p->body_left,
              (unsigned long long)p->content_length, (unsigned)p->lex.head_len,
              (unsigned)p->lex.field_count);
}

/* Feeds buf[off, off + k) until the parser needs more; false on error. */
static bool feed_req(nm_req_parser_t *p, nm_req_t *req, const char *buf,
                     size_t off, size_t k, fuzz_tr_t *t)
{
    size_t pos = 0;
    for (;;) {
        nm_req_event_t ev;
        long n = nm_http_req_feed(p, req, buf + off + pos, k - pos, &ev);
        if (n < 0) {
            tr_printf(t, "E%ld\n", n);
            return false;
        }
        pos += (size_t)n;
        if (ev == NM_REQ_EV_NONE)
            return true;
        if (ev == NM_REQ_EV_HEAD_DONE) {
            tr_printf(t, "H@%zu", off + pos);
            put_req(t, p, req);
        } else {
            tr_printf(t, "M@%zu\n", off + pos);
        }
    }
}

static void run_req(const uint8_t *data, size_t len, int mode, fuzz_tr_t *t)
{
    nm_req_parser_t p;
    nm_req_t req;
    memset(&req, 0, sizeof(req));
    nm_http_req_init(&p);
    char *buf = dup_exact(data, len);
    size_t off = 0;
    if (mode == ONESHOT) {
        nm_req_event_t ev;
        long n = nm_http_req_oneshot(&p, &req, buf, len, &ev);
        FUZZ_CHECK(n >= 0 && (size_t)n <= len, "oneshot returned %ld", n);
        if (n > 0) {
            FUZZ_CHECK(ev == NM_REQ_EV_HEAD_DONE, "oneshot event %d", ev);
            off = (size_t)n;
            tr_printf(t, "H@%zu", off);
            put_req(t, &p, &req);
            /* What feed reports next at the same place (MSG_DONE). */
            if (!feed_req(&p, &req, buf, off, 0, t))
                goto out;
        } else {
            FUZZ_CHECK(ev == NM_REQ_EV_NONE, "declined with event %d", ev);
        }
    }
    while (off < len) {
        size_t k = mode == WHOLE ? len - off : 1;
        if (!feed_req(&p, &req, buf, off, k, t))
            goto out;
        off += k;
    }
    tr_printf(t, "END\n");
out:
    free(buf);
}

static void put_resp(fuzz_tr_t *t, const nm_resp_parser_t *p,
                     const nm_resp_t *r)
{
    tr_printf(t, " s=%d v=%d f=%x cl=%llu hl=%u etag=", r->status,
              r->version_minor, (unsigned)r->flags,
              (unsigned long long)r->content_length, (unsigned)r->head_len);
    tr_bytes(t, r->etag, r->etag_len);
    tr_printf(t, " lm=");
    tr_bytes(t, r->last_modified, r->last_modified_len);
    tr_printf(t, " date=");
    tr_bytes(t, r->date, r->date_len);
    tr_printf(t, " lines=%u:", (unsigned)r->line_count);
    for (unsigned k = 0; k < r->line_count && k < NM_RESP_LINES_MAX; k++)
        tr_printf(t, " %u", (unsigned)r->line_start[k]);
    tr_printf(t, " | st=%u fr=%x left=%llu cl=%llu phl=%u skip=%llu\n",
              (unsigned)p->state, (unsigned)p->framing,
              (unsigned long long)p->body_left,
              (unsigned long long)p->content_length, (unsigned)p->head_len,
              (unsigned long long)nm_http_resp_skippable(p));
}

typedef struct resp_run {
    nm_resp_parser_t p;
    nm_resp_t resp;
    fuzz_tr_t body; /* body bytes of the current message */
    unsigned msgs;
    uint8_t head_mask;
    fuzz_tr_t *t;
} resp_run_t;

/* Feeds buf[off, off + k) until the parser needs more; false on error. */
static bool feed_resp(resp_run_t *r, const char *buf, size_t off, size_t k)
{
    size_t pos = 0;
    for (;;) {
        nm_resp_event_t ev;
        long n =
            nm_http_resp_feed(&r->p, &r->resp, buf + off + pos, k - pos, &ev);
        if (n < 0) {
            tr_printf(r->t, "E%ld\n", n);
            return false;
        }
        if (ev == NM_RESP_EV_BODY) {
            tr_reserve(&r->body, r->p.body_len);
            memcpy(r->body.buf + r->body.len, r->p.body_ptr, r->p.body_len);
            r->body.len += r->p.body_len;
        }
        pos += (size_t)n;
        if (ev == NM_RESP_EV_NONE)
            return true;
        if (ev == NM_RESP_EV_HEAD_DONE) {
            tr_printf(r->t, "H@%zu", off + pos);
            put_resp(r->t, &r->p, &r->resp);
        } else if (ev == NM_RESP_EV_MSG_DONE) {
            tr_printf(r->t, "B(");
            tr_bytes(r->t, r->body.buf, r->body.len);
            tr_printf(r->t, ")M@%zu\n", off + pos);
            r->body.len = 0;
            r->msgs++;
            nm_http_resp_expect_head(&r->p,
                                     (r->head_mask >> (r->msgs % 7)) & 1);
        }
    }
}

static void run_resp(const uint8_t *data, size_t len, uint8_t head_mask,
                     int mode, fuzz_tr_t *t)
{
    static resp_run_t r;
    memset(&r, 0, sizeof(r));
    r.head_mask = head_mask;
    r.t = t;
    nm_http_resp_init(&r.p);
    nm_http_resp_expect_head(&r.p, head_mask & 1);
    char *buf = dup_exact(data, len);
    size_t off = 0;
    if (mode == ONESHOT) {
        nm_resp_event_t ev;
        long n = nm_http_resp_oneshot(&r.p, &r.resp, buf, len, &ev);
        FUZZ_CHECK(n >= 0 && (size_t)n <= len, "oneshot returned %ld", n);
        if (n > 0) {
            FUZZ_CHECK(ev == NM_RESP_EV_HEAD_DONE, "oneshot event %d", ev);
            off = (size_t)n;
            tr_printf(t, "H@%zu", off);
            put_resp(t, &r.p, &r.resp);
            /* What feed reports next at the same place (MSG_DONE). */
            if (!feed_resp(&r, buf, off, 0))
                goto eof;
        } else {
            FUZZ_CHECK(ev == NM_RESP_EV_NONE, "declined with event %d", ev);
        }
    }
    while (off < len) {
        size_t k = mode == WHOLE ? len - off : 1;
        if (!feed_resp(&r, buf, off, k))
            goto eof;
        off += k;
    }
    tr_printf(t, "B(");
    tr_bytes(t, r.body.buf, r.body.len);
    tr_printf(t, ")");
eof:
    tr_printf(t, "EOF%d\n", nm_http_resp_eof(&r.p));
    free(buf);
    tr_free(&r.body);
}

/* Every instruction set the CPU has finds the same head and bitmaps. */
static void check_isas(const uint8_t *data, size_t len)
{
    static nm_head_scan_t ref, hs;
    char *buf = dup_exact(data, len);
    const unsigned char *s = (const unsigned char *)buf;
    bool is_ref = nm_head_scan_isa(&ref, s, len, 0);
    for (int isa = 1; isa <= 2; isa++) {
        memset(&hs, 0, sizeof(hs));
        bool is_head = nm_head_scan_isa(&hs, s, len, isa);
        if (!is_head && isa == 2 &&
            !nm_head_classify(2, s, 0, NULL, NULL, NULL))
            continue; /* no AVX2 here */
        FUZZ_CHECK(is_head == is_ref, "isa %d: scan %d, portable %d", isa,
                   is_head, is_ref);
        if (!is_head)
            continue;
        FUZZ_CHECK(hs.end == ref.end, "isa %d: end %zu, portable %zu", isa,
                   hs.end, ref.end);
        for (size_t w = 0; w <= ref.end / 64; w++)
            FUZZ_CHECK(hs.lf[w] == ref.lf[w] && hs.nc[w] == ref.nc[w],
                       "isa %d: word %zu differs", isa, w);
    }
    if (is_ref) { /* the end found is an empty line's LF */
        FUZZ_CHECK(ref.end < len && s[ref.end] == '\n', "end %zu", ref.end);
        FUZZ_CHECK(ref.end > 0 && (s[ref.end - 1] == '\n' ||
                                   (ref.end > 1 && s[ref.end - 2] == '\n')),
                   "end %zu is no empty line", ref.end);
    }
    /* The 64-byte classifiers themselves, on whole blocks of the input. */
    size_t nblocks = len / 64;
    if (nblocks > 0) {
        uint64_t a[3][64], b[3][64];
        if (nblocks > 64)
            nblocks = 64;
        nm_head_classify(0, s, nblocks, a[0], a[1], a[2]);
        for (int isa = 1; isa <= 2; isa++) {
            if (!nm_head_classify(isa, s, nblocks, b[0], b[1], b[2]))
                continue;
            for (size_t k = 0; k < 3; k++)
                FUZZ_CHECK(memcmp(a[k], b[k], nblocks * 8) == 0,
                           "isa %d: classifier map %zu differs", isa, k);
        }
    }
    free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t sel = data[0];
    const uint8_t *msg = data + 1;
    size_t len = size - 1;
    fuzz_tr_t ref = {0}, t = {0};
    check_isas(msg, len);
    if (sel & 1) {
        uint8_t head_mask = sel >> 1;
        run_resp(msg, len, head_mask, BYTEWISE, &ref);
        run_resp(msg, len, head_mask, ONESHOT, &t);
        tr_expect_same(&ref, &t, "response: bytewise / oneshot first");
        tr_free(&t);
        run_resp(msg, len, head_mask, WHOLE, &t);
        tr_expect_same(&ref, &t, "response: bytewise / whole");
    } else {
        run_req(msg, len, BYTEWISE, &ref);
        run_req(msg, len, ONESHOT, &t);
        tr_expect_same(&ref, &t, "request: bytewise / oneshot first");
        tr_free(&t);
        run_req(msg, len, WHOLE, &t);
        tr_expect_same(&ref, &t, "request: bytewise / whole");
    }
    tr_free(&ref);
    tr_free(&t);
    return 0;
}
