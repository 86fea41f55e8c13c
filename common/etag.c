/* etag.c - entity-tag parsing, comparison and list matching (RFC 9110
 * §8.8.3, §13.1.1, §13.1.2). The list scanner is quote-aware: a comma
 * inside an opaque-tag ("a,b") is part of the tag, not a separator. */
#include "etag.h"

#include "scan.h"

#include <string.h>

static bool is_ows(char c)
{
    return c == ' ' || c == '\t';
}

/* Reads one entity-tag starting at s[*pos]; on success *pos is just past
 * its closing DQUOTE. */
static int scan_tag(const char *s, size_t len, size_t *pos, nm_etag_t *out)
{
    size_t i = *pos;
    bool is_weak = false;

    /* "W/" is case-sensitive (%s"W/" in RFC 9110 §8.8.3): "w/" is not a
     * weak prefix, so such a member is malformed. */
    if (i + 1 < len && s[i] == 'W' && s[i + 1] == '/') {
        is_weak = true;
        i += 2;
    }
    if (i >= len || s[i] != '"')
        return NM_E_PARSE;
    size_t open = i++;
    i = nm_scan((const unsigned char *)s, i, len, NM_SCAN_ETAGC);
    if (i >= len || s[i] != '"')
        return NM_E_PARSE;
    i++;
    out->is_weak = is_weak;
    out->opaque.ptr = s + open;
    out->opaque.len = i - open;
    *pos = i;
    return NM_OK;
}

int nm_etag_parse(const char *s, size_t len, nm_etag_t *out)
{
    size_t pos = 0;
    nm_etag_t tag;

    if (s == NULL || out == NULL)
        return NM_E_PARSE;
    if (scan_tag(s, len, &pos, &tag) != NM_OK || pos != len)
        return NM_E_PARSE;
    *out = tag;
    return NM_OK;
}

static bool opaque_eq(const nm_etag_t *a, const nm_etag_t *b)
{
    return a->opaque.len == b->opaque.len &&
           memcmp(a->opaque.ptr, b->opaque.ptr, a->opaque.len) == 0;
}

/* RFC 9110 §8.8.3.2: strong - both strong and identical octets. */
bool nm_etag_strong_eq(const nm_etag_t *a, const nm_etag_t *b)
{
    return !a->is_weak && !b->is_weak && opaque_eq(a, b);
}

/* RFC 9110 §8.8.3.2: weak - identical opaque-tags, weakness ignored. */
bool nm_etag_weak_eq(const nm_etag_t *a, const nm_etag_t *b)
{
    return opaque_eq(a, b);
}

/* The field is "*" / #entity-tag (RFC 9110 §13.1.1, §13.1.2). The whole
 * value is checked even after a match: a malformed member anywhere makes
 * the field unusable, and callers then never send a 304 (when in doubt,
 * the server's 200 passes: that is always a correct answer). "*" must be
 * the only non-OWS content: "*, *" from two field lines, or "*" next to
 * tags, are not in the grammar. A value with no member at all (empty, or
 * only OWS and commas) is not in the grammar either (#entity-tag needs one
 * element in a field that is sent). */
int nm_etag_list_match(const char *value, size_t len, const nm_etag_t *current,
                       bool use_weak)
{
    size_t i = 0;
    size_t members = 0;
    bool is_match = false;

    if (value == NULL)
        return NM_E_PARSE;

    size_t b = 0, e = len;
    while (b < e && is_ows(value[b]))
        b++;
    while (e > b && is_ows(value[e - 1]))
        e--;
    if (e - b == 1 && value[b] == '*')
        return NM_ETAG_MATCH; /* any current representation, tag or not */

    while (i < len) {
        /* Skip OWS and empty list elements (RFC 9110 §5.6.1.2). */
        if (is_ows(value[i]) || value[i] == ',') {
            i++;
            continue;
        }
        nm_etag_t tag;
        if (scan_tag(value, len, &i, &tag) != NM_OK)
            return NM_E_PARSE; /* includes "*" among other members */
        while (i < len && is_ows(value[i]))
            i++;
        if (i < len && value[i] != ',')
            return NM_E_PARSE; /* junk after a tag: "a" "b", "a"x */
        members++;
        if (current != NULL && !is_match)
            is_match = use_weak ? nm_etag_weak_eq(&tag, current)
                                : nm_etag_strong_eq(&tag, current);
    }
    if (members == 0)
        return NM_E_PARSE;
    return is_match ? NM_ETAG_MATCH : NM_ETAG_NO_MATCH;
}
