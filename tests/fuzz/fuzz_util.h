/* fuzz_util.h - helpers shared by the libFuzzer harnesses in tests/fuzz/:
 * a growable transcript (what a parser reported, compared across feeding
 * strategies), a splitter that turns input bytes into chunk sizes, and a
 * check that prints its reason and aborts so libFuzzer records the input. */
#ifndef NM_FUZZ_UTIL_H
#define NM_FUZZ_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Aborts with a message: libFuzzer saves the input as a crash. */
#define FUZZ_CHECK(cond, ...)                                                  \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "fuzz check failed: %s (%s:%d)\n  ", #cond,        \
                    __FILE__, __LINE__);                                       \
            fprintf(stderr, __VA_ARGS__);                                      \
            fputc('\n', stderr);                                               \
            abort();                                                           \
        }                                                                      \
    } while (0)

/* A transcript: text the harness appends for each event, compared with
 * memcmp between feeding strategies. */
typedef struct fuzz_tr {
    char *buf;
    size_t len, cap;
} fuzz_tr_t;

static inline void tr_reserve(fuzz_tr_t *t, size_t n)
{
    if (t->len + n + 1 <= t->cap)
        return;
    size_t cap = t->cap ? t->cap : 4096;
    while (cap < t->len + n + 1)
        cap *= 2;
    t->buf = realloc(t->buf, cap);
    if (t->buf == NULL)
        abort();
    t->cap = cap;
}

static inline void tr_printf(fuzz_tr_t *t, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static inline void tr_printf(fuzz_tr_t *t, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n <= 0)
        return;
    tr_reserve(t, (size_t)n);
    va_start(ap, fmt);
    vsnprintf(t->buf + t->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    t->len += (size_t)n;
}

/* Appends bytes escaped, so a transcript stays printable. */
static inline void tr_bytes(fuzz_tr_t *t, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c >= 0x7f || c == '\\')
            tr_printf(t, "\\x%02x", c);
        else
            tr_printf(t, "%c", c);
    }
}

static inline void tr_free(fuzz_tr_t *t)
{
    free(t->buf);
    t->buf = NULL;
    t->len = t->cap = 0;
}

/* Aborts, showing both transcripts, when they differ. */
static inline void tr_expect_same(const fuzz_tr_t *a, const fuzz_tr_t *b,
                                  const char *what)
{
    if (a->len == b->len &&
        (a->len == 0 || memcmp(a->buf, b->buf, a->len) == 0))
        return;
    fprintf(stderr, "fuzz: %s differ\n--- one-shot\n%.*s\n--- split\n%.*s\n",
            what, (int)a->len, a->len ? a->buf : "", (int)b->len,
            b->len ? b->buf : "");
    abort();
}

/* Chunk sizes from control bytes, cycled: small sizes (1..16) for most
 * bytes so splits land inside tokens, larger ones (up to ~2 KiB) too. With
 * no control bytes the whole input is one chunk. */
typedef struct fuzz_split {
    const uint8_t *ctl;
    size_t n, i;
} fuzz_split_t;

static inline size_t split_next(fuzz_split_t *s, size_t left)
{
    if (s->n == 0)
        return left;
    uint8_t c = s->ctl[s->i++ % s->n];
    size_t k = c < 0xc0 ? (size_t)(c % 16) + 1 : (size_t)(c - 0xc0) * 32 + 1;
    return k < left ? k : left;
}

/* Copies n bytes into an exactly sized heap block, so ASan flags any read
 * past the slice (libFuzzer's own buffer is larger than each slice). */
static inline char *dup_exact(const uint8_t *p, size_t n)
{
    char *d = malloc(n ? n : 1);
    if (d == NULL)
        abort();
    if (n)
        memcpy(d, p, n);
    return d;
}

static inline uint64_t get_le64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

#endif
