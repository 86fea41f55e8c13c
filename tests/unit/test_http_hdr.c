/* test_http_hdr.c - the head scanner over a complete block, table-driven:
 * iteration transcripts, find/count by name, list-token lookups. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "http_hdr.h"

/* ---- iteration: "name=value|" per field, "END@<pos>" or "ERR" ---- */

static void iterate(const char *block, char *out, size_t cap)
{
    size_t pos = 0, n = 0, len = strlen(block);
    nm_hdr_field_t f;
    int rc;
    out[0] = '\0';
    while ((rc = nm_hdr_next(block, len, &pos, &f)) == 1) {
        /* The line slice must be the name through its line end. */
        assert_ptr_equal(f.line.ptr, f.name.ptr);
        assert_memory_equal(f.line.ptr + f.line.len - 1, "\n", 1);
        n += (size_t)snprintf(out + n, cap - n, "%.*s=%.*s|", (int)f.name.len,
                              f.name.ptr, (int)f.value.len, f.value.ptr);
    }
    if (rc == 0)
        snprintf(out + n, cap - n, "END@%zu", pos);
    else
        snprintf(out + n, cap - n, "ERR");
}

static void next_iterates_fields_in_order(void **state)
{
    static const struct {
        const char *name, *block, *want;
    } rows[] = {
        {"two_fields", "HTTP/1.1 200 OK\r\nA: 1\r\nB: 2\r\n\r\nbody",
         "A=1|B=2|END@31"},
        {"request_line_skipped", "GET / HTTP/1.1\r\nHost: x\r\n\r\n",
         "Host=x|END@27"},
        {"no_fields", "HTTP/1.1 204 No Content\r\n\r\n", "END@27"},
        {"ows_trimmed_both_sides", "HTTP/1.1 200 OK\r\nA: \t v w \t\r\n\r\n",
         "A=v w|END@31"},
        {"empty_value", "HTTP/1.1 200 OK\r\nA:\r\nB:  \r\n\r\n",
         "A=|B=|END@29"},
        {"no_space_after_colon", "HTTP/1.1 200 OK\r\nA:1\r\n\r\n",
         "A=1|END@24"},
        {"colon_in_value", "HTTP/1.1 200 OK\r\nLocation: http://a:8/\r\n\r\n",
         "Location=http://a:8/|END@42"},
        {"repeated_fields_each_reported",
         "HTTP/1.1 200 OK\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\n\r\n",
         "Set-Cookie=a=1|Set-Cookie=b=2|END@53"},
        {"block_without_empty_line", "HTTP/1.1 200 OK\r\nA: 1\r\n",
         "A=1|END@23"},
        {"obs_fold_refused", "HTTP/1.1 200 OK\r\nA: 1\r\n 2\r\n\r\n",
         "A=1|ERR"},
        {"space_before_colon_refused", "HTTP/1.1 200 OK\r\nA : 1\r\n\r\n",
         "ERR"},
        /* CGI heads relayed verbatim end lines with LF (RFC 9112 §2.2). */
        {"bare_lf_line_end_accepted", "HTTP/1.1 200 OK\r\nA: 1\nB: 2\r\n\r\n",
         "A=1|B=2|END@30"},
        {"lf_only_head_accepted", "HTTP/1.1 200 OK\nA: 1\n\nbody",
         "A=1|END@22"},
        {"no_colon_refused", "HTTP/1.1 200 OK\r\nA\r\n\r\n", "ERR"},
        {"empty_name_refused", "HTTP/1.1 200 OK\r\n: v\r\n\r\n", "ERR"},
        {"ctl_in_value_refused", "HTTP/1.1 200 OK\r\nA: \x01\r\n\r\n", "ERR"},
        {"truncated_line_refused", "HTTP/1.1 200 OK\r\nA: 1", "ERR"},
        {"no_start_line_end_refused", "HTTP/1.1 200 OK", "ERR"},
        {"cr_without_lf_at_end_refused", "HTTP/1.1 200 OK\r\n\rx", "ERR"},
    };
    size_t n = sizeof(rows) / sizeof(rows[0]);
    char out[512];
    (void)state;
    for (size_t i = 0; i < n; i++) {
        iterate(rows[i].block, out, sizeof(out));
        if (strcmp(out, rows[i].want) != 0)
            print_error("row %s: input %s\n  want %s\n  got  %s\n",
                        rows[i].name, rows[i].block, rows[i].want, out);
        assert_string_equal(out, rows[i].want);
    }
    print_message("[ rows     ] next: %zu rows, 0 failed\n", n);
}

/* ---- find and count ---- */

#define NGINX_304                                                              \
    "HTTP/1.1 304 Not Modified\r\nServer: nginx\r\nDate: Tue, 25 Nov 2025 "    \
    "08:00:00 GMT\r\nETag: \"abc\"\r\nCache-Control: max-age=60\r\n"           \
    "Set-Cookie: a=1\r\nset-cookie: b=2\r\nVary: Accept-Encoding\r\n\r\n"

static void find_and_count_match_names_case_insensitively(void **state)
{
    static const struct {
        const char *name, *block, *field;
        int want_find;
        const char *want_value;
        int want_count;
    } rows[] = {
        {"find_etag", NGINX_304, "etag", 1, "\"abc\"", 1},
        {"find_date", NGINX_304, "date", 1, "Tue, 25 Nov 2025 08:00:00 GMT", 1},
        {"find_first_of_repeated", NGINX_304, "set-cookie", 1, "a=1", 2},
        {"find_vary", NGINX_304, "vary", 1, "Accept-Encoding", 1},
        {"missing_field", NGINX_304, "content-length", 0, NULL, 0},
        {"prefix_is_not_match", NGINX_304, "cache", 0, NULL, 0},
        {"longer_is_not_match", NGINX_304, "etags", 0, NULL, 0},
        {"start_line_not_a_field", "GET /etag: HTTP/1.1\r\n\r\n", "get /etag",
         0, NULL, 0},
        {"upper_case_in_block", "HTTP/1.1 200 OK\r\nCONTENT-TYPE: a/b\r\n\r\n",
         "content-type", 1, "a/b", 1},
        {"malformed_before_match",
         "HTTP/1.1 200 OK\r\nX : 1\r\nETag: "
         "\"a\"\r\n\r\n",
         "etag", NM_E_PARSE, NULL, NM_E_PARSE},
        {"body_after_head_ignored",
         "HTTP/1.1 200 OK\r\nA: 1\r\n\r\nETag: \"in-body\"\r\n", "etag", 0,
         NULL, 0},
    };
    size_t n = sizeof(rows) / sizeof(rows[0]);
    (void)state;
    for (size_t i = 0; i < n; i++) {
        nm_slice_t v = {NULL, 0};
        size_t len = strlen(rows[i].block);
        int got = nm_hdr_find(rows[i].block, len, rows[i].field, &v);
        int count = nm_hdr_count(rows[i].block, len, rows[i].field);
        bool ok = got == rows[i].want_find && count == rows[i].want_count;
        if (ok && rows[i].want_value)
            ok = v.len == strlen(rows[i].want_value) &&
                 memcmp(v.ptr, rows[i].want_value, v.len) == 0;
        if (!ok)
            print_error("row %s: find %d count %d value %.*s\n", rows[i].name,
                        got, count, (int)v.len, v.ptr ? v.ptr : "");
        assert_true(ok);
    }
    print_message("[ rows     ] find/count: %zu rows, 0 failed\n", n);
}

static void name_is_compares_case_insensitively(void **state)
{
    static const struct {
        const char *name;
        const char *want;
        bool is;
    } rows[] = {
        {"ETag", "etag", true},
        {"etag", "etag", true},
        {"ETAG", "etag", true},
        {"ETa", "etag", false},
        {"ETags", "etag", false},
        {"", "", true},
        {"Content-Length", "content-length", true},
        {"Content_Length", "content-length", false},
    };
    size_t n = sizeof(rows) / sizeof(rows[0]);
    (void)state;
    for (size_t i = 0; i < n; i++) {
        bool got =
            nm_hdr_name_is(rows[i].name, strlen(rows[i].name), rows[i].want);
        if (got != rows[i].is)
            print_error("row \"%s\" vs \"%s\"\n", rows[i].name, rows[i].want);
        assert_true(got == rows[i].is);
    }
    print_message("[ rows     ] name_is: %zu rows, 0 failed\n", n);
}

static void list_has_finds_tokens(void **state)
{
    static const struct {
        const char *value, *token;
        bool has;
    } rows[] = {
        {"close", "close", true},
        {"Close", "close", true},
        {"keep-alive, Close", "close", true},
        {"keep-alive,close", "close", true},
        {"  close  ", "close", true},
        {"\tclose\t,x", "close", true},
        {",,close,,", "close", true},
        {"keep-alive", "close", false},
        {"closed", "close", false},
        {"clos", "close", false},
        {"", "close", false},
        {"close-ish, keepalive", "close", false},
        {"Upgrade, HTTP2-Settings", "upgrade", true},
        {"text/event-stream", "text/event-stream", true},
        {"gzip, chunked", "chunked", true},
        {"chunked;x=1", "chunked", false},
    };
    size_t n = sizeof(rows) / sizeof(rows[0]);
    (void)state;
    for (size_t i = 0; i < n; i++) {
        bool got = nm_hdr_list_has(rows[i].value, strlen(rows[i].value),
                                   rows[i].token);
        if (got != rows[i].has)
            print_error("row \"%s\" has \"%s\"\n", rows[i].value,
                        rows[i].token);
        assert_true(got == rows[i].has);
    }
    print_message("[ rows     ] list_has: %zu rows, 0 failed\n", n);
}

static void next_refuses_bad_arguments(void **state)
{
    size_t pos = 100;
    nm_hdr_field_t f;
    (void)state;
    assert_int_equal(nm_hdr_next("ab", 2, &pos, &f), NM_E_INVAL);
    assert_int_equal(nm_hdr_next(NULL, 0, &pos, &f), NM_E_INVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(next_iterates_fields_in_order),
        cmocka_unit_test(find_and_count_match_names_case_insensitively),
        cmocka_unit_test(name_is_compares_case_insensitively),
        cmocka_unit_test(list_has_finds_tokens),
        cmocka_unit_test(next_refuses_bad_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
