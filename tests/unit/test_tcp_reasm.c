/* test_tcp_reasm.c - TCP reassembly of one direction, table-driven. Each
 * row is a script of segments ("S<isn>" a SYN, "D<seq>:<bytes>" data,
 * "F<seq>" a FIN, "X" end of flow), the out-of-order budget, and what the
 * consumer must see: the bytes in order, "[lost N]" for skipped holes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tcp_reasm.h"

typedef struct row {
    const char *name;
    size_t ooo_max_bytes;
    const char *script;
    const char *expected;
    bool is_finished; /* after the script, before any X */
} row_t;

static const row_t rows[] = {
    {"in_order_segments_are_delivered_at_once", 64, "S100 D101:abc D104:def",
     "abcdef", false},
    {"out_of_order_segment_waits_for_its_hole", 64, "S100 D104:def D101:abc",
     "abcdef", false},
    {"retransmission_is_delivered_once", 64, "S100 D101:abc D101:abc D104:def",
     "abcdef", false},
    {"overlap_delivers_only_new_bytes", 64, "S100 D101:abcd D103:cdef",
     "abcdef", false},
    {"overlap_first_copy_wins", 64, "S100 D101:abc D102:XYZW", "abcZW", false},
    {"buffered_overlaps_are_deduplicated", 64,
     "S100 D107:gh D104:defg D101:abc", "abcdefgh", false},
    {"buffered_retransmission_is_stored_once", 64,
     "S100 D104:def D104:def D101:abc", "abcdef", false},
    {"old_retransmission_is_dropped", 64, "S100 D101:abc D90:zz", "abc", false},
    {"budget_exceeded_skips_the_earliest_hole", 4, "S100 D104:def D107:ghi",
     "[lost 3]defghi", false},
    {"segment_larger_than_budget_skips_its_hole", 2, "S100 D104:defg",
     "[lost 3]defg", false},
    {"no_budget_skips_at_once", 0, "S100 D103:c D101:ab", "[lost 2]c", false},
    {"flush_reports_holes_then_buffered_bytes", 64, "S100 D101:ab D105:ef X",
     "ab[lost 2]ef", false},
    {"sequence_numbers_wrap", 64, "S4294967294 D4294967295:ab D1:cd", "abcd",
     false},
    {"out_of_order_across_the_wrap", 64, "S4294967294 D1:cd D4294967295:ab",
     "abcd", false},
    {"stream_picked_up_mid_connection", 64, "D500:xy D502:z", "xyz", false},
    {"syn_retransmitted_after_data_is_ignored", 64, "S100 D101:ab S100 D103:c",
     "abc", false},
    {"fin_after_all_data_finishes", 64, "S100 D101:abc F104", "abc", true},
    {"fin_before_missing_data_waits", 64, "S100 D101:abc D106:f F107", "abc",
     false},
    {"fin_then_late_data_finishes", 64, "S100 D104:def F107 D101:abc", "abcdef",
     true},
    {"flush_with_fin_hole_reports_lost", 64, "S100 D101:abc D106:f F107 X",
     "abc[lost 2]f", false},
    {"flush_of_fin_with_missing_tail", 64, "S100 D101:a F110 X", "a[lost 8]",
     false},
};

typedef struct out {
    char buf[512];
    size_t len;
} out_t;

static void on_bytes(void *arg, const uint8_t *data, size_t len)
{
    out_t *o = arg;
    int n = data ? snprintf(o->buf + o->len, sizeof(o->buf) - o->len, "%.*s",
                            (int)len, (const char *)data)
                 : snprintf(o->buf + o->len, sizeof(o->buf) - o->len,
                            "[lost %zu]", len);
    if (n > 0 && (size_t)n < sizeof(o->buf) - o->len)
        o->len += (size_t)n;
}

/* Runs one script token; returns false at an "X" (the flow ended). */
static bool run_op(nm_tcp_stream_t *s, const char *tok, size_t toklen, out_t *o)
{
    char *end;
    uint32_t seq = (uint32_t)strtoul(tok + 1, &end, 10);
    switch (tok[0]) {
    case 'S':
        nm_tcp_stream_syn(s, seq);
        return true;
    case 'F':
        nm_tcp_stream_fin(s, seq);
        return true;
    case 'D': {
        size_t n = toklen - (size_t)(end + 1 - tok);
        long rc = nm_tcp_stream_data(s, seq, (const uint8_t *)end + 1, n,
                                     on_bytes, o);
        assert_true(rc >= 0);
        return true;
    }
    default:
        return false;
    }
}

static void check_row(const row_t *r)
{
    nm_tcp_stream_t s;
    nm_tcp_stream_init(&s, r->ooo_max_bytes);
    out_t o = {{0}, 0};
    bool is_finished = false;
    const char *p = r->script;
    while (*p) {
        size_t toklen = strcspn(p, " ");
        if (!run_op(&s, p, toklen, &o)) {
            nm_tcp_stream_flush(&s, on_bytes, &o);
        } else {
            is_finished = nm_tcp_stream_is_finished(&s);
        }
        p += toklen;
        p += *p == ' ';
    }
    if (strcmp(o.buf, r->expected) != 0 || is_finished != r->is_finished)
        fail_msg("%s: script \"%s\": got \"%s\" finished=%d, want \"%s\" "
                 "finished=%d",
                 r->name, r->script, o.buf, is_finished, r->expected,
                 r->is_finished);
    nm_tcp_stream_free(&s);
}

static void reassembly_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
        check_row(&rows[i]);
}

/* The budget holds whatever arrives: many far-apart segments never keep
 * more than ooo_max_bytes buffered. */
static void budget_bounds_buffered_bytes(void **state)
{
    (void)state;
    nm_tcp_stream_t s;
    nm_tcp_stream_init(&s, 1000);
    out_t o = {{0}, 0};
    nm_tcp_stream_syn(&s, 0);
    uint8_t seg[100];
    memset(seg, 'x', sizeof(seg));
    for (uint32_t i = 0; i < 500; i++) {
        o.len = 0;
        nm_tcp_stream_data(&s, 1 + 200 * (i + 1), seg, sizeof(seg), on_bytes,
                           &o);
        assert_true(s.ooo_bytes <= 1000);
    }
    nm_tcp_stream_free(&s);
    assert_int_equal(s.ooo_bytes, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(reassembly_table),
        cmocka_unit_test(budget_bounds_buffered_bytes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
