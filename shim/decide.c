/* decide.c - see decide.h. */
#include "decide.h"

#include "cond.h"
#include "etag.h"
#include "event.h"
#include "httpdate.h"

#include <string.h>

bool nm_decide_is_conditional(const nm_req_t *req)
{
    if (req->method != NM_METHOD_GET && req->method != NM_METHOD_HEAD)
        return false;
    if (!(req->flags & (NM_REQ_HAS_INM | NM_REQ_HAS_IMS)))
        return false;
    return !(req->flags & NM_REQ_TRUNCATED_COND);
}

static nm_slice_t field(const char *p, size_t len, bool is_present)
{
    nm_slice_t s = {is_present ? p : NULL, len};
    return s;
}

void nm_decide_cond_request(const nm_req_t *r, nm_cond_input_t *in)
{
    *in = (nm_cond_input_t){
        .method = r->method,
        .if_match =
            field(r->if_match, r->if_match_len, r->flags & NM_REQ_HAS_IF_MATCH),
        .if_none_match = field(r->inm, r->inm_len, r->flags & NM_REQ_HAS_INM),
        .if_modified_since =
            field(r->ims, r->ims_len, r->flags & NM_REQ_HAS_IMS),
        .if_unmodified_since =
            field(r->ius, r->ius_len, r->flags & NM_REQ_HAS_IUS),
        .is_ims_multi = r->flags & NM_REQ_IMS_MULTI,
        .is_ius_multi = r->flags & NM_REQ_IUS_MULTI,
        .is_cond_truncated = r->flags & NM_REQ_TRUNCATED_COND,
        .last_modified = -1,
    };
}

bool nm_decide_not_modified(const nm_req_t *r, const nm_resp_t *resp,
                            const nm_synth_t *sy, int64_t now)
{
    if (resp->status != 200 || (resp->flags & NM_RESP_TRUNCATED_VALIDATOR))
        return false;
    if (!nm_decide_is_conditional(r))
        return false;
    if (sy == NULL &&
        !(resp->flags & (NM_RESP_HAS_ETAG | NM_RESP_HAS_LAST_MODIFIED)))
        return false;
    nm_cond_input_t in;
    nm_decide_cond_request(r, &in);
    in.status = resp->status;
    in.etag =
        sy ? field(sy->tag, sy->tag_len, true)
           : field(resp->etag, resp->etag_len, resp->flags & NM_RESP_HAS_ETAG);
    in.last_modified = sy ? sy->last_modified : -1;
    in.is_lm_exact = sy != NULL && sy->last_modified >= 0;
    in.now = now;
    int64_t lm;
    if ((resp->flags & NM_RESP_HAS_LAST_MODIFIED) &&
        nm_httpdate_parse(resp->last_modified, resp->last_modified_len, now,
                          &lm) == 0)
        in.last_modified = lm;
    return nm_cond_eval(&in) == NM_COND_NOT_MODIFIED;
}

/* Will the body be held to hash it? Then its 304, if any, is decided once
 * the tag is known. */
static bool will_hold(const nm_decide_in_t *in)
{
    uint32_t no = NM_RESP_HAS_ETAG | NM_RESP_TRUNCATED_VALIDATOR |
                  NM_RESP_STREAMING | NM_RESP_NO_BODY;
    return in->resp->status == 200 && !(in->resp->flags & no) &&
           in->req->method == NM_METHOD_GET && in->can_hold;
}

bool nm_decide_is_ours(const nm_decide_in_t *in)
{
    uint32_t no =
        NM_RESP_HAS_ETAG | NM_RESP_TRUNCATED_VALIDATOR | NM_RESP_STREAMING;
    return in->resp->status == 200 && !(in->resp->flags & no) &&
           !in->is_disabled;
}

nm_verdict_t nm_decide_head(const nm_decide_in_t *in, nm_decide_note_t *note)
{
    int status = in->resp->status;
    if (status == 304) {
        note->outcome = NM_OUTCOME_SERVER_304;
    } else if (status != 200 && status >= 200) {
        note->outcome = NM_OUTCOME_NOT_HANDLED;
        note->reason = NM_REASON_STATUS;
    }
    if (status == 200 && in->is_disabled) {
        /* An operator disabled this route: hands off entirely. */
        note->outcome = NM_OUTCOME_NOT_HANDLED;
        note->reason = NM_REASON_DISABLED;
        return NM_VERDICT_PASS;
    }
    if (!will_hold(in) &&
        nm_decide_not_modified(in->req, in->resp, NULL, in->now))
        return NM_VERDICT_NOT_MODIFIED;
    return nm_decide_is_ours(in) ? NM_VERDICT_OURS : NM_VERDICT_PASS;
}

const char *nm_decide_pinned_tag(const nm_snapshot_hit_t *hit)
{
    uint32_t pinned = NM_SNAPSHOT_E_PINNED | NM_SNAPSHOT_E_HAS_TAG;
    return hit != NULL && (hit->flags & pinned) == pinned ? hit->tag : NULL;
}

nm_verdict_t nm_decide_untagged(const nm_decide_in_t *in,
                                nm_decide_note_t *note)
{
    bool is_get = in->req->method == NM_METHOD_GET;
    if (is_get && in->is_too_large) {
        note->outcome = NM_OUTCOME_NOT_HANDLED;
        note->reason = NM_REASON_TOO_LARGE;
    }
    if (!is_get || (in->resp->flags & NM_RESP_NO_BODY) || !in->can_hold)
        return NM_VERDICT_PASS;
    return NM_VERDICT_HOLD;
}

/* The last IMF-fixdate this thread parsed, and its value: a server sends
 * one Date for every response of a second, and parsing it again cost 620
 * instructions a tagged response (callgrind, tools/bench §7). Only that
 * form is kept: its value does not depend on now (RFC 850's does). */
static __thread struct {
    char text[NM_HTTPDATE_LEN];
    int64_t unix_time;
    bool is_set;
} last_date;

static bool is_imf_fixdate(const char *s, size_t len)
{
    return len == NM_HTTPDATE_LEN && s[3] == ','; /* RFC 850's is longer */
}

/* The Date the response will carry: the server's, or now when it has
 * none (we add it). -1 when the server's cannot be read. */
static int64_t response_date(const nm_resp_t *resp, int64_t now)
{
    int64_t d;
    if (!(resp->flags & NM_RESP_HAS_DATE))
        return now;
    bool is_imf = is_imf_fixdate(resp->date, resp->date_len);
    if (is_imf && last_date.is_set &&
        memcmp(resp->date, last_date.text, NM_HTTPDATE_LEN) == 0)
        return last_date.unix_time;
    if (nm_httpdate_parse(resp->date, resp->date_len, now, &d) != 0)
        return -1;
    if (is_imf) {
        memcpy(last_date.text, resp->date, NM_HTTPDATE_LEN);
        last_date.unix_time = d;
        last_date.is_set = true;
    }
    return d;
}

bool nm_decide_synth_start(nm_synth_t *sy, const nm_resp_t *resp,
                           const char *tag, int64_t now)
{
    /* Copied truncated and terminated (snprintf("%s") did this at ~1,500
     * instructions a response). */
    size_t n = strnlen(tag, sizeof(sy->tag) - 1);
    memcpy(sy->tag, tag, n);
    sy->tag[n] = '\0';
    sy->tag_len = n;
    sy->last_modified = -1;
    sy->needs_date = !(resp->flags & NM_RESP_HAS_DATE);
    sy->date = response_date(resp, now);
    return !(resp->flags & NM_RESP_HAS_LAST_MODIFIED); /* else the server's */
}

void nm_decide_synth_date(nm_synth_t *sy, const nm_snapshot_hit_t *hit,
                          int64_t other_since)
{
    if (hit != NULL && (hit->flags & NM_SNAPSHOT_E_HAS_TAG) &&
        strcmp(hit->tag, sy->tag) == 0 && hit->lm_unix > 0 &&
        hit->lm_unix > other_since && sy->date >= 0 && hit->lm_unix <= sy->date)
        sy->last_modified = hit->lm_unix;
}

nm_verdict_t nm_decide_tagged(const nm_decide_in_t *in, const nm_synth_t *sy)
{
    return nm_decide_not_modified(in->req, in->resp, sy, in->now)
               ? NM_VERDICT_NOT_MODIFIED
               : NM_VERDICT_TAG;
}

bool nm_decide_server_304_needs_tag(const nm_req_t *req, const nm_resp_t *resp)
{
    return resp->status == 304 &&
           (req->method == NM_METHOD_GET || req->method == NM_METHOD_HEAD) &&
           !(resp->flags & (NM_RESP_HAS_ETAG | NM_RESP_TRUNCATED_VALIDATOR)) &&
           !(req->flags & (NM_REQ_TRUNCATED_COND | NM_REQ_TRUNCATED_TARGET |
                           NM_REQ_TRUNCATED_HOST));
}

/* Does the If-None-Match list name tag (weak comparison, RFC 9110
 * §13.1.2)? "*" names no tag in particular. */
static bool inm_lists(const nm_req_t *req, const char *tag)
{
    size_t a = 0, b = req->inm_len;
    while (a < b && (req->inm[a] == ' ' || req->inm[a] == '\t'))
        a++;
    while (b > a && (req->inm[b - 1] == ' ' || req->inm[b - 1] == '\t'))
        b--;
    nm_etag_t cur;
    if ((b - a == 1 && req->inm[a] == '*') ||
        nm_etag_parse(tag, strlen(tag), &cur) != 0)
        return false;
    return nm_etag_list_match(req->inm, req->inm_len, &cur, true) ==
           NM_ETAG_MATCH;
}

bool nm_decide_tag_server_304(const nm_req_t *req, const nm_resp_t *resp,
                              const char *tag, int64_t file_lm, int64_t now)
{
    int64_t t;
    if (!nm_decide_server_304_needs_tag(req, resp) || file_lm < 0)
        return false;
    if ((resp->flags & NM_RESP_HAS_LAST_MODIFIED) &&
        (nm_httpdate_parse(resp->last_modified, resp->last_modified_len, now,
                           &t) != 0 ||
         t != file_lm))
        return false; /* the 304 speaks of another version */
    if (req->flags & NM_REQ_HAS_INM)
        return inm_lists(req, tag);
    return (req->flags & NM_REQ_HAS_IMS) && !(req->flags & NM_REQ_IMS_MULTI) &&
           nm_httpdate_parse(req->ims, req->ims_len, now, &t) == 0 &&
           file_lm <= t;
}

/* Appends n bytes at out + *at when they fit in cap; false otherwise. */
static bool put_bytes(char *out, size_t cap, size_t *at, const char *p,
                      size_t n)
{
    if (cap - *at < n)
        return false;
    memcpy(out + *at, p, n);
    *at += n;
    return true;
}

/* Appends "Name: <IMF-fixdate>\r\n" for t; false when it does not fit. */
static bool put_date_line(char *out, size_t cap, size_t *n, const char *name,
                          int64_t t)
{
    char date[NM_HTTPDATE_LEN + 1];
    return nm_httpdate_format(t, date) == NM_HTTPDATE_LEN &&
           put_bytes(out, cap, n, name, strlen(name)) &&
           put_bytes(out, cap, n, date, NM_HTTPDATE_LEN) &&
           put_bytes(out, cap, n, "\r\n", 2);
}

size_t nm_decide_synth_lines(const nm_synth_t *sy, bool is_200, char *out,
                             size_t cap)
{
    size_t n = 0;
    bool is_ok = put_bytes(out, cap, &n, "ETag: ", 6) &&
                 put_bytes(out, cap, &n, sy->tag, sy->tag_len) &&
                 put_bytes(out, cap, &n, "\r\n", 2);
    if (is_ok && sy->last_modified >= 0)
        is_ok =
            put_date_line(out, cap, &n, "Last-Modified: ", sy->last_modified);
    if (is_ok && is_200 && sy->needs_date && sy->date >= 0)
        is_ok = put_date_line(out, cap, &n, "Date: ", sy->date);
    return is_ok ? n : 0;
}
