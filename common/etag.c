/* etag.c - entity-tags and If-None-Match / If-Match lists (see etag.h).
 * The list scanner is quote-aware: a comma inside an opaque-tag ("a,b") is
 * part of the tag (conformance.md). Anything malformed is reported, never
 * guessed at: a malformed field must not produce a 304. */
#include "etag.h"

#include <string.h>

/* etagc = %x21 / %x23-7E / obs-text (RFC 9110 §8.8.3) */
static bool is_etagc(unsigned char c)
{
    return c == 0x21 || (c >= 0x23 && c != 0x7f);
}

static bool is_ows(char c)
{
    return c == ' ' || c == '\t';
}

/* Length of the entity-tag starting at s, or NM_E_PARSE. */
static long scan_etag(const char *s, size_t len, nm_etag_t *out)
{
    size_t i = 0;
    bool is_weak = false;
    if (len >= 2 && s[0] == 'W' && s[1] == '/') {
        is_weak = true;
        i = 2;
    }
    if (i >= len || s[i] != '"')
        return NM_E_PARSE;
    size_t open = i++;
    while (i < len && s[i] != '"') {
        if (!is_etagc((unsigned char)s[i]))
            return NM_E_PARSE;
        i++;
    }
    if (i >= len)
        return NM_E_PARSE;
    out->is_weak = is_weak;
    out->opaque.ptr = s + open;
    out->opaque.len = i + 1 - open;
    return (long)(i + 1);
}

int nm_etag_parse(const char *s, size_t len, nm_etag_t *out)
{
    if (s == NULL || out == NULL)
        return NM_E_INVAL;
    long n = scan_etag(s, len, out);
    return n >= 0 && (size_t)n == len ? NM_OK : NM_E_PARSE;
}

static bool opaque_eq(const nm_etag_t *a, const nm_etag_t *b)
{
    return a->opaque.len == b->opaque.len &&
           memcmp(a->opaque.ptr, b->opaque.ptr, a->opaque.len) == 0;
}

bool nm_etag_strong_eq(const nm_etag_t *a, const nm_etag_t *b)
{
    return !a->is_weak && !b->is_weak && opaque_eq(a, b);
}

bool nm_etag_weak_eq(const nm_etag_t *a, const nm_etag_t *b)
{
    return opaque_eq(a, b);
}

int nm_etag_list_match(const char *value, size_t len, const nm_etag_t *current,
                       bool use_weak)
{
    size_t i = 0;
    int members = 0;
    bool has_star = false, is_match = false;
    if (value == NULL)
        return NM_E_INVAL;
    while (i < len) {
        while (i < len && (is_ows(value[i]) || value[i] == ','))
            i++; /* empty list elements are allowed and ignored */
        if (i >= len)
            break;
        if (value[i] == '*') {
            has_star = true;
            i++;
        } else {
            nm_etag_t tag;
            long n = scan_etag(value + i, len - i, &tag);
            if (n < 0)
                return NM_E_PARSE;
            i += (size_t)n;
            if (current != NULL &&
                (use_weak ? nm_etag_weak_eq(&tag, current)
                          : nm_etag_strong_eq(&tag, current)))
                is_match = true;
        }
        members++;
        while (i < len && is_ows(value[i]))
            i++;
        if (i < len && value[i] != ',')
            return NM_E_PARSE; /* junk after a member */
    }
    if (members == 0)
        return NM_E_PARSE; /* an empty field must never yield a 304 */
    if (has_star) /* "*" is valid only alone (RFC 9110 §13.1.2) */
        return members == 1 ? NM_ETAG_MATCH : NM_E_PARSE;
    return is_match ? NM_ETAG_MATCH : NM_ETAG_NO_MATCH;
}
