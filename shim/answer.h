/* answer.h - what the shim sends in place of, or in front of, the
 * server's bytes once the decision (decide.h) is made: a 304 built from the
 * 200's head, or the 200's head with notmod's validators added and what
 * was held of its body behind it. Gathers what the decision needs besides
 * the messages: the store's view of the URL, which tag this server last
 * served for it (tagwatch.h), the tag of a file a HEAD names (headcache.h).
 * Used by phase.c. */
#ifndef NM_SHIM_ANSWER_H
#define NM_SHIM_ANSWER_H

#include "conn.h"
#include "decide.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Sends the 304 for c's complete 200 head (sy: with notmod's validators,
 * NULL: the server's); false when it cannot be built (memory). */
bool nm_answer_304(struct nm_conn *c, const char *head, size_t head_len,
                   const nm_synth_t *sy, int64_t now);

/* A tag for c's 200 known without its body, into out (NM_SNAPSHOT_TAG_MAX
 * + 1 bytes): the operator's pin (hit: the store's entry for the URL,
 * NULL: none), or for a HEAD the tag this process gave the same URL's GET
 * of a file that has not changed. */
bool nm_answer_known_tag(const struct nm_conn *c, const nm_snapshot_hit_t *hit,
                         char *out);

/* c's complete 200 head (and what is held of its body) has notmod's tag:
 * answers 304 when the request's conditions match it (true), else sends
 * the head with the tag added, then the held body (false). */
bool nm_answer_with_tag(struct nm_conn *c, const char *head, size_t head_len,
                        const char *tag, const nm_snapshot_hit_t *hit,
                        int64_t now);

/* c's complete head is the server's own 304 without an ETag: when its
 * URL's 200 was a file that has not changed and the 304 vouches for those
 * bytes (nm_decide_tag_server_304), sends the head with that file's tag
 * added and returns true; else false, and the head passes unchanged. */
bool nm_answer_server_304(struct nm_conn *c, const char *head, size_t head_len,
                          int64_t now);

/* The held 200 of c is complete and tag is its body's: answers as
 * nm_answer_with_tag from the held head and body, then frees the hold. */
bool nm_answer_held(struct nm_conn *c, const char *tag);

#endif
