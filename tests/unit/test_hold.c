/* test_hold.c - the hold's room in front of its bytes (shim/hold.c): a
 * head and its validator lines put there make one piece with the body
 * held in memory, byte for byte, whatever the sizes and however the body
 * came; pieces that do not fit, or a hold with nothing in memory, are left
 * to the caller. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "config.h"
#include "hold.h"

/* The shim's configuration and log, as the rows need them. */
struct nm_config nm_cfg = {.hold_max_bytes = 1 << 20,
                           .hold_total_bytes = 1 << 24};
#include "shim_log_off.h"

typedef struct row {
    const char *what;
    size_t head_len;  /* the first piece in front */
    size_t lines_len; /* the second */
    size_t body_len;  /* bytes held, appended in pieces of at most... */
    size_t piece_max; /* ...this many */
    bool is_joined;
} row_t;

static const row_t rows[] = {
    {"nginx_head_and_tag_before_16k_body", 187, 35, 16384, 16197, true},
    {"body_in_one_piece", 200, 60, 1024, 1024, true},
    {"body_grown_through_reallocs", 300, 80, 60000, 1000, true},
    {"head_alone_no_lines", 500, 0, 10, 10, true},
    {"front_exactly_full", NM_HOLD_FRONT_BYTES - 40, 40, 100, 100, true},
    {"front_one_byte_over", NM_HOLD_FRONT_BYTES - 40, 41, 100, 100, false},
    {"big_head_left_apart", 6000, 35, 16384, 16384, false},
    {"nothing_held_in_memory", 187, 35, 0, 1, false},
};

static void fill(char *p, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (char)(seed + i * 7);
}

static int check_row(const row_t *r)
{
    static char head[8192], lines[256], body[65536];
    fill(head, r->head_len, 1);
    fill(lines, r->lines_len, 2);
    fill(body, r->body_len, 3);
    struct nm_hold *h = nm_hold_new(0, 0);
    assert_non_null(h);
    for (size_t off = 0; off < r->body_len; off += r->piece_max) {
        size_t n =
            r->body_len - off < r->piece_max ? r->body_len - off : r->piece_max;
        assert_true(nm_hold_append(h, body + off, n));
    }
    struct iovec v[2] = {{head, r->head_len}, {lines, r->lines_len}};
    struct iovec out = {NULL, 0};
    bool is_joined = nm_hold_join_front(h, v, 2, &out);
    int failures = 0;
    size_t front = r->head_len + r->lines_len;
    if (is_joined != r->is_joined) {
        print_error("%s: joined %d, want %d\n", r->what, is_joined,
                    r->is_joined);
        failures++;
    } else if (is_joined &&
               (out.iov_len != front + r->body_len ||
                memcmp(out.iov_base, head, r->head_len) != 0 ||
                memcmp((char *)out.iov_base + r->head_len, lines,
                       r->lines_len) != 0 ||
                memcmp((char *)out.iov_base + front, body, r->body_len) != 0 ||
                (char *)out.iov_base + front != h->mem)) {
        print_error("%s: the joined piece is not head, lines, body\n", r->what);
        failures++;
    }
    /* The held bytes themselves are untouched, joined or not. */
    if (h->mem_len != r->body_len ||
        (r->body_len > 0 && memcmp(h->mem, body, r->body_len) != 0)) {
        print_error("%s: the held bytes changed\n", r->what);
        failures++;
    }
    nm_hold_free(h);
    return failures;
}

static void join_front_makes_one_piece_when_it_fits(void **state)
{
    (void)state;
    int failures = 0;
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++)
        failures += check_row(&rows[i]);
    assert_int_equal(failures, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(join_front_makes_one_piece_when_it_fits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
