/* resp304.c - the 304 that replaces a 200 (RFC 9110 §15.4.5).
 *
 * Rule: every field line of the 200 is copied verbatim and in order,
 * except the representation-metadata and framing fields in drop_fields[].
 * Keeping by default (rather than keeping a short allow-list) is deliberate:
 * a cache that gets a 304 replaces its stored fields with the 304's (RFC
 * 9111 §4.3.4), so dropping Cache-Control, Vary, an extension field the
 * application relies on, or a Set-Cookie would silently change what the
 * client sees next; copying a field the 200 already sent cannot.
 *
 * The head is scanned here with a small private line scanner because this
 * module was written before common/http_hdr.c existed on this branch;
 * switch to nm_hdr_next() once both are merged. Its rules: CRLF only (a
 * bare LF or CR is NM_E_PARSE), no obs-fold, a colon right after a token
 * name, no CTL in a value, an empty line required. Check them against
 * nm_hdr_next's before switching (tests/unit/test_resp304.c pins them). */
#include "resp304.h"

#include "http_common.h"
#include "httpdate.h"

#include <string.h>

/* Fields a 304 does not carry. Each one describes the content or its
 * framing, and a 304 has no content (RFC 9110 §15.4.5: SHOULD NOT send
 * representation metadata other than the listed validators and cache
 * fields; §8.6: a Content-Length is only allowed when it equals the 200's,
 * so the simplest correct choice is none, which also keeps keep-alive
 * clients from waiting for a body).
 *
 * Last-Modified is NOT here, on purpose: caches replace stored fields with
 * the 304's (RFC 9111 §4.3.4), so carrying the same Last-Modified keeps the
 * stored one intact and gives clients without the ETag a validator for the
 * next If-Modified-Since; nginx and Django keep it too. Content-Location is
 * a MUST in §15.4.5 and is kept as well. */
/* RFC 9530 Content-Digest: a digest of this message's content; a 304 has
 * none, and a client checking it against the empty content would fail.
 * Accept-Ranges is about ranges of the content (§14.3). */
#define DROP_NAMES(X)                                                          \
    X("content-type")                                                          \
    X("content-length")                                                        \
    X("content-encoding")                                                      \
    X("content-language")                                                      \
    X("content-range")                                                         \
    X("content-md5")                                                           \
    X("content-disposition")                                                   \
    X("content-digest")                                                        \
    X("transfer-encoding")                                                     \
    X("trailer")                                                               \
    X("accept-ranges")

#define DROP(lit) {lit, sizeof lit - 1},
static const struct drop_field {
    const char *name; /* lower case */
    size_t len;
} drop_fields[] = {DROP_NAMES(DROP)};
#undef DROP

/* Bit n set: some dropped name is n bytes long. Most names of a head have
 * a length none has (Date, Server, ETag, Connection...): kept at once. */
#define LEN_BIT(lit) | (1u << (sizeof lit - 1))
static const uint32_t drop_lengths = 0 DROP_NAMES(LEN_BIT);
#undef LEN_BIT

static unsigned char lower(unsigned char c)
{
    return (unsigned char)(c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c);
}

/* name (len bytes) equals lower-case want (want_len bytes), ignoring
 * case. Lengths first: most names are rejected without a byte compared. */
static bool name_eq(const char *name, size_t len, const char *want,
                    size_t want_len)
{
    if (len != want_len)
        return false;
    for (size_t i = 0; i < len; i++)
        if (lower((unsigned char)name[i]) != (unsigned char)want[i])
            return false;
    return true;
}

/* The slot of a name of len bytes ending in last: no two dropped names
 * share one (a unit test drops each of them), so one compare decides. */
#define SLOT(len, last) (((len)*7 + ((last)&0x1f)) & 31)

/* 1 + the index in drop_fields of the name in each slot, 0 for none. */
static const uint8_t drop_slot[32] = {
    [SLOT(12, 'e')] = 1,  /* content-type */
    [SLOT(14, 'h')] = 2,  /* content-length */
    [SLOT(16, 'g')] = 3,  /* content-encoding */
    [SLOT(16, 'e')] = 4,  /* content-language */
    [SLOT(13, 'e')] = 5,  /* content-range */
    [SLOT(11, '5')] = 6,  /* content-md5 */
    [SLOT(19, 'n')] = 7,  /* content-disposition */
    [SLOT(14, 't')] = 8,  /* content-digest */
    [SLOT(17, 'g')] = 9,  /* transfer-encoding */
    [SLOT(7, 'r')] = 10,  /* trailer */
    [SLOT(13, 's')] = 11, /* accept-ranges */
};

/* Eight bytes of name equal eight of a lower-case name t, ignoring case:
 * the bytes may differ only in 0x20, and only where t has a letter. */
static bool word_eq(const char *name, const char *t)
{
    uint64_t x, w;
    memcpy(&x, name, 8);
    memcpy(&w, t, 8);
    uint64_t letters =
        ((w + 0x1f1f1f1f1f1f1f1full) ^ (w + 0x0505050505050505ull)) &
        0x8080808080808080ull; /* 0x61..0x7a: t is ASCII */
    return (x | letters >> 2) == w;
}

/* name equals the lower-case want of the same length, ignoring case, a
 * word at a time (the last word overlapping the one before). */
static bool name_eq_words(const char *name, const char *want, size_t len)
{
    if (len < 8)
        return name_eq(name, len, want, len);
    for (size_t i = 0; i + 8 <= len; i += 8)
        if (!word_eq(name + i, want + i))
            return false;
    return word_eq(name + len - 8, want + len - 8);
}

bool nm_resp304_keeps_field(const char *name, size_t len)
{
    if (name == NULL || len == 0)
        return false;
    if (len >= 32 || !(drop_lengths & (1u << len)))
        return true;
    unsigned slot = drop_slot[SLOT(len, (unsigned char)name[len - 1])];
    if (slot == 0)
        return true;
    const struct drop_field *d = &drop_fields[slot - 1];
    return d->len != len || !name_eq_words(name, d->name, len);
}

/* Byte classes: 1 = tchar (RFC 9110 §5.6.2), 2 = field-vchar / SP / HTAB
 * (§5.5: no CTLs, no DEL). A table (with memchr for line ends) took
 * rfc_bench build_304_ns from 460 to 290 against per-byte strchr(). */
/* clang-format off */
#define T 3 /* tchar, also a value byte */
#define V 2 /* value byte only */
static const unsigned char byte_class[256] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, V, 0, 0, 0, 0, 0, 0, /* 0x00 HTAB */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x10 */
    V, T, V, T, T, T, T, T, V, V, T, T, V, T, T, V, /* SP ! " # .. / */
    T, T, T, T, T, T, T, T, T, T, V, V, V, V, V, V, /* 0-9 : ; < = > ? */
    V, T, T, T, T, T, T, T, T, T, T, T, T, T, T, T, /* @ A-O */
    T, T, T, T, T, T, T, T, T, T, T, V, V, V, T, T, /* P-Z [ \ ] ^ _ */
    T, T, T, T, T, T, T, T, T, T, T, T, T, T, T, T, /* ` a-o */
    T, T, T, T, T, T, T, T, T, T, T, V, T, V, T, 0, /* p-z { | } ~ DEL */
    V, V, V, V, V, V, V, V, V, V, V, V, V, V, V, V, /* obs-text */
    V, V, V, V, V, V, V, V, V, V, V, V, V, V, V, V,
    V, V, V, V, V, V, V, V, V, V, V, V, V, V, V, V,
    V, V, V, V, V, V, V, V, V, V, V, V, V, V, V, V,
    V, V, V, V, V, V, V, V, V, V, V, V, V, V, V, V,
    V, V, V, V, V, V, V, V, V, V, V, V, V, V, V, V,
    V, V, V, V, V, V, V, V, V, V, V, V, V, V, V, V,
    V, V, V, V, V, V, V, V, V, V, V, V, V, V, V, V,
};
/* clang-format on */
#undef T
#undef V

static bool is_tchar(unsigned char c)
{
    return byte_class[c] & 1;
}

static bool is_value_char(unsigned char c)
{
    return byte_class[c] & 2;
}

/* Finds the end of the line at s[pos]: returns the index where its content
 * ends and sets *term to the terminator's length: 2 for CRLF, 1 for a bare
 * LF, which RFC 9112 §2.2 lets a recipient accept and which CGI heads
 * relayed verbatim use (the 304 is written with CRLF either way). A bare CR
 * or no line end before len is NM_E_PARSE. */
static long line_end(const char *s, size_t len, size_t pos, size_t *term)
{
    const char *lf = memchr(s + pos, '\n', len - pos);
    if (lf == NULL)
        return NM_E_PARSE;
    size_t end = (size_t)(lf - s);
    *term = 1;
    if (end > pos && s[end - 1] == '\r') {
        end--;
        *term = 2;
    }
    if (memchr(s + pos, '\r', end - pos) != NULL)
        return NM_E_PARSE; /* a bare CR inside the line */
    return (long)end;
}

/* One field line from s[b]: validates it and returns the index where its
 * content ends (its CR, or a bare LF's index), with *name_len and *term
 * (2 for CRLF, 1 for LF) set; NM_E_PARSE for leading whitespace (obs-fold),
 * no colon, space before the colon, a CTL or bare CR in the value, or no
 * line end. One pass: the value is scanned with the lexer's block scan. */
static long field_line(const char *s, size_t len, size_t b, size_t *name_len,
                       size_t *term)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = b;
    while (i < len && is_tchar(u[i]))
        i++;
    if (i == b || i == len || s[i] != ':')
        return NM_E_PARSE;
    *name_len = i - b;
    size_t e = nm_scan_value(u, i + 1, len);
    if (e < len && s[e] == '\n') {
        *term = 1;
        return (long)e;
    }
    if (e + 1 < len && s[e] == '\r' && s[e + 1] == '\n') {
        *term = 2;
        return (long)e;
    }
    return NM_E_PARSE;
}

/* Output with a sticky overflow flag: one pass, checked once at the end. */
typedef struct out_buf {
    char *p;
    size_t cap, len;
    bool is_full;
} out_buf_t;

static void put(out_buf_t *o, const char *s, size_t n)
{
    if (o->is_full || n > o->cap - o->len) {
        o->is_full = true;
        return;
    }
    memcpy(o->p + o->len, s, n);
    o->len += n;
}

/* status-line = HTTP-version SP status-code SP [ reason-phrase ] CRLF
 * (RFC 9112 §4); the SP before an empty reason may be missing. Returns the
 * index of its CR. The code is not checked against 200: cond.c decides
 * which responses become 304s. */
static long status_line(const char *s, size_t len, size_t *term)
{
    long cr = line_end(s, len, 0, term);
    if (cr < 0)
        return cr;
    size_t n = (size_t)cr;
    if (n < 12 || memcmp(s, "HTTP/1.", 7) != 0 || s[7] < '0' || s[7] > '9' ||
        s[8] != ' ')
        return NM_E_PARSE;
    for (size_t i = 9; i < 12; i++)
        if (s[i] < '0' || s[i] > '9')
            return NM_E_PARSE;
    if (n > 12 && s[12] != ' ')
        return NM_E_PARSE;
    for (size_t i = 13; i < n; i++)
        if (!is_value_char((unsigned char)s[i]))
            return NM_E_PARSE;
    return cr;
}

/* The names of the caller's extra lines: each replaces the 200's fields
 * of that name (an accelerated 304's Date and Age, fresh.c). */
#define EXTRA_NAMES_MAX 16
typedef struct extra_names {
    nm_slice_t name[EXTRA_NAMES_MAX];
    size_t n;
} extra_names_t;

static bool is_replaced(const extra_names_t *x, const char *name, size_t len)
{
    for (size_t i = 0; x && i < x->n; i++) {
        if (x->name[i].len != len)
            continue;
        size_t k = 0;
        while (k < len && lower((unsigned char)x->name[i].ptr[k]) ==
                              lower((unsigned char)name[k]))
            k++;
        if (k == len)
            return true;
    }
    return false;
}

/* Walks field lines from pos to the empty line and puts the ones the 304
 * keeps into o (all of them with is_extra), except those x replaces.
 * *has_date says whether a Date line was seen. Returns the index just past
 * the empty line, or NM_E_PARSE. With is_extra the block has no empty line
 * and simply ends at len, and its names are recorded in x. */
static long walk_fields(const char *s, size_t len, size_t pos, bool is_extra,
                        out_buf_t *o, bool *has_date, extra_names_t *x)
{
    for (;;) {
        if (is_extra && pos == len)
            return (long)pos;
        /* The extra block is copied verbatim, so the bare-LF tolerance
         * meant for the server's head would put a bare LF in the 304
         * (found by tests/fuzz/fuzz_resp304.c). */
        if (pos < len && s[pos] == '\n')
            return is_extra ? NM_E_PARSE : (long)(pos + 1);
        if (pos + 1 < len && s[pos] == '\r' && s[pos + 1] == '\n')
            return is_extra ? NM_E_PARSE : (long)(pos + 2);
        size_t nlen, term;
        long cr = field_line(s, len, pos, &nlen, &term);
        if (cr < 0)
            return cr;
        if (is_extra && term != 2)
            return NM_E_PARSE;
        size_t e = (size_t)cr;
        if (name_eq(s + pos, nlen, "date", 4))
            *has_date = true;
        /* The caller's lines must be fields a 304 may carry: a framing
         * field there would desynchronise the client (found by fuzzing). */
        bool is_kept = nm_resp304_keeps_field(s + pos, nlen);
        if (is_extra && !is_kept)
            return NM_E_PARSE;
        if (is_extra) {
            if (x->n == EXTRA_NAMES_MAX)
                return NM_E_PARSE;
            x->name[x->n++] = (nm_slice_t){s + pos, nlen};
        } else if (is_replaced(x, s + pos, nlen)) {
            is_kept = false;
        }
        if (is_kept) {
            put(o, s + pos, e - pos);
            put(o, "\r\n", 2);
        }
        pos = e + term;
    }
}

/* Bytes after the head's empty line (a body that came with it) are
 * ignored. The extra lines are the caller's (a synthesized ETag, a store's
 * Last-Modified) and copied as given after the generated Date; they must
 * be well-formed field lines or the call fails with NM_E_INVAL. A field
 * in extra replaces the 200's of its name: the shim adds ETag or
 * Last-Modified only when the 200 had none, and an accelerated 304
 * (fresh.c) brings its own Date and Age. */
static const char reason_304[] = " 304 Not Modified\r\n";

/* Checks the arguments both builders take and validates extra; sets
 * *extra_has_date and the names of extra's lines. 0 or NM_E_INVAL. */
static int check_args(const char *head, const char *extra, size_t extra_len,
                      const char *out, size_t out_cap, bool *extra_has_date,
                      extra_names_t *x)
{
    out_buf_t sink = {NULL, 0, 0, true}; /* validation pass, writes nothing */
    if (head == NULL || (out == NULL && out_cap > 0) ||
        (extra == NULL && extra_len > 0))
        return NM_E_INVAL;
    if (extra_len > 0 &&
        walk_fields(extra, extra_len, 0, true, &sink, extra_has_date, x) < 0)
        return NM_E_INVAL;
    return 0;
}

/* After the kept fields: a Date when neither the 200 nor extra had one,
 * extra, the empty line. Returns the 304's length or an error. */
static long finish_304(out_buf_t *o, bool has_date, const char *extra,
                       size_t extra_len, bool extra_has_date, int64_t now_unix)
{
    if (!has_date && !extra_has_date) {
        /* RFC 9110 §6.6.1: an origin with a clock MUST send Date. */
        char date[NM_HTTPDATE_LEN + 1];
        if (nm_httpdate_format(now_unix, date) != NM_HTTPDATE_LEN)
            return NM_E_INVAL;
        put(o, "Date: ", 6);
        put(o, date, NM_HTTPDATE_LEN);
        put(o, "\r\n", 2);
    }
    if (extra_len > 0)
        put(o, extra, extra_len);
    put(o, "\r\n", 2);
    return o->is_full ? NM_E_NOSPACE : (long)o->len;
}

long nm_resp304_build(const char *head, size_t head_len, const char *extra,
                      size_t extra_len, int64_t now_unix, char *out,
                      size_t out_cap)
{
    out_buf_t o = {out, out_cap, 0, false};
    bool has_date = false, extra_has_date = false;
    extra_names_t x;
    x.n = 0; /* not the 16 names: a 256-byte clear per 304 */
    int rc =
        check_args(head, extra, extra_len, out, out_cap, &extra_has_date, &x);
    if (rc < 0)
        return rc;

    size_t term;
    long cr = status_line(head, head_len, &term);
    if (cr < 0)
        return cr;
    put(&o, head, 8); /* "HTTP/1.x": the server's own version */
    put(&o, reason_304, sizeof reason_304 - 1);

    long end = walk_fields(head, head_len, (size_t)cr + term, false, &o,
                           &has_date, &x);
    if (end < 0)
        return end;
    return finish_304(&o, has_date, extra, extra_len, extra_has_date, now_unix);
}

long nm_resp304_build_lines(const char *head, size_t head_len,
                            const uint32_t *line_start, size_t count,
                            const char *extra, size_t extra_len,
                            int64_t now_unix, char *out, size_t out_cap)
{
    out_buf_t o = {out, out_cap, 0, false};
    bool has_date = false, extra_has_date = false;
    extra_names_t x;
    x.n = 0; /* not the 16 names: a 256-byte clear per 304 */
    int rc =
        check_args(head, extra, extra_len, out, out_cap, &extra_has_date, &x);
    if (rc < 0)
        return rc;
    if (head_len < 12 || (count > 0 && line_start == NULL))
        return NM_E_INVAL;
    put(&o, head, 8); /* "HTTP/1.x": the server's own version */
    put(&o, reason_304, sizeof reason_304 - 1);

    /* The empty line: CRLF, or a bare LF (CGI heads). */
    size_t fields_end = head_len - (head[head_len - 2] == '\r' ? 2 : 1);
    for (size_t k = 0; k < count; k++) {
        size_t b = line_start[k];
        size_t e = k + 1 < count ? line_start[k + 1] : fields_end;
        if (b + 2 > e || e > fields_end)
            return NM_E_INVAL; /* not this head's offsets */
        size_t content_end = e - (head[e - 2] == '\r' ? 2 : 1);
        const char *colon = memchr(head + b, ':', content_end - b);
        if (colon == NULL)
            return NM_E_INVAL;
        size_t nlen = (size_t)(colon - (head + b));
        if (name_eq(head + b, nlen, "date", 4))
            has_date = true;
        if (nm_resp304_keeps_field(head + b, nlen) &&
            !is_replaced(&x, head + b, nlen)) {
            /* A CRLF line in one copy; a bare LF becomes CRLF. */
            bool is_crlf = content_end + 2 == e;
            put(&o, head + b, (is_crlf ? e : content_end) - b);
            if (!is_crlf)
                put(&o, "\r\n", 2);
        }
    }
    return finish_304(&o, has_date, extra, extra_len, extra_has_date, now_unix);
}
