/* http_hdr.c - random access to a complete header block the parsers have
 * already accepted (the shim's held head, resp304's input). A plain
 * scanner: the block is contiguous, so no state survives between calls
 * except the caller's position. It still refuses what the parsers refuse
 * (obs-fold, bare LF, bad name bytes) rather than trusting its input. */
#include "http_hdr.h"
#include "http_common.h"

#include <string.h>

static bool is_ws(char c)
{
    return c == ' ' || c == '\t';
}

/* Offset just past the next line end at or after pos, or 0 if none; *cr
 * is where the line's content ends. Response heads may end lines with a
 * bare LF (RFC 9112 §2.2; CGI output), which the response parser allows. */
static size_t line_end(const char *b, size_t len, size_t pos, size_t *cr)
{
    const char *lf = memchr(b + pos, '\n', len - pos);
    if (!lf)
        return 0;
    *cr = (size_t)(lf - b);
    if (lf > b + pos && lf[-1] == '\r')
        (*cr)--;
    return (size_t)(lf - b) + 1;
}

int nm_hdr_next(const char *block, size_t len, size_t *pos, nm_hdr_field_t *f)
{
    size_t p, cr, end, colon, vs, ve;

    if (!block || !pos || !f || *pos > len)
        return NM_E_INVAL;
    p = *pos;
    if (p == 0) { /* skip the request or status line */
        end = line_end(block, len, 0, &cr);
        if (!end)
            return NM_E_PARSE;
        p = end;
    }
    if (p == len) { /* a block handed over without its empty line */
        *pos = p;
        return 0;
    }
    if (block[p] == '\n') {
        *pos = p + 1;
        return 0;
    }
    if (block[p] == '\r') {
        if (p + 1 < len && block[p + 1] == '\n') {
            *pos = p + 2;
            return 0;
        }
        return NM_E_PARSE;
    }
    end = line_end(block, len, p, &cr);
    if (!end)
        return NM_E_PARSE;
    for (colon = p;
         colon < cr && (nm_http_cc[(unsigned char)block[colon]] & NM_CC_TCHAR);
         colon++)
        ;
    if (colon == p || colon == cr || block[colon] != ':')
        return NM_E_PARSE; /* empty name, no colon, SP before colon, fold */
    for (vs = colon + 1; vs < cr && is_ws(block[vs]); vs++)
        ;
    for (ve = cr; ve > vs && is_ws(block[ve - 1]); ve--)
        ;
    for (size_t k = vs; k < ve; k++)
        if (!(nm_http_cc[(unsigned char)block[k]] & NM_CC_VALUE))
            return NM_E_PARSE;
    f->name.ptr = block + p;
    f->name.len = colon - p;
    f->value.ptr = block + vs;
    f->value.len = ve - vs;
    f->line.ptr = block + p;
    f->line.len = end - p;
    *pos = end;
    return 1;
}

bool nm_hdr_name_is(const char *name, size_t len, const char *want)
{
    size_t k;
    for (k = 0; k < len; k++) {
        if (want[k] == '\0' ||
            nm_http_lower((unsigned char)name[k]) != (unsigned char)want[k])
            return false;
    }
    return want[k] == '\0';
}

int nm_hdr_find(const char *block, size_t len, const char *name,
                nm_slice_t *value)
{
    size_t pos = 0;
    nm_hdr_field_t f;
    int rc;
    while ((rc = nm_hdr_next(block, len, &pos, &f)) == 1) {
        if (nm_hdr_name_is(f.name.ptr, f.name.len, name)) {
            *value = f.value;
            return 1;
        }
    }
    return rc < 0 ? rc : 0;
}

int nm_hdr_count(const char *block, size_t len, const char *name)
{
    size_t pos = 0;
    nm_hdr_field_t f;
    int rc, n = 0;
    while ((rc = nm_hdr_next(block, len, &pos, &f)) == 1)
        if (nm_hdr_name_is(f.name.ptr, f.name.len, name))
            n++;
    return rc < 0 ? rc : n;
}

bool nm_hdr_list_has(const char *value, size_t len, const char *token)
{
    size_t tlen = strlen(token), i = 0;
    while (i < len) {
        size_t s, e;
        while (i < len && (is_ws(value[i]) || value[i] == ','))
            i++;
        s = i;
        while (i < len && value[i] != ',')
            i++;
        e = i;
        while (e > s && is_ws(value[e - 1]))
            e--;
        if (e - s == tlen) {
            size_t k = 0;
            while (k < tlen && nm_http_lower((unsigned char)value[s + k]) ==
                                   nm_http_lower((unsigned char)token[k]))
                k++;
            if (k == tlen)
                return true;
        }
    }
    return false;
}
