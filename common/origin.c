/* origin.c - see origin.h. */
#include "origin.h"

#include <string.h>
#include <strings.h>

static char lower(char c)
{
    return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

/* One word of 8 bytes with its ASCII upper case folded. */
static uint64_t fold_word(uint64_t w)
{
    const uint64_t lo7 = 0x7f7f7f7f7f7f7f7full, hi = 0x8080808080808080ull;
    uint64_t low = w & lo7; /* no carry leaves a byte below */
    /* 0x80 in a byte of 'A'..'Z' (0x41..0x5a, top bit clear), else 0. */
    uint64_t upper =
        ((low + 0x3f3f3f3f3f3f3f3full) ^ (low + 0x2525252525252525ull)) & ~w &
        hi;
    return w | upper >> 2; /* 0x20: to lower case */
}

void nm_origin_fold(char *dst, const char *src, size_t n)
{
    if (n < 8) {
        for (size_t i = 0; i < n; i++)
            dst[i] = lower(src[i]);
        return;
    }
    uint64_t w;
    for (size_t i = 0; i + 8 <= n; i += 8) {
        memcpy(&w, src + i, 8);
        w = fold_word(w);
        memcpy(dst + i, &w, 8);
    }
    /* The last 8 bytes again: folding twice is folding once. */
    memcpy(&w, src + n - 8, 8);
    w = fold_word(w);
    memcpy(dst + n - 8, &w, 8);
}

/* Lower-cases h[0..n) in place and drops a trailing default port. */
static size_t canon_host(char *h, size_t n, int default_port)
{
    nm_origin_fold(h, h, n);
    /* The scheme's default port is no port. Byte by byte: a memcmp call
     * cost more than the three or four bytes it compared. */
    if (default_port == 443)
        return n > 4 && h[n - 4] == ':' && h[n - 3] == '4' && h[n - 2] == '4' &&
                       h[n - 1] == '3'
                   ? n - 4
                   : n;
    return n > 3 && h[n - 3] == ':' && h[n - 2] == '8' && h[n - 1] == '0'
               ? n - 3
               : n;
}

int nm_origin_canon(char *host, size_t *host_len, size_t host_cap, char *target,
                    size_t *target_len, int default_port)
{
    size_t tlen = *target_len;
    if (tlen > 0 && target[0] == '/') {
        *host_len = canon_host(host, *host_len, default_port);
        return NM_OK;
    }
    /* absolute-form: scheme "://" authority [path-abempty] [ "?" query ] */
    size_t skip;
    if (tlen >= 7 && strncasecmp(target, "http://", 7) == 0) {
        skip = 7;
    } else if (tlen >= 8 && strncasecmp(target, "https://", 8) == 0) {
        skip = 8;
        default_port = 443;
    } else {
        return NM_E_PARSE;
    }
    size_t end = skip;
    while (end < tlen && target[end] != '/' && target[end] != '?')
        end++;
    size_t alen = end - skip;
    if (alen == 0 || alen > host_cap || memchr(target + skip, '@', alen))
        return NM_E_PARSE; /* no host, or userinfo: never from a client */
    memcpy(host, target + skip, alen);
    *host_len = canon_host(host, alen, default_port);
    /* An empty path is "/" (RFC 9112 §3.2.2): "http://h?q" is "/?q". */
    size_t rest = tlen - end;
    if (end == tlen || target[end] != '/') {
        memmove(target + 1, target + end, rest);
        target[0] = '/';
        *target_len = rest + 1;
    } else {
        memmove(target, target + end, rest);
        *target_len = rest;
    }
    return NM_OK;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = lower(c);
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* RFC 3986 §2.3: decoding these never changes what a path means. */
static bool is_unreserved(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
           c == '~';
}

static size_t path_len(const char *target, size_t len)
{
    const char *q = memchr(target, '?', len);
    return q ? (size_t)(q - target) : len;
}

/* The bytes nm_origin_path_is_plain stops at: the query, the two that
 * are never plain, and the slash (what follows it is looked at). */
static const bool path_stop[256] = {
    ['?'] = true, ['%'] = true, ['\\'] = true, ['/'] = true};

/* The high bit of each byte of w equal to c, every byte exact: no carry
 * crosses a byte (the tail below shifts matches out, and the usual
 * borrow trick would leave false ones above them). */
static inline uint64_t bytes_equal(uint64_t w, unsigned char c)
{
    const uint64_t low7 = 0x7f7f7f7f7f7f7f7full;
    uint64_t x = w ^ (0x0101010101010101ull * c);
    return ~(((x & low7) + low7) | x | low7);
}

static inline uint64_t stops_in(const unsigned char *p)
{
    uint64_t w;
    memcpy(&w, p, sizeof(w));
    /* '/' (0x2f) and '?' (0x3f) are the two bytes that are 0x3f with
     * 0x10 set. */
    return bytes_equal(w | 0x1010101010101010ull, '?') | bytes_equal(w, '%') |
           bytes_equal(w, '\\');
}

/* The first byte of s[i, len) in path_stop, or len: 8 bytes a word, the
 * tail as the span's last word with the bytes before i masked off. One
 * pass instead of a memchr for each of '?', '%' and the backslash and a
 * loop for the slashes: 144 -> 74 instructions for "/f1k.bin" (callgrind,
 * nginx 1 KiB pass-through). */
static size_t path_next_stop(const unsigned char *s, size_t i, size_t len)
{
    for (; len - i >= 8; i += 8) {
        uint64_t m = stops_in(s + i);
        if (m != 0)
            return i + (size_t)__builtin_ctzll(m) / 8;
    }
    if (i < len && len >= 8) {
        uint64_t m = stops_in(s + len - 8) >> (8 * (i - (len - 8)));
        return m != 0 ? i + (size_t)__builtin_ctzll(m) / 8 : len;
    }
    while (i < len && !path_stop[s[i]])
        i++;
    return i;
}

/* s[j] is past the path: the target's end or its query. */
static inline bool path_ends_at(const unsigned char *s, size_t j, size_t len)
{
    return j >= len || s[j] == '?';
}

/* s[j] ends a segment: a slash, the query or the target's end. */
static inline bool segment_ends_at(const unsigned char *s, size_t j, size_t len)
{
    return path_ends_at(s, j, len) || s[j] == '/';
}

/* The segment that starts at s[j] (j < len, not past the path) is empty,
 * "." or "..": one that normalizing the path would remove. */
static bool is_dot_or_empty_segment(const unsigned char *s, size_t j,
                                    size_t len)
{
    if (s[j] == '/')
        return true;
    if (s[j] != '.')
        return false;
    return segment_ends_at(s, j + 1, len) ||
           (s[j + 1] == '.' && segment_ends_at(s, j + 2, len));
}

bool nm_origin_path_is_plain(const char *target, size_t len)
{
    const unsigned char *s = (const unsigned char *)target;
    if (len == 0 || s[0] != '/')
        return false;
    for (size_t i = 0;;) { /* s[i] is a slash of the path */
        if (path_ends_at(s, i + 1, len))
            return true;
        if (is_dot_or_empty_segment(s, i + 1, len))
            return false;
        i = path_next_stop(s, i + 1, len);
        if (i == len || s[i] == '?')
            return true;
        if (s[i] != '/')
            return false; /* '%' or '\\' */
    }
}

/* Decodes what may be decoded: returns the decoded length in out (one
 * segment's bytes are kept apart by '/' only), or NM_E_* as origin.h. */
static int decode(const char *p, size_t len, char *out, size_t cap)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        char c = p[i];
        if (c == '\\' || c == '\0')
            return NM_E_UNSUPPORTED;
        if (c == '%') {
            int hi = i + 2 < len ? hexval(p[i + 1]) : -1;
            int lo = i + 2 < len ? hexval(p[i + 2]) : -1;
            if (hi < 0 || lo < 0)
                return NM_E_UNSUPPORTED;
            unsigned char v = (unsigned char)(hi * 16 + lo);
            if (v == '/' || v == '\\' || v == 0)
                return NM_E_UNSUPPORTED;
            if (n + 3 > cap)
                return NM_E_NOSPACE;
            if (is_unreserved(v)) {
                out[n++] = (char)v;
            } else {
                static const char hex[] = "0123456789ABCDEF";
                out[n++] = '%';
                out[n++] = hex[v >> 4];
                out[n++] = hex[v & 15];
            }
            i += 2;
            continue;
        }
        if (n + 1 > cap)
            return NM_E_NOSPACE;
        out[n++] = c;
    }
    return (int)n;
}

int nm_origin_path(const char *target, size_t len, char *out, size_t cap)
{
    len = path_len(target, len);
    if (len == 0 || target[0] != '/')
        return NM_E_PARSE;
    int dn = decode(target, len, out, cap);
    if (dn < 0)
        return dn;
    /* RFC 3986 §5.2.4 on the decoded path, segment by segment, writing
     * back into out (the result is never longer), with empty segments
     * dropped: servers merge "//" (nginx merge_slashes, Apache's file map). */
    size_t in = 0, n = 0, end = (size_t)dn;
    bool is_dir = false;
    while (in < end) {
        while (in < end && out[in] == '/')
            in++;
        size_t s = in;
        while (in < end && out[in] != '/')
            in++;
        size_t slen = in - s;
        is_dir = in < end || slen == 0;
        if (slen == 0)
            continue;
        if (slen == 1 && out[s] == '.') {
            is_dir = true;
            continue;
        }
        if (slen == 2 && out[s] == '.' && out[s + 1] == '.') {
            if (n == 0)
                return NM_E_UNSUPPORTED; /* above the root */
            while (n > 0 && out[n - 1] != '/')
                n--;
            n--; /* the '/' before the dropped segment */
            is_dir = true;
            continue;
        }
        out[n++] = '/';
        memmove(out + n, out + s, slen);
        n += slen;
    }
    if (n == 0 || is_dir)
        out[n++] = '/';
    return (int)n;
}
