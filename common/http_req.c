/* http_req.c - incremental HTTP/1.x request parser (RFC 9112 §2-§7).
 *
 * Why our own and not libhttp-parser (2.9.4, Debian 12): measured with
 * tools/bench/parser_bench on a 410-byte Firefox-like revalidation GET, both
 * capturing the same fields, best of 5 x 2M runs, -O2, one x86-64 core:
 *     notmod 422 ns/req, http-parser 817 ns/req.
 * Beyond speed: it allocates nothing and needs no callbacks to reassemble
 * field names split across reads (we match names against a table as the
 * bytes arrive); it copies the captures into the caller's nm_req_t as they
 * pass; and it refuses smuggling shapes that http-parser 2.9.4 accepts
 * (checked: obs-fold, bare-LF line ends, "Host : a" all parse as HPE_OK)
 * with an error class of their own, NM_E_AMBIGUOUS, so the shim can tell
 * "do not touch this connection" from "this is not HTTP". (http-parser
 * does refuse CL+TE, differing or even identical duplicate CLs, and a
 * request TE not ending in chunked; so do we, identical CLs excepted.)
 *
 * Shape: the request line is lexed here byte by byte (it is short and
 * copied into req->target as it passes); field lines go through the shared
 * lexer in http_common.c, which hands back runs of value bytes that we copy
 * or interpret with memcpy-like loops; bodies are skipped without looking
 * at them (Content-Length) or through the shared chunked decoder. A head
 * whole in one buffer takes the one-shot path instead (head_scan.h,
 * oneshot() below): the same per-field code, fed from a 64-byte-block
 * scan, at about half the instructions (tools/bench/head_instr.sh: ab's
 * request 1,913 -> 1,115, a 410-byte browser revalidation 4,023 ->
 * 2,088). */
#include "http_req.h"
#include "head_scan.h"

#include <string.h>

enum {
    RQ_START,    /* before a request line; empty lines are skipped */
    RQ_START_LF, /* CR of such an empty line seen */
    RQ_METHOD,
    RQ_TARGET,
    RQ_VERSION, /* "HTTP/1." matched by lex.name_pos */
    RQ_VERSION_DIGIT,
    RQ_VERSION_CR,
    RQ_VERSION_LF,
    RQ_FIELDS,
    RQ_MSG_DONE, /* head complete, no body: report MSG_DONE next */
    RQ_BODY_CL,
    RQ_BODY_CHUNKED,
    RQ_FAILED,
};

static const nm_tok_t tok_expect[1] = {NM_TOK("100-continue")};
static const char http_1[] = "HTTP/1.";

void nm_http_req_init(nm_req_parser_t *p)
{
    memset(p, 0, sizeof(*p));
    p->state = RQ_START;
}

nm_method_t nm_http_method(const char *s, size_t len)
{
    switch (len) {
    case 3:
        if (memcmp(s, "GET", 3) == 0)
            return NM_METHOD_GET;
        if (memcmp(s, "PUT", 3) == 0)
            return NM_METHOD_PUT;
        break;
    case 4:
        if (memcmp(s, "HEAD", 4) == 0)
            return NM_METHOD_HEAD;
        if (memcmp(s, "POST", 4) == 0)
            return NM_METHOD_POST;
        break;
    case 5:
        if (memcmp(s, "TRACE", 5) == 0)
            return NM_METHOD_TRACE;
        if (memcmp(s, "PATCH", 5) == 0)
            return NM_METHOD_PATCH;
        break;
    case 6:
        if (memcmp(s, "DELETE", 6) == 0)
            return NM_METHOD_DELETE;
        break;
    case 7:
        if (memcmp(s, "OPTIONS", 7) == 0)
            return NM_METHOD_OPTIONS;
        if (memcmp(s, "CONNECT", 7) == 0)
            return NM_METHOD_CONNECT;
        break;
    default:
        break;
    }
    return NM_METHOD_OTHER;
}

static void req_reset(nm_req_parser_t *p, nm_req_t *req)
{
    /* Scalars only: the capture buffers are valid up to their lengths. */
    req->method = NM_METHOD_OTHER;
    req->version_minor = 0;
    req->flags = 0;
    req->target_len = req->host_len = req->inm_len = 0;
    req->ims_len = req->if_match_len = req->ius_len = 0;
    p->framing = 0;
    p->body_left = 0;
    p->content_length = 0;
    nm_lex_begin(&p->lex);
}

/* One event of a captured field line: its first sets the field up, each
 * carries a run s[0, n) of its value (n may be 0), its last (is_last)
 * ends it. A value the lexer hands over in one run is a single event, as
 * is every line of the one-shot path; nm_tok_feed then takes the value
 * whole (NM_VB_WHOLE). */
static inline __attribute__((always_inline)) int
line_event(nm_req_parser_t *p, nm_req_t *req, const char *s, size_t n,
           bool is_last)
{
    nm_lex_t *lx = &p->lex;
    bool is_first = !(lx->vbits & NM_VB_STARTED);
    bool is_truncated = false;
    int rc = NM_OK;
    if (is_first)
        lx->vbits |= is_last ? NM_VB_STARTED | NM_VB_WHOLE : NM_VB_STARTED;
    switch (lx->field) {
    case NM_FLD_HOST:
        /* RFC 9112 §3.2: more than one Host is a 400; which one would
         * the server route by? Stop touching. */
        if (is_first) {
            if (p->framing & NM_FR_HOST)
                return NM_E_AMBIGUOUS;
            p->framing |= NM_FR_HOST;
        }
        if (n > 0 &&
            nm_cap_append(req->host, &req->host_len, NM_REQ_HOST_MAX, s, n))
            req->flags |= NM_REQ_TRUNCATED_HOST;
        if (is_last)
            nm_cap_trim(req->host, &req->host_len);
        break;
    case NM_FLD_IF_NONE_MATCH:
        /* RFC 9110 §5.3: repeated list fields join with commas. */
        if (is_first) {
            if (n > 0 && (req->flags & NM_REQ_HAS_INM) && req->inm_len > 0 &&
                nm_cap_append(req->inm, &req->inm_len, NM_REQ_INM_MAX, ", ", 2))
                is_truncated = true;
            req->flags |= NM_REQ_HAS_INM;
        }
        if (n > 0 &&
            nm_cap_append(req->inm, &req->inm_len, NM_REQ_INM_MAX, s, n))
            is_truncated = true;
        if (is_last)
            nm_cap_trim(req->inm, &req->inm_len);
        break;
    case NM_FLD_IF_MATCH:
        if (is_first) {
            if (n > 0 && (req->flags & NM_REQ_HAS_IF_MATCH) &&
                req->if_match_len > 0 &&
                nm_cap_append(req->if_match, &req->if_match_len,
                              NM_REQ_IF_MATCH_MAX, ", ", 2))
                is_truncated = true;
            req->flags |= NM_REQ_HAS_IF_MATCH;
        }
        if (n > 0 && nm_cap_append(req->if_match, &req->if_match_len,
                                   NM_REQ_IF_MATCH_MAX, s, n))
            is_truncated = true;
        if (is_last)
            nm_cap_trim(req->if_match, &req->if_match_len);
        break;
    case NM_FLD_IF_MODIFIED_SINCE:
        if (is_first) {
            if (req->flags & NM_REQ_HAS_IMS) {
                req->flags |= NM_REQ_IMS_MULTI; /* keep the first value */
                lx->vbits |= NM_VB_SKIP;
            }
            req->flags |= NM_REQ_HAS_IMS;
        }
        if (n > 0 && !(lx->vbits & NM_VB_SKIP) &&
            nm_cap_append(req->ims, &req->ims_len, NM_REQ_DATE_MAX, s, n))
            is_truncated = true;
        if (is_last)
            nm_cap_trim(req->ims, &req->ims_len);
        break;
    case NM_FLD_IF_UNMODIFIED_SINCE:
        if (is_first) {
            if (req->flags & NM_REQ_HAS_IUS) {
                req->flags |= NM_REQ_IUS_MULTI;
                lx->vbits |= NM_VB_SKIP;
            }
            req->flags |= NM_REQ_HAS_IUS;
        }
        if (n > 0 && !(lx->vbits & NM_VB_SKIP) &&
            nm_cap_append(req->ius, &req->ius_len, NM_REQ_DATE_MAX, s, n))
            is_truncated = true;
        if (is_last)
            nm_cap_trim(req->ius, &req->ius_len);
        break;
    case NM_FLD_RANGE:
        req->flags |= NM_REQ_HAS_RANGE;
        break;
    case NM_FLD_IF_RANGE:
        req->flags |= NM_REQ_HAS_IF_RANGE;
        break;
    case NM_FLD_UPGRADE:
        req->flags |= NM_REQ_UPGRADE;
        break;
    case NM_FLD_EXPECT:
        if (is_first)
            nm_tok_begin(lx, 1);
        if (n > 0)
            nm_tok_feed(lx, tok_expect, 1, 0, s, n);
        if (is_last) {
            nm_tok_end(lx, tok_expect, 1);
            if (lx->tok_seen & 1)
                req->flags |= NM_REQ_EXPECT_CONTINUE;
        }
        break;
    default:
        if (is_first && is_last &&
            nm_framing_whole(lx, &p->framing, &p->content_length, s, n))
            break;
        if (is_first)
            nm_framing_begin(lx);
        if (n > 0 && (rc = nm_framing_bytes(lx, &p->framing, &p->content_length,
                                            s, n)) < 0)
            return rc;
        if (is_last)
            rc = nm_framing_end(lx, &p->framing, &p->content_length);
        break;
    }
    if (is_truncated)
        req->flags |= NM_REQ_TRUNCATED_COND;
    if (is_last)
        lx->vbits = 0;
    return rc;
}

/* RFC 9112 §6.3 for requests: TE wins over nothing, CL+TE is refused,
 * chunked must be the final coding, otherwise CL or no body. */
static int head_end(nm_req_parser_t *p, nm_req_t *req)
{
    uint32_t fr = p->framing;
    if (fr & NM_FR_CONN_CLOSE)
        req->flags |= NM_REQ_CONN_CLOSE;
    if (fr & NM_FR_CONN_KEEP_ALIVE)
        req->flags |= NM_REQ_CONN_KEEP_ALIVE;
    if (fr & NM_FR_TE) {
        if (fr & NM_FR_CL)
            return NM_E_AMBIGUOUS;
        /* RFC 9112 §6.1: TE in HTTP/1.0 means faulty framing. */
        if (req->version_minor == 0 || !(fr & NM_FR_TE_LAST_CHUNKED))
            return NM_E_AMBIGUOUS;
        req->flags |= NM_REQ_HAS_BODY;
        nm_chunk_begin(&p->chunk);
        p->state = RQ_BODY_CHUNKED;
    } else if ((fr & NM_FR_CL) && p->content_length > 0) {
        req->flags |= NM_REQ_HAS_BODY;
        p->body_left = p->content_length;
        p->state = RQ_BODY_CL;
    } else {
        p->state = RQ_MSG_DONE;
    }
    return NM_OK;
}

/* The one-shot path: the whole head is in s[0, len) (head_scan.h). The
 * request line is checked as its states check it, each field line goes
 * through line_begin, line_bytes and line_end as the lexer would hand it
 * over, then head_end: the same code decides. Returns the head's length,
 * or 0 to decline; the states then take the head from its first byte and
 * reset whatever this wrote (req_reset), errors included. */
static size_t oneshot(nm_req_parser_t *p, nm_req_t *req, const char *buf,
                      size_t len)
{
    const unsigned char *s = (const unsigned char *)buf;
    nm_head_scan_t hs;
    nm_head_walk_t hw;
    size_t start, end, lf;
    if (!nm_head_scan(&hs, s, len))
        return 0;
    nm_head_walk_begin(&hw, &hs);
    if (!nm_head_walk_line(&hw, &hs, s, false, &start, &end, &lf))
        return 0;
    /* method SP request-target SP "HTTP/1." DIGIT CRLF (RFC 9112 §3) */
    size_t m = nm_head_next(hs.nc, 0);
    if (m == 0 || s[m] != ' ') { /* a method with other tchars */
        m = 0;
        while (nm_http_cc[s[m]] & NM_CC_TCHAR)
            m++;
        if (m == 0 || s[m] != ' ')
            return 0;
    }
    size_t t = nm_scan(s, m + 1, end, NM_SCAN_TARGET);
    if (t == m + 1 || s[t] != ' ' || t + 9 != end ||
        memcmp(s + t + 1, http_1, sizeof(http_1) - 1) != 0 || s[t + 8] < '0' ||
        s[t + 8] > '9')
        return 0;
    req_reset(p, req);
    req->method = nm_http_method(buf, m); /* OTHER when too long to keep */
    if (nm_cap_append(req->target, &req->target_len, NM_REQ_TARGET_MAX,
                      buf + m + 1, t - m - 1))
        req->flags |= NM_REQ_TRUNCATED_TARGET;
    req->version_minor = s[t + 8] - '0';

    nm_lex_t *lx = &p->lex;
    uint32_t count = 0;
    nm_head_field_t f;
    int r;
    while ((r = nm_head_field(&hw, &hs, s, false, &f)) > 0) {
        if (++count > NM_REQ_FIELDS_MAX)
            return 0;
        enum nm_fld fld = nm_fld_lookup(s + f.start, f.colon - f.start);
        if (fld == NM_FLD_NONE)
            continue;
        size_t v = nm_head_value(s, &f);
        lx->field = (uint8_t)fld;
        lx->vbits = 0;
        if (line_event(p, req, buf + v, f.end - v, true) < 0)
            return 0;
    }
    if (r < 0 || head_end(p, req) < 0)
        return 0;
    nm_lex_end(lx, (uint32_t)hs.end + 1, count);
    return hs.end + 1;
}

long nm_http_req_oneshot(nm_req_parser_t *p, nm_req_t *req, const char *buf,
                         size_t len, nm_req_event_t *ev)
{
    if (!p || !req || !ev || (!buf && len))
        return NM_E_INVAL;
    *ev = NM_REQ_EV_NONE;
    if (p->state != RQ_START || p->lex.head_len != 0 || len == 0 ||
        !(nm_http_cc[(unsigned char)buf[0]] & NM_CC_TCHAR))
        return 0;
    size_t n = oneshot(p, req, buf, len);
    if (n > 0)
        *ev = NM_REQ_EV_HEAD_DONE;
    return (long)n;
}

/* The next request's head starts counting from zero. */
static void msg_done(nm_req_parser_t *p)
{
    p->state = RQ_START;
    p->lex.head_len = 0;
}

bool nm_http_req_take_done(nm_req_parser_t *p)
{
    if (p->state != RQ_MSG_DONE)
        return false;
    msg_done(p);
    return true;
}

/* One byte of the request line, counted against the head limit. */
#define TAKE_BYTE()                                                            \
    do {                                                                       \
        if (p->lex.head_len >= NM_REQ_HEAD_MAX) {                              \
            rc = NM_E_TOO_LONG;                                                \
            goto fail;                                                         \
        }                                                                      \
        p->lex.head_len++;                                                     \
        i++;                                                                   \
    } while (0)

long nm_http_req_feed(nm_req_parser_t *p, nm_req_t *req, const char *buf,
                      size_t len, nm_req_event_t *ev)
{
    const unsigned char *s = (const unsigned char *)buf;
    size_t i = 0;
    int rc;
    unsigned char c;

    if (!p || !req || !ev || (!buf && len))
        return NM_E_INVAL;
    *ev = NM_REQ_EV_NONE;
    if (p->state == RQ_FAILED)
        return p->error;
    for (;;) {
        if (p->state == RQ_MSG_DONE) {
            msg_done(p);
            *ev = NM_REQ_EV_MSG_DONE;
            return (long)i;
        }
        if (i == len)
            return (long)i;
        c = s[i];
        switch (p->state) {
        case RQ_START:
            if (c == '\r') {
                p->state = RQ_START_LF;
                TAKE_BYTE();
                break;
            }
            if (!(nm_http_cc[c] & NM_CC_TCHAR)) {
                /* TLS records start with 0x16, bare LF is ambiguous. */
                rc = c == '\n' ? NM_E_AMBIGUOUS : NM_E_PARSE;
                goto fail;
            }
            if (p->lex.head_len == 0) { /* no leading CRLF to count */
                size_t n = oneshot(p, req, buf + i, len - i);
                if (n > 0) {
                    *ev = NM_REQ_EV_HEAD_DONE;
                    return (long)(i + n);
                }
            }
            {
                uint32_t skipped = p->lex.head_len; /* leading CRLFs */
                req_reset(p, req);
                p->lex.head_len = skipped;
            }
            p->state = RQ_METHOD;
            break;
        case RQ_START_LF:
            if (c != '\n') {
                rc = NM_E_PARSE;
                goto fail;
            }
            p->state = RQ_START;
            TAKE_BYTE();
            break;
        case RQ_METHOD: {
            /* The method is collected in req->target, then replaced. */
            size_t start = i;
            size_t room = NM_REQ_HEAD_MAX - p->lex.head_len;
            size_t lim = len - i < room ? len : i + room;
            while (i < lim && (nm_http_cc[s[i]] & NM_CC_TCHAR))
                i++;
            if (nm_cap_append(req->target, &req->target_len, NM_REQ_TARGET_MAX,
                              buf + start, i - start))
                req->flags |= NM_REQ_TRUNCATED_TARGET;
            p->lex.head_len += (uint32_t)(i - start);
            if (i == len)
                return (long)i;
            if (s[i] != ' ') {
                rc = i == lim ? NM_E_TOO_LONG : NM_E_PARSE;
                goto fail;
            }
            req->method = (req->flags & NM_REQ_TRUNCATED_TARGET)
                              ? NM_METHOD_OTHER
                              : nm_http_method(req->target, req->target_len);
            req->target_len = 0;
            req->flags &= ~NM_REQ_TRUNCATED_TARGET;
            p->state = RQ_TARGET;
            TAKE_BYTE();
            break;
        }
        case RQ_TARGET: {
            size_t start = i;
            size_t room = NM_REQ_HEAD_MAX - p->lex.head_len;
            size_t lim = len - i < room ? len : i + room;
            while (i < lim && (nm_http_cc[s[i]] & NM_CC_TARGET))
                i++;
            if (nm_cap_append(req->target, &req->target_len, NM_REQ_TARGET_MAX,
                              buf + start, i - start))
                req->flags |= NM_REQ_TRUNCATED_TARGET;
            p->lex.head_len += (uint32_t)(i - start);
            if (i == len)
                return (long)i;
            if (s[i] != ' ' || req->target_len == 0) {
                /* HTTP/0.9 "GET /\r\n" ends here with CR. */
                rc = i == lim ? NM_E_TOO_LONG : NM_E_PARSE;
                goto fail;
            }
            p->lex.name_pos = 0;
            p->state = RQ_VERSION;
            TAKE_BYTE();
            break;
        }
        case RQ_VERSION:
            /* The common case, "HTTP/1.x" CRLF whole in one buffer, in one
             * step; the same checks as the byte states, which any split or
             * error still takes. */
            if (p->lex.name_pos == 0 && len - i >= 10 &&
                p->lex.head_len + 10 <= NM_REQ_HEAD_MAX &&
                memcmp(s + i, http_1, sizeof(http_1) - 1) == 0 &&
                s[i + 7] >= '0' && s[i + 7] <= '9' && s[i + 8] == '\r' &&
                s[i + 9] == '\n') {
                req->version_minor = s[i + 7] - '0';
                p->lex.head_len += 10;
                i += 10;
                p->state = RQ_FIELDS;
                break;
            }
            /* HTTP-name is case-sensitive (RFC 9112 §2.3); "HTTP/2.0" of
             * the h2 preface fails here. */
            if (c != (unsigned char)http_1[p->lex.name_pos]) {
                rc = NM_E_PARSE;
                goto fail;
            }
            if (++p->lex.name_pos == sizeof(http_1) - 1)
                p->state = RQ_VERSION_DIGIT;
            TAKE_BYTE();
            break;
        case RQ_VERSION_DIGIT:
            if (c < '0' || c > '9') {
                rc = NM_E_PARSE;
                goto fail;
            }
            req->version_minor = c - '0';
            p->state = RQ_VERSION_CR;
            TAKE_BYTE();
            break;
        case RQ_VERSION_CR:
            if (c != '\r') {
                rc = c == '\n' ? NM_E_AMBIGUOUS : NM_E_PARSE;
                goto fail;
            }
            p->state = RQ_VERSION_LF;
            TAKE_BYTE();
            break;
        case RQ_VERSION_LF:
            if (c != '\n') {
                rc = NM_E_PARSE;
                goto fail;
            }
            p->state = RQ_FIELDS;
            TAKE_BYTE();
            break;
        case RQ_FIELDS: {
            size_t used;
            nm_slice_t v;
            int lr = nm_lex_feed(&p->lex, buf + i, len - i, &used, &v,
                                 NM_REQ_HEAD_MAX, NM_REQ_FIELDS_MAX);
            i += used;
            if (lr < 0) {
                rc = lr;
                goto fail;
            }
            if (lr == NM_LEX_VALUE || lr == NM_LEX_LINE_END) {
                if (p->lex.field != NM_FLD_NONE &&
                    (rc = line_event(p, req, v.ptr, v.len,
                                     lr == NM_LEX_LINE_END)) < 0)
                    goto fail;
            } else if (lr == NM_LEX_HEAD_END) {
                if ((rc = head_end(p, req)) < 0)
                    goto fail;
                *ev = NM_REQ_EV_HEAD_DONE;
                return (long)i;
            }
            break;
        }
        case RQ_BODY_CL: {
            size_t n = len - i;
            if (n > p->body_left)
                n = (size_t)p->body_left;
            i += n;
            p->body_left -= n;
            if (p->body_left == 0) {
                msg_done(p);
                *ev = NM_REQ_EV_MSG_DONE;
                return (long)i;
            }
            break;
        }
        case RQ_BODY_CHUNKED: {
            size_t used;
            nm_slice_t d;
            int cr = nm_chunk_feed(&p->chunk, buf + i, len - i, &used, &d,
                                   NM_REQ_HEAD_MAX, NM_REQ_FIELDS_MAX);
            i += used;
            if (cr < 0) {
                rc = cr;
                goto fail;
            }
            if (cr == NM_CK_DONE) {
                msg_done(p);
                *ev = NM_REQ_EV_MSG_DONE;
                return (long)i;
            }
            break;
        }
        default:
            rc = NM_E_INVAL;
            goto fail;
        }
    }
fail:
    p->state = RQ_FAILED;
    p->error = (int8_t)rc;
    return rc;
}
