/* test_http_resp.c - the response parser, table-driven. Each row is a byte
 * stream from a server, which responses answer HEAD, whether the server then
 * closes, and the transcript: H(...) per head with captures and flags,
 * B(...) with the de-chunked body of the message, M; per complete message,
 * EOF:<result> for nm_http_resp_eof, E:<code> on an error. Every row is fed
 * whole, one byte at a time and split at every offset. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "http_resp.h"
#include "transcript.h"

static void put_head(out_t *o, const nm_resp_t *r)
{
    static const char *const flag_names[] = {
        "etag",  "lm", "date",      "cl", "chunked", "cdelim",  "nobody",
        "close", "ka", "streaming", "ce", "cr",      "trailer", "trval"};
    put(o, "H(%d 1.%d", r->status, r->version_minor);
    if (r->etag_len) {
        put(o, " etag=");
        put_bytes(o, r->etag, r->etag_len);
    }
    if (r->last_modified_len) {
        put(o, " lm=");
        put_bytes(o, r->last_modified, r->last_modified_len);
    }
    if (r->date_len) {
        put(o, " date=");
        put_bytes(o, r->date, r->date_len);
    }
    if (r->flags & NM_RESP_HAS_CL)
        put(o, " cl=%llu", (unsigned long long)r->content_length);
    put(o, " len=%u", (unsigned)r->head_len);
    if (r->flags) {
        const char *sep = " {";
        for (unsigned b = 0; b < 14; b++)
            if (r->flags & (1u << b)) {
                put(o, "%s%s", sep, flag_names[b]);
                sep = ",";
            }
        put(o, "}");
    }
    put(o, ")");
}

/* Body bytes arrive in spans that depend on the split; the transcript
 * shows them joined, once per message. */
typedef struct body {
    char buf[4096];
    size_t len, total;
} body_t;

static void flush_body(out_t *o, body_t *b)
{
    if (b->total == 0)
        return;
    put(o, "B(");
    if (b->total > b->len)
        put(o, "[%zu bytes]", b->total);
    else
        put_bytes(o, b->buf, b->len);
    put(o, ")");
    b->len = b->total = 0;
}

/* Feeds in[0..len) as pieces (step bytes each, or [0,cut) and [cut,len)).
 * head_mask bit i: response i answers a HEAD request. */
static void run(const char *in, size_t len, size_t step, size_t cut,
                unsigned head_mask, bool then_eof, out_t *o)
{
    nm_resp_parser_t p;
    nm_resp_t resp;
    static body_t body;
    unsigned idx = 0;
    size_t off = 0, msg_start = 0;
    o->len = 0;
    o->buf[0] = '\0';
    body.len = body.total = 0;
    nm_http_resp_init(&p);
    nm_http_resp_expect_head(&p, head_mask & 1);
    memset(&resp, 0xA5, sizeof(resp));
    while (off < len) {
        size_t n = step ? step : (off < cut ? cut : len - off);
        if (n > len - off)
            n = len - off;
        const char *b = in + off;
        size_t left = n;
        for (;;) {
            nm_resp_event_t ev;
            long r = nm_http_resp_feed(&p, &resp, b, left, &ev);
            if (r < 0) {
                flush_body(o, &body);
                put(o, "E:%s", err_name(r));
                return;
            }
            b += r;
            left -= (size_t)r;
            if (ev == NM_RESP_EV_NONE)
                break;
            if (ev == NM_RESP_EV_HEAD_DONE) {
                /* head_len is exactly the bytes since the message began. */
                assert_int_equal(resp.head_len, (size_t)(b - in) - msg_start);
                if (resp.status < 200)
                    msg_start = (size_t)(b - in);
                put_head(o, &resp);
            } else if (ev == NM_RESP_EV_BODY) {
                assert_true(p.body_ptr >= in && p.body_ptr + p.body_len <= b);
                if (body.len + p.body_len <= sizeof(body.buf)) {
                    memcpy(body.buf + body.len, p.body_ptr, p.body_len);
                    body.len += p.body_len;
                }
                body.total += p.body_len;
            } else {
                flush_body(o, &body);
                put(o,
                    (resp.flags & NM_RESP_HAS_TRAILER) ? "M+trailer;" : "M;");
                msg_start = (size_t)(b - in);
                idx++;
                nm_http_resp_expect_head(&p, (head_mask >> idx) & 1);
            }
        }
        assert_int_equal(left, 0);
        off += n;
    }
    flush_body(o, &body);
    if (then_eof) {
        int r = nm_http_resp_eof(&p);
        if (r < 0)
            put(o, "EOF:E:%s", err_name(r));
        else
            put(o, "EOF:%s", r == NM_RESP_EV_MSG_DONE ? "M" : "NONE");
    }
}

typedef struct row {
    const char *name;
    const char *in;
    unsigned head_mask;
    bool then_eof;
    const char *want;
} row_t;

static int check_row(const row_t *row, size_t len, bool every_split)
{
    static out_t o;
    int bad = 0;
    const char *in = row->in;
    run(in, len, len ? len : 1, 0, row->head_mask, row->then_eof, &o);
    if (strcmp(o.buf, row->want) != 0) {
        print_error("row %s: whole input\n  want %s\n  got  %s\n", row->name,
                    row->want, o.buf);
        bad = 1;
    }
    run(in, len, 1, 0, row->head_mask, row->then_eof, &o);
    if (!bad && strcmp(o.buf, row->want) != 0) {
        print_error("row %s: byte by byte\n  want %s\n  got  %s\n", row->name,
                    row->want, o.buf);
        bad = 1;
    }
    for (size_t k = 0; every_split && k <= len && !bad; k++) {
        run(in, len, 0, k, row->head_mask, row->then_eof, &o);
        if (strcmp(o.buf, row->want) != 0) {
            print_error("row %s: split at %zu\n  want %s\n  got  %s\n",
                        row->name, k, row->want, o.buf);
            bad = 1;
        }
    }
    if (bad) {
        out_t e;
        e.len = 0;
        e.buf[0] = '\0';
        put_bytes(&e, in, len > 78 ? 78 : len);
        print_error("  input (%zu bytes): %s%s\n", len, e.buf,
                    len > 78 ? "..." : "");
    }
    return bad;
}

static int run_table(const char *table, const row_t *rows, size_t n)
{
    int failed = 0;
    for (size_t i = 0; i < n; i++)
        failed += check_row(&rows[i], strlen(rows[i].in), true);
    print_message("[ rows     ] %s: %zu rows, %d failed\n", table, n, failed);
    return failed;
}

#define ROWS(t) run_table(#t, t, sizeof(t) / sizeof(t[0]))

#define DATE "Tue, 25 Nov 2025 08:00:00 GMT"
#define LM "Mon, 24 Nov 2025 10:00:00 GMT"

/* ---- real-world servers ---- */

static const row_t real_world[] = {
    {"nginx_static_200",
     "HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: " DATE "\r\n"
     "Content-Type: text/html\r\nContent-Length: 5\r\nLast-Modified: " LM
     "\r\nConnection: keep-alive\r\nETag: \"6744f0e0-5\"\r\n"
     "Accept-Ranges: bytes\r\n\r\nhello",
     0, false,
     "H(200 1.1 etag=\"6744f0e0-5\" lm=" LM " date=" DATE
     " cl=5 len=234 {etag,lm,date,cl,ka})B(hello)M;"},
    {"nginx_304",
     "HTTP/1.1 304 Not Modified\r\nServer: nginx/1.22.1\r\nDate: " DATE
     "\r\nLast-Modified: " LM "\r\nConnection: keep-alive\r\n"
     "ETag: \"6744f0e0-5\"\r\n\r\n",
     0, false,
     "H(304 1.1 etag=\"6744f0e0-5\" lm=" LM " date=" DATE
     " len=178 {etag,lm,date,nobody,ka})M;"},
    {"apache_200_keepalive",
     "HTTP/1.1 200 OK\r\nDate: " DATE "\r\nServer: Apache/2.4.62 (Debian)\r\n"
     "Last-Modified: " LM "\r\nETag: \"29cd-5e0b1c0\"\r\n"
     "Accept-Ranges: bytes\r\nContent-Length: 3\r\nVary: Accept-Encoding\r\n"
     "Keep-Alive: timeout=5, max=100\r\nConnection: Keep-Alive\r\n"
     "Content-Type: text/html; charset=UTF-8\r\n\r\nabc",
     0, false,
     "H(200 1.1 etag=\"29cd-5e0b1c0\" lm=" LM " date=" DATE
     " cl=3 len=316 {etag,lm,date,cl,ka})B(abc)M;"},
    {"apache_gzip_chunked",
     "HTTP/1.1 200 OK\r\nDate: " DATE "\r\nServer: Apache\r\n"
     "ETag: \"29cd-5e0b1c0-gzip\"\r\nVary: Accept-Encoding\r\n"
     "Content-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n"
     "Content-Type: text/html\r\n\r\n"
     "a\r\n\x1f\x8b\x08\x08\xab\xcd\xef\x01\x02\x03\r\n0\r\n\r\n",
     0, false,
     "H(200 1.1 etag=\"29cd-5e0b1c0-gzip\" date=" DATE
     " len=199 {etag,date,chunked,ce})B(\\x1f\\x8b\\x08\\x08\\xab\\xcd\\xef"
     "\\x01\\x02\\x03)M;"},
    {"python_http_server_file_http10",
     "HTTP/1.0 200 OK\r\nServer: SimpleHTTP/0.6 Python/3.11.2\r\nDate: " DATE
     "\r\nContent-type: text/plain\r\nContent-Length: 6\r\nLast-Modified: " LM
     "\r\n\r\nhello\n",
     0, true,
     "H(200 1.0 lm=" LM " date=" DATE
     " cl=6 len=185 {lm,date,cl,close})B(hello\\x0a)M;EOF:NONE"},
    {"python_cgi_close_delimited",
     "HTTP/1.0 200 Script output follows\r\nServer: SimpleHTTP/0.6 "
     "Python/3.11.2\r\nDate: " DATE "\r\nContent-Type: text/plain\r\n\r\n"
     "line one\nline two\n",
     0, true,
     "H(200 1.0 date=" DATE
     " len=139 {date,cdelim,close})B(line one\\x0aline two\\x0a)EOF:M"},
    {"busybox_httpd",
     "HTTP/1.1 200 OK\r\nContent-type: text/html\r\nDate: " DATE
     "\r\nConnection: close\r\nAccept-Ranges: bytes\r\nLast-Modified: " LM
     "\r\nETag: \"6744f0e0-c\"\r\nContent-Length: 12\r\n\r\n<p>hello</p>",
     0, true,
     "H(200 1.1 etag=\"6744f0e0-c\" lm=" LM " date=" DATE
     " cl=12 len=208 {etag,lm,date,cl,close})B(<p>hello</p>)M;EOF:NONE"},
    {"cgi_chunked_with_ext_and_trailer",
     "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: "
     "chunked\r\nTrailer: X-Checksum\r\n\r\n5;name=val\r\nhello\r\n"
     "7\r\n, world\r\n0\r\nX-Checksum: abc\r\n\r\n",
     0, false, "H(200 1.1 len=94 {chunked})B(hello, world)M+trailer;"},
    {"lighttpd_head",
     "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nETag: "
     "\"123\"\r\nContent-Length: 1234\r\n\r\n",
     1, false, "H(200 1.1 etag=\"123\" cl=1234 len=79 {etag,cl,nobody})M;"},
    {"go_sse_stream",
     "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream; "
     "charset=utf-8\r\nCache-Control: no-cache\r\nTransfer-Encoding: "
     "chunked\r\n\r\n6\r\ndata:1\r\n",
     0, false, "H(200 1.1 len=120 {chunked,streaming})B(data:1)"},
    {"mjpeg_multipart_replace",
     "HTTP/1.0 200 OK\r\nContent-Type: multipart/x-mixed-replace;"
     "boundary=frame\r\n\r\n--frame\r\n",
     0, true,
     "H(200 1.0 len=75 {cdelim,close,streaming})B(--frame\\x0d\\x0a)EOF:M"},
    {"express_206_range",
     "HTTP/1.1 206 Partial Content\r\nAccept-Ranges: bytes\r\n"
     "Content-Range: bytes 0-3/100\r\nContent-Length: 4\r\nETag: "
     "W/\"64-abc\"\r\n\r\nabcd",
     0, false,
     "H(206 1.1 etag=W/\"64-abc\" cl=4 len=121 {etag,cl,cr})B(abcd)M;"},
};

/* ---- framing ---- */

static const row_t framing[] = {
    /* RFC 9112 §2.2: a bare LF ends a line; CGI heads relayed verbatim. */
    {"bare_lf_head_accepted", "HTTP/1.1 200 OK\nContent-Length: 0\n\n", 0,
     false, "H(200 1.1 cl=0 len=35 {cl})M;"},
    {"bare_lf_after_field_accepted", "HTTP/1.1 200 OK\r\nServer: x\n\r\nab", 0,
     false, "H(200 1.1 len=29 {cdelim,close})B(ab)"},
    {"cgi_lf_head_close_delimited",
     "HTTP/1.1 200 OK\r\nContent-Type: text/plain\n\nplain body\n", 0, false,
     "H(200 1.1 len=43 {cdelim,close})B(plain body\\x0a)"},
    {"status_204_no_body", "HTTP/1.1 204 No Content\r\n\r\n", 0, false,
     "H(204 1.1 len=27 {nobody})M;"},
    {"status_304_ignores_cl",
     "HTTP/1.1 304 Not Modified\r\nContent-Length: 100\r\n\r\n", 0, false,
     "H(304 1.1 cl=100 len=50 {cl,nobody})M;"},
    {"status_304_ignores_chunked",
     "HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n"
     "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
     0, false,
     "H(304 1.1 len=57 {chunked,nobody})M;H(200 1.1 cl=0 len=38 {cl})M;"},
    {"head_response_then_get_response",
     "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n"
     "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
     1, false,
     "H(200 1.1 cl=5 len=38 {cl,nobody})M;H(200 1.1 cl=5 len=38 "
     "{cl})B(hello)M;"},
    {"head_response_http10_no_cl",
     "HTTP/1.0 200 OK\r\nContent-Type: text/html\r\n\r\n", 1, true,
     "H(200 1.0 len=44 {nobody,close})M;EOF:NONE"},
    {"continue_then_final",
     "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: "
     "2\r\n\r\nok",
     0, false, "H(100 1.1 len=25 {nobody})H(200 1.1 cl=2 len=38 {cl})B(ok)M;"},
    {"early_hints_then_final",
     "HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n"
     "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
     0, false, "H(103 1.1 len=61 {nobody})H(200 1.1 cl=0 len=38 {cl})M;"},
    {"continue_then_head_response_keeps_head",
     "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: "
     "9\r\n\r\n",
     1, false,
     "H(100 1.1 len=25 {nobody})H(200 1.1 cl=9 len=38 {cl,nobody})M;"},
    {"cl_zero", "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 0, false,
     "H(200 1.1 cl=0 len=38 {cl})M;"},
    /* nm_cl_whole (whole values of 1 to 18 digits) against the states
     * (byte by byte), and what it leaves to them. */
    {"cl_leading_zeros", "HTTP/1.1 200 OK\r\nContent-Length: 002\r\n\r\nok", 0,
     false, "H(200 1.1 cl=2 len=40 {cl})B(ok)M;"},
    {"cl_18_digits",
     "HTTP/1.1 200 OK\r\nContent-Length: 999999999999999999\r\n\r\n", 0, false,
     "H(200 1.1 cl=999999999999999999 len=55 {cl})"},
    {"cl_19_digits",
     "HTTP/1.1 200 OK\r\nContent-Length: 1000000000000000000\r\n\r\n", 0, false,
     "H(200 1.1 cl=1000000000000000000 len=56 {cl})"},
    {"cl_trailing_ows", "HTTP/1.1 200 OK\r\nContent-Length: 2 \t\r\n\r\nok", 0,
     false, "H(200 1.1 cl=2 len=40 {cl})B(ok)M;"},
    {"cl_identical_lines",
     "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nok", 0,
     false, "H(200 1.1 cl=2 len=57 {cl})B(ok)M;"},
    {"cl_line_then_same_in_list",
     "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2, 2\r\n\r\n"
     "ok",
     0, false, "H(200 1.1 cl=2 len=60 {cl})B(ok)M;"},
    {"cl_identical_list", "HTTP/1.1 200 OK\r\nContent-Length: 2, 2\r\n\r\nok",
     0, false, "H(200 1.1 cl=2 len=41 {cl})B(ok)M;"},
    {"cl_incomplete_then_eof_is_error",
     "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", 0, true,
     "H(200 1.1 cl=10 len=39 {cl})B(abc)EOF:E:PARSE"},
    {"http11_no_framing_is_close_delimited",
     "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil close", 0, true,
     "H(200 1.1 len=45 {cdelim,close})B(until close)EOF:M"},
    {"close_delimited_empty_body", "HTTP/1.0 200 OK\r\n\r\n", 0, true,
     "H(200 1.0 len=19 {cdelim,close})EOF:M"},
    {"http10_keep_alive_with_cl",
     "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: "
     "1\r\n\r\nx",
     0, false, "H(200 1.0 cl=1 len=62 {cl,ka})B(x)M;"},
    {"http10_cl_without_keep_alive_closes",
     "HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\nx", 0, false,
     "H(200 1.0 cl=1 len=38 {cl,close})B(x)M;"},
    {"te_gzip_chunked_is_chunked",
     "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"
     "3\r\nabc\r\n0\r\n\r\n",
     0, false, "H(200 1.1 len=53 {chunked})B(abc)M;"},
    {"te_chunked_not_final_is_close_delimited",
     "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\nraw", 0, true,
     "H(200 1.1 len=53 {cdelim,close})B(raw)EOF:M"},
    {"te_gzip_only_is_close_delimited",
     "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nzz", 0, true,
     "H(200 1.1 len=44 {cdelim,close})B(zz)EOF:M"},
    {"chunked_upper_case_hex_and_ext",
     "HTTP/1.1 200 OK\r\nTransfer-Encoding: Chunked\r\n\r\n"
     "A;x=\"q;r\"\r\n0123456789\r\n0\r\n\r\n",
     0, false, "H(200 1.1 len=47 {chunked})B(0123456789)M;"},
    {"chunked_trailer_sets_flag",
     "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
     "1\r\na\r\n0\r\nETag: \"late\"\r\n\r\n",
     0, false, "H(200 1.1 len=47 {chunked})B(a)M+trailer;"},
    {"chunked_empty_body",
     "HTTP/1.1 200 OK\r\nTransfer-Encoding: "
     "chunked\r\n\r\n0\r\n\r\n",
     0, false, "H(200 1.1 len=47 {chunked})M;"},
    {"chunked_cut_short_eof_is_error",
     "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab", 0, true,
     "H(200 1.1 len=47 {chunked})B(ab)EOF:E:PARSE"},
    {"pipelined_cl_304_chunked",
     "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi"
     "HTTP/1.1 304 Not Modified\r\nETag: \"x\"\r\n\r\n"
     "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nyo\r\n0\r\n"
     "\r\n",
     0, true,
     "H(200 1.1 cl=2 len=38 {cl})B(hi)M;H(304 1.1 etag=\"x\" len=40 "
     "{etag,nobody})M;H(200 1.1 len=47 {chunked})B(yo)M;EOF:NONE"},
    {"eof_at_idle_is_none", "", 0, true, "EOF:NONE"},
    {"eof_in_head_is_error", "HTTP/1.1 200 OK\r\nContent-", 0, true,
     "EOF:E:PARSE"},
    {"eof_after_interim_is_error", "HTTP/1.1 100 Continue\r\n\r\n", 0, true,
     "H(100 1.1 len=25 {nobody})EOF:E:PARSE"},
    {"status_line_without_reason", "HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n",
     0, false, "H(200 1.1 cl=0 len=35 {cl})M;"},
    {"status_line_empty_reason", "HTTP/1.1 404 \r\nContent-Length: 0\r\n\r\n",
     0, false, "H(404 1.1 cl=0 len=36 {cl})M;"},
    {"reason_with_obs_text_and_tab",
     "HTTP/1.1 200 Tr\xe8s\tbien\r\nContent-Length: 0\r\n\r\n", 0, false,
     "H(200 1.1 cl=0 len=45 {cl})M;"},
};

/* ---- captures ---- */

static const row_t captures[] = {
    {"etag_ows_trimmed",
     "HTTP/1.1 304 Not Modified\r\nETag: \t \"x\" \t\r\n\r\n", 0, false,
     "H(304 1.1 etag=\"x\" len=44 {etag,nobody})M;"},
    {"etag_empty_value", "HTTP/1.1 304 Not Modified\r\nETag:\r\n\r\n", 0, false,
     "H(304 1.1 len=36 {etag,nobody})M;"},
    {"etag_repeated_keeps_first_flags_unsure",
     "HTTP/1.1 304 Not Modified\r\nETag: \"a\"\r\nEtag: \"b\"\r\n\r\n", 0,
     false, "H(304 1.1 etag=\"a\" len=51 {etag,nobody,trval})M;"},
    {"last_modified_repeated_flags_unsure",
     "HTTP/1.1 304 Not Modified\r\nLast-Modified: a\r\nlast-modified: "
     "b\r\n\r\n",
     0, false, "H(304 1.1 lm=a len=65 {lm,nobody,trval})M;"},
    {"date_repeated_keeps_first",
     "HTTP/1.1 204 No Content\r\nDate: a\r\nDate: b\r\n\r\n", 0, false,
     "H(204 1.1 date=a len=45 {date,nobody})M;"},
    {"names_any_case",
     "HTTP/1.1 204 No Content\r\nETAG: \"u\"\r\nLAST-MODIFIED: l\r\nDATE: "
     "d\r\nCONTENT-ENCODING: br\r\nCONNECTION: CLOSE\r\n\r\n",
     0, false,
     "H(204 1.1 etag=\"u\" lm=l date=d len=106 "
     "{etag,lm,date,nobody,close,ce})M;"},
    {"connection_list",
     "HTTP/1.1 204 No Content\r\nConnection: Keep-Alive, Upgrade\r\n\r\n", 0,
     false, "H(204 1.1 len=60 {nobody,ka})M;"},
    {"connection_close_and_keep_alive",
     "HTTP/1.1 204 No Content\r\nConnection: keep-alive\r\nConnection: "
     "close\r\n\r\n",
     0, false, "H(204 1.1 len=70 {nobody,close,ka})M;"},
    {"connection_one_token_any_case_with_ows",
     "HTTP/1.1 204 No Content\r\nConnection: \tClose \r\n\r\n", 0, false,
     "H(204 1.1 len=48 {nobody,close})M;"},
    {"connection_lookalikes_and_lists",
     "HTTP/1.1 204 No Content\r\nConnection: keep-alivex\r\nConnection: "
     "close-ish\r\nConnection: Upgrade, KEEP-ALIVE\r\n\r\n",
     0, false, "H(204 1.1 len=108 {nobody,ka})M;"},
    {"content_type_streaming_case_insensitive",
     "HTTP/1.1 204 No Content\r\nContent-Type: Text/Event-Stream\r\n\r\n", 0,
     false, "H(204 1.1 len=60 {nobody,streaming})M;"},
    {"content_type_streaming_space_before_params",
     "HTTP/1.1 204 No Content\r\nContent-Type: text/event-stream ; "
     "charset=utf-8\r\n\r\n",
     0, false, "H(204 1.1 len=76 {nobody,streaming})M;"},
    {"content_type_lookalikes_not_streaming",
     "HTTP/1.1 204 No Content\r\nContent-Type: text/event-streams\r\n"
     "Content-Type: text/html; x=text/event-stream\r\nContent-Type: "
     "multipart/mixed\r\n\r\n",
     0, false, "H(204 1.1 len=138 {nobody})M;"},
    {"content_type_streaming_in_a_later_element",
     "HTTP/1.1 204 No Content\r\nContent-Type: application/json, "
     "text/event-stream\r\n\r\n",
     0, false, "H(204 1.1 len=78 {nobody,streaming})M;"},
    {"content_type_other_types_not_streaming",
     "HTTP/1.1 204 No Content\r\nContent-Type: application/octet-stream\r\n"
     "Content-Type: \tMultipart/Mixed\r\n\r\n",
     0, false, "H(204 1.1 len=99 {nobody})M;"},
    {"content_encoding_and_range_presence",
     "HTTP/1.1 204 No Content\r\nContent-Encoding: gzip\r\nContent-Range: "
     "bytes */10\r\n\r\n",
     0, false, "H(204 1.1 len=78 {nobody,ce,cr})M;"},
    {"similar_names_ignored",
     "HTTP/1.1 204 No Content\r\nETags: a\r\nX-ETag: b\r\nDates: c\r\n"
     "Content-Lengths: 5\r\nContent-Typ: text/event-stream\r\n\r\n",
     0, false, "H(204 1.1 len=110 {nobody})M;"},
    {"captures_reset_per_response",
     "HTTP/1.1 200 OK\r\nETag: \"1\"\r\nContent-Length: 0\r\n\r\n"
     "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
     0, false,
     "H(200 1.1 etag=\"1\" cl=0 len=49 {etag,cl})M;H(200 1.1 cl=0 len=38 "
     "{cl})M;"},
};

/* ---- refused ---- */

static const row_t refused[] = {
    {"switching_protocols_unsupported",
     "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
     "Connection: Upgrade\r\n\r\n",
     0, false, "E:UNSUPPORTED"},
    {"cl_and_te",
     "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: "
     "chunked\r\n\r\n",
     0, false, "E:AMBIGUOUS"},
    {"cl_differing_lines",
     "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n", 0,
     false, "E:AMBIGUOUS"},
    {"cl_differing_list", "HTTP/1.1 200 OK\r\nContent-Length: 3,4\r\n\r\n", 0,
     false, "E:AMBIGUOUS"},
    {"cl_digits_then_letter", "HTTP/1.1 200 OK\r\nContent-Length: 12a\r\n\r\n",
     0, false, "E:AMBIGUOUS"},
    {"cl_lines_differ_in_last_digit",
     "HTTP/1.1 200 OK\r\nContent-Length: 12\r\nContent-Length: 13\r\n\r\n", 0,
     false, "E:AMBIGUOUS"},
    {"cl_sign", "HTTP/1.1 200 OK\r\nContent-Length: +2\r\n\r\n", 0, false,
     "E:AMBIGUOUS"},
    {"cl_empty", "HTTP/1.1 200 OK\r\nContent-Length:\r\n\r\n", 0, false,
     "E:AMBIGUOUS"},
    {"cl_with_letters", "HTTP/1.1 200 OK\r\nContent-Length: 12abc\r\n\r\n", 0,
     false, "E:AMBIGUOUS"},
    {"cl_overflow",
     "HTTP/1.1 200 OK\r\nContent-Length: 18446744073709551617\r\n\r\n", 0,
     false, "E:AMBIGUOUS"},
    {"te_in_http10",
     "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 0, false,
     "E:AMBIGUOUS"},
    {"te_chunked_twice",
     "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, chunked\r\n\r\n", 0, false,
     "E:AMBIGUOUS"},
    {"obs_fold", "HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n", 0, false,
     "E:AMBIGUOUS"},
    {"space_before_colon", "HTTP/1.1 200 OK\r\nContent-Length : 0\r\n\r\n", 0,
     false, "E:AMBIGUOUS"},
    {"ctl_in_value", "HTTP/1.1 200 OK\r\nETag: \"a\x02\"\r\n\r\n", 0, false,
     "E:PARSE"},
    {"http2_status", "HTTP/2 200\r\n\r\n", 0, false, "E:PARSE"},
    {"http_lower_case", "http/1.1 200 OK\r\n\r\n", 0, false, "E:PARSE"},
    {"icy_shoutcast", "ICY 200 OK\r\n\r\n", 0, false, "E:PARSE"},
    {"status_four_digits", "HTTP/1.1 2000 OK\r\n\r\n", 0, false, "E:PARSE"},
    {"status_two_digits", "HTTP/1.1 20 OK\r\n\r\n", 0, false, "E:PARSE"},
    {"status_below_100", "HTTP/1.1 099 Weird\r\n\r\n", 0, false, "E:PARSE"},
    {"status_above_599", "HTTP/1.1 600 Weird\r\n\r\n", 0, false, "E:PARSE"},
    {"empty_line_before_status", "\r\nHTTP/1.1 200 OK\r\n\r\n", 0, false,
     "E:PARSE"},
    {"ctl_in_reason", "HTTP/1.1 200 O\x01K\r\n\r\n", 0, false, "E:PARSE"},
    {"chunk_size_overflow",
     "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
     "fffffffffffffffff\r\n",
     0, false, "H(200 1.1 len=47 {chunked})E:PARSE"},
    {"chunk_missing_crlf_after_data",
     "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nab\r\n", 0,
     false, "H(200 1.1 len=47 {chunked})B(a)E:PARSE"},
    {"chunk_negative_size",
     "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n-1\r\n", 0, false,
     "H(200 1.1 len=47 {chunked})E:PARSE"},
    {"error_after_good_response",
     "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nxGARBAGE\r\n", 0, false,
     "H(200 1.1 cl=1 len=38 {cl})B(x)M;E:PARSE"},
    {"extra_crlf_after_body_refused",
     "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx\r\nHTTP/1.1 200 OK\r\n", 0,
     false, "H(200 1.1 cl=1 len=38 {cl})B(x)M;E:PARSE"},
};

static void parses_real_world_responses(void **state)
{
    (void)state;
    assert_int_equal(ROWS(real_world), 0);
}

static void frames_bodies_per_rfc9112(void **state)
{
    (void)state;
    assert_int_equal(ROWS(framing), 0);
}

static void captures_validators_and_flags(void **state)
{
    (void)state;
    assert_int_equal(ROWS(captures), 0);
}

static void refuses_ambiguous_and_non_http_responses(void **state)
{
    (void)state;
    assert_int_equal(ROWS(refused), 0);
}

/* ---- hostile inputs, built at run time ---- */

#define BIG (1u << 21)

static size_t cat(char *b, size_t at, const char *s)
{
    size_t n = strlen(s);
    memcpy(b + at, s, n);
    return at + n;
}

static size_t gen_10000_fields(char *b, size_t cap)
{
    size_t n = cat(b, 0, "HTTP/1.1 200 OK\r\n");
    for (int i = 0; i < 10000 && n + 32 < cap; i++)
        n += (size_t)snprintf(b + n, cap - n, "X-%d: v\r\n", i);
    return cat(b, n, "Content-Length: 0\r\n\r\n");
}

static size_t gen_mib_field_line(char *b, size_t cap)
{
    size_t n = cat(b, 0, "HTTP/1.1 200 OK\r\nSet-Cookie: ");
    (void)cap;
    memset(b + n, 'c', 1u << 20);
    n += 1u << 20;
    return cat(b, n, "\r\n\r\n");
}

static size_t gen_mib_reason(char *b, size_t cap)
{
    size_t n = cat(b, 0, "HTTP/1.1 200 ");
    (void)cap;
    memset(b + n, 'r', 1u << 20);
    n += 1u << 20;
    return cat(b, n, "\r\n\r\n");
}

static size_t gen_mib_close_delimited_body(char *b, size_t cap)
{
    size_t n = cat(b, 0, "HTTP/1.0 200 OK\r\n\r\n");
    (void)cap;
    memset(b + n, 'x', 1u << 20);
    return n + (1u << 20);
}

static size_t gen_mib_chunked_body(char *b, size_t cap)
{
    size_t n = cat(b, 0,
                   "HTTP/1.1 200 OK\r\nTransfer-Encoding: "
                   "chunked\r\n\r\n100000\r\n");
    (void)cap;
    memset(b + n, 'y', 1u << 20);
    n += 1u << 20;
    return cat(b, n, "\r\n0\r\n\r\n");
}

static size_t gen_huge_chunk(char *b, size_t cap)
{
    (void)cap;
    return cat(b, 0,
               "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
               "FFFFFFFFFFFFFFFF\r\nab");
}

static size_t gen_cl_max(char *b, size_t cap)
{
    (void)cap;
    return cat(b, 0,
               "HTTP/1.1 200 OK\r\nContent-Length: "
               "9223372036854775807\r\n\r\nab");
}

static size_t gen_long_etag(char *b, size_t cap)
{
    size_t n = cat(b, 0, "HTTP/1.1 304 Not Modified\r\nETag: \"");
    (void)cap;
    memset(b + n, 'e', 300);
    n += 300;
    return cat(b, n, "\"\r\n\r\n");
}

static size_t gen_long_last_modified(char *b, size_t cap)
{
    size_t n = cat(b, 0, "HTTP/1.1 304 Not Modified\r\nLast-Modified: ");
    (void)cap;
    memset(b + n, 'l', 100);
    n += 100;
    return cat(b, n, "\r\n\r\n");
}

static size_t gen_many_trailers(char *b, size_t cap)
{
    size_t n = cat(b, 0,
                   "HTTP/1.1 200 OK\r\nTransfer-Encoding: "
                   "chunked\r\n\r\n0\r\n");
    for (int i = 0; i < 10000 && n + 32 < cap; i++)
        n += (size_t)snprintf(b + n, cap - n, "T-%d: v\r\n", i);
    return cat(b, n, "\r\n");
}

/* nm_http_resp_take_done against an empty feed, before every byte of
 * input fed byte by byte: the same answer, the same parser after. */
static int take_done_agrees(const row_t *row)
{
    const char *in = row->in;
    size_t len = strlen(in), off = 0;
    nm_resp_parser_t p, a, b;
    static nm_resp_t resp;
    nm_http_resp_init(&p);
    memset(&resp, 0, sizeof(resp));
    for (bool is_fed = false;; is_fed = true) {
        a = p;
        b = p;
        nm_resp_event_t ev;
        long r = nm_http_resp_feed(&a, &resp, "", 0, &ev);
        bool want = r == 0 && ev == NM_RESP_EV_MSG_DONE;
        /* Before the first feed, feed's setting of the line offsets'
         * pointer is the one difference. */
        if (nm_http_resp_take_done(&b) != want ||
            (is_fed && memcmp(&a, &b, sizeof(a)) != 0)) {
            print_error("row %s: take_done differs at byte %zu\n", row->name,
                        off);
            return 1;
        }
        if (off == len)
            return 0;
        r = nm_http_resp_feed(&p, &resp, in + off, 1, &ev);
        if (r < 0 || (r == 0 && ev == NM_RESP_EV_NONE))
            return 0;
        off += (size_t)r;
    }
}

static void take_done_agrees_with_an_empty_feed(void **state)
{
    (void)state;
    const struct {
        const row_t *rows;
        size_t n;
    } tables[] = {
        {real_world, sizeof(real_world) / sizeof(real_world[0])},
        {framing, sizeof(framing) / sizeof(framing[0])},
        {captures, sizeof(captures) / sizeof(captures[0])},
        {refused, sizeof(refused) / sizeof(refused[0])},
    };
    int failed = 0;
    for (size_t t = 0; t < sizeof(tables) / sizeof(tables[0]); t++)
        for (size_t i = 0; i < tables[t].n; i++)
            failed += take_done_agrees(&tables[t].rows[i]);
    assert_int_equal(failed, 0);
}

typedef struct gen_row {
    const char *name;
    size_t (*gen)(char *buf, size_t cap);
    bool then_eof;
    const char *want;
} gen_row_t;

static const gen_row_t hostile[] = {
    {"ten_thousand_fields", gen_10000_fields, false, "E:TOO_LONG"},
    {"mib_field_line", gen_mib_field_line, false, "E:TOO_LONG"},
    {"mib_reason_phrase", gen_mib_reason, false, "E:TOO_LONG"},
    {"mib_close_delimited_body", gen_mib_close_delimited_body, true,
     "H(200 1.0 len=19 {cdelim,close})B([1048576 bytes])EOF:M"},
    {"mib_chunk", gen_mib_chunked_body, false,
     "H(200 1.1 len=47 {chunked})B([1048576 bytes])M;"},
    {"huge_chunk_size_waits", gen_huge_chunk, true,
     "H(200 1.1 len=47 {chunked})B(ab)EOF:E:PARSE"},
    {"cl_int63_max_waits", gen_cl_max, false,
     "H(200 1.1 cl=9223372036854775807 len=56 {cl})B(ab)"},
    {"long_etag_truncated", gen_long_etag, false,
     "H(304 1.1 etag=[256 bytes] len=339 {etag,nobody,trval})M;"},
    {"long_last_modified_truncated", gen_long_last_modified, false,
     "H(304 1.1 lm=llllllllllllllllllllllllllllllllllllllllllllllllllllllllll"
     "llllll len=146 {lm,nobody,trval})M;"},
    {"ten_thousand_trailer_fields", gen_many_trailers, false,
     "H(200 1.1 len=47 {chunked})E:TOO_LONG"},
};

static void refuses_hostile_sizes(void **state)
{
    char *buf = malloc(BIG);
    int failed = 0;
    size_t n = sizeof(hostile) / sizeof(hostile[0]);
    (void)state;
    assert_non_null(buf);
    for (size_t i = 0; i < n; i++) {
        row_t row = {hostile[i].name, buf, 0, hostile[i].then_eof,
                     hostile[i].want};
        size_t len = hostile[i].gen(buf, BIG);
        failed += check_row(&row, len, len < 4096);
    }
    print_message("[ rows     ] hostile: %zu rows, %d failed\n", n, failed);
    free(buf);
    assert_int_equal(failed, 0);
}

/* ---- skipping bodies the shim never reads (sendfile) ---- */

static void skip_follows_sendfile_bodies(void **state)
{
    static const struct {
        const char *name, *head, *after;
        uint64_t skippable, skip;
        int ev;
        const char *want_after;
    } rows[] = {
        {"cl_body_skipped_whole",
         "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n",
         "HTTP/1.1 204 No Content\r\n\r\n", 10, 10, NM_RESP_EV_MSG_DONE,
         "H(204 1.1 len=27 {nobody})M;"},
        {"cl_body_skipped_part",
         "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n", "6789", 10, 6,
         NM_RESP_EV_NONE, "B(6789)M;"},
        {"chunk_data_skipped",
         "HTTP/1.1 200 OK\r\nTransfer-Encoding: "
         "chunked\r\n\r\n5\r\n",
         "\r\n0\r\n\r\n", 5, 5, NM_RESP_EV_NONE, "M;"},
        {"close_delimited_unbounded", "HTTP/1.0 200 OK\r\n\r\n", "tail",
         UINT64_MAX, 1000, NM_RESP_EV_NONE, "B(tail)"},
        {"nothing_skippable_in_head", "HTTP/1.1 200 OK\r\n", "", 0, 0,
         NM_RESP_EV_NONE, ""},
    };
    size_t n = sizeof(rows) / sizeof(rows[0]);
    (void)state;
    for (size_t i = 0; i < n; i++) {
        nm_resp_parser_t p;
        nm_resp_t r;
        nm_resp_event_t ev;
        out_t o;
        const char *b = rows[i].head;
        size_t left = strlen(b);
        body_t body = {.len = 0, .total = 0};
        o.len = 0;
        o.buf[0] = '\0';
        nm_http_resp_init(&p);
        while (left) {
            long k = nm_http_resp_feed(&p, &r, b, left, &ev);
            assert_true(k >= 0);
            b += k;
            left -= (size_t)k;
        }
        if (nm_http_resp_skippable(&p) != rows[i].skippable)
            print_error("row %s: skippable\n", rows[i].name);
        assert_true(nm_http_resp_skippable(&p) == rows[i].skippable);
        assert_int_equal(nm_http_resp_skip(&p, rows[i].skip, &ev), 0);
        assert_int_equal(ev, rows[i].ev);
        b = rows[i].after;
        left = strlen(b);
        for (;;) {
            long k = nm_http_resp_feed(&p, &r, b, left, &ev);
            assert_true(k >= 0);
            b += k;
            left -= (size_t)k;
            if (ev == NM_RESP_EV_NONE)
                break;
            if (ev == NM_RESP_EV_HEAD_DONE)
                put_head(&o, &r);
            else if (ev == NM_RESP_EV_BODY) {
                memcpy(body.buf + body.len, p.body_ptr, p.body_len);
                body.len += p.body_len;
                body.total += p.body_len;
            } else {
                flush_body(&o, &body);
                put(&o, "M;");
            }
        }
        flush_body(&o, &body);
        if (strcmp(o.buf, rows[i].want_after) != 0)
            print_error("row %s\n  want %s\n  got  %s\n", rows[i].name,
                        rows[i].want_after, o.buf);
        assert_string_equal(o.buf, rows[i].want_after);
    }
    print_message("[ rows     ] skip: %zu rows, 0 failed\n", n);
}

static void skip_more_than_skippable_is_refused(void **state)
{
    nm_resp_parser_t p;
    nm_resp_t r;
    nm_resp_event_t ev;
    const char *h = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n";
    (void)state;
    nm_http_resp_init(&p);
    assert_int_equal(nm_http_resp_feed(&p, &r, h, strlen(h), &ev), strlen(h));
    assert_int_equal(nm_http_resp_skip(&p, 4, &ev), NM_E_INVAL);
}

/* Every byte value at every position of a 40-byte field value, for a
 * captured field (ETag) and a quiet one: the 16-byte block scan, its byte
 * tail and the whole-line fast path must all agree with the grammar
 * (field-vchar, SP, HTAB, obs-text; nothing else). Fed whole and in two
 * pieces split inside the value. */
static void checks_every_byte_of_long_values(void **state)
{
    (void)state;
    int failures = 0;
    const char *names[] = {"ETag", "X-Quiet"};
    for (int b = 0; b < 256; b++) {
        bool is_value = b == '\t' || (b >= 0x20 && b != 0x7f);
        for (size_t k = 0; k < 2; k++) {
            for (size_t at = 0; at < 40; at++) {
                /* A bare LF last ends the line (responses take it), and the
                 * CRLF after it is then the empty line. */
                bool want = is_value || (b == '\n' && at == 39);
                char h[160];
                int n =
                    snprintf(h, sizeof h, "HTTP/1.1 200 OK\r\n%s: ", names[k]);
                memset(h + n, 'a', 40);
                h[n + (int)at] = (char)b;
                static const char tail[] = "\r\nContent-Length: 0\r\n\r\n";
                memcpy(h + n + 40, tail, sizeof tail - 1);
                size_t len = (size_t)n + 40 + sizeof tail - 1;
                for (size_t cut = 0; cut <= 1; cut++) {
                    nm_resp_parser_t p;
                    static nm_resp_t r;
                    nm_resp_event_t ev = NM_RESP_EV_NONE;
                    nm_http_resp_init(&p);
                    size_t split = cut ? (size_t)n + at / 2 + 1 : len;
                    long u = nm_http_resp_feed(&p, &r, h, split, &ev);
                    if (u >= 0 && ev == NM_RESP_EV_NONE && split < len)
                        u = nm_http_resp_feed(&p, &r, h + u, len - (size_t)u,
                                              &ev);
                    bool ok = u >= 0 && ev == NM_RESP_EV_HEAD_DONE;
                    if (ok != want) {
                        print_error("%s byte 0x%02x at %zu cut %zu: %ld\n",
                                    names[k], b, at, cut, u);
                        failures++;
                    }
                }
            }
        }
    }
    assert_int_equal(failures, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(parses_real_world_responses),
        cmocka_unit_test(frames_bodies_per_rfc9112),
        cmocka_unit_test(captures_validators_and_flags),
        cmocka_unit_test(refuses_ambiguous_and_non_http_responses),
        cmocka_unit_test(take_done_agrees_with_an_empty_feed),
        cmocka_unit_test(refuses_hostile_sizes),
        cmocka_unit_test(skip_follows_sendfile_bodies),
        cmocka_unit_test(skip_more_than_skippable_is_refused),
        cmocka_unit_test(checks_every_byte_of_long_values),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
