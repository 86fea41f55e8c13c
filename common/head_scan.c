/* head_scan.c - the block pass of the one-shot head scanner: three
 * bitmaps per 64 bytes (line feeds, bytes outside [A-Za-z0-9-], bytes no
 * head may hold), then the empty line and the misplaced bytes found with a
 * few word operations per block. AVX2 does 32 bytes in about 15
 * instructions (two nibble lookups give every byte's class), SSE2 (every
 * x86-64) 16 in about 22, other machines a portable byte loop; one copy of
 * the scan loop per set, each with its block function inlined. The set
 * is the one the CPU has, as glibc's loader found it at start-up, picked
 * at the first head. */
#include "head_scan.h"

#include <stdatomic.h>
#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__)
#define NM_HEAD_X86 1
#include <immintrin.h>
#include "cpu.h"
#endif

/* One 64-byte block: bit k of *lf set when p[k] is LF, of *nc when p[k]
 * is not [A-Za-z0-9-], of *bad when p[k] is a control byte other than
 * HTAB and LF, or DEL. */
typedef void block_fn(const unsigned char *p, uint64_t *lf, uint64_t *nc,
                      uint64_t *bad);

#define IS_COMMON(c)                                                           \
    (((c) >= 'a' && (c) <= 'z') || ((c) >= 'A' && (c) <= 'Z') ||               \
     ((c) >= '0' && (c) <= '9') || (c) == '-')
#define IS_BAD(c) (((c) < 0x20 && (c) != '\t' && (c) != '\n') || (c) == 0x7f)
#define K(c) (((c) == '\n') | !IS_COMMON(c) << 1 | IS_BAD(c) << 2)
#define K4(c) K(c), K(c + 1), K(c + 2), K(c + 3)
#define K16(c) K4(c), K4(c + 4), K4(c + 8), K4(c + 12)
#define K64(c) K16(c), K16(c + 16), K16(c + 32), K16(c + 48)
static const uint8_t byte_kind[256] = {K64(0), K64(64), K64(128), K64(192)};

static inline void block_scalar(const unsigned char *p, uint64_t *lf,
                                uint64_t *nc, uint64_t *bad)
{
    uint64_t l = 0, n = 0, x = 0;
    for (unsigned k = 0; k < 64; k++) {
        unsigned t = byte_kind[p[k]];
        l |= (uint64_t)(t & 1) << k;
        n |= (uint64_t)(t >> 1 & 1) << k;
        x |= (uint64_t)(t >> 2 & 1) << k;
    }
    *lf = l;
    *nc = n;
    *bad = x;
}

#ifdef NM_HEAD_X86
/* 16 bytes: LF, [A-Za-z0-9-] (the caller inverts it), bad. */
static inline void sse2_16(const unsigned char *p, uint64_t *l, uint64_t *n,
                           uint64_t *x, unsigned shift)
{
    const __m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
    const __m128i is_lf = _mm_cmpeq_epi8(v, _mm_set1_epi8('\n'));
    /* Unsigned v <= 0x1f, without HTAB and LF; or DEL. */
    __m128i ctl = _mm_cmpeq_epi8(_mm_min_epu8(v, _mm_set1_epi8(0x1f)), v);
    ctl = _mm_andnot_si128(
        _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('\t')), is_lf), ctl);
    ctl = _mm_or_si128(ctl, _mm_cmpeq_epi8(v, _mm_set1_epi8(0x7f)));
    /* Letters: (v | 0x20) - 'a' <= 25 unsigned; digits likewise. */
    const __m128i t =
        _mm_sub_epi8(_mm_or_si128(v, _mm_set1_epi8(0x20)), _mm_set1_epi8('a'));
    const __m128i d = _mm_sub_epi8(v, _mm_set1_epi8('0'));
    const __m128i common = _mm_or_si128(
        _mm_or_si128(_mm_cmpeq_epi8(_mm_min_epu8(t, _mm_set1_epi8(25)), t),
                     _mm_cmpeq_epi8(_mm_min_epu8(d, _mm_set1_epi8(9)), d)),
        _mm_cmpeq_epi8(v, _mm_set1_epi8('-')));
    *l |= (uint64_t)(unsigned)_mm_movemask_epi8(is_lf) << shift;
    *n |= (uint64_t)(unsigned)_mm_movemask_epi8(common) << shift;
    *x |= (uint64_t)(unsigned)_mm_movemask_epi8(ctl) << shift;
}

static inline void block_sse2(const unsigned char *p, uint64_t *lf,
                              uint64_t *nc, uint64_t *bad)
{
    uint64_t l = 0, n = 0, x = 0;
    sse2_16(p, &l, &n, &x, 0);
    sse2_16(p + 16, &l, &n, &x, 16);
    sse2_16(p + 32, &l, &n, &x, 32);
    sse2_16(p + 48, &l, &n, &x, 48);
    *lf = l;
    *nc = ~n;
    *bad = x;
}

/* AVX2: the class of a byte is LO[low nibble] & HI[high nibble] (vpshufb
 * looks both up for 32 bytes at once). Bits 0-3 say [A-Za-z0-9-] by rows
 * of 16 (0x2D; 0x30-39; 0x41-4F, 0x61-6F; 0x50-5A, 0x70-7A), bit 4 the
 * controls of 0x00-0x1F but HTAB and LF, bit 5 those of 0x10-0x1F, bit 6
 * DEL. obs-text (high nibble 8-F) has no class. */
#define LO_NIBBLES                                                             \
    0x3a, 0x3e, 0x3e, 0x3e, 0x3e, 0x3e, 0x3e, 0x3e, 0x3e, 0x2e, 0x2c, 0x34,    \
        0x34, 0x35, 0x34, 0x74
#define HI_NIBBLES                                                             \
    0x10, 0x20, 0x01, 0x02, 0x04, 0x08, 0x04, 0x48, 0, 0, 0, 0, 0, 0, 0, 0

/* 32 bytes: LF, not [A-Za-z0-9-], not bad (the caller inverts it). */
__attribute__((target("avx2"))) static inline void
avx2_32(const unsigned char *p, uint64_t *l, uint64_t *n, uint64_t *x,
        unsigned shift)
{
    const __m256i lo_tab = _mm256_setr_epi8(LO_NIBBLES, LO_NIBBLES);
    const __m256i hi_tab = _mm256_setr_epi8(HI_NIBBLES, HI_NIBBLES);
    const __m256i v_0f = _mm256_set1_epi8(0x0f);
    const __m256i zero = _mm256_setzero_si256();
    const __m256i v = _mm256_loadu_si256((const __m256i *)(const void *)p);
    const __m256i lo = _mm256_and_si256(v, v_0f);
    const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), v_0f);
    const __m256i cls = _mm256_and_si256(_mm256_shuffle_epi8(lo_tab, lo),
                                         _mm256_shuffle_epi8(hi_tab, hi));
    const __m256i is_nc = _mm256_cmpeq_epi8(_mm256_and_si256(cls, v_0f), zero);
    const __m256i is_ok =
        _mm256_cmpeq_epi8(_mm256_and_si256(cls, _mm256_set1_epi8(0x70)), zero);
    const __m256i is_lf = _mm256_cmpeq_epi8(v, _mm256_set1_epi8('\n'));
    *l |= (uint64_t)(uint32_t)_mm256_movemask_epi8(is_lf) << shift;
    *n |= (uint64_t)(uint32_t)_mm256_movemask_epi8(is_nc) << shift;
    *x |= (uint64_t)(uint32_t)_mm256_movemask_epi8(is_ok) << shift;
}

__attribute__((target("avx2"))) static inline void
block_avx2(const unsigned char *p, uint64_t *lf, uint64_t *nc, uint64_t *bad)
{
    uint64_t l = 0, n = 0, x = 0;
    avx2_32(p, &l, &n, &x, 0);
    avx2_32(p + 32, &l, &n, &x, 32);
    *lf = l;
    *nc = n;
    *bad = ~x;
}
#endif

/* The scan, one block at a time, with the block function of one set
 * (inlined into each set's copy below). */
static inline __attribute__((always_inline)) bool
scan_with(nm_head_scan_t *hs, const unsigned char *s, size_t len,
          block_fn *block)
{
    size_t lim = len < NM_HEAD_SCAN_MAX ? len : NM_HEAD_SCAN_MAX;
    uint64_t prev_lf = 0, prev_bad = 0;
    for (size_t w = 0, base = 0; base < lim; w++, base += 64) {
        uint64_t lf, nc, bad;
        if (lim - base >= 64) {
            block(s + base, &lf, &nc, &bad);
        } else {
            /* The last, partial block (lim == len >= 64 here: heads are
             * padded to 64 bytes, NM_HEAD_SCAN_MAX is whole blocks): the
             * 64 bytes ending at len, shifted so that bit k is byte base
             * + k again. */
            size_t d = 64 - (len - base);
            block(s + len - 64, &lf, &nc, &bad);
            lf >>= d;
            nc >>= d;
            bad >>= d;
        }
        hs->lf[w] = lf;
        hs->nc[w] = nc;
        uint64_t lf1 = lf << 1 | prev_lf >> 63;
        uint64_t lf2 = lf << 2 | prev_lf >> 62;
        uint64_t bad1 = bad << 1 | prev_bad >> 63;
        /* The empty line: an LF after an LF, or after one byte that
         * follows an LF and is no value byte (CR, if nm_head_field
         * agrees). A bad byte must be right before an LF. */
        uint64_t empty = lf & (lf1 | (bad1 & lf2));
        uint64_t stray = bad1 & ~lf;
        if (empty != 0) {
            unsigned q = (unsigned)__builtin_ctzll(empty);
            uint64_t upto = q == 63 ? ~(uint64_t)0 : ((uint64_t)2 << q) - 1;
            hs->end = base + q;
            return (stray & upto) == 0;
        }
        if (stray != 0)
            return false;
        prev_lf = lf;
        prev_bad = bad;
    }
    return false;
}

static bool scan_scalar(nm_head_scan_t *hs, const unsigned char *s, size_t len)
{
    return scan_with(hs, s, len, block_scalar);
}

#ifdef NM_HEAD_X86
static bool scan_sse2(nm_head_scan_t *hs, const unsigned char *s, size_t len)
{
    return scan_with(hs, s, len, block_sse2);
}

__attribute__((target("avx2"))) static bool
scan_avx2(nm_head_scan_t *hs, const unsigned char *s, size_t len)
{
    return scan_with(hs, s, len, block_avx2);
}
#endif

typedef bool scan_fn(nm_head_scan_t *hs, const unsigned char *s, size_t len);

#if !defined(NM_HEAD_X86) && !defined(NM_HEAD_SCAN_ISA)
static bool scan_none(nm_head_scan_t *hs, const unsigned char *s, size_t len)
{
    (void)hs;
    (void)s;
    (void)len;
    return false;
}
#endif

/* The scan for this CPU, picked at the first head and kept: the one
 * mutable static of common/, written with the same value by whichever
 * thread gets there first (asking glibc costs about 20 instructions a
 * head, a load costs one). */
static _Atomic(scan_fn *) picked;

/* A buffer shorter than a block is scanned as a copy padded with NULs:
 * no LF among them, and bad bytes after the real ones (so no head ends
 * there). */
static bool scan_padded(scan_fn *fn, nm_head_scan_t *hs, const unsigned char *s,
                        size_t len)
{
    unsigned char pad[64];
    memcpy(pad, s, len);
    memset(pad + len, 0, sizeof(pad) - len);
    return fn(hs, pad, sizeof(pad)) && hs->end < len;
}

bool nm_head_scan(nm_head_scan_t *hs, const unsigned char *s, size_t len)
{
    scan_fn *fn = atomic_load_explicit(&picked, memory_order_relaxed);
    if (fn == NULL) {
#if defined(NM_HEAD_SCAN_ISA) /* a build that measures another set */
        fn = NM_HEAD_SCAN_ISA == 0 ? scan_scalar : NULL;
#ifdef NM_HEAD_X86
        fn = NM_HEAD_SCAN_ISA == 1 ? scan_sse2 : fn;
        fn = NM_HEAD_SCAN_ISA == 2 && NM_CPU_HAS_AVX2() ? scan_avx2 : fn;
#endif
        if (fn == NULL)
            fn = scan_scalar;
#elif defined(NM_HEAD_X86)
        fn = NM_CPU_HAS_AVX2() ? scan_avx2 : scan_sse2;
#else
        /* Byte by byte, three bitmaps cost more than the incremental
         * states' own pass (head_bench with the portable set: about 3 x
         * the instructions): without a vector set, decline every head. */
        fn = scan_none;
#endif
        atomic_store_explicit(&picked, fn, memory_order_relaxed);
    }
    return len >= 64 ? fn(hs, s, len) : scan_padded(fn, hs, s, len);
}

bool nm_head_scan_isa(nm_head_scan_t *hs, const unsigned char *s, size_t len,
                      int isa)
{
    scan_fn *fn = NULL;
    switch (isa) {
    case 0:
        fn = scan_scalar;
        break;
#ifdef NM_HEAD_X86
    case 1:
        fn = scan_sse2;
        break;
    case 2:
        fn = NM_CPU_HAS_AVX2() ? scan_avx2 : NULL;
        break;
#endif
    default:
        break;
    }
    if (fn == NULL)
        return false;
    return len >= 64 ? fn(hs, s, len) : scan_padded(fn, hs, s, len);
}

bool nm_head_classify(int isa, const unsigned char *p, size_t nblocks,
                      uint64_t *lf, uint64_t *nc, uint64_t *bad)
{
    block_fn *block = NULL;
    if (isa == 0)
        block = block_scalar;
#ifdef NM_HEAD_X86
    if (isa == 1)
        block = block_sse2;
    if (isa == 2 && NM_CPU_HAS_AVX2())
        block = block_avx2;
#endif
    if (block == NULL)
        return false;
    for (size_t b = 0; b < nblocks; b++)
        block(p + 64 * b, &lf[b], &nc[b], &bad[b]);
    return true;
}
