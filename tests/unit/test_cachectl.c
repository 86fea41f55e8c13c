/* test_cachectl.c - Cache-Control parsing (RFC 9111 §5.2): directive names
 * case-insensitively, token and quoted arguments, commas inside quotes,
 * numbers clamped at 2^31, and every malformed or conflicting form marked
 * invalid (a response must never be reused on the strength of one). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "cachectl.h"

#define NS NM_CACHECTL_NO_STORE
#define NC NM_CACHECTL_NO_CACHE
#define PRIV NM_CACHECTL_PRIVATE
#define PUB NM_CACHECTL_PUBLIC
#define MR NM_CACHECTL_MUST_REVALIDATE
#define PR NM_CACHECTL_PROXY_REVALIDATE
#define MA NM_CACHECTL_MAX_AGE
#define SMA NM_CACHECTL_S_MAXAGE
#define MF NM_CACHECTL_MIN_FRESH
#define MS NM_CACHECTL_MAX_STALE
#define BAD NM_CACHECTL_INVALID

typedef struct row {
    const char *what;
    const char *lines[3]; /* field values, one per Cache-Control line */
    uint32_t flags;
    int64_t max_age, s_maxage, min_fresh; /* checked with their flag */
} row_t;

/* ROW(what, flags, max-age, s-maxage, min-fresh, line...) */
#define ROW(what, flags, ma, sma, mf, ...)                                     \
    {                                                                          \
        what, {__VA_ARGS__}, flags, ma, sma, mf                                \
    }

static const row_t rows[] = {
    ROW("empty_value_says_nothing", 0, 0, 0, 0, ""),
    ROW("only_commas_say_nothing", 0, 0, 0, 0, " , ,, "),
    ROW("max_age", MA, 60, 0, 0, "max-age=60"),
    ROW("names_are_case_insensitive", MA | NS, 60, 0, 0,
        "Max-Age=60, NO-STORE"),
    ROW("max_age_zero", MA, 0, 0, 0, "max-age=0"),
    ROW("quoted_number_is_accepted", MA, 60, 0, 0, "max-age=\"60\""),
    ROW("s_maxage_and_public", PUB | SMA, 0, 300, 0, "public, s-maxage=300"),
    ROW("min_fresh", MF, 0, 0, 5, "min-fresh=5"),
    ROW("php_session_style", NS | NC | MR, 0, 0, 0,
        "no-store, no-cache, must-revalidate, post-check=0, pre-check=0"),
    ROW("private_and_proxy_revalidate", PRIV | PR, 0, 0, 0,
        "private, proxy-revalidate"),
    ROW("qualified_no_cache_counts_as_no_cache", NC | MA, 60, 0, 0,
        "no-cache=\"Set-Cookie, X-Foo\", max-age=60"),
    ROW("qualified_private_counts_as_private", PRIV, 0, 0, 0, "private=\"X\""),
    ROW("token_argument_on_no_cache", NC, 0, 0, 0, "no-cache=Set-Cookie"),
    ROW("max_stale_with_and_without_value", MS, 0, 0, 0,
        "max-stale, max-stale=10"),
    ROW("extensions_are_ignored", 0, 0, 0, 0,
        "immutable, stale-while-revalidate=30"),
    ROW("extension_with_quoted_comma", MA, 1, 0, 0, "ext=\"a, b\", max-age=1"),
    ROW("tabs_around_commas", MA | PUB, 9, 0, 0, "\tmax-age=9\t,\tpublic\t"),
    ROW("several_lines_add_up", MA | NC, 60, 0, 0, "max-age=60", "no-cache"),
    ROW("huge_number_is_clamped", MA, NM_CACHECTL_DELTA_MAX, 0, 0,
        "max-age=99999999999999999999999"),
    ROW("same_number_twice_is_fine", MA, 5, 0, 0, "max-age=5, max-age=5"),
    /* Malformed or conflicting: invalid. */
    ROW("two_different_max_ages", MA | BAD, 6, 0, 0, "max-age=5, max-age=6"),
    ROW("two_max_ages_on_two_lines", MA | BAD, 50, 0, 0, "max-age=5",
        "max-age=50"),
    ROW("max_age_without_value", BAD, 0, 0, 0, "max-age"),
    ROW("max_age_empty_value", BAD, 0, 0, 0, "max-age="),
    ROW("max_age_negative", BAD, 0, 0, 0, "max-age=-1"),
    ROW("max_age_not_a_number", BAD, 0, 0, 0, "max-age=soon"),
    ROW("max_age_fraction", BAD, 0, 0, 0, "max-age=1.5"),
    ROW("quoted_number_with_escape", BAD, 0, 0, 0, "max-age=\"6\\0\""),
    ROW("space_around_equals", BAD, 0, 0, 0, "max-age = 60"),
    ROW("unterminated_quote", BAD, 0, 0, 0, "no-cache=\"Set-Cookie"),
    ROW("public_with_argument_does_not_widen", BAD, 0, 0, 0, "public=yes"),
    ROW("junk_after_directive", BAD, 0, 0, 0, "max-age=60 public"),
    ROW("directive_is_not_a_token", BAD, 0, 0, 0, "@max-age=60"),
    ROW("prefix_name_is_another_directive", 0, 0, 0, 0, "max-ages=60"),
};

static void cachectl_parse_follows_rfc9111_5_2(void **state)
{
    (void)state;
    int failures = 0;
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        const row_t *r = &rows[i];
        nm_cachectl_t cc;
        nm_cachectl_init(&cc);
        for (int k = 0; k < 3 && r->lines[k]; k++)
            nm_cachectl_parse(&cc, r->lines[k], strlen(r->lines[k]));
        bool is_ok = cc.flags == r->flags &&
                     (!(r->flags & MA) || cc.max_age_s == r->max_age) &&
                     (!(r->flags & SMA) || cc.s_maxage_s == r->s_maxage) &&
                     (!(r->flags & MF) || cc.min_fresh_s == r->min_fresh);
        if (!is_ok) {
            print_message("FAIL %s: \"%s\": flags %#x want %#x, max-age %lld\n",
                          r->what, r->lines[0], cc.flags, r->flags,
                          (long long)cc.max_age_s);
            failures++;
        }
    }
    assert_int_equal(failures, 0);
}

static void cachectl_parse_reports_errors_and_reads_only_len(void **state)
{
    (void)state;
    nm_cachectl_t cc;
    nm_cachectl_init(&cc);
    assert_int_equal(nm_cachectl_parse(&cc, "max-age=6", 9), NM_OK);
    nm_cachectl_init(&cc);
    /* "max-age=60" cut after "max-age=6": the slice is 6. */
    assert_int_equal(nm_cachectl_parse(&cc, "max-age=60", 9), NM_OK);
    assert_int_equal(cc.max_age_s, 6);
    nm_cachectl_init(&cc);
    assert_int_equal(nm_cachectl_parse(&cc, "a b", 3), NM_E_PARSE);
    assert_true(cc.flags & NM_CACHECTL_INVALID);
    assert_int_equal(nm_cachectl_parse(NULL, "", 0), NM_E_INVAL);
}

static void cachectl_delta_is_digits_only(void **state)
{
    (void)state;
    int64_t v = -1;
    assert_int_equal(nm_cachectl_delta("0", 1, &v), NM_OK);
    assert_int_equal(v, 0);
    assert_int_equal(nm_cachectl_delta("2147483648", 10, &v), NM_OK);
    assert_int_equal(v, NM_CACHECTL_DELTA_MAX);
    assert_int_equal(nm_cachectl_delta("2147483649", 10, &v), NM_OK);
    assert_int_equal(v, NM_CACHECTL_DELTA_MAX);
    assert_int_equal(nm_cachectl_delta("", 0, &v), NM_E_PARSE);
    assert_int_equal(nm_cachectl_delta(" 1", 2, &v), NM_E_PARSE);
    assert_int_equal(nm_cachectl_delta("+1", 2, &v), NM_E_PARSE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(cachectl_parse_follows_rfc9111_5_2),
        cmocka_unit_test(cachectl_parse_reports_errors_and_reads_only_len),
        cmocka_unit_test(cachectl_delta_is_digits_only),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
