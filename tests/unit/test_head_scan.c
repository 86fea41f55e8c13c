/* test_head_scan.c - the one-shot head scanner (common/head_scan.c) and
 * the parsers' one-shot paths, table-driven. The block classifiers of
 * every instruction set the CPU has must equal the portable one; the
 * field table's lookup must find every name; the scan must find the empty
 * line exactly where the states do; and every head, fed whole (the
 * one-shot path) and one byte at a time (the states only), must give the
 * same transcript: heads of every length across the 16-, 32- and 64-byte
 * blocks, CRLFs and field names at every offset of a block, long values,
 * and the inputs the one-shot must leave to the states. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "head_scan.h"
#include "http_req.h"
#include "http_resp.h"
#include "transcript.h"

#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

/* Whether this build takes heads whole at all (not without SSE2). */
static bool is_oneshot_on(void)
{
    static nm_head_scan_t hs;
    static const char head[] = "GET / HTTP/1.1\r\n\r\n";
    return nm_head_scan(&hs, (const unsigned char *)head, sizeof(head) - 1);
}

/* ---- transcripts: everything a head leaves behind ---- */

static void put_req(out_t *o, const nm_req_parser_t *p, const nm_req_t *r)
{
    put(o, "H(m=%d v=%d f=%x t=", (int)r->method, r->version_minor,
        (unsigned)r->flags);
    put_bytes(o, r->target, r->target_len);
    put(o, " h=");
    put_bytes(o, r->host, r->host_len);
    put(o, " inm=");
    put_bytes(o, r->inm, r->inm_len);
    put(o, " ims=");
    put_bytes(o, r->ims, r->ims_len);
    put(o, " im=");
    put_bytes(o, r->if_match, r->if_match_len);
    put(o, " ius=");
    put_bytes(o, r->ius, r->ius_len);
    put(o, " st=%u fr=%x left=%llu hl=%u n=%u)", (unsigned)p->state,
        (unsigned)p->framing, (unsigned long long)p->body_left,
        (unsigned)p->lex.head_len, (unsigned)p->lex.field_count);
}

/* Feeds in pieces of step bytes (the whole input when step is 0). */
static void run_req(const char *in, size_t len, size_t step, out_t *o)
{
    static nm_req_parser_t p;
    static nm_req_t req;
    o->len = 0;
    o->buf[0] = '\0';
    nm_http_req_init(&p);
    memset(&req, 0xA5, sizeof(req));
    size_t off = 0;
    do {
        size_t k = step == 0 || step > len - off ? len - off : step;
        size_t pos = 0;
        for (;;) {
            nm_req_event_t ev;
            long n = nm_http_req_feed(&p, &req, in + off + pos, k - pos, &ev);
            if (n < 0) {
                put(o, "E:%s", err_name(n));
                return;
            }
            pos += (size_t)n;
            if (ev == NM_REQ_EV_NONE)
                break;
            put(o, "@%zu:", off + pos);
            if (ev == NM_REQ_EV_HEAD_DONE)
                put_req(o, &p, &req);
            else
                put(o, "M;");
        }
        off += k;
    } while (off < len);
}

static void put_resp(out_t *o, const nm_resp_parser_t *p, const nm_resp_t *r)
{
    put(o, "H(s=%d v=%d f=%x cl=%llu hl=%u etag=", r->status, r->version_minor,
        (unsigned)r->flags, (unsigned long long)r->content_length,
        (unsigned)r->head_len);
    put_bytes(o, r->etag, r->etag_len);
    put(o, " lm=");
    put_bytes(o, r->last_modified, r->last_modified_len);
    put(o, " date=");
    put_bytes(o, r->date, r->date_len);
    put(o, " lines=%u:", (unsigned)r->line_count);
    for (unsigned k = 0; k < r->line_count && k < NM_RESP_LINES_MAX; k++)
        put(o, "%u,", (unsigned)r->line_start[k]);
    put(o, " st=%u fr=%x left=%llu)", (unsigned)p->state, (unsigned)p->framing,
        (unsigned long long)p->body_left);
}

static void run_resp(const char *in, size_t len, size_t step, out_t *o)
{
    static nm_resp_parser_t p;
    static nm_resp_t resp;
    size_t body = 0;
    o->len = 0;
    o->buf[0] = '\0';
    nm_http_resp_init(&p);
    memset(&resp, 0xA5, sizeof(resp));
    size_t off = 0;
    do {
        size_t k = step == 0 || step > len - off ? len - off : step;
        size_t pos = 0;
        for (;;) {
            nm_resp_event_t ev;
            long n = nm_http_resp_feed(&p, &resp, in + off + pos, k - pos, &ev);
            if (n < 0) {
                put(o, "E:%s", err_name(n));
                return;
            }
            pos += (size_t)n;
            if (ev == NM_RESP_EV_NONE)
                break;
            if (ev == NM_RESP_EV_BODY) {
                body += p.body_len;
                continue;
            }
            put(o, "@%zu:", off + pos);
            if (ev == NM_RESP_EV_HEAD_DONE) {
                put_resp(o, &p, &resp);
            } else {
                put(o, "M(%zu);", body);
                body = 0;
            }
        }
        off += k;
    } while (off < len);
    put(o, "B(%zu)EOF%d", body, nm_http_resp_eof(&p));
}

/* Whole and byte by byte give the same transcript; returns 1 (and says
 * why) when not. *is_taken: the one-shot path took the first head. */
static int check_same(const char *name, const char *in, size_t len,
                      bool is_response, bool *is_taken)
{
    static out_t whole, bytes;
    if (is_response) {
        nm_resp_parser_t p;
        static nm_resp_t resp;
        nm_resp_event_t ev;
        nm_http_resp_init(&p);
        *is_taken = nm_http_resp_oneshot(&p, &resp, in, len, &ev) > 0;
        run_resp(in, len, 0, &whole);
        run_resp(in, len, 1, &bytes);
    } else {
        nm_req_parser_t p;
        static nm_req_t req;
        nm_req_event_t ev;
        nm_http_req_init(&p);
        *is_taken = nm_http_req_oneshot(&p, &req, in, len, &ev) > 0;
        run_req(in, len, 0, &whole);
        run_req(in, len, 1, &bytes);
    }
    if (strcmp(whole.buf, bytes.buf) == 0)
        return 0;
    out_t e = {.len = 0};
    put_bytes(&e, in, len > 78 ? 78 : len);
    print_error("%s (%zu bytes: %s%s)\n  whole    %s\n  bytewise %s\n", name,
                len, e.buf, len > 78 ? "..." : "", whole.buf, bytes.buf);
    return 1;
}

/* ---- the block classifiers ---- */

static uint64_t rng_state = 0x9e3779b97f4a7c15u;

static uint64_t rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static void classifiers_match_portable(void **state)
{
    (void)state;
    static unsigned char buf[64 * 16];
    uint64_t a[3][16], b[3][16];
    int failed = 0, sets = 0;
    for (int round = 0; round < 2000; round++) {
        if (round == 0) { /* every byte value at every position mod 64 */
            for (size_t k = 0; k < sizeof(buf); k++)
                buf[k] = (unsigned char)(k * 67 + k / 256);
        } else if (round < 1000) { /* uniform bytes */
            for (size_t k = 0; k < sizeof(buf); k++)
                buf[k] = (unsigned char)rng();
        } else { /* head-like bytes: letters, '-', ':', SP, CR, LF, TAB */
            static const char alpha[] = "aZ09-:_ \r\n\t\x7f\x80\x01\"/";
            for (size_t k = 0; k < sizeof(buf); k++)
                buf[k] = (unsigned char)alpha[rng() % (sizeof(alpha) - 1)];
        }
        assert_true(nm_head_classify(0, buf, 16, a[0], a[1], a[2]));
        for (size_t k = 0; k < 64 * 16; k++) { /* the portable one itself */
            unsigned char c = buf[k];
            bool is_lf = c == '\n';
            bool is_nc = !((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                           (c >= '0' && c <= '9') || c == '-');
            bool is_bad = (c < 0x20 && c != '\t' && c != '\n') || c == 0x7f;
            uint64_t bit = (uint64_t)1 << (k % 64);
            if (((a[0][k / 64] & bit) != 0) != is_lf ||
                ((a[1][k / 64] & bit) != 0) != is_nc ||
                ((a[2][k / 64] & bit) != 0) != is_bad) {
                print_error("portable classifier: byte 0x%02x\n", c);
                failed++;
            }
        }
        for (int isa = 1; isa <= 2; isa++) {
            if (!nm_head_classify(isa, buf, 16, b[0], b[1], b[2]))
                continue;
            sets += round == 0;
            for (int m = 0; m < 3; m++)
                if (memcmp(a[m], b[m], sizeof(a[m])) != 0) {
                    print_error("isa %d map %d differs in round %d\n", isa, m,
                                round);
                    failed++;
                }
        }
    }
    print_message("[ isas     ] %d instruction sets besides the portable one\n",
                  sets);
    assert_int_equal(failed, 0);
}

/* ---- the field table ---- */

static void fld_lookup_finds_every_name(void **state)
{
    (void)state;
    static const struct {
        const char *name;
        enum nm_fld want;
    } rows[] = {
        {"connection", NM_FLD_CONNECTION},
        {"content-encoding", NM_FLD_CONTENT_ENCODING},
        {"content-length", NM_FLD_CONTENT_LENGTH},
        {"content-range", NM_FLD_CONTENT_RANGE},
        {"content-type", NM_FLD_CONTENT_TYPE},
        {"date", NM_FLD_DATE},
        {"etag", NM_FLD_ETAG},
        {"expect", NM_FLD_EXPECT},
        {"host", NM_FLD_HOST},
        {"if-match", NM_FLD_IF_MATCH},
        {"if-modified-since", NM_FLD_IF_MODIFIED_SINCE},
        {"if-none-match", NM_FLD_IF_NONE_MATCH},
        {"if-range", NM_FLD_IF_RANGE},
        {"if-unmodified-since", NM_FLD_IF_UNMODIFIED_SINCE},
        {"last-modified", NM_FLD_LAST_MODIFIED},
        {"range", NM_FLD_RANGE},
        {"transfer-encoding", NM_FLD_TRANSFER_ENCODING},
        {"upgrade", NM_FLD_UPGRADE},
        {"Content-Length", NM_FLD_CONTENT_LENGTH},
        {"ETAG", NM_FLD_ETAG},
        {"If-Unmodified-Since", NM_FLD_IF_UNMODIFIED_SINCE},
        {"cache-control", NM_FLD_NONE}, /* content-range's slot */
        {"accept", NM_FLD_NONE},
        {"user-agent", NM_FLD_NONE},
        {"hosts", NM_FLD_NONE},
        {"hos", NM_FLD_NONE},
        {"content_length", NM_FLD_NONE},
        {"content-lengths", NM_FLD_NONE},
        {"x-etag", NM_FLD_NONE},
        {"if-none-matcH!", NM_FLD_NONE},
        {"if-unmodified-sinc", NM_FLD_NONE},
        {"if-unmodified-sincee", NM_FLD_NONE},
    };
    int failed = 0;
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        size_t n = strlen(rows[i].name);
        /* An exactly sized copy: the lookup must not read past it. */
        unsigned char *name = malloc(n);
        memcpy(name, rows[i].name, n);
        enum nm_fld got = nm_fld_lookup(name, n);
        if (got != rows[i].want) {
            print_error("row %s: want %d, got %d\n", rows[i].name,
                        (int)rows[i].want, (int)got);
            failed++;
        }
        /* Any one byte changed to another tchar: no longer the name. */
        for (size_t k = 0; rows[i].want != NM_FLD_NONE && k < n; k++) {
            static const char others[] = "a0-_!xZ";
            for (const char *c = others; *c; c++) {
                if ((name[k] | 0x20) == (*c | 0x20))
                    continue;
                unsigned char keep = name[k];
                name[k] = (unsigned char)*c;
                if (nm_fld_lookup(name, n) != NM_FLD_NONE) {
                    print_error("row %s with byte %zu = %c: found\n",
                                rows[i].name, k, *c);
                    failed++;
                }
                name[k] = keep;
            }
        }
        free(name);
    }
    assert_int_equal(failed, 0);
}

/* ---- the scan ---- */

typedef struct scan_row {
    const char *name;
    const char *in;
    long want_end; /* -1: no head */
    size_t in_len; /* 0: strlen(in) */
} scan_row_t;

#define BIN(name, lit, end)                                                    \
    {                                                                          \
        name, lit, end, sizeof(lit) - 1                                        \
    }

static void scan_finds_the_empty_line(void **state)
{
    (void)state;
    static const scan_row_t rows[] = {
        {"crlf", "GET / HTTP/1.1\r\nHost: h\r\n\r\n", 26},
        {"no_fields", "GET / HTTP/1.1\r\n\r\n", 17},
        {"bare_lf", "HTTP/1.0 200 OK\nA: b\n\nbody", 21},
        {"crlf_then_lf", "HTTP/1.0 200 OK\r\nA: b\r\n\n", 23},
        {"lf_then_crlf", "HTTP/1.0 200 OK\nA: b\n\r\n", 22},
        {"body_after_head_may_hold_anything",
         "HTTP/1.1 200 OK\r\n\r\n\x01\x7f\r\x00", 18},
        {"not_whole", "GET / HTTP/1.1\r\nHost: h\r\n", -1},
        {"not_whole_cr", "GET / HTTP/1.1\r\nHost: h\r\n\r", -1},
        BIN("nul_in_value", "GET / HTTP/1.1\r\nA: \x00\r\n\r\n", -1),
        {"ctl_in_value", "GET / HTTP/1.1\r\nA: \x1f\r\n\r\n", -1},
        {"del_in_value", "GET / HTTP/1.1\r\nA: \x7f\r\n\r\n", -1},
        {"bare_cr", "GET / HTTP/1.1\r\nA: a\rb\r\n\r\n", -1},
        {"cr_cr_lf", "GET / HTTP/1.1\r\nA: a\r\r\n\r\n", -1},
        {"tab_and_obs_text_are_values",
         "HTTP/1.1 200 \xe9t\xe9\r\nA:\tb\x80\xff\r\n\r\n", 27},
        /* A control byte alone before an LF looks like an empty line's CR
         * to the scan; nm_head_field declines it. */
        {"ctl_line", "GET / HTTP/1.1\r\n\x01\n\r\n", 17},
    };
    static nm_head_scan_t hs;
    int failed = 0;
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        size_t len = rows[i].in_len ? rows[i].in_len : strlen(rows[i].in);
        char *in = malloc(len);
        memcpy(in, rows[i].in, len);
        for (int isa = 0; isa <= 2; isa++) {
            if (isa > 0 && !nm_head_classify(isa, (const unsigned char *)"", 0,
                                             NULL, NULL, NULL))
                continue;
            bool is_head =
                nm_head_scan_isa(&hs, (const unsigned char *)in, len, isa);
            long end = is_head ? (long)hs.end : -1;
            if (end != rows[i].want_end) {
                print_error("row %s, isa %d: want %ld, got %ld\n", rows[i].name,
                            isa, rows[i].want_end, end);
                failed++;
            }
        }
        free(in);
    }
    assert_int_equal(failed, 0);
}

/* Heads right at and past the scan's limit, and one past the parsers'. */
static void scan_stops_at_its_limit(void **state)
{
    (void)state;
    static nm_head_scan_t hs;
    static char in[NM_HEAD_SCAN_MAX + 64];
    const char *start = "GET / HTTP/1.1\r\nX: ";
    for (size_t total = NM_HEAD_SCAN_MAX - 2; total <= NM_HEAD_SCAN_MAX + 2;
         total++) {
        size_t n = strlen(start);
        memcpy(in, start, n);
        memset(in + n, 'v', total - n - 4);
        memcpy(in + total - 4, "\r\n\r\n", 4);
        bool is_head =
            nm_head_scan_isa(&hs, (const unsigned char *)in, total, 0);
        /* The head is in[0, total): its last byte must be within reach. */
        assert_int_equal(is_head, total <= NM_HEAD_SCAN_MAX);
        if (is_head)
            assert_int_equal(hs.end, total - 1);
        bool is_taken;
        assert_int_equal(check_same("limit", in, total, false, &is_taken), 0);
        assert_int_equal(is_taken,
                         total <= NM_HEAD_SCAN_MAX && is_oneshot_on());
    }
}

/* ---- the one-shot paths against the states ---- */

typedef struct head_row {
    const char *name;
    const char *in;
    bool is_response;
    bool is_taken; /* the one-shot path must take it (or decline it) */
    size_t in_len;
} head_row_t;

static int run_heads(const char *table, const head_row_t *rows, size_t n)
{
    int failed = 0;
    bool is_on = is_oneshot_on();
    for (size_t i = 0; i < n; i++) {
        size_t len = rows[i].in_len ? rows[i].in_len : strlen(rows[i].in);
        char *in = malloc(len ? len : 1);
        memcpy(in, rows[i].in, len);
        bool is_taken;
        int bad =
            check_same(rows[i].name, in, len, rows[i].is_response, &is_taken);
        if (!bad && is_taken != (rows[i].is_taken && is_on)) {
            print_error("row %s: the one-shot path %s it\n", rows[i].name,
                        is_taken ? "took" : "declined");
            bad = 1;
        }
        failed += bad;
        free(in);
    }
    print_message("[ rows     ] %s: %zu rows, %d failed\n", table, n, failed);
    return failed;
}

#define ROWS(t) run_heads(#t, t, sizeof(t) / sizeof(t[0]))
#define REQ(name, in, taken)                                                   \
    {                                                                          \
        name, in, false, taken                                                 \
    }
#define RESP(name, in, taken)                                                  \
    {                                                                          \
        name, in, true, taken                                                  \
    }
#define REQ_BIN(name, lit, taken)                                              \
    {                                                                          \
        name, lit, false, taken, sizeof(lit) - 1                               \
    }

static const head_row_t typical[] = {
    REQ("curl",
        "GET /index.html HTTP/1.1\r\nHost: localhost:8080\r\n"
        "User-Agent: curl/7.88.1\r\nAccept: */*\r\n\r\n",
        true),
    REQ("ab",
        "GET /f1k.bin HTTP/1.0\r\nConnection: Keep-Alive\r\n"
        "Host: 127.0.0.1:41234\r\nUser-Agent: ApacheBench/2.3\r\n"
        "Accept: */*\r\n\r\n",
        true),
    REQ("firefox_revalidation",
        "GET /static/app.css?v=3 HTTP/1.1\r\nHost: www.example.org\r\n"
        "User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:128.0) "
        "Gecko/20100101 Firefox/128.0\r\nAccept: text/css,*/*;q=0.1\r\n"
        "Accept-Language: en-US,en;q=0.5\r\n"
        "Accept-Encoding: gzip, deflate, br, zstd\r\n"
        "Connection: keep-alive\r\nReferer: http://www.example.org/\r\n"
        "If-Modified-Since: Mon, 24 Nov 2025 10:00:00 GMT\r\n"
        "If-None-Match: W/\"1a2b-3c4d\"\r\nCache-Control: max-age=0\r\n\r\n",
        true),
    REQ("every_request_field",
        "PUT /u HTTP/1.1\r\nhost: h\r\nIF-NONE-MATCH: \"a\"\r\n"
        "If-None-Match: \"b\", W/\"c\"\r\nIf-Match: *\r\n"
        "If-Modified-Since: x\r\nIf-Modified-Since: y\r\n"
        "If-Unmodified-Since: z\r\nRange: bytes=0-1\r\nIf-Range: \"a\"\r\n"
        "Upgrade: h2c\r\nExpect: 100-continue\r\n"
        "Connection: close, Upgrade\r\nContent-Length: 3, 3\r\n\r\nabc",
        true),
    REQ("chunked_then_pipelined",
        "POST /p HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n"
        "\r\n3\r\nabc\r\n0\r\n\r\nGET /n HTTP/1.1\r\nHost: h\r\n\r\n",
        true),
    REQ("odd_tchar_names_and_method",
        "M-SEARCH * HTTP/1.1\r\nX_Under.Score~: v\r\nHost: h\r\n\r\n", true),
    REQ("ows_tabs", "GET / HTTP/1.1\r\nHost:\t \th\t \r\nX:\r\nY: \r\n\r\n",
        true),
    REQ("obs_text_target_and_value",
        "GET /\xc3\xa9t\xc3\xa9 HTTP/1.1\r\nHost: \xff\r\n\r\n", true),
    RESP("nginx",
         "HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\n"
         "Date: Tue, 25 Nov 2025 12:09:41 GMT\r\n"
         "Content-Type: application/octet-stream\r\nContent-Length: 4\r\n"
         "Last-Modified: Tue, 25 Nov 2025 11:58:02 GMT\r\n"
         "Connection: keep-alive\r\nETag: \"69259a4a-400\"\r\n"
         "Accept-Ranges: bytes\r\n\r\nbody",
         true),
    RESP("cgi_bare_lf",
         "HTTP/1.0 200 OK\nContent-Type: text/event-stream\nETag: \"lf\"\n"
         "Date: d\r\n\nuntil close",
         true),
    RESP("no_reason", "HTTP/1.1 304\r\nETag: W/\"x\"\r\n\r\n", true),
    RESP("no_reason_bare_lf", "HTTP/1.1 204\n\n", true),
    RESP("interim_then_final",
         "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n"
         "Transfer-Encoding: chunked\r\nTrailer: x\r\n\r\n"
         "2\r\nab\r\n0\r\nx: 1\r\n\r\n",
         true),
    RESP("repeated_validators",
         "HTTP/1.1 200 OK\r\nETag: \"a\"\r\nETag: \"b\"\r\nDate: 1\r\n"
         "Date: 2\r\nLast-Modified: x\r\nLast-Modified: y\r\n"
         "Content-Encoding: gzip\r\nContent-Range: bytes 0-0/1\r\n"
         "Connection: keep-alive, close\r\nContent-Length: 0\r\n\r\n",
         true),
    RESP("te_not_chunked_last_close_delimited",
         "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\nzz", true),
};

/* Everything the states refuse, the one-shot path declines (and the states
 * then refuse it at the same byte); some valid heads it declines too. */
static const head_row_t declined[] = {
    REQ("bare_lf_field", "GET / HTTP/1.1\r\nHost: h\n\r\n", false),
    REQ("bare_lf_request_line", "GET / HTTP/1.1\nHost: h\r\n\r\n", false),
    REQ("bare_lf_empty_line", "GET / HTTP/1.1\r\nHost: h\r\n\n", false),
    REQ("obs_fold", "GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n b\r\n\r\n", false),
    REQ("obs_fold_tab", "GET / HTTP/1.1\r\nX: a\r\n\tb\r\n\r\n", false),
    REQ("space_before_colon", "GET / HTTP/1.1\r\nHost : h\r\n\r\n", false),
    REQ("tab_before_colon", "GET / HTTP/1.1\r\nHost\t: h\r\n\r\n", false),
    REQ("no_colon", "GET / HTTP/1.1\r\nHost h\r\n\r\n", false),
    REQ("empty_name", "GET / HTTP/1.1\r\n: h\r\n\r\n", false),
    REQ("bad_name_byte", "GET / HTTP/1.1\r\nHo\"st: h\r\n\r\n", false),
    REQ("cl_and_te",
        "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\n"
        "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        false),
    REQ("differing_cl",
        "POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
        false),
    REQ("cl_list_differs", "POST / HTTP/1.1\r\nContent-Length: 1, 2\r\n\r\n",
        false),
    REQ("cl_plus", "POST / HTTP/1.1\r\nContent-Length: +5\r\n\r\n", false),
    REQ("cl_gap", "POST / HTTP/1.1\r\nContent-Length: 1 2\r\n\r\n", false),
    REQ("cl_empty", "POST / HTTP/1.1\r\nContent-Length:\r\n\r\n", false),
    REQ("cl_overflow",
        "POST / HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n",
        false),
    REQ("second_host", "GET / HTTP/1.1\r\nHost: a\r\nHOST: b\r\n\r\n", false),
    REQ("te_in_http10",
        "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        false),
    REQ("te_not_chunked_last",
        "POST / HTTP/1.1\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", false),
    REQ("chunked_twice",
        "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n"
        "Transfer-Encoding: chunked\r\n\r\n",
        false),
    REQ_BIN("nul_in_value", "GET / HTTP/1.1\r\nHost: a\x00b\r\n\r\n", false),
    REQ("ctl_in_value", "GET / HTTP/1.1\r\nHost: a\x01\r\n\r\n", false),
    REQ("ctl_line", "GET / HTTP/1.1\r\n\x01\n\r\n", false),
    REQ("del_in_value", "GET / HTTP/1.1\r\nHost: a\x7f\r\n\r\n", false),
    REQ("bare_cr_in_value", "GET / HTTP/1.1\r\nHost: a\rb\r\n\r\n", false),
    REQ("tab_in_target", "GET /a\tb HTTP/1.1\r\n\r\n", false),
    REQ("space_in_target", "GET /a b HTTP/1.1\r\n\r\n", false),
    REQ("http09", "GET /\r\n\r\n", false),
    REQ("h2_preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", false),
    REQ("lower_case_version", "GET / http/1.1\r\n\r\n", false),
    REQ("version_letter", "GET / HTTP/1.x\r\n\r\n", false),
    REQ("trailing_space_version", "GET / HTTP/1.1 \r\n\r\n", false),
    REQ("two_spaces_after_method", "GET  / HTTP/1.1\r\n\r\n", false),
    REQ("leading_crlf", "\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n", false),
    REQ("not_whole", "GET / HTTP/1.1\r\nHost: h\r\n", false),
    REQ("tls", "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", false),
    RESP("switching_protocols",
         "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\nxx",
         false),
    RESP("resp_cl_and_te",
         "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n"
         "Transfer-Encoding: chunked\r\n\r\n",
         false),
    RESP("resp_te_in_http10",
         "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", false),
    RESP("resp_differing_cl",
         "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n",
         false),
    RESP("status_600", "HTTP/1.1 600 X\r\n\r\n", false),
    RESP("status_099", "HTTP/1.1 099 X\r\n\r\n", false),
    RESP("status_two_digits", "HTTP/1.1 20 OK\r\n\r\n", false),
    RESP("no_space_before_reason", "HTTP/1.1 200OK\r\n\r\n", false),
    RESP("http2_status", "HTTP/2.0 200 OK\r\n\r\n", false),
    RESP("resp_obs_fold", "HTTP/1.1 200 OK\r\nA: b\r\n c\r\n\r\n", false),
    RESP("resp_space_before_colon", "HTTP/1.1 200 OK\r\nETag : \"a\"\r\n\r\n",
         false),
    RESP("resp_bare_cr", "HTTP/1.1 200 OK\rX\r\n\r\n", false),
    RESP("resp_ctl_before_lf", "HTTP/1.1 200 OK\r\nA: b\x01\n\n", false),
    RESP("resp_ctl_reason", "HTTP/1.1 200 O\x01K\r\n\r\n", false),
    RESP("resp_not_whole", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n", false),
};

static void oneshot_agrees_on_typical_heads(void **state)
{
    (void)state;
    assert_int_equal(ROWS(typical), 0);
}

static void oneshot_declines_what_the_states_judge(void **state)
{
    (void)state;
    assert_int_equal(ROWS(declined), 0);
}

/* Builds a head into out: start line, a padding field of pad value bytes,
 * then the rest; returns its length. */
static size_t build(char *out, const char *first, size_t pad, const char *rest)
{
    size_t n = strlen(first);
    memcpy(out, first, n);
    if (pad > 0) {
        memcpy(out + n, "X-Pad: ", 7);
        n += 7;
        for (size_t k = 0; k < pad; k++)
            out[n++] = (char)('a' + k % 26);
        memcpy(out + n, "\r\n", 2);
        n += 2;
    }
    size_t r = strlen(rest);
    memcpy(out + n, rest, r);
    return n + r;
}

/* Every head length across the blocks: each byte of the tail (the CRLFs,
 * the field names, the empty line) lands at every offset of a 16-, 32- and
 * 64-byte block, the head ends at the buffer's end or before a body. */
static void oneshot_agrees_at_every_block_offset(void **state)
{
    (void)state;
    static const struct {
        const char *first, *rest;
        bool is_response;
    } shapes[] = {
        {"GET /a HTTP/1.1\r\n",
         "Host: h\r\nIf-None-Match: \"x\"\r\nConnection: close\r\n\r\n", false},
        {"GET /a HTTP/1.1\r\n", "If-Modified-Since: d\r\nHost: h\r\n\r\n",
         false},
        {"POST /a HTTP/1.1\r\n", "Content-Length: 2\r\n\r\nab", false},
        {"GET /a HTTP/1.1\r\n", "\r\n", false},
        {"HTTP/1.1 200 OK\r\n",
         "ETag: \"x\"\r\nContent-Length: 1\r\nDate: d\r\n\r\nb", true},
        {"HTTP/1.1 200 OK\n", "Last-Modified: m\nContent-Type: t\n\n", true},
        {"HTTP/1.1 304 Not Modified\r\n", "ETag: W/\"y\"\r\n\r\n", true},
    };
    static char in[512];
    int failed = 0, declined_count = 0;
    for (size_t s = 0; s < sizeof(shapes) / sizeof(shapes[0]); s++) {
        for (size_t pad = 0; pad < 200; pad++) {
            size_t len = build(in, shapes[s].first, pad, shapes[s].rest);
            char *exact = malloc(len);
            memcpy(exact, in, len);
            bool is_taken;
            char name[64];
            snprintf(name, sizeof(name), "shape %zu pad %zu", s, pad);
            failed +=
                check_same(name, exact, len, shapes[s].is_response, &is_taken);
            declined_count += !is_taken;
            free(exact);
        }
    }
    assert_int_equal(failed, 0);
    if (is_oneshot_on())
        assert_int_equal(declined_count, 0);
}

/* Long values: captures full and truncated, a head of many blocks. */
static void oneshot_agrees_on_long_values(void **state)
{
    (void)state;
    static char in[NM_HEAD_SCAN_MAX + 1024];
    static const size_t lens[] = {15,  16,  17,   31,   32,   33,   63,
                                  64,  65,  255,  256,  257,  511,  512,
                                  513, 600, 1023, 1024, 1025, 3000, 7000};
    static const char *const fields[] = {"If-None-Match", "Host",
                                         "If-Modified-Since", "Cookie"};
    static const char *const resp_fields[] = {"ETag", "Last-Modified", "Date",
                                              "Server"};
    int failed = 0;
    for (size_t f = 0; f < 4; f++) {
        for (size_t l = 0; l < sizeof(lens) / sizeof(lens[0]); l++) {
            for (int is_response = 0; is_response <= 1; is_response++) {
                size_t n = (size_t)snprintf(
                    in, sizeof(in), "%s%s: ",
                    is_response ? "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n"
                                : "GET /t HTTP/1.1\r\n",
                    is_response ? resp_fields[f] : fields[f]);
                for (size_t k = 0; k < lens[l]; k++)
                    in[n++] = k % 7 == 6 ? ' ' : (char)('A' + k % 26);
                memcpy(in + n, " \t\r\nHost-X: y\r\n\r\n", 17);
                n += 17;
                char *exact = malloc(n);
                memcpy(exact, in, n);
                bool is_taken;
                char name[64];
                snprintf(name, sizeof(name), "%s %zu",
                         is_response ? resp_fields[f] : fields[f], lens[l]);
                failed += check_same(name, exact, n, is_response, &is_taken);
                if (!is_taken && is_oneshot_on()) {
                    print_error("%s: declined\n", name);
                    failed++;
                }
                free(exact);
            }
        }
    }
    /* A target longer than its capture. */
    size_t n = (size_t)snprintf(in, sizeof(in), "GET /");
    memset(in + n, 't', 1500);
    n += 1500;
    memcpy(in + n, " HTTP/1.1\r\nHost: h\r\n\r\n", 23);
    n += 23;
    bool is_taken;
    failed += check_same("long_target", in, n, false, &is_taken);
    assert_true(is_taken || !is_oneshot_on());
    assert_int_equal(failed, 0);
}

/* More fields than the parsers allow, and than resp.line_start holds. */
static void oneshot_agrees_on_many_fields(void **state)
{
    (void)state;
    static char in[8192];
    int failed = 0;
    static const size_t counts[] = {47, 48, 49, 255, 256, 257};
    for (size_t c = 0; c < sizeof(counts) / sizeof(counts[0]); c++) {
        for (int is_response = 0; is_response <= 1; is_response++) {
            size_t n = (size_t)snprintf(in, sizeof(in), "%s",
                                        is_response ? "HTTP/1.1 200 OK\r\n"
                                                    : "GET / HTTP/1.1\r\n");
            for (size_t k = 0; k < counts[c]; k++)
                n += (size_t)snprintf(in + n, sizeof(in) - n, "%s: %zu\r\n",
                                      k % 2 ? "A" : "Bb", k);
            n += (size_t)snprintf(in + n, sizeof(in) - n, "\r\n");
            bool is_taken;
            char name[64];
            snprintf(name, sizeof(name), "%zu fields", counts[c]);
            failed += check_same(name, in, n, is_response, &is_taken);
            if (is_taken != (counts[c] <= 256 && is_oneshot_on())) {
                print_error("%s: one-shot %s\n", name,
                            is_taken ? "took" : "declined");
                failed++;
            }
        }
    }
    assert_int_equal(failed, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(classifiers_match_portable),
        cmocka_unit_test(fld_lookup_finds_every_name),
        cmocka_unit_test(scan_finds_the_empty_line),
        cmocka_unit_test(scan_stops_at_its_limit),
        cmocka_unit_test(oneshot_agrees_on_typical_heads),
        cmocka_unit_test(oneshot_declines_what_the_states_judge),
        cmocka_unit_test(oneshot_agrees_at_every_block_offset),
        cmocka_unit_test(oneshot_agrees_on_long_values),
        cmocka_unit_test(oneshot_agrees_on_many_fields),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
