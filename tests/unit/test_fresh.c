/* test_fresh.c - the acceleration rules (RFC 9111 shared-cache reuse of a
 * stored 200 head): for each rule one request that may be answered before
 * the server sees it and one that must reach the server; the Age sent;
 * the Accept-Encoding key; the head a store keeps; the 304 built from it.
 * Rows are written as real heads, so the fact extraction is tested with
 * the decision. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "fresh.h"
#include "http_hdr.h"
#include "httpdate.h"

#define T0 1700000000LL /* the stored 200 left then */
#define D0 "Tue, 14 Nov 2023 22:13:20 GMT"
#define D0_PLUS5 "Tue, 14 Nov 2023 22:13:25 GMT"
#define D0_PLUS60 "Tue, 14 Nov 2023 22:14:20 GMT"
#define D0_MINUS60 "Tue, 14 Nov 2023 22:12:20 GMT"
#define D0_MINUS100 "Tue, 14 Nov 2023 22:11:40 GMT"
#define LM "Sun, 06 Nov 1994 08:49:37 GMT"

/* Heads: the stored 200 (with Date and ETag "a" unless a row says
 * otherwise) and requests. */
#define RESP_WITH(fields) "HTTP/1.1 200 OK\r\nDate: " D0 "\r\n" fields "\r\n"
#define RESP(fields) RESP_WITH("ETag: \"a\"\r\n" fields)
#define GET(fields) "GET /p HTTP/1.1\r\nHost: h\r\n" fields "\r\n"
#define INM_A "If-None-Match: \"a\"\r\n"
#define COND(fields) GET(INM_A fields)

#define ACC NM_FRESH_ACCELERATE
#define OFF_ (-2) /* row.fresh: configured 0 (0 means the default, 60) */

typedef struct row {
    const char *what;
    const char *resp;       /* stored 200 head; NULL: RESP("") */
    const char *stored_req; /* its request; NULL: GET("") */
    const char *req;        /* this request; NULL: COND("") */
    int64_t fresh;          /* 0: 60 s; OFF_: 0; NM_FRESH_ORIGIN */
    int elapsed;            /* seconds since the 200 left; 0: 10 */
    bool is_synth_on_head;
    int expected;
    int64_t age; /* checked on ACC when > 0 */
} row_t;

static const row_t rows[] = {
    /* The plain case, and what is not a conditional GET/HEAD. */
    {.what = "inm_match_within_60s_is_accelerated", .expected = ACC, .age = 10},
    {.what = "head_inm_match_is_accelerated",
     .req = "HEAD /p HTTP/1.1\r\nHost: h\r\n" INM_A "\r\n",
     .expected = ACC},
    {.what = "weak_inm_matches_strong_tag",
     .req = GET("If-None-Match: W/\"a\"\r\n"),
     .expected = ACC},
    {.what = "inm_star_matches",
     .req = GET("If-None-Match: *\r\n"),
     .expected = ACC},
    {.what = "ims_match_on_last_modified",
     .resp = RESP_WITH("Last-Modified: " LM "\r\n"),
     .req = GET("If-Modified-Since: " LM "\r\n"),
     .expected = ACC},
    {.what = "route_not_fresh_goes_to_server",
     .fresh = OFF_,
     .expected = NM_FRESH_OFF},
    {.what = "post_goes_to_server",
     .req = "POST /p HTTP/1.1\r\nHost: h\r\n" INM_A "\r\n",
     .expected = NM_FRESH_METHOD},
    {.what = "unconditional_get_goes_to_server",
     .req = GET(""),
     .expected = NM_FRESH_NOT_CONDITIONAL},
    {.what = "inm_other_tag_goes_to_server",
     .req = GET("If-None-Match: \"b\"\r\n"),
     .expected = NM_FRESH_MODIFIED},
    {.what = "ims_before_last_modified_goes_to_server",
     .resp = RESP_WITH("Last-Modified: " LM "\r\n"),
     .req = GET("If-Modified-Since: Sun, 06 Nov 1994 08:49:36 GMT\r\n"),
     .expected = NM_FRESH_MODIFIED},
    {.what = "if_match_goes_to_server",
     .req = COND("If-Match: \"a\"\r\n"),
     .expected = NM_FRESH_PRECONDITION},
    {.what = "if_unmodified_since_goes_to_server",
     .req = COND("If-Unmodified-Since: " LM "\r\n"),
     .expected = NM_FRESH_PRECONDITION},
    {.what = "range_goes_to_server",
     .req = COND("Range: bytes=0-1\r\n"),
     .expected = NM_FRESH_RANGE},
    {.what = "if_range_goes_to_server",
     .req = COND("If-Range: \"a\"\r\n"),
     .expected = NM_FRESH_RANGE},
    /* The connection and message. */
    {.what = "http10_request_goes_to_server",
     .req = "GET /p HTTP/1.0\r\nHost: h\r\n" INM_A "\r\n",
     .expected = NM_FRESH_CONNECTION},
    {.what = "connection_close_goes_to_server",
     .req = COND("Connection: close\r\n"),
     .expected = NM_FRESH_CONNECTION},
    {.what = "connection_keep_alive_is_accelerated",
     .req = COND("Connection: keep-alive\r\n"),
     .expected = ACC},
    {.what = "request_body_goes_to_server",
     .req = COND("Content-Length: 5\r\n"),
     .expected = NM_FRESH_CONNECTION},
    {.what = "content_length_zero_is_no_body",
     .req = COND("Content-Length: 0\r\n"),
     .expected = ACC},
    {.what = "chunked_request_goes_to_server",
     .req = COND("Transfer-Encoding: chunked\r\n"),
     .expected = NM_FRESH_CONNECTION},
    {.what = "expect_goes_to_server",
     .req = COND("Expect: 100-continue\r\n"),
     .expected = NM_FRESH_CONNECTION},
    {.what = "upgrade_goes_to_server",
     .req = COND("Upgrade: websocket\r\nConnection: Upgrade\r\n"),
     .expected = NM_FRESH_CONNECTION},
    {.what = "stored_http10_head_goes_to_server",
     .resp = "HTTP/1.0 200 OK\r\nDate: " D0 "\r\nETag: \"a\"\r\n\r\n",
     .expected = NM_FRESH_NOT_STORABLE},
    /* A reload, and the request's own limits (§5.2.1). */
    {.what = "browser_reload_max_age_0_goes_to_server",
     .req = COND("Cache-Control: max-age=0\r\n"),
     .expected = NM_FRESH_RELOAD},
    {.what = "request_no_cache_goes_to_server",
     .req = COND("Cache-Control: no-cache\r\n"),
     .expected = NM_FRESH_RELOAD},
    {.what = "pragma_no_cache_goes_to_server",
     .req = COND("Pragma: no-cache\r\n"),
     .expected = NM_FRESH_RELOAD},
    {.what = "request_no_store_goes_to_server",
     .req = COND("Cache-Control: no-store\r\n"),
     .expected = NM_FRESH_RELOAD},
    {.what = "malformed_request_cache_control_goes_to_server",
     .req = COND("Cache-Control: max-age=abc\r\n"),
     .expected = NM_FRESH_RELOAD},
    {.what = "request_max_age_below_age_goes_to_server",
     .req = COND("Cache-Control: max-age=5\r\n"),
     .expected = NM_FRESH_TOO_OLD},
    {.what = "request_max_age_above_age_is_accelerated",
     .req = COND("Cache-Control: max-age=30\r\n"),
     .expected = ACC},
    {.what = "request_min_fresh_beyond_lifetime_goes_to_server",
     .req = COND("Cache-Control: min-fresh=55\r\n"),
     .expected = NM_FRESH_TOO_OLD},
    {.what = "request_min_fresh_within_lifetime_is_accelerated",
     .req = COND("Cache-Control: min-fresh=50\r\n"),
     .expected = ACC},
    {.what = "request_max_stale_changes_nothing",
     .req = COND("Cache-Control: max-stale=100\r\n"),
     .elapsed = 70,
     .expected = NM_FRESH_STALE},
    /* What a shared cache may store and reuse (§3, §3.5). */
    {.what = "stored_404_goes_to_server",
     .resp = "HTTP/1.1 404 Not Found\r\nDate: " D0 "\r\nETag: \"a\"\r\n\r\n",
     .expected = NM_FRESH_NOT_STORABLE},
    {.what = "stored_no_store_goes_to_server",
     .resp = RESP("Cache-Control: no-store\r\n"),
     .expected = NM_FRESH_NOT_STORABLE},
    {.what = "stored_private_goes_to_server",
     .resp = RESP("Cache-Control: private, max-age=600\r\n"),
     .expected = NM_FRESH_NOT_STORABLE},
    {.what = "stored_no_cache_goes_to_server",
     .resp = RESP("Cache-Control: no-cache\r\n"),
     .expected = NM_FRESH_NOT_STORABLE},
    {.what = "stored_qualified_no_cache_goes_to_server",
     .resp = RESP("Cache-Control: no-cache=\"Set-Cookie\"\r\n"),
     .expected = NM_FRESH_NOT_STORABLE},
    {.what = "stored_malformed_cache_control_goes_to_server",
     .resp = RESP("Cache-Control: max-age=5, max-age=500\r\n"),
     .expected = NM_FRESH_NOT_STORABLE},
    {.what = "stored_two_dates_go_to_server",
     .resp = RESP("Date: " D0_PLUS5 "\r\n"),
     .expected = NM_FRESH_NOT_STORABLE},
    {.what = "stored_bad_age_goes_to_server",
     .resp = RESP("Age: soon\r\n"),
     .expected = NM_FRESH_NOT_STORABLE},
    {.what = "stored_from_post_goes_to_server",
     .stored_req = "POST /p HTTP/1.1\r\nHost: h\r\n\r\n",
     .expected = NM_FRESH_NOT_STORABLE},
    {.what = "stored_set_cookie_goes_to_server",
     .resp = RESP("Set-Cookie: a=b\r\n"),
     .expected = NM_FRESH_SET_COOKIE},
    {.what = "stored_must_revalidate_within_lifetime_is_accelerated",
     .resp = RESP("Cache-Control: must-revalidate\r\n"),
     .expected = ACC},
    {.what = "stored_for_authorization_goes_to_server",
     .stored_req = GET("Authorization: Basic YTpi\r\n"),
     .expected = NM_FRESH_AUTHORIZATION},
    {.what = "stored_for_authorization_public_is_accelerated",
     .resp = RESP("Cache-Control: public\r\n"),
     .stored_req = GET("Authorization: Basic YTpi\r\n"),
     .expected = ACC},
    {.what = "stored_for_authorization_s_maxage_is_accelerated",
     .resp = RESP("Cache-Control: s-maxage=60\r\n"),
     .stored_req = GET("Authorization: Basic YTpi\r\n"),
     .expected = ACC},
    {.what = "stored_for_authorization_must_revalidate_goes_to_server",
     .resp = RESP("Cache-Control: must-revalidate\r\n"),
     .stored_req = GET("Authorization: Basic YTpi\r\n"),
     .expected = NM_FRESH_AUTHORIZATION},
    {.what = "request_authorization_goes_to_server",
     .req = COND("Authorization: Basic YTpi\r\n"),
     .expected = NM_FRESH_AUTHORIZATION},
    {.what = "request_authorization_public_is_accelerated",
     .resp = RESP("Cache-Control: public\r\n"),
     .req = COND("Authorization: Basic YTpi\r\n"),
     .expected = ACC},
    /* Vary (§4.1): Accept-Encoding only, by its normalized value. */
    {.what = "vary_ae_same_value_is_accelerated",
     .resp = RESP("Vary: Accept-Encoding\r\n"),
     .stored_req = GET("Accept-Encoding: gzip, br\r\n"),
     .req = COND("Accept-Encoding: gzip, br\r\n"),
     .expected = ACC},
    {.what = "vary_ae_same_set_other_order_is_accelerated",
     .resp = RESP("Vary: accept-encoding\r\n"),
     .stored_req = GET("Accept-Encoding: gzip, br\r\n"),
     .req = COND("Accept-Encoding: BR,gzip;q=1.0\r\n"),
     .expected = ACC},
    {.what = "vary_ae_other_value_goes_to_server",
     .resp = RESP("Vary: Accept-Encoding\r\n"),
     .stored_req = GET("Accept-Encoding: gzip\r\n"),
     .req = COND("Accept-Encoding: br\r\n"),
     .expected = NM_FRESH_VARY},
    {.what = "vary_ae_absent_versus_present_goes_to_server",
     .resp = RESP("Vary: Accept-Encoding\r\n"),
     .stored_req = GET("Accept-Encoding: gzip\r\n"),
     .expected = NM_FRESH_VARY},
    {.what = "vary_ae_empty_versus_absent_goes_to_server",
     .resp = RESP("Vary: Accept-Encoding\r\n"),
     .stored_req = GET("Accept-Encoding: \r\n"),
     .expected = NM_FRESH_VARY},
    {.what = "vary_ae_both_absent_is_accelerated",
     .resp = RESP("Vary: Accept-Encoding\r\n"),
     .expected = ACC},
    {.what = "vary_ae_unparsable_goes_to_server",
     .resp = RESP("Vary: Accept-Encoding\r\n"),
     .stored_req = GET("Accept-Encoding: gzip;q=2\r\n"),
     .req = COND("Accept-Encoding: gzip;q=2\r\n"),
     .expected = NM_FRESH_VARY},
    {.what = "no_vary_ignores_accept_encoding",
     .stored_req = GET("Accept-Encoding: gzip\r\n"),
     .req = COND("Accept-Encoding: br\r\n"),
     .expected = ACC},
    {.what = "vary_cookie_goes_to_server",
     .resp = RESP("Vary: Cookie\r\n"),
     .expected = NM_FRESH_VARY},
    {.what = "vary_star_goes_to_server",
     .resp = RESP("Vary: *\r\n"),
     .expected = NM_FRESH_VARY},
    {.what = "vary_ae_and_user_agent_goes_to_server",
     .resp = RESP("Vary: Accept-Encoding\r\nVary: User-Agent\r\n"),
     .expected = NM_FRESH_VARY},
    /* Validators. */
    {.what = "stored_without_validator_goes_to_server",
     .resp = RESP_WITH(""),
     .req = GET("If-None-Match: *\r\n"),
     .expected = NM_FRESH_NO_VALIDATOR},
    {.what = "validator_synthesized_for_head_goes_to_server",
     .is_synth_on_head = true,
     .expected = NM_FRESH_NO_VALIDATOR},
    /* Lifetimes: the origin's (§4.2.1) and the operator's. */
    {.what = "origin_max_age_is_accelerated",
     .resp = RESP("Cache-Control: max-age=60\r\n"),
     .fresh = NM_FRESH_ORIGIN,
     .expected = ACC},
    {.what = "origin_s_maxage_wins_over_max_age",
     .resp = RESP("Cache-Control: max-age=600, s-maxage=30\r\n"),
     .fresh = NM_FRESH_ORIGIN,
     .elapsed = 40,
     .expected = NM_FRESH_STALE},
    {.what = "origin_expires_minus_date_is_accelerated",
     .resp = RESP("Expires: " D0_PLUS60 "\r\n"),
     .fresh = NM_FRESH_ORIGIN,
     .elapsed = 59,
     .expected = ACC,
     .age = 59},
    {.what = "origin_expires_reached_goes_to_server",
     .resp = RESP("Expires: " D0_PLUS60 "\r\n"),
     .fresh = NM_FRESH_ORIGIN,
     .elapsed = 60,
     .expected = NM_FRESH_STALE},
    {.what = "origin_expires_in_past_goes_to_server",
     .resp = RESP("Expires: " D0_MINUS60 "\r\n"),
     .fresh = NM_FRESH_ORIGIN,
     .expected = NM_FRESH_STALE},
    {.what = "origin_invalid_expires_is_in_the_past",
     .resp = RESP("Expires: 0\r\n"),
     .fresh = NM_FRESH_ORIGIN,
     .expected = NM_FRESH_STALE},
    {.what = "origin_max_age_wins_over_expires",
     .resp = RESP("Expires: " D0_MINUS60 "\r\nCache-Control: max-age=60\r\n"),
     .fresh = NM_FRESH_ORIGIN,
     .expected = ACC},
    {.what = "origin_silent_goes_to_server",
     .fresh = NM_FRESH_ORIGIN,
     .expected = NM_FRESH_NO_LIFETIME},
    {.what = "operator_60_at_59s_is_accelerated",
     .elapsed = 59,
     .expected = ACC,
     .age = 59},
    {.what = "operator_60_at_60s_goes_to_server",
     .elapsed = 60,
     .expected = NM_FRESH_STALE},
    {.what = "operator_lifetime_shortened_by_origin_max_age",
     .resp = RESP("Cache-Control: max-age=5\r\n"),
     .expected = NM_FRESH_STALE},
    {.what = "operator_lifetime_not_lengthened_by_origin",
     .resp = RESP("Cache-Control: max-age=600\r\n"),
     .elapsed = 70,
     .expected = NM_FRESH_STALE},
    {.what = "operator_lifetime_ended_by_origin_expires",
     .resp = RESP("Expires: " D0_PLUS5 "\r\n"),
     .expected = NM_FRESH_STALE},
    /* Age (§4.2.3). */
    {.what = "upstream_age_adds_to_age",
     .resp = RESP("Age: 30\r\n"),
     .expected = ACC,
     .age = 40},
    {.what = "upstream_age_past_lifetime_goes_to_server",
     .resp = RESP("Age: 55\r\n"),
     .expected = NM_FRESH_STALE},
    {.what = "server_date_behind_makes_it_old",
     .resp = "HTTP/1.1 200 OK\r\nDate: " D0_MINUS100 "\r\nETag: \"a\"\r\n\r\n",
     .expected = NM_FRESH_STALE},
    {.what = "server_date_ahead_makes_it_no_younger",
     .resp = "HTTP/1.1 200 OK\r\nDate: " D0_PLUS60 "\r\nETag: \"a\"\r\n\r\n",
     .expected = ACC,
     .age = 10},
    {.what = "without_date_age_is_resident_time",
     .resp = "HTTP/1.1 200 OK\r\nETag: \"a\"\r\n\r\n",
     .expected = ACC,
     .age = 10},
    {.what = "clock_gone_back_goes_to_server",
     .elapsed = -5,
     .expected = NM_FRESH_STALE},
};

static nm_slice_t field_of(const char *head, const char *name)
{
    nm_slice_t v = {NULL, 0};
    if (nm_hdr_find(head, strlen(head), name, &v) != 1)
        v.ptr = NULL;
    return v;
}

/* Decides one row; *age gets the Age. */
static int decide(const row_t *r, int64_t *age)
{
    const char *resp = r->resp ? r->resp : RESP("");
    const char *sreq = r->stored_req ? r->stored_req : GET("");
    const char *req = r->req ? r->req : COND("");
    int64_t now = T0 + (r->elapsed ? r->elapsed : 10);
    nm_fresh_stored_t st;
    nm_fresh_req_t rq;
    assert_int_equal(nm_fresh_stored_parse(resp, strlen(resp), now, &st), 0);
    assert_int_equal(nm_fresh_req_parse(sreq, strlen(sreq), &st.req), 0);
    assert_int_equal(nm_fresh_req_parse(req, strlen(req), &rq), 0);
    st.is_synth_on_head = r->is_synth_on_head;
    st.request_unix = st.response_unix = T0;

    nm_slice_t lm = field_of(resp, "last-modified");
    int64_t lm_unix = -1;
    if (lm.ptr)
        nm_httpdate_parse(lm.ptr, lm.len, now, &lm_unix);
    nm_cond_input_t cond = {
        .method = rq.method,
        .status = 200,
        .if_match = field_of(req, "if-match"),
        .if_none_match = field_of(req, "if-none-match"),
        .if_modified_since = field_of(req, "if-modified-since"),
        .if_unmodified_since = field_of(req, "if-unmodified-since"),
        .etag = field_of(resp, "etag"),
        .last_modified = lm_unix,
        .now = now,
    };
    int64_t fresh = r->fresh == 0 ? 60 : r->fresh == OFF_ ? 0 : r->fresh;
    *age = -1;
    return nm_fresh_decide(&st, &rq, &cond, fresh, now, age);
}

static void fresh_decide_follows_rfc9111_shared_cache_rules(void **state)
{
    (void)state;
    int failures = 0;
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        const row_t *r = &rows[i];
        int64_t age;
        int got = decide(r, &age);
        bool is_ok =
            got == r->expected && (got != ACC || r->age <= 0 || age == r->age);
        if (!is_ok) {
            print_message("FAIL %s: got %s (age %lld), want %s (age %lld)\n",
                          r->what, nm_fresh_verdict_name((unsigned)got),
                          (long long)age,
                          nm_fresh_verdict_name((unsigned)r->expected),
                          (long long)r->age);
            failures++;
        }
    }
    assert_int_equal(failures, 0);
}

static void fresh_decide_refuses_bad_arguments(void **state)
{
    (void)state;
    nm_fresh_stored_t st;
    nm_fresh_req_t rq;
    const char *resp = RESP(""), *req = COND("");
    assert_int_equal(nm_fresh_stored_parse(resp, strlen(resp), T0, &st), 0);
    assert_int_equal(nm_fresh_req_parse(req, strlen(req), &st.req), 0);
    assert_int_equal(nm_fresh_req_parse(req, strlen(req), &rq), 0);
    st.request_unix = st.response_unix = T0;
    nm_cond_input_t cond = {.if_none_match = {"\"a\"", 3},
                            .etag = {"\"a\"", 3},
                            .last_modified = -1};
    int64_t age;
    assert_int_equal(nm_fresh_decide(&st, &rq, &cond, -7, T0, &age),
                     NM_FRESH_OFF);
    assert_int_equal(nm_fresh_decide(NULL, &rq, &cond, 60, T0, &age),
                     NM_FRESH_OFF);
    assert_int_equal(nm_fresh_decide(&st, &rq, &cond, 60, T0, NULL), ACC);
    st.request_unix = T0 + 1; /* request after its response: a bad clock */
    assert_int_equal(nm_fresh_decide(&st, &rq, &cond, 60, T0 + 5, &age),
                     NM_FRESH_STALE);
}

static void fresh_parse_rejects_malformed_heads(void **state)
{
    (void)state;
    static const char *const reqs[] = {
        "GET /p\r\n\r\n",
        "GET /p HTTP/2.0\r\nHost: h\r\n\r\n",
        "GET /p HTTP/1.1\r\n Folded: x\r\n\r\n",
        "GET /p HTTP/1.1",
    };
    for (size_t i = 0; i < sizeof(reqs) / sizeof(reqs[0]); i++) {
        nm_fresh_req_t rq;
        print_message("request %zu\n", i);
        assert_int_equal(nm_fresh_req_parse(reqs[i], strlen(reqs[i]), &rq),
                         NM_E_PARSE);
    }
    static const char *const resps[] = {
        "HTTP/1.1 2x0 OK\r\n\r\n",
        "HTTP/2 200 OK\r\n\r\n",
        "HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof(resps) / sizeof(resps[0]); i++) {
        nm_fresh_stored_t st;
        print_message("response %zu\n", i);
        assert_int_equal(
            nm_fresh_stored_parse(resps[i], strlen(resps[i]), T0, &st),
            NM_E_PARSE);
    }
}

static void fresh_ae_key_normalizes_accept_encoding(void **state)
{
    (void)state;
    static const struct {
        const char *in, *key; /* key NULL: no key */
    } rows_ae[] = {
        {"", ""},
        {"gzip", "gzip"},
        {"gzip, deflate, br", "br,deflate,gzip"},
        {"br,deflate,gzip", "br,deflate,gzip"},
        {"GZip ,\tBR", "br,gzip"},
        {"gzip;q=1.0, identity; q=0.5, *;q=0", "*;q=0,gzip,identity;q=500"},
        {"gzip;Q=0.001", "gzip;q=1"},
        {"gzip;q=0.", "gzip;q=0"},
        {"gzip;q=1.000", "gzip"},
        {"gzip, , br", "br,gzip"},
        {"gzip;q=1.5", NULL},
        {"gzip;q=0.1234", NULL},
        {"gzip;q=2", NULL},
        {"gzip;level=9", NULL},
        {"gzip, gzip;q=0", NULL},
        {"gzip br", NULL},
        {"\"gzip\"", NULL},
    };
    for (size_t i = 0; i < sizeof(rows_ae) / sizeof(rows_ae[0]); i++) {
        char out[NM_FRESH_KEY_MAX];
        print_message("Accept-Encoding: %s\n", rows_ae[i].in);
        int n = nm_fresh_ae_key(rows_ae[i].in, strlen(rows_ae[i].in), out,
                                sizeof(out));
        if (!rows_ae[i].key) {
            assert_true(n < 0);
            continue;
        }
        assert_int_equal(n, (int)strlen(rows_ae[i].key));
        assert_string_equal(out, rows_ae[i].key);
    }
    char small[8];
    assert_int_equal(nm_fresh_ae_key("gzip, deflate", 13, small, sizeof(small)),
                     NM_E_NOSPACE);
    /* Several Accept-Encoding lines make one key. */
    nm_fresh_req_t rq;
    const char *req = GET("Accept-Encoding: gzip\r\nAccept-Encoding: br\r\n");
    assert_int_equal(nm_fresh_req_parse(req, strlen(req), &rq), 0);
    assert_true(rq.has_ae && rq.is_ae_keyed);
    assert_string_equal(rq.ae_key, "br,gzip");
}

static void fresh_store_head_drops_hop_by_hop_fields(void **state)
{
    (void)state;
    static const struct {
        const char *what, *in, *out; /* out NULL: NM_E_PARSE */
    } heads[] = {
        {"keeps_end_to_end_fields",
         "HTTP/1.1 200 OK\r\nDate: " D0 "\r\nETag: \"a\"\r\n\r\n",
         "HTTP/1.1 200 OK\r\nDate: " D0 "\r\nETag: \"a\"\r\n\r\n"},
        {"drops_connection_keep_alive_and_framing",
         "HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nKeep-Alive: "
         "timeout=5\r\nTransfer-Encoding: chunked\r\nETag: \"a\"\r\n\r\n",
         "HTTP/1.1 200 OK\r\nETag: \"a\"\r\n\r\n"},
        {"drops_fields_connection_names",
         "HTTP/1.1 200 OK\r\nConnection: close, X-Hop\r\nx-hop: 1\r\n"
         "X-Stay: 2\r\n\r\n",
         "HTTP/1.1 200 OK\r\nX-Stay: 2\r\n\r\n"},
        {"drops_upgrade_te_proxy_connection",
         "HTTP/1.1 200 OK\r\nUpgrade: h2c\r\nTE: trailers\r\n"
         "Proxy-Connection: keep-alive\r\nVary: Accept-Encoding\r\n\r\n",
         "HTTP/1.1 200 OK\r\nVary: Accept-Encoding\r\n\r\n"},
        {"keeps_bare_lf_lines_as_they_are",
         "HTTP/1.1 200 OK\nETag: \"a\"\nConnection: close\n\n",
         "HTTP/1.1 200 OK\nETag: \"a\"\n\n"},
        {"no_fields", "HTTP/1.1 200 OK\r\n\r\n", "HTTP/1.1 200 OK\r\n\r\n"},
        {"body_after_head_is_not_kept", "HTTP/1.1 200 OK\r\nA: b\r\n\r\nbody",
         "HTTP/1.1 200 OK\r\nA: b\r\n\r\n"},
        {"head_without_empty_line", "HTTP/1.1 200 OK\r\nETag: \"a\"\r\n", NULL},
        {"head_without_line_end", "HTTP/1.1 200 OK", NULL},
    };
    for (size_t i = 0; i < sizeof(heads) / sizeof(heads[0]); i++) {
        char out[256];
        print_message("%s\n", heads[i].what);
        long n = nm_fresh_store_head(heads[i].in, strlen(heads[i].in), out,
                                     sizeof(out));
        if (!heads[i].out) {
            assert_int_equal(n, NM_E_PARSE);
            continue;
        }
        assert_int_equal(n, (long)strlen(heads[i].out));
        assert_memory_equal(out, heads[i].out, (size_t)n);
        /* One byte short of what it needs: no space, never a cut head. */
        assert_int_equal(nm_fresh_store_head(heads[i].in, strlen(heads[i].in),
                                             out, (size_t)n - 1),
                         NM_E_NOSPACE);
    }
}

static void fresh_freshen_head_takes_the_304s_fields(void **state)
{
    (void)state;
    static const struct {
        const char *what, *stored, *h304, *out; /* out NULL: NM_E_PARSE */
    } rows[] = {
        {"replaces_date_cache_control_and_keeps_the_rest",
         "HTTP/1.1 200 OK\r\nDate: " D0 "\r\nContent-Type: text/html\r\n"
         "Content-Length: 5\r\nCache-Control: max-age=60\r\nETag: \"a\"\r\n"
         "\r\n",
         "HTTP/1.1 304 Not Modified\r\nDate: " D0_PLUS5 "\r\n"
         "Cache-Control: max-age=30\r\nETag: \"a\"\r\n\r\n",
         "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 5\r\n"
         "Date: " D0_PLUS5 "\r\nCache-Control: max-age=30\r\nETag: \"a\"\r\n"
         "\r\n"},
        {"field_names_match_in_any_case",
         "HTTP/1.1 200 OK\r\ndate: " D0 "\r\nETag: \"a\"\r\n\r\n",
         "HTTP/1.1 304 Not Modified\r\nDATE: " D0_PLUS5 "\r\n\r\n",
         "HTTP/1.1 200 OK\r\nETag: \"a\"\r\nDATE: " D0_PLUS5 "\r\n\r\n"},
        {"never_the_304s_content_length_nor_hop_by_hop_fields",
         "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nETag: \"a\"\r\n\r\n",
         "HTTP/1.1 304 Not Modified\r\nContent-Length: 0\r\n"
         "Connection: keep-alive, X-Hop\r\nKeep-Alive: timeout=5\r\n"
         "X-Hop: 1\r\nETag: \"a\"\r\n\r\n",
         "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nETag: \"a\"\r\n\r\n"},
        {"all_lines_of_a_name_are_replaced",
         "HTTP/1.1 200 OK\r\nX-A: 1\r\nX-A: 2\r\nETag: \"a\"\r\n\r\n",
         "HTTP/1.1 304 Not Modified\r\nX-A: 3\r\n\r\n",
         "HTTP/1.1 200 OK\r\nETag: \"a\"\r\nX-A: 3\r\n\r\n"},
        {"stored_head_not_whole", "HTTP/1.1 200 OK\r\nETag: \"a\"\r\n",
         "HTTP/1.1 304 Not Modified\r\n\r\n", NULL},
        {"304_not_a_head", "HTTP/1.1 200 OK\r\n\r\n", "HTTP/1.1 304", NULL},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        char out[512];
        print_message("%s\n", rows[i].what);
        long n = nm_fresh_freshen_head(rows[i].stored, strlen(rows[i].stored),
                                       rows[i].h304, strlen(rows[i].h304), out,
                                       sizeof(out));
        if (!rows[i].out) {
            assert_int_equal(n, NM_E_PARSE);
            continue;
        }
        assert_int_equal(n, (long)strlen(rows[i].out));
        assert_memory_equal(out, rows[i].out, (size_t)n);
        /* One byte short of what it needs: no space, never a cut head. */
        assert_int_equal(
            nm_fresh_freshen_head(rows[i].stored, strlen(rows[i].stored),
                                  rows[i].h304, strlen(rows[i].h304), out,
                                  (size_t)n - 1),
            NM_E_NOSPACE);
    }
}

static void fresh_build_304_sends_date_now_and_age(void **state)
{
    (void)state;
    const char *stored = "HTTP/1.1 200 OK\r\nDate: " D0 "\r\nServer: x\r\n"
                         "Content-Type: text/html\r\nContent-Length: 5\r\n"
                         "Age: 3\r\nCache-Control: max-age=60\r\n"
                         "ETag: \"a\"\r\n\r\n";
    const char *want = "HTTP/1.1 304 Not Modified\r\nServer: x\r\n"
                       "Cache-Control: max-age=60\r\nETag: \"a\"\r\n"
                       "Date: " D0_PLUS5 "\r\nAge: 8\r\n\r\n";
    char out[512];
    long n =
        nm_fresh_build_304(stored, strlen(stored), 8, T0 + 5, out, sizeof(out));
    assert_int_equal(n, (long)strlen(want));
    assert_memory_equal(out, want, (size_t)n);
    assert_int_equal(
        nm_fresh_build_304(stored, strlen(stored), -1, T0, out, sizeof(out)),
        NM_E_INVAL);
    assert_int_equal(nm_fresh_build_304(stored, strlen(stored), 1, T0, out, 10),
                     NM_E_NOSPACE);
}

static void fresh_restamp_304_equals_a_full_build(void **state)
{
    (void)state;
    static const char *const heads[] = {
        "HTTP/1.1 200 OK\r\nDate: " D0 "\r\nServer: x\r\nContent-Length: 5\r\n"
        "Age: 3\r\nCache-Control: max-age=60\r\nETag: \"a\"\r\n\r\n",
        "HTTP/1.1 200 OK\r\nETag: \"b\"\r\n\r\n",
        "HTTP/1.1 200 OK\nContent-Type: text/plain\nETag: \"c\"\n\n",
    };
    static const int64_t ages[] = {0, 8, 59, 1234567, 31536000};
    for (size_t i = 0; i < sizeof(heads) / sizeof(heads[0]); i++) {
        char tmpl[512], want[512], got[512];
        print_message("head %zu\n", i);
        long tl = nm_fresh_build_304(heads[i], strlen(heads[i]), 0, T0, tmpl,
                                     sizeof(tmpl));
        assert_true(tl > 0);
        for (size_t j = 0; j < sizeof(ages) / sizeof(ages[0]); j++) {
            long wl = nm_fresh_build_304(heads[i], strlen(heads[i]), ages[j],
                                         T0 + 5, want, sizeof(want));
            long gl = nm_fresh_restamp_304(tmpl, (size_t)tl, ages[j], T0 + 5,
                                           got, sizeof(got));
            assert_int_equal(gl, wl);
            assert_memory_equal(got, want, (size_t)wl);
            assert_int_equal(nm_fresh_restamp_304(tmpl, (size_t)tl, ages[j],
                                                  T0 + 5, got, (size_t)wl - 1),
                             NM_E_NOSPACE);
        }
        /* Not what nm_fresh_build_304 made: refused, never patched. */
        assert_int_equal(nm_fresh_restamp_304(heads[i], strlen(heads[i]), 1, T0,
                                              got, sizeof(got)),
                         NM_E_INVAL);
        assert_int_equal(
            nm_fresh_restamp_304(tmpl, (size_t)tl, -1, T0, got, sizeof(got)),
            NM_E_INVAL);
    }
}

static void fresh_setting_reads_what_operators_write(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        int rc;
        int64_t v;
        const char *back;
    } rows_s[] = {
        {"1", 0, 1, "1"},
        {"300", 0, 300, "300"},
        {"0300", 0, 300, "300"},
        {"31536000", 0, 31536000, "31536000"},
        {"origin", 0, NM_FRESH_ORIGIN, "origin"},
        {"never", 0, 0, "never"},
        {"0", NM_E_PARSE, 0, NULL},
        {"31536001", NM_E_PARSE, 0, NULL},
        {"99999999999999999999", NM_E_PARSE, 0, NULL},
        {"-5", NM_E_PARSE, 0, NULL},
        {"5s", NM_E_PARSE, 0, NULL},
        {"", NM_E_PARSE, 0, NULL},
        {"Origin", NM_E_PARSE, 0, NULL},
        {"off", NM_E_PARSE, 0, NULL}, /* "off" removes: not a value */
    };
    for (size_t i = 0; i < sizeof(rows_s) / sizeof(rows_s[0]); i++) {
        int64_t v = -99;
        char out[24];
        print_message("setting \"%s\"\n", rows_s[i].in);
        assert_int_equal(nm_fresh_setting_parse(rows_s[i].in, &v),
                         rows_s[i].rc);
        if (rows_s[i].rc < 0)
            continue;
        assert_int_equal(v, rows_s[i].v);
        assert_int_equal(nm_fresh_setting_format(v, out, sizeof(out)),
                         (int)strlen(rows_s[i].back));
        assert_string_equal(out, rows_s[i].back);
    }
    char out[24];
    assert_int_equal(nm_fresh_setting_format(-3, out, sizeof(out)), NM_E_INVAL);
    assert_int_equal(nm_fresh_setting_format(300, out, 3), NM_E_INVAL);
}

static void fresh_verdict_names_are_stable(void **state)
{
    (void)state;
    assert_string_equal(nm_fresh_verdict_name(NM_FRESH_ACCELERATE),
                        "accelerate");
    assert_string_equal(nm_fresh_verdict_name(NM_FRESH_STALE), "stale");
    assert_string_equal(nm_fresh_verdict_name(NM_FRESH_VERDICT_COUNT_), "?");
    for (unsigned v = 0; v < NM_FRESH_VERDICT_COUNT_; v++)
        assert_string_not_equal(nm_fresh_verdict_name(v), "?");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(fresh_decide_follows_rfc9111_shared_cache_rules),
        cmocka_unit_test(fresh_decide_refuses_bad_arguments),
        cmocka_unit_test(fresh_parse_rejects_malformed_heads),
        cmocka_unit_test(fresh_ae_key_normalizes_accept_encoding),
        cmocka_unit_test(fresh_store_head_drops_hop_by_hop_fields),
        cmocka_unit_test(fresh_freshen_head_takes_the_304s_fields),
        cmocka_unit_test(fresh_build_304_sends_date_now_and_age),
        cmocka_unit_test(fresh_restamp_304_equals_a_full_build),
        cmocka_unit_test(fresh_setting_reads_what_operators_write),
        cmocka_unit_test(fresh_verdict_names_are_stable),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
