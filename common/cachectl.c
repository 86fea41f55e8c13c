/* cachectl.c - see cachectl.h.
 *
 * Grammar (RFC 9111 §5.2, RFC 9110 §5.6.1-§5.6.4):
 *   Cache-Control   = #cache-directive
 *   cache-directive = token [ "=" ( token / quoted-string ) ]
 * A comma inside a quoted string (no-cache="Set-Cookie, X") does not end
 * the directive. Whitespace around "=" is not in the grammar: such a
 * field is malformed, and a malformed field never lets a response be
 * reused. */
#include "cachectl.h"

#include "http_common.h"

#include <string.h>

void nm_cachectl_init(nm_cachectl_t *cc)
{
    memset(cc, 0, sizeof(*cc));
}

static bool is_tchar(unsigned char c)
{
    return nm_http_cc[c] & NM_CC_TCHAR;
}

static bool is_ows(char c)
{
    return c == ' ' || c == '\t';
}

/* name (len bytes) equals lower-case want, ignoring case. */
static bool name_is(const char *name, size_t len, const char *want)
{
    if (strlen(want) != len)
        return false;
    for (size_t i = 0; i < len; i++)
        if (nm_http_lower((unsigned char)name[i]) != (unsigned char)want[i])
            return false;
    return true;
}

int nm_cachectl_delta(const char *s, size_t len, int64_t *out)
{
    if (!s || len == 0 || !out)
        return NM_E_PARSE;
    int64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return NM_E_PARSE;
        if (v < NM_CACHECTL_DELTA_MAX)
            v = v * 10 + (s[i] - '0');
    }
    *out = v < NM_CACHECTL_DELTA_MAX ? v : NM_CACHECTL_DELTA_MAX;
    return NM_OK;
}

/* A directive with a number: a second occurrence with another value makes
 * the field unusable (§4.2.1: the response may be considered stale). */
static void set_delta(nm_cachectl_t *cc, uint32_t flag, int64_t *slot,
                      const char *arg, size_t arg_len, bool has_arg)
{
    int64_t v;
    /* A quoted "60" arrives here unquoted; any escape makes it fail. */
    if (!has_arg || nm_cachectl_delta(arg, arg_len, &v) < 0) {
        cc->flags |= NM_CACHECTL_INVALID;
        return;
    }
    if ((cc->flags & flag) && *slot != v)
        cc->flags |= NM_CACHECTL_INVALID;
    cc->flags |= flag;
    *slot = v;
}

static void apply(nm_cachectl_t *cc, const char *name, size_t len,
                  const char *arg, size_t arg_len, bool has_arg)
{
    static const struct {
        const char *name;
        uint32_t flag;
    } plain[] = {
        /* Restrictive: an argument, defined or not, does not lift them
         * (no-cache="f" and private="f" are the qualified forms, which a
         * cache may also honour as the unqualified ones, §5.2.2.4). */
        {"no-store", NM_CACHECTL_NO_STORE},
        {"no-cache", NM_CACHECTL_NO_CACHE},
        {"private", NM_CACHECTL_PRIVATE},
        {"must-revalidate", NM_CACHECTL_MUST_REVALIDATE},
        {"proxy-revalidate", NM_CACHECTL_PROXY_REVALIDATE},
        {"max-stale", NM_CACHECTL_MAX_STALE},
        {"only-if-cached", NM_CACHECTL_ONLY_IF_CACHED},
    };
    for (size_t i = 0; i < sizeof(plain) / sizeof(plain[0]); i++) {
        if (name_is(name, len, plain[i].name)) {
            cc->flags |= plain[i].flag;
            return;
        }
    }
    if (name_is(name, len, "public")) {
        /* public widens what may be reused (Authorization, §3.5): only in
         * its defined form. */
        cc->flags |= has_arg ? NM_CACHECTL_INVALID : NM_CACHECTL_PUBLIC;
    } else if (name_is(name, len, "max-age")) {
        set_delta(cc, NM_CACHECTL_MAX_AGE, &cc->max_age_s, arg, arg_len,
                  has_arg);
    } else if (name_is(name, len, "s-maxage")) {
        set_delta(cc, NM_CACHECTL_S_MAXAGE, &cc->s_maxage_s, arg, arg_len,
                  has_arg);
    } else if (name_is(name, len, "min-fresh")) {
        set_delta(cc, NM_CACHECTL_MIN_FRESH, &cc->min_fresh_s, arg, arg_len,
                  has_arg);
    }
    /* Anything else is an extension: ignored (§5.2.3). */
}

/* quoted-string = DQUOTE *( qdtext / quoted-pair ) DQUOTE from v[*i] (the
 * opening quote). The content (escapes left in) goes to *arg; false when
 * the string does not end or holds a byte a field value cannot. */
static bool quoted(const char *v, size_t len, size_t *i, const char **arg,
                   size_t *arg_len)
{
    size_t k = *i + 1;
    for (; k < len && v[k] != '"'; k++) {
        unsigned char c = (unsigned char)v[k];
        if (c == '\\' && k + 1 < len)
            k++;
        else if (!(nm_http_cc[c] & NM_CC_VALUE))
            return false;
    }
    if (k >= len)
        return false;
    *arg = v + *i + 1;
    *arg_len = k - *i - 1;
    *i = k + 1;
    return true;
}

int nm_cachectl_parse(nm_cachectl_t *cc, const char *value, size_t len)
{
    if (!cc || (!value && len))
        return NM_E_INVAL;
    size_t i = 0;
    for (;;) {
        while (i < len && (is_ows(value[i]) || value[i] == ','))
            i++;
        if (i == len)
            return NM_OK;
        size_t name = i;
        while (i < len && is_tchar((unsigned char)value[i]))
            i++;
        size_t name_len = i - name;
        const char *arg = NULL;
        size_t arg_len = 0;
        bool has_arg = i < len && value[i] == '=';
        bool is_ok = name_len > 0;
        if (is_ok && has_arg) {
            i++;
            if (i < len && value[i] == '"') {
                is_ok = quoted(value, len, &i, &arg, &arg_len);
            } else {
                arg = value + i;
                while (i < len && is_tchar((unsigned char)value[i]))
                    i++;
                arg_len = (size_t)(value + i - arg);
                is_ok = arg_len > 0;
            }
        }
        while (is_ok && i < len && is_ows(value[i]))
            i++;
        if (!is_ok || (i < len && value[i] != ',')) {
            cc->flags |= NM_CACHECTL_INVALID;
            return NM_E_PARSE;
        }
        apply(cc, value + name, name_len, arg, arg_len, has_arg);
    }
}
