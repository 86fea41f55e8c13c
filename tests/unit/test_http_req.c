/* test_http_req.c - the request parser, table-driven. Each row is an input
 * and the transcript the parser must produce: H(...) per head with its
 * captures and flags, M; per complete message, E:<code> on an error. Every
 * row is fed whole, one byte at a time and split at every offset; all
 * must give the same transcript. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "http_req.h"
#include "transcript.h"

static const char *method_name(nm_method_t m)
{
    static const char *const names[] = {"OTHER", "GET",    "HEAD",    "POST",
                                        "PUT",   "DELETE", "OPTIONS", "CONNECT",
                                        "TRACE", "PATCH"};
    return names[m];
}

static void put_head(out_t *o, const nm_req_t *r)
{
    static const char *const flag_names[] = {
        "inm",      "ims",    "im",      "ius",      "range",    "ifrange",
        "close",    "ka",     "upgrade", "continue", "imsmulti", "iusmulti",
        "trtarget", "trhost", "trcond",  "body"};
    put(o, "H(%s ", method_name(r->method));
    put_bytes(o, r->target, r->target_len);
    put(o, " 1.%d", r->version_minor);
    if (r->host_len) {
        put(o, " host=");
        put_bytes(o, r->host, r->host_len);
    }
    if (r->inm_len) {
        put(o, " inm=");
        put_bytes(o, r->inm, r->inm_len);
    }
    if (r->ims_len) {
        put(o, " ims=");
        put_bytes(o, r->ims, r->ims_len);
    }
    if (r->if_match_len) {
        put(o, " im=");
        put_bytes(o, r->if_match, r->if_match_len);
    }
    if (r->ius_len) {
        put(o, " ius=");
        put_bytes(o, r->ius, r->ius_len);
    }
    if (r->flags) {
        const char *sep = " {";
        for (unsigned b = 0; b < 16; b++)
            if (r->flags & (1u << b)) {
                put(o, "%s%s", sep, flag_names[b]);
                sep = ",";
            }
        put(o, "}");
    }
    put(o, ")");
}

/* Feeds in[0..len) as pieces: step bytes each when step > 0, else the two
 * pieces [0, cut) and [cut, len). Returns the transcript in *o. */
static void run(const char *in, size_t len, size_t step, size_t cut, out_t *o)
{
    nm_req_parser_t p;
    nm_req_t req;
    size_t off = 0;
    o->len = 0;
    o->buf[0] = '\0';
    nm_http_req_init(&p);
    memset(&req, 0xA5, sizeof(req)); /* the parser must not rely on zeros */
    while (off < len || off == 0) {
        size_t n = step ? step : (off < cut ? cut : len - off);
        if (n > len - off)
            n = len - off;
        const char *b = in + off;
        size_t left = n;
        for (;;) {
            nm_req_event_t ev;
            long r = nm_http_req_feed(&p, &req, b, left, &ev);
            if (r < 0) {
                put(o, "E:%s", err_name(r));
                return;
            }
            b += r;
            left -= (size_t)r;
            if (ev == NM_REQ_EV_NONE)
                break;
            if (ev == NM_REQ_EV_HEAD_DONE)
                put_head(o, &req);
            else
                put(o, "M;");
        }
        assert_int_equal(left, 0);
        off += n;
        if (len == 0)
            break;
    }
}

/* Rows leave in_len out unless their input holds NUL bytes. */
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

typedef struct row {
    const char *name;
    const char *in;
    const char *want;
    size_t in_len; /* 0: strlen(in) */
} row_t;

static int check_row(const char *name, const char *in, size_t len,
                     const char *want, bool every_split)
{
    static out_t o;
    int bad = 0;
    size_t cuts = every_split ? len + 1 : 0;
    run(in, len, len ? len : 1, 0, &o);
    if (strcmp(o.buf, want) != 0) {
        print_error("row %s: whole input\n  want %s\n  got  %s\n", name, want,
                    o.buf);
        bad = 1;
    }
    run(in, len, 1, 0, &o);
    if (!bad && strcmp(o.buf, want) != 0) {
        print_error("row %s: byte by byte\n  want %s\n  got  %s\n", name, want,
                    o.buf);
        bad = 1;
    }
    for (size_t k = 0; k < cuts && !bad; k++) {
        run(in, len, 0, k, &o);
        if (strcmp(o.buf, want) != 0) {
            print_error("row %s: split at %zu\n  want %s\n  got  %s\n", name, k,
                        want, o.buf);
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
    for (size_t i = 0; i < n; i++) {
        size_t len = rows[i].in_len ? rows[i].in_len : strlen(rows[i].in);
        failed += check_row(rows[i].name, rows[i].in, len, rows[i].want, true);
    }
    print_message("[ rows     ] %s: %zu rows, %d failed\n", table, n, failed);
    return failed;
}

/* A row whose input holds NUL bytes. */
#define BIN(name, lit, want)                                                   \
    {                                                                          \
        name, lit, want, sizeof(lit) - 1                                       \
    }

#define ROWS(t) run_table(#t, t, sizeof(t) / sizeof(t[0]))

/* ---- real-world requests ---- */

static const row_t real_world[] = {
    {"curl_get",
     "GET / HTTP/1.1\r\nHost: localhost:8080\r\nUser-Agent: curl/7.88.1\r\n"
     "Accept: */*\r\n\r\n",
     "H(GET / 1.1 host=localhost:8080)M;"},
    {"curl_conditional_etag",
     "GET /index.html HTTP/1.1\r\nHost: example.com\r\nUser-Agent: "
     "curl/7.88.1\r\nAccept: */*\r\nIf-None-Match: \"6744f0e0-267\"\r\n\r\n",
     "H(GET /index.html 1.1 host=example.com inm=\"6744f0e0-267\" {inm})M;"},
    {"curl_head",
     "HEAD /big.iso HTTP/1.1\r\nHost: h\r\nUser-Agent: curl/8.5.0\r\n\r\n",
     "H(HEAD /big.iso 1.1 host=h)M;"},
    {"firefox_revalidation",
     "GET /static/app.css?v=3 HTTP/1.1\r\n"
     "Host: www.example.org\r\n"
     "User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 "
     "Firefox/128.0\r\n"
     "Accept: text/css,*/*;q=0.1\r\n"
     "Accept-Language: en-US,en;q=0.5\r\n"
     "Accept-Encoding: gzip, deflate, br, zstd\r\n"
     "Connection: keep-alive\r\n"
     "Referer: http://www.example.org/\r\n"
     "If-Modified-Since: Mon, 24 Nov 2025 10:00:00 GMT\r\n"
     "If-None-Match: W/\"1a2b-3c4d\"\r\n"
     "Priority: u=2\r\n"
     "Cache-Control: max-age=0\r\n\r\n",
     "H(GET /static/app.css?v=3 1.1 host=www.example.org inm=W/\"1a2b-3c4d\" "
     "ims=Mon, 24 Nov 2025 10:00:00 GMT {inm,ims,ka})M;"},
    {"chrome_revalidation",
     "GET /img/logo.png HTTP/1.1\r\n"
     "Host: 127.0.0.1:8000\r\n"
     "Connection: keep-alive\r\n"
     "sec-ch-ua: \"Chromium\";v=\"131\", \"Not_A Brand\";v=\"24\"\r\n"
     "sec-ch-ua-mobile: ?0\r\n"
     "sec-ch-ua-platform: \"Linux\"\r\n"
     "User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, "
     "like Gecko) Chrome/131.0.0.0 Safari/537.36\r\n"
     "Accept: image/avif,image/webp,image/apng,*/*;q=0.8\r\n"
     "Sec-Fetch-Site: same-origin\r\n"
     "Sec-Fetch-Mode: no-cors\r\n"
     "Accept-Encoding: gzip, deflate, br, zstd\r\n"
     "If-None-Match: \"abc\"\r\n"
     "If-Modified-Since: Sun, 06 Nov 1994 08:49:37 GMT\r\n\r\n",
     "H(GET /img/logo.png 1.1 host=127.0.0.1:8000 inm=\"abc\" ims=Sun, 06 Nov "
     "1994 08:49:37 GMT {inm,ims,ka})M;"},
    {"wget_http10",
     "GET /file.txt HTTP/1.0\r\nUser-Agent: Wget/1.21.3\r\nAccept: */*\r\n"
     "Host: files\r\nConnection: Keep-Alive\r\n\r\n",
     "H(GET /file.txt 1.0 host=files {ka})M;"},
    {"python_requests_post_json",
     "POST /api/items HTTP/1.1\r\nHost: api\r\nUser-Agent: "
     "python-requests/2.31.0\r\nAccept-Encoding: gzip, deflate\r\nAccept: "
     "*/*\r\nConnection: keep-alive\r\nContent-Length: 13\r\nContent-Type: "
     "application/json\r\n\r\n{\"name\": \"x\"}",
     "H(POST /api/items 1.1 host=api {ka,body})M;"},
    {"curl_post_expect_continue",
     "PUT /upload HTTP/1.1\r\nHost: u\r\nContent-Length: 3\r\nExpect: "
     "100-continue\r\n\r\nabc",
     "H(PUT /upload 1.1 host=u {continue,body})M;"},
    {"websocket_upgrade",
     "GET /chat HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: "
     "websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: "
     "dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
     "H(GET /chat 1.1 host=server.example.com {upgrade})M;"},
    {"apache_bench_http10",
     "GET / HTTP/1.0\r\nHost: ab\r\nUser-Agent: "
     "ApacheBench/2.3\r\nAccept: */*\r\n\r\n",
     "H(GET / 1.0 host=ab)M;"},
    {"range_request",
     "GET /video.mp4 HTTP/1.1\r\nHost: v\r\nRange: bytes=0-1023\r\nIf-Range: "
     "\"v1\"\r\n\r\n",
     "H(GET /video.mp4 1.1 host=v {range,ifrange})M;"},
    {"if_match_and_ius",
     "PUT /doc HTTP/1.1\r\nHost: d\r\nIf-Match: \"v7\"\r\nIf-Unmodified-Since: "
     "Sat, 29 Oct 1994 19:43:31 GMT\r\nContent-Length: 0\r\n\r\n",
     "H(PUT /doc 1.1 host=d im=\"v7\" ius=Sat, 29 Oct 1994 19:43:31 GMT "
     "{im,ius})M;"},
};

/* ---- captures and their rules ---- */

static const row_t captures[] = {
    {"names_lower_case",
     "GET / HTTP/1.1\r\nhost: a\r\nif-none-match: \"x\"\r\n\r\n",
     "H(GET / 1.1 host=a inm=\"x\" {inm})M;"},
    {"names_any_case",
     "GET / HTTP/1.1\r\nHOST: a\r\nIf-NONE-match: \"x\"\r\nIF-MODIFIED-SINCE: "
     "d\r\n\r\n",
     "H(GET / 1.1 host=a inm=\"x\" ims=d {inm,ims})M;"},
    {"value_ows_trimmed",
     "GET / HTTP/1.1\r\nHost: \t a.example \t \r\nIf-None-Match:\t\"x\"  "
     "\r\n\r\n",
     "H(GET / 1.1 host=a.example inm=\"x\" {inm})M;"},
    {"value_inner_space_kept",
     "GET / HTTP/1.1\r\nIf-None-Match: \"a\" ,  \"b\" "
     "\r\n\r\n",
     "H(GET / 1.1 inm=\"a\" ,  \"b\" {inm})M;"},
    {"inm_empty_is_present", "GET / HTTP/1.1\r\nIf-None-Match:\r\n\r\n",
     "H(GET / 1.1 {inm})M;"},
    {"inm_blank_is_present", "GET / HTTP/1.1\r\nIf-None-Match:   \r\n\r\n",
     "H(GET / 1.1 {inm})M;"},
    {"inm_star", "GET / HTTP/1.1\r\nIf-None-Match: *\r\n\r\n",
     "H(GET / 1.1 inm=* {inm})M;"},
    {"inm_repeated_lines_joined",
     "GET / HTTP/1.1\r\nIf-None-Match: \"a\"\r\nIf-None-Match: \"b\", "
     "\"c\"\r\n\r\n",
     "H(GET / 1.1 inm=\"a\", \"b\", \"c\" {inm})M;"},
    {"inm_repeated_after_empty_no_leading_comma",
     "GET / HTTP/1.1\r\nIf-None-Match: \r\nIf-None-Match: \"b\"\r\n\r\n",
     "H(GET / 1.1 inm=\"b\" {inm})M;"},
    {"inm_repeated_empty_second_adds_nothing",
     "GET / HTTP/1.1\r\nIf-None-Match: \"a\"\r\nIf-None-Match:\r\n\r\n",
     "H(GET / 1.1 inm=\"a\" {inm})M;"},
    {"inm_comma_inside_tag_kept",
     "GET / HTTP/1.1\r\nIf-None-Match: \"a,b\", W/\"c\"\r\n\r\n",
     "H(GET / 1.1 inm=\"a,b\", W/\"c\" {inm})M;"},
    {"if_match_repeated_joined",
     "GET / HTTP/1.1\r\nIf-Match: \"a\"\r\nIf-Match: \"b\"\r\n\r\n",
     "H(GET / 1.1 im=\"a\", \"b\" {im})M;"},
    {"ims_repeated_sets_multi_keeps_first",
     "GET / HTTP/1.1\r\nIf-Modified-Since: one\r\nIf-Modified-Since: "
     "two\r\n\r\n",
     "H(GET / 1.1 ims=one {ims,imsmulti})M;"},
    {"ius_repeated_sets_multi",
     "GET / HTTP/1.1\r\nIf-Unmodified-Since: one\r\nIf-Unmodified-Since: "
     "two\r\n\r\n",
     "H(GET / 1.1 ius=one {ius,iusmulti})M;"},
    {"obs_text_in_value_kept",
     "GET / HTTP/1.1\r\nIf-None-Match: \"\xc3\xa9\"\r\n\r\n",
     "H(GET / 1.1 inm=\"\\xc3\\xa9\" {inm})M;"},
    {"similar_names_ignored",
     "GET / HTTP/1.1\r\nHosts: x\r\nHost-Name: y\r\nX-Host: z\r\nHos: "
     "w\r\nIf-None-Match-X: v\r\nIf-None: u\r\nContent-Lengthy: 5\r\n"
     "Ranges: a\r\nRang: b\r\nConnections: close\r\nTransfer-Encodings: "
     "x\r\n\r\n",
     "H(GET / 1.1)M;"},
    {"names_sharing_prefixes",
     "GET / HTTP/1.1\r\nIf-Range: a\r\nIf-Match: b\r\nIf-Modified-Since: "
     "c\r\nIf-None-Match: d\r\nIf-Unmodified-Since: e\r\n\r\n",
     "H(GET / 1.1 inm=d ims=c im=b ius=e {inm,ims,im,ius,ifrange})M;"},
    {"conn_close", "GET / HTTP/1.1\r\nConnection: close\r\n\r\n",
     "H(GET / 1.1 {close})M;"},
    {"conn_list_any_case_both",
     "GET / HTTP/1.1\r\nConnection: Keep-Alive , TE,CLOSE\r\n\r\n",
     "H(GET / 1.1 {close,ka})M;"},
    {"conn_tokens_on_two_lines",
     "GET / HTTP/1.1\r\nConnection: te\r\nConnection: close\r\n\r\n",
     "H(GET / 1.1 {close})M;"},
    {"conn_lookalike_tokens_ignored",
     "GET / HTTP/1.1\r\nConnection: closed, keep alive, keep-alive2, "
     "clos\r\n\r\n",
     "H(GET / 1.1)M;"},
    {"expect_case_insensitive",
     "POST / HTTP/1.1\r\nExpect: 100-Continue\r\nContent-Length: 1\r\n\r\nx",
     "H(POST / 1.1 {continue,body})M;"},
    {"expect_other_ignored", "GET / HTTP/1.1\r\nExpect: 100-continuex\r\n\r\n",
     "H(GET / 1.1)M;"},
    {"absolute_form_target",
     "GET http://example.com:81/a/b?c=d#e HTTP/1.1\r\nHost: "
     "example.com:81\r\n\r\n",
     "H(GET http://example.com:81/a/b?c=d#e 1.1 host=example.com:81)M;"},
    {"asterisk_form_options", "OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n",
     "H(OPTIONS * 1.1 host=h)M;"},
    {"authority_form_connect",
     "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n",
     "H(CONNECT example.com:443 1.1 host=example.com:443)M;"},
    {"methods_recognised",
     "DELETE /a HTTP/1.1\r\n\r\nTRACE /b HTTP/1.1\r\n\r\nPATCH /c "
     "HTTP/1.1\r\nContent-Length: 0\r\n\r\n",
     "H(DELETE /a 1.1)M;H(TRACE /b 1.1)M;H(PATCH /c 1.1)M;"},
    {"methods_case_sensitive_and_extension",
     "get / HTTP/1.1\r\n\r\nPROPFIND /d HTTP/1.1\r\n\r\nGETS / "
     "HTTP/1.1\r\n\r\n",
     "H(OTHER / 1.1)M;H(OTHER /d 1.1)M;H(OTHER / 1.1)M;"},
    {"no_fields_at_all", "GET / HTTP/1.1\r\n\r\n", "H(GET / 1.1)M;"},
    {"http11_minor_digit_kept", "GET / HTTP/1.1\r\n\r\nGET / HTTP/1.0\r\n\r\n",
     "H(GET / 1.1)M;H(GET / 1.0)M;"},
    {"empty_lines_before_request_ignored",
     "\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", "H(GET / 1.1 host=a)M;"},
    {"empty_value_other_field", "GET / HTTP/1.1\r\nX-Empty:\r\nHost: a\r\n\r\n",
     "H(GET / 1.1 host=a)M;"},
    {"captures_reset_between_requests",
     "GET /1 HTTP/1.1\r\nHost: a\r\nIf-None-Match: \"x\"\r\nConnection: "
     "close\r\n\r\nGET /2 HTTP/1.1\r\n\r\n",
     "H(GET /1 1.1 host=a inm=\"x\" {inm,close})M;H(GET /2 1.1)M;"},
};

/* ---- bodies and pipelining ---- */

static const row_t bodies[] = {
    {"pipelined_three_gets",
     "GET /a HTTP/1.1\r\nHost: h\r\n\r\nGET /b HTTP/1.1\r\nHost: "
     "h\r\nIf-None-Match: \"b\"\r\n\r\nHEAD /c HTTP/1.1\r\nHost: h\r\n\r\n",
     "H(GET /a 1.1 host=h)M;H(GET /b 1.1 host=h inm=\"b\" {inm})M;H(HEAD /c "
     "1.1 host=h)M;"},
    {"cl_body_skipped_then_next",
     "POST /f HTTP/1.1\r\nContent-Length: 10\r\n\r\nGET / "
     "HTTPGET /n HTTP/1.1\r\n\r\n",
     "H(POST /f 1.1 {body})M;H(GET /n 1.1)M;"},
    {"cl_zero_no_body", "POST / HTTP/1.1\r\nContent-Length: 0\r\n\r\n",
     "H(POST / 1.1)M;"},
    {"cl_leading_zeros", "POST / HTTP/1.1\r\nContent-Length: 003\r\n\r\nabc",
     "H(POST / 1.1 {body})M;"},
    {"cl_identical_list_accepted",
     "POST / HTTP/1.1\r\nContent-Length: 5, 5\r\n\r\nhelloGET / "
     "HTTP/1.1\r\n\r\n",
     "H(POST / 1.1 {body})M;H(GET / 1.1)M;"},
    {"cl_identical_lines_accepted",
     "POST / HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nhi",
     "H(POST / 1.1 {body})M;"},
    {"cl_body_incomplete_no_msg_done",
     "POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc",
     "H(POST / 1.1 {body})"},
    {"cl_max_int63_head_ok",
     "POST / HTTP/1.1\r\nContent-Length: 9223372036854775807\r\n\r\nab",
     "H(POST / 1.1 {body})"},
    {"chunked_body_skipped",
     "POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n"
     "6\r\n world\r\n0\r\n\r\nGET /n HTTP/1.1\r\n\r\n",
     "H(POST /c 1.1 {body})M;H(GET /n 1.1)M;"},
    {"chunked_extensions_and_trailers",
     "POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
     "4;name=value;q=\"a;b\"\r\nwiki\r\n5 ; x\r\npedia\r\n"
     "0;last\r\nExpires: Wed, 21 Oct 2015 07:28:00 GMT\r\nX-Sum: 1\r\n\r\n"
     "GET /n HTTP/1.1\r\n\r\n",
     "H(POST /c 1.1 {body})M;H(GET /n 1.1)M;"},
    {"chunked_hex_sizes_any_case",
     "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\na\r\n0123456789\r\n"
     "A\r\n0123456789\r\n00\r\n\r\n",
     "H(POST / 1.1 {body})M;"},
    {"te_gzip_then_chunked_accepted",
     "POST / HTTP/1.1\r\nTransfer-Encoding: gzip, "
     "chunked\r\n\r\n1\r\nz\r\n0\r\n"
     "\r\n",
     "H(POST / 1.1 {body})M;"},
    {"te_two_lines_chunked_last",
     "POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: "
     "Chunked\r\n\r\n0\r\n\r\n",
     "H(POST / 1.1 {body})M;"},
    {"chunked_incomplete_no_msg_done",
     "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel",
     "H(POST / 1.1 {body})"},
    {"get_with_body_skipped",
     "GET /q HTTP/1.1\r\nContent-Length: 4\r\n\r\n\r\n\r\nGET /r "
     "HTTP/1.1\r\n\r\n",
     "H(GET /q 1.1 {body})M;H(GET /r 1.1)M;"},
    {"empty_line_between_pipelined",
     "GET /a HTTP/1.1\r\n\r\n\r\nGET /b HTTP/1.1\r\n\r\n",
     "H(GET /a 1.1)M;H(GET /b 1.1)M;"},
    {"error_in_second_request_after_first",
     "GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\nBad Name: x\r\n\r\n",
     "H(GET /a 1.1)M;E:AMBIGUOUS"},
};

/* ---- refused: ambiguity and non-HTTP ---- */

static const row_t refused[] = {
    {"cl_and_te",
     "POST / HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: "
     "chunked\r\n\r\n",
     "E:AMBIGUOUS"},
    {"te_and_cl",
     "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: "
     "5\r\n\r\n",
     "E:AMBIGUOUS"},
    {"cl_differing_lines",
     "POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
     "E:AMBIGUOUS"},
    {"cl_differing_list", "POST / HTTP/1.1\r\nContent-Length: 5, 6\r\n\r\n",
     "E:AMBIGUOUS"},
    {"cl_empty_element", "POST / HTTP/1.1\r\nContent-Length: 5,\r\n\r\n",
     "E:AMBIGUOUS"},
    {"cl_empty", "POST / HTTP/1.1\r\nContent-Length:\r\n\r\n", "E:AMBIGUOUS"},
    {"cl_letters", "POST / HTTP/1.1\r\nContent-Length: abc\r\n\r\n",
     "E:AMBIGUOUS"},
    {"cl_negative", "POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
     "E:AMBIGUOUS"},
    {"cl_plus_sign", "POST / HTTP/1.1\r\nContent-Length: +5\r\n\r\n",
     "E:AMBIGUOUS"},
    {"cl_hex", "POST / HTTP/1.1\r\nContent-Length: 0x10\r\n\r\n",
     "E:AMBIGUOUS"},
    {"cl_space_inside", "POST / HTTP/1.1\r\nContent-Length: 1 2\r\n\r\n",
     "E:AMBIGUOUS"},
    {"cl_2_pow_63_overflows",
     "POST / HTTP/1.1\r\nContent-Length: 9223372036854775808\r\n\r\n",
     "E:AMBIGUOUS"},
    {"cl_2_pow_64_overflows",
     "POST / HTTP/1.1\r\nContent-Length: 18446744073709551616\r\n\r\n",
     "E:AMBIGUOUS"},
    {"cl_huge_digits_overflow",
     "POST / HTTP/1.1\r\nContent-Length: "
     "99999999999999999999999999999999999999\r\n\r\n",
     "E:AMBIGUOUS"},
    {"te_chunked_not_final",
     "POST / HTTP/1.1\r\nTransfer-Encoding: chunked, "
     "gzip\r\n\r\n",
     "E:AMBIGUOUS"},
    {"te_gzip_only", "POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n",
     "E:AMBIGUOUS"},
    {"te_chunked_twice",
     "POST / HTTP/1.1\r\nTransfer-Encoding: chunked, "
     "chunked\r\n\r\n",
     "E:AMBIGUOUS"},
    {"te_chunked_twice_two_lines",
     "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: "
     "chunked\r\n\r\n",
     "E:AMBIGUOUS"},
    {"te_chunked_with_params",
     "POST / HTTP/1.1\r\nTransfer-Encoding: "
     "chunked;x=1\r\n\r\n",
     "E:AMBIGUOUS"},
    {"te_lookalike", "POST / HTTP/1.1\r\nTransfer-Encoding: xchunked\r\n\r\n",
     "E:AMBIGUOUS"},
    {"te_empty_value", "POST / HTTP/1.1\r\nTransfer-Encoding:\r\n\r\n",
     "E:AMBIGUOUS"},
    {"te_in_http10",
     "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
     "E:AMBIGUOUS"},
    {"obs_fold", "GET / HTTP/1.1\r\nX-A: b\r\n c\r\n\r\n", "E:AMBIGUOUS"},
    {"obs_fold_tab", "GET / HTTP/1.1\r\nHost: a\r\n\tb\r\n\r\n", "E:AMBIGUOUS"},
    {"space_before_first_field", "GET / HTTP/1.1\r\n Host: a\r\n\r\n",
     "E:AMBIGUOUS"},
    {"bare_lf_field_line", "GET / HTTP/1.1\r\nHost: a\nX: b\r\n\r\n",
     "E:AMBIGUOUS"},
    {"bare_lf_request_line", "GET / HTTP/1.1\nHost: a\r\n\r\n", "E:AMBIGUOUS"},
    {"bare_lf_end_of_head", "GET / HTTP/1.1\r\nHost: a\r\n\n", "E:AMBIGUOUS"},
    {"bare_lf_before_request", "\nGET / HTTP/1.1\r\n\r\n", "E:AMBIGUOUS"},
    {"space_before_colon", "GET / HTTP/1.1\r\nHost : a\r\n\r\n", "E:AMBIGUOUS"},
    {"tab_before_colon_cl", "POST / HTTP/1.1\r\nContent-Length\t: 5\r\n\r\n",
     "E:AMBIGUOUS"},
    {"duplicate_host", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
     "E:AMBIGUOUS"},
    {"bare_cr_in_value", "GET / HTTP/1.1\r\nHost: a\rb\r\n\r\n", "E:PARSE"},
    BIN("nul_in_value", "GET / HTTP/1.1\r\nHost: a\0b\r\n\r\n", "E:PARSE"),
    {"ctl_in_value", "GET / HTTP/1.1\r\nIf-None-Match: \"a\x01\"\r\n\r\n",
     "E:PARSE"},
    {"del_in_value", "GET / HTTP/1.1\r\nX: a\x7f\r\n\r\n", "E:PARSE"},
    BIN("nul_in_name", "GET / HTTP/1.1\r\nHo\0st: a\r\n\r\n", "E:PARSE"),
    {"no_colon", "GET / HTTP/1.1\r\nHost\r\n\r\n", "E:PARSE"},
    {"empty_name", "GET / HTTP/1.1\r\n: a\r\n\r\n", "E:PARSE"},
    BIN("tls_client_hello",
        "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\xd9\x1b", "E:PARSE"),
    {"http2_preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "E:PARSE"},
    {"http09_request", "GET /\r\n", "E:PARSE"},
    {"http09_request_lf", "GET /\n", "E:PARSE"},
    {"version_lower_case", "GET / http/1.1\r\n\r\n", "E:PARSE"},
    {"version_two_digits", "GET / HTTP/1.10\r\n\r\n", "E:PARSE"},
    {"version_2", "GET / HTTP/2\r\n\r\n", "E:PARSE"},
    {"double_space_after_method", "GET  / HTTP/1.1\r\n\r\n", "E:PARSE"},
    {"space_after_version", "GET / HTTP/1.1 \r\n\r\n", "E:PARSE"},
    {"tab_separator", "GET\t/ HTTP/1.1\r\n\r\n", "E:PARSE"},
    {"no_target", "GET HTTP/1.1\r\n\r\n", "E:PARSE"},
    {"leading_space_request_line", " GET / HTTP/1.1\r\n\r\n", "E:PARSE"},
    {"ctl_in_target", "GET /a\x01 HTTP/1.1\r\n\r\n", "E:PARSE"},
    {"cr_not_followed_by_lf_before_request", "\r\rGET / HTTP/1.1\r\n\r\n",
     "E:PARSE"},
    {"chunk_size_overflow",
     "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
     "10000000000000000\r\n",
     "H(POST / 1.1 {body})E:PARSE"},
    {"chunk_size_not_hex",
     "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
     "H(POST / 1.1 {body})E:PARSE"},
    {"chunk_size_empty",
     "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n\r\n",
     "H(POST / 1.1 {body})E:PARSE"},
    {"chunk_data_without_crlf",
     "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n",
     "H(POST / 1.1 {body})E:PARSE"},
    {"chunk_size_bare_lf",
     "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\nab\r\n",
     "H(POST / 1.1 {body})E:AMBIGUOUS"},
    BIN("chunk_ext_nul",
        "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2;a\0\r\nab\r\n",
        "H(POST / 1.1 {body})E:PARSE"),
    {"chunk_size_space_then_garbage",
     "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2 x\r\nab\r\n",
     "H(POST / 1.1 {body})E:PARSE"},
    {"chunk_trailer_obs_fold",
     "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX: a\r\n "
     "b\r\n\r\n",
     "H(POST / 1.1 {body})E:AMBIGUOUS"},
    {"error_is_sticky",
     "GET / HTTP/1.1\r\nHost : a\r\n\r\nGET / HTTP/1.1\r\n\r\n", "E:AMBIGUOUS"},
};

static void parses_real_world_requests(void **state)
{
    (void)state;
    assert_int_equal(ROWS(real_world), 0);
}

static void captures_follow_field_rules(void **state)
{
    (void)state;
    assert_int_equal(ROWS(captures), 0);
}

static void skips_bodies_and_finds_pipelined_requests(void **state)
{
    (void)state;
    assert_int_equal(ROWS(bodies), 0);
}

static void refuses_ambiguous_and_non_http_input(void **state)
{
    (void)state;
    assert_int_equal(ROWS(refused), 0);
}

/* ---- hostile inputs, built at run time ---- */

typedef struct gen_row {
    const char *name;
    size_t (*gen)(char *buf, size_t cap);
    const char *want;
} gen_row_t;

#define BIG (1u << 21)

static size_t cat(char *b, size_t at, const char *s)
{
    size_t n = strlen(s);
    memcpy(b + at, s, n);
    return at + n;
}

static size_t gen_10000_fields(char *b, size_t cap)
{
    size_t n = cat(b, 0, "GET / HTTP/1.1\r\n");
    for (int i = 0; i < 10000 && n + 32 < cap; i++)
        n += (size_t)snprintf(b + n, cap - n, "X-%d: v\r\n", i);
    return cat(b, n, "\r\n");
}

static size_t gen_256_fields_ok(char *b, size_t cap)
{
    size_t n = cat(b, 0, "GET / HTTP/1.1\r\n");
    for (int i = 0; i < 255; i++)
        n += (size_t)snprintf(b + n, cap - n, "X-%d: v\r\n", i);
    n = cat(b, n, "Host: last\r\n\r\n");
    return n;
}

static size_t gen_mib_field_line(char *b, size_t cap)
{
    size_t n = cat(b, 0, "GET / HTTP/1.1\r\nX-Big: ");
    (void)cap;
    memset(b + n, 'a', 1u << 20);
    n += 1u << 20;
    return cat(b, n, "\r\n\r\n");
}

static size_t gen_mib_field_name(char *b, size_t cap)
{
    size_t n = cat(b, 0, "GET / HTTP/1.1\r\n");
    (void)cap;
    memset(b + n, 'h', 1u << 20);
    n += 1u << 20;
    return cat(b, n, ": v\r\n\r\n");
}

static size_t gen_mib_target(char *b, size_t cap)
{
    size_t n = cat(b, 0, "GET /");
    (void)cap;
    memset(b + n, 'p', 1u << 20);
    n += 1u << 20;
    return cat(b, n, " HTTP/1.1\r\n\r\n");
}

static size_t gen_mib_method(char *b, size_t cap)
{
    (void)cap;
    memset(b, 'G', 1u << 20);
    return cat(b, 1u << 20, " / HTTP/1.1\r\n\r\n");
}

static size_t gen_mib_empty_lines(char *b, size_t cap)
{
    size_t n = 0;
    (void)cap;
    while (n < (1u << 20))
        n = cat(b, n, "\r\n");
    return cat(b, n, "GET / HTTP/1.1\r\n\r\n");
}

static size_t gen_head_just_under_limit(char *b, size_t cap)
{
    /* Exactly NM_REQ_HEAD_MAX bytes of head: accepted. */
    size_t n = cat(b, 0, "GET / HTTP/1.1\r\nX: ");
    size_t fill = NM_REQ_HEAD_MAX - n - 4;
    (void)cap;
    memset(b + n, 'v', fill);
    n += fill;
    return cat(b, n, "\r\n\r\n");
}

static size_t gen_head_one_over_limit(char *b, size_t cap)
{
    size_t n = cat(b, 0, "GET / HTTP/1.1\r\nX: ");
    size_t fill = NM_REQ_HEAD_MAX - n - 3;
    (void)cap;
    memset(b + n, 'v', fill);
    n += fill;
    return cat(b, n, "\r\n\r\n");
}

static size_t gen_long_target_truncated(char *b, size_t cap)
{
    size_t n = cat(b, 0, "GET /");
    (void)cap;
    memset(b + n, 't', 2000);
    n += 2000;
    return cat(b, n, " HTTP/1.1\r\nHost: a\r\n\r\n");
}

static size_t gen_long_inm_truncated(char *b, size_t cap)
{
    size_t n = cat(b, 0, "GET / HTTP/1.1\r\nIf-None-Match: \"");
    (void)cap;
    memset(b + n, 'e', 600);
    n += 600;
    return cat(b, n, "\"\r\n\r\n");
}

static size_t gen_inm_join_overflows(char *b, size_t cap)
{
    size_t n = cat(b, 0, "GET / HTTP/1.1\r\n");
    (void)cap;
    for (int i = 0; i < 40; i++)
        n = cat(b, n, "If-None-Match: \"0123456789\"\r\n");
    return cat(b, n, "\r\n");
}

static size_t gen_long_host_truncated(char *b, size_t cap)
{
    size_t n = cat(b, 0, "GET / HTTP/1.1\r\nHost: ");
    (void)cap;
    memset(b + n, 'h', 300);
    n += 300;
    return cat(b, n, "\r\n\r\n");
}

static size_t gen_huge_chunk(char *b, size_t cap)
{
    (void)cap;
    return cat(b, 0,
               "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
               "7fffffffffffffff\r\nabc");
}

static size_t gen_chunk_leading_zeros(char *b, size_t cap)
{
    size_t n =
        cat(b, 0, "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n");
    (void)cap;
    memset(b + n, '0', 100);
    n += 100;
    return cat(b, n, "1\r\nx\r\n0\r\n\r\n");
}

static size_t gen_chunk_ext_too_long(char *b, size_t cap)
{
    size_t n =
        cat(b, 0, "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1;");
    (void)cap;
    memset(b + n, 'x', 100000);
    n += 100000;
    return cat(b, n, "\r\nx\r\n0\r\n\r\n");
}

static size_t gen_many_trailers(char *b, size_t cap)
{
    size_t n = cat(b, 0,
                   "POST / HTTP/1.1\r\nTransfer-Encoding: "
                   "chunked\r\n\r\n0\r\n");
    for (int i = 0; i < 10000 && n + 32 < cap; i++)
        n += (size_t)snprintf(b + n, cap - n, "T-%d: v\r\n", i);
    return cat(b, n, "\r\n");
}

static const gen_row_t hostile[] = {
    {"ten_thousand_fields", gen_10000_fields, "E:TOO_LONG"},
    {"fields_max_exactly_ok", gen_256_fields_ok, "H(GET / 1.1 host=last)M;"},
    {"mib_field_line", gen_mib_field_line, "E:TOO_LONG"},
    {"mib_field_name", gen_mib_field_name, "E:TOO_LONG"},
    {"mib_target", gen_mib_target, "E:TOO_LONG"},
    {"mib_method", gen_mib_method, "E:TOO_LONG"},
    {"mib_empty_lines_before_request", gen_mib_empty_lines, "E:TOO_LONG"},
    {"head_exactly_at_limit_ok", gen_head_just_under_limit, "H(GET / 1.1)M;"},
    {"head_one_byte_over_limit", gen_head_one_over_limit, "E:TOO_LONG"},
    {"long_target_truncated", gen_long_target_truncated,
     "H(GET [1024 bytes] 1.1 host=a {trtarget})M;"},
    {"long_inm_truncated", gen_long_inm_truncated,
     "H(GET / 1.1 inm=[512 bytes] {inm,trcond})M;"},
    {"inm_join_overflows_capture", gen_inm_join_overflows,
     "H(GET / 1.1 inm=[512 bytes] {inm,trcond})M;"},
    {"long_host_truncated", gen_long_host_truncated,
     "H(GET / 1.1 host=[256 bytes] {trhost})M;"},
    {"huge_chunk_size_waits", gen_huge_chunk, "H(POST / 1.1 {body})"},
    {"chunk_size_leading_zeros_ok", gen_chunk_leading_zeros,
     "H(POST / 1.1 {body})M;"},
    {"chunk_ext_too_long", gen_chunk_ext_too_long,
     "H(POST / 1.1 {body})E:TOO_LONG"},
    {"ten_thousand_trailer_fields", gen_many_trailers,
     "H(POST / 1.1 {body})E:TOO_LONG"},
};

static void refuses_hostile_sizes(void **state)
{
    char *buf = malloc(BIG);
    int failed = 0;
    size_t n = sizeof(hostile) / sizeof(hostile[0]);
    (void)state;
    assert_non_null(buf);
    for (size_t i = 0; i < n; i++) {
        size_t len = hostile[i].gen(buf, BIG);
        /* Every split of a megabyte is a trillion bytes; whole, byte by
         * byte and split at every offset for the small ones. */
        failed +=
            check_row(hostile[i].name, buf, len, hostile[i].want, len < 4096);
    }
    print_message("[ rows     ] hostile: %zu rows, %d failed\n", n, failed);
    free(buf);
    assert_int_equal(failed, 0);
}

/* ---- API edges ---- */

static void method_table_maps_tokens(void **state)
{
    static const struct {
        const char *s;
        nm_method_t m;
    } rows[] = {
        {"GET", NM_METHOD_GET},         {"HEAD", NM_METHOD_HEAD},
        {"POST", NM_METHOD_POST},       {"PUT", NM_METHOD_PUT},
        {"DELETE", NM_METHOD_DELETE},   {"OPTIONS", NM_METHOD_OPTIONS},
        {"CONNECT", NM_METHOD_CONNECT}, {"TRACE", NM_METHOD_TRACE},
        {"PATCH", NM_METHOD_PATCH},     {"get", NM_METHOD_OTHER},
        {"GETX", NM_METHOD_OTHER},      {"", NM_METHOD_OTHER},
    };
    size_t n = sizeof(rows) / sizeof(rows[0]);
    (void)state;
    for (size_t i = 0; i < n; i++) {
        if (nm_http_method(rows[i].s, strlen(rows[i].s)) != rows[i].m)
            print_error("row \"%s\"\n", rows[i].s);
        assert_int_equal(nm_http_method(rows[i].s, strlen(rows[i].s)),
                         rows[i].m);
    }
    print_message("[ rows     ] methods: %zu rows, 0 failed\n", n);
}

static void msg_done_follows_head_done_with_empty_feed(void **state)
{
    nm_req_parser_t p;
    nm_req_t r;
    nm_req_event_t ev;
    const char *in = "GET / HTTP/1.1\r\n\r\n";
    (void)state;
    nm_http_req_init(&p);
    assert_int_equal(nm_http_req_feed(&p, &r, in, strlen(in), &ev), strlen(in));
    assert_int_equal(ev, NM_REQ_EV_HEAD_DONE);
    assert_int_equal(nm_http_req_feed(&p, &r, NULL, 0, &ev), 0);
    assert_int_equal(ev, NM_REQ_EV_MSG_DONE);
    assert_int_equal(nm_http_req_feed(&p, &r, NULL, 0, &ev), 0);
    assert_int_equal(ev, NM_REQ_EV_NONE);
    assert_int_equal(nm_http_req_feed(NULL, &r, in, 1, &ev), NM_E_INVAL);
}

static void head_done_stops_before_next_request(void **state)
{
    nm_req_parser_t p;
    nm_req_t r;
    nm_req_event_t ev;
    const char *in = "GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\n";
    (void)state;
    nm_http_req_init(&p);
    assert_int_equal(nm_http_req_feed(&p, &r, in, strlen(in), &ev), 19);
    assert_int_equal(ev, NM_REQ_EV_HEAD_DONE);
    assert_int_equal(r.target_len, 2);
    assert_memory_equal(r.target, "/a", 2);
}

/* nm_http_req_take_done against an empty feed, before every byte of a
 * table's input fed byte by byte: the same answer, the same parser. */
static int take_done_agrees(const row_t *row)
{
    size_t len = row->in_len ? row->in_len : strlen(row->in), off = 0;
    nm_req_parser_t p, a, b;
    static nm_req_t req;
    nm_http_req_init(&p);
    memset(&req, 0, sizeof(req));
    for (;;) {
        a = p;
        b = p;
        nm_req_event_t ev;
        long r = nm_http_req_feed(&a, &req, "", 0, &ev);
        bool want = r == 0 && ev == NM_REQ_EV_MSG_DONE;
        if (nm_http_req_take_done(&b) != want ||
            memcmp(&a, &b, sizeof(a)) != 0) {
            print_error("row %s: take_done differs at byte %zu\n", row->name,
                        off);
            return 1;
        }
        if (off == len)
            return 0;
        r = nm_http_req_feed(&p, &req, row->in + off, 1, &ev);
        if (r < 0 || (r == 0 && ev == NM_REQ_EV_NONE))
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
        {captures, sizeof(captures) / sizeof(captures[0])},
        {bodies, sizeof(bodies) / sizeof(bodies[0])},
        {refused, sizeof(refused) / sizeof(refused[0])},
    };
    int failed = 0;
    for (size_t t = 0; t < sizeof(tables) / sizeof(tables[0]); t++)
        for (size_t i = 0; i < tables[t].n; i++)
            failed += take_done_agrees(&tables[t].rows[i]);
    assert_int_equal(failed, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(parses_real_world_requests),
        cmocka_unit_test(captures_follow_field_rules),
        cmocka_unit_test(skips_bodies_and_finds_pipelined_requests),
        cmocka_unit_test(refuses_ambiguous_and_non_http_input),
        cmocka_unit_test(refuses_hostile_sizes),
        cmocka_unit_test(method_table_maps_tokens),
        cmocka_unit_test(msg_done_follows_head_done_with_empty_feed),
        cmocka_unit_test(take_done_agrees_with_an_empty_feed),
        cmocka_unit_test(head_done_stops_before_next_request),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
