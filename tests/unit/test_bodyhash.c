/* test_bodyhash.c - the synthesized tag: known XXH3-128 vectors written as
 * "nm-" + base64url, streaming equal to one-shot for every split, the AVX2
 * build equal to libxxhash's, and the tag being a valid strong
 * entity-tag. */
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
        for (int avx2 = 0; avx2 <= nm_bodyhash_has_avx2(); avx2++) {
            nm_bodyhash_t h;
            nm_bodyhash_init_using(&h, r->seed, avx2);
            nm_bodyhash_update(&h, r->input, strlen(r->input));
            nm_bodyhash_final(&h, streamed);
            if (strcmp(one, r->tag) != 0 || strcmp(streamed, r->tag) != 0) {
                print_error("%s: input [%s] avx2 %d one-shot %s streamed %s "
                            "want %s\n",
                            r->what, r->input, avx2, one, streamed, r->tag);
                failures++;
            }
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

/* A random number from *x (xorshift64: the same rows on every run). */
static uint64_t next_random(uint64_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    return *x;
}

/* Hashes n bytes of buf in random pieces (at most max_piece each). */
static void hash_in_pieces(bool use_avx2, uint64_t seed,
                           const unsigned char *buf, size_t n, size_t max_piece,
                           uint64_t *x, char *out)
{
    nm_bodyhash_t h;
    nm_bodyhash_init_using(&h, seed, use_avx2);
    for (size_t off = 0; off < n;) {
        size_t piece = (size_t)(next_random(x) % max_piece) + 1;
        if (piece > n - off)
            piece = n - off;
        nm_bodyhash_update(&h, buf + off, piece);
        off += piece;
    }
    nm_bodyhash_final(&h, out);
}

/* The AVX2 build and libxxhash give the same tag, whatever the length,
 * the seed and the way the body is cut into pieces; so does the
 * one-shot. On a CPU without AVX2 there is one implementation: the test
 * says so and checks the library against the one-shot. */
static void bodyhash_avx2_build_equals_library_on_random_splits(void **state)
{
    (void)state;
    enum { BUF = 70000, ROWS = 3000 };
    static unsigned char buf[BUF];
    fill(buf, sizeof buf);
    bool has_avx2 = nm_bodyhash_has_avx2();
    if (!has_avx2)
        print_message("no AVX2 here: the library against itself\n");
    uint64_t x = 0x2545F4914F6CDD1DULL;
    int failures = 0;
    for (int row = 0; row < ROWS && failures < 5; row++) {
        /* Mostly short bodies, where XXH3's paths branch, some long. */
        size_t n = (size_t)(next_random(&x) % (row % 4 == 0 ? BUF : 2048));
        size_t start = (size_t)(next_random(&x) % (BUF - n + 1));
        uint64_t seed = row % 3 == 0 ? 0 : next_random(&x);
        size_t max_piece = (size_t)(next_random(&x) % 20000) + 1;
        char one[NM_BODYHASH_TAG_LEN + 1], lib[NM_BODYHASH_TAG_LEN + 1];
        char avx2[NM_BODYHASH_TAG_LEN + 1];
        nm_bodyhash_tag(buf + start, n, seed, one);
        hash_in_pieces(false, seed, buf + start, n, max_piece, &x, lib);
        hash_in_pieces(has_avx2, seed, buf + start, n, max_piece, &x, avx2);
        if (strcmp(one, lib) != 0 || strcmp(avx2, lib) != 0) {
            print_error("row %d: len %zu at %zu seed %llx pieces <= %zu: "
                        "one-shot %s library %s avx2 %s\n",
                        row, n, start, (unsigned long long)seed, max_piece, one,
                        lib, avx2);
            failures++;
        }
    }
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
        cmocka_unit_test(bodyhash_avx2_build_equals_library_on_random_splits),
        cmocka_unit_test(bodyhash_tag_is_a_strong_entity_tag),
        cmocka_unit_test(bodyhash_tag_differs_for_different_bytes_or_seed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
