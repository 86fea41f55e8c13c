/* cond.c - RFC 9110 §13.2.2 precondition evaluation (see cond.h). Every
 * doubt resolves to NM_COND_PASS: the server's 200 is always a correct
 * answer, a wrong 304 never is. */
#include "cond.h"

#include "etag.h"
#include "httpdate.h"

static bool is_present(nm_slice_t s)
{
    return s.ptr != NULL;
}

/* The current ETag, parsed; false when absent or not a valid entity-tag. */
static bool current_tag(const nm_cond_input_t *in, nm_etag_t *tag)
{
    return is_present(in->etag) &&
           nm_etag_parse(in->etag.ptr, in->etag.len, tag) == NM_OK;
}

/* A single valid date, or false (then the field is ignored, §13.1.3/4). */
static bool valid_date(nm_slice_t s, bool is_multi, int64_t now, int64_t *t)
{
    return !is_multi && nm_httpdate_parse(s.ptr, s.len, now, t) == NM_OK;
}

nm_cond_result_t nm_cond_eval(const nm_cond_input_t *in)
{
    if (in == NULL || in->status != 200 || in->is_cond_truncated)
        return NM_COND_PASS;
    if (in->method != NM_METHOD_GET && in->method != NM_METHOD_HEAD)
        return NM_COND_PASS;
    nm_etag_t cur;
    bool has_tag = current_tag(in, &cur);
    if (is_present(in->etag) && !has_tag)
        return NM_COND_PASS; /* the server's own tag is malformed */

    /* Step 1: If-Match, strong comparison; false → the origin's answer. */
    if (is_present(in->if_match)) {
        int r = nm_etag_list_match(in->if_match.ptr, in->if_match.len,
                                   has_tag ? &cur : NULL, false);
        if (r != NM_ETAG_MATCH)
            return NM_COND_PASS;
    } else if (is_present(in->if_unmodified_since)) {
        /* Step 2: If-Unmodified-Since, only without If-Match. */
        int64_t t;
        if (valid_date(in->if_unmodified_since, in->is_ius_multi, in->now,
                       &t) &&
            (in->last_modified < 0 || in->last_modified > t))
            return NM_COND_PASS;
    }

    /* Step 3: If-None-Match, weak comparison; present means IMS is
     * ignored, even when empty or malformed (§13.1.3). */
    if (is_present(in->if_none_match)) {
        int r = nm_etag_list_match(in->if_none_match.ptr,
                                   in->if_none_match.len,
                                   has_tag ? &cur : NULL, true);
        return r == NM_ETAG_MATCH ? NM_COND_NOT_MODIFIED : NM_COND_PASS;
    }

    /* Step 4: If-Modified-Since. A date after our clock proves nothing
     * (RFC 9110 is silent; Apache and Varnish refuse too). */
    if (is_present(in->if_modified_since) && in->last_modified >= 0) {
        int64_t t;
        if (valid_date(in->if_modified_since, in->is_ims_multi, in->now,
                       &t) &&
            t <= in->now && in->last_modified <= t)
            return NM_COND_NOT_MODIFIED;
    }
    return NM_COND_PASS;
}
