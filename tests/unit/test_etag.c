/* test_etag.c - entity-tag grammar, RFC 9110 §8.8.3.2 comparison table,
 * and If-None-Match / If-Match list matching (RFC 9110 §13.1.1-2; a
 * malformed list matches nothing). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "etag.h"

typedef struct parse_row {
    const char *what;
    const char *input;
    int rc;
    bool is_weak;
    const char *opaque; /* with DQUOTEs; when rc == 0 */
} parse_row_t;

static const parse_row_t parse_rows[] = {
    {"strong_tag", "\"xyzzy\"", 0, false, "\"xyzzy\""},
    {"weak_tag", "W/\"xyzzy\"", 0, true, "\"xyzzy\""},
    {"empty_opaque_is_valid", "\"\"", 0, false, "\"\""},
    {"weak_empty_opaque_is_valid", "W/\"\"", 0, true, "\"\""},
    {"comma_inside_opaque_is_valid", "\"a,b\"", 0, false, "\"a,b\""},
    {"obs_text_is_valid", "\"caf\xc3\xa9\"", 0, false, "\"caf\xc3\xa9\""},
    {"bang_and_tilde_are_etagc", "\"!~\"", 0, false, "\"!~\""},
    {"lowercase_w_is_not_weak_prefix", "w/\"x\"", NM_E_PARSE, false, NULL},
    {"unquoted_is_invalid", "xyzzy", NM_E_PARSE, false, NULL},
    {"missing_close_quote", "\"xyzzy", NM_E_PARSE, false, NULL},
    {"missing_open_quote", "xyzzy\"", NM_E_PARSE, false, NULL},
    {"space_inside_is_invalid", "\"a b\"", NM_E_PARSE, false, NULL},
    {"tab_inside_is_invalid", "\"a\tb\"", NM_E_PARSE, false, NULL},
    {"del_inside_is_invalid", "\"a\x7f\"", NM_E_PARSE, false, NULL},
    {"ctl_inside_is_invalid", "\"a\x01\"", NM_E_PARSE, false, NULL},
    {"quote_inside_is_invalid", "\"a\"b\"", NM_E_PARSE, false, NULL},
    {"leading_space_is_invalid", " \"x\"", NM_E_PARSE, false, NULL},
    {"trailing_space_is_invalid", "\"x\" ", NM_E_PARSE, false, NULL},
    {"trailing_junk_is_invalid", "\"x\"y", NM_E_PARSE, false, NULL},
    {"two_tags_are_not_one", "\"x\",\"y\"", NM_E_PARSE, false, NULL},
    {"weak_prefix_alone_is_invalid", "W/", NM_E_PARSE, false, NULL},
    {"space_after_weak_prefix_invalid", "W/ \"x\"", NM_E_PARSE, false, NULL},
    {"lone_quote_is_invalid", "\"", NM_E_PARSE, false, NULL},
    {"empty_string_is_invalid", "", NM_E_PARSE, false, NULL},
    {"star_is_not_a_tag", "*", NM_E_PARSE, false, NULL},
};

static void etag_parse_follows_rfc9110_grammar(void **state)
{
    (void)state;
    int failures = 0;
    for (size_t i = 0; i < sizeof parse_rows / sizeof parse_rows[0]; i++) {
        const parse_row_t *r = &parse_rows[i];
        nm_etag_t t = {false, {NULL, 0}};
        int rc = nm_etag_parse(r->input, strlen(r->input), &t);
        bool ok = rc == r->rc;
        if (ok && rc == 0)
            ok = t.is_weak == r->is_weak && t.opaque.len == strlen(r->opaque) &&
                 memcmp(t.opaque.ptr, r->opaque, t.opaque.len) == 0;
        if (!ok) {
            print_error("%s: input [%s] rc %d want %d\n", r->what, r->input, rc,
                        r->rc);
            failures++;
        }
    }
    assert_int_equal(failures, 0);
}

typedef struct cmp_row {
    const char *what;
    const char *a, *b;
    bool strong, weak;
} cmp_row_t;

/* RFC 9110 §8.8.3.2's example table, plus octet-exactness. */
static const cmp_row_t cmp_rows[] = {
    {"weak_weak_same_is_weak_only", "W/\"1\"", "W/\"1\"", false, true},
    {"weak_weak_different_never_match", "W/\"1\"", "W/\"2\"", false, false},
    {"weak_strong_same_is_weak_only", "W/\"1\"", "\"1\"", false, true},
    {"strong_weak_same_is_weak_only", "\"1\"", "W/\"1\"", false, true},
    {"strong_strong_same_matches_both", "\"1\"", "\"1\"", true, true},
    {"strong_strong_different_no_match", "\"1\"", "\"2\"", false, false},
    {"comparison_is_case_sensitive", "\"abc\"", "\"ABC\"", false, false},
    {"prefix_is_not_equal", "\"ab\"", "\"abc\"", false, false},
    {"empty_tags_are_equal", "\"\"", "\"\"", true, true},
};

static void etag_compare_strong_and_weak_per_rfc9110_table(void **state)
{
    (void)state;
    int failures = 0;
    for (size_t i = 0; i < sizeof cmp_rows / sizeof cmp_rows[0]; i++) {
        const cmp_row_t *r = &cmp_rows[i];
        nm_etag_t a, b;
        assert_int_equal(nm_etag_parse(r->a, strlen(r->a), &a), 0);
        assert_int_equal(nm_etag_parse(r->b, strlen(r->b), &b), 0);
        bool s = nm_etag_strong_eq(&a, &b), w = nm_etag_weak_eq(&a, &b);
        if (s != r->strong || w != r->weak) {
            print_error("%s: [%s] vs [%s] strong %d weak %d\n", r->what, r->a,
                        r->b, s, w);
            failures++;
        }
    }
    assert_int_equal(failures, 0);
}

enum { WEAK = 1, STRONG = 0 };

typedef struct list_row {
    const char *what;
    const char *value;
    const char *current; /* NULL: the representation has no tag */
    int use_weak;
    int expected;
} list_row_t;

#define M NM_ETAG_MATCH
#define N NM_ETAG_NO_MATCH
#define P NM_E_PARSE

static const list_row_t list_rows[] = {
    /* If-None-Match (weak comparison, RFC 9110 §13.1.2) */
    {"inm_same_strong_tag_matches", "\"a\"", "\"a\"", WEAK, M},
    {"inm_weak_tag_matches_strong_etag", "W/\"a\"", "\"a\"", WEAK, M},
    {"inm_strong_tag_matches_weak_etag", "\"a\"", "W/\"a\"", WEAK, M},
    {"inm_weak_tag_matches_weak_etag", "W/\"a\"", "W/\"a\"", WEAK, M},
    {"inm_different_tag_no_match", "\"b\"", "\"a\"", WEAK, N},
    {"inm_match_is_case_sensitive", "\"A\"", "\"a\"", WEAK, N},
    {"inm_list_second_member_matches", "\"x\", \"a\"", "\"a\"", WEAK, M},
    {"inm_list_without_spaces", "\"x\",\"a\",\"y\"", "\"a\"", WEAK, M},
    {"inm_list_none_match", "\"x\", \"y\", W/\"z\"", "\"a\"", WEAK, N},
    {"inm_tabs_around_commas", "\"x\"\t,\t\"a\"", "\"a\"", WEAK, M},
    {"inm_leading_trailing_ows", " \t\"a\" \t", "\"a\"", WEAK, M},
    {"inm_empty_elements_ignored", ",\"x\",, ,\"a\",", "\"a\"", WEAK, M},
    {"inm_comma_inside_tag_is_one_tag", "\"a,b\"", "\"a,b\"", WEAK, M},
    {"inm_comma_inside_tag_does_not_split", "\"a,b\"", "\"a\"", WEAK, N},
    {"inm_comma_tag_split_is_not_b", "\"a,b\"", "\"b\"", WEAK, N},
    {"inm_empty_tag_matches_empty_etag", "\"\"", "\"\"", WEAK, M},
    {"inm_empty_tag_no_match_other", "\"\"", "\"a\"", WEAK, N},
    {"inm_joined_lines_concatenate", "\"x\", \"y\", \"a\"", "\"a\"", WEAK, M},
    {"inm_star_matches_any_tag", "*", "\"a\"", WEAK, M},
    {"inm_star_matches_without_etag", "*", NULL, WEAK, M},
    {"inm_star_with_ows", "  *\t", "\"a\"", WEAK, M},
    {"inm_no_etag_list_no_match", "\"a\"", NULL, WEAK, N},
    {"inm_star_mixed_with_tag_is_malformed", "*, \"a\"", "\"a\"", WEAK, P},
    {"inm_tag_then_star_is_malformed", "\"a\", *", "\"a\"", WEAK, P},
    {"inm_two_stars_is_malformed", "*, *", "\"a\"", WEAK, P},
    {"inm_star_with_empty_element_malformed", "*,", "\"a\"", WEAK, P},
    {"inm_lowercase_w_is_malformed", "w/\"a\"", "\"a\"", WEAK, P},
    {"inm_unquoted_member_is_malformed", "\"a\", b", "\"a\"", WEAK, P},
    {"inm_malformed_after_match_still_malformed", "\"a\", xyz", "\"a\"", WEAK,
     P},
    {"inm_unterminated_quote_is_malformed", "\"a", "\"a\"", WEAK, P},
    {"inm_space_separated_tags_malformed", "\"a\" \"b\"", "\"a\"", WEAK, P},
    {"inm_junk_after_tag_malformed", "\"a\"x", "\"a\"", WEAK, P},
    {"inm_empty_value_is_malformed", "", "\"a\"", WEAK, P},
    {"inm_only_ows_is_malformed", "  \t ", "\"a\"", WEAK, P},
    {"inm_only_commas_is_malformed", " , ,, ", "\"a\"", WEAK, P},
    {"inm_semicolon_separator_malformed", "\"a\"; \"b\"", "\"a\"", WEAK, P},
    /* If-Match (strong comparison, RFC 9110 §13.1.1) */
    {"im_same_strong_tag_matches", "\"a\"", "\"a\"", STRONG, M},
    {"im_weak_member_never_matches", "W/\"a\"", "\"a\"", STRONG, N},
    {"im_weak_etag_never_matches", "\"a\"", "W/\"a\"", STRONG, N},
    {"im_weak_both_no_match", "W/\"a\"", "W/\"a\"", STRONG, N},
    {"im_list_member_matches", "\"x\", \"a\"", "\"a\"", STRONG, M},
    {"im_star_matches_existing", "*", "\"a\"", STRONG, M},
    {"im_star_matches_without_etag", "*", NULL, STRONG, M},
    {"im_malformed_is_parse_error", "\"a\", w/\"b\"", "\"a\"", STRONG, P},
};

static void list_match_follows_conformance_rules(void **state)
{
    (void)state;
    int failures = 0;
    for (size_t i = 0; i < sizeof list_rows / sizeof list_rows[0]; i++) {
        const list_row_t *r = &list_rows[i];
        nm_etag_t cur;
        const nm_etag_t *curp = NULL;
        if (r->current != NULL) {
            assert_int_equal(
                nm_etag_parse(r->current, strlen(r->current), &cur), 0);
            curp = &cur;
        }
        int got = nm_etag_list_match(r->value, strlen(r->value), curp,
                                     r->use_weak == WEAK);
        if (got != r->expected) {
            print_error("%s: value [%s] current [%s] got %d want %d\n", r->what,
                        r->value, r->current ? r->current : "(none)", got,
                        r->expected);
            failures++;
        }
    }
    assert_int_equal(failures, 0);
}

/* The list scanner must not read past len: the value is not NUL-ended. */
/* Every byte value at every position of a 40-byte opaque-tag, so that the
 * 16-byte block scan and the byte tail are both checked against the
 * grammar: etagc = %x21 / %x23-7E / obs-text. */
static void etag_parse_checks_every_byte_of_long_tags(void **state)
{
    (void)state;
    int failures = 0;
    for (int b = 0; b < 256; b++) {
        bool is_etagc = b == 0x21 || (b >= 0x23 && b <= 0x7e) || b >= 0x80;
        for (size_t at = 0; at < 40; at++) {
            char tag[43];
            tag[0] = '"';
            memset(tag + 1, 'a', 40);
            tag[1 + at] = (char)b;
            tag[41] = '"';
            nm_etag_t t;
            bool ok = nm_etag_parse(tag, 42, &t) == NM_OK;
            if (ok != is_etagc) {
                print_error("byte 0x%02x at %zu: parsed %d\n", b, at, ok);
                failures++;
            }
        }
    }
    assert_int_equal(failures, 0);
}

static void list_match_respects_length_not_nul(void **state)
{
    (void)state;
    nm_etag_t cur;
    assert_int_equal(nm_etag_parse("\"a\"", 3, &cur), 0);
    const char buf[] = "\"a\"\"b\"";
    assert_int_equal(nm_etag_list_match(buf, 3, &cur, true), M);
    assert_int_equal(nm_etag_list_match(buf, 2, &cur, true), P);
    assert_int_equal(nm_etag_parse(buf, 3, &cur), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(etag_parse_follows_rfc9110_grammar),
        cmocka_unit_test(etag_compare_strong_and_weak_per_rfc9110_table),
        cmocka_unit_test(list_match_follows_conformance_rules),
        cmocka_unit_test(list_match_respects_length_not_nul),
        cmocka_unit_test(etag_parse_checks_every_byte_of_long_tags),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
