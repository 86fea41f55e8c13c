/* origin.h - one identity per resource, whatever spelling the client used.
 * Store keys, counters and routes are made of a host and a request-target;
 * RFC 9110 §4.2.3 makes "example.com", "EXAMPLE.com" and "example.com:80"
 * one origin, and RFC 9112 §3.2.2 makes an absolute-form target the same as
 * origin-form plus Host. Route policy is matched on a normalized path
 * (RFC 3986 §6.2.2). Used by the shim, the daemon and the pcap observer. */
#ifndef NM_ORIGIN_H
#define NM_ORIGIN_H

#include "nm.h"

/* Copies n bytes of src to dst (the same buffer is fine) with ASCII upper
 * case folded, a word at a time: hosts are folded on every request. */
void nm_origin_fold(char *dst, const char *src, size_t n);

/* Canonical form of an origin, in place: an absolute-form target
 * ("http://Host:80/p?q") moves its authority into host and keeps "/p?q";
 * the host is lower-cased and loses the scheme's default port (":80", or
 * ":443" for https and for default_port 443). *host_len and *target_len are
 * updated; host must have room for host_cap bytes. Returns NM_OK, or
 * NM_E_PARSE for a target that is neither origin- nor absolute-form with
 * an http(s) scheme, or an authority that does not fit host_cap. */
int nm_origin_canon(char *host, size_t *host_len, size_t host_cap, char *target,
                    size_t *target_len, int default_port);

/* The path of target (query excluded) normalized into out: percent-encoded
 * unreserved characters decoded, other escapes with upper-case hex, "." and
 * ".." segments removed, repeated '/' merged. Returns the length, or
 * NM_E_UNSUPPORTED when the path cannot be normalized safely (an encoded
 * '/', '\' or NUL, a backslash, a malformed '%', ".." above the root): a
 * server may read it as another path than we would. NM_E_PARSE when target
 * does not start with '/', NM_E_NOSPACE when out is too small. */
int nm_origin_path(const char *target, size_t len, char *out, size_t cap);

/* True when nm_origin_path would change nothing or fail: the path has no
 * '%', '\', "//" or dot segment. A cheap test before a normalization. */
bool nm_origin_path_is_plain(const char *target, size_t len);

#endif
