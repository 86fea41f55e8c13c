/* httpdate.h - HTTP-date (RFC 9110 §5.6.7): parse IMF-fixdate, RFC 850 and
 * asctime forms, format IMF-fixdate. Pure: the caller passes "now" for the
 * RFC 850 two-digit-year rule. Used by cond.c, resp304.c and the daemon. */
#ifndef NM_HTTPDATE_H
#define NM_HTTPDATE_H

#include "nm.h"

/* Length of an IMF-fixdate, e.g. "Sun, 06 Nov 1994 08:49:37 GMT". */
#define NM_HTTPDATE_LEN 29

/* Parses s (surrounding whitespace allowed, nothing else) into seconds since
 * the epoch. now_unix resolves RFC 850 years. Returns 0 or NM_E_PARSE for
 * anything else (bad day or month, ISO 8601, trailing junk, two dates). */
int nm_httpdate_parse(const char *s, size_t len, int64_t now_unix,
                      int64_t *out_unix);

/* Writes the IMF-fixdate of t into out (at least NM_HTTPDATE_LEN + 1 bytes,
 * NUL-terminated). Returns NM_HTTPDATE_LEN, or NM_E_INVAL when t is outside
 * years 0000-9999. */
int nm_httpdate_format(int64_t t_unix, char *out);

#endif
