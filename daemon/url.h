/* url.h - the daemon's URL keys. A store key is host + request-target with
 * nothing between ("example.com:8080/a?b=1"): the host is lower-cased and
 * carries the port as the Host field does. Route keys drop the query;
 * prefixes are "/path" (every host) or "host/path". Used by the control
 * socket, the event intake and notmodctl (to reject bad URLs early). */
#ifndef NM_URL_H
#define NM_URL_H

#include <stddef.h>

#include "nm.h"

#define NM_URL_MAX 2304 /* host (255) + target (2048) + NUL */

/* Normalizes "http[s]://host[:port][/target]" or "host/target" into a key.
 * Returns the key length, or NM_E_PARSE with a reason in *why. */
int nm_url_key(const char *url, char *out, size_t cap, const char **why);

/* Builds a key from a Host field and a request-target as a shim reports
 * them (origin-form "/p?q" or absolute-form "http://h/p"). Returns the
 * length or NM_E_PARSE (asterisk-form, no host...). */
int nm_url_key_from_parts(nm_slice_t host, nm_slice_t target, char *out,
                          size_t cap);

/* Normalizes a route prefix: "/path" stays host-less, anything else is
 * read as a URL; trailing '/' dropped, query refused. */
int nm_url_prefix(const char *prefix, char *out, size_t cap, const char **why);

/* Splits a key (or prefix) into host (maybe empty) and target/path. */
void nm_url_split(const char *key, nm_slice_t *host, nm_slice_t *target);

/* The route of a key: host + path without the query. */
int nm_url_route(const char *key, char *out, size_t cap);

#endif
