/* fuzz_http_resp.c - the response parser (common/http_resp.c) fed the same
 * bytes whole and in random splits, the split run also skipping body bytes
 * unseen (nm_http_resp_skippable / nm_http_resp_skip) where the control
 * byte says so, both ending with nm_http_resp_eof. Both must report the
 * same heads, message ends and de-chunked bodies, and the same error.
 * Input: one byte n (low 4 bits), n split-control bytes (high bit: skip
 * here if the parser allows it), one byte saying which responses answer
 * HEAD (bit i for response i mod 8), then the server's stream. */
#include "fuzz_util.h"
#include "http_resp.h"

typedef struct run_state {
    fuzz_tr_t *t;
    fuzz_tr_t body; /* body bytes of the current message */
    unsigned msgs;  /* complete messages so far */
    uint8_t head_mask;
} run_state_t;

static void put_resp(fuzz_tr_t *t, const nm_resp_t *r)
{
    FUZZ_CHECK(r->etag_len <= NM_RESP_ETAG_MAX &&
                   r->last_modified_len <= NM_RESP_DATE_MAX &&
                   r->date_len <= NM_RESP_DATE_MAX,
               "capture length past its buffer");
    tr_printf(t, " s=%d v=%d f=%x cl=%llu hl=%u etag=", r->status,
              r->version_minor, (unsigned)r->flags,
              (unsigned long long)r->content_length, (unsigned)r->head_len);
    tr_bytes(t, r->etag, r->etag_len);
    tr_printf(t, " lm=");
    tr_bytes(t, r->last_modified, r->last_modified_len);
    tr_printf(t, " date=");
    tr_bytes(t, r->date, r->date_len);
    tr_printf(t, "\n");
}

static void flush_body(run_state_t *rs)
{
    if (rs->body.len == 0)
        return;
    tr_printf(rs->t, "B(");
    tr_bytes(rs->t, rs->body.buf, rs->body.len);
    tr_printf(rs->t, ")\n");
    rs->body.len = 0;
}

static void msg_done(run_state_t *rs, nm_resp_parser_t *p, size_t at)
{
    flush_body(rs);
    tr_printf(rs->t, "M@%zu\n", at);
    rs->msgs++;
    nm_http_resp_expect_head(p, (rs->head_mask >> (rs->msgs % 8)) & 1);
}

static void run(const uint8_t *data, size_t len, fuzz_split_t *sp,
                bool may_skip, uint8_t head_mask, fuzz_tr_t *t)
{
    nm_resp_parser_t p;
    nm_resp_t resp;
    run_state_t rs = {t, {0}, 0, head_mask};
    memset(&resp, 0, sizeof(resp));
    nm_http_resp_init(&p);
    nm_http_resp_expect_head(&p, head_mask & 1);
    size_t off = 0;
    int stalls = 0;
    while (off < len || len == 0) {
        uint8_t ctl = sp->n ? sp->ctl[sp->i % sp->n] : 0;
        uint64_t can_skip = nm_http_resp_skippable(&p);
        if (may_skip && (ctl & 0x80) && can_skip > 0 && off < len) {
            sp->i++;
            size_t k = (size_t)(ctl & 0x3f) + 1;
            if (k > len - off)
                k = len - off;
            if (k > can_skip)
                k = (size_t)can_skip;
            nm_resp_event_t ev = NM_RESP_EV_BODY;
            int rc = nm_http_resp_skip(&p, k, &ev);
            FUZZ_CHECK(rc >= 0, "skip(%zu) of %llu skippable: %d", k,
                       (unsigned long long)can_skip, rc);
            tr_reserve(&rs.body, k);
            memcpy(rs.body.buf + rs.body.len, data + off, k);
            rs.body.len += k;
            off += k;
            if (ev == NM_RESP_EV_MSG_DONE)
                msg_done(&rs, &p, off);
            else
                FUZZ_CHECK(ev == NM_RESP_EV_NONE, "skip event %d", (int)ev);
            continue;
        }
        size_t k = split_next(sp, len - off);
        char *chunk = dup_exact(data + off, k);
        size_t pos = 0;
        for (;;) {
            nm_resp_event_t ev = NM_RESP_EV_NONE;
            long n = nm_http_resp_feed(&p, &resp, chunk + pos, k - pos, &ev);
            if (n < 0) {
                flush_body(&rs);
                tr_printf(t, "E%ld\n", n);
                free(chunk);
                goto eof;
            }
            FUZZ_CHECK((size_t)n <= k - pos, "consumed %ld of %zu", n, k - pos);
            if (ev == NM_RESP_EV_BODY) {
                FUZZ_CHECK(p.body_ptr >= chunk + pos &&
                               p.body_ptr + p.body_len <= chunk + pos + n,
                           "body span outside the bytes fed");
                tr_reserve(&rs.body, p.body_len);
                memcpy(rs.body.buf + rs.body.len, p.body_ptr, p.body_len);
                rs.body.len += p.body_len;
            }
            pos += (size_t)n;
            if (ev == NM_RESP_EV_NONE) {
                FUZZ_CHECK(pos == k, "NONE with %zu bytes left", k - pos);
                break;
            }
            stalls = n == 0 ? stalls + 1 : 0;
            FUZZ_CHECK(stalls < 3, "events without progress");
            if (ev == NM_RESP_EV_HEAD_DONE) {
                flush_body(&rs);
                tr_printf(t, "H@%zu", off + pos);
                put_resp(t, &resp);
            } else if (ev == NM_RESP_EV_MSG_DONE) {
                msg_done(&rs, &p, off + pos);
            } else {
                FUZZ_CHECK(ev == NM_RESP_EV_BODY, "event %d", (int)ev);
            }
        }
        free(chunk);
        off += k;
        if (len == 0)
            break;
    }
    flush_body(&rs);
eof:
    tr_printf(t, "EOF%d\n", nm_http_resp_eof(&p));
    tr_free(&rs.body);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    size_t nctl = data[0] & 15;
    if (size < 2 + nctl)
        return 0;
    uint8_t head_mask = data[1 + nctl];
    fuzz_split_t whole = {NULL, 0, 0};
    fuzz_split_t split = {data + 1, nctl, 0};
    const uint8_t *msg = data + 2 + nctl;
    size_t msg_len = size - 2 - nctl;

    fuzz_tr_t a = {0}, b = {0};
    run(msg, msg_len, &whole, false, head_mask, &a);
    run(msg, msg_len, &split, true, head_mask, &b);
    tr_expect_same(&a, &b, "response transcripts");
    tr_free(&a);
    tr_free(&b);
    return 0;
}
