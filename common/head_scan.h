/* head_scan.h - the one-shot head scanner. When a request or response head
 * is whole in one buffer (nearly always), one pass over it, 64 bytes at a
 * time with AVX2 or SSE2, marks its line ends and the bytes that cannot be
 * in a field name, checks every byte against the field-value class and
 * finds the empty line; the parsers (http_req.c, http_resp.c) then walk
 * the lines from those bitmaps and hand each captured field to the same
 * code their incremental states use. Anything it is not sure of makes it
 * decline, and the incremental parser takes the head from its first byte. */
#ifndef NM_HEAD_SCAN_H
#define NM_HEAD_SCAN_H

#include "http_common.h"

/* Longer heads (rare: big cookies) go to the incremental parser; this
 * bounds the bitmaps below, which live on the caller's stack (2 KiB). */
#define NM_HEAD_SCAN_MAX 8192

/* A scanned head: bit k of lf[w] is set when byte 64 w + k is LF, of nc[w]
 * when it is not [A-Za-z0-9-] (a field name made of those ends at its
 * first nc bit, which must be its colon). Valid up to and including end. */
typedef struct nm_head_scan {
    size_t end; /* offset of the LF of the empty line */
    uint64_t lf[NM_HEAD_SCAN_MAX / 64];
    uint64_t nc[NM_HEAD_SCAN_MAX / 64];
} nm_head_scan_t;

/* Scans s[0, len) for a head: true when an empty line ends one within the
 * first NM_HEAD_SCAN_MAX bytes and every byte before it is one a field
 * value may hold (HTAB, SP, VCHAR, obs-text) or a CR right before an LF.
 * What each line holds is left to nm_head_field. False: not whole here,
 * too long, or a byte the incremental parser must judge; always false on
 * a machine without SSE2 or AVX2 (the portable set, for tests, is slower
 * than the states). */
bool nm_head_scan(nm_head_scan_t *hs, const unsigned char *s, size_t len);

/* The first set bit at or after from; the caller knows there is one. */
static inline size_t nm_head_next(const uint64_t *bits, size_t from)
{
    size_t w = from >> 6;
    uint64_t m = bits[w] & (~(uint64_t)0 << (from & 63));
    while (m == 0)
        m = bits[++w];
    return (w << 6) + (size_t)__builtin_ctzll(m);
}

/* A walk over the lines of a scanned head, start line first: the LF bits
 * of one word at a time, so each line costs a few bit operations. */
typedef struct nm_head_walk {
    size_t w;     /* word of lf[] with the next LF */
    uint64_t m;   /* its LF bits not taken yet */
    size_t start; /* first byte of the next line */
} nm_head_walk_t;

static inline void nm_head_walk_begin(nm_head_walk_t *hw,
                                      const nm_head_scan_t *hs)
{
    hw->w = 0;
    hw->m = hs->lf[0];
    hw->start = 0;
}

/* The next line: [*start, *end) its content (end: its CR, or its LF when
 * is_lf_ok allows a bare one), *lf its LF. Returns false for a bare LF
 * that is not allowed, or one after a byte outside the value class
 * (nm_head_scan lets those through). Not to be called past hs->end. */
static inline bool nm_head_walk_line(nm_head_walk_t *hw,
                                     const nm_head_scan_t *hs,
                                     const unsigned char *s, bool is_lf_ok,
                                     size_t *start, size_t *end, size_t *lf)
{
    while (hw->m == 0)
        hw->m = hs->lf[++hw->w];
    size_t q = (hw->w << 6) + (size_t)__builtin_ctzll(hw->m);
    hw->m &= hw->m - 1;
    *start = hw->start;
    *lf = q;
    hw->start = q + 1;
    if (q > *start && s[q - 1] == '\r') {
        *end = q - 1;
        return true;
    }
    *end = q;
    return is_lf_ok && (q == *start || (nm_http_cc[s[q - 1]] & NM_CC_VALUE));
}

/* A field line: name [start, colon), value up to end (its CR, or LF). */
typedef struct nm_head_field {
    size_t start, colon, end;
} nm_head_field_t;

/* The next line as a field line. Returns 1 with *f filled, 0 at the
 * empty line (the head's end), -1 to decline: a bare LF where not
 * allowed, no colon, a name that is not a token (RFC 9110 §5.1) or
 * whitespace before the colon (RFC 9112 §5.1), obs-fold (§5.2). */
static inline int nm_head_field(nm_head_walk_t *hw, const nm_head_scan_t *hs,
                                const unsigned char *s, bool is_lf_ok,
                                nm_head_field_t *f)
{
    while (hw->m == 0)
        hw->m = hs->lf[++hw->w];
    size_t start = hw->start;
    size_t lf = (hw->w << 6) + (unsigned)__builtin_ctzll(hw->m);
    hw->m &= hw->m - 1;
    hw->start = lf + 1;
    if (lf == hs->end) /* the scan found "" or one byte before it */
        return (lf == start ? is_lf_ok : s[start] == '\r') ? 0 : -1;
    /* Every line before the empty one has a byte before its LF. */
    size_t end = lf - 1;
    if (__builtin_expect(s[end] != '\r', 0)) {
        if (!is_lf_ok || !(nm_http_cc[s[end]] & NM_CC_VALUE))
            return -1;
        end = lf;
    }
    /* The name's end: the first byte outside [A-Za-z0-9-], usually in the
     * same word. */
    uint64_t m = hs->nc[start >> 6] >> (start & 63);
    size_t c = m != 0 ? start + (unsigned)__builtin_ctzll(m)
                      : nm_head_next(hs->nc, (start | 63) + 1);
    if (c == start || s[c] != ':') {
        /* A token with other tchars ('_', '.', ...), or no field line. */
        c = start;
        while (nm_http_cc[s[c]] & NM_CC_TCHAR)
            c++;
        if (c == start || s[c] != ':')
            return -1;
    }
    f->start = start;
    f->colon = c;
    f->end = end;
    return 1;
}

/* Where a field line's value starts: after the colon and its OWS. */
static inline size_t nm_head_value(const unsigned char *s,
                                   const nm_head_field_t *f)
{
    size_t v = f->colon + 1; /* s[f->end] is CR or LF: no test of v < end */
    while (s[v] == ' ' || s[v] == '\t')
        v++;
    return v;
}

/* For tests: the 64-byte block classifier of one instruction set (0
 * portable, 1 SSE2, 2 AVX2), as nm_head_scan uses it: lf, nc as above,
 * bad: a control byte other than HTAB and LF, or DEL. Fills nblocks words
 * of each from p[0, 64 nblocks); returns false, filling nothing, when this
 * build or CPU lacks that set. */
bool nm_head_classify(int isa, const unsigned char *p, size_t nblocks,
                      uint64_t *lf, uint64_t *nc, uint64_t *bad);

/* For tests: nm_head_scan with a given classifier (as nm_head_classify). */
bool nm_head_scan_isa(nm_head_scan_t *hs, const unsigned char *s, size_t len,
                      int isa);

#endif
