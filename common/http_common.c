/* http_common.c - the pieces both HTTP/1.x parsers need: one field-line
 * lexer, one chunked decoder, one set of value rules. Keeping them here
 * means the request and response sides cannot disagree on what a field
 * line or a chunk is, which is the whole point of refusing ambiguity. */
#include "http_common.h"

#include <string.h>

/* Generated: bit 1 tchar, 2 field value byte, 4 target byte, 8 hex digit,
 * 16 SP/HTAB. NUL, CTLs other than HTAB, and DEL are in no class. */
const uint8_t nm_http_cc[256] = {
    0,  0,  0,  0,  0,  0,  0,  0,  0,  18, 0, 0, 0, 0, 0, 0, /* 00 */
    0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0, 0, 0, 0, 0, 0, /* 10 */
    18, 7,  6,  7,  7,  7,  7,  7,  6,  6,  7, 7, 6, 7, 7, 6, /* 20 */
    15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 6, 6, 6, 6, 6, 6, /* 30 */
    6,  15, 15, 15, 15, 15, 15, 7,  7,  7,  7, 7, 7, 7, 7, 7, /* 40 */
    7,  7,  7,  7,  7,  7,  7,  7,  7,  7,  7, 6, 6, 6, 7, 7, /* 50 */
    7,  15, 15, 15, 15, 15, 15, 7,  7,  7,  7, 7, 7, 7, 7, 7, /* 60 */
    7,  7,  7,  7,  7,  7,  7,  7,  7,  7,  7, 6, 7, 6, 7, 0, /* 70 */
    6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6, 6, 6, 6, 6, 6, /* 80 */
    6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6, 6, 6, 6, 6, 6, /* 90 */
    6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6, 6, 6, 6, 6, 6, /* a0 */
    6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6, 6, 6, 6, 6, 6, /* b0 */
    6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6, 6, 6, 6, 6, 6, /* c0 */
    6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6, 6, 6, 6, 6, 6, /* d0 */
    6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6, 6, 6, 6, 6, 6, /* e0 */
    6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6, 6, 6, 6, 6, 6, /* f0 */
};

/* Lower-case, sorted; index = enum nm_fld. */
const char *const nm_fld_names[NM_FLD_COUNT] = {
    "",
    "connection",
    "content-encoding",
    "content-length",
    "content-range",
    "content-type",
    "date",
    "etag",
    "expect",
    "host",
    "if-match",
    "if-modified-since",
    "if-none-match",
    "if-range",
    "if-unmodified-since",
    "last-modified",
    "range",
    "transfer-encoding",
    "upgrade",
};

/* fld_lcp[j]: length of the prefix nm_fld_names[j] shares with
 * nm_fld_names[j+1] (generated from the table above; the parser tests exercise
 * every name). */
static const uint8_t fld_lcp[NM_FLD_COUNT] = {0, 3, 8, 8, 8, 0, 0, 1, 0, 0,
                                              4, 3, 3, 3, 0, 0, 0, 0, 0};

/* fld_first[c - 'a']: the first entry starting with letter c, else 0. Most
 * names of a head (Server, Accept, Cache-Control...) end their matching
 * here, at their first byte, instead of walking the table. */
static const uint8_t fld_first[26] = {
    ['c' - 'a'] = NM_FLD_CONNECTION, ['d' - 'a'] = NM_FLD_DATE,
    ['e' - 'a'] = NM_FLD_ETAG,       ['h' - 'a'] = NM_FLD_HOST,
    ['i' - 'a'] = NM_FLD_IF_MATCH,   ['l' - 'a'] = NM_FLD_LAST_MODIFIED,
    ['r' - 'a'] = NM_FLD_RANGE,      ['t' - 'a'] = NM_FLD_TRANSFER_ENCODING,
    ['u' - 'a'] = NM_FLD_UPGRADE,
};

/* nm_fld_lookup's table: a name's slot is (4 n + first + 2 last) mod 32
 * over its lower-cased first and last bytes; no two names share one
 * (found by search; test_head_scan.c looks every name up). */
const uint8_t nm_fld_slot[32] = {
    [0] = NM_FLD_HOST,
    [1] = NM_FLD_CONTENT_RANGE,
    [3] = NM_FLD_ETAG,
    [5] = NM_FLD_EXPECT,
    [6] = NM_FLD_TRANSFER_ENCODING,
    [7] = NM_FLD_CONNECTION,
    [8] = NM_FLD_LAST_MODIFIED,
    [11] = NM_FLD_CONTENT_LENGTH,
    [13] = NM_FLD_IF_NONE_MATCH,
    [16] = NM_FLD_RANGE,
    [17] = NM_FLD_CONTENT_ENCODING,
    [19] = NM_FLD_IF_RANGE,
    [23] = NM_FLD_IF_MODIFIED_SINCE,
    [25] = NM_FLD_IF_MATCH,
    [27] = NM_FLD_UPGRADE,
    [29] = NM_FLD_CONTENT_TYPE,
    [30] = NM_FLD_DATE,
    [31] = NM_FLD_IF_UNMODIFIED_SINCE,
};
const uint8_t nm_fld_len[NM_FLD_COUNT] = {0, 10, 16, 14, 13, 12, 4, 4,  6, 4,
                                          8, 17, 13, 8,  19, 13, 5, 17, 7};

enum { LX_LINE_START, LX_NAME, LX_OWS, LX_VALUE, LX_CR, LX_END_LF, LX_DONE };

void nm_lex_begin(nm_lex_t *lx)
{
    memset(lx, 0, sizeof(*lx));
    lx->state = LX_LINE_START;
}

/* The entry matching the name so far after its byte pos is c, given f,
 * the first (smallest) entry whose prefix equals the name before it. On a
 * mismatch the next candidate, if any, is among f's neighbours sharing that
 * prefix. No allocation, and a name that matches nothing costs nothing
 * more once it has failed. */
static inline unsigned name_next(unsigned f, unsigned pos, unsigned char c)
{
    unsigned char lc = nm_http_lower(c);
    if ((unsigned char)nm_fld_names[f][pos] == lc)
        return f;
    /* Neighbours share the name so far while their common prefix with the
     * previous entry is at least pos long. */
    for (unsigned j = f + 1; j < NM_FLD_COUNT && fld_lcp[j - 1] >= pos; j++)
        if ((unsigned char)nm_fld_names[j][pos] == lc)
            return j;
    return NM_FLD_NONE;
}

/* Notes where field line number count (1-based) starts, when asked to. */
static inline void record_line(nm_lex_t *lx, uint32_t count, size_t off)
{
    if (lx->line_start != NULL && count <= lx->line_max)
        lx->line_start[count - 1] = (uint32_t)off;
}

void nm_lex_end(nm_lex_t *lx, uint32_t head_len, uint32_t field_count)
{
    lx->state = LX_DONE;
    lx->head_len = head_len;
    lx->field_count = field_count;
}

/* Takes whole CRLF-terminated field lines from s[*at, lim) while they are
 * valid: quiet ones are skipped, the first captured one is returned (its
 * field in *field, its value in *val). Anything else (a split, an error,
 * a bare LF, the empty line) stops it before that line, and the byte
 * states of nm_lex_feed take the line from its start: so whatever it
 * accepts they would accept identically, and the errors stay theirs.
 * It saves the per-state dispatch on most lines of a head: parser_bench
 * 232 -> 212 ns per request, callgrind -160 instructions per exchange. */
static bool fast_lines(nm_lex_t *lx, const unsigned char *s, size_t *at,
                       size_t lim, uint32_t fields_max, nm_slice_t *val)
{
    size_t i = *at;
    uint32_t count = lx->field_count;
    bool is_captured = false;
    unsigned f = NM_FLD_NONE, pos = 0;
    while (lim - i >= 4 && count < fields_max &&
           (nm_http_cc[s[i]] & NM_CC_TCHAR)) {
        unsigned char lc = (unsigned char)(nm_http_lower(s[i]) - 'a');
        size_t j = i + 1;
        f = lc < 26 ? fld_first[lc] : NM_FLD_NONE;
        pos = 1;
        while (f != NM_FLD_NONE && j < lim && (nm_http_cc[s[j]] & NM_CC_TCHAR))
            f = name_next(f, pos++, s[j++]);
        while (j < lim && (nm_http_cc[s[j]] & NM_CC_TCHAR))
            j++;
        if (j == lim || s[j] != ':')
            break;
        if (f != NM_FLD_NONE && nm_fld_names[f][pos] != '\0')
            f = NM_FLD_NONE;
        j++;
        while (j < lim && (nm_http_cc[s[j]] & NM_CC_WS))
            j++;
        size_t start = j;
        j = nm_scan_value(s, j, lim);
        if (lim - j < 2 || s[j] != '\r' || s[j + 1] != '\n')
            break;
        count++;
        record_line(lx, count, lx->head_len + i);
        i = j + 2;
        if (f != NM_FLD_NONE) {
            val->ptr = (const char *)s + start;
            val->len = j - start;
            is_captured = true;
            break;
        }
    }
    if (i != *at) { /* as the byte states leave them after these lines */
        lx->field_count = count;
        lx->field = (uint8_t)f;
        lx->name_pos = (uint8_t)pos;
        lx->vbits = 0;
    }
    *at = i;
    return is_captured;
}

int nm_lex_feed(nm_lex_t *lx, const char *buf, size_t len, size_t *used,
                nm_slice_t *val, uint32_t head_max, uint32_t fields_max)
{
    const unsigned char *s = (const unsigned char *)buf;
    size_t room = head_max - lx->head_len;
    size_t lim = len < room ? len : room;
    size_t i = 0, start;
    bool is_quiet;
    int rc;
    unsigned char c;

    val->ptr = NULL;
    val->len = 0;
    for (;;) {
        switch (lx->state) {
        case LX_LINE_START:
            if (fast_lines(lx, s, &i, lim, fields_max, val)) {
                rc = NM_LEX_LINE_END;
                goto out;
            }
            if (i == lim)
                goto need;
            c = s[i];
            if (c == '\r') {
                i++;
                lx->state = LX_END_LF;
                break;
            }
            if (nm_http_cc[c] & NM_CC_TCHAR) {
                if (++lx->field_count > fields_max) {
                    rc = NM_E_TOO_LONG;
                    goto out;
                }
                record_line(lx, lx->field_count, lx->head_len + i);
                unsigned char lc = (unsigned char)(nm_http_lower(c) - 'a');
                lx->field = lc < 26 ? fld_first[lc] : NM_FLD_NONE;
                lx->name_pos = 1;
                lx->vbits = 0;
                lx->state = LX_NAME;
                i++;
                break;
            }
            if (c == '\n' && lx->is_lf_ok) { /* LF-only empty line */
                i++;
                lx->state = LX_DONE;
                rc = NM_LEX_HEAD_END;
                goto out;
            }
            /* RFC 9112 §5.2 obs-fold, and bare LF (§2.2): both are read
             * differently by different servers. */
            rc = (c == ' ' || c == '\t' || c == '\n') ? NM_E_AMBIGUOUS
                                                      : NM_E_PARSE;
            goto out;
        case LX_NAME: {
            /* Locals: stores through lx could alias s and force reloads. */
            unsigned f = lx->field, pos = lx->name_pos;
            while (f != NM_FLD_NONE && i < lim &&
                   (nm_http_cc[s[i]] & NM_CC_TCHAR))
                f = name_next(f, pos++, s[i++]);
            lx->field = (uint8_t)f;
            lx->name_pos = (uint8_t)pos; /* ≤ the longest name + 1 */
            while (i < lim && (nm_http_cc[s[i]] & NM_CC_TCHAR))
                i++;
            if (i == lim)
                goto need;
            c = s[i];
            if (c == ':') {
                i++;
                if (lx->field != NM_FLD_NONE &&
                    nm_fld_names[lx->field][lx->name_pos] != '\0')
                    lx->field = NM_FLD_NONE;
                lx->state = LX_OWS;
                break;
            }
            /* RFC 9112 §5.1: whitespace before the colon must be rejected. */
            rc = (nm_http_cc[c] & NM_CC_WS) ? NM_E_AMBIGUOUS : NM_E_PARSE;
            goto out;
        }
        case LX_OWS:
            while (i < lim && (nm_http_cc[s[i]] & NM_CC_WS))
                i++;
            if (i == lim)
                goto need;
            lx->state = LX_VALUE;
            /* fall through */
        case LX_VALUE:
            start = i;
            i = nm_scan_value(s, i, lim);
            val->ptr = buf + start;
            val->len = i - start;
            /* Nobody captures this field: no VALUE event, and its line
             * end continues the loop instead of a round trip through the
             * parser, which ignores both (most lines of a typical head). */
            is_quiet = lx->field == NM_FLD_NONE;
            if (is_quiet) {
                val->ptr = NULL;
                val->len = 0;
            }
            if (i < lim && s[i] == '\r') {
                if (i + 1 < lim && s[i + 1] == '\n') {
                    i += 2;
                    lx->state = LX_LINE_START;
                    if (is_quiet)
                        break;
                    rc = NM_LEX_LINE_END;
                    goto out;
                }
                if (i + 1 == lim && val->len == 0) {
                    i++;
                    lx->state = LX_CR;
                    goto need;
                }
            }
            if (i < lim && s[i] == '\n' && lx->is_lf_ok) {
                if (val->len > 0) { /* deliver the value, then the LF */
                    rc = NM_LEX_VALUE;
                    goto out;
                }
                i++;
                lx->state = LX_LINE_START;
                if (is_quiet)
                    break;
                rc = NM_LEX_LINE_END;
                goto out;
            }
            if (val->len > 0) {
                rc = NM_LEX_VALUE;
                goto out;
            }
            if (i == lim)
                goto need;
            /* A run of zero bytes ended by CR not followed by LF, by a bare
             * LF, or by a NUL / control byte. */
            rc = s[i] == '\n' ? NM_E_AMBIGUOUS : NM_E_PARSE;
            goto out;
        case LX_CR:
            if (i == lim)
                goto need;
            if (s[i] != '\n') {
                rc = NM_E_PARSE;
                goto out;
            }
            i++;
            lx->state = LX_LINE_START;
            rc = NM_LEX_LINE_END;
            goto out;
        case LX_END_LF:
            if (i == lim)
                goto need;
            if (s[i] != '\n') {
                rc = NM_E_PARSE;
                goto out;
            }
            i++;
            lx->state = LX_DONE;
            rc = NM_LEX_HEAD_END;
            goto out;
        default:
            rc = NM_E_INVAL;
            goto out;
        }
    }
need:
    /* The head would pass head_max with the next byte. */
    rc = lim < len ? NM_E_TOO_LONG : NM_LEX_NEED;
out:
    lx->head_len += (uint32_t)i;
    *used = i;
    return rc;
}

/* ---- list tokens ---- */

enum { TB_NONEMPTY = 1, TB_GAP = 2, TB_STOPPED = 4 };

void nm_tok_begin(nm_lex_t *lx, unsigned ntok)
{
    lx->tok_pos = 0;
    lx->tok_alive = (uint8_t)((1u << ntok) - 1);
    lx->tok_bits = 0;
    lx->tok_seen = lx->tok_last = lx->tok_dup = lx->tok_elems = 0;
}

static void tok_close(nm_lex_t *lx, const nm_tok_t *toks, unsigned ntok)
{
    if (lx->tok_bits & TB_NONEMPTY) {
        unsigned m = 0;
        for (unsigned k = 0; k < ntok; k++)
            if ((lx->tok_alive & (1u << k)) && toks[k].s[lx->tok_pos] == '\0')
                m |= 1u << k;
        lx->tok_dup |= (uint8_t)(m & lx->tok_seen);
        lx->tok_seen |= (uint8_t)m;
        lx->tok_last = (uint8_t)m;
        if (lx->tok_elems < 255)
            lx->tok_elems++;
    }
    lx->tok_pos = 0;
    lx->tok_alive = (uint8_t)((1u << ntok) - 1);
    lx->tok_bits = 0;
}

/* Bytes that end a run of token characters: ',', SP, HTAB, and stop. */
static inline bool is_tok_break(unsigned char c, char stop)
{
    return c == ',' || c == ' ' || c == '\t' ||
           (stop != 0 && c == (unsigned char)stop);
}

/* Matches the run of token characters at u[0, n) against the tokens
 * still alive, each as far as it goes: a token survives when the run ends
 * (a break or the end of the input) exactly where its match stops. Returns
 * the run's length when one survives, else 0 (the element matches nothing
 * and the caller just skips to its end). */
static size_t tok_run(nm_lex_t *lx, const nm_tok_t *toks, unsigned ntok,
                      char stop, const unsigned char *u, size_t n)
{
    size_t run = 0;
    for (unsigned k = 0; k < ntok; k++) {
        if (!(lx->tok_alive & (1u << k)))
            continue;
        const char *t = toks[k].s + lx->tok_pos;
        size_t m = 0;
        while (m < n && t[m] != '\0' && t[m] == (char)nm_http_lower(u[m]))
            m++;
        if (m < n && !is_tok_break(u[m], stop))
            lx->tok_alive &= (uint8_t) ~(1u << k);
        else
            run = m;
    }
    /* Only moved while some token is alive, so it stays within the longest
     * token: no overflow of the uint8_t. */
    if (lx->tok_alive)
        lx->tok_pos = (uint8_t)(lx->tok_pos + run);
    return lx->tok_alive ? run : 0;
}

/* The element u[0, n) (trimmed, not empty) is token t, ignoring case:
 * a value byte with 0x20 set equals a byte of [a-z0-9/-] only as that
 * byte or its upper case (0x0D, 0x0F, 0x10-0x19 are no value bytes). */
static inline bool tok_is(const unsigned char *u, size_t n, const nm_tok_t *tok)
{
    const char *t = tok->s;
    if (tok->len != n || (u[0] | 0x20) != (unsigned char)t[0])
        return false;
    if (n < 8) {
        for (size_t i = 1; i < n; i++)
            if ((u[i] | 0x20) != (unsigned char)t[i])
                return false;
        return true;
    }
    /* Whole words, the last one overlapping, all inside both strings. */
    const uint64_t l8 = 0x2020202020202020u;
    for (size_t i = 0; i + 8 < n; i += 8)
        if ((nm_load64(u + i) | l8) != nm_load64(t + i))
            return false;
    return (nm_load64(u + n - 8) | l8) == nm_load64(t + n - 8);
}

/* Whether u[0, n) holds a ',' or stop (when not 0): 16 bytes at a time
 * where there are 16, the last block overlapping the one before. */
static bool has_sep(const unsigned char *u, size_t n, char stop)
{
    unsigned char st = stop != 0 ? (unsigned char)stop : ',';
#if defined(__SSE2__)
    if (n >= 16) {
        const __m128i comma = _mm_set1_epi8(','), sv = _mm_set1_epi8((char)st);
        for (size_t i = 0;; i += 16) {
            if (i + 16 > n)
                i = n - 16;
            __m128i x = _mm_loadu_si128((const __m128i *)(const void *)(u + i));
            if (_mm_movemask_epi8(_mm_or_si128(_mm_cmpeq_epi8(x, comma),
                                               _mm_cmpeq_epi8(x, sv))) != 0)
                return true;
            if (i + 16 == n)
                return false;
        }
    }
#endif
    for (size_t i = 0; i < n; i++)
        if (u[i] == ',' || u[i] == st)
            return true;
    return false;
}

static inline void tok_elem(nm_lex_t *lx, unsigned m)
{
    lx->tok_dup |= (uint8_t)(m & lx->tok_seen);
    lx->tok_seen |= (uint8_t)m;
    lx->tok_last = (uint8_t)m;
    if (lx->tok_elems < 255)
        lx->tok_elems++;
}

/* A whole value (NM_VB_WHOLE): each element found with memchr, trimmed,
 * cut at stop and compared whole. The same summary as the byte loop of
 * nm_tok_feed and nm_tok_end, which then has nothing left to close: an
 * element matches a token only when, between its OWS, it is that token
 * (a gap inside it, or any other byte, spoils it). Header lines are
 * mostly single elements: "keep-alive", "text/html; charset=utf-8". */
__attribute__((noinline)) static void tok_whole(nm_lex_t *lx,
                                                const nm_tok_t *toks,
                                                unsigned ntok, char stop,
                                                const char *s, size_t n)
{
    const char *end = s + n;
    /* Most values are one token ("keep-alive", "chunked"): the whole
     * value, trimmed, equal to a token is one element matching it (no
     * token holds ',', OWS or stop). */
    const char *a = s, *w = end;
    while (a < w && (*a == ' ' || *a == '\t'))
        a++;
    while (w > a && (w[-1] == ' ' || w[-1] == '\t'))
        w--;
    for (unsigned k = 0; a < w && k < ntok; k++)
        if (tok_is((const unsigned char *)a, (size_t)(w - a), &toks[k])) {
            tok_elem(lx, 1u << k);
            return;
        }
    /* Nor is it a list ("text/html"): one element, matching nothing. */
    if (!has_sep((const unsigned char *)s, n, stop)) {
        if (a < w)
            tok_elem(lx, 0);
        return;
    }
    for (;;) {
        const char *e = memchr(s, ',', (size_t)(end - s));
        if (e == NULL)
            e = end;
        w = e;
        if (stop != 0) {
            const char *st = memchr(s, stop, (size_t)(e - s));
            if (st != NULL)
                w = st;
        }
        a = s;
        while (a < w && (*a == ' ' || *a == '\t'))
            a++;
        while (w > a && (w[-1] == ' ' || w[-1] == '\t'))
            w--;
        if (a < w) {
            unsigned m = 0;
            for (unsigned k = 0; k < ntok; k++)
                if (tok_is((const unsigned char *)a, (size_t)(w - a), &toks[k]))
                    m |= 1u << k;
            tok_elem(lx, m);
        }
        if (e == end)
            return;
        s = e + 1;
    }
}

/* The byte loop: any run of the value, in any split. */
__attribute__((noinline)) static void tok_runs(nm_lex_t *lx,
                                               const nm_tok_t *toks,
                                               unsigned ntok, char stop,
                                               const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        unsigned char c = u[i];
        if (c == ',') {
            if (!(lx->tok_bits & TB_STOPPED))
                tok_close(lx, toks, ntok);
            lx->tok_bits = 0;
            i++;
            continue;
        }
        if (lx->tok_bits & TB_STOPPED) { /* the rest of the element */
            const char *comma = memchr(s + i, ',', n - i);
            i = comma ? (size_t)(comma - s) : n;
            continue;
        }
        if (stop && c == (unsigned char)stop) {
            tok_close(lx, toks, ntok);
            lx->tok_bits = TB_STOPPED;
            i++;
            continue;
        }
        if (c == ' ' || c == '\t') {
            if (lx->tok_bits & TB_NONEMPTY)
                lx->tok_bits |= TB_GAP;
            i++;
            continue;
        }
        if (!lx->tok_alive && (lx->tok_bits & TB_NONEMPTY)) {
            /* The element matches nothing: only its end matters. */
            const char *e = memchr(s + i, ',', n - i);
            size_t j = e ? (size_t)(e - s) : n;
            if (stop != 0 && (e = memchr(s + i, stop, j - i)) != NULL)
                j = (size_t)(e - s);
            i = j;
            continue;
        }
        lx->tok_bits |= TB_NONEMPTY;
        if (lx->tok_bits & TB_GAP)
            lx->tok_alive = 0; /* "keep alive" is not "keep-alive" */
        size_t run =
            lx->tok_alive ? tok_run(lx, toks, ntok, stop, u + i, n - i) : 0;
        i += run > 0 ? run : 1; /* dead: the skip above takes the rest */
    }
}

void nm_tok_feed(nm_lex_t *lx, const nm_tok_t *toks, unsigned ntok, char stop,
                 const char *s, size_t n)
{
    if (lx->vbits & NM_VB_WHOLE)
        tok_whole(lx, toks, ntok, stop, s, n);
    else
        tok_runs(lx, toks, ntok, stop, s, n);
}

void nm_tok_end(nm_lex_t *lx, const nm_tok_t *toks, unsigned ntok)
{
    if (!(lx->tok_bits & TB_STOPPED))
        tok_close(lx, toks, ntok);
    lx->tok_bits = 0;
}

const nm_tok_t nm_tok_chunked[1] = {NM_TOK("chunked")};
const nm_tok_t nm_tok_conn[2] = {NM_TOK("close"), NM_TOK("keep-alive")};

bool nm_conn_whole(uint32_t *framing, const char *s, size_t n)
{
    if (n == 0)
        return false; /* s may be NULL then */
    const unsigned char *a = (const unsigned char *)s, *w = a + n;
    while (a < w && (*a == ' ' || *a == '\t'))
        a++;
    while (w > a && (w[-1] == ' ' || w[-1] == '\t'))
        w--;
    if (a == w)
        return false;
    if (tok_is(a, (size_t)(w - a), &nm_tok_conn[1])) {
        *framing |= NM_FR_CONN_KEEP_ALIVE;
        return true;
    }
    if (tok_is(a, (size_t)(w - a), &nm_tok_conn[0])) {
        *framing |= NM_FR_CONN_CLOSE;
        return true;
    }
    return false;
}

int nm_te_line_end(nm_lex_t *lx, uint32_t *framing)
{
    nm_tok_end(lx, nm_tok_chunked, 1);
    *framing |= NM_FR_TE;
    if (lx->tok_elems == 0)
        return NM_OK; /* empty line adds no coding */
    /* RFC 9112 §7: chunked must not be applied more than once. */
    if ((lx->tok_dup & 1) ||
        ((lx->tok_seen & 1) && (*framing & NM_FR_TE_CHUNKED)))
        return NM_E_AMBIGUOUS;
    if (lx->tok_seen & 1)
        *framing |= NM_FR_TE_CHUNKED;
    if (lx->tok_last & 1)
        *framing |= NM_FR_TE_LAST_CHUNKED;
    else
        *framing &= ~(uint32_t)NM_FR_TE_LAST_CHUNKED;
    return NM_OK;
}

/* ---- Content-Length ---- */

static int cl_elem_end(nm_lex_t *lx, uint32_t *framing, uint64_t *cl)
{
    if (!(lx->vbits & NM_VB_DIGITS))
        return NM_E_AMBIGUOUS; /* empty element or empty value */
    if (*framing & NM_FR_CL) {
        if (*cl != lx->num)
            return NM_E_AMBIGUOUS; /* RFC 9110 §8.6: differing lengths */
    } else {
        *framing |= NM_FR_CL;
        *cl = lx->num;
    }
    lx->num = 0;
    lx->vbits &= (uint8_t) ~(NM_VB_DIGITS | NM_VB_GAP);
    return NM_OK;
}

int nm_cl_feed(nm_lex_t *lx, uint32_t *framing, uint64_t *cl, const char *s,
               size_t n)
{
    /* In locals: stores through lx could alias s. num * 10 + d stays at
     * most 2^63 - 1 = 922337203685477580 * 10 + 7. */
    const uint64_t lim = (uint64_t)INT64_MAX / 10;
    uint64_t num = lx->num;
    uint8_t vb = lx->vbits;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        unsigned d = (unsigned)c - '0';
        if (d <= 9) {
            if (vb & NM_VB_GAP)
                return NM_E_AMBIGUOUS; /* "1 2" */
            if (num >= lim && (num > lim || d > INT64_MAX % 10))
                return NM_E_AMBIGUOUS; /* beyond 2^63 - 1 */
            num = num * 10 + d;
            vb |= NM_VB_DIGITS;
        } else if (c == ' ' || c == '\t') {
            if (vb & NM_VB_DIGITS)
                vb |= NM_VB_GAP;
        } else if (c == ',') {
            lx->num = num;
            lx->vbits = vb;
            int rc = cl_elem_end(lx, framing, cl);
            if (rc < 0)
                return rc;
            num = lx->num;
            vb = lx->vbits;
        } else {
            return NM_E_AMBIGUOUS; /* "+5", "0x10", "5;" ... */
        }
    }
    lx->num = num;
    lx->vbits = vb;
    return NM_OK;
}

int nm_cl_end(nm_lex_t *lx, uint32_t *framing, uint64_t *cl)
{
    return cl_elem_end(lx, framing, cl);
}

/* ---- chunked ---- */

enum {
    CK_SIZE0,   /* first hex digit of a chunk-size */
    CK_SIZE,    /* more hex digits, BWS, ';' or CR */
    CK_BWS,     /* whitespace after the size: ';' or CR must follow */
    CK_EXT,     /* chunk extensions, up to CR */
    CK_SIZE_LF, /* LF ending the chunk-size line */
    CK_DATA,
    CK_DATA_CR,
    CK_DATA_LF,
    CK_TRAILER,
    CK_DONE,
};

void nm_chunk_begin(nm_chunk_t *ck)
{
    ck->state = CK_SIZE0;
    ck->has_trailer = 0;
    ck->ext_len = 0;
    ck->left = 0;
}

bool nm_chunk_in_data(const nm_chunk_t *ck)
{
    return ck->state == CK_DATA;
}

void nm_chunk_skip(nm_chunk_t *ck, uint64_t n)
{
    ck->left -= n;
    if (ck->left == 0)
        ck->state = CK_DATA_CR;
}

static inline unsigned hexval(unsigned char c)
{
    return c <= '9' ? (unsigned)(c - '0')
                    : (unsigned)(nm_http_lower(c) - 'a' + 10);
}

int nm_chunk_feed(nm_chunk_t *ck, const char *buf, size_t len, size_t *used,
                  nm_slice_t *data, uint32_t trailer_max,
                  uint32_t trailer_fields_max)
{
    const unsigned char *s = (const unsigned char *)buf;
    size_t i = 0;
    int rc = NM_CK_NEED;
    unsigned char c;

    data->ptr = NULL;
    data->len = 0;
    while (i < len) {
        c = s[i];
        switch (ck->state) {
        case CK_SIZE0:
            if (!(nm_http_cc[c] & NM_CC_HEX)) {
                rc = NM_E_PARSE;
                goto out;
            }
            ck->left = hexval(c);
            ck->ext_len = 1;
            ck->state = CK_SIZE;
            i++;
            break;
        case CK_SIZE:
        case CK_BWS:
        case CK_EXT:
            if (++ck->ext_len > NM_CHUNK_LINE_MAX) {
                rc = NM_E_TOO_LONG;
                goto out;
            }
            if (c == '\r') {
                ck->state = CK_SIZE_LF;
            } else if (c == '\n') {
                rc = NM_E_AMBIGUOUS;
                goto out;
            } else if (ck->state == CK_EXT) {
                /* chunk-ext: tokens, '=', quoted-strings; no CTLs. */
                if (!(nm_http_cc[c] & NM_CC_VALUE)) {
                    rc = NM_E_PARSE;
                    goto out;
                }
            } else if (c == ';') {
                ck->state = CK_EXT;
            } else if (nm_http_cc[c] & NM_CC_WS) {
                ck->state = CK_BWS;
            } else if (ck->state == CK_SIZE && (nm_http_cc[c] & NM_CC_HEX)) {
                /* A size that does not fit 64 bits is no size at all. */
                if (ck->left >> 60) {
                    rc = NM_E_PARSE;
                    goto out;
                }
                ck->left = (ck->left << 4) | hexval(c);
            } else {
                rc = NM_E_PARSE;
                goto out;
            }
            i++;
            break;
        case CK_SIZE_LF:
            if (c != '\n') {
                rc = NM_E_PARSE;
                goto out;
            }
            i++;
            if (ck->left == 0) {
                ck->state = CK_TRAILER;
                nm_lex_begin(&ck->lex);
            } else {
                ck->state = CK_DATA;
            }
            break;
        case CK_DATA: {
            size_t n = len - i;
            if (n > ck->left)
                n = (size_t)ck->left;
            data->ptr = buf + i;
            data->len = n;
            i += n;
            ck->left -= n;
            if (ck->left == 0)
                ck->state = CK_DATA_CR;
            rc = NM_CK_DATA;
            goto out;
        }
        case CK_DATA_CR:
            if (c != '\r') {
                rc = c == '\n' ? NM_E_AMBIGUOUS : NM_E_PARSE;
                goto out;
            }
            ck->state = CK_DATA_LF;
            i++;
            break;
        case CK_DATA_LF:
            if (c != '\n') {
                rc = NM_E_PARSE;
                goto out;
            }
            ck->state = CK_SIZE0;
            i++;
            break;
        case CK_TRAILER: {
            size_t n;
            nm_slice_t v;
            rc = nm_lex_feed(&ck->lex, buf + i, len - i, &n, &v, trailer_max,
                             trailer_fields_max);
            i += n;
            if (rc < 0)
                goto out;
            if (ck->lex.field_count > 0)
                ck->has_trailer = 1;
            if (rc == NM_LEX_HEAD_END) {
                ck->state = CK_DONE;
                rc = NM_CK_DONE;
                goto out;
            }
            rc = NM_CK_NEED;
            break;
        }
        default:
            rc = NM_E_INVAL;
            goto out;
        }
    }
out:
    *used = i;
    return rc;
}
