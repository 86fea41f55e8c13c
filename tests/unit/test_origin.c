/* test_origin.c - one identity per origin (host case, default port,
 * absolute-form) and the path normalization route policy is matched on. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "origin.h"

typedef struct canon_row {
    const char *what;
    const char *host, *target;
    int default_port;
    int rc;
    const char *want_host, *want_target; /* when rc == NM_OK */
} canon_row_t;

static const canon_row_t canon_rows[] = {
    {"host_case_folded", "Example.COM", "/p", 80, NM_OK, "example.com", "/p"},
    {"default_port_dropped", "example.com:80", "/p", 80, NM_OK, "example.com",
     "/p"},
    {"other_port_kept", "example.com:8080", "/p", 80, NM_OK, "example.com:8080",
     "/p"},
    {"tls_default_port_dropped", "example.com:443", "/p", 443, NM_OK,
     "example.com", "/p"},
    {"port_80_kept_under_tls", "example.com:80", "/p", 443, NM_OK,
     "example.com:80", "/p"},
    {"ipv6_default_port_dropped", "[::1]:80", "/", 80, NM_OK, "[::1]", "/"},
    {"port_alone_kept", ":80", "/", 80, NM_OK, ":80", "/"},
    {"port_with_one_byte_host", "h:80", "/", 80, NM_OK, "h", "/"},
    {"port_800_kept", "h:800", "/", 80, NM_OK, "h:800", "/"},
    {"port_180_kept", "h:180", "/", 80, NM_OK, "h:180", "/"},
    {"port_80_without_colon_kept", "h80", "/", 80, NM_OK, "h80", "/"},
    {"tls_port_alone_kept", ":443", "/", 443, NM_OK, ":443", "/"},
    {"tls_port_1443_kept", "h:1443", "/", 443, NM_OK, "h:1443", "/"},
    {"tls_port_443_without_colon_kept", "h443", "/", 443, NM_OK, "h443", "/"},
    {"absolute_form_takes_its_authority", "ignored", "http://Example.com/p?q",
     80, NM_OK, "example.com", "/p?q"},
    {"absolute_form_default_port", "x", "http://example.com:80/p", 80, NM_OK,
     "example.com", "/p"},
    {"absolute_form_https_port", "x", "HTTPS://example.com:443/p", 80, NM_OK,
     "example.com", "/p"},
    {"absolute_form_empty_path", "x", "http://example.com", 80, NM_OK,
     "example.com", "/"},
    {"absolute_form_query_without_path", "x", "http://example.com?a=1", 80,
     NM_OK, "example.com", "/?a=1"},
    {"userinfo_refused", "x", "http://u@example.com/p", 80, NM_E_PARSE, NULL,
     NULL},
    {"other_scheme_refused", "x", "ftp://example.com/p", 80, NM_E_PARSE, NULL,
     NULL},
    {"asterisk_form_refused", "x", "*", 80, NM_E_PARSE, NULL, NULL},
    {"empty_authority_refused", "x", "http:///p", 80, NM_E_PARSE, NULL, NULL},
};

static void canon_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(canon_rows) / sizeof(canon_rows[0]); i++) {
        const canon_row_t *r = &canon_rows[i];
        char host[64], target[128];
        size_t hlen = strlen(r->host), tlen = strlen(r->target);
        memcpy(host, r->host, hlen);
        memcpy(target, r->target, tlen);
        int rc = nm_origin_canon(host, &hlen, sizeof(host), target, &tlen,
                                 r->default_port);
        if (rc != r->rc)
            fail_msg("%s: rc %d, want %d", r->what, rc, r->rc);
        if (rc != NM_OK)
            continue;
        if (hlen != strlen(r->want_host) ||
            memcmp(host, r->want_host, hlen) != 0 ||
            tlen != strlen(r->want_target) ||
            memcmp(target, r->want_target, tlen) != 0)
            fail_msg("%s: got %.*s %.*s", r->what, (int)hlen, host, (int)tlen,
                     target);
    }
}

static void canon_host_too_long_for_buffer_is_refused(void **state)
{
    (void)state;
    char host[4];
    char target[] = "http://example.com/";
    size_t hlen = 0, tlen = strlen(target);
    assert_int_equal(
        nm_origin_canon(host, &hlen, sizeof(host), target, &tlen, 80),
        NM_E_PARSE);
}

typedef struct path_row {
    const char *what;
    const char *target;
    int rc;           /* length or NM_E_* */
    const char *want; /* when rc >= 0 */
} path_row_t;

#define OK (-100) /* "the length of want" */

static const path_row_t path_rows[] = {
    {"plain_path_unchanged", "/p", OK, "/p"},
    {"query_dropped", "/p?x=%2F", OK, "/p"},
    {"root", "/", OK, "/"},
    {"unreserved_decoded", "/%70", OK, "/p"},
    {"lowercase_hex_decoded", "/%7e%41", OK, "/~A"},
    {"reserved_escape_kept_upper", "/a%3bb", OK, "/a%3Bb"},
    {"space_escape_kept", "/a%20b", OK, "/a%20b"},
    {"dot_segment_removed", "/./p", OK, "/p"},
    {"dot_dot_segment_removed", "/q/../p", OK, "/p"},
    {"encoded_dots_are_dot_segments", "/q/%2e%2E/p", OK, "/p"},
    {"repeated_slashes_merged", "//p", OK, "/p"},
    {"many_slashes_merged", "/a///b//", OK, "/a/b/"},
    {"trailing_slash_kept", "/a/", OK, "/a/"},
    {"trailing_dot_means_directory", "/a/.", OK, "/a/"},
    {"trailing_dot_dot_means_directory", "/a/b/..", OK, "/a/"},
    {"dots_inside_names_kept", "/a.b/..c/c..", OK, "/a.b/..c/c.."},
    {"encoded_slash_unsafe", "/%2Fp", NM_E_UNSUPPORTED, NULL},
    {"encoded_slash_lower_unsafe", "/a%2fp", NM_E_UNSUPPORTED, NULL},
    {"encoded_backslash_unsafe", "/a%5Cp", NM_E_UNSUPPORTED, NULL},
    {"backslash_unsafe", "/a\\p", NM_E_UNSUPPORTED, NULL},
    {"encoded_nul_unsafe", "/a%00", NM_E_UNSUPPORTED, NULL},
    {"bad_hex_unsafe", "/%zz", NM_E_UNSUPPORTED, NULL},
    {"short_escape_unsafe", "/a%4", NM_E_UNSUPPORTED, NULL},
    {"bare_percent_unsafe", "/a%", NM_E_UNSUPPORTED, NULL},
    {"above_root_unsafe", "/../p", NM_E_UNSUPPORTED, NULL},
    {"above_root_later_unsafe", "/a/../../p", NM_E_UNSUPPORTED, NULL},
    {"not_origin_form", "p", NM_E_PARSE, NULL},
    {"empty", "", NM_E_PARSE, NULL},
};

static void path_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(path_rows) / sizeof(path_rows[0]); i++) {
        const path_row_t *r = &path_rows[i];
        char out[128];
        int rc = nm_origin_path(r->target, strlen(r->target), out, sizeof(out));
        int want = r->rc == OK ? (int)strlen(r->want) : r->rc;
        if (rc != want)
            fail_msg("%s: %s gave %d, want %d", r->what, r->target, rc, want);
        if (rc > 0 && memcmp(out, r->want, (size_t)rc) != 0)
            fail_msg("%s: %s gave %.*s", r->what, r->target, rc, out);
        /* The cheap test never calls a path plain that normalizes to
         * something else or fails. */
        bool is_plain = nm_origin_path_is_plain(r->target, strlen(r->target));
        size_t plen = strcspn(r->target, "?");
        if (is_plain && (rc != (int)plen || memcmp(out, r->target, plen)))
            fail_msg("%s: called plain but normalizes", r->what);
    }
}

/* nm_origin_path_is_plain as it was written first (three memchr and a
 * loop over the slashes): the word-at-a-time pass must agree with it. */
static bool plain_reference(const char *target, size_t len)
{
    const char *q = memchr(target, '?', len);
    if (q != NULL)
        len = (size_t)(q - target);
    if (len == 0 || target[0] != '/')
        return false;
    if (memchr(target, '%', len) || memchr(target, '\\', len))
        return false;
    for (size_t i = 0; i + 1 < len; i++) {
        if (target[i] != '/')
            continue;
        if (target[i + 1] == '/')
            return false;
        if (target[i + 1] == '.' &&
            (i + 2 == len || target[i + 2] == '/' ||
             (target[i + 2] == '.' && (i + 3 == len || target[i + 3] == '/'))))
            return false;
    }
    return true;
}

/* Checks one target, copied to the end of a buffer so that a read past
 * it would be seen by ASan. */
static void check_plain(const char *t, size_t n)
{
    char *copy = malloc(n + 1);
    assert_non_null(copy);
    memcpy(copy, t, n);
    bool got = nm_origin_path_is_plain(copy, n);
    free(copy);
    if (got != plain_reference(t, n))
        fail_msg("\"%.*s\" (%zu bytes): plain %d", (int)n, t, n, got);
}

/* Every string of 0 to 7 bytes over the bytes the test looks at (and one
 * it does not), then longer paths (8 to 40 bytes: the words, the
 * overlapping last word) with one or two of them at every offset. */
static void path_is_plain_agrees_with_reference(void **state)
{
    (void)state;
    static const char alpha[] = "/.?%\\a";
    const size_t na = sizeof(alpha) - 1;
    char t[48];
    for (size_t n = 0; n <= 7; n++) {
        size_t total = 1;
        for (size_t i = 0; i < n; i++)
            total *= na;
        for (size_t k = 0; k < total; k++) {
            size_t v = k;
            for (size_t i = 0; i < n; i++, v /= na)
                t[i] = alpha[v % na];
            check_plain(t, n);
        }
    }
    for (size_t n = 8; n <= 40; n++) {
        for (size_t a = 0; a < n; a++) {
            for (size_t b = a; b < n; b++) {
                for (size_t x = 0; x < na * na; x++) {
                    for (size_t i = 0; i < n; i++)
                        t[i] = (char)('a' + (int)(i % 26));
                    t[0] = '/';
                    t[a] = alpha[x % na];
                    t[b] = alpha[x / na];
                    check_plain(t, n);
                }
            }
        }
    }
}

static void path_output_too_small(void **state)
{
    (void)state;
    char out[3];
    assert_int_equal(nm_origin_path("/abcdef", 7, out, sizeof(out)),
                     NM_E_NOSPACE);
}

/* Every byte value at every offset of inputs 0 to 40 bytes long (the
 * word steps, the overlapping last word, the byte loop), copied and in
 * place: only 'A'..'Z' change, to 'a'..'z'. */
static void fold_changes_only_upper_case_ascii(void **state)
{
    (void)state;
    char src[40], dst[40], want[40];
    for (int v = 0; v < 256; v++) {
        for (size_t n = 0; n <= sizeof(src); n++) {
            for (size_t at = 0; at < n; at++) {
                for (size_t i = 0; i < n; i++)
                    src[i] = (char)(i == at ? v : 'A' + (int)(i * 7) % 60);
                for (size_t i = 0; i < n; i++)
                    want[i] = (src[i] >= 'A' && src[i] <= 'Z')
                                  ? (char)(src[i] - 'A' + 'a')
                                  : src[i];
                nm_origin_fold(dst, src, n);
                nm_origin_fold(src, src, n);
                if (memcmp(dst, want, n) != 0 || memcmp(src, want, n) != 0)
                    fail_msg("byte 0x%02x at %zu of %zu", v, at, n);
            }
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(canon_table),
        cmocka_unit_test(canon_host_too_long_for_buffer_is_refused),
        cmocka_unit_test(path_table),
        cmocka_unit_test(path_output_too_small),
        cmocka_unit_test(path_is_plain_agrees_with_reference),
        cmocka_unit_test(fold_changes_only_upper_case_ascii),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
