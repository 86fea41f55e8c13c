/* url.c - see url.h. */
#include "url.h"

#include "origin.h"

#include <string.h>
#include <strings.h>

/* Bytes never valid in a Host or request-target; excluding them keeps keys
 * safe as protocol tokens and Redis key parts. */
static int has_bad_byte(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c <= 0x20 || c == 0x7f || c == '#')
            return 1;
    }
    return 0;
}

/* host (lower-cased, default port dropped) + target into out. */
static int join(const char *host, size_t hlen, const char *target, size_t tlen,
                int default_port, char *out, size_t cap)
{
    char port[8];
    int plen = default_port == 443 ? 4 : 3;
    memcpy(port, default_port == 443 ? ":443" : ":80", (size_t)plen);
    if (default_port && hlen > (size_t)plen &&
        memcmp(host + hlen - plen, port, (size_t)plen) == 0)
        hlen -= (size_t)plen;
    if (hlen == 0 || hlen > 255 || memchr(host, '/', hlen) ||
        has_bad_byte(host, hlen) || has_bad_byte(target, tlen))
        return NM_E_PARSE;
    if (tlen == 0) {
        target = "/";
        tlen = 1;
    }
    if (target[0] != '/' || tlen > 2048 || hlen + tlen + 1 > cap)
        return NM_E_PARSE;
    for (size_t i = 0; i < hlen; i++) {
        char c = host[i];
        out[i] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
    }
    memcpy(out + hlen, target, tlen);
    out[hlen + tlen] = '\0';
    return (int)(hlen + tlen);
}

/* Parses scheme://host... or host/...; sets the default port to strip. */
static int parse_url(const char *url, size_t len, char *out, size_t cap)
{
    int default_port = 80; /* "host/p" is http */
    if (len >= 7 && strncasecmp(url, "http://", 7) == 0) {
        url += 7, len -= 7, default_port = 80;
    } else if (len >= 8 && strncasecmp(url, "https://", 8) == 0) {
        url += 8, len -= 8, default_port = 443;
    } else if (memmem(url, len, "://", 3)) {
        return NM_E_PARSE;
    }
    const char *slash = memchr(url, '/', len);
    const char *q = memchr(url, '?', len);
    if (q && (!slash || q < slash))
        slash = NULL; /* "host?x" has no path: reject below */
    size_t hlen = slash ? (size_t)(slash - url) : len;
    if (!slash && q)
        return NM_E_PARSE;
    if (memchr(url, '@', hlen))
        return NM_E_PARSE; /* userinfo never reaches a server */
    return join(url, hlen, url + hlen, len - hlen, default_port, out, cap);
}

int nm_url_key(const char *url, char *out, size_t cap, const char **why)
{
    size_t len = strlen(url);
    int n = (len == 0 || url[0] == '/') ? NM_E_PARSE
                                        : parse_url(url, len, out, cap);
    if (n < 0 && why)
        *why = "expected http://host[:port]/path[?query]";
    return n;
}

int nm_url_key_from_parts(nm_slice_t host, nm_slice_t target, char *out,
                          size_t cap)
{
    if (!target.ptr || target.len == 0)
        return NM_E_PARSE;
    if (target.ptr[0] != '/')
        return target.len < NM_URL_MAX
                   ? parse_url(target.ptr, target.len, out, cap)
                   : NM_E_PARSE;
    if (!host.ptr)
        return NM_E_PARSE;
    /* Host "example.com:80" is "example.com" (origin.h): one record. */
    return join(host.ptr, host.len, target.ptr, target.len, 80, out, cap);
}

int nm_url_prefix(const char *prefix, char *out, size_t cap, const char **why)
{
    size_t len = strlen(prefix);
    int n;
    if (len > 0 && prefix[0] == '/') {
        n = (len < cap && !has_bad_byte(prefix, len)) ? (int)len : NM_E_PARSE;
        if (n > 0)
            memcpy(out, prefix, len + 1);
    } else {
        n = len ? parse_url(prefix, len, out, cap) : NM_E_PARSE;
    }
    if (n > 0 && strchr(out, '?'))
        n = NM_E_PARSE;
    if (n < 0) {
        if (why)
            *why = "expected /path, host/path or http://host/path";
        return n;
    }
    /* The path as requests are matched (nm_snapshot_is_disabled): "/%70"
     * is "/p"; then nm_snapshot_prefix_len's trailing '/' rule. */
    char *path = strchr(out, '/');
    char norm[NM_URL_MAX];
    int nn = nm_origin_path(path, strlen(path), norm, sizeof(norm));
    if (nn < 0) {
        if (why)
            *why = "prefix path cannot be normalized (encoded '/' or '\\', "
                   "bad '%', '..' above the root)";
        return NM_E_PARSE;
    }
    memcpy(path, norm, (size_t)nn);
    path[nn] = '\0';
    size_t plen = (size_t)nn;
    while (plen > 1 && path[plen - 1] == '/')
        path[--plen] = '\0';
    n = (int)((size_t)(path - out) + plen);
    return n;
}

void nm_url_split(const char *key, nm_slice_t *host, nm_slice_t *target)
{
    const char *slash = strchr(key, '/');
    if (!slash)
        slash = key + strlen(key);
    host->ptr = key;
    host->len = (size_t)(slash - key);
    target->ptr = slash;
    target->len = strlen(slash);
}

int nm_url_route(const char *key, char *out, size_t cap)
{
    size_t n = strcspn(key, "?");
    if (n >= cap)
        return NM_E_NOSPACE;
    memcpy(out, key, n);
    out[n] = '\0';
    return (int)n;
}
