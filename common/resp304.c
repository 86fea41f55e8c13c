/* resp304.c - builds the 304 that replaces a 200 (see resp304.h). */
#include "resp304.h"

#include "http_hdr.h"
#include "httpdate.h"

#include <string.h>

/* Representation metadata a 304 SHOULD NOT carry (RFC 9110 §15.4.5), and
 * framing fields that would desynchronise a keep-alive client (a 304 ends
 * at its empty line). Everything else is copied verbatim, in order:
 * Cache-Control, Content-Location, Date, ETag, Expires, Vary (MUSTs), and
 * Set-Cookie, Connection, Keep-Alive, Server and extension fields. We keep
 * Last-Modified too: a cache replaces its stored fields with the 304's
 * (RFC 9111 §4.3.4), and nginx and Django keep it, so IMS-only clients go
 * on revalidating. */
static const char *const dropped[] = {
    "content-type",        "content-length", "content-encoding",
    "content-language",    "content-range",  "content-md5",
    "content-disposition", "transfer-encoding", "trailer",
    "accept-ranges",
};

bool nm_resp304_keeps_field(const char *name, size_t len)
{
    for (size_t i = 0; i < sizeof(dropped) / sizeof(dropped[0]); i++)
        if (nm_hdr_name_is(name, len, dropped[i]))
            return false;
    return true;
}

/* Appends n bytes at *pos; false when out of room. */
static bool put(char *out, size_t cap, size_t *pos, const char *s, size_t n)
{
    if (n > cap - *pos)
        return false;
    memcpy(out + *pos, s, n);
    *pos += n;
    return true;
}

long nm_resp304_build(const char *head, size_t head_len, const char *extra,
                      size_t extra_len, int64_t now_unix, char *out,
                      size_t out_cap)
{
    if (head == NULL || out == NULL || (extra == NULL && extra_len > 0))
        return NM_E_INVAL;
    /* "HTTP/1.x " then a status: keep the server's version. */
    if (head_len < 13 || memcmp(head, "HTTP/1.", 7) != 0 ||
        (head[7] != '0' && head[7] != '1') || head[8] != ' ')
        return NM_E_PARSE;
    size_t pos = 0;
    if (!put(out, out_cap, &pos, head, 9) ||
        !put(out, out_cap, &pos, "304 Not Modified\r\n", 18))
        return NM_E_NOSPACE;
    size_t at = 0;
    bool has_date = false;
    nm_hdr_field_t f;
    int r;
    while ((r = nm_hdr_next(head, head_len, &at, &f)) == 1) {
        if (nm_hdr_name_is(f.name.ptr, f.name.len, "date"))
            has_date = true;
        /* Copied verbatim but for the line end: the 304 uses CRLF even
         * when a CGI's head used bare LF. */
        size_t content = (size_t)(f.value.ptr + f.value.len - f.line.ptr);
        if (nm_resp304_keeps_field(f.name.ptr, f.name.len) &&
            (!put(out, out_cap, &pos, f.line.ptr, content) ||
             !put(out, out_cap, &pos, "\r\n", 2)))
            return NM_E_NOSPACE;
    }
    if (r < 0)
        return NM_E_PARSE;
    if (!has_date) { /* an origin with a clock always sends Date */
        char date[NM_HTTPDATE_LEN + 1];
        if (nm_httpdate_format(now_unix, date) < 0)
            return NM_E_INVAL;
        if (!put(out, out_cap, &pos, "Date: ", 6) ||
            !put(out, out_cap, &pos, date, NM_HTTPDATE_LEN) ||
            !put(out, out_cap, &pos, "\r\n", 2))
            return NM_E_NOSPACE;
    }
    if (!put(out, out_cap, &pos, extra, extra_len) ||
        !put(out, out_cap, &pos, "\r\n", 2))
        return NM_E_NOSPACE;
    return (long)pos;
}
