/* etag.h - entity-tags (RFC 9110 §8.8.3): parse one, compare two strongly
 * or weakly, and match an If-None-Match / If-Match field value (a list or
 * "*") against the current tag. Used by cond.c and the shim. */
#ifndef NM_ETAG_H
#define NM_ETAG_H

#include "nm.h"

/* A parsed entity-tag; opaque includes the surrounding DQUOTEs. */
typedef struct nm_etag {
    bool is_weak;
    nm_slice_t opaque;
} nm_etag_t;

/* Parses exactly one entity-tag filling all of s (no surrounding spaces).
 * Returns 0 or NM_E_PARSE. */
int nm_etag_parse(const char *s, size_t len, nm_etag_t *out);

/* RFC 9110 §8.8.3.2 comparisons. */
bool nm_etag_strong_eq(const nm_etag_t *a, const nm_etag_t *b);
bool nm_etag_weak_eq(const nm_etag_t *a, const nm_etag_t *b);

enum { NM_ETAG_NO_MATCH = 0, NM_ETAG_MATCH = 1 };

/* Matches a field value ("*" or #entity-tag, repeated lines already joined
 * with commas) against current (NULL when the representation has no tag).
 * "*" matches any current representation. Returns NM_ETAG_MATCH,
 * NM_ETAG_NO_MATCH, or NM_E_PARSE when the value is malformed anywhere
 * ("*" mixed with tags included): callers must then not send a 304. */
int nm_etag_list_match(const char *value, size_t len, const nm_etag_t *current,
                       bool use_weak);

#endif
