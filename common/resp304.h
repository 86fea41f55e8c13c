/* resp304.h - builds the 304 that replaces a 200 (RFC 9110 §15.4.5): same
 * HTTP version, the fields a 304 must or may keep copied verbatim in their
 * order, representation metadata dropped, a Date added when the 200 had
 * none, no body. Used by the shim; output goes into the caller's buffer. */
#ifndef NM_RESP304_H
#define NM_RESP304_H

#include "nm.h"

/* head: the 200's complete head (status line .. empty line; bytes after
 * the empty line are ignored). extra: field lines to add (each ending
 * CRLF, e.g. a synthesized ETag; at most 16), may be empty; they follow
 * the 200's kept fields and the generated Date, and each replaces the
 * 200's fields of its name (a Date among them replaces the 200's Date and
 * the generated one). now_unix: used for Date when neither has one. Returns the
 * 304's length, NM_E_NOSPACE when out_cap is too small (nothing usable
 * written), NM_E_PARSE when head is not a well-formed response head (CRLF
 * line ends only), or NM_E_INVAL for malformed extra lines, NULL
 * arguments, or a now_unix outside years 0000-9999. */
long nm_resp304_build(const char *head, size_t head_len, const char *extra,
                      size_t extra_len, int64_t now_unix, char *out,
                      size_t out_cap);

/* The same 304 for a head the response parser (http_resp.h) accepted,
 * from the offsets of its field lines it recorded (nm_resp_t.line_start,
 * line_count): the head is not scanned a second time. NM_E_INVAL when the
 * offsets cannot be this head's; otherwise as nm_resp304_build. */
long nm_resp304_build_lines(const char *head, size_t head_len,
                            const uint32_t *line_start, size_t count,
                            const char *extra, size_t extra_len,
                            int64_t now_unix, char *out, size_t out_cap);

/* True when a field of this name is carried from the 200 to the 304. */
bool nm_resp304_keeps_field(const char *name, size_t len);

#endif
