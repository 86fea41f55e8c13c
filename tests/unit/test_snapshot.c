/* test_snapshot.c - the validator snapshot: put/lookup/remove, disabled
 * prefixes, hostile maps (truncated, garbage, wrong version, stuck
 * writer), and a reader/writer race in which no torn read may be accepted.
 * NM_RACE_SECONDS sets the race length (default 10). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#include "fresh.h"
#include "snapshot.h"

#include <xxhash.h>

static nm_slice_t S(const char *s)
{
    nm_slice_t sl = {s, s ? strlen(s) : 0};
    return sl;
}

/* An 8-aligned region of the size slots need. */
static void *region(uint32_t slots, size_t *len)
{
    *len = nm_snapshot_region_len(slots);
    assert_true(*len > 0);
    void *m = aligned_alloc(64, *len);
    assert_non_null(m);
    memset(m, 0xa5, *len); /* init must not rely on zeroed memory */
    assert_int_equal(nm_snapshot_w_init(m, *len, slots, 1), NM_OK);
    return m;
}

static void put(void *m, size_t len, const char *host, const char *target,
                const char *tag, int64_t lm, bool is_pinned)
{
    nm_snapshot_w_begin(m);
    assert_int_equal(nm_snapshot_w_put_url(m, len, S(host), S(target), S(tag),
                                           lm, is_pinned),
                     NM_OK);
    nm_snapshot_w_end(m, 1000);
}

static void snapshot_put_then_lookup_finds_tag_and_last_modified(void **state)
{
    (void)state;
    size_t len;
    void *m = region(64, &len);
    put(m, len, "Example.COM", "/a?x=1", "\"t1\"", 111, false);
    put(m, len, "example.com", "/a?x=2", "W/\"t2\"", 222, true);

    struct row {
        const char *host, *target;
        int found;
        const char *tag;
        int64_t lm;
        bool is_pinned;
    } rows[] = {
        {"example.com", "/a?x=1", 1, "\"t1\"", 111, false},
        {"EXAMPLE.com", "/a?x=1", 1, "\"t1\"", 111, false},
        {"example.com", "/a?x=2", 1, "W/\"t2\"", 222, true},
        {"example.com", "/a", 0, NULL, 0, false},
        {"example.com", "/A?x=1", 0, NULL, 0, false}, /* paths are exact */
        {"other.com", "/a?x=1", 0, NULL, 0, false},
        {"", "/a?x=1", 0, NULL, 0, false},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        print_message("row %s %s\n", rows[i].host, rows[i].target);
        nm_snapshot_hit_t hit;
        int rc = nm_snapshot_lookup(m, len, S(rows[i].host), S(rows[i].target),
                                    &hit);
        assert_int_equal(rc, rows[i].found);
        if (!rc)
            continue;
        assert_string_equal(hit.tag, rows[i].tag);
        assert_int_equal(hit.tag_len, strlen(rows[i].tag));
        assert_int_equal(hit.lm_unix, rows[i].lm);
        assert_int_equal(!!(hit.flags & NM_SNAPSHOT_E_PINNED),
                         rows[i].is_pinned);
        assert_true(hit.flags & NM_SNAPSHOT_E_HAS_TAG);
        assert_int_equal(hit.generation, 3);
    }
    free(m);
}

static void snapshot_replace_keeps_one_entry(void **state)
{
    (void)state;
    size_t len;
    void *m = region(16, &len);
    put(m, len, "h", "/x", "\"a\"", 1, false);
    put(m, len, "h", "/x", "\"b\"", 2, false);
    assert_int_equal(nm_snapshot_w_used(m, len), 1);
    nm_snapshot_hit_t hit;
    assert_int_equal(nm_snapshot_lookup(m, len, S("h"), S("/x"), &hit), 1);
    assert_string_equal(hit.tag, "\"b\"");
    free(m);
}

static void snapshot_long_tag_is_published_without_tag(void **state)
{
    (void)state;
    size_t len;
    void *m = region(16, &len);
    char tag[NM_SNAPSHOT_TAG_MAX + 2];
    memset(tag, 'x', sizeof(tag) - 1);
    tag[sizeof(tag) - 1] = '\0';
    put(m, len, "h", "/x", tag, 5, false);
    nm_snapshot_hit_t hit;
    assert_int_equal(nm_snapshot_lookup(m, len, S("h"), S("/x"), &hit), 1);
    assert_false(hit.flags & NM_SNAPSHOT_E_HAS_TAG);
    assert_int_equal(hit.tag_len, 0);
    assert_int_equal(hit.lm_unix, 5);
    tag[NM_SNAPSHOT_TAG_MAX] = '\0'; /* exactly the maximum fits */
    put(m, len, "h", "/y", tag, 5, false);
    assert_int_equal(nm_snapshot_lookup(m, len, S("h"), S("/y"), &hit), 1);
    assert_int_equal(hit.tag_len, NM_SNAPSHOT_TAG_MAX);
    free(m);
}

static void snapshot_full_table_reports_nospace(void **state)
{
    (void)state;
    size_t len;
    void *m = region(8, &len);
    char path[32];
    nm_snapshot_w_begin(m);
    for (int i = 0; i < 6; i++) {
        snprintf(path, sizeof(path), "/%d", i);
        assert_int_equal(nm_snapshot_w_put_url(m, len, S("h"), S(path),
                                               S("\"t\""), i, false),
                         NM_OK);
    }
    assert_int_equal(
        nm_snapshot_w_put_url(m, len, S("h"), S("/new"), S("\"t\""), 0, false),
        NM_E_NOSPACE);
    /* Replacing an existing entry still works when full. */
    assert_int_equal(
        nm_snapshot_w_put_url(m, len, S("h"), S("/0"), S("\"u\""), 0, false),
        NM_OK);
    nm_snapshot_w_end(m, 0);
    free(m);
}

/* Random puts and removes in a small, crowded table, checked against a
 * plain array: backward-shift deletion must never lose an entry. */
static void snapshot_remove_keeps_probe_chains_intact(void **state)
{
    (void)state;
    enum { N = 40 };
    size_t len;
    void *m = region(64, &len);
    int64_t model[N]; /* Last-Modified, or -1 when absent */
    for (int i = 0; i < N; i++)
        model[i] = -1;
    srand(7);
    int live = 0;
    for (int step = 0; step < 20000; step++) {
        int k = rand() % N;
        char path[16];
        snprintf(path, sizeof(path), "/k%d", k);
        nm_snapshot_w_begin(m);
        if (rand() % 2 && (model[k] >= 0 || live < 48)) {
            assert_int_equal(nm_snapshot_w_put_url(m, len, S("h"), S(path),
                                                   S("\"t\""), step, false),
                             NM_OK);
            live += model[k] < 0;
            model[k] = step;
        } else {
            int rc = nm_snapshot_w_remove_url(m, len, S("h"), S(path));
            assert_int_equal(rc, model[k] >= 0);
            live -= model[k] >= 0;
            model[k] = -1;
        }
        nm_snapshot_w_end(m, 0);
        assert_int_equal(nm_snapshot_w_used(m, len), live);
        for (int j = 0; j < N; j++) {
            snprintf(path, sizeof(path), "/k%d", j);
            nm_snapshot_hit_t hit;
            int rc = nm_snapshot_lookup(m, len, S("h"), S(path), &hit);
            if (rc != (model[j] >= 0))
                fail_msg("step %d key %d: found=%d want %d", step, j, rc,
                         model[j] >= 0);
            if (rc)
                assert_int_equal(hit.lm_unix, model[j]);
        }
    }
    free(m);
}

static void snapshot_disabled_prefixes_match_at_slash_boundaries(void **state)
{
    (void)state;
    size_t len;
    void *m = region(64, &len);
    nm_snapshot_hit_t hit;
    assert_false(nm_snapshot_is_disabled(m, len, S("h"), S("/static/a")));
    nm_snapshot_w_begin(m);
    assert_int_equal(
        nm_snapshot_w_set_disabled(m, len, S(NULL), S("/static/"), true),
        NM_OK);
    assert_int_equal(
        nm_snapshot_w_set_disabled(m, len, S("Only.host"), S("/api"), true),
        NM_OK);
    nm_snapshot_w_end(m, 0);
    /* A disabled prefix is not a URL entry. */
    assert_int_equal(nm_snapshot_lookup(m, len, S(""), S("/static"), &hit), 0);

    struct row {
        const char *host, *target;
        bool want;
    } rows[] = {
        {"h", "/static", true},
        {"h", "/static/", true},
        {"h", "/static/css/a.css?v=1", true},
        {"h", "/static?x=/y", true},
        {"h", "/staticfoo", false},
        {"h", "/stat", false},
        {"h", "/", false},
        {"h", "/x/static/a", false},
        {"only.host", "/api/v1", true},
        {"ONLY.HOST", "/api", true},
        {"only.host", "/apix", false},
        {"other", "/api/v1", false},
        {"h", "", false},
        {"h", "?static", false},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        print_message("row %s %s\n", rows[i].host, rows[i].target);
        assert_int_equal(
            nm_snapshot_is_disabled(m, len, S(rows[i].host), S(rows[i].target)),
            rows[i].want);
    }

    /* Enabling again removes the entry; "/" disables every route. */
    nm_snapshot_w_begin(m);
    assert_int_equal(
        nm_snapshot_w_set_disabled(m, len, S(NULL), S("/static"), false),
        NM_OK);
    nm_snapshot_w_end(m, 0);
    assert_false(nm_snapshot_is_disabled(m, len, S("h"), S("/static/a")));
    nm_snapshot_w_begin(m);
    nm_snapshot_w_set_disabled(m, len, S(NULL), S("/"), true);
    nm_snapshot_w_end(m, 0);
    assert_true(nm_snapshot_is_disabled(m, len, S("h"), S("/")));
    assert_true(nm_snapshot_is_disabled(m, len, S("h"), S("/any/thing")));
    free(m);
}

static void set_fresh(void *m, size_t len, const char *host, const char *prefix,
                      bool is_set, int64_t fresh_s)
{
    nm_snapshot_w_begin(m);
    assert_int_equal(
        nm_snapshot_w_set_fresh(m, len, S(host), S(prefix), is_set, fresh_s),
        NM_OK);
    nm_snapshot_w_end(m, 0);
}

static void snapshot_fresh_prefixes_longest_match_wins(void **state)
{
    (void)state;
    size_t len;
    void *m = region(64, &len);
    /* Nothing fresh: every route 0, also without a map. */
    assert_int_equal(nm_snapshot_fresh_for(m, len, S("h"), S("/a")), 0);
    assert_int_equal(nm_snapshot_fresh_for(NULL, 0, S("h"), S("/a")), 0);
    set_fresh(m, len, NULL, "/static/", true, 300);
    set_fresh(m, len, NULL, "/static/live", true, 0); /* never */
    set_fresh(m, len, "Api.example", "/", true, NM_FRESH_ORIGIN);
    set_fresh(m, len, "api.example", "/v1", true, 5);
    set_fresh(m, len, NULL, "/v1", true, 7);
    put(m, len, "h", "/static", "\"t\"", 1, false);
    nm_snapshot_w_begin(m);
    nm_snapshot_w_set_disabled(m, len, S(NULL), S("/static"), true);
    nm_snapshot_w_end(m, 0);

    struct row {
        const char *host, *target;
        int64_t want;
    } rows[] = {
        {"h", "/static", 300},
        {"h", "/static/", 300},
        {"h", "/static/css/a.css?v=1", 300},
        {"h", "/static?x=/live", 300},
        {"h", "/%73tatic/a", 300},       /* normalized: %73 is 's' */
        {"h", "/x/../static//a", 300},   /* dot segments, repeated '/' */
        {"h", "/static/%2e%2e/../a", 0}, /* '..' above the root: never */
        {"h", "/static%2fa", 0},         /* encoded '/': never */
        {"h", "/staticfoo", 0},
        {"h", "/static/live", 0}, /* the longer "never" wins */
        {"h", "/static/live/x", 0},
        {"h", "/static/lively", 300},
        {"api.example", "/anything", NM_FRESH_ORIGIN},
        {"API.EXAMPLE", "/", NM_FRESH_ORIGIN},
        {"api.example", "/v1/x", 5}, /* the host's beats every host's */
        {"other", "/v1/x", 7},
        {"other", "/v2", 0},
        {"h", "", 0},
        {"h", "?q", 0},
        {"h", "http://h/static/a", 0}, /* absolute-form: canonicalize first */
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        print_message("row %s %s\n", rows[i].host, rows[i].target);
        assert_int_equal(
            nm_snapshot_fresh_for(m, len, S(rows[i].host), S(rows[i].target)),
            rows[i].want);
    }
    /* A fresh prefix is neither a URL nor a disabled prefix, and the
     * disabled prefix and URL of the same name are still there. */
    nm_snapshot_hit_t hit;
    assert_int_equal(nm_snapshot_lookup(m, len, S(""), S("/v1"), &hit), 0);
    assert_false(nm_snapshot_is_disabled(m, len, S("h"), S("/v1")));
    assert_true(nm_snapshot_is_disabled(m, len, S("h"), S("/static")));
    assert_int_equal(nm_snapshot_lookup(m, len, S("h"), S("/static"), &hit), 1);

    /* off removes; the daemon's --accelerate origin covers the rest. */
    set_fresh(m, len, NULL, "/static", false, 0);
    assert_int_equal(nm_snapshot_fresh_for(m, len, S("h"), S("/static/a")), 0);
    nm_snapshot_w_begin(m);
    nm_snapshot_w_set_accelerate_origin(m, true);
    nm_snapshot_w_end(m, 0);
    assert_int_equal(nm_snapshot_fresh_for(m, len, S("h"), S("/static/a")),
                     NM_FRESH_ORIGIN);
    assert_int_equal(nm_snapshot_fresh_for(m, len, S("h"), S("/static/live")),
                     0);
    assert_int_equal(nm_snapshot_fresh_for(m, len, S("h"), S("/a%2fb")), 0);
    nm_snapshot_w_begin(m);
    nm_snapshot_w_set_accelerate_origin(m, false);
    nm_snapshot_w_end(m, 0);
    assert_int_equal(nm_snapshot_fresh_for(m, len, S("h"), S("/static/a")), 0);
    /* Only "origin" and seconds > 0 are values to set. */
    assert_int_equal(
        nm_snapshot_w_set_fresh(m, len, S(NULL), S("/b"), true, -5),
        NM_E_INVAL);
    free(m);
}

/* Removing fresh prefixes brings the count back to 0: the cheap path. */
static void snapshot_fresh_count_follows_entries(void **state)
{
    (void)state;
    size_t len;
    void *m = region(64, &len);
    set_fresh(m, len, NULL, "/a", true, 10);
    set_fresh(m, len, NULL, "/a", true, 20); /* replaced, not added */
    assert_int_equal(nm_snapshot_fresh_for(m, len, S("h"), S("/a")), 20);
    assert_int_equal(nm_snapshot_w_used(m, len), 1);
    set_fresh(m, len, NULL, "/a", false, 0);
    set_fresh(m, len, NULL, "/a", false, 0); /* absent: a no-op */
    assert_int_equal(nm_snapshot_w_used(m, len), 0);
    const uint32_t *fresh_count =
        (const uint32_t *)((const char *)m + NM_SNAPSHOT_HEADER_LEN - 4);
    assert_int_equal(*fresh_count, 0);
    free(m);
}

/* A way to break a valid region, and whether a lookup must then fail. */
struct hostile_row {
    const char *name;
    size_t offset; /* byte offset of a u32 to overwrite; ~0 for none */
    uint32_t value;
    long len_delta; /* added to the region length passed to the reader */
};

static const struct hostile_row hostile_rows[] = {
    {"bad_magic", 0, 0x12345678, 0},
    {"future_version", 4, 3, 0},
    {"version_1_without_fresh_prefixes", 4, 1, 0},
    {"slots_not_power_of_two", 24, 63, 0},
    {"slots_larger_than_map", 24, 128, 0},
    {"slots_huge", 24, 0x80000000u, 0},
    {"slots_zero", 24, 0, 0},
    {"entry_len_changed", 28, 64, 0},
    {"writer_stuck_inside", 8, 1, 0},
    {"truncated_by_one", (size_t)~0, 0, -1},
    {"truncated_to_header", (size_t)~0, 0, -(long)(64 * 128)},
    {"shorter_than_header", (size_t)~0, 0, -(long)(64 * 128 + 1)},
};

static void snapshot_hostile_maps_read_as_empty(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(hostile_rows) / sizeof(hostile_rows[0]);
         i++) {
        const struct hostile_row *r = &hostile_rows[i];
        print_message("row %s\n", r->name);
        size_t len;
        char *m = region(64, &len);
        put(m, len, "h", "/x", "\"t\"", 1, false);
        nm_snapshot_w_begin(m);
        nm_snapshot_w_set_disabled(m, len, S(NULL), S("/x"), true);
        nm_snapshot_w_set_fresh(m, len, S(NULL), S("/y"), true, 60);
        nm_snapshot_w_set_accelerate_origin(m, true);
        nm_snapshot_w_end(m, 0);
        if (r->offset != (size_t)~0)
            memcpy(m + r->offset, &r->value, sizeof(r->value));
        size_t rlen = (size_t)((long)len + r->len_delta);
        /* Copy to an exact-size buffer so ASan catches any overread. */
        char *copy = aligned_alloc(64, (rlen + 63) / 64 * 64);
        memcpy(copy, m, rlen);
        nm_snapshot_hit_t hit;
        assert_int_equal(nm_snapshot_lookup(copy, rlen, S("h"), S("/x"), &hit),
                         0);
        assert_false(nm_snapshot_is_disabled(copy, rlen, S("h"), S("/x")));
        assert_int_equal(nm_snapshot_fresh_for(copy, rlen, S("h"), S("/y")), 0);
        assert_int_equal(nm_snapshot_fresh_for(copy, rlen, S("h"), S("/z")), 0);
        assert_false(nm_snapshot_is_retired(copy, rlen));
        free(copy);
        free(m);
    }
    nm_snapshot_hit_t hit;
    assert_int_equal(nm_snapshot_lookup(NULL, 4096, S("h"), S("/x"), &hit), 0);
    char unaligned[NM_SNAPSHOT_HEADER_LEN + 16];
    assert_int_equal(
        nm_snapshot_lookup(unaligned + 1, 8, S("h"), S("/x"), &hit), 0);
}

/* A header that validates over a table of random bytes (no empty slot):
 * the probe must stay bounded and in range. */
static void snapshot_garbage_table_never_crashes(void **state)
{
    (void)state;
    srand(99);
    for (int iter = 0; iter < 200; iter++) {
        size_t len;
        uint8_t *m = region(16, &len);
        for (size_t i = NM_SNAPSHOT_HEADER_LEN; i < len; i++)
            m[i] = (uint8_t)rand();
        if (iter % 2) /* garble the header tail too */
            for (size_t i = 32; i < NM_SNAPSHOT_HEADER_LEN; i++)
                m[i] = (uint8_t)rand();
        nm_snapshot_hit_t hit;
        char path[16];
        snprintf(path, sizeof(path), "/%d", iter);
        int rc = nm_snapshot_lookup(m, len, S("h"), S(path), &hit);
        assert_true(rc == 0 || rc == 1);
        if (rc)
            assert_true(hit.tag_len <= NM_SNAPSHOT_TAG_MAX);
        (void)nm_snapshot_is_disabled(m, len, S("h"), S("/a/b/c"));
        int64_t f = nm_snapshot_fresh_for(m, len, S("h"), S("/a/b/c"));
        assert_true(f >= 0 || f == NM_FRESH_ORIGIN);
        free(m);
    }
}

static void snapshot_retired_flag_is_visible(void **state)
{
    (void)state;
    size_t len;
    void *m = region(8, &len);
    assert_false(nm_snapshot_is_retired(m, len));
    nm_snapshot_w_retire(m);
    assert_true(nm_snapshot_is_retired(m, len));
    free(m);
}

static void snapshot_path_follows_socket_path(void **state)
{
    (void)state;
    struct row {
        const char *sock, *want;
        size_t cap;
        int rc;
    } rows[] = {
        {"/run/notmod/notmodd.sock", "/run/notmod/notmodd.snapshot", 64, 28},
        {"/tmp/notmod-1000.sock", "/tmp/notmod-1000.snapshot", 64, 25},
        {"/x/events", "/x/events.snapshot", 64, 18},
        {".sock", ".snapshot", 64, 9},
        {"/x/a.sock", NULL, 12, NM_E_NOSPACE},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        print_message("row %s\n", rows[i].sock);
        char out[64];
        int rc = nm_snapshot_path_for_socket(rows[i].sock, out, rows[i].cap);
        assert_int_equal(rc, rows[i].rc);
        if (rows[i].want)
            assert_string_equal(out, rows[i].want);
    }
}

/* --- the race --- */

enum { RACE_URLS = 16 };

struct race {
    void *map;
    size_t len;
    atomic_bool is_done;
    atomic_ullong accepted, torn, writes;
};

/* Entry contents derived from one counter, so a mix of two writes shows:
 * tag length, every tag byte and the Last-Modified must all agree. */
static void race_tag(uint64_t v, char *tag, size_t *tag_len)
{
    *tag_len = 2 + v % 100;
    memset(tag, 'a' + (int)(v % 26), *tag_len);
}

static void *race_writer(void *arg)
{
    struct race *r = arg;
    uint64_t v = 0;
    while (!atomic_load(&r->is_done)) {
        nm_snapshot_w_begin(r->map);
        for (int i = 0; i < 4; i++, v++) {
            char path[16], tag[128];
            size_t tag_len;
            snprintf(path, sizeof(path), "/u%d", (int)(v % RACE_URLS));
            race_tag(v, tag, &tag_len);
            nm_slice_t t = {tag, tag_len};
            if (v % 7 == 0)
                nm_snapshot_w_remove_url(r->map, r->len, S("h"), S(path));
            else
                nm_snapshot_w_put_url(r->map, r->len, S("h"), S(path), t,
                                      (int64_t)v, false);
        }
        nm_snapshot_w_end(r->map, 0);
        atomic_fetch_add(&r->writes, 1);
        for (volatile int spin = 0; spin < 200; spin++)
            ; /* let readers through now and then */
    }
    return NULL;
}

static void *race_reader(void *arg)
{
    struct race *r = arg;
    unsigned i = 0;
    while (!atomic_load(&r->is_done)) {
        char path[16], want[128];
        snprintf(path, sizeof(path), "/u%u", i++ % RACE_URLS);
        nm_snapshot_hit_t hit;
        if (!nm_snapshot_lookup(r->map, r->len, S("h"), S(path), &hit))
            continue;
        size_t want_len;
        race_tag((uint64_t)hit.lm_unix, want, &want_len);
        if (hit.tag_len != want_len || memcmp(hit.tag, want, want_len) != 0)
            atomic_fetch_add(&r->torn, 1);
        else
            atomic_fetch_add(&r->accepted, 1);
    }
    return NULL;
}

static void snapshot_race_accepts_no_torn_read(void **state)
{
    (void)state;
    const char *env = getenv("NM_RACE_SECONDS");
    int seconds = env ? atoi(env) : 10;
    struct race r = {0};
    r.map = region(64, &r.len);
    pthread_t w, rd[2];
    assert_int_equal(pthread_create(&w, NULL, race_writer, &r), 0);
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&rd[i], NULL, race_reader, &r), 0);
    struct timespec ts = {seconds, 0};
    nanosleep(&ts, NULL);
    atomic_store(&r.is_done, true);
    pthread_join(w, NULL);
    for (int i = 0; i < 2; i++)
        pthread_join(rd[i], NULL);
    print_message("writes %llu, reads accepted %llu, torn %llu\n",
                  (unsigned long long)r.writes, (unsigned long long)r.accepted,
                  (unsigned long long)r.torn);
    assert_int_equal(r.torn, 0);
    assert_true(r.accepted > 0);
    assert_true(r.writes > 0);
    free(r.map);
}

/* The URL key as defined: XXH3 with the URL seed, streamed over the host
 * folded a byte at a time, a NUL, and the target. */
static uint64_t key_by_definition(const char *host, size_t hl,
                                  const char *target, size_t tl)
{
    XXH3_state_t *st = XXH3_createState();
    assert_non_null(st);
    XXH3_64bits_reset_withSeed(st, 0x6e6d2d75726c0001ull);
    for (size_t i = 0; i < hl; i++) {
        char c = host[i];
        c = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
        XXH3_64bits_update(st, &c, 1);
    }
    XXH3_64bits_update(st, "", 1);
    XXH3_64bits_update(st, target, tl);
    uint64_t k = XXH3_64bits_digest(st);
    XXH3_freeState(st);
    return k ? k : 1;
}

/* Hosts of every length to 600 bytes with every byte value somewhere (the
 * fold's word steps and tails), targets from empty to past the one-call
 * buffer: the key never depends on how it is computed. */
static void url_key_is_the_same_whole_or_streamed(void **state)
{
    (void)state;
    char host[600], target[700];
    for (size_t i = 0; i < sizeof(host); i++)
        host[i] = (char)(i * 37 + 11); /* every byte value, upper case too */
    for (size_t i = 0; i < sizeof(target); i++)
        target[i] = (char)('A' + i % 58);
    static const size_t tls[] = {0, 1, 9, 100, 400, 500, 511, 512, 699};
    for (size_t hl = 0; hl <= sizeof(host); hl += hl < 80 ? 1 : 13) {
        for (size_t j = 0; j < sizeof(tls) / sizeof(tls[0]); j++) {
            nm_slice_t h = {host, hl}, t = {target, tls[j]};
            if (nm_snapshot_url_key(h, t) !=
                key_by_definition(host, hl, target, tls[j]))
                fail_msg("host %zu bytes, target %zu bytes", hl, tls[j]);
        }
    }
    /* A host without upper case: the key that skips the fold is the same
     * (the shim's, after nm_origin_canon). */
    char low[600];
    for (size_t i = 0; i < sizeof(low); i++)
        low[i] =
            (host[i] >= 'A' && host[i] <= 'Z') ? (char)(host[i] + 32) : host[i];
    for (size_t hl = 0; hl <= sizeof(low); hl += hl < 80 ? 1 : 13) {
        for (size_t j = 0; j < sizeof(tls) / sizeof(tls[0]); j++) {
            nm_slice_t h = {low, hl}, t = {target, tls[j]};
            if (nm_snapshot_url_key_lower(h, t) !=
                key_by_definition(low, hl, target, tls[j]))
                fail_msg("lower host %zu bytes, target %zu bytes", hl, tls[j]);
        }
    }
    nm_slice_t upper = S("EXAMPLE.com:8080"), lower = S("example.COM:8080");
    assert_true(nm_snapshot_url_key(upper, S("/a")) ==
                nm_snapshot_url_key(lower, S("/a")));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(snapshot_put_then_lookup_finds_tag_and_last_modified),
        cmocka_unit_test(snapshot_replace_keeps_one_entry),
        cmocka_unit_test(snapshot_long_tag_is_published_without_tag),
        cmocka_unit_test(snapshot_full_table_reports_nospace),
        cmocka_unit_test(snapshot_remove_keeps_probe_chains_intact),
        cmocka_unit_test(snapshot_disabled_prefixes_match_at_slash_boundaries),
        cmocka_unit_test(snapshot_fresh_prefixes_longest_match_wins),
        cmocka_unit_test(snapshot_fresh_count_follows_entries),
        cmocka_unit_test(snapshot_hostile_maps_read_as_empty),
        cmocka_unit_test(snapshot_garbage_table_never_crashes),
        cmocka_unit_test(snapshot_retired_flag_is_visible),
        cmocka_unit_test(snapshot_path_follows_socket_path),
        cmocka_unit_test(snapshot_race_accepts_no_torn_read),
        cmocka_unit_test(url_key_is_the_same_whole_or_streamed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
