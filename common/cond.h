/* cond.h - RFC 9110 §13.2.2 evaluation of a request's preconditions against
 * the representation a 200 carries: may notmod answer 304 instead? notmod
 * never generates 412; when in doubt the server's 200 passes. */
#ifndef NM_COND_H
#define NM_COND_H

#include "nm.h"

typedef enum nm_cond_result {
    NM_COND_PASS = 0,         /* send the server's response */
    NM_COND_NOT_MODIFIED = 1, /* a 304 is the correct answer */
} nm_cond_result_t;

/* Everything the decision needs. A slice with ptr == NULL is an absent
 * field; present-but-empty is ptr != NULL, len == 0. */
typedef struct nm_cond_input {
    nm_method_t method;
    int status; /* the server's status for this request */
    nm_slice_t if_match, if_none_match, if_modified_since, if_unmodified_since;
    bool is_ims_multi;      /* If-Modified-Since sent more than once */
    bool is_ius_multi;      /* If-Unmodified-Since sent more than once */
    bool is_cond_truncated; /* a conditional field was cut: never 304 */
    nm_slice_t etag;        /* the 200's ETag value (absent: ptr NULL) */
    int64_t last_modified;  /* the 200's Last-Modified, or -1 */
    /* last_modified names an epoch notmod gave the tag, not a time the
     * server vouches for: If-Modified-Since matches only when equal. */
    bool is_lm_exact;
    int64_t now; /* server clock, unix seconds */
} nm_cond_input_t;

/* Decides as RFC 9110 §13.2.2 with notmod's narrowing (docs/, "When notmod
 * answers 304"): only a 200 to GET/HEAD can become a 304; If-None-Match
 * (weak) takes precedence over If-Modified-Since; failing
 * If-Match/If-Unmodified-Since means pass (notmod never sends 412). */
nm_cond_result_t nm_cond_eval(const nm_cond_input_t *in);

#endif
