/* test_cond.c - RFC 9110 §13.2.2 evaluation as notmod applies it: which
 * 200s to GET/HEAD may become 304, and every "pass when in doubt" rule of
 * docs/revalidation.md, including the decisions where the peers
 * disagree. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "cond.h"
#include "httpdate.h"

#define NOW 1700000000LL /* Tue, 14 Nov 2023 22:13:20 GMT */
#define D_LM "Sun, 06 Nov 1994 08:49:37 GMT"
#define D_LM_MINUS1 "Sun, 06 Nov 1994 08:49:36 GMT"
#define D_LM_PLUS1 "Sun, 06 Nov 1994 08:49:38 GMT"
#define D_LM_850 "Sunday, 06-Nov-94 08:49:37 GMT"
#define D_LM_ASC "Sun Nov  6 08:49:37 1994"
#define D_NOW "Tue, 14 Nov 2023 22:13:20 GMT"
#define D_NOW_PLUS1 "Tue, 14 Nov 2023 22:13:21 GMT"
#define D_FUTURE "Sat, 01 Jan 2050 00:00:00 GMT"

#define NM NM_COND_NOT_MODIFIED
#define PASS NM_COND_PASS

/* Defaults chosen so that a row only names what it is about: method 0 is
 * GET (use M_* below for others), status 0 is 200, lm/etag NULL absent. */
enum { M_GET = 0, M_HEAD, M_POST, M_PUT, M_OTHER };

typedef struct row {
    const char *what;
    int method;
    int status;
    const char *etag, *lm; /* the 200's ETag value / Last-Modified date */
    const char *im, *ius, *inm, *ims;
    bool is_ims_multi, is_ius_multi, is_truncated;
    bool is_lm_exact; /* the Last-Modified is an epoch of notmod's */
    int64_t now;      /* 0: NOW */
    int expected;
} row_t;

static const row_t rows[] = {
    /* The tag sent back byte for byte (the common revalidation), and the
     * same bytes when they are no valid tag: only a valid one matches. */
    {.what = "inm_same_bytes_as_weak_tag_is_304",
     .etag = "W/\"a,b\"",
     .inm = " W/\"a,b\"\t",
     .expected = NM},
    {.what = "inm_same_bytes_as_invalid_tag_passes",
     .etag = "abc",
     .inm = "abc",
     .expected = PASS},
    {.what = "inm_same_bytes_as_unterminated_tag_passes",
     .etag = "\"abc",
     .inm = "\"abc",
     .expected = PASS},
    {.what = "inm_same_tag_after_failed_if_match_passes",
     .etag = "\"a\"",
     .im = "\"b\"",
     .inm = "\"a\"",
     .expected = PASS},
    /* Only a 200 to GET or HEAD can become a 304. */
    {.what = "get_200_inm_match_is_304",
     .etag = "\"a\"",
     .inm = "\"a\"",
     .expected = NM},
    {.what = "head_200_inm_match_is_304",
     .method = M_HEAD,
     .etag = "\"a\"",
     .inm = "\"a\"",
     .expected = NM},
    {.what = "post_200_never_304",
     .method = M_POST,
     .etag = "\"a\"",
     .inm = "\"a\"",
     .expected = PASS},
    {.what = "put_200_never_304",
     .method = M_PUT,
     .etag = "\"a\"",
     .inm = "*",
     .expected = PASS},
    {.what = "other_method_never_304",
     .method = M_OTHER,
     .etag = "\"a\"",
     .inm = "\"a\"",
     .expected = PASS},
    {.what = "status_206_passes",
     .status = 206,
     .etag = "\"a\"",
     .inm = "\"a\"",
     .expected = PASS},
    {.what = "status_201_passes",
     .status = 201,
     .etag = "\"a\"",
     .inm = "\"a\"",
     .expected = PASS},
    {.what = "status_203_passes",
     .status = 203,
     .etag = "\"a\"",
     .inm = "\"a\"",
     .expected = PASS},
    {.what = "status_404_passes",
     .status = 404,
     .etag = "\"a\"",
     .inm = "\"a\"",
     .expected = PASS},
    {.what = "status_304_from_server_passes",
     .status = 304,
     .etag = "\"a\"",
     .inm = "\"a\"",
     .expected = PASS},
    {.what = "status_412_passes",
     .status = 412,
     .etag = "\"a\"",
     .inm = "\"a\"",
     .expected = PASS},
    {.what = "no_conditions_passes",
     .etag = "\"a\"",
     .lm = D_LM,
     .expected = PASS},
    {.what = "truncated_condition_passes",
     .etag = "\"a\"",
     .inm = "\"a\"",
     .is_truncated = true,
     .expected = PASS},
    {.what = "truncated_ims_passes",
     .lm = D_LM,
     .ims = D_LM,
     .is_truncated = true,
     .expected = PASS},

    /* If-None-Match: weak comparison, list, "*". */
    {.what = "inm_weak_tag_matches_strong_etag",
     .etag = "\"a\"",
     .inm = "W/\"a\"",
     .expected = NM},
    {.what = "inm_strong_tag_matches_weak_etag",
     .etag = "W/\"a\"",
     .inm = "\"a\"",
     .expected = NM},
    {.what = "inm_no_match_passes",
     .etag = "\"a\"",
     .inm = "\"b\"",
     .expected = PASS},
    {.what = "inm_list_member_matches",
     .etag = "\"a\"",
     .inm = "\"x\", W/\"a\"",
     .expected = NM},
    {.what = "inm_comma_in_tag_quote_aware",
     .etag = "\"a,b\"",
     .inm = "\"x\", \"a,b\"",
     .expected = NM},
    {.what = "inm_empty_tag_matches_empty_etag",
     .etag = "\"\"",
     .inm = "\"\"",
     .expected = NM},
    {.what = "inm_star_matches_existing_etag",
     .etag = "\"a\"",
     .inm = "*",
     .expected = NM},
    {.what = "inm_star_matches_when_200_has_no_etag",
     .inm = "*",
     .expected = NM},
    {.what = "inm_star_mixed_with_tags_passes",
     .etag = "\"a\"",
     .inm = "*, \"a\"",
     .expected = PASS},
    {.what = "inm_list_without_etag_passes",
     .lm = D_LM,
     .inm = "\"a\"",
     .expected = PASS},
    {.what = "inm_lowercase_w_is_malformed_passes",
     .etag = "\"a\"",
     .inm = "w/\"a\"",
     .expected = PASS},
    {.what = "inm_malformed_member_after_match_passes",
     .etag = "\"a\"",
     .inm = "\"a\", junk",
     .expected = PASS},
    {.what = "inm_tabs_and_empty_elements_ok",
     .etag = "\"a\"",
     .inm = ",\t\"x\" ,, \t\"a\"\t,",
     .expected = NM},
    {.what = "inm_joined_field_lines_match",
     .etag = "\"c\"",
     .inm = "\"a\", \"b\", \"c\"",
     .expected = NM},
    {.what = "inm_etag_with_ows_from_caller_still_parses",
     .etag = " \"a\" ",
     .inm = "\"a\"",
     .expected = NM},
    {.what = "inm_malformed_server_etag_only_star_matches",
     .etag = "unquoted",
     .inm = "\"unquoted\"",
     .expected = PASS},
    {.what = "inm_star_with_malformed_server_etag_matches",
     .etag = "unquoted",
     .inm = "*",
     .expected = NM},
    {.what = "inm_on_head_with_weak_etag",
     .method = M_HEAD,
     .etag = "W/\"v1\"",
     .inm = "W/\"v1\"",
     .expected = NM},

    /* RFC 9110 §13.1.3: IMS is ignored whenever INM is present, even an
     * empty or malformed INM (nginx/Apache/Go differ; notmod follows the
     * RFC). */
    {.what = "inm_mismatch_ignores_matching_ims",
     .etag = "\"a\"",
     .lm = D_LM,
     .inm = "\"b\"",
     .ims = D_LM,
     .expected = PASS},
    {.what = "inm_match_ignores_failing_ims",
     .etag = "\"a\"",
     .lm = D_LM,
     .inm = "\"a\"",
     .ims = D_LM_MINUS1,
     .expected = NM},
    {.what = "inm_empty_ignores_matching_ims",
     .etag = "\"a\"",
     .lm = D_LM,
     .inm = "",
     .ims = D_LM,
     .expected = PASS},
    {.what = "inm_only_ows_ignores_matching_ims",
     .etag = "\"a\"",
     .lm = D_LM,
     .inm = "  ",
     .ims = D_LM,
     .expected = PASS},
    {.what = "inm_only_commas_ignores_matching_ims",
     .etag = "\"a\"",
     .lm = D_LM,
     .inm = " , ,",
     .ims = D_LM,
     .expected = PASS},
    {.what = "inm_malformed_ignores_matching_ims",
     .etag = "\"a\"",
     .lm = D_LM,
     .inm = "a",
     .ims = D_LM,
     .expected = PASS},
    {.what = "inm_without_etag_ignores_matching_ims",
     .lm = D_LM,
     .inm = "\"a\"",
     .ims = D_LM,
     .expected = PASS},

    /* If-Modified-Since (only without INM). */
    {.what = "ims_equal_to_lm_is_304", .lm = D_LM, .ims = D_LM, .expected = NM},
    {.what = "ims_after_lm_is_304",
     .lm = D_LM,
     .ims = D_LM_PLUS1,
     .expected = NM},
    {.what = "ims_before_lm_passes",
     .lm = D_LM,
     .ims = D_LM_MINUS1,
     .expected = PASS},
    /* An epoch date of notmod's matches only itself (§13.1.3). */
    {.what = "epoch_lm_equal_ims_is_304",
     .lm = D_LM,
     .ims = D_LM,
     .is_lm_exact = true,
     .expected = NM},
    {.what = "epoch_lm_later_ims_passes",
     .lm = D_LM,
     .ims = D_LM_PLUS1,
     .is_lm_exact = true,
     .expected = PASS},
    {.what = "epoch_lm_earlier_ims_passes",
     .lm = D_LM,
     .ims = D_LM_MINUS1,
     .is_lm_exact = true,
     .expected = PASS},
    {.what = "epoch_lm_equal_ims_rfc850_is_304",
     .lm = D_LM,
     .ims = D_LM_850,
     .is_lm_exact = true,
     .expected = NM},
    {.what = "epoch_lm_inm_decides_alone",
     .etag = "\"a\"",
     .lm = D_LM,
     .inm = "\"b\"",
     .ims = D_LM,
     .is_lm_exact = true,
     .expected = PASS},
    {.what = "ims_rfc850_form_is_304",
     .lm = D_LM,
     .ims = D_LM_850,
     .expected = NM},
    {.what = "ims_asctime_form_is_304",
     .lm = D_LM,
     .ims = D_LM_ASC,
     .expected = NM},
    {.what = "ims_with_ows_is_304",
     .lm = D_LM,
     .ims = "  " D_LM " ",
     .expected = NM},
    {.what = "ims_without_last_modified_ignored",
     .etag = "\"a\"",
     .ims = D_LM,
     .expected = PASS},
    {.what = "ims_invalid_date_ignored",
     .lm = D_LM,
     .ims = "Sux, 06 Nov 1994 08:49:37 GMT",
     .expected = PASS},
    {.what = "ims_iso8601_ignored",
     .lm = D_LM,
     .ims = "1994-11-06T08:49:37Z",
     .expected = PASS},
    {.what = "ims_two_dates_ignored",
     .lm = D_LM,
     .ims = D_LM ", " D_LM,
     .expected = PASS},
    {.what = "ims_sent_twice_ignored",
     .lm = D_LM,
     .ims = D_LM,
     .is_ims_multi = true,
     .expected = PASS},
    {.what = "ims_empty_ignored", .lm = D_LM, .ims = "", .expected = PASS},
    {.what = "ims_later_than_server_clock_passes",
     .lm = D_LM,
     .ims = D_FUTURE,
     .expected = PASS},
    {.what = "ims_one_second_after_now_passes",
     .lm = D_LM,
     .ims = D_NOW_PLUS1,
     .expected = PASS},
    {.what = "ims_equal_to_now_is_304",
     .lm = D_LM,
     .ims = D_NOW,
     .expected = NM},
    {.what = "ims_lm_in_future_passes",
     .lm = D_FUTURE,
     .ims = D_NOW,
     .expected = PASS},
    {.what = "ims_on_head_is_304",
     .method = M_HEAD,
     .lm = D_LM,
     .ims = D_LM,
     .expected = NM},
    {.what = "ims_on_post_passes",
     .method = M_POST,
     .lm = D_LM,
     .ims = D_LM,
     .expected = PASS},
    {.what = "ims_on_206_passes",
     .status = 206,
     .lm = D_LM,
     .ims = D_LM,
     .expected = PASS},

    /* If-Match (strong) comes first; false or malformed means pass. */
    {.what = "im_strong_match_then_inm_decides",
     .etag = "\"a\"",
     .im = "\"a\"",
     .inm = "\"a\"",
     .expected = NM},
    {.what = "im_mismatch_passes_even_if_inm_matches",
     .etag = "\"a\"",
     .im = "\"b\"",
     .inm = "\"a\"",
     .expected = PASS},
    {.what = "im_weak_member_fails_strong_comparison",
     .etag = "\"a\"",
     .im = "W/\"a\"",
     .inm = "\"a\"",
     .expected = PASS},
    {.what = "im_against_weak_etag_fails",
     .etag = "W/\"a\"",
     .im = "\"a\"",
     .inm = "W/\"a\"",
     .expected = PASS},
    {.what = "im_star_true_for_200",
     .etag = "\"a\"",
     .im = "*",
     .inm = "\"a\"",
     .expected = NM},
    {.what = "im_star_true_without_etag",
     .lm = D_LM,
     .im = "*",
     .ims = D_LM,
     .expected = NM},
    {.what = "im_malformed_passes",
     .etag = "\"a\"",
     .im = "a",
     .inm = "\"a\"",
     .expected = PASS},
    {.what = "im_empty_passes",
     .etag = "\"a\"",
     .im = "",
     .inm = "\"a\"",
     .expected = PASS},
    {.what = "im_list_without_etag_passes",
     .lm = D_LM,
     .im = "\"a\"",
     .ims = D_LM,
     .expected = PASS},
    {.what = "im_true_alone_passes",
     .etag = "\"a\"",
     .im = "\"a\"",
     .expected = PASS},
    {.what = "im_true_then_ims_decides",
     .etag = "\"a\"",
     .lm = D_LM,
     .im = "\"a\"",
     .ims = D_LM,
     .expected = NM},
    {.what = "im_present_skips_ius",
     .etag = "\"a\"",
     .lm = D_LM,
     .im = "\"a\"",
     .ius = D_LM_MINUS1,
     .inm = "\"a\"",
     .expected = NM},

    /* If-Unmodified-Since (only without If-Match). */
    {.what = "ius_true_then_inm_decides",
     .etag = "\"a\"",
     .lm = D_LM,
     .ius = D_LM,
     .inm = "\"a\"",
     .expected = NM},
    {.what = "ius_false_passes",
     .etag = "\"a\"",
     .lm = D_LM,
     .ius = D_LM_MINUS1,
     .inm = "\"a\"",
     .expected = PASS},
    {.what = "ius_false_passes_even_if_ims_matches",
     .lm = D_LM,
     .ius = D_LM_MINUS1,
     .ims = D_LM,
     .expected = PASS},
    {.what = "ius_later_date_true_then_ims",
     .lm = D_LM,
     .ius = D_LM_PLUS1,
     .ims = D_LM,
     .expected = NM},
    {.what = "ius_without_last_modified_passes",
     .etag = "\"a\"",
     .ius = D_LM,
     .inm = "\"a\"",
     .expected = PASS},
    {.what = "ius_invalid_date_ignored",
     .etag = "\"a\"",
     .lm = D_LM,
     .ius = "yesterday",
     .inm = "\"a\"",
     .expected = NM},
    {.what = "ius_iso8601_ignored",
     .etag = "\"a\"",
     .lm = D_LM,
     .ius = "1994-11-06T08:49:36Z",
     .inm = "\"a\"",
     .expected = NM},
    {.what = "ius_two_dates_ignored",
     .etag = "\"a\"",
     .lm = D_LM,
     .ius = D_LM_MINUS1 ", " D_LM_MINUS1,
     .inm = "\"a\"",
     .expected = NM},
    {.what = "ius_bad_day_name_ignored",
     .etag = "\"a\"",
     .lm = D_LM,
     .ius = "Sux, 06 Nov 1994 08:49:36 GMT",
     .inm = "\"a\"",
     .expected = NM},
    {.what = "ius_sent_twice_ignored",
     .etag = "\"a\"",
     .lm = D_LM,
     .ius = D_LM_MINUS1,
     .is_ius_multi = true,
     .inm = "\"a\"",
     .expected = NM},
    {.what = "ius_alone_true_passes",
     .lm = D_LM,
     .ius = D_LM,
     .expected = PASS},

    /* An ETag sent only in a chunked trailer is unknown when the head
     * leaves: the shim passes no etag, so a list cannot match. */
    {.what = "etag_only_in_trailer_unknown_passes",
     .lm = D_LM,
     .inm = "\"a\"",
     .expected = PASS},
    /* A 200 answered to a Range request is judged like any 200 (the shim
     * passes it with status 200); a 206 always passes (above). */
    {.what = "range_request_answered_200_judged_normally",
     .etag = "\"a\"",
     .inm = "W/\"a\"",
     .expected = NM},
    /* Dates compare at one-second resolution. (Request Cache-Control:
     * no-cache is deliberately not an input of nm_cond_eval: RFC 9110 does
     * not let it stop a 304 at the origin, though Express's `fresh` does.) */
    {.what = "one_second_resolution_equal_dates",
     .lm = D_NOW,
     .ims = D_NOW,
     .expected = NM},
};

static int64_t date_or_none(const char *s)
{
    int64_t t;
    if (s == NULL)
        return -1;
    assert_int_equal(nm_httpdate_parse(s, strlen(s), NOW, &t), 0);
    return t;
}

static nm_slice_t slice(const char *s)
{
    nm_slice_t sl = {s, s ? strlen(s) : 0};
    return sl;
}

static void cond_eval_follows_rfc9110_13_2_2(void **state)
{
    (void)state;
    static const nm_method_t methods[] = {NM_METHOD_GET, NM_METHOD_HEAD,
                                          NM_METHOD_POST, NM_METHOD_PUT,
                                          NM_METHOD_OTHER};
    int failures = 0;
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        const row_t *r = &rows[i];
        nm_cond_input_t in = {
            .method = methods[r->method],
            .status = r->status ? r->status : 200,
            .if_match = slice(r->im),
            .if_none_match = slice(r->inm),
            .if_modified_since = slice(r->ims),
            .if_unmodified_since = slice(r->ius),
            .is_ims_multi = r->is_ims_multi,
            .is_ius_multi = r->is_ius_multi,
            .is_cond_truncated = r->is_truncated,
            .is_lm_exact = r->is_lm_exact,
            .etag = slice(r->etag),
            .last_modified = date_or_none(r->lm),
            .now = r->now ? r->now : NOW,
        };
        nm_cond_result_t got = nm_cond_eval(&in);
        if ((int)got != r->expected) {
            print_error("%s: etag [%s] lm [%s] im [%s] ius [%s] inm [%s] "
                        "ims [%s] got %d want %d\n",
                        r->what, r->etag ? r->etag : "-", r->lm ? r->lm : "-",
                        r->im ? r->im : "-", r->ius ? r->ius : "-",
                        r->inm ? r->inm : "-", r->ims ? r->ims : "-", got,
                        r->expected);
            failures++;
        }
    }
    assert_int_equal(failures, 0);
}

/* A slice of a larger buffer: the evaluator must honour len, not NUL. */
static void cond_eval_reads_only_slice_lengths(void **state)
{
    (void)state;
    const char buf[] = "\"a\"\"b\"";
    nm_cond_input_t in = {
        .method = NM_METHOD_GET,
        .status = 200,
        .if_none_match = {buf, 3},
        .etag = {buf, 3},
        .last_modified = -1,
        .now = NOW,
    };
    assert_int_equal(nm_cond_eval(&in), NM_COND_NOT_MODIFIED);
    in.if_none_match.len = 6;
    assert_int_equal(nm_cond_eval(&in), NM_COND_PASS);
    assert_int_equal(nm_cond_eval(NULL), NM_COND_PASS);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(cond_eval_follows_rfc9110_13_2_2),
        cmocka_unit_test(cond_eval_reads_only_slice_lengths),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
