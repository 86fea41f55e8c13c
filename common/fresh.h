/* fresh.h - acceleration (docs/acceleration.md): may a conditional request
 * be answered with a 304 built from a stored 200 head, before the server
 * sees it, and with which Age? RFC 9111's shared-cache rules over facts the
 * caller gathered from the two heads; when in doubt the request goes to the
 * server. Also: the facts taken from heads, the head a store keeps (§3.1)
 * and the accelerated 304 itself. Pure: times come in as arguments. Used
 * by the shim's read hook and the tests. */
#ifndef NM_FRESH_H
#define NM_FRESH_H

#include "cachectl.h"
#include "cond.h"
#include "nm.h"

/* Configured freshness of a route: seconds > 0 (the operator's lifetime),
 * NM_FRESH_ORIGIN (the origin's own), or 0 (not accelerated). */
#define NM_FRESH_ORIGIN (-1)
#define NM_FRESH_SECONDS_MAX 31536000 /* a year: an operator's lifetime */

/* A route's freshness as operators write it: SECONDS (1 to
 * NM_FRESH_SECONDS_MAX), "origin", or "never" (0: stops a shorter
 * prefix). Returns 0 with *fresh_s set, or NM_E_PARSE. Shared by
 * notmodctl, notmodd's control socket, its state file and Redis. */
int nm_fresh_setting_parse(const char *s, int64_t *fresh_s);

/* The text nm_fresh_setting_parse reads back, into out (24 bytes are
 * enough). Returns its length or NM_E_INVAL for a value of no kind. */
int nm_fresh_setting_format(int64_t fresh_s, char *out, size_t cap);

/* Longest normalized Accept-Encoding kept as a Vary key; longer: no key,
 * and a response that varies on it is never accelerated. */
#define NM_FRESH_KEY_MAX 96

/* Why a request goes to the server, or NM_FRESH_ACCELERATE. */
typedef enum nm_fresh_verdict {
    NM_FRESH_ACCELERATE = 0,
    NM_FRESH_OFF,             /* the route has no freshness configured */
    NM_FRESH_METHOD,          /* not GET or HEAD */
    NM_FRESH_NOT_CONDITIONAL, /* neither If-None-Match nor If-Modified-Since */
    NM_FRESH_PRECONDITION,    /* If-Match or If-Unmodified-Since */
    NM_FRESH_RANGE,           /* Range or If-Range */
    NM_FRESH_CONNECTION,      /* HTTP/1.0, Connection: close, Upgrade,
                                 Expect, a body, a stored 1.0 head */
    NM_FRESH_RELOAD,          /* request no-cache, no-store, max-age=0,
                                 Pragma: no-cache, malformed Cache-Control */
    NM_FRESH_TOO_OLD,         /* request max-age or min-fresh not met */
    NM_FRESH_NOT_STORABLE,    /* stored: not a 200, no-store, private,
                                 no-cache, malformed Cache-Control, Date,
                                 Age */
    NM_FRESH_SET_COOKIE,      /* stored: Set-Cookie */
    NM_FRESH_AUTHORIZATION,   /* Authorization without public / s-maxage */
    NM_FRESH_VARY,            /* stored: Vary other than Accept-Encoding, or
                                 another Accept-Encoding than this one's */
    NM_FRESH_NO_VALIDATOR,    /* stored: no validator, or one synthesized
                                 for a HEAD */
    NM_FRESH_MODIFIED,        /* the conditions do not match the stored
                                 validators (nm_cond_eval) */
    NM_FRESH_NO_LIFETIME,     /* "origin", and the origin declared none */
    NM_FRESH_STALE,           /* age >= freshness lifetime, or a clock that
                                 went back */
    NM_FRESH_VERDICT_COUNT_
} nm_fresh_verdict_t;

typedef enum nm_fresh_vary {
    NM_FRESH_VARY_NONE = 0,
    NM_FRESH_VARY_ENCODING, /* Vary: Accept-Encoding only */
    NM_FRESH_VARY_OTHER,    /* anything else, "*" included */
} nm_fresh_vary_t;

/* A request's facts (nm_fresh_req_parse). */
typedef struct nm_fresh_req {
    nm_method_t method;
    int version_minor; /* HTTP/1.x */
    nm_cachectl_t cc;
    bool has_pragma_no_cache;
    bool has_authorization;
    bool has_range; /* Range or If-Range */
    /* The connection or message is more than a plain GET/HEAD: a body
     * (Content-Length other than 0, Transfer-Encoding), Expect, Upgrade,
     * Connection: close (or HTTP/1.0 without keep-alive). */
    bool has_extra_semantics;
    /* Accept-Encoding normalized (nm_fresh_ae_key); has_ae: the field was
     * present; is_ae_keyed: ae_key holds it (false: unparsable, too long). */
    bool has_ae, is_ae_keyed;
    size_t ae_key_len;
    char ae_key[NM_FRESH_KEY_MAX];
} nm_fresh_req_t;

/* The stored 200's facts: nm_fresh_stored_parse fills the head's, the
 * caller the rest (nm_fresh_stored_set_request and the times). */
typedef struct nm_fresh_stored {
    int status;
    int version_minor;
    nm_cachectl_t cc;
    int64_t date_unix;    /* Date, -1 when absent */
    int64_t expires_unix; /* with has_expires; an invalid one is 0 (§5.3) */
    bool has_expires;
    int64_t age_s; /* its Age field, 0 without */
    bool has_set_cookie;
    bool is_malformed; /* two Dates or Ages, a bad Date or Age */
    nm_fresh_vary_t vary;
    bool has_validator; /* left with ETag or Last-Modified */
    /* Set by the caller: */
    bool is_synth_on_head; /* its validator was notmod's, for a HEAD */
    nm_fresh_req_t req;    /* the request it answered */
    int64_t request_unix;  /* that request complete (RFC 9111 request_time) */
    int64_t response_unix; /* the 200 sent (response_time) */
} nm_fresh_stored_t;

/* Facts of a request head (request line .. empty line, CRLF or LF).
 * Returns 0 or NM_E_PARSE (a malformed head: do not accelerate). */
int nm_fresh_req_parse(const char *head, size_t len, nm_fresh_req_t *rq);

/* Facts of a 200's head as it left (with the validators notmod added);
 * now_unix only resolves two-digit years. The caller then sets req,
 * is_synth_on_head and the times. Returns 0 or NM_E_PARSE. */
int nm_fresh_stored_parse(const char *head, size_t len, int64_t now_unix,
                          nm_fresh_stored_t *st);

/* Accept-Encoding value(s) normalized into a key that two requests share
 * exactly when the server must treat them alike: codings lower-cased,
 * sorted, weights as thousandths ("br,gzip;q=500,identity;q=0").
 * Several field lines: pass their values joined by ",". Returns the key
 * length, NM_E_PARSE (a coding twice, a bad weight) or NM_E_NOSPACE. */
int nm_fresh_ae_key(const char *value, size_t len, char *out, size_t cap);

/* The decision. cond: the request's conditional fields and the stored
 * 200's validators (as for a substitution, status 200); fresh_s: the
 * route's configured freshness. On NM_FRESH_ACCELERATE *age_s is the Age
 * to send (RFC 9111 §4.2.3 current_age). */
nm_fresh_verdict_t nm_fresh_decide(const nm_fresh_stored_t *st,
                                   const nm_fresh_req_t *rq,
                                   const nm_cond_input_t *cond, int64_t fresh_s,
                                   int64_t now_unix, int64_t *age_s);

/* Short stable name of a verdict ("stale"), "?" if unknown. */
const char *nm_fresh_verdict_name(unsigned verdict);

/* The head a store keeps of a 200 (RFC 9111 §3.1): every field line but
 * the hop-by-hop ones (Connection, the fields it names, Keep-Alive,
 * Proxy-Connection, TE, Transfer-Encoding, Upgrade), which belonged to the
 * connection it left on. Returns the length written to out, NM_E_PARSE or
 * NM_E_NOSPACE. */
long nm_fresh_store_head(const char *head, size_t len, char *out, size_t cap);

/* The stored head updated by a 304 that validated it (RFC 9111 §4.3.4,
 * §3.2): every field line of the 304 (h304) but its hop-by-hop ones and
 * Content-Length replaces the stored lines of the same name (Date, ETag,
 * Cache-Control, Expires...); the stored status line and other lines
 * stay, in order, the 304's come after them. Returns the length written,
 * NM_E_PARSE or NM_E_NOSPACE. */
long nm_fresh_freshen_head(const char *stored, size_t len, const char *h304,
                           size_t len304, char *out, size_t cap);

/* The accelerated 304: nm_resp304_build over the stored head, with
 * "Date: <now>" and "Age: <age_s>" replacing the head's own. Returns its
 * length or nm_resp304_build's errors. */
long nm_fresh_build_304(const char *stored_head, size_t len, int64_t age_s,
                        int64_t now_unix, char *out, size_t cap);

/* The same 304 at another age and time, from one nm_fresh_build_304 made
 * with age 0 (tmpl, len bytes): only its closing Date and Age lines change,
 * so a kept head's 304 is built once, not parsed again per request.
 * Returns its length, NM_E_INVAL for a tmpl that does not end as
 * nm_fresh_build_304 ends it (build it in full then), NM_E_NOSPACE. */
long nm_fresh_restamp_304(const char *tmpl, size_t len, int64_t age_s,
                          int64_t now_unix, char *out, size_t cap);

#endif
