/* scan.h - finds the first byte outside a byte class, 16 at a time with
 * SSE2 (x86-64's baseline), then byte by byte. Field values and
 * entity-tags are most of the bytes the shim checks per request: the
 * block scans took the lexer from about 4,500 to 2,500 instructions per
 * nginx request/response pair and a 304 decision from about 940 to 450
 * (callgrind, tools/bench/RESULTS.md). A block may run past the span being
 * checked (a value into its CR): it stops at the first byte outside. */
#ifndef NM_SCAN_H
#define NM_SCAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

enum nm_scan_class {
    NM_SCAN_VALUE, /* field value: HTAB, SP, VCHAR, obs-text (RFC 9110 §5.5) */
    NM_SCAN_ETAGC, /* etagc: %x21 / %x23-7E / obs-text (RFC 9110 §8.8.3) */
    NM_SCAN_TARGET, /* request-target: VCHAR / obs-text (RFC 9112 §3.2) */
};

/* Bit 1 << class set: the byte is in that class (scan.c). */
extern const uint8_t nm_scan_classes[256];

#if defined(__SSE2__)
/* The bytes of x outside class k, one bit each. */
static inline unsigned nm_scan_block(__m128i x, enum nm_scan_class k)
{
    const __m128i zero = _mm_setzero_si128();
    /* Below this (and not obs-text) is outside: CTLs, and SP for etagc
     * and targets. */
    const __m128i low = _mm_set1_epi8(k == NM_SCAN_VALUE ? 0x20 : 0x21);
    /* One more byte outside: DQUOTE for etagc; HTAB is inside values. */
    const __m128i odd = _mm_set1_epi8(k == NM_SCAN_VALUE ? 0x09 : 0x22);
    const __m128i del = _mm_set1_epi8(0x7f);
    /* Signed compares: obs-text (0x80-0xff) is negative, and inside. */
    __m128i below =
        _mm_andnot_si128(_mm_cmplt_epi8(x, zero), _mm_cmplt_epi8(x, low));
    __m128i is_odd = _mm_cmpeq_epi8(x, odd);
    __m128i out = k == NM_SCAN_VALUE   ? _mm_andnot_si128(is_odd, below)
                  : k == NM_SCAN_ETAGC ? _mm_or_si128(below, is_odd)
                                       : below;
    out = _mm_or_si128(out, _mm_cmpeq_epi8(x, del));
    return (unsigned)_mm_movemask_epi8(out);
}
#endif

/* Index of the first byte of s[i, lim) outside class k, or lim. */
static inline size_t nm_scan(const unsigned char *s, size_t i, size_t lim,
                             enum nm_scan_class k)
{
#if defined(__SSE2__)
    size_t start = i;
    while (lim - i >= 16) {
        unsigned m = nm_scan_block(
            _mm_loadu_si128((const __m128i *)(const void *)(s + i)), k);
        if (m != 0)
            return i + (size_t)__builtin_ctz(m);
        i += 16;
    }
    /* The tail as the last 16 bytes of the span, those before i (inside
     * already) masked off: one block instead of up to 15 table steps. */
    if (i < lim && lim - start >= 16) {
        size_t b = lim - 16; /* b < i: lim - i < 16 */
        unsigned m =
            nm_scan_block(
                _mm_loadu_si128((const __m128i *)(const void *)(s + b)), k) &
            (~0u << (i - b));
        return m != 0 ? b + (size_t)__builtin_ctz(m) : lim;
    }
#endif
    while (i < lim && (nm_scan_classes[s[i]] & (1u << k)))
        i++;
    return i;
}

#endif
