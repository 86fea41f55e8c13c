/* cond.c - RFC 9110 §13.2.2 precondition evaluation for the one case
 * notmod acts on: a 200 to GET or HEAD. Every doubt resolves to PASS (the
 * server's own 200 is always a correct answer); only a clear "not
 * modified" gives NM_COND_NOT_MODIFIED. */
#include "cond.h"

#include "etag.h"
#include "httpdate.h"

#include <string.h>

static bool is_present(nm_slice_t s)
{
    return s.ptr != NULL;
}

/* s without its leading and trailing OWS. */
static nm_slice_t trim(nm_slice_t s)
{
    while (s.len > 0 && (*s.ptr == ' ' || *s.ptr == '\t')) {
        s.ptr++;
        s.len--;
    }
    while (s.len > 0 && (s.ptr[s.len - 1] == ' ' || s.ptr[s.len - 1] == '\t'))
        s.len--;
    return s;
}

/* The usual revalidation sends the current tag back as it was sent: the
 * same bytes as a valid tag are a list of that one member, which matches
 * it. The list scan gives the same answer at about ten times the cost. */
static bool is_that_tag(nm_slice_t field, nm_slice_t tag)
{
    field = trim(field);
    return field.len == tag.len && memcmp(field.ptr, tag.ptr, tag.len) == 0;
}

/* A date field is usable when it is sent once and parses (RFC 9110
 * §13.1.3, §13.1.4: a recipient MUST ignore an invalid HTTP-date; a list
 * of two dates is not a valid HTTP-date). */
static bool usable_date(nm_slice_t s, bool is_multi, int64_t now, int64_t *out)
{
    return is_present(s) && !is_multi &&
           nm_httpdate_parse(s.ptr, s.len, now, out) == NM_OK;
}

nm_cond_result_t nm_cond_eval(const nm_cond_input_t *in)
{
    if (in == NULL || in->status != 200 ||
        (in->method != NM_METHOD_GET && in->method != NM_METHOD_HEAD))
        return NM_COND_PASS;
    if (in->is_cond_truncated)
        return NM_COND_PASS; /* we cannot see the whole condition */

    /* The 200's own tag; a malformed one counts as no tag (only "*" can
     * match then), trimmed of OWS in case the caller did not. */
    nm_etag_t cur_tag;
    const nm_etag_t *cur = NULL;
    nm_slice_t cur_text = {NULL, 0};
    if (is_present(in->etag)) {
        cur_text = trim(in->etag);
        if (nm_etag_parse(cur_text.ptr, cur_text.len, &cur_tag) == NM_OK)
            cur = &cur_tag;
    }

    /* Step 1, RFC 9110 §13.1.1: If-Match uses strong comparison; "*" is
     * true because a 200 means a current representation exists. False or
     * malformed: the server's answer stands (notmod never sends 412). */
    if (is_present(in->if_match)) {
        if (nm_etag_list_match(in->if_match.ptr, in->if_match.len, cur,
                               false) != NM_ETAG_MATCH)
            return NM_COND_PASS;
    } else {
        /* Step 2, §13.1.4: If-Unmodified-Since only without If-Match. An
         * unknown Last-Modified cannot be shown to be <= the date, so we
         * do not assume the condition holds. */
        int64_t ius;
        if (usable_date(in->if_unmodified_since, in->is_ius_multi, in->now,
                        &ius)) {
            if (in->last_modified < 0 || in->last_modified > ius)
                return NM_COND_PASS;
        }
    }

    /* Step 3, §13.1.2: If-None-Match, weak comparison. Present means
     * decisive, even empty or malformed (then PASS): §13.1.3 says IMS is
     * ignored whenever INM is present. */
    if (is_present(in->if_none_match)) {
        if (cur != NULL && is_that_tag(in->if_none_match, cur_text))
            return NM_COND_NOT_MODIFIED;
        int rc = nm_etag_list_match(in->if_none_match.ptr,
                                    in->if_none_match.len, cur, true);
        return rc == NM_ETAG_MATCH ? NM_COND_NOT_MODIFIED : NM_COND_PASS;
    }

    /* Step 4, §13.1.3: If-Modified-Since, ignored when invalid, repeated
     * or when there is no Last-Modified. A date later than our clock has
     * no rule in RFC 9110; the client cannot have seen that time, so we
     * pass (as Apache and Varnish do). One-second resolution throughout. */
    int64_t ims;
    if (!usable_date(in->if_modified_since, in->is_ims_multi, in->now, &ims))
        return NM_COND_PASS;
    if (in->last_modified < 0 || ims > in->now)
        return NM_COND_PASS;
    /* §13.1.3 lets a server honour only exact timestamp matches. For an
     * epoch date that is the safe reading: the date was sent with one tag
     * only, while a date the client made up (its own clock, a Date field)
     * may fall after a change this process has not heard of yet. */
    if (in->is_lm_exact)
        return in->last_modified == ims ? NM_COND_NOT_MODIFIED : NM_COND_PASS;
    return in->last_modified <= ims ? NM_COND_NOT_MODIFIED : NM_COND_PASS;
}
