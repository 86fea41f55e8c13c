/* test_bodyhash.c - the synthesized tag: known XXH3-128 vectors written as
 * "nm-" + base64url, streaming equal to one-shot for every split, and the
 * tag being a valid strong entity-tag. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "bodyhash.h"
#include "etag.h"

#define SEED_X 0x9E3779B97F4A7C15ULL

/* Expected tags: XXH128 canonical bytes (99aa06d3...497f is xxhash's
 * published value for the empty input) base64url-encoded by Python's
 * base64.urlsafe_b64encode, padding removed. */
typedef struct vec_row {
    const char *what;
    const char *input;
    uint64_t seed;
    const char *tag;
} vec_row_t;

static const vec_row_t vec_rows[] = {
    {"empty_body_seed0", "", 0, "\"nm-maoG0wFHmNhgAcMkRo1Jfw\""},
    {"empty_body_seeded", "", SEED_X, "\"nm-0UKXeizKVUtMpRdpmBcXhw\""},
    {"abc_seed0_uses_dash", "abc", 0, "\"nm-BrBatnM6YYV4r1-UiS85UA\""},
    {"abc_seeded_uses_underscore", "abc", SEED_X,
     "\"nm--i7DXKhw_MD8Gumbs94jNg\""},
    {"hello_line_seed0", "Hello, world!\n", 0, "\"nm-wwgjNdnmRKAywbFqXtmP-w\""},
};

static void bodyhash_tag_matches_known_vectors(void **state)
{
    (void)state;
    int failures = 0;
    for (size_t i = 0; i < sizeof vec_rows / sizeof vec_rows[0]; i++) {
        const vec_row_t *r = &vec_rows[i];
        char one[NM_BODYHASH_TAG_LEN + 1], streamed[NM_BODYHASH_TAG_LEN + 1];
        nm_bodyhash_tag(r->input, strlen(r->input), r->seed, one);
        nm_bodyhash_t h;
        nm_bodyhash_init(&h, r->seed);
        nm_bodyhash_update(&h, r->input, strlen(r->input));
        nm_bodyhash_final(&h, streamed);
        if (strcmp(one, r->tag) != 0 || strcmp(streamed, r->tag) != 0) {
            print_error("%s: input [%s] one-shot %s streamed %s want %s\n",
                        r->what, r->input, one, streamed, r->tag);
            failures++;
        }
    }
    assert_int_equal(failures, 0);
}

static void fill(unsigned char *buf, size_t n)
{
    uint32_t x = 2463534242u;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        buf[i] = (unsigned char)x;
    }
}

/* Lengths around XXH3's internal boundaries (16, 128, 240, 256-byte
 * buffer, 1024-byte stripes block) and every split point of each. */
static void bodyhash_streaming_equals_one_shot_for_every_split(void **state)
{
    (void)state;
    static const size_t lens[] = {0,   1,   15,  16,   17,   127,  128,
                                  129, 239, 240, 241,  255,  256,  257,
                                  511, 512, 513, 1023, 1024, 1025, 3000};
    static unsigned char buf[3000];
    fill(buf, sizeof buf);
    int failures = 0;
    for (size_t li = 0; li < sizeof lens / sizeof lens[0]; li++) {
        size_t n = lens[li];
        for (int s = 0; s < 2; s++) {
            uint64_t seed = s ? SEED_X : 0;
            char want[NM_BODYHASH_TAG_LEN + 1];
            nm_bodyhash_tag(buf, n, seed, want);
            for (size_t cut = 0; cut <= n; cut++) {
                char got[NM_BODYHASH_TAG_LEN + 1];
                nm_bodyhash_t h;
                nm_bodyhash_init(&h, seed);
                nm_bodyhash_update(&h, buf, cut);
                nm_bodyhash_update(&h, buf + cut, n - cut);
                nm_bodyhash_final(&h, got);
                if (strcmp(got, want) != 0) {
                    print_error("len %zu seed %d cut %zu: %s != %s\n", n, s,
                                cut, got, want);
                    failures++;
                    break;
                }
            }
        }
    }
    /* Byte at a time, and uneven chunks, over the whole buffer. */
    char want[NM_BODYHASH_TAG_LEN + 1], got[NM_BODYHASH_TAG_LEN + 1];
    nm_bodyhash_tag(buf, sizeof buf, 7, want);
    nm_bodyhash_t h;
    nm_bodyhash_init(&h, 7);
    for (size_t i = 0; i < sizeof buf; i++)
        nm_bodyhash_update(&h, buf + i, 1);
    nm_bodyhash_final(&h, got);
    assert_string_equal(got, want);
    nm_bodyhash_init(&h, 7);
    for (size_t i = 0, step = 1; i < sizeof buf;
         i += step, step = step * 3 % 97 + 1)
        nm_bodyhash_update(&h, buf + i,
                           step < sizeof buf - i ? step : sizeof buf - i);
    nm_bodyhash_final(&h, got);
    assert_string_equal(got, want);
    assert_int_equal(failures, 0);
}

/* The tag is 27 bytes, "nm-" + base64url, and a valid strong entity-tag
 * that an If-None-Match echo of it matches. */
static void bodyhash_tag_is_a_strong_entity_tag(void **state)
{
    (void)state;
    static unsigned char buf[512];
    fill(buf, sizeof buf);
    for (size_t n = 0; n < sizeof buf; n += 37) {
        char tag[NM_BODYHASH_TAG_LEN + 1];
        memset(tag, 'x', sizeof tag);
        nm_bodyhash_tag(buf, n, n, tag);
        assert_int_equal(strlen(tag), NM_BODYHASH_TAG_LEN);
        assert_memory_equal(tag, "\"nm-", 4);
        for (int i = 4; i < NM_BODYHASH_TAG_LEN - 1; i++) {
            char c = tag[i];
            assert_true((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                        (c >= '0' && c <= '9') || c == '-' || c == '_');
        }
        nm_etag_t t;
        assert_int_equal(nm_etag_parse(tag, NM_BODYHASH_TAG_LEN, &t), 0);
        assert_false(t.is_weak);
        assert_int_equal(
            nm_etag_list_match(tag, NM_BODYHASH_TAG_LEN, &t, false),
            NM_ETAG_MATCH);
    }
}

/* Different bytes (a gzip body vs identity) or a different fleet seed give
 * a different tag; the same bytes and seed give the same tag. */
static void bodyhash_tag_differs_for_different_bytes_or_seed(void **state)
{
    (void)state;
    char a[NM_BODYHASH_TAG_LEN + 1], b[NM_BODYHASH_TAG_LEN + 1];
    nm_bodyhash_tag("hello", 5, 0, a);
    nm_bodyhash_tag("hello", 5, 0, b);
    assert_string_equal(a, b);
    nm_bodyhash_tag("hellp", 5, 0, b);
    assert_string_not_equal(a, b);
    nm_bodyhash_tag("hello", 5, 1, b);
    assert_string_not_equal(a, b);
    nm_bodyhash_tag("\x1f\x8b\x08\x00", 4, 0, b);
    assert_string_not_equal(a, b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(bodyhash_tag_matches_known_vectors),
        cmocka_unit_test(bodyhash_streaming_equals_one_shot_for_every_split),
        cmocka_unit_test(bodyhash_tag_is_a_strong_entity_tag),
        cmocka_unit_test(bodyhash_tag_differs_for_different_bytes_or_seed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
