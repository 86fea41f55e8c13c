/* test_resp304.c - the 304 built from real servers' 200 heads, byte for
 * byte: what is kept (verbatim, in order), what is dropped, the generated
 * Date, the extra lines, malformed heads and too-small buffers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "http_resp.h"
#include "resp304.h"

#define NOW 1700000000LL /* Tue, 14 Nov 2023 22:13:20 GMT */
#define GEN_DATE "Date: Tue, 14 Nov 2023 22:13:20 GMT\r\n"
#define LM "Last-Modified: Sun, 06 Nov 1994 08:49:37 GMT\r\n"
#define SRV_DATE "Date: Wed, 15 Nov 2023 10:00:00 GMT\r\n"
#define NM_TAG "ETag: \"nm-AAAAAAAAAAAAAAAAAAAAAA\"\r\n"

typedef struct build_row {
    const char *what;
    const char *head;
    const char *extra;
    const char *expected; /* the whole 304 */
} build_row_t;

static const build_row_t build_rows[] = {
    {"nginx_static_keeps_validators_drops_representation",
     "HTTP/1.1 200 OK\r\n"
     "Server: nginx/1.22.1\r\n" SRV_DATE "Content-Type: text/html\r\n"
     "Content-Length: 615\r\n" LM "Connection: keep-alive\r\n"
     "ETag: \"6553f1a0-267\"\r\n"
     "Accept-Ranges: bytes\r\n"
     "\r\n",
     "",
     "HTTP/1.1 304 Not Modified\r\n"
     "Server: nginx/1.22.1\r\n" SRV_DATE LM "Connection: keep-alive\r\n"
     "ETag: \"6553f1a0-267\"\r\n"
     "\r\n"},
    {"apache_gzip_keeps_vary_keepalive_drops_encoding",
     "HTTP/1.1 200 OK\r\n" SRV_DATE "Server: Apache/2.4.57 (Debian)\r\n" LM
     "ETag: \"29cd-5f8b1c2e3a4c0-gzip\"\r\n"
     "Accept-Ranges: bytes\r\n"
     "Vary: Accept-Encoding\r\n"
     "Content-Encoding: gzip\r\n"
     "Content-Length: 3082\r\n"
     "Keep-Alive: timeout=5, max=100\r\n"
     "Connection: Keep-Alive\r\n"
     "Content-Type: text/html\r\n"
     "\r\n",
     "",
     "HTTP/1.1 304 Not Modified\r\n" SRV_DATE
     "Server: Apache/2.4.57 (Debian)\r\n" LM
     "ETag: \"29cd-5f8b1c2e3a4c0-gzip\"\r\n"
     "Vary: Accept-Encoding\r\n"
     "Keep-Alive: timeout=5, max=100\r\n"
     "Connection: Keep-Alive\r\n"
     "\r\n"},
    {"python_http_server_http10_keeps_version_and_lm",
     "HTTP/1.0 200 OK\r\n"
     "Server: SimpleHTTP/0.6 Python/3.11.2\r\n" SRV_DATE
     "Content-type: text/html\r\n"
     "Content-Length: 123\r\n" LM "\r\n",
     NM_TAG,
     "HTTP/1.0 304 Not Modified\r\n"
     "Server: SimpleHTTP/0.6 Python/3.11.2\r\n" SRV_DATE LM NM_TAG "\r\n"},
    /* RFC 9112 §2.2: a bare LF ends a line. CGI heads relayed verbatim
     * use it; the 304 is written with CRLF throughout. */
    {"cgi_bare_lf_head_gives_crlf_304",
     "HTTP/1.1 200 OK\r\nContent-Type: text/plain\nETag: \"v1\"\n"
     "Cache-Control: max-age=60\n\n",
     "",
     "HTTP/1.1 304 Not Modified\r\nETag: \"v1\"\r\n"
     "Cache-Control: max-age=60\r\n" GEN_DATE "\r\n"},
    {"lf_only_status_line_and_fields",
     "HTTP/1.0 200 OK\nServer: x\nContent-Length: 3\n\n", NM_TAG,
     "HTTP/1.0 304 Not Modified\r\nServer: x\r\n" GEN_DATE NM_TAG "\r\n"},
    {"cgi_without_date_gets_date_then_extra_and_keeps_cookies",
     "HTTP/1.0 200 OK\r\n"
     "Content-Type: text/plain\r\n"
     "Set-Cookie: a=1; Path=/\r\n"
     "Set-Cookie: b=2; HttpOnly\r\n"
     "Cache-Control: max-age=60\r\n"
     "X-Powered-By: cgi\r\n"
     "\r\n",
     NM_TAG,
     "HTTP/1.0 304 Not Modified\r\n"
     "Set-Cookie: a=1; Path=/\r\n"
     "Set-Cookie: b=2; HttpOnly\r\n"
     "Cache-Control: max-age=60\r\n"
     "X-Powered-By: cgi\r\n" GEN_DATE NM_TAG "\r\n"},
    {"cgi_http11_no_date_no_extra_adds_date",
     "HTTP/1.1 200 OK\r\n"
     "Content-Type: text/plain\r\n"
     "\r\n",
     "", "HTTP/1.1 304 Not Modified\r\n" GEN_DATE "\r\n"},
    {"django_chunked_drops_framing_keeps_cache_fields",
     "HTTP/1.1 200 OK\r\n" SRV_DATE "Server: gunicorn\r\n"
     "Content-Type: application/json\r\n"
     "Transfer-Encoding: chunked\r\n"
     "Trailer: Server-Timing\r\n"
     "Content-Language: en\r\n"
     "Content-Disposition: inline\r\n"
     "Content-MD5: Q2hlY2sgSW50ZWdyaXR5IQ==\r\n"
     "Content-Digest: sha-256=:AAAA:\r\n"
     "Content-Location: /api/items.json\r\n"
     "Expires: Thu, 01 Dec 2033 16:00:00 GMT\r\n"
     "Cache-Control: private, max-age=0\r\n"
     "Vary: Cookie, Accept-Language\r\n"
     "X-Frame-Options: DENY\r\n"
     "set-cookie: csrftoken=abc; Path=/; SameSite=Lax\r\n"
     "ETag: W/\"d41d8cd9\"\r\n"
     "\r\n",
     "",
     "HTTP/1.1 304 Not Modified\r\n" SRV_DATE "Server: gunicorn\r\n"
     "Content-Location: /api/items.json\r\n"
     "Expires: Thu, 01 Dec 2033 16:00:00 GMT\r\n"
     "Cache-Control: private, max-age=0\r\n"
     "Vary: Cookie, Accept-Language\r\n"
     "X-Frame-Options: DENY\r\n"
     "set-cookie: csrftoken=abc; Path=/; SameSite=Lax\r\n"
     "ETag: W/\"d41d8cd9\"\r\n"
     "\r\n"},
    {"field_names_match_case_insensitively",
     "HTTP/1.1 200 OK\r\n"
     "CONTENT-LENGTH: 5\r\n"
     "content-type: x/y\r\n"
     "dAtE: Wed, 15 Nov 2023 10:00:00 GMT\r\n"
     "\r\n",
     "",
     "HTTP/1.1 304 Not Modified\r\n"
     "dAtE: Wed, 15 Nov 2023 10:00:00 GMT\r\n"
     "\r\n"},
    {"values_copied_verbatim_including_ows",
     "HTTP/1.1 200 OK\r\n"
     "ETag:\"a\"\r\n"
     "X-Odd:   spaced  value \t\r\n"
     "Cache-Control:\r\n" SRV_DATE "\r\n",
     "",
     "HTTP/1.1 304 Not Modified\r\n"
     "ETag:\"a\"\r\n"
     "X-Odd:   spaced  value \t\r\n"
     "Cache-Control:\r\n" SRV_DATE "\r\n"},
    {"extensions_and_security_headers_kept_in_order",
     "HTTP/1.1 200 OK\r\n"
     "Content-Security-Policy: default-src 'self'\r\n"
     "Strict-Transport-Security: max-age=63072000\r\n"
     "Content-Type: text/html\r\n"
     "Link: </s.css>; rel=preload\r\n"
     "Age: 0\r\n" SRV_DATE "\r\n",
     "",
     "HTTP/1.1 304 Not Modified\r\n"
     "Content-Security-Policy: default-src 'self'\r\n"
     "Strict-Transport-Security: max-age=63072000\r\n"
     "Link: </s.css>; rel=preload\r\n"
     "Age: 0\r\n" SRV_DATE "\r\n"},
    {"connection_close_kept",
     "HTTP/1.1 200 OK\r\nConnection: close\r\n" LM "\r\n", "",
     "HTTP/1.1 304 Not Modified\r\nConnection: close\r\n" LM GEN_DATE "\r\n"},
    {"missing_reason_phrase_accepted", "HTTP/1.1 200\r\n" SRV_DATE "\r\n", "",
     "HTTP/1.1 304 Not Modified\r\n" SRV_DATE "\r\n"},
    {"empty_reason_phrase_accepted", "HTTP/1.1 200 \r\n" SRV_DATE "\r\n", "",
     "HTTP/1.1 304 Not Modified\r\n" SRV_DATE "\r\n"},
    {"custom_reason_replaced", "HTTP/1.1 200 Alright then\r\n" SRV_DATE "\r\n",
     "", "HTTP/1.1 304 Not Modified\r\n" SRV_DATE "\r\n"},
    {"body_after_head_is_ignored",
     "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n" SRV_DATE "\r\nhello", "",
     "HTTP/1.1 304 Not Modified\r\n" SRV_DATE "\r\n"},
    {"date_in_extra_suppresses_generated_date",
     "HTTP/1.1 200 OK\r\nServer: x\r\n\r\n", SRV_DATE NM_TAG,
     "HTTP/1.1 304 Not Modified\r\nServer: x\r\n" SRV_DATE NM_TAG "\r\n"},
    {"extra_with_store_last_modified_appended",
     "HTTP/1.1 200 OK\r\n" SRV_DATE "\r\n", NM_TAG LM,
     "HTTP/1.1 304 Not Modified\r\n" SRV_DATE NM_TAG LM "\r\n"},
    {"no_fields_at_all", "HTTP/1.1 200 OK\r\n\r\n", "",
     "HTTP/1.1 304 Not Modified\r\n" GEN_DATE "\r\n"},
    /* An accelerated 304 (fresh.c): its Date and Age replace the stored
     * head's, whatever their case, every line of them. */
    {"extra_fields_replace_the_200s_of_their_name",
     "HTTP/1.1 200 OK\r\n" SRV_DATE "age: 1\r\nServer: x\r\nAge: 2\r\n\r\n",
     GEN_DATE "Age: 7\r\n",
     "HTTP/1.1 304 Not Modified\r\nServer: x\r\n" GEN_DATE "Age: 7\r\n\r\n"},
};

static void resp304_build_is_byte_exact_for_server_shapes(void **state)
{
    (void)state;
    int failures = 0;
    for (size_t i = 0; i < sizeof build_rows / sizeof build_rows[0]; i++) {
        const build_row_t *r = &build_rows[i];
        char out[2048];
        size_t want = strlen(r->expected);
        long n = nm_resp304_build(r->head, strlen(r->head), r->extra,
                                  strlen(r->extra), NOW, out, sizeof out);
        if (n != (long)want || memcmp(out, r->expected, want) != 0) {
            print_error("%s: head [%s] got %ld [%.*s] want %zu [%s]\n", r->what,
                        r->head, n, n > 0 ? (int)n : 0, out, want, r->expected);
            failures++;
            continue;
        }
        /* Every smaller buffer is refused; the exact size is enough. */
        for (size_t cap = 0; cap < want; cap++) {
            long m = nm_resp304_build(r->head, strlen(r->head), r->extra,
                                      strlen(r->extra), NOW, out, cap);
            if (m != NM_E_NOSPACE) {
                print_error("%s: cap %zu gave %ld, want NOSPACE\n", r->what,
                            cap, m);
                failures++;
                break;
            }
        }
        char exact[2048];
        if (nm_resp304_build(r->head, strlen(r->head), r->extra,
                             strlen(r->extra), NOW, exact,
                             want) != (long)want) {
            print_error("%s: exact-size buffer refused\n", r->what);
            failures++;
        }
    }
    assert_int_equal(failures, 0);
}

/* Parses head with the response parser, whole (step 0) or step bytes at a
 * time; fills *resp. True when the head was accepted. */
static bool parse_head(const char *head, size_t step, nm_resp_t *resp)
{
    nm_resp_parser_t p;
    nm_http_resp_init(&p);
    nm_http_resp_expect_head(&p, false);
    size_t len = strlen(head), at = 0;
    while (at < len) {
        size_t n = step == 0 || len - at < step ? len - at : step;
        nm_resp_event_t ev;
        long used = nm_http_resp_feed(&p, resp, head + at, n, &ev);
        if (used < 0)
            return false;
        at += (size_t)used;
        if (ev == NM_RESP_EV_HEAD_DONE)
            return at == len;
    }
    return false;
}

/* The shim's path: the same 304 from the line offsets the parser kept,
 * whatever the split the head arrived in. */
static void resp304_build_lines_matches_build(void **state)
{
    (void)state;
    int failures = 0, checked = 0;
    for (size_t i = 0; i < sizeof build_rows / sizeof build_rows[0]; i++) {
        const build_row_t *r = &build_rows[i];
        for (size_t step = 0; step <= 3; step++) {
            static nm_resp_t resp;
            if (!parse_head(r->head, step, &resp))
                continue; /* a head only build() takes */
            char out[2048];
            size_t want = strlen(r->expected);
            long n = nm_resp304_build_lines(
                r->head, resp.head_len, resp.line_start, resp.line_count,
                r->extra, strlen(r->extra), NOW, out, sizeof out);
            checked++;
            if (n != (long)want || memcmp(out, r->expected, want) != 0) {
                print_error("%s (step %zu): got %ld [%.*s] want [%s]\n",
                            r->what, step, n, n > 0 ? (int)n : 0, out,
                            r->expected);
                failures++;
            }
        }
    }
    assert_int_equal(failures, 0);
    assert_true(checked >= 4 * 10); /* the table is mostly parseable */
}

/* Offsets that cannot be the head's are refused, never read past it. */
static void resp304_build_lines_refuses_foreign_offsets(void **state)
{
    (void)state;
    const char *h = "HTTP/1.1 200 OK\r\nServer: x\r\n\r\n";
    char out[256];
    const uint32_t past[] = {17, 400};
    const uint32_t backwards[] = {25, 17};
    const uint32_t no_colon[] = {25}; /* "x" CRLF */
    assert_int_equal(nm_resp304_build_lines(h, strlen(h), past, 2, "", 0, NOW,
                                            out, sizeof out),
                     NM_E_INVAL);
    assert_int_equal(nm_resp304_build_lines(h, strlen(h), backwards, 2, "", 0,
                                            NOW, out, sizeof out),
                     NM_E_INVAL);
    assert_int_equal(nm_resp304_build_lines(h, strlen(h), no_colon, 1, "", 0,
                                            NOW, out, sizeof out),
                     NM_E_INVAL);
    assert_int_equal(
        nm_resp304_build_lines(h, 5, NULL, 0, "", 0, NOW, out, sizeof out),
        NM_E_INVAL);
}

typedef struct err_row {
    const char *what;
    const char *head;
    const char *extra;
    long rc;
} err_row_t;

static const err_row_t err_rows[] = {
    {"http2_status_line_rejected", "HTTP/2 200 OK\r\n\r\n", "", NM_E_PARSE},
    {"http09_rejected", "<html>\r\n\r\n", "", NM_E_PARSE},
    {"lowercase_http_rejected", "http/1.1 200 OK\r\n\r\n", "", NM_E_PARSE},
    {"icy_rejected", "ICY 200 OK\r\n\r\n", "", NM_E_PARSE},
    {"status_not_three_digits_rejected", "HTTP/1.1 20 OK\r\n\r\n", "",
     NM_E_PARSE},
    {"status_letters_rejected", "HTTP/1.1 2x0 OK\r\n\r\n", "", NM_E_PARSE},
    {"status_four_digits_rejected", "HTTP/1.1 2000 OK\r\n\r\n", "", NM_E_PARSE},
    {"bare_cr_in_value_rejected", "HTTP/1.1 200 OK\r\nX: a\rb\r\n\r\n", "",
     NM_E_PARSE},
    {"line_without_colon_rejected", "HTTP/1.1 200 OK\r\nServer x\r\n\r\n", "",
     NM_E_PARSE},
    {"obs_fold_rejected", "HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n", "",
     NM_E_PARSE},
    {"obs_fold_tab_rejected", "HTTP/1.1 200 OK\r\nX: a\r\n\tb\r\n\r\n", "",
     NM_E_PARSE},
    {"space_before_colon_rejected", "HTTP/1.1 200 OK\r\nServer : x\r\n\r\n", "",
     NM_E_PARSE},
    {"empty_field_name_rejected", "HTTP/1.1 200 OK\r\n: x\r\n\r\n", "",
     NM_E_PARSE},
    {"ctl_in_value_rejected", "HTTP/1.1 200 OK\r\nX: a\x01z\r\n\r\n", "",
     NM_E_PARSE},
    {"del_in_value_rejected", "HTTP/1.1 200 OK\r\nX: a\x7fz\r\n\r\n", "",
     NM_E_PARSE},
    {"missing_empty_line_rejected", "HTTP/1.1 200 OK\r\nServer: x\r\n", "",
     NM_E_PARSE},
    {"cut_mid_line_rejected", "HTTP/1.1 200 OK\r\nServ", "", NM_E_PARSE},
    {"empty_head_rejected", "", "", NM_E_PARSE},
    {"extra_without_crlf_invalid", "HTTP/1.1 200 OK\r\n\r\n", "ETag: \"a\"",
     NM_E_INVAL},
    {"extra_with_empty_line_invalid", "HTTP/1.1 200 OK\r\n\r\n",
     "ETag: \"a\"\r\n\r\n", NM_E_INVAL},
    {"extra_without_colon_invalid", "HTTP/1.1 200 OK\r\n\r\n", "ETag\r\n",
     NM_E_INVAL},
    /* fuzz: the extra block is copied verbatim, so a bare LF there would
     * reach the client (tests/fuzz/corpus/resp304/crash-extra-bare-lf). */
    {"extra_with_bare_lf_invalid", "HTTP/1.1 200 OK\r\n\r\n", "ETag: \"a\"\n",
     NM_E_INVAL},
    /* fuzz: extra lines are the caller's, but a framing field among them
     * would reach the client in a 304 (tests/fuzz/corpus/resp304/
     * crash-extra-content-length). */
    {"extra_with_content_length_invalid", "HTTP/1.1 200 OK\r\n\r\n",
     "Content-Length: 5\r\n", NM_E_INVAL},
    {"extra_with_transfer_encoding_invalid", "HTTP/1.1 200 OK\r\n\r\n",
     "ETag: \"a\"\r\nTransfer-Encoding: chunked\r\n", NM_E_INVAL},
    {"more_than_16_extra_lines_invalid", "HTTP/1.1 200 OK\r\n\r\n",
     "A: 1\r\nA: 1\r\nA: 1\r\nA: 1\r\nA: 1\r\nA: 1\r\nA: 1\r\nA: 1\r\n"
     "A: 1\r\nA: 1\r\nA: 1\r\nA: 1\r\nA: 1\r\nA: 1\r\nA: 1\r\nA: 1\r\n"
     "A: 1\r\n",
     NM_E_INVAL},
};

static void resp304_build_rejects_malformed_heads(void **state)
{
    (void)state;
    int failures = 0;
    for (size_t i = 0; i < sizeof err_rows / sizeof err_rows[0]; i++) {
        const err_row_t *r = &err_rows[i];
        char out[512];
        long n = nm_resp304_build(r->head, strlen(r->head), r->extra,
                                  strlen(r->extra), NOW, out, sizeof out);
        if (n != r->rc) {
            print_error("%s: head [%s] got %ld want %ld\n", r->what, r->head, n,
                        r->rc);
            failures++;
        }
        /* A parse error wins over a buffer that is too small. */
        n = nm_resp304_build(r->head, strlen(r->head), r->extra,
                             strlen(r->extra), NOW, out, 4);
        if (n != r->rc) {
            print_error("%s: small buffer got %ld want %ld\n", r->what, n,
                        r->rc);
            failures++;
        }
    }
    assert_int_equal(failures, 0);
}

typedef struct keep_row {
    const char *name;
    bool is_kept;
} keep_row_t;

static const keep_row_t keep_rows[] = {
    {"Content-Type", false},
    {"content-length", false},
    {"Content-Encoding", false},
    {"Content-Language", false},
    {"Content-Range", false},
    {"Content-MD5", false},
    {"Content-Disposition", false},
    {"Content-Digest", false},
    {"Transfer-Encoding", false},
    {"TRAILER", false},
    {"Accept-Ranges", false},
    {"Last-Modified", true},
    {"ETag", true},
    {"Date", true},
    {"Cache-Control", true},
    {"Content-Location", true},
    {"Expires", true},
    {"Vary", true},
    {"Set-Cookie", true},
    {"Connection", true},
    {"Keep-Alive", true},
    {"Server", true},
    {"Content-Security-Policy", true},
    {"Content-Typ", true},
    {"Content-Types", true},
    {"X-Custom", true},
    /* Each dropped name in any case, and its near misses: a byte other
     * than a letter's other case, in each word, first and last. */
    {"cONTENT-tYPE", false},
    {"CONTENT-LENGTH", false},
    {"content-encoding", false},
    {"Content-LANGUAGE", false},
    {"content-md5", false},
    {"Content-Disposition", false},
    {"Trailer", false},
    {"accept-RANGES", false},
    {"Content_Length", true},
    {"Content\rLength", true},
    {"Content-Lengtx", true},
    {"Dontent-Length", true},
    {"Content-MD%", true},
    {"Content-Rangez", true},
    {"Accept-Rangez", true},
    {"Trailers", true},
    {"Trailed", true},
    {"Transfer-Encodinh", true},
    {"Content-Disposition ", true},
    {"Content-Digesu", true},
};

static void resp304_keeps_field_exposes_the_drop_list(void **state)
{
    (void)state;
    int failures = 0;
    for (size_t i = 0; i < sizeof keep_rows / sizeof keep_rows[0]; i++) {
        const keep_row_t *r = &keep_rows[i];
        bool got = nm_resp304_keeps_field(r->name, strlen(r->name));
        if (got != r->is_kept) {
            print_error("name [%s] kept %d want %d\n", r->name, got,
                        r->is_kept);
            failures++;
        }
    }
    assert_false(nm_resp304_keeps_field("", 0));
    assert_int_equal(failures, 0);
}

/* Bad arguments are refused, not dereferenced. */
static void resp304_build_refuses_null_arguments(void **state)
{
    (void)state;
    char out[64];
    const char *h = "HTTP/1.1 200 OK\r\n\r\n";
    assert_int_equal(nm_resp304_build(NULL, 0, "", 0, NOW, out, sizeof out),
                     NM_E_INVAL);
    assert_int_equal(nm_resp304_build(h, strlen(h), NULL, 3, NOW, out, 64),
                     NM_E_INVAL);
    assert_int_equal(nm_resp304_build(h, strlen(h), NULL, 0, NOW, NULL, 0),
                     NM_E_NOSPACE);
    /* now outside years 0000-9999 cannot be formatted as Date. */
    assert_int_equal(
        nm_resp304_build(h, strlen(h), "", 0, 253402300800LL, out, 64),
        NM_E_INVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(resp304_build_is_byte_exact_for_server_shapes),
        cmocka_unit_test(resp304_build_lines_matches_build),
        cmocka_unit_test(resp304_build_lines_refuses_foreign_offsets),
        cmocka_unit_test(resp304_build_rejects_malformed_heads),
        cmocka_unit_test(resp304_keeps_field_exposes_the_drop_list),
        cmocka_unit_test(resp304_build_refuses_null_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
