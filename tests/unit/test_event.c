/* test_event.c - the shim -> notmodd event record: round trips, a golden
 * byte layout, and decoding of truncated, garbage and hostile records. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "event.h"

static nm_slice_t S(const char *s)
{
    nm_slice_t sl = {s, s ? strlen(s) : 0};
    return sl;
}

static void assert_slice(nm_slice_t got, const char *want)
{
    assert_int_equal(got.len, strlen(want));
    assert_memory_equal(got.ptr, want, got.len);
}

static nm_event_t sample(void)
{
    nm_event_t ev = {0};
    ev.pid = 4242;
    ev.flags = NM_EVENT_F_COND_INM | NM_EVENT_F_SYNTH_TAG;
    ev.method = NM_METHOD_GET;
    ev.outcome = NM_OUTCOME_SUBSTITUTED_304;
    ev.status = 200;
    ev.body_len = 123456789012ull;
    ev.bytes_saved = 123456;
    ev.validator = S("\"nm-AAAAAAAAAAAAAAAAAAAAAA\"");
    ev.host = S("example.com:8080");
    ev.path = S("/a/b?c=d");
    return ev;
}

struct roundtrip_row {
    const char *name;
    uint8_t flags;
    uint8_t method, outcome;
    uint16_t status, reason;
    uint64_t token;
    const char *validator, *host, *path;
};

static const struct roundtrip_row roundtrip_rows[] = {
    {"substituted_with_synth_tag", NM_EVENT_F_COND_INM | NM_EVENT_F_SYNTH_TAG,
     NM_METHOD_GET, NM_OUTCOME_SUBSTITUTED_304, 200, 0, 0, "\"nm-x\"", "h",
     "/"},
    {"token_present", NM_EVENT_F_TOKEN, NM_METHOD_HEAD, NM_OUTCOME_PASSED, 200,
     0, 0x0123456789abcdefull, "W/\"1\"", "a.b", "/p?q"},
    {"all_strings_empty", 0, NM_METHOD_OTHER, NM_OUTCOME_NOT_HANDLED, 500,
     NM_REASON_STATUS, 0, "", "", ""},
    {"null_strings_mean_empty", 0, NM_METHOD_POST, NM_OUTCOME_NOT_HANDLED, 201,
     NM_REASON_METHOD, 0, NULL, NULL, NULL},
    {"server_own_304", NM_EVENT_F_COND_IMS, NM_METHOD_GET,
     NM_OUTCOME_SERVER_304, 304, 0, 0, "\"srv\"", "h", "/x"},
    {"unknown_reason_decodes", 0, NM_METHOD_GET, NM_OUTCOME_NOT_HANDLED, 200,
     0xfffe, 0, "", "h", "/x"},
    {"obs_text_allowed", 0, NM_METHOD_GET, NM_OUTCOME_TAG_ADDED, 200, 0, 0,
     "\"\xc3\xa9\"", "h", "/\xc3\xa9"},
};

static void event_round_trips(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(roundtrip_rows) / sizeof(roundtrip_rows[0]);
         i++) {
        const struct roundtrip_row *r = &roundtrip_rows[i];
        print_message("row %s\n", r->name);
        nm_event_t ev = {0}, back;
        ev.pid = 7;
        ev.flags = r->flags;
        ev.method = r->method;
        ev.outcome = r->outcome;
        ev.status = r->status;
        ev.reason = r->reason;
        ev.token = r->token;
        ev.body_len = 99;
        ev.bytes_saved = 98;
        ev.validator = S(r->validator);
        ev.host = S(r->host);
        ev.path = S(r->path);
        uint8_t buf[NM_EVENT_MAX_LEN];
        int n = nm_event_encode(buf, sizeof(buf), &ev);
        assert_true(n >= NM_EVENT_FIXED_LEN);
        assert_int_equal(nm_event_decode(buf, (size_t)n, &back), NM_OK);
        assert_int_equal(back.pid, 7);
        assert_int_equal(back.flags, r->flags);
        assert_int_equal(back.method, r->method);
        assert_int_equal(back.outcome, r->outcome);
        assert_int_equal(back.status, r->status);
        assert_int_equal(back.reason, r->reason);
        assert_int_equal(back.token,
                         (r->flags & NM_EVENT_F_TOKEN) ? r->token : 0);
        assert_int_equal(back.body_len, 99);
        assert_int_equal(back.bytes_saved, 98);
        assert_slice(back.validator, r->validator ? r->validator : "");
        assert_slice(back.host, r->host ? r->host : "");
        assert_slice(back.path, r->path ? r->path : "");
    }
}

/* Pins the byte layout: a change here breaks every deployed shim. */
static void event_golden_bytes_match_documented_layout(void **state)
{
    (void)state;
    nm_event_t ev = {0};
    ev.pid = 0x01020304;
    ev.flags = NM_EVENT_F_TOKEN | NM_EVENT_F_COND_IMS;
    ev.method = NM_METHOD_HEAD;
    ev.outcome = NM_OUTCOME_COND_MISS;
    ev.status = 200;
    ev.reason = 0;
    ev.body_len = 0x1122;
    ev.bytes_saved = 0x33;
    ev.token = 0x8877665544332211ull;
    ev.validator = S("\"t\"");
    ev.host = S("h");
    ev.path = S("/p");
    static const uint8_t want[] = {
        'N', 'M', 'E',  'V',  1,    0x05, 2,    4,    200,  0,
        0,   0,   4,    3,    2,    1,    0x22, 0x11, 0,    0,
        0,   0,   0,    0,    0x33, 0,    0,    0,    0,    0,
        0,   0,   0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88,
        3,   '"', 't',  '"',  1,    'h',  2,    0,    '/',  'p'};
    uint8_t buf[128];
    int n = nm_event_encode(buf, sizeof(buf), &ev);
    assert_int_equal(n, sizeof(want));
    assert_memory_equal(buf, want, sizeof(want));
}

/* Every proper prefix of a valid record is rejected. */
static void event_truncated_records_are_rejected(void **state)
{
    (void)state;
    nm_event_t ev = sample(), back;
    ev.flags |= NM_EVENT_F_TOKEN;
    uint8_t buf[NM_EVENT_MAX_LEN];
    int n = nm_event_encode(buf, sizeof(buf), &ev);
    assert_true(n > 0);
    for (int len = 0; len < n; len++) {
        uint8_t *copy = malloc((size_t)len + 1); /* exact size for ASan */
        memcpy(copy, buf, (size_t)len);
        if (nm_event_decode(copy, (size_t)len, &back) >= 0)
            fail_msg("truncated record of %d/%d bytes accepted", len, n);
        free(copy);
    }
}

struct bad_row {
    const char *name;
    size_t offset; /* byte to overwrite in the encoded sample */
    uint8_t value;
    int want;
};

/* Offsets in the sample record (no token): 32 validator_len, 33.. tag. */
static const struct bad_row bad_rows[] = {
    {"bad_magic", 0, 'X', NM_E_PARSE},
    {"future_version", 4, 3, NM_E_UNSUPPORTED},
    {"version_2_without_anything_of_version_2", 4, 2, NM_E_PARSE},
    {"version_1_with_accelerated_outcome", 7, NM_OUTCOME_ACCELERATED_304,
     NM_E_PARSE},
    {"version_1_with_timed_flag", 5, NM_EVENT_F_TIMED, NM_E_PARSE},
    {"version_1_with_tls_flag", 5, NM_EVENT_F_TLS, NM_E_PARSE},
    {"unknown_flag_bit", 5, 0x80, NM_E_PARSE},
    {"method_out_of_range", 6, 200, NM_E_PARSE},
    {"outcome_out_of_range", 7, NM_OUTCOME_COUNT_, NM_E_PARSE},
    {"token_flag_without_token_shifts_lengths", 5, NM_EVENT_F_TOKEN,
     NM_E_PARSE},
    {"validator_len_overruns", 32, 250, NM_E_PARSE},
    {"validator_len_short_leaves_trailing", 32, 3, NM_E_PARSE},
    {"space_in_validator", 34, ' ', NM_E_PARSE},
    {"newline_in_validator", 34, '\n', NM_E_PARSE},
    {"del_in_validator", 34, 0x7f, NM_E_PARSE},
    {"nul_in_validator", 34, 0, NM_E_PARSE},
};

static void event_hostile_records_are_rejected(void **state)
{
    (void)state;
    nm_event_t ev = sample(), back;
    uint8_t buf[NM_EVENT_MAX_LEN];
    int n = nm_event_encode(buf, sizeof(buf), &ev);
    assert_true(n > 0);
    for (size_t i = 0; i < sizeof(bad_rows) / sizeof(bad_rows[0]); i++) {
        const struct bad_row *r = &bad_rows[i];
        print_message("row %s\n", r->name);
        uint8_t copy[NM_EVENT_MAX_LEN];
        memcpy(copy, buf, (size_t)n);
        copy[r->offset] = r->value;
        assert_int_equal(nm_event_decode(copy, (size_t)n, &back), r->want);
    }
    /* One extra byte after the path. */
    buf[n] = 'x';
    assert_int_equal(nm_event_decode(buf, (size_t)n + 1, &back), NM_E_PARSE);
}

static void event_path_length_over_limit_is_rejected(void **state)
{
    (void)state;
    /* A hand-built record whose path_len says 2049 with 2049 bytes. */
    static uint8_t buf[NM_EVENT_FIXED_LEN + 2 + 2 + NM_EVENT_PATH_MAX + 1];
    nm_event_t ev = {0}, back;
    int n = nm_event_encode(buf, sizeof(buf), &ev);
    assert_int_equal(n, NM_EVENT_FIXED_LEN + 4);
    size_t plen = NM_EVENT_PATH_MAX + 1;
    buf[NM_EVENT_FIXED_LEN + 2] = (uint8_t)plen;
    buf[NM_EVENT_FIXED_LEN + 3] = (uint8_t)(plen >> 8);
    memset(buf + NM_EVENT_FIXED_LEN + 4, 'a', plen);
    assert_int_equal(nm_event_decode(buf, sizeof(buf), &back), NM_E_PARSE);
}

/* Random bytes, and random mutations of a valid record: never a crash,
 * and anything accepted has slices inside the buffer. */
static void event_garbage_never_crashes(void **state)
{
    (void)state;
    srand(12345);
    nm_event_t ev = sample(), back;
    uint8_t good[NM_EVENT_MAX_LEN];
    int n = nm_event_encode(good, sizeof(good), &ev);
    for (int iter = 0; iter < 200000; iter++) {
        uint8_t buf[NM_EVENT_MAX_LEN];
        size_t len;
        if (iter % 2) {
            len = (size_t)(rand() % 96);
            for (size_t i = 0; i < len; i++)
                buf[i] = (uint8_t)rand();
            if (len >= 5 && iter % 4 == 1)
                memcpy(buf, good, 5); /* get past magic and version */
        } else {
            len = (size_t)n;
            memcpy(buf, good, len);
            buf[rand() % n] = (uint8_t)rand();
        }
        if (nm_event_decode(buf, len, &back) == NM_OK) {
            const char *lo = (const char *)buf, *hi = lo + len;
            assert_true(back.path.ptr >= lo &&
                        back.path.ptr + back.path.len <= hi);
            assert_true(back.host.ptr >= lo &&
                        back.host.ptr + back.host.len <= hi);
        }
    }
}

struct encode_err_row {
    const char *name;
    size_t cap;
    size_t validator_len, host_len, path_len;
    uint8_t outcome, flags;
    int want;
};

static const struct encode_err_row encode_err_rows[] = {
    {"cap_too_small", 10, 1, 1, 1, 0, 0, NM_E_NOSPACE},
    {"cap_one_short", NM_EVENT_FIXED_LEN + 4 + 3 - 1, 1, 1, 1, 0, 0,
     NM_E_NOSPACE},
    {"cap_exact", NM_EVENT_FIXED_LEN + 4 + 3, 1, 1, 1, 0, 0,
     NM_EVENT_FIXED_LEN + 7},
    {"validator_too_long", NM_EVENT_MAX_LEN, 256, 1, 1, 0, 0, NM_E_TOO_LONG},
    {"host_too_long", NM_EVENT_MAX_LEN, 1, 256, 1, 0, 0, NM_E_TOO_LONG},
    {"path_too_long", NM_EVENT_MAX_LEN, 1, 1, 2049, 0, 0, NM_E_TOO_LONG},
    {"max_sizes_fit", NM_EVENT_MAX_LEN, 255, 255, 2048, 0,
     NM_EVENT_F_TOKEN | NM_EVENT_F_TIMED, NM_EVENT_MAX_LEN},
    {"bad_outcome", NM_EVENT_MAX_LEN, 1, 1, 1, NM_OUTCOME_COUNT_, 0,
     NM_E_INVAL},
    {"bad_flags", NM_EVENT_MAX_LEN, 1, 1, 1, 0, 0x80, NM_E_INVAL},
    {"tls_first_without_tls", NM_EVENT_MAX_LEN, 1, 1, 1, 0,
     NM_EVENT_F_TLS_FIRST, NM_E_INVAL},
    {"tls_first_with_tls", NM_EVENT_FIXED_LEN + 4 + 3, 1, 1, 1, 0,
     NM_EVENT_F_TLS | NM_EVENT_F_TLS_FIRST, NM_EVENT_FIXED_LEN + 7},
};

static void event_encode_checks_limits(void **state)
{
    (void)state;
    static char fill[4096];
    memset(fill, 'a', sizeof(fill));
    for (size_t i = 0; i < sizeof(encode_err_rows) / sizeof(encode_err_rows[0]);
         i++) {
        const struct encode_err_row *r = &encode_err_rows[i];
        print_message("row %s\n", r->name);
        nm_event_t ev = {0};
        ev.outcome = r->outcome;
        ev.flags = r->flags;
        ev.validator.ptr = ev.host.ptr = ev.path.ptr = fill;
        ev.validator.len = r->validator_len;
        ev.host.len = r->host_len;
        ev.path.len = r->path_len;
        uint8_t buf[NM_EVENT_MAX_LEN];
        assert_int_equal(nm_event_encode(buf, r->cap, &ev), r->want);
    }
}

/* Version 2 only where needed: an older notmodd keeps reading the rest. */
static void event_version_2_only_for_what_needs_it(void **state)
{
    (void)state;
    uint8_t buf[NM_EVENT_MAX_LEN];
    nm_event_t ev = sample(), back;
    assert_true(nm_event_encode(buf, sizeof(buf), &ev) > 0);
    assert_int_equal(buf[4], 1);

    ev.outcome = NM_OUTCOME_ACCELERATED_304;
    ev.status = 304;
    int n = nm_event_encode(buf, sizeof(buf), &ev);
    assert_int_equal(buf[4], 2);
    assert_int_equal(nm_event_decode(buf, (size_t)n, &back), NM_OK);
    assert_int_equal(back.outcome, NM_OUTCOME_ACCELERATED_304);
    assert_int_equal(back.server_us, 0);

    ev = sample();
    ev.flags |= NM_EVENT_F_TIMED | NM_EVENT_F_TOKEN;
    ev.token = 9;
    ev.server_us = 0xfedcba98u;
    n = nm_event_encode(buf, sizeof(buf), &ev);
    assert_int_equal(buf[4], 2);
    assert_int_equal(nm_event_decode(buf, (size_t)n, &back), NM_OK);
    assert_int_equal(back.server_us, 0xfedcba98u);
    assert_int_equal(back.token, 9);
    assert_slice(back.path, "/a/b?c=d");
    /* Cut inside server_us. */
    assert_int_equal(nm_event_decode(buf, NM_EVENT_FIXED_LEN + 8 + 3, &back),
                     NM_E_PARSE);
}

/* Pins the version 2 layout: server_us after the token. */
static void event_golden_bytes_of_version_2(void **state)
{
    (void)state;
    nm_event_t ev = {0};
    ev.pid = 0x01020304;
    ev.flags = NM_EVENT_F_TOKEN | NM_EVENT_F_COND_INM | NM_EVENT_F_TIMED;
    ev.method = NM_METHOD_GET;
    ev.outcome = NM_OUTCOME_ACCELERATED_304;
    ev.status = 304;
    ev.bytes_saved = 0x33;
    ev.token = 0x8877665544332211ull;
    ev.server_us = 0x0a0b0c0d;
    ev.validator = S("\"t\"");
    ev.host = S("h");
    ev.path = S("/p");
    static const uint8_t want[] = {
        'N',  'M',  'E',  'V',  2,    0x13, 1,    6,    0x30, 1,    0,
        0,    4,    3,    2,    1,    0,    0,    0,    0,    0,    0,
        0,    0,    0x33, 0,    0,    0,    0,    0,    0,    0,    0x11,
        0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x0d, 0x0c, 0x0b, 0x0a,
        3,    '"',  't',  '"',  1,    'h',  2,    0,    '/',  'p'};
    uint8_t buf[128];
    int n = nm_event_encode(buf, sizeof(buf), &ev);
    assert_int_equal(n, sizeof(want));
    assert_memory_equal(buf, want, sizeof(want));
}

static void event_outcome_names_are_stable(void **state)
{
    (void)state;
    assert_string_equal(nm_event_outcome_name(NM_OUTCOME_SUBSTITUTED_304),
                        "substituted_304");
    assert_string_equal(nm_event_outcome_name(NM_OUTCOME_ACCELERATED_304),
                        "accelerated_304");
    assert_string_equal(nm_event_outcome_name(NM_OUTCOME_COUNT_), "?");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(event_round_trips),
        cmocka_unit_test(event_golden_bytes_match_documented_layout),
        cmocka_unit_test(event_truncated_records_are_rejected),
        cmocka_unit_test(event_hostile_records_are_rejected),
        cmocka_unit_test(event_path_length_over_limit_is_rejected),
        cmocka_unit_test(event_garbage_never_crashes),
        cmocka_unit_test(event_encode_checks_limits),
        cmocka_unit_test(event_version_2_only_for_what_needs_it),
        cmocka_unit_test(event_golden_bytes_of_version_2),
        cmocka_unit_test(event_outcome_names_are_stable),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
