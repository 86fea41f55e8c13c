/* decide.h - the decision, pure: what becomes of a would-be 200, given its
 * request's conditions and what the shim knows of its URL. It passes as
 * the server wrote it, gets notmod's validators (a tag known already, or
 * one hashed from the held body), or a 304 goes out instead (RFC 9110
 * §13.2.2, through common/cond.c). No I/O, no clock, no globals: the
 * caller gathers the facts (the store's view, hold.c's limits, now) and
 * sends what is decided; tests/unit/test_decide.c drives it as a table.
 * Used by answer.c and phase.c; it includes nothing of the shim. */
#ifndef NM_SHIM_DECIDE_H
#define NM_SHIM_DECIDE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cond.h"
#include "http_req.h"
#include "http_resp.h"
#include "snapshot.h"

typedef enum nm_verdict {
    NM_VERDICT_PASS,         /* the server's bytes go out as written */
    NM_VERDICT_NOT_MODIFIED, /* a 304 replaces the 200 */
    NM_VERDICT_OURS,         /* a 200 without ETag: notmod's tag may be
                                added (one known already, or hashed) */
    NM_VERDICT_HOLD,         /* hold the body and hash it for the tag */
    NM_VERDICT_TAG,          /* the 200 goes out with notmod's tag */
} nm_verdict_t;

/* One response at its complete head, and what the caller found out. */
typedef struct nm_decide_in {
    const nm_req_t *req;
    const nm_resp_t *resp;
    int64_t now;       /* time(): If-Modified-Since, Date */
    bool is_disabled;  /* the store disables the route (read for a 200) */
    bool is_too_large; /* hold.c: the declared body is over the limit */
    bool can_hold;     /* hold.c: a body of this length may be held now */
} nm_decide_in_t;

/* What the report says of a response: nm_event_outcome_t, and the
 * NM_REASON_* of NM_OUTCOME_NOT_HANDLED. */
typedef struct nm_decide_note {
    uint8_t outcome;
    uint16_t reason;
} nm_decide_note_t;

/* What notmod adds to a 200 without validators: its tag and, when the
 * store's date for that tag can be trusted, a Last-Modified; and a Date
 * when the server sent none (RFC 9110 §6.6.1), so that the 200s and 304s
 * of one URL agree for a cache that compares them. */
typedef struct nm_synth {
    char tag[NM_SNAPSHOT_TAG_MAX + 1];
    size_t tag_len;
    int64_t last_modified; /* -1: none to add */
    int64_t date;          /* the Date the response carries, -1: unknown */
    bool needs_date;       /* the server sent no Date: we add it */
} nm_synth_t;

/* Is this request one a 304 could answer (GET/HEAD with If-None-Match or
 * If-Modified-Since, none of it truncated)? */
bool nm_decide_is_conditional(const nm_req_t *req);

/* The request's side of a condition check (method and the four
 * conditional fields, with their truncation and multiple-line flags);
 * the caller fills the response's validators, status and now. */
void nm_decide_cond_request(const nm_req_t *req, nm_cond_input_t *in);

/* RFC 9110 §13.2.2: may this 200 become a 304? With sy, the validators
 * are notmod's (its Last-Modified matched exactly); without, the
 * server's. */
bool nm_decide_not_modified(const nm_req_t *req, const nm_resp_t *resp,
                            const nm_synth_t *sy, int64_t now);

/* At the complete head of a response to GET or HEAD: NOT_MODIFIED (the
 * server's own validators match, and the body will not be held for a tag:
 * a held 200 decides once its tag is known, so that its 304 carries that
 * ETag, RFC 9110 §15.4.5), OURS (a 200 without ETag, not disabled) or
 * PASS. Sets note for statuses and disabled routes. */
nm_verdict_t nm_decide_head(const nm_decide_in_t *in, nm_decide_note_t *note);

/* Could this response take notmod's tag (OURS at the head)? For a caller
 * whose 304 could not be sent after all. */
bool nm_decide_is_ours(const nm_decide_in_t *in);

/* The operator's pin for the URL, if the store has one: a tag known
 * without the body. NULL when none. */
const char *nm_decide_pinned_tag(const nm_snapshot_hit_t *hit);

/* OURS with no tag known: HOLD a GET's body if hold.c allows it, else
 * PASS (noting a body over the limit). */
nm_verdict_t nm_decide_untagged(const nm_decide_in_t *in,
                                nm_decide_note_t *note);

/* Starts sy for tag on resp: the Date it will carry. True when the server
 * sent no Last-Modified, so that the store's date could be added: then
 * call nm_decide_synth_date. */
bool nm_decide_synth_start(nm_synth_t *sy, const nm_resp_t *resp,
                           const char *tag, int64_t now);

/* The store's date for the URL (hit, NULL: nothing) becomes sy's
 * Last-Modified only when all hold (docs/validators.md): the store's
 * current tag is the one served, no other tag went out for the URL from
 * this server since the store could have dated it (other_since, from
 * tagwatch.h; INT64_MAX: unknown), and the date is not after the
 * response's Date, so a date is published only once the clock has
 * reached it. */
void nm_decide_synth_date(nm_synth_t *sy, const nm_snapshot_hit_t *hit,
                          int64_t other_since);

/* With notmod's tag known (sy): NOT_MODIFIED when the request's
 * conditions match it, else TAG. */
nm_verdict_t nm_decide_tagged(const nm_decide_in_t *in, const nm_synth_t *sy);

/* Could the server's own 304 (resp) to req take the tag of its URL's
 * file? A 304 to GET or HEAD without an ETag of its own, whose request was
 * read whole. Spares the caller its file lookup otherwise. */
bool nm_decide_server_304_needs_tag(const nm_req_t *req, const nm_resp_t *resp);

/* RFC 9110 §15.4.5: the server's own 304 carries the ETag its 200 would.
 * tag is the one the URL's 200 got from a file unchanged since, whose
 * Last-Modified was file_lm. True when the 304 vouches for that file's
 * bytes: If-None-Match (never "*") lists the tag, or, without it, the
 * server judged If-Modified-Since against that same date (file_lm no later
 * than it, and the 304's own Last-Modified, if any, equal to file_lm). A
 * client holding another tag must not be given this one: it would name
 * bytes the client does not have. */
bool nm_decide_tag_server_304(const nm_req_t *req, const nm_resp_t *resp,
                              const char *tag, int64_t file_lm, int64_t now);

/* The field lines sy adds ("ETag: ...", maybe "Last-Modified: ..." and,
 * with is_200, "Date: ..."), CRLF-terminated, into out; returns their
 * length, 0 when they do not fit. A 304 gets its Date from
 * nm_resp304_build. */
size_t nm_decide_synth_lines(const nm_synth_t *sy, bool is_200, char *out,
                             size_t cap);

#endif
