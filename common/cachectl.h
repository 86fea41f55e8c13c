/* cachectl.h - Cache-Control (RFC 9111 §5.2) as far as notmod acts on it:
 * the directives that decide whether a stored response may be reused, of a
 * response or of a request, gathered over one or more field lines. Used
 * by fresh.c (acceleration) and its tests. Pure, no allocation. */
#ifndef NM_CACHECTL_H
#define NM_CACHECTL_H

#include "nm.h"

/* nm_cachectl_t.flags: the directives seen. */
#define NM_CACHECTL_NO_STORE (1u << 0)
#define NM_CACHECTL_NO_CACHE (1u << 1) /* also no-cache="field, ..." */
#define NM_CACHECTL_PRIVATE (1u << 2)  /* also private="field, ..." */
#define NM_CACHECTL_PUBLIC (1u << 3)
#define NM_CACHECTL_MUST_REVALIDATE (1u << 4)
#define NM_CACHECTL_PROXY_REVALIDATE (1u << 5)
#define NM_CACHECTL_MAX_AGE (1u << 6)   /* max_age_s holds its value */
#define NM_CACHECTL_S_MAXAGE (1u << 7)  /* s_maxage_s holds its value */
#define NM_CACHECTL_MIN_FRESH (1u << 8) /* min_fresh_s holds its value */
#define NM_CACHECTL_MAX_STALE (1u << 9)
#define NM_CACHECTL_ONLY_IF_CACHED (1u << 10)
/* The field did not parse, a directive notmod acts on had a malformed
 * argument, or one with a number came twice with two values (RFC 9111
 * §4.2.1 lets a cache treat that as stale): whoever reads the result
 * must not reuse a stored response on its strength. */
#define NM_CACHECTL_INVALID (1u << 15)

/* delta-seconds above this are this (RFC 9111 §1.2.2). */
#define NM_CACHECTL_DELTA_MAX 2147483648LL

typedef struct nm_cachectl {
    uint32_t flags;
    int64_t max_age_s, s_maxage_s, min_fresh_s; /* valid with their flag */
} nm_cachectl_t;

/* Empties cc: no directive seen. */
void nm_cachectl_init(nm_cachectl_t *cc);

/* Adds the directives of one field value (a Cache-Control line) to cc;
 * call it once per line, in order. Directive names are case-insensitive,
 * arguments may be tokens or quoted strings (§5.2), unknown directives are
 * ignored (§5.2.3). Returns 0, or NM_E_PARSE with NM_CACHECTL_INVALID set
 * (what came before the error is kept). */
int nm_cachectl_parse(nm_cachectl_t *cc, const char *value, size_t len);

/* delta-seconds = 1*DIGIT (RFC 9111 §1.2.2) into *out, clamped to
 * NM_CACHECTL_DELTA_MAX. Returns 0, or NM_E_PARSE for anything but
 * digits. Also the Age field's grammar (§5.1). */
int nm_cachectl_delta(const char *s, size_t len, int64_t *out);

#endif
