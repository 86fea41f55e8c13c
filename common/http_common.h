/* http_common.h - internals shared by the HTTP/1.x parsers (http_req.c,
 * http_resp.c) and the head scanner (http_hdr.c): byte classes, the table of
 * field names we recognise, the field-line lexer, the list-token matcher,
 * the Content-Length rules and the chunked decoder. Not a public interface;
 * the parser structs embed nm_lex_t and nm_chunk_t, treat them as opaque. */
#ifndef NM_HTTP_COMMON_H
#define NM_HTTP_COMMON_H

#include "nm.h"

#include "scan.h"

#include <string.h>

/* Byte classes (RFC 9110 §5.6.2 tchar, §5.5 field-vchar, RFC 9112 §3.2). */
enum {
    NM_CC_TCHAR = 1,  /* token character */
    NM_CC_VALUE = 2,  /* allowed in a field value: HTAB, SP, VCHAR, obs-text */
    NM_CC_TARGET = 4, /* allowed in a request-target: VCHAR, obs-text */
    NM_CC_HEX = 8,
    NM_CC_WS = 16, /* SP, HTAB */
};
extern const uint8_t nm_http_cc[256];

/* Index of the first byte in s[i, lim) that may not be in a field value
 * (a CTL other than HTAB, or DEL); see scan.h. */
static inline size_t nm_scan_value(const unsigned char *s, size_t i, size_t lim)
{
    return nm_scan(s, i, lim, NM_SCAN_VALUE);
}

static inline unsigned char nm_http_lower(unsigned char c)
{
    return (unsigned char)(c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c);
}

/* Field names the parsers act on, sorted so that names sharing a prefix are
 * neighbours (the incremental matcher relies on it). NM_FLD_NONE: other. */
enum nm_fld {
    NM_FLD_NONE = 0,
    NM_FLD_CONNECTION,
    NM_FLD_CONTENT_ENCODING,
    NM_FLD_CONTENT_LENGTH,
    NM_FLD_CONTENT_RANGE,
    NM_FLD_CONTENT_TYPE,
    NM_FLD_DATE,
    NM_FLD_ETAG,
    NM_FLD_EXPECT,
    NM_FLD_HOST,
    NM_FLD_IF_MATCH,
    NM_FLD_IF_MODIFIED_SINCE,
    NM_FLD_IF_NONE_MATCH,
    NM_FLD_IF_RANGE,
    NM_FLD_IF_UNMODIFIED_SINCE,
    NM_FLD_LAST_MODIFIED,
    NM_FLD_RANGE,
    NM_FLD_TRANSFER_ENCODING,
    NM_FLD_UPGRADE,
    NM_FLD_COUNT
};

/* The field a whole name (n bytes of tchar, as a head's field line has
 * them) stands for, ignoring case; NM_FLD_NONE for the rest. The one-shot
 * scanner's lookup (head_scan.h); the lexer matches names byte by byte.
 * A name's slot is (4 n + first + 2 last) mod 32 over its lower-cased
 * first and last bytes, which no two entries share: most names end at the
 * slot's length, a candidate costs one compare of whole words. */
extern const uint8_t nm_fld_slot[32];
extern const uint8_t nm_fld_len[NM_FLD_COUNT];
extern const char *const nm_fld_names[NM_FLD_COUNT]; /* lower case */

static inline uint32_t nm_load32(const void *p)
{
    uint32_t v;
    memcpy(&v, p, sizeof(v));
    return v;
}

static inline uint64_t nm_load64(const void *p)
{
    uint64_t v;
    memcpy(&v, p, sizeof(v));
    return v;
}

/* name (n bytes of tchar) is entry f, n == its length >= 4: whole words,
 * each byte with 0x20 set; a tchar matches a table byte (a lower-case
 * letter or '-') only as that letter in either case, or as '-' itself.
 * Overlapping loads keep every read inside the name. */
static inline bool nm_fld_is(const unsigned char *name, size_t n, enum nm_fld f)
{
    const unsigned char *t = (const unsigned char *)nm_fld_names[f];
    const uint32_t l4 = 0x20202020u;
    const uint64_t l8 = 0x2020202020202020u;
    if (n <= 8)
        return (nm_load32(name) | l4) == nm_load32(t) &&
               (nm_load32(name + n - 4) | l4) == nm_load32(t + n - 4);
    return (nm_load64(name) | l8) == nm_load64(t) &&
           (nm_load64(name + 8 * (n > 16)) | l8) ==
               nm_load64(t + 8 * (n > 16)) &&
           (nm_load64(name + n - 8) | l8) == nm_load64(t + n - 8);
}

static inline enum nm_fld nm_fld_lookup(const unsigned char *name, size_t n)
{
    /* n >= 1; a length outside 4..19 meets no entry's (NM_FLD_NONE: 0). */
    unsigned f = nm_fld_slot[(n * 4 + (unsigned)(name[0] | 0x20) +
                              (unsigned)(name[n - 1] | 0x20) * 2) &
                             31];
    return nm_fld_len[f] == n && nm_fld_is(name, n, (enum nm_fld)f)
               ? (enum nm_fld)f
               : NM_FLD_NONE;
}

/* Field-line lexer state, plus per-line scratch the parsers use while they
 * interpret one value (token matcher, number, capture bits). */
typedef struct nm_lex {
    uint8_t state;
    uint8_t field;    /* enum nm_fld of the current line */
    uint8_t name_pos; /* bytes of the field name matched so far */
    uint8_t vbits;    /* NM_VB_* for the current line */
    uint8_t tok_pos, tok_alive, tok_bits;           /* current list element */
    uint8_t tok_seen, tok_last, tok_dup, tok_elems; /* this line's summary */
    uint32_t head_len;    /* bytes of this head (or trailer section) */
    uint32_t field_count; /* field lines so far */
    uint64_t num;         /* Content-Length element being read */
    uint8_t is_lf_ok;     /* accept bare LF as a line end (responses) */
    /* When set, the head offset of field line k (head_len counted from
     * the start line) goes to line_start[k] for k < line_max: a 304 is
     * then built without scanning the head again (http_resp.h). */
    uint32_t *line_start;
    uint16_t line_max;
} nm_lex_t;

/* nm_lex_t.vbits */
enum {
    NM_VB_STARTED = 1, /* the parser has seen this line's first event */
    NM_VB_SKIP = 2,    /* do not capture this line's value */
    NM_VB_DIGITS = 4,  /* Content-Length element has digits */
    NM_VB_GAP = 8,     /* whitespace after those digits */
    NM_VB_WHOLE = 16,  /* the value comes in one piece (nm_tok_feed) */
};

/* Lexer results. */
enum {
    NM_LEX_NEED = 0, /* consumed everything it was given */
    NM_LEX_VALUE,    /* *val: a run of value bytes, line not finished */
    NM_LEX_LINE_END, /* the field line ended; *val: its last run (may be 0) */
    NM_LEX_HEAD_END, /* the empty line: the field section is complete */
};

/* Starts a field section (after the start line, or a chunked trailer). */
void nm_lex_begin(nm_lex_t *lx);

/* Lexes field lines: validates names and values, matches the name against
 * the table, strips leading OWS, enforces head_max (counting lx->head_len)
 * and fields_max. Returns NM_LEX_* or a negative NM_E_*; *used is the
 * number of bytes consumed. Errors are reported at the same byte whatever
 * the split: a value run is always handed out before an error after it. */
int nm_lex_feed(nm_lex_t *lx, const char *buf, size_t len, size_t *used,
                nm_slice_t *val, uint32_t head_max, uint32_t fields_max);

/* The one-shot scanner (head_scan.h) took a whole field section of
 * field_count lines, its head head_len bytes in all: the lexer as its
 * states leave it after the empty line. */
void nm_lex_end(nm_lex_t *lx, uint32_t head_len, uint32_t field_count);

/* List-token matcher over a comma list (RFC 9110 §5.6.1), case-insensitive,
 * OWS-trimmed elements, at most 8 tokens of [a-z0-9/-]. stop, when not 0,
 * ends an element and ignores the rest of it (';' for media-type
 * parameters). With NM_VB_WHOLE in lx->vbits, the one nm_tok_feed call of
 * the line has the whole value, and takes it element by element. */
typedef struct nm_tok {
    const char *s; /* lower case */
    size_t len;
} nm_tok_t;
#define NM_TOK(lit)                                                            \
    {                                                                          \
        lit, sizeof(lit) - 1                                                   \
    }

void nm_tok_begin(nm_lex_t *lx, unsigned ntok);
void nm_tok_feed(nm_lex_t *lx, const nm_tok_t *toks, unsigned ntok, char stop,
                 const char *s, size_t n);
void nm_tok_end(nm_lex_t *lx, const nm_tok_t *toks, unsigned ntok);

/* Content-Length value: 1*DIGIT, or a list of identical ones ("5, 5");
 * also identical across repeated lines (RFC 9110 §8.6). *cl and
 * NM_FR_CL in *framing hold the value once the first element ended.
 * Anything else is NM_E_AMBIGUOUS. */
int nm_cl_feed(nm_lex_t *lx, uint32_t *framing, uint64_t *cl, const char *s,
               size_t n);
int nm_cl_end(nm_lex_t *lx, uint32_t *framing, uint64_t *cl);

/* Transfer-Encoding line summary folded into *framing; returns
 * NM_E_AMBIGUOUS when chunked appears twice. */
int nm_te_line_end(nm_lex_t *lx, uint32_t *framing);
extern const nm_tok_t nm_tok_chunked[1];

/* Framing bits shared by the parsers (nm_*_parser_t.framing). */
enum {
    NM_FR_CL = 1u << 0,               /* a valid Content-Length was seen */
    NM_FR_TE = 1u << 1,               /* Transfer-Encoding present */
    NM_FR_TE_CHUNKED = 1u << 2,       /* chunked among the codings */
    NM_FR_TE_LAST_CHUNKED = 1u << 3,  /* chunked is the final coding */
    NM_FR_HOST = 1u << 4,             /* Host seen (requests) */
    NM_FR_AFTER_1XX = 1u << 5,        /* a 1xx head was reported (responses) */
    NM_FR_ETAG = 1u << 6,             /* ETag line seen (responses) */
    NM_FR_LM = 1u << 7,               /* Last-Modified line seen */
    NM_FR_DATE = 1u << 8,             /* Date line seen */
    NM_FR_CONN_CLOSE = 1u << 9,       /* Connection: close */
    NM_FR_CONN_KEEP_ALIVE = 1u << 10, /* Connection: keep-alive */
};

/* The framing fields both parsers read alike: Connection (close,
 * keep-alive), Transfer-Encoding and Content-Length (RFC 9112 §6, §9.6).
 * Each parser calls these for its current line and folds the result into
 * *framing (NM_FR_*) and *cl; other fields are left alone. */
extern const nm_tok_t nm_tok_conn[2];

/* A Connection value (s, n bytes) that is exactly "close" or "keep-alive"
 * (any case, OWS aside): its NM_FR_CONN_* bit into *framing and true;
 * false for anything else, which the token list then reads. */
bool nm_conn_whole(uint32_t *framing, const char *s, size_t n);

/* A Content-Length value (s, n bytes) that is 1 to 18 digits and nothing
 * else (nearly every one sent): its value into *cl and NM_FR_CL into
 * *framing, and true; what nm_cl_feed and nm_cl_end below do with it,
 * without their per-byte checks for lists, whitespace and overflow (18
 * digits stay below 2^63): 94 -> about 50 instructions for "1024". False
 * for anything else, and for a value that differs from an earlier line's:
 * those refuse it then (RFC 9110 §8.6). */
static inline bool nm_cl_whole(uint32_t *framing, uint64_t *cl, const char *s,
                               size_t n)
{
    if (n == 0 || n > 18)
        return false; /* s may be NULL when n is 0 */
    uint64_t num = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned d = (unsigned)(unsigned char)s[i] - '0';
        if (d > 9)
            return false;
        num = num * 10 + d;
    }
    if ((*framing & NM_FR_CL) && *cl != num)
        return false;
    *framing |= NM_FR_CL;
    *cl = num;
    return true;
}

/* A line whose value comes whole in one event: true when it is done with
 * (a one-token Connection value, a Content-Length of digits alone: nearly
 * every one sent), without the three calls below. */
static inline bool nm_framing_whole(const nm_lex_t *lx, uint32_t *framing,
                                    uint64_t *cl, const char *s, size_t n)
{
    if (lx->field == NM_FLD_CONTENT_LENGTH)
        return nm_cl_whole(framing, cl, s, n);
    return lx->field == NM_FLD_CONNECTION && nm_conn_whole(framing, s, n);
}

/* The line's first event. */
static inline void nm_framing_begin(nm_lex_t *lx)
{
    if (lx->field == NM_FLD_CONNECTION)
        nm_tok_begin(lx, 2);
    else if (lx->field == NM_FLD_TRANSFER_ENCODING)
        nm_tok_begin(lx, 1);
    else if (lx->field == NM_FLD_CONTENT_LENGTH)
        lx->num = 0;
}

/* A run of the line's value. */
static inline int nm_framing_bytes(nm_lex_t *lx, uint32_t *framing,
                                   uint64_t *cl, const char *s, size_t n)
{
    if (lx->field == NM_FLD_CONNECTION)
        nm_tok_feed(lx, nm_tok_conn, 2, 0, s, n);
    else if (lx->field == NM_FLD_TRANSFER_ENCODING)
        nm_tok_feed(lx, nm_tok_chunked, 1, 0, s, n);
    else if (lx->field == NM_FLD_CONTENT_LENGTH)
        return nm_cl_feed(lx, framing, cl, s, n);
    return NM_OK;
}

/* The line's end: NM_FR_CONN_* for Connection tokens, the checks of
 * Transfer-Encoding and Content-Length. */
static inline int nm_framing_end(nm_lex_t *lx, uint32_t *framing, uint64_t *cl)
{
    if (lx->field == NM_FLD_CONNECTION) {
        nm_tok_end(lx, nm_tok_conn, 2);
        if (lx->tok_seen & 1)
            *framing |= NM_FR_CONN_CLOSE;
        if (lx->tok_seen & 2)
            *framing |= NM_FR_CONN_KEEP_ALIVE;
    } else if (lx->field == NM_FLD_TRANSFER_ENCODING) {
        return nm_te_line_end(lx, framing);
    } else if (lx->field == NM_FLD_CONTENT_LENGTH) {
        return nm_cl_end(lx, framing, cl);
    }
    return NM_OK;
}

/* Capture helpers: append to a fixed buffer, flag overflow; trim trailing
 * OWS once the line is complete. */
static inline bool nm_cap_append(char *dst, uint16_t *dlen, size_t cap,
                                 const char *s, size_t n)
{
    size_t room = cap - *dlen;
    bool is_truncated = n > room;
    size_t k = is_truncated ? room : n;
    memcpy(dst + *dlen, s, k);
    *dlen = (uint16_t)(*dlen + k);
    return is_truncated;
}

static inline void nm_cap_trim(const char *dst, uint16_t *dlen)
{
    while (*dlen > 0 && (dst[*dlen - 1] == ' ' || dst[*dlen - 1] == '\t'))
        (*dlen)--;
}

/* Chunked body decoder (RFC 9112 §7.1): sizes, extensions, data, trailer
 * section. Reports data spans of the input. */
typedef struct nm_chunk {
    uint8_t state;
    uint8_t has_trailer; /* a trailer field line was seen */
    uint16_t ext_len;    /* bytes of the current chunk-size line */
    uint64_t left;       /* data bytes of the current chunk still to come */
    nm_lex_t lex;        /* trailer section */
} nm_chunk_t;

enum {
    NM_CK_NEED = 0, /* consumed everything */
    NM_CK_DATA,     /* *data: chunk data bytes */
    NM_CK_DONE,     /* the last chunk and the trailer section ended */
};

#define NM_CHUNK_LINE_MAX 4096 /* chunk-size line incl. extensions */

void nm_chunk_begin(nm_chunk_t *ck);
int nm_chunk_feed(nm_chunk_t *ck, const char *buf, size_t len, size_t *used,
                  nm_slice_t *data, uint32_t trailer_max,
                  uint32_t trailer_fields_max);
/* True while the decoder is inside chunk data (ck->left bytes remain). */
bool nm_chunk_in_data(const nm_chunk_t *ck);
/* Consumes n ≤ ck->left data bytes the caller never saw. */
void nm_chunk_skip(nm_chunk_t *ck, uint64_t n);

#endif
