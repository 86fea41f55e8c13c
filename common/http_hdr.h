/* http_hdr.h - read-only access to a complete, contiguous header block
 * (status or request line, field lines, empty line): iterate the fields,
 * find one by name case-insensitively, join repeated fields. Used by
 * resp304 and by the shim on held heads; the parsers have checked syntax. */
#ifndef NM_HTTP_HDR_H
#define NM_HTTP_HDR_H

#include "nm.h"

/* One field line inside a block: name and value (OWS trimmed), and the
 * whole line including its CRLF, so callers can copy it verbatim. */
typedef struct nm_hdr_field {
    nm_slice_t name;
    nm_slice_t value;
    nm_slice_t line;
} nm_hdr_field_t;

/* Iterates fields: *pos starts at 0 (the first line is skipped). Returns 1
 * with *f filled, 0 at the empty line, NM_E_PARSE on a malformed line. */
int nm_hdr_next(const char *block, size_t len, size_t *pos, nm_hdr_field_t *f);

/* True when name (len bytes) equals lower-case want, ignoring case. */
bool nm_hdr_name_is(const char *name, size_t len, const char *want);

/* Finds the first field called name; returns 1 and its value, 0, or
 * NM_E_PARSE when a line before it is malformed. */
int nm_hdr_find(const char *block, size_t len, const char *name,
                nm_slice_t *value);

/* Counts the field lines called name; NM_E_PARSE on a malformed block. */
int nm_hdr_count(const char *block, size_t len, const char *name);

/* True when the comma list in value holds token (case-insensitive), e.g.
 * "close" in "Connection: keep-alive, Close". */
bool nm_hdr_list_has(const char *value, size_t len, const char *token);

#endif
