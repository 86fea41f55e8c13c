/* test_preload.c - taking the shim's own entries out of LD_PRELOAD: space
 * and colon separators and runs of them, duplicates of our entry, a bare
 * name and another directory's spelling of it, names that only contain
 * ours, a list too long for the buffer, and whole environments (other
 * variables untouched, the variable dropped when nothing is left). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "preload.h"

#define LIB "/opt/nm/lib/libnotmod.so"

typedef struct row {
    const char *what;
    const char *list;
    const char *expected; /* the list written out */
    int removed;          /* or NM_E_NOSPACE */
} row_t;

static const row_t rows[] = {
    {"ours_alone_leaves_nothing", LIB, "", 1},
    {"ours_between_two_others_colons", "/a/liba.so:" LIB ":/b/libb.so",
     "/a/liba.so:/b/libb.so", 1},
    {"ours_between_two_others_spaces", "/a/liba.so " LIB " /b/libb.so",
     "/a/liba.so /b/libb.so", 1},
    {"mixed_separators_keep_the_one_before_each_kept_entry",
     "/a/liba.so " LIB ":/b/libb.so", "/a/liba.so:/b/libb.so", 1},
    {"ours_first", LIB ":/b/libb.so", "/b/libb.so", 1},
    {"ours_last", "/a/liba.so " LIB, "/a/liba.so", 1},
    {"ours_twice_around_another", LIB " /a/liba.so:" LIB, "/a/liba.so", 2},
    {"ours_twice_in_a_row", "/a/liba.so:" LIB ":" LIB ":/b/libb.so",
     "/a/liba.so:/b/libb.so", 2},
    {"bare_name_found_on_the_library_path", "libasan.so.8 libnotmod.so",
     "libasan.so.8", 1},
    {"another_directory_same_file_name", "/usr/lib/x/libnotmod.so", "", 1},
    {"relative_spelling", "./libnotmod.so:/a/liba.so", "/a/liba.so", 1},
    {"name_containing_ours_is_kept", "/a/libnotmod.so.bak:/a/mylibnotmod.so",
     "/a/libnotmod.so.bak:/a/mylibnotmod.so", 0},
    {"directory_named_like_ours_is_kept", "/a/libnotmod.so/x.so",
     "/a/libnotmod.so/x.so", 0},
    {"trailing_slash_is_not_ours", "/opt/nm/lib/libnotmod.so/",
     "/opt/nm/lib/libnotmod.so/", 0},
    {"nothing_of_ours_is_copied_as_is", " /a/liba.so::/b/libb.so ",
     " /a/liba.so::/b/libb.so ", 0},
    {"empty_entries_and_leading_separators_stay_with_the_first_kept",
     "::" LIB "::/a/liba.so", "::/a/liba.so", 1},
    {"trailing_separators_stay", "/a/liba.so:" LIB ":", "/a/liba.so:", 1},
    {"separators_around_ours_alone_leave_nothing", " :" LIB ": ", "", 1},
    {"empty_list", "", "", 0},
    {"separators_only", " : ", "", 0},
};

static void strip_rows(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        const row_t *r = &rows[i];
        char out[256];
        size_t out_len = 999;
        int got = nm_preload_strip(r->list, strlen(r->list), LIB, out,
                                   sizeof(out), &out_len);
        if (got != r->removed || strcmp(out, r->expected) != 0 ||
            out_len != strlen(r->expected)) {
            print_error("row %s: list '%s': got %d '%s', expected %d '%s'\n",
                        r->what, r->list, got, out, r->removed, r->expected);
            fail();
        }
    }
}

static void list_too_long_for_the_buffer(void **state)
{
    (void)state;
    const char *list = "/a/liba.so:" LIB ":/b/libb.so";
    char out[21]; /* "/a/liba.so:/b/libb.so" needs 22 */
    size_t out_len;
    assert_int_equal(
        nm_preload_strip(list, strlen(list), LIB, out, sizeof(out), &out_len),
        NM_E_NOSPACE);
    char fits[22];
    assert_int_equal(
        nm_preload_strip(list, strlen(list), LIB, fits, sizeof(fits), &out_len),
        1);
    assert_string_equal(fits, "/a/liba.so:/b/libb.so");
}

static void no_lib_names_nothing(void **state)
{
    (void)state;
    assert_false(nm_preload_names_lib("libnotmod.so", 12, ""));
    assert_false(nm_preload_names_lib("libnotmod.so", 12, NULL));
    assert_false(nm_preload_names_lib("", 0, LIB));
    assert_true(nm_preload_names_lib(LIB, strlen(LIB), LIB));
}

static void env_other_variables_keep_their_pointers(void **state)
{
    (void)state;
    char a[] = "PATH=/usr/bin:/bin";
    char p[] = "LD_PRELOAD=/a/liba.so " LIB " /b/libb.so";
    char b[] = "LD_PRELOADX=" LIB;
    char c[] = "QUERY_STRING=libnotmod.so";
    char *const envp[] = {a, p, b, c, NULL};
    char *out[8];
    char buf[128];
    assert_int_equal(nm_preload_strip_env(envp, LIB, out, 8, buf, sizeof(buf)),
                     1);
    assert_ptr_equal(out[0], a);
    assert_string_equal(out[1], "LD_PRELOAD=/a/liba.so /b/libb.so");
    assert_ptr_equal(out[2], b);
    assert_ptr_equal(out[3], c);
    assert_null(out[4]);
    /* the caller's strings are untouched */
    assert_string_equal(p, "LD_PRELOAD=/a/liba.so " LIB " /b/libb.so");
}

static void env_variable_dropped_when_only_ours(void **state)
{
    (void)state;
    char a[] = "A=1";
    char p[] = "LD_PRELOAD=" LIB;
    char b[] = "B=2";
    char *const envp[] = {a, p, b, NULL};
    char *out[4];
    char buf[64];
    assert_int_equal(nm_preload_strip_env(envp, LIB, out, 4, buf, sizeof(buf)),
                     1);
    assert_ptr_equal(out[0], a);
    assert_ptr_equal(out[1], b);
    assert_null(out[2]);
}

static void env_without_our_entry_needs_no_change(void **state)
{
    (void)state;
    char a[] = "LD_PRELOAD=/a/liba.so";
    char b[] = "NOTMOD_LOG=" LIB;
    char *const envp[] = {a, b, NULL};
    char *out[4];
    char buf[64];
    assert_int_equal(nm_preload_strip_env(envp, LIB, out, 4, buf, sizeof(buf)),
                     0);
    char *const empty[] = {NULL};
    assert_int_equal(nm_preload_strip_env(empty, LIB, out, 4, buf, sizeof(buf)),
                     0);
    assert_null(out[0]);
}

static void env_every_preload_variable_rewritten(void **state)
{
    (void)state;
    /* ld.so reads the last one; both lose our entry. */
    char p1[] = "LD_PRELOAD=" LIB ":/a/liba.so";
    char p2[] = "LD_PRELOAD=/b/libb.so:" LIB;
    char *const envp[] = {p1, p2, NULL};
    char *out[4];
    char buf[64];
    assert_int_equal(nm_preload_strip_env(envp, LIB, out, 4, buf, sizeof(buf)),
                     2);
    assert_string_equal(out[0], "LD_PRELOAD=/a/liba.so");
    assert_string_equal(out[1], "LD_PRELOAD=/b/libb.so");
    assert_null(out[2]);
}

static void env_too_many_variables_or_too_long(void **state)
{
    (void)state;
    char a[] = "A=1";
    char p[] = "LD_PRELOAD=/a/liba.so:" LIB;
    char *const envp[] = {a, a, p, NULL};
    char *out[4];
    char buf[64];
    assert_int_equal(nm_preload_strip_env(envp, LIB, out, 3, buf, sizeof(buf)),
                     NM_E_NOSPACE);
    assert_int_equal(nm_preload_strip_env(envp, LIB, out, 4, buf, sizeof(buf)),
                     1);
    assert_null(out[3]);
    assert_int_equal(nm_preload_strip_env(envp, LIB, out, 4, buf, 20),
                     NM_E_NOSPACE);
    assert_int_equal(nm_preload_strip_env(envp, LIB, out, 4, buf, 11),
                     NM_E_NOSPACE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(strip_rows),
        cmocka_unit_test(list_too_long_for_the_buffer),
        cmocka_unit_test(no_lib_names_nothing),
        cmocka_unit_test(env_other_variables_keep_their_pointers),
        cmocka_unit_test(env_variable_dropped_when_only_ours),
        cmocka_unit_test(env_without_our_entry_needs_no_change),
        cmocka_unit_test(env_every_preload_variable_rewritten),
        cmocka_unit_test(env_too_many_variables_or_too_long),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
