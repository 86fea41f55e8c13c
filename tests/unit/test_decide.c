/* test_decide.c - the shim's decision (shim/decide.c) without sockets: a
 * request head and a response head, parsed by the shim's own parsers, and
 * what the shim would know besides (the store's view of the URL, hold
 * limits, a tag known for a HEAD, the tag a held body hashes to) go in;
 * what comes out is what the shim would send: the 200 unchanged, a 304, or
 * the 200 with notmod's tag, and what the report would say. The rows walk
 * decide.h the way phase.c and answer.c do. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "decide.h"
#include "event.h"
#include "httpdate.h"

#define NOW 1700000000LL /* Tue, 14 Nov 2023 22:13:20 GMT */
#define D_NOW "Tue, 14 Nov 2023 22:13:20 GMT"
#define D_LM "Sun, 06 Nov 1994 08:49:37 GMT"
#define D_OLD "Sat, 05 Nov 1994 08:49:37 GMT"
#define LM_STORE (NOW - 100) /* Tue, 14 Nov 2023 22:11:40 GMT */
#define D_STORE "Tue, 14 Nov 2023 22:11:40 GMT"
#define TAG "\"nm-AAAAAAAAAAAAAAAAAAAAAA\""
#define TAG2 "\"nm-BBBBBBBBBBBBBBBBBBBBBB\""

/* Heads, CRLF-terminated by head() below. */
#define GET "GET /p HTTP/1.1\r\nHost: h\r\n"
#define HEAD "HEAD /p HTTP/1.1\r\nHost: h\r\n"
#define OK "HTTP/1.1 200 OK\r\nDate: " D_NOW "\r\nContent-Length: 5\r\n"
#define OK_NO_DATE "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n"

typedef struct row {
    const char *what;
    const char *req, *resp; /* field lines; the empty line is added */
    bool is_disabled;       /* the store disables the route */
    bool is_too_large;      /* hold.c: NM_HOLD_TOO_LARGE */
    bool has_no_room;       /* hold.c: NM_HOLD_NO_ROOM */
    const char *pin;        /* the operator's pinned tag for the URL */
    const char *store_tag;  /* the store's current tag for the URL... */
    int64_t store_lm;       /* ...and its date (0: none) */
    const char *head_tag;   /* the tag a HEAD's file is known to have */
    const char *body_tag;   /* what a held body hashes to */
    int64_t other_since;    /* tagwatch: another tag served at (0: never) */
    /* What the shim sends: "pass", "304", "tag", "hold, 304", "hold, tag" */
    const char *expected;
    int outcome, reason; /* the report's, when not PASSED / NONE */
    int64_t expected_lm; /* Last-Modified notmod adds (0: none) */
    bool is_date_added;  /* notmod adds a Date to its 200 */
} row_t;

static const row_t rows[] = {
    /* The server's own validators. */
    {.what = "inm_matching_server_etag_is_304",
     .req = GET "If-None-Match: \"a\"\r\n",
     .resp = OK "ETag: \"a\"\r\n",
     .expected = "304"},
    {.what = "inm_weakly_matching_server_etag_is_304",
     .req = GET "If-None-Match: W/\"a\"\r\n",
     .resp = OK "ETag: \"a\"\r\n",
     .expected = "304"},
    {.what = "inm_not_matching_server_etag_passes",
     .req = GET "If-None-Match: \"b\"\r\n",
     .resp = OK "ETag: \"a\"\r\n",
     .expected = "pass"},
    {.what = "unconditional_get_with_server_etag_passes",
     .req = GET,
     .resp = OK "ETag: \"a\"\r\n",
     .expected = "pass"},
    {.what = "failing_if_match_never_304",
     .req = GET "If-Match: \"b\"\r\nIf-None-Match: \"a\"\r\n",
     .resp = OK "ETag: \"a\"\r\n",
     .expected = "pass"},
    {.what = "head_ims_matching_server_lm_is_304",
     .req = HEAD "If-Modified-Since: " D_LM "\r\n",
     .resp = OK "Last-Modified: " D_LM "\r\n",
     .expected = "304"},
    /* A GET whose 200 has only a Last-Modified is held for its tag: its
     * 304 is decided once the tag is known, and carries it. */
    {.what = "get_ims_matching_server_lm_is_held_then_304",
     .req = GET "If-Modified-Since: " D_LM "\r\n",
     .resp = OK "Last-Modified: " D_LM "\r\n",
     .body_tag = TAG,
     .expected = "hold, 304"},
    {.what = "get_ims_older_than_server_lm_is_held_then_tagged",
     .req = GET "If-Modified-Since: " D_OLD "\r\n",
     .resp = OK "Last-Modified: " D_LM "\r\n",
     .body_tag = TAG,
     .expected = "hold, tag"},
    {.what = "get_ims_matching_server_lm_too_large_is_304_at_head",
     .req = GET "If-Modified-Since: " D_LM "\r\n",
     .resp = OK "Last-Modified: " D_LM "\r\n",
     .is_too_large = true,
     .expected = "304"},
    /* What is not a 200 passes, noted. */
    {.what = "server_304_passes",
     .req = GET "If-None-Match: \"a\"\r\n",
     .resp = "HTTP/1.1 304 Not Modified\r\nETag: \"a\"\r\n",
     .expected = "pass",
     .outcome = NM_OUTCOME_SERVER_304},
    {.what = "status_404_passes",
     .req = GET,
     .resp = "HTTP/1.1 404 Not Found\r\nContent-Length: 5\r\n",
     .expected = "pass",
     .outcome = NM_OUTCOME_NOT_HANDLED,
     .reason = NM_REASON_STATUS},
    {.what = "disabled_route_passes_even_when_matching",
     .req = GET "If-None-Match: \"a\"\r\n",
     .resp = OK "ETag: \"a\"\r\n",
     .is_disabled = true,
     .expected = "pass",
     .outcome = NM_OUTCOME_NOT_HANDLED,
     .reason = NM_REASON_DISABLED},
    {.what = "disabled_route_gets_no_tag",
     .req = GET,
     .resp = OK,
     .is_disabled = true,
     .body_tag = TAG,
     .expected = "pass",
     .outcome = NM_OUTCOME_NOT_HANDLED,
     .reason = NM_REASON_DISABLED},
    {.what = "event_stream_gets_no_tag",
     .req = GET,
     .resp = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n",
     .body_tag = TAG,
     .expected = "pass"},
    /* A 200 without ETag: held and hashed, within the limits. */
    {.what = "get_without_etag_is_held_then_tagged",
     .req = GET,
     .resp = OK,
     .body_tag = TAG,
     .expected = "hold, tag"},
    {.what = "inm_matching_the_body_tag_is_304",
     .req = GET "If-None-Match: " TAG "\r\n",
     .resp = OK,
     .body_tag = TAG,
     .expected = "hold, 304"},
    {.what = "inm_not_matching_the_body_tag_is_tagged",
     .req = GET "If-None-Match: " TAG2 "\r\n",
     .resp = OK,
     .body_tag = TAG,
     .expected = "hold, tag"},
    {.what = "body_over_the_limit_passes_noted",
     .req = GET,
     .resp = OK,
     .is_too_large = true,
     .body_tag = TAG,
     .expected = "pass",
     .outcome = NM_OUTCOME_NOT_HANDLED,
     .reason = NM_REASON_TOO_LARGE},
    {.what = "no_room_to_hold_passes",
     .req = GET,
     .resp = OK,
     .has_no_room = true,
     .body_tag = TAG,
     .expected = "pass"},
    {.what = "head_without_known_tag_passes",
     .req = HEAD "If-None-Match: " TAG "\r\n",
     .resp = OK,
     .expected = "pass"},
    /* A tag known without the body. */
    {.what = "head_with_known_file_tag_matching_is_304",
     .req = HEAD "If-None-Match: " TAG "\r\n",
     .resp = OK,
     .head_tag = TAG,
     .expected = "304"},
    {.what = "head_with_known_file_tag_is_tagged",
     .req = HEAD,
     .resp = OK,
     .head_tag = TAG,
     .expected = "tag"},
    {.what = "pinned_tag_matching_is_304_without_holding",
     .req = GET "If-None-Match: " TAG2 "\r\n",
     .resp = OK,
     .pin = TAG2,
     .store_tag = TAG2,
     .body_tag = TAG,
     .expected = "304"},
    {.what = "pinned_tag_beats_the_head_cache",
     .req = HEAD "If-None-Match: " TAG "\r\n",
     .resp = OK,
     .pin = TAG2,
     .store_tag = TAG2,
     .head_tag = TAG,
     .expected = "tag"},
    /* The store's date (docs/validators.md): only for the tag served, once
     * the clock has reached it, and if no other tag went out since. */
    {.what = "store_date_of_the_served_tag_is_added",
     .req = GET,
     .resp = OK,
     .store_tag = TAG,
     .store_lm = LM_STORE,
     .body_tag = TAG,
     .expected = "hold, tag",
     .expected_lm = LM_STORE},
    {.what = "ims_equal_to_the_store_date_is_304",
     .req = GET "If-Modified-Since: " D_STORE "\r\n",
     .resp = OK,
     .store_tag = TAG,
     .store_lm = LM_STORE,
     .body_tag = TAG,
     .expected = "hold, 304",
     .expected_lm = LM_STORE},
    {.what = "ims_after_the_store_date_is_not_304_exact_only",
     .req = GET "If-Modified-Since: " D_NOW "\r\n",
     .resp = OK,
     .store_tag = TAG,
     .store_lm = LM_STORE,
     .body_tag = TAG,
     .expected = "hold, tag",
     .expected_lm = LM_STORE},
    {.what = "store_date_of_another_tag_is_not_added",
     .req = GET "If-Modified-Since: " D_STORE "\r\n",
     .resp = OK,
     .store_tag = TAG2,
     .store_lm = LM_STORE,
     .body_tag = TAG,
     .expected = "hold, tag"},
    {.what = "store_date_before_another_tag_served_is_not_added",
     .req = GET "If-Modified-Since: " D_STORE "\r\n",
     .resp = OK,
     .store_tag = TAG,
     .store_lm = LM_STORE,
     .other_since = LM_STORE,
     .body_tag = TAG,
     .expected = "hold, tag"},
    {.what = "store_date_after_the_response_date_is_not_added",
     .req = GET,
     .resp = "HTTP/1.1 200 OK\r\nDate: " D_STORE "\r\nContent-Length: 5\r\n",
     .store_tag = TAG,
     .store_lm = NOW,
     .body_tag = TAG,
     .expected = "hold, tag"},
    {.what = "server_lm_stands_store_date_not_added",
     .req = GET,
     .resp = OK "Last-Modified: " D_LM "\r\n",
     .store_tag = TAG,
     .store_lm = LM_STORE,
     .body_tag = TAG,
     .expected = "hold, tag"},
    {.what = "dateless_200_gets_a_date",
     .req = GET,
     .resp = OK_NO_DATE,
     .body_tag = TAG,
     .expected = "hold, tag",
     .is_date_added = true},
};

/* Parses the request head text r (plus its empty line) into *req. */
static bool parse_req(const char *text, nm_req_t *req)
{
    char buf[1024];
    int n = snprintf(buf, sizeof buf, "%s\r\n", text);
    nm_req_parser_t p;
    nm_http_req_init(&p);
    memset(req, 0, sizeof(*req));
    nm_req_event_t ev;
    long used = nm_http_req_feed(&p, req, buf, (size_t)n, &ev);
    return used == n && ev == NM_REQ_EV_HEAD_DONE;
}

/* Parses the response head text (plus its empty line) into *resp. */
static bool parse_resp(const char *text, bool is_head, nm_resp_t *resp)
{
    char buf[1024];
    int n = snprintf(buf, sizeof buf, "%s\r\n", text);
    nm_resp_parser_t p;
    nm_http_resp_init(&p);
    nm_http_resp_expect_head(&p, is_head);
    memset(resp, 0, sizeof(*resp));
    nm_resp_event_t ev;
    long used = nm_http_resp_feed(&p, resp, buf, (size_t)n, &ev);
    return used == n && ev == NM_RESP_EV_HEAD_DONE;
}

/* The store's entry for the URL as the row describes it. */
static const nm_snapshot_hit_t *store_hit(const row_t *r,
                                          nm_snapshot_hit_t *hit)
{
    if (r->store_tag == NULL)
        return NULL;
    memset(hit, 0, sizeof(*hit));
    hit->flags = NM_SNAPSHOT_E_HAS_TAG | (r->pin ? NM_SNAPSHOT_E_PINNED : 0);
    hit->tag_len = strlen(r->store_tag);
    memcpy(hit->tag, r->store_tag, hit->tag_len + 1);
    hit->lm_unix = r->store_lm;
    return hit;
}

/* With a tag: the synth answer.c would build, and what it sends. */
static const char *with_tag(const row_t *r, const nm_decide_in_t *in,
                            const char *tag, const nm_snapshot_hit_t *hit,
                            nm_synth_t *sy, bool is_held)
{
    if (nm_decide_synth_start(sy, in->resp, tag, in->now))
        nm_decide_synth_date(sy, hit, r->other_since);
    bool is_304 = nm_decide_tagged(in, sy) == NM_VERDICT_NOT_MODIFIED;
    if (is_held)
        return is_304 ? "hold, 304" : "hold, tag";
    return is_304 ? "304" : "tag";
}

/* The walk phase.c makes at a complete head, and answer.c after it. */
static const char *run(const row_t *r, const nm_req_t *req,
                       const nm_resp_t *resp, nm_decide_note_t *note,
                       nm_synth_t *sy)
{
    nm_decide_in_t in = {
        .req = req,
        .resp = resp,
        .now = NOW,
        .is_disabled = r->is_disabled,
        .is_too_large = r->is_too_large,
        .can_hold = !r->is_too_large && !r->has_no_room,
    };
    nm_verdict_t v = nm_decide_head(&in, note);
    if (v == NM_VERDICT_NOT_MODIFIED)
        return "304";
    if (v == NM_VERDICT_PASS)
        return "pass";
    assert_true(nm_decide_is_ours(&in));
    nm_snapshot_hit_t hit_buf;
    const nm_snapshot_hit_t *hit = store_hit(r, &hit_buf);
    const char *known = nm_decide_pinned_tag(hit);
    if (known == NULL && req->method == NM_METHOD_HEAD)
        known = r->head_tag;
    if (known != NULL)
        return with_tag(r, &in, known, hit, sy, false);
    if (nm_decide_untagged(&in, note) != NM_VERDICT_HOLD)
        return "pass";
    assert_non_null(r->body_tag);
    return with_tag(r, &in, r->body_tag, hit, sy, true);
}

static void decision_rows(void **state)
{
    (void)state;
    int failures = 0;
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        const row_t *r = &rows[i];
        static nm_req_t req;
        static nm_resp_t resp;
        if (!parse_req(r->req, &req) ||
            !parse_resp(r->resp, req.method == NM_METHOD_HEAD, &resp)) {
            print_error("%s: head does not parse\n", r->what);
            failures++;
            continue;
        }
        nm_decide_note_t note = {NM_OUTCOME_PASSED, NM_REASON_NONE};
        nm_synth_t sy = {.last_modified = -1};
        const char *got = run(r, &req, &resp, &note, &sy);
        int64_t lm = sy.last_modified < 0 ? 0 : sy.last_modified;
        bool is_date_added = strstr(r->expected, "tag") && sy.needs_date;
        if (strcmp(got, r->expected) != 0 || note.outcome != r->outcome ||
            note.reason != r->reason || lm != r->expected_lm ||
            is_date_added != r->is_date_added) {
            print_error("%s: got %s (outcome %d reason %d lm %lld date %d), "
                        "want %s (outcome %d reason %d lm %lld date %d)\n",
                        r->what, got, note.outcome, note.reason, (long long)lm,
                        is_date_added, r->expected, r->outcome, r->reason,
                        (long long)r->expected_lm, r->is_date_added);
            failures++;
        }
    }
    assert_int_equal(failures, 0);
}

/* The lines added to a 200: ETag, then the store's date, then a Date when
 * the server sent none; none of it when it does not fit. */
static void synth_lines_in_order_and_bounded(void **state)
{
    (void)state;
    static nm_resp_t resp;
    assert_true(parse_resp(OK_NO_DATE, false, &resp));
    nm_synth_t sy;
    assert_true(nm_decide_synth_start(&sy, &resp, TAG, NOW));
    nm_snapshot_hit_t hit = {.lm_unix = LM_STORE,
                             .flags = NM_SNAPSHOT_E_HAS_TAG};
    memcpy(hit.tag, TAG, sizeof(TAG));
    nm_decide_synth_date(&sy, &hit, 0);
    char out[256];
    size_t n = nm_decide_synth_lines(&sy, true, out, sizeof out);
    const char *want =
        "ETag: " TAG "\r\nLast-Modified: " D_STORE "\r\nDate: " D_NOW "\r\n";
    assert_int_equal(n, strlen(want));
    assert_memory_equal(out, want, n);
    /* A 304 takes its Date from the 304 builder. */
    n = nm_decide_synth_lines(&sy, false, out, sizeof out);
    assert_int_equal(n,
                     strlen("ETag: " TAG "\r\nLast-Modified: " D_STORE "\r\n"));
    assert_int_equal(nm_decide_synth_lines(&sy, true, out, 20), 0);
}

/* The response's Date, in each form, one after the other: a Date seen
 * before (kept from the last parse) never stands for another. */
static void response_date_of_each_response(void **state)
{
    (void)state;
    static const struct {
        const char *date;
        int64_t expected; /* -1: unreadable */
    } rows[] = {
        {D_NOW, NOW},
        {D_NOW, NOW},
        {D_LM, 784111777},
        {D_NOW, NOW},
        {"Sunday, 06-Nov-94 08:49:37 GMT", 784111777},
        {"Sun Nov  6 08:49:37 1994", 784111777},
        {"Tue, 14 Nov 2023 22:13:21 GMT", NOW + 1},
        {"Tue, 14 Nov 2023 22:13:2x GMT", -1},
        {D_NOW, NOW},
    };
    int failures = 0;
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        static nm_resp_t resp;
        char text[160];
        snprintf(text, sizeof text,
                 "HTTP/1.1 200 OK\r\nDate: %s\r\nContent-Length: 5\r\n",
                 rows[i].date);
        assert_true(parse_resp(text, false, &resp));
        nm_synth_t sy;
        nm_decide_synth_start(&sy, &resp, TAG, NOW);
        if (sy.date != rows[i].expected) {
            print_error("row %zu (%s): got %lld, want %lld\n", i, rows[i].date,
                        (long long)sy.date, (long long)rows[i].expected);
            failures++;
        }
    }
    assert_int_equal(failures, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(decision_rows),
        cmocka_unit_test(synth_lines_in_order_and_bounded),
        cmocka_unit_test(response_date_of_each_response),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
