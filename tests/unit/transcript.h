/* transcript.h - what the table-driven parser tests (test_http_req.c,
 * test_http_resp.c) write a parse into: a bounded text buffer, bytes shown
 * with control characters escaped, and the names of the error codes. */
#ifndef NM_TEST_TRANSCRIPT_H
#define NM_TEST_TRANSCRIPT_H

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

#include "nm.h"

#define OUT_MAX 8192

typedef struct out {
    char buf[OUT_MAX];
    size_t len;
} out_t;

static inline void put(out_t *o, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Appends printf output, truncated at the buffer's end. */
static inline void put(out_t *o, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(o->buf + o->len, OUT_MAX - o->len, fmt, ap);
    va_end(ap);
    if (n > 0)
        o->len +=
            (size_t)n < OUT_MAX - o->len ? (size_t)n : OUT_MAX - o->len - 1;
}

/* Appends n bytes, control and non-ASCII ones as \xNN; long runs as a
 * count. */
static inline void put_bytes(out_t *o, const char *s, size_t n)
{
    if (n > 80) {
        put(o, "[%zu bytes]", n);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c >= 0x7f)
            put(o, "\\x%02x", c);
        else
            put(o, "%c", c);
    }
}

/* The transcript name of an NM_E_* code. */
static inline const char *err_name(long rc)
{
    switch (rc) {
    case NM_E_PARSE:
        return "PARSE";
    case NM_E_AMBIGUOUS:
        return "AMBIGUOUS";
    case NM_E_TOO_LONG:
        return "TOO_LONG";
    case NM_E_UNSUPPORTED:
        return "UNSUPPORTED";
    case NM_E_INVAL:
        return "INVAL";
    default:
        return "?";
    }
}

#endif
