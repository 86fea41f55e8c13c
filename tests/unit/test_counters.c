/* test_counters.c - notmodctl's side of the rates: reading the daemon's
 * "counters" answer, rates between two polls, the 10/100/1000 second
 * windows, and the numbers as the screen writes them (fmt.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "counters.h"
#include "fmt.h"

typedef struct parse_row {
    const char *what;
    const char *payload;
    int rc;
    uint64_t requests, revalidations, hits, missed, bytes_saved;
    size_t nroutes;
} parse_row_t;

#define FIELDS                                                                 \
    "fields requests revalidations hits_served hits_substituted missed "       \
    "tags_added bytes_saved\n"

static const parse_row_t parse_rows[] = {
    {"totals_only", "uptime_s 5\n" FIELDS "totals 10 6 1 2 3 9 400\n", 0, 10, 6,
     3, 3, 400, 0},
    {"every_hits_field_is_a_hit",
     "uptime_s 5\nfields requests hits_served hits_accelerated "
     "hits_substituted\ntotals 9 1 2 4\n",
     0, 9, 0, 7, 0, 0, 0},
    {"unknown_fields_and_lines_are_skipped",
     "uptime_s 5\nfields later requests\ntotals 77 3\nlater line\n", 0, 3, 0, 0,
     0, 0, 0},
    {"routes_counted",
     FIELDS "totals 2 0 0 0 0 0 0\nroute 1 0 0 0 0 0 0 h/b\n"
            "route 1 0 0 0 0 0 0 h/a\n",
     0, 2, 0, 0, 0, 0, 2},
    {"no_totals_is_malformed", "uptime_s 5\n" FIELDS, -1, 0, 0, 0, 0, 0, 0},
    {"totals_before_fields_is_malformed", "totals 1\nfields requests\n", -1, 0,
     0, 0, 0, 0, 0},
    {"short_totals_is_malformed", "fields requests revalidations\ntotals 1\n",
     -1, 0, 0, 0, 0, 0, 0},
    {"long_totals_is_malformed", "fields requests\ntotals 1 2\n", -1, 0, 0, 0,
     0, 0, 0},
    {"route_without_name_is_malformed", "fields requests\ntotals 1\nroute 1\n",
     -1, 0, 0, 0, 0, 0, 0},
    {"non_number_is_malformed", "fields requests\ntotals x\n", -1, 0, 0, 0, 0,
     0, 0},
    {"unterminated_line_is_malformed", "fields requests\ntotals 1", -1, 0, 0, 0,
     0, 0, 0},
};

static void parse_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(parse_rows) / sizeof(parse_rows[0]); i++) {
        const parse_row_t *r = &parse_rows[i];
        nm_sample_t s;
        int rc = nm_sample_parse(r->payload, &s);
        if (rc != r->rc)
            fail_msg("%s: rc %d, want %d", r->what, rc, r->rc);
        if (rc != 0)
            continue;
        const uint64_t *v = s.totals.v;
        if (v[NM_CTR_REQUESTS] != r->requests ||
            v[NM_CTR_REVALIDATIONS] != r->revalidations ||
            v[NM_CTR_HITS] != r->hits || v[NM_CTR_MISSED] != r->missed ||
            v[NM_CTR_BYTES_SAVED] != r->bytes_saved || s.nroutes != r->nroutes)
            fail_msg("%s: got %llu %llu %llu %llu %llu, %zu routes", r->what,
                     (unsigned long long)v[0], (unsigned long long)v[1],
                     (unsigned long long)v[2], (unsigned long long)v[3],
                     (unsigned long long)v[4], s.nroutes);
        nm_sample_free(&s);
    }
}

static void routes_are_found_by_name(void **state)
{
    (void)state;
    nm_sample_t s;
    assert_int_equal(nm_sample_parse("fields requests\ntotals 3\n"
                                     "route 2 z.test/b\nroute 1 a.test/a\n",
                                     &s),
                     0);
    const nm_ctrs_t *b = nm_sample_route(&s, "z.test/b");
    assert_non_null(b);
    assert_int_equal(b->v[NM_CTR_REQUESTS], 2);
    assert_null(nm_sample_route(&s, "z.test/c"));
    nm_sample_free(&s);
}

static void rates_between_polls(void **state)
{
    (void)state;
    nm_ctrs_t old = {{100, 50, 20, 5, 1000}}, now = {{300, 150, 70, 5, 3000}};
    nm_rates_t r;
    nm_rates_between(&old, &now, 2.0, &r);
    assert_float_equal(r.per_s[NM_CTR_REQUESTS], 100.0, 1e-9);
    assert_float_equal(r.per_s[NM_CTR_BYTES_SAVED], 1000.0, 1e-9);
    assert_float_equal(r.hit_rate, 0.5, 1e-9);
    /* No revalidation in the interval: no hit rate (not 0%). */
    nm_rates_between(&now, &now, 1.0, &r);
    assert_true(r.hit_rate < 0);
}

static void restart_is_seen_when_counters_go_back(void **state)
{
    (void)state;
    nm_sample_t a = {0}, b = {0};
    a.uptime_s = 100;
    a.totals.v[NM_CTR_REQUESTS] = 50;
    b = a;
    b.uptime_s = 101;
    assert_false(nm_sample_restarted(&a, &b));
    b.totals.v[NM_CTR_REQUESTS] = 10;
    assert_true(nm_sample_restarted(&a, &b));
    b = a;
    b.uptime_s = 2;
    assert_true(nm_sample_restarted(&a, &b));
}

/* A poll every second for 30 s at 10 requests/s, then 20 s at 40/s. */
static void windows_average_what_they_cover(void **state)
{
    (void)state;
    static nm_history_t h;
    nm_sample_t s = {0};
    uint64_t requests = 0;
    for (int t = 0; t <= 50; t++) {
        s.t_s = 1000.0 + t;
        s.totals.v[NM_CTR_REQUESTS] = requests;
        nm_history_add(&h, &s);
        requests += t < 30 ? 10 : 40;
    }
    nm_rates_t r;
    assert_true(nm_history_rates(&h, &s, 10, &r));
    assert_float_equal(r.per_s[NM_CTR_REQUESTS], 40.0, 1e-9);
    /* 100 s asked, 50 s known: the average over what there is. */
    assert_true(nm_history_rates(&h, &s, 100, &r));
    assert_float_equal(r.per_s[NM_CTR_REQUESTS], (30 * 10 + 20 * 40) / 50.0,
                       1e-9);
    /* Polls closer than a second are not kept twice. */
    size_t count = h.count;
    s.t_s += 0.5;
    nm_history_add(&h, &s);
    assert_int_equal(h.count, count);
}

static void history_needs_an_older_sample(void **state)
{
    (void)state;
    static nm_history_t h;
    nm_sample_t s = {0};
    s.t_s = 5;
    nm_history_add(&h, &s);
    nm_rates_t r;
    assert_false(nm_history_rates(&h, &s, 10, &r));
}

typedef struct fmt_row {
    double v;
    int decimals, width;
    const char *want;
} fmt_row_t;

static const fmt_row_t fmt_rows[] = {
    {0, 0, 7, "0"},
    {1234567, 0, 7, "1234567"},
    {12345678, 0, 7, "12.3M"},
    {999950, 0, 5, "1.0M"},
    {99.94, 1, 7, "99.9"},
    {9999.9, 1, 7, "9999.9"},
    {10000, 1, 9, "10.0k"},
    {3597542.4, 1, 9, "3.6M"},
    {1e21, 0, 7, "1000.0E"},
};

static void fmt_num_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(fmt_rows) / sizeof(fmt_rows[0]); i++) {
        char buf[32];
        nm_fmt_num(buf, sizeof(buf), fmt_rows[i].v, fmt_rows[i].decimals,
                   fmt_rows[i].width);
        if (strcmp(buf, fmt_rows[i].want) != 0)
            fail_msg("%g (%d decimals, width %d): got %s, want %s",
                     fmt_rows[i].v, fmt_rows[i].decimals, fmt_rows[i].width,
                     buf, fmt_rows[i].want);
    }
}

static void fmt_pct_without_rate_is_a_dash(void **state)
{
    (void)state;
    char buf[16];
    nm_fmt_pct(buf, sizeof(buf), -1);
    assert_string_equal(buf, "-");
    nm_fmt_pct(buf, sizeof(buf), 0.6667);
    assert_string_equal(buf, "66.7%");
}

/* An accelerated 304 is a revalidation hit and a figure of its own; the
 * server time it avoided comes in microseconds. */
static void accelerated_is_a_hit_and_its_own_figure(void **state)
{
    (void)state;
    nm_sample_t s;
    assert_int_equal(nm_sample_parse("uptime_s 5\nfields requests hits_served "
                                     "hits_accelerated server_time_avoided_us\n"
                                     "totals 10 2 5 2500000\n"
                                     "route 4 0 3 1500000 h/a\n",
                                     &s),
                     0);
    assert_int_equal(s.totals.v[NM_CTR_HITS], 7);
    assert_int_equal(s.totals.v[NM_CTR_ACCELERATED], 5);
    assert_int_equal(s.totals.v[NM_CTR_AVOIDED_US], 2500000);
    const nm_ctrs_t *r = nm_sample_route(&s, "h/a");
    assert_non_null(r);
    assert_int_equal(r->v[NM_CTR_HITS], 3);
    assert_int_equal(r->v[NM_CTR_ACCELERATED], 3);
    nm_sample_free(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(parse_table),
        cmocka_unit_test(accelerated_is_a_hit_and_its_own_figure),
        cmocka_unit_test(routes_are_found_by_name),
        cmocka_unit_test(rates_between_polls),
        cmocka_unit_test(restart_is_seen_when_counters_go_back),
        cmocka_unit_test(windows_average_what_they_cover),
        cmocka_unit_test(history_needs_an_older_sample),
        cmocka_unit_test(fmt_num_table),
        cmocka_unit_test(fmt_pct_without_rate_is_a_dash),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
