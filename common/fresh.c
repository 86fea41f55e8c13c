/* fresh.c - see fresh.h.
 *
 * notmod stores no bodies: what it reuses is a 200's head and the
 * knowledge that the client already holds the body its validator names.
 * So the question is the one a shared cache asks before it answers a
 * conditional request from storage (RFC 9111 §4, §4.3.2): may the stored
 * response be reused for this request without asking the origin? Only
 * then is the 304 the origin would send the right answer without asking
 * it. Every test below errs towards the server. */
#include "fresh.h"

#include "http_common.h"
#include "http_hdr.h"
#include "http_req.h"
#include "httpdate.h"
#include "resp304.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool is_ows(char c)
{
    return c == ' ' || c == '\t';
}

/* --- the setting --- */

int nm_fresh_setting_parse(const char *s, int64_t *fresh_s)
{
    if (!s || !fresh_s)
        return NM_E_INVAL;
    if (strcmp(s, "origin") == 0) {
        *fresh_s = NM_FRESH_ORIGIN;
        return NM_OK;
    }
    if (strcmp(s, "never") == 0) {
        *fresh_s = 0;
        return NM_OK;
    }
    int64_t v = 0;
    size_t i = 0;
    for (; s[i] >= '0' && s[i] <= '9' && v <= NM_FRESH_SECONDS_MAX; i++)
        v = v * 10 + (s[i] - '0');
    if (i == 0 || s[i] != '\0' || v < 1 || v > NM_FRESH_SECONDS_MAX)
        return NM_E_PARSE;
    *fresh_s = v;
    return NM_OK;
}

int nm_fresh_setting_format(int64_t fresh_s, char *out, size_t cap)
{
    int n;
    if (fresh_s == NM_FRESH_ORIGIN)
        n = snprintf(out, cap, "origin");
    else if (fresh_s == 0)
        n = snprintf(out, cap, "never");
    else if (fresh_s > 0 && fresh_s <= NM_FRESH_SECONDS_MAX)
        n = snprintf(out, cap, "%lld", (long long)fresh_s);
    else
        return NM_E_INVAL;
    return n < 0 || (size_t)n >= cap ? NM_E_INVAL : n;
}

/* --- Accept-Encoding key --- */

#define CODINGS_MAX 16
#define CODING_LEN_MAX 31

typedef struct coding {
    char name[CODING_LEN_MAX + 1];
    int q; /* thousandths */
} coding_t;

typedef struct codings {
    coding_t c[CODINGS_MAX];
    size_t n;
} codings_t;

/* qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] )
 * (RFC 9110 §12.4.2), in thousandths; -1 when malformed. */
static int qvalue(const char *s, size_t len)
{
    if (len == 0 || (s[0] != '0' && s[0] != '1'))
        return -1;
    int q = (s[0] - '0') * 1000;
    if (len == 1)
        return q;
    if (s[1] != '.' || len > 5)
        return -1;
    int scale = 100;
    for (size_t i = 2; i < len; i++, scale /= 10) {
        if (s[i] < '0' || s[i] > '9' || (q == 1000 && s[i] != '0'))
            return -1;
        q += (s[i] - '0') * scale;
    }
    return q;
}

/* Adds the codings of one Accept-Encoding value: #( codings [ weight ] ),
 * weight = OWS ";" OWS "q=" qvalue. */
static int ae_add(codings_t *cs, const char *v, size_t len)
{
    size_t i = 0;
    for (;;) {
        while (i < len && (is_ows(v[i]) || v[i] == ','))
            i++;
        if (i == len)
            return NM_OK;
        size_t s = i;
        while (i < len && (nm_http_cc[(unsigned char)v[i]] & NM_CC_TCHAR))
            i++;
        size_t n = i - s;
        if (n == 0 || n > CODING_LEN_MAX || cs->n == CODINGS_MAX)
            return NM_E_PARSE;
        coding_t *c = &cs->c[cs->n];
        for (size_t k = 0; k < n; k++)
            c->name[k] = (char)nm_http_lower((unsigned char)v[s + k]);
        c->name[n] = '\0';
        c->q = 1000;
        while (i < len && is_ows(v[i]))
            i++;
        if (i < len && v[i] == ';') {
            i++;
            while (i < len && is_ows(v[i]))
                i++;
            if (i + 2 > len || (v[i] != 'q' && v[i] != 'Q') || v[i + 1] != '=')
                return NM_E_PARSE;
            i += 2;
            size_t qs = i;
            while (i < len && !is_ows(v[i]) && v[i] != ',')
                i++;
            c->q = qvalue(v + qs, i - qs);
            if (c->q < 0)
                return NM_E_PARSE;
            while (i < len && is_ows(v[i]))
                i++;
        }
        if (i < len && v[i] != ',')
            return NM_E_PARSE;
        /* "gzip, gzip;q=0": which one the server believes is its own
         * business; such a request gets no key. */
        for (size_t k = 0; k < cs->n; k++)
            if (strcmp(cs->c[k].name, c->name) == 0)
                return NM_E_PARSE;
        cs->n++;
    }
}

static int by_name(const void *a, const void *b)
{
    return strcmp(((const coding_t *)a)->name, ((const coding_t *)b)->name);
}

static int ae_format(codings_t *cs, char *out, size_t cap)
{
    qsort(cs->c, cs->n, sizeof(cs->c[0]), by_name);
    size_t n = 0;
    for (size_t i = 0; i < cs->n; i++) {
        char one[CODING_LEN_MAX + 16];
        int w = cs->c[i].q == 1000
                    ? snprintf(one, sizeof(one), "%s%s", i ? "," : "",
                               cs->c[i].name)
                    : snprintf(one, sizeof(one), "%s%s;q=%d", i ? "," : "",
                               cs->c[i].name, cs->c[i].q);
        if (w < 0 || (size_t)w >= cap - n)
            return NM_E_NOSPACE;
        memcpy(out + n, one, (size_t)w);
        n += (size_t)w;
    }
    if (n >= cap)
        return NM_E_NOSPACE;
    out[n] = '\0';
    return (int)n;
}

int nm_fresh_ae_key(const char *value, size_t len, char *out, size_t cap)
{
    if ((!value && len) || !out || cap == 0)
        return NM_E_INVAL;
    codings_t cs;
    cs.n = 0;
    int rc = ae_add(&cs, value, len);
    return rc < 0 ? rc : ae_format(&cs, out, cap);
}

/* --- facts from heads --- */

/* The first line of head: its content's length (CR excluded) and the
 * offset after its LF; false when there is no LF. */
static bool first_line(const char *head, size_t len, size_t *content,
                       size_t *next)
{
    const char *lf = memchr(head, '\n', len);
    if (!lf)
        return false;
    *next = (size_t)(lf - head) + 1;
    *content = (size_t)(lf - head);
    if (*content > 0 && head[*content - 1] == '\r')
        (*content)--;
    return true;
}

/* "HTTP/1.x" at s: x, or -1. */
static int http1_minor(const char *s)
{
    if (memcmp(s, "HTTP/1.", 7) != 0 || s[7] < '0' || s[7] > '9')
        return -1;
    return s[7] - '0';
}

static bool all_zeros(const char *s, size_t len)
{
    if (len == 0)
        return false;
    for (size_t i = 0; i < len; i++)
        if (s[i] != '0')
            return false;
    return true;
}

int nm_fresh_req_parse(const char *head, size_t len, nm_fresh_req_t *rq)
{
    if (!head || !rq)
        return NM_E_INVAL;
    memset(rq, 0, sizeof(*rq));
    nm_cachectl_init(&rq->cc);
    size_t line, next;
    if (!first_line(head, len, &line, &next) || line < 14)
        return NM_E_PARSE;
    const char *sp = memchr(head, ' ', line);
    if (!sp || head[line - 9] != ' ')
        return NM_E_PARSE;
    rq->method = nm_http_method(head, (size_t)(sp - head));
    rq->version_minor = http1_minor(head + line - 8);
    if (rq->version_minor < 0)
        return NM_E_PARSE;

    codings_t ae;
    ae.n = 0;
    bool is_ae_ok = true;
    size_t pos = 0;
    nm_hdr_field_t f;
    int rc;
    while ((rc = nm_hdr_next(head, len, &pos, &f)) == 1) {
        const char *n = f.name.ptr, *v = f.value.ptr;
        size_t nl = f.name.len, vl = f.value.len;
        if (nm_hdr_name_is(n, nl, "cache-control")) {
            nm_cachectl_parse(&rq->cc, v, vl);
        } else if (nm_hdr_name_is(n, nl, "pragma")) {
            rq->has_pragma_no_cache |= nm_hdr_list_has(v, vl, "no-cache");
        } else if (nm_hdr_name_is(n, nl, "authorization")) {
            rq->has_authorization = true;
        } else if (nm_hdr_name_is(n, nl, "range") ||
                   nm_hdr_name_is(n, nl, "if-range")) {
            rq->has_range = true;
        } else if (nm_hdr_name_is(n, nl, "content-length")) {
            rq->has_extra_semantics |= !all_zeros(v, vl);
        } else if (nm_hdr_name_is(n, nl, "transfer-encoding") ||
                   nm_hdr_name_is(n, nl, "expect") ||
                   nm_hdr_name_is(n, nl, "upgrade")) {
            rq->has_extra_semantics = true;
        } else if (nm_hdr_name_is(n, nl, "connection")) {
            rq->has_extra_semantics |= nm_hdr_list_has(v, vl, "close") ||
                                       nm_hdr_list_has(v, vl, "upgrade");
        } else if (nm_hdr_name_is(n, nl, "accept-encoding")) {
            rq->has_ae = true;
            is_ae_ok = is_ae_ok && ae_add(&ae, v, vl) == NM_OK;
        }
    }
    if (rc < 0)
        return NM_E_PARSE;
    if (is_ae_ok) {
        int k = ae_format(&ae, rq->ae_key, sizeof(rq->ae_key));
        rq->is_ae_keyed = k >= 0;
        rq->ae_key_len = k >= 0 ? (size_t)k : 0;
    }
    return NM_OK;
}

static nm_fresh_vary_t vary_of(const char *v, size_t len, nm_fresh_vary_t cur)
{
    size_t i = 0;
    while (i < len) {
        while (i < len && (is_ows(v[i]) || v[i] == ','))
            i++;
        size_t s = i;
        while (i < len && v[i] != ',')
            i++;
        size_t e = i;
        while (e > s && is_ows(v[e - 1]))
            e--;
        if (e == s)
            continue;
        if (!nm_hdr_name_is(v + s, e - s, "accept-encoding"))
            return NM_FRESH_VARY_OTHER;
        cur = NM_FRESH_VARY_ENCODING;
    }
    return cur;
}

int nm_fresh_stored_parse(const char *head, size_t len, int64_t now_unix,
                          nm_fresh_stored_t *st)
{
    if (!head || !st)
        return NM_E_INVAL;
    memset(st, 0, sizeof(*st));
    nm_cachectl_init(&st->cc);
    st->date_unix = -1;
    size_t line, next;
    if (!first_line(head, len, &line, &next) || line < 12 || head[8] != ' ' ||
        (st->version_minor = http1_minor(head)) < 0)
        return NM_E_PARSE;
    for (size_t i = 9; i < 12; i++) {
        if (head[i] < '0' || head[i] > '9')
            return NM_E_PARSE;
        st->status = st->status * 10 + (head[i] - '0');
    }
    size_t pos = 0;
    nm_hdr_field_t f;
    int rc, dates = 0, ages = 0;
    while ((rc = nm_hdr_next(head, len, &pos, &f)) == 1) {
        const char *n = f.name.ptr, *v = f.value.ptr;
        size_t nl = f.name.len, vl = f.value.len;
        if (nm_hdr_name_is(n, nl, "cache-control")) {
            nm_cachectl_parse(&st->cc, v, vl);
        } else if (nm_hdr_name_is(n, nl, "date")) {
            if (dates++ > 0 ||
                nm_httpdate_parse(v, vl, now_unix, &st->date_unix) < 0)
                st->is_malformed = true;
        } else if (nm_hdr_name_is(n, nl, "expires")) {
            /* §5.3: an invalid date, "0" among them, is in the past;
             * §4.2.1: two values may be taken as stale. */
            if (st->has_expires ||
                nm_httpdate_parse(v, vl, now_unix, &st->expires_unix) < 0)
                st->expires_unix = 0;
            st->has_expires = true;
        } else if (nm_hdr_name_is(n, nl, "age")) {
            /* Age = delta-seconds (RFC 9111 §5.1). */
            if (ages++ > 0 || nm_cachectl_delta(v, vl, &st->age_s) < 0)
                st->is_malformed = true;
        } else if (nm_hdr_name_is(n, nl, "set-cookie")) {
            st->has_set_cookie = true;
        } else if (nm_hdr_name_is(n, nl, "vary")) {
            st->vary = vary_of(v, vl, st->vary);
        } else if (nm_hdr_name_is(n, nl, "etag") ||
                   nm_hdr_name_is(n, nl, "last-modified")) {
            st->has_validator = true;
        }
    }
    return rc < 0 ? NM_E_PARSE : NM_OK;
}

/* --- the decision --- */

static int64_t max64(int64_t a, int64_t b)
{
    return a > b ? a : b;
}

/* RFC 9111 §4.2.1, for a shared cache: s-maxage, else max-age, else
 * Expires - Date (the time received when there is no Date). No
 * heuristics: a response that says nothing has no lifetime of its own.
 * Returns false when the origin declared none. */
static bool origin_lifetime(const nm_fresh_stored_t *st, int64_t *out)
{
    if (st->cc.flags & NM_CACHECTL_S_MAXAGE)
        *out = st->cc.s_maxage_s;
    else if (st->cc.flags & NM_CACHECTL_MAX_AGE)
        *out = st->cc.max_age_s;
    else if (st->has_expires)
        *out = max64(0, st->expires_unix - (st->date_unix >= 0
                                                ? st->date_unix
                                                : st->response_unix));
    else
        return false;
    return true;
}

/* RFC 9111 §4.2.3. */
static int64_t current_age(const nm_fresh_stored_t *st, int64_t now_unix)
{
    int64_t apparent_age =
        st->date_unix >= 0 ? max64(0, st->response_unix - st->date_unix) : 0;
    int64_t response_delay = max64(0, st->response_unix - st->request_unix);
    int64_t corrected_age_value = st->age_s + response_delay;
    int64_t corrected_initial_age = max64(apparent_age, corrected_age_value);
    return corrected_initial_age + (now_unix - st->response_unix);
}

/* What the request itself allows (§5.2.1); a browser reload sends
 * max-age=0 or no-cache, and must reach the server. */
static nm_fresh_verdict_t request_shape(const nm_fresh_req_t *rq,
                                        const nm_cond_input_t *cond)
{
    if (rq->method != NM_METHOD_GET && rq->method != NM_METHOD_HEAD)
        return NM_FRESH_METHOD;
    if (!cond->if_none_match.ptr && !cond->if_modified_since.ptr)
        return NM_FRESH_NOT_CONDITIONAL;
    if (cond->if_match.ptr || cond->if_unmodified_since.ptr)
        return NM_FRESH_PRECONDITION;
    if (rq->has_range)
        return NM_FRESH_RANGE;
    if (rq->version_minor < 1 || rq->has_extra_semantics)
        return NM_FRESH_CONNECTION;
    uint32_t f = rq->cc.flags;
    if ((f &
         (NM_CACHECTL_NO_CACHE | NM_CACHECTL_NO_STORE | NM_CACHECTL_INVALID)) ||
        ((f & NM_CACHECTL_MAX_AGE) && rq->cc.max_age_s == 0) ||
        rq->has_pragma_no_cache)
        return NM_FRESH_RELOAD;
    return NM_FRESH_ACCELERATE;
}

/* May a shared cache reuse the stored 200 at all (§3, §3.5, §4.1)? */
static nm_fresh_verdict_t stored_shape(const nm_fresh_stored_t *st,
                                       const nm_fresh_req_t *rq)
{
    uint32_t f = st->cc.flags;
    if (st->status != 200 || st->version_minor < 1 || st->is_malformed ||
        (st->req.method != NM_METHOD_GET && st->req.method != NM_METHOD_HEAD) ||
        (f & (NM_CACHECTL_NO_STORE | NM_CACHECTL_PRIVATE |
              NM_CACHECTL_NO_CACHE | NM_CACHECTL_INVALID)))
        return NM_FRESH_NOT_STORABLE;
    if (st->has_set_cookie)
        return NM_FRESH_SET_COOKIE;
    /* §3.5 allows must-revalidate too; notmod keeps to the two that
     * say "shared" outright. */
    if ((st->req.has_authorization || rq->has_authorization) &&
        !(f & (NM_CACHECTL_PUBLIC | NM_CACHECTL_S_MAXAGE)))
        return NM_FRESH_AUTHORIZATION;
    /* §4.1: the stored response is selected by the request's values of
     * the fields Vary names; only Accept-Encoding is compared here. */
    if (st->vary == NM_FRESH_VARY_OTHER)
        return NM_FRESH_VARY;
    if (st->vary == NM_FRESH_VARY_ENCODING &&
        !(st->req.is_ae_keyed && rq->is_ae_keyed &&
          st->req.has_ae == rq->has_ae &&
          st->req.ae_key_len == rq->ae_key_len &&
          memcmp(st->req.ae_key, rq->ae_key, rq->ae_key_len) == 0))
        return NM_FRESH_VARY;
    if (!st->has_validator || st->is_synth_on_head)
        return NM_FRESH_NO_VALIDATOR;
    return NM_FRESH_ACCELERATE;
}

nm_fresh_verdict_t nm_fresh_decide(const nm_fresh_stored_t *st,
                                   const nm_fresh_req_t *rq,
                                   const nm_cond_input_t *cond, int64_t fresh_s,
                                   int64_t now_unix, int64_t *age_s)
{
    if (fresh_s == 0 || (fresh_s < 0 && fresh_s != NM_FRESH_ORIGIN) || !st ||
        !rq || !cond)
        return NM_FRESH_OFF;
    nm_fresh_verdict_t v = request_shape(rq, cond);
    if (v == NM_FRESH_ACCELERATE)
        v = stored_shape(st, rq);
    if (v != NM_FRESH_ACCELERATE)
        return v;
    /* The stored 200's validators answer the conditions exactly as they
     * would have answered them on that 200 (RFC 9110 §13.2.2). */
    nm_cond_input_t c = *cond;
    c.method = rq->method;
    c.status = 200;
    if (nm_cond_eval(&c) != NM_COND_NOT_MODIFIED)
        return NM_FRESH_MODIFIED;

    int64_t lifetime, declared;
    bool has_declared = origin_lifetime(st, &declared);
    if (fresh_s == NM_FRESH_ORIGIN) {
        if (!has_declared)
            return NM_FRESH_NO_LIFETIME;
        lifetime = declared;
    } else {
        /* The operator's lifetime stands in for a heuristic one; what the
         * origin declares can only shorten it (max-age=0, a past
         * Expires). */
        lifetime = has_declared && declared < fresh_s ? declared : fresh_s;
    }
    /* A clock that went back says nothing about how old the head is. */
    if (now_unix < st->response_unix || st->response_unix < st->request_unix)
        return NM_FRESH_STALE;
    int64_t age = current_age(st, now_unix);
    if (age >= lifetime)
        return NM_FRESH_STALE;
    if (((rq->cc.flags & NM_CACHECTL_MAX_AGE) && age > rq->cc.max_age_s) ||
        ((rq->cc.flags & NM_CACHECTL_MIN_FRESH) &&
         lifetime - age < rq->cc.min_fresh_s))
        return NM_FRESH_TOO_OLD;
    if (age_s)
        *age_s = age;
    return NM_FRESH_ACCELERATE;
}

const char *nm_fresh_verdict_name(unsigned verdict)
{
    static const char *const names[NM_FRESH_VERDICT_COUNT_] = {
        "accelerate",   "off",          "method",     "not_conditional",
        "precondition", "range",        "connection", "reload",
        "too_old",      "not_storable", "set_cookie", "authorization",
        "vary",         "no_validator", "modified",   "no_lifetime",
        "stale",
    };
    return verdict < NM_FRESH_VERDICT_COUNT_ ? names[verdict] : "?";
}

/* --- the stored head and its 304 --- */

#define CONN_TOKENS_MAX 16

/* Is name a hop-by-hop field (RFC 9110 §7.6.1) of this head? */
static bool is_hop_by_hop(const nm_hdr_field_t *f, const nm_slice_t *listed,
                          size_t nlisted)
{
    static const char *const fixed[] = {"connection",        "keep-alive",
                                        "proxy-connection",  "te",
                                        "transfer-encoding", "upgrade"};
    for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
        if (nm_hdr_name_is(f->name.ptr, f->name.len, fixed[i]))
            return true;
    for (size_t i = 0; i < nlisted; i++) {
        if (listed[i].len != f->name.len)
            continue;
        size_t k = 0;
        while (k < f->name.len &&
               nm_http_lower((unsigned char)listed[i].ptr[k]) ==
                   nm_http_lower((unsigned char)f->name.ptr[k]))
            k++;
        if (k == f->name.len)
            return true;
    }
    return false;
}

/* The field names listed in Connection lines. */
static int connection_tokens(const char *head, size_t len, nm_slice_t *out,
                             size_t *n)
{
    size_t pos = 0;
    nm_hdr_field_t f;
    int rc;
    *n = 0;
    while ((rc = nm_hdr_next(head, len, &pos, &f)) == 1) {
        if (!nm_hdr_name_is(f.name.ptr, f.name.len, "connection"))
            continue;
        const char *v = f.value.ptr;
        size_t vl = f.value.len, i = 0;
        while (i < vl) {
            while (i < vl && (is_ows(v[i]) || v[i] == ','))
                i++;
            size_t s = i;
            while (i < vl && v[i] != ',' && !is_ows(v[i]))
                i++;
            if (i == s)
                continue;
            if (*n == CONN_TOKENS_MAX)
                return NM_E_PARSE; /* more than any server sends */
            out[(*n)++] = (nm_slice_t){v + s, i - s};
        }
    }
    return rc < 0 ? NM_E_PARSE : NM_OK;
}

long nm_fresh_store_head(const char *head, size_t len, char *out, size_t cap)
{
    if (!head || !out)
        return NM_E_INVAL;
    nm_slice_t listed[CONN_TOKENS_MAX];
    size_t nlisted, line, next;
    if (!first_line(head, len, &line, &next) ||
        connection_tokens(head, len, listed, &nlisted) < 0)
        return NM_E_PARSE;
    if (next > cap)
        return NM_E_NOSPACE;
    memcpy(out, head, next);
    size_t n = next, pos = 0, before = 0;
    nm_hdr_field_t f;
    int rc;
    for (;;) {
        before = pos == 0 ? next : pos;
        if ((rc = nm_hdr_next(head, len, &pos, &f)) != 1)
            break;
        if (is_hop_by_hop(&f, listed, nlisted))
            continue;
        if (f.line.len > cap - n)
            return NM_E_NOSPACE;
        memcpy(out + n, f.line.ptr, f.line.len);
        n += f.line.len;
    }
    /* The empty line was at before; without one the head is not whole. */
    if (rc < 0 || pos == before)
        return NM_E_PARSE;
    size_t end_len = pos - before;
    if (end_len > cap - n)
        return NM_E_NOSPACE;
    memcpy(out + n, head + pos - end_len, end_len);
    return (long)(n + end_len);
}

/* Does a 304's field f update the stored head (RFC 9111 §3.2)? Not its
 * hop-by-hop fields, nor Content-Length (a 304 has no content to measure). */
static bool is_update(const nm_hdr_field_t *f, const nm_slice_t *listed,
                      size_t nlisted)
{
    return !is_hop_by_hop(f, listed, nlisted) &&
           !nm_hdr_name_is(f->name.ptr, f->name.len, "content-length");
}

/* Do two field names match, ignoring case? */
static bool same_name(nm_slice_t a, nm_slice_t b)
{
    if (a.len != b.len)
        return false;
    for (size_t k = 0; k < a.len; k++)
        if (nm_http_lower((unsigned char)a.ptr[k]) !=
            nm_http_lower((unsigned char)b.ptr[k]))
            return false;
    return true;
}

/* Does the 304 (h, len) carry an updating field named like f? */
static bool is_updated(const nm_hdr_field_t *f, const char *h, size_t len,
                       const nm_slice_t *listed, size_t nlisted)
{
    size_t pos = 0;
    nm_hdr_field_t u;
    while (nm_hdr_next(h, len, &pos, &u) == 1)
        if (same_name(u.name, f->name) && is_update(&u, listed, nlisted))
            return true;
    return false;
}

/* Appends n bytes at *at; NM_E_NOSPACE when they do not fit. */
static int put(char *out, size_t cap, size_t *at, const char *p, size_t n)
{
    if (n > cap - *at)
        return NM_E_NOSPACE;
    memcpy(out + *at, p, n);
    *at += n;
    return NM_OK;
}

long nm_fresh_freshen_head(const char *stored, size_t len, const char *h304,
                           size_t len304, char *out, size_t cap)
{
    if (!stored || !h304 || !out)
        return NM_E_INVAL;
    nm_slice_t listed[CONN_TOKENS_MAX];
    size_t nlisted, line, next, l304, n304, at = 0, pos = 0;
    if (!first_line(stored, len, &line, &next) ||
        !first_line(h304, len304, &l304, &n304) ||
        connection_tokens(h304, len304, listed, &nlisted) < 0)
        return NM_E_PARSE;
    if (put(out, cap, &at, stored, next) < 0)
        return NM_E_NOSPACE;
    nm_hdr_field_t f;
    int rc;
    size_t end = next;
    while ((rc = nm_hdr_next(stored, len, &pos, &f)) == 1) {
        end = pos;
        if (!is_updated(&f, h304, len304, listed, nlisted) &&
            put(out, cap, &at, f.line.ptr, f.line.len) < 0)
            return NM_E_NOSPACE;
    }
    if (rc < 0 || pos == end) /* no empty line: not a whole head */
        return NM_E_PARSE;
    size_t end_len = pos - end;
    pos = 0;
    while ((rc = nm_hdr_next(h304, len304, &pos, &f)) == 1)
        if (is_update(&f, listed, nlisted) &&
            put(out, cap, &at, f.line.ptr, f.line.len) < 0)
            return NM_E_NOSPACE;
    if (rc < 0 || put(out, cap, &at, stored + end, end_len) < 0)
        return rc < 0 ? NM_E_PARSE : NM_E_NOSPACE;
    return (long)at;
}

/* What nm_fresh_build_304 ends its 304 with: "Date: <IMF-fixdate>\r\n",
 * "Age: <n>\r\n", the empty line. */
#define STAMP_DATE "Date: "
#define STAMP_AGE0 "\r\nAge: 0\r\n\r\n"
#define STAMP_LEN                                                              \
    (sizeof(STAMP_DATE) - 1 + NM_HTTPDATE_LEN + sizeof(STAMP_AGE0) - 1)

long nm_fresh_restamp_304(const char *tmpl, size_t len, int64_t age_s,
                          int64_t now_unix, char *out, size_t cap)
{
    char date[NM_HTTPDATE_LEN + 1], age[24];
    if (!tmpl || !out || age_s < 0 || len <= STAMP_LEN ||
        tmpl[len - STAMP_LEN - 1] != '\n' ||
        memcmp(tmpl + len - STAMP_LEN, STAMP_DATE, sizeof(STAMP_DATE) - 1) ||
        memcmp(tmpl + len - sizeof(STAMP_AGE0) + 1, STAMP_AGE0,
               sizeof(STAMP_AGE0) - 1) ||
        nm_httpdate_format(now_unix, date) != NM_HTTPDATE_LEN)
        return NM_E_INVAL;
    /* The age's digits, backwards: no printf on the per-request path. */
    size_t na = 0;
    char rev[24];
    uint64_t a = (uint64_t)age_s;
    do {
        rev[na++] = (char)('0' + a % 10);
        a /= 10;
    } while (a > 0);
    for (size_t i = 0; i < na; i++)
        age[i] = rev[na - 1 - i];
    size_t keep = len - STAMP_LEN;
    size_t n = keep + STAMP_LEN - 1 + na; /* "0" becomes the digits */
    if (n > cap)
        return NM_E_NOSPACE;
    char *p = out;
    memcpy(p, tmpl, keep + sizeof(STAMP_DATE) - 1);
    p += keep + sizeof(STAMP_DATE) - 1;
    memcpy(p, date, NM_HTTPDATE_LEN);
    p += NM_HTTPDATE_LEN;
    memcpy(p, "\r\nAge: ", 7);
    p += 7;
    memcpy(p, age, na);
    p += na;
    memcpy(p, "\r\n\r\n", 4);
    return (long)n;
}

long nm_fresh_build_304(const char *stored_head, size_t len, int64_t age_s,
                        int64_t now_unix, char *out, size_t cap)
{
    char date[NM_HTTPDATE_LEN + 1], extra[96];
    if (age_s < 0 || nm_httpdate_format(now_unix, date) != NM_HTTPDATE_LEN)
        return NM_E_INVAL;
    /* RFC 9110 §6.6.1: Date is when this message was made; RFC 9111 §5.1:
     * Age says how old the stored response is. */
    int n = snprintf(extra, sizeof(extra), "Date: %s\r\nAge: %lld\r\n", date,
                     (long long)age_s);
    if (n < 0 || (size_t)n >= sizeof(extra))
        return NM_E_INVAL;
    return nm_resp304_build(stored_head, len, extra, (size_t)n, now_unix, out,
                            cap);
}
