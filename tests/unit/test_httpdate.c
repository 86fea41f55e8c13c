/* test_httpdate.c - the three HTTP-date forms (RFC 9110 §5.6.7), what is
 * rejected, the RFC 850 two-digit-year rule, and IMF-fixdate output. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "httpdate.h"

#define NOW_2023 1700000000LL /* Tue, 14 Nov 2023 22:13:20 GMT */
#define T_1994 784111777LL    /* Sun, 06 Nov 1994 08:49:37 GMT */
#define BAD NM_E_PARSE

typedef struct parse_row {
    const char *what;
    const char *input;
    int64_t now;
    int rc;
    int64_t expected;
} parse_row_t;

static const parse_row_t parse_rows[] = {
    /* accepted forms */
    {"imf_fixdate", "Sun, 06 Nov 1994 08:49:37 GMT", NOW_2023, 0, T_1994},
    {"rfc850", "Sunday, 06-Nov-94 08:49:37 GMT", NOW_2023, 0, T_1994},
    {"asctime_space_padded_day", "Sun Nov  6 08:49:37 1994", NOW_2023, 0,
     T_1994},
    {"asctime_two_digit_day", "Sun Nov 06 08:49:37 1994", NOW_2023, 0, T_1994},
    {"asctime_day_over_nine", "Wed Nov 16 08:49:37 1994", NOW_2023, 0,
     T_1994 + 10 * 86400},
    {"leading_trailing_ows_ok", " \t Sun, 06 Nov 1994 08:49:37 GMT\t ",
     NOW_2023, 0, T_1994},
    {"epoch", "Thu, 01 Jan 1970 00:00:00 GMT", NOW_2023, 0, 0},
    {"before_epoch", "Wed, 31 Dec 1969 23:59:59 GMT", NOW_2023, 0, -1},
    {"leap_day_2000", "Tue, 29 Feb 2000 00:00:00 GMT", NOW_2023, 0, 951782400},
    {"leap_day_2024", "Thu, 29 Feb 2024 12:00:00 GMT", NOW_2023, 0, 1709208000},
    {"century_not_leap_march_1900", "Thu, 01 Mar 1900 00:00:00 GMT", NOW_2023,
     0, -2203891200LL},
    {"year_9999", "Fri, 31 Dec 9999 23:59:59 GMT", NOW_2023, 0, 253402300799LL},
    {"leap_second_reads_as_59", "Sat, 31 Dec 2016 23:59:60 GMT", NOW_2023, 0,
     1483228799},
    {"wrong_weekday_is_tolerated", "Mon, 06 Nov 1994 08:49:37 GMT", NOW_2023, 0,
     T_1994},
    {"rfc850_wrong_weekday_tolerated", "Friday, 06-Nov-94 08:49:37 GMT",
     NOW_2023, 0, T_1994},
    {"rfc850_every_weekday_name_wednesday", "Wednesday, 16-Nov-94 08:49:37 GMT",
     NOW_2023, 0, T_1994 + 10 * 86400},
    /* RFC 850 two-digit years, relative to now (2023) */
    {"rfc850_year_50_ahead_stays_future", "Sunday, 01-Jan-73 00:00:00 GMT",
     NOW_2023, 0, 3250454400LL},
    {"rfc850_year_over_50_ahead_is_past", "Tuesday, 01-Jan-74 00:00:00 GMT",
     NOW_2023, 0, 126230400},
    {"rfc850_year_00_is_2000", "Tuesday, 29-Feb-00 00:00:00 GMT", NOW_2023, 0,
     951782400},
    {"rfc850_current_year", "Sunday, 01-Jan-23 00:00:00 GMT", NOW_2023, 0,
     1672531200},
    {"rfc850_year_99_in_1994_is_1999", "Friday, 31-Dec-99 23:59:59 GMT", T_1994,
     0, 946684799},
    {"rfc850_year_00_from_1970_is_2000", "Tuesday, 29-Feb-00 00:00:00 GMT", 0,
     0, 951782400},
    {"rfc850_small_year_late_in_century_is_next",
     "Wednesday, 01-Jan-10 00:00:00 GMT", 3484425600LL, 0, 4417977600LL},
    {"rfc850_year_near_future_kept", "Wednesday, 01-Jan-31 00:00:00 GMT",
     NOW_2023, 0, 1924992000},
    /* fuzz: the window around an absurd now leaves years 0000-9999 and
     * used to overflow (tests/fuzz/corpus/httpdate/crash-rfc850-int64-min) */
    {"rfc850_with_now_at_int64_min_rejected", "Sunday, 06-Nov-94 08:49:37 GMT",
     INT64_MIN, BAD, 0},
    {"rfc850_with_now_at_int64_max_rejected", "Sunday, 06-Nov-94 08:49:37 GMT",
     INT64_MAX, BAD, 0},
    /* rejected: syntax */
    {"iso8601_rejected", "1994-11-06T08:49:37Z", NOW_2023, BAD, 0},
    {"trailing_junk_rejected", "Sun, 06 Nov 1994 08:49:37 GMTx", NOW_2023, BAD,
     0},
    {"two_dates_joined_rejected",
     "Sun, 06 Nov 1994 08:49:37 GMT, Sun, 06 Nov 1994 08:49:37 GMT", NOW_2023,
     BAD, 0},
    {"empty_rejected", "", NOW_2023, BAD, 0},
    {"only_spaces_rejected", "   ", NOW_2023, BAD, 0},
    {"unix_number_rejected", "784111777", NOW_2023, BAD, 0},
    {"bad_day_name_rejected", "Sux, 06 Nov 1994 08:49:37 GMT", NOW_2023, BAD,
     0},
    {"lowercase_day_name_rejected", "sun, 06 Nov 1994 08:49:37 GMT", NOW_2023,
     BAD, 0},
    {"bad_month_rejected", "Sun, 06 Nox 1994 08:49:37 GMT", NOW_2023, BAD, 0},
    {"uppercase_month_rejected", "Sun, 06 NOV 1994 08:49:37 GMT", NOW_2023, BAD,
     0},
    {"utc_instead_of_gmt_rejected", "Sun, 06 Nov 1994 08:49:37 UTC", NOW_2023,
     BAD, 0},
    {"numeric_zone_rejected", "Sun, 06 Nov 1994 08:49:37 +0000", NOW_2023, BAD,
     0},
    {"one_digit_day_imf_rejected", "Sun, 6 Nov 1994 08:49:37 GMT", NOW_2023,
     BAD, 0},
    {"two_digit_year_imf_rejected", "Sun, 06 Nov 94 08:49:37 GMT", NOW_2023,
     BAD, 0},
    {"missing_seconds_rejected", "Sun, 06 Nov 1994 08:49 GMT", NOW_2023, BAD,
     0},
    {"double_space_rejected", "Sun,  06 Nov 1994 08:49:37 GMT", NOW_2023, BAD,
     0},
    {"short_day_name_in_rfc850_rejected", "Sun, 06-Nov-94 08:49:37 GMT",
     NOW_2023, BAD, 0},
    {"long_day_name_in_imf_rejected", "Sunday, 06 Nov 1994 08:49:37 GMT",
     NOW_2023, BAD, 0},
    {"rfc850_four_digit_year_rejected", "Sunday, 06-Nov-1994 08:49:37 GMT",
     NOW_2023, BAD, 0},
    {"asctime_with_gmt_rejected", "Sun Nov  6 08:49:37 1994 GMT", NOW_2023, BAD,
     0},
    {"asctime_missing_pad_rejected", "Sun Nov 6 08:49:37 1994", NOW_2023, BAD,
     0},
    {"sign_in_digits_rejected", "Sun, +6 Nov 1994 08:49:37 GMT", NOW_2023, BAD,
     0},
    {"inner_tab_rejected", "Sun,\t06 Nov 1994 08:49:37 GMT", NOW_2023, BAD, 0},
    {"nul_inside_rejected", "Sun, 06 Nov 1994\0 08:49:37 GM", NOW_2023, BAD, 0},
    /* rejected: ranges */
    {"hour_24_rejected", "Sun, 06 Nov 1994 24:00:00 GMT", NOW_2023, BAD, 0},
    {"minute_60_rejected", "Sun, 06 Nov 1994 08:60:37 GMT", NOW_2023, BAD, 0},
    {"second_61_rejected", "Sun, 06 Nov 1994 08:49:61 GMT", NOW_2023, BAD, 0},
    {"day_00_rejected", "Sun, 00 Nov 1994 08:49:37 GMT", NOW_2023, BAD, 0},
    {"day_32_rejected", "Sun, 32 Dec 1994 08:49:37 GMT", NOW_2023, BAD, 0},
    {"nov_31_rejected", "Sun, 31 Nov 1994 08:49:37 GMT", NOW_2023, BAD, 0},
    {"feb_30_rejected", "Sun, 30 Feb 2000 08:49:37 GMT", NOW_2023, BAD, 0},
    {"feb_29_non_leap_rejected", "Sun, 29 Feb 2023 08:49:37 GMT", NOW_2023, BAD,
     0},
    {"feb_29_1900_rejected", "Thu, 29 Feb 1900 00:00:00 GMT", NOW_2023, BAD, 0},
    {"asctime_feb_30_rejected", "Sun Feb 30 08:49:37 1994", NOW_2023, BAD, 0},
    {"rfc850_day_32_rejected", "Sunday, 32-Nov-94 08:49:37 GMT", NOW_2023, BAD,
     0},
};

static void httpdate_parse_accepts_three_forms_and_rejects_rest(void **state)
{
    (void)state;
    int failures = 0;
    for (size_t i = 0; i < sizeof parse_rows / sizeof parse_rows[0]; i++) {
        const parse_row_t *r = &parse_rows[i];
        int64_t t = -12345;
        /* nul_inside_rejected is 29 bytes with a NUL inside: use sizeof. */
        size_t len =
            strcmp(r->what, "nul_inside_rejected") == 0 ? 29 : strlen(r->input);
        int rc = nm_httpdate_parse(r->input, len, r->now, &t);
        if (rc != r->rc || (rc == 0 && t != r->expected)) {
            print_error("%s: input [%s] rc %d t %lld want rc %d t %lld\n",
                        r->what, r->input, rc, (long long)t, r->rc,
                        (long long)r->expected);
            failures++;
        }
        if (rc != 0 && t != -12345) {
            print_error("%s: failed parse wrote output\n", r->what);
            failures++;
        }
    }
    assert_int_equal(failures, 0);
}

typedef struct fmt_row {
    const char *what;
    int64_t t;
    int rc;
    const char *expected;
} fmt_row_t;

static const fmt_row_t fmt_rows[] = {
    {"rfc_example", T_1994, NM_HTTPDATE_LEN, "Sun, 06 Nov 1994 08:49:37 GMT"},
    {"epoch_thursday", 0, NM_HTTPDATE_LEN, "Thu, 01 Jan 1970 00:00:00 GMT"},
    {"one_second_before_epoch", -1, NM_HTTPDATE_LEN,
     "Wed, 31 Dec 1969 23:59:59 GMT"},
    {"billennium", 1000000000, NM_HTTPDATE_LEN,
     "Sun, 09 Sep 2001 01:46:40 GMT"},
    {"now_2023", NOW_2023, NM_HTTPDATE_LEN, "Tue, 14 Nov 2023 22:13:20 GMT"},
    {"leap_day", 951782400, NM_HTTPDATE_LEN, "Tue, 29 Feb 2000 00:00:00 GMT"},
    {"after_2038", 4107456000LL, NM_HTTPDATE_LEN,
     "Sun, 28 Feb 2100 00:00:00 GMT"},
    {"last_second_9999", 253402300799LL, NM_HTTPDATE_LEN,
     "Fri, 31 Dec 9999 23:59:59 GMT"},
    {"first_second_0000", -62167219200LL, NM_HTTPDATE_LEN,
     "Sat, 01 Jan 0000 00:00:00 GMT"},
    {"year_10000_rejected", 253402300800LL, NM_E_INVAL, NULL},
    {"before_year_0_rejected", -62167219201LL, NM_E_INVAL, NULL},
};

static void httpdate_format_writes_imf_fixdate(void **state)
{
    (void)state;
    int failures = 0;
    for (size_t i = 0; i < sizeof fmt_rows / sizeof fmt_rows[0]; i++) {
        const fmt_row_t *r = &fmt_rows[i];
        char out[NM_HTTPDATE_LEN + 1] = {0};
        int rc = nm_httpdate_format(r->t, out);
        if (rc != r->rc || (rc > 0 && strcmp(out, r->expected) != 0)) {
            print_error("%s: t %lld rc %d [%s] want [%s]\n", r->what,
                        (long long)r->t, rc, out,
                        r->expected ? r->expected : "");
            failures++;
        }
    }
    assert_int_equal(failures, 0);
}

/* Property: format then parse is the identity over a wide span (every
 * ~3.7 days from year 1 to 9999, plus each second of a day). */
static void httpdate_format_then_parse_round_trips(void **state)
{
    (void)state;
    char out[NM_HTTPDATE_LEN + 1];
    int64_t back = 0;
    for (int64_t t = -62135596800LL; t < 253402300799LL; t += 318751) {
        assert_int_equal(nm_httpdate_format(t, out), NM_HTTPDATE_LEN);
        if (nm_httpdate_parse(out, NM_HTTPDATE_LEN, NOW_2023, &back) != 0 ||
            back != t) {
            print_error("round trip failed at %lld [%s]\n", (long long)t, out);
            fail();
        }
    }
    for (int64_t t = NOW_2023; t < NOW_2023 + 86400; t += 7) {
        assert_int_equal(nm_httpdate_format(t, out), NM_HTTPDATE_LEN);
        assert_int_equal(nm_httpdate_parse(out, NM_HTTPDATE_LEN, 0, &back), 0);
        assert_true(back == t);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(httpdate_parse_accepts_three_forms_and_rejects_rest),
        cmocka_unit_test(httpdate_format_writes_imf_fixdate),
        cmocka_unit_test(httpdate_format_then_parse_round_trips),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
