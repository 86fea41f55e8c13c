/* http_resp.c - incremental HTTP/1.x response parser (RFC 9112 §4-§7).
 * The status line is lexed here; field lines and chunked bodies go through
 * http_common.c, the same code the request parser uses. Framing follows
 * RFC 9112 §6.3 in order; the shim stops touching a connection on any
 * error, so every doubt is an error rather than a guess. A head whole in
 * one buffer takes the one-shot path (head_scan.h, oneshot() below): the
 * same per-field code at about half the instructions (an nginx 200 head
 * 4,371 -> 2,215, tools/bench/head_instr.sh). */
#include "http_resp.h"
#include "head_scan.h"

#include <string.h>

enum {
    RS_START, /* expecting "HTTP/1." */
    RS_VERSION,
    RS_VERSION_DIGIT,
    RS_SP,
    RS_STATUS,       /* three digits, counted by lex.name_pos */
    RS_AFTER_STATUS, /* SP reason, or CR */
    RS_REASON,
    RS_STATUS_LF,
    RS_FIELDS,
    RS_MSG_DONE, /* report MSG_DONE at this position */
    RS_BODY_CL,
    RS_BODY_CHUNKED,
    RS_BODY_CLOSE,
    RS_FAILED,
};

static const nm_tok_t tok_streaming[2] = {NM_TOK("text/event-stream"),
                                          NM_TOK("multipart/x-mixed-replace")};
static const char http_1[] = "HTTP/1.";

void nm_http_resp_init(nm_resp_parser_t *p)
{
    memset(p, 0, sizeof(*p));
    p->state = RS_START;
}

void nm_http_resp_expect_head(nm_resp_parser_t *p, bool is_head_request)
{
    p->is_head_request = is_head_request ? 1 : 0;
}

static void resp_reset(nm_resp_parser_t *p, nm_resp_t *resp)
{
    resp->status = 0;
    resp->version_minor = 0;
    resp->flags = 0;
    resp->content_length = 0;
    resp->head_len = 0;
    resp->etag_len = resp->last_modified_len = resp->date_len = 0;
    p->framing = 0;
    p->body_left = 0;
    p->content_length = 0;
    p->body_ptr = NULL;
    p->body_len = 0;
    nm_lex_begin(&p->lex);
    /* RFC 9112 §2.2 lets a recipient take a bare LF as a line end. CGI
     * scripts print LF-only heads that servers relay verbatim and every
     * client reads; only the request side, where smuggling lives, stays
     * strict. */
    p->lex.is_lf_ok = 1;
    resp->line_count = 0;
    p->lex.line_start = resp->line_start;
    p->lex.line_max = NM_RESP_LINES_MAX;
}

static void msg_done(nm_resp_parser_t *p)
{
    p->state = RS_START;
    p->is_head_request = 0;
    p->framing = 0;
}

/* Could a whole Content-Type value name a streaming type? Only when an
 * element starts with 't' or 'm': its only element unless there is a
 * comma. False spares the token list (about 150 instructions) on nearly
 * every response; true leaves the answer to it. */
static bool may_stream(const char *s, size_t n)
{
    size_t i = 0;
    while (i < n && (s[i] == ' ' || s[i] == '\t'))
        i++;
    unsigned char c = i < n ? (unsigned char)(s[i] | 0x20) : 0;
    return c == 't' || c == 'm' || (n > 0 && memchr(s, ',', n) != NULL);
}

/* A repeated validator line: keep the first, flag the capture as unsure. */
static void once(nm_resp_parser_t *p, nm_resp_t *resp, uint32_t bit)
{
    if (p->framing & bit) {
        p->lex.vbits |= NM_VB_SKIP;
        if (bit != NM_FR_DATE)
            resp->flags |= NM_RESP_TRUNCATED_VALIDATOR;
    }
    p->framing |= bit;
}

/* One event of a captured field line: its first sets the field up, each
 * carries a run s[0, n) of its value (n may be 0), its last (is_last)
 * ends it. A value the lexer hands over in one run is a single event, as
 * is every line of the one-shot path; nm_tok_feed then takes the value
 * whole (NM_VB_WHOLE). */
static inline __attribute__((always_inline)) int
line_event(nm_resp_parser_t *p, nm_resp_t *resp, const char *s, size_t n,
           bool is_last)
{
    nm_lex_t *lx = &p->lex;
    bool is_first = !(lx->vbits & NM_VB_STARTED);
    bool is_truncated = false;
    int rc = NM_OK;
    if (is_first)
        lx->vbits |= is_last ? NM_VB_STARTED | NM_VB_WHOLE : NM_VB_STARTED;
    switch (lx->field) {
    case NM_FLD_ETAG:
        if (is_first) {
            once(p, resp, NM_FR_ETAG);
            resp->flags |= NM_RESP_HAS_ETAG;
        }
        if (n > 0 && !(lx->vbits & NM_VB_SKIP))
            is_truncated = nm_cap_append(resp->etag, &resp->etag_len,
                                         NM_RESP_ETAG_MAX, s, n);
        if (is_last)
            nm_cap_trim(resp->etag, &resp->etag_len);
        break;
    case NM_FLD_LAST_MODIFIED:
        if (is_first) {
            once(p, resp, NM_FR_LM);
            resp->flags |= NM_RESP_HAS_LAST_MODIFIED;
        }
        if (n > 0 && !(lx->vbits & NM_VB_SKIP))
            is_truncated =
                nm_cap_append(resp->last_modified, &resp->last_modified_len,
                              NM_RESP_DATE_MAX, s, n);
        if (is_last)
            nm_cap_trim(resp->last_modified, &resp->last_modified_len);
        break;
    case NM_FLD_DATE:
        if (is_first) {
            once(p, resp, NM_FR_DATE);
            resp->flags |= NM_RESP_HAS_DATE;
        }
        /* An overlong Date is no date; httpdate will refuse it. */
        if (n > 0 && !(lx->vbits & NM_VB_SKIP))
            (void)nm_cap_append(resp->date, &resp->date_len, NM_RESP_DATE_MAX,
                                s, n);
        if (is_last)
            nm_cap_trim(resp->date, &resp->date_len);
        break;
    case NM_FLD_CONTENT_ENCODING:
        resp->flags |= NM_RESP_HAS_CONTENT_ENCODING;
        break;
    case NM_FLD_CONTENT_RANGE:
        resp->flags |= NM_RESP_HAS_CONTENT_RANGE;
        break;
    case NM_FLD_CONTENT_TYPE:
        if (is_first && is_last && !may_stream(s, n))
            break; /* no element can be a streaming type */
        if (is_first)
            nm_tok_begin(lx, 2);
        if (n > 0)
            nm_tok_feed(lx, tok_streaming, 2, ';', s, n);
        if (is_last) {
            nm_tok_end(lx, tok_streaming, 2);
            if (lx->tok_seen)
                resp->flags |= NM_RESP_STREAMING;
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
        resp->flags |= NM_RESP_TRUNCATED_VALIDATOR;
    if (is_last)
        lx->vbits = 0;
    return rc;
}

/* RFC 9112 §6.3, in its order. Returns the event to report. */
static int head_end(nm_resp_parser_t *p, nm_resp_t *resp)
{
    uint32_t fr = p->framing;
    int st = resp->status;
    if (fr & NM_FR_CONN_CLOSE)
        resp->flags |= NM_RESP_CONN_CLOSE;
    if (fr & NM_FR_CONN_KEEP_ALIVE)
        resp->flags |= NM_RESP_KEEP_ALIVE;

    resp->head_len = p->lex.head_len;
    p->head_len = p->lex.head_len;
    resp->line_count = (uint16_t)p->lex.field_count;
    if ((fr & NM_FR_TE) && (fr & NM_FR_CL))
        return NM_E_AMBIGUOUS; /* §6.3 item 3: "ought to be an error" */
    if ((fr & NM_FR_TE) && resp->version_minor == 0)
        return NM_E_AMBIGUOUS; /* §6.1: TE in HTTP/1.0 is faulty framing */
    if (st == 101)
        return NM_E_UNSUPPORTED;
    if (fr & NM_FR_CL) {
        resp->flags |= NM_RESP_HAS_CL;
        resp->content_length = p->content_length;
    }
    if (fr & NM_FR_TE_LAST_CHUNKED)
        resp->flags |= NM_RESP_CHUNKED;
    if (resp->version_minor == 0 && !(resp->flags & NM_RESP_KEEP_ALIVE))
        resp->flags |= NM_RESP_CONN_CLOSE;

    if (st < 200) {
        /* Interim: the final response to the same request follows. */
        resp->flags |= NM_RESP_NO_BODY;
        p->state = RS_START;
        p->framing = NM_FR_AFTER_1XX;
        return NM_OK;
    }
    if (p->is_head_request || st == 204 || st == 304) {
        resp->flags |= NM_RESP_NO_BODY;
        p->state = RS_MSG_DONE;
    } else if (fr & NM_FR_TE) {
        if (fr & NM_FR_TE_LAST_CHUNKED) {
            nm_chunk_begin(&p->chunk);
            p->state = RS_BODY_CHUNKED;
        } else {
            /* §6.3 item 4: chunked not final: read until close. */
            resp->flags |= NM_RESP_CLOSE_DELIMITED | NM_RESP_CONN_CLOSE;
            p->state = RS_BODY_CLOSE;
        }
    } else if (fr & NM_FR_CL) {
        p->body_left = p->content_length;
        p->state = p->body_left ? RS_BODY_CL : RS_MSG_DONE;
    } else {
        resp->flags |= NM_RESP_CLOSE_DELIMITED | NM_RESP_CONN_CLOSE;
        p->state = RS_BODY_CLOSE;
    }
    return NM_OK;
}

static inline bool is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

/* The one-shot path: the whole head is in s[0, len) (head_scan.h). The
 * status line is checked as its states check it, each field line goes
 * through line_begin, line_bytes and line_end as the lexer would hand it
 * over (its offset noted as the lexer notes it), then head_end: the same
 * code decides. Returns the head's length, or 0 to decline; the states
 * then take the head from its first byte and reset whatever this wrote
 * (resp_reset), errors included. */
static size_t oneshot(nm_resp_parser_t *p, nm_resp_t *resp, const char *buf,
                      size_t len)
{
    const unsigned char *s = (const unsigned char *)buf;
    nm_head_scan_t hs;
    nm_head_walk_t hw;
    size_t start, end, lf;
    /* "HTTP/1." DIGIT SP 3DIGIT, then SP and a reason, or the line end
     * (RFC 9112 §4); the scan checks the reason's bytes. */
    if (len < 14 || memcmp(s, http_1, sizeof(http_1) - 1) != 0 ||
        !is_digit(s[7]) || s[8] != ' ' || !is_digit(s[9]) || !is_digit(s[10]) ||
        !is_digit(s[11]))
        return 0;
    int code = (s[9] - '0') * 100 + (s[10] - '0') * 10 + (s[11] - '0');
    if (code < 100 || code > 599 || /* RFC 9110 §15 */
        !nm_head_scan(&hs, s, len))
        return 0;
    nm_head_walk_begin(&hw, &hs);
    if (!nm_head_walk_line(&hw, &hs, s, true, &start, &end, &lf) || end < 12 ||
        (end > 12 && s[12] != ' '))
        return 0;
    resp_reset(p, resp);
    resp->version_minor = s[7] - '0';
    resp->status = code;

    nm_lex_t *lx = &p->lex;
    uint32_t count = 0;
    nm_head_field_t f;
    int r;
    while ((r = nm_head_field(&hw, &hs, s, true, &f)) > 0) {
        if (++count > NM_RESP_FIELDS_MAX)
            return 0;
        if (count <= NM_RESP_LINES_MAX)
            resp->line_start[count - 1] = (uint32_t)f.start;
        enum nm_fld fld = nm_fld_lookup(s + f.start, f.colon - f.start);
        if (fld == NM_FLD_NONE)
            continue;
        size_t v = nm_head_value(s, &f);
        lx->field = (uint8_t)fld;
        lx->vbits = 0;
        if (line_event(p, resp, buf + v, f.end - v, true) < 0)
            return 0;
    }
    if (r < 0)
        return 0;
    nm_lex_end(lx, (uint32_t)hs.end + 1, count);
    if (head_end(p, resp) < 0)
        return 0;
    return hs.end + 1;
}

long nm_http_resp_oneshot(nm_resp_parser_t *p, nm_resp_t *resp, const char *buf,
                          size_t len, nm_resp_event_t *ev)
{
    if (!p || !resp || !ev || (!buf && len))
        return NM_E_INVAL;
    *ev = NM_RESP_EV_NONE;
    if (p->state != RS_START || len == 0)
        return 0;
    size_t n = oneshot(p, resp, buf, len);
    if (n > 0)
        *ev = NM_RESP_EV_HEAD_DONE;
    return (long)n;
}

#define TAKE_BYTE()                                                            \
    do {                                                                       \
        if (p->lex.head_len >= NM_RESP_HEAD_MAX) {                             \
            rc = NM_E_TOO_LONG;                                                \
            goto fail;                                                         \
        }                                                                      \
        p->lex.head_len++;                                                     \
        i++;                                                                   \
    } while (0)

long nm_http_resp_feed(nm_resp_parser_t *p, nm_resp_t *resp, const char *buf,
                       size_t len, nm_resp_event_t *ev)
{
    const unsigned char *s = (const unsigned char *)buf;
    size_t i = 0;
    int rc;
    unsigned char c;

    if (!p || !resp || !ev || (!buf && len))
        return NM_E_INVAL;
    *ev = NM_RESP_EV_NONE;
    if (p->state == RS_FAILED)
        return p->error;
    /* Line offsets go to the resp of this call (set on every call: the
     * lexer keeps no pointer a caller could have moved). */
    p->lex.line_start = resp->line_start;
    for (;;) {
        if (p->state == RS_MSG_DONE) {
            msg_done(p);
            *ev = NM_RESP_EV_MSG_DONE;
            return (long)i;
        }
        if (i == len)
            return (long)i;
        c = s[i];
        switch (p->state) {
        case RS_START: {
            size_t n = oneshot(p, resp, buf + i, len - i);
            if (n > 0) {
                *ev = NM_RESP_EV_HEAD_DONE;
                return (long)(i + n);
            }
            resp_reset(p, resp);
            p->lex.name_pos = 0;
            p->state = RS_VERSION;
            /* The common case, "HTTP/1.x nnn" whole in one buffer, in one
             * step; the same checks as the byte states below, so any split
             * or error still takes those. */
            if (len - i >= 12 && p->lex.head_len + 12 <= NM_RESP_HEAD_MAX &&
                memcmp(s + i, http_1, sizeof(http_1) - 1) == 0 &&
                is_digit(s[i + 7]) && s[i + 8] == ' ' && is_digit(s[i + 9]) &&
                is_digit(s[i + 10]) && is_digit(s[i + 11])) {
                int code = (s[i + 9] - '0') * 100 + (s[i + 10] - '0') * 10 +
                           (s[i + 11] - '0');
                if (code >= 100 && code <= 599) { /* RFC 9110 §15 */
                    resp->version_minor = s[i + 7] - '0';
                    resp->status = code;
                    p->lex.head_len += 12;
                    i += 12;
                    p->state = RS_AFTER_STATUS;
                    break;
                }
            }
        }
            /* fall through */
        case RS_VERSION:
            if (c != (unsigned char)http_1[p->lex.name_pos]) {
                rc = NM_E_PARSE;
                goto fail;
            }
            if (++p->lex.name_pos == sizeof(http_1) - 1)
                p->state = RS_VERSION_DIGIT;
            TAKE_BYTE();
            break;
        case RS_VERSION_DIGIT:
            if (c < '0' || c > '9') {
                rc = NM_E_PARSE;
                goto fail;
            }
            resp->version_minor = c - '0';
            p->state = RS_SP;
            TAKE_BYTE();
            break;
        case RS_SP:
            if (c != ' ') {
                rc = NM_E_PARSE;
                goto fail;
            }
            p->lex.name_pos = 0;
            p->state = RS_STATUS;
            TAKE_BYTE();
            break;
        case RS_STATUS:
            if (c < '0' || c > '9') {
                rc = NM_E_PARSE;
                goto fail;
            }
            resp->status = resp->status * 10 + (c - '0');
            if (++p->lex.name_pos == 3) {
                /* RFC 9110 §15: status codes are 100..599. */
                if (resp->status < 100 || resp->status > 599) {
                    rc = NM_E_PARSE;
                    goto fail;
                }
                p->state = RS_AFTER_STATUS;
            }
            TAKE_BYTE();
            break;
        case RS_AFTER_STATUS:
            /* The reason phrase is optional; some servers also drop the SP
             * before it, which RFC 9112 §4 asks us to tolerate. */
            if (c == ' ') {
                p->state = RS_REASON;
            } else if (c == '\r') {
                p->state = RS_STATUS_LF;
            } else if (c == '\n') {
                p->state = RS_FIELDS;
            } else {
                rc = NM_E_PARSE;
                goto fail;
            }
            TAKE_BYTE();
            break;
        case RS_REASON: {
            size_t start = i;
            size_t room = NM_RESP_HEAD_MAX - p->lex.head_len;
            size_t lim = len - i < room ? len : i + room;
            while (i < lim && (nm_http_cc[s[i]] & NM_CC_VALUE))
                i++;
            p->lex.head_len += (uint32_t)(i - start);
            if (i == len)
                return (long)i;
            if (s[i] != '\r' && s[i] != '\n') {
                rc = i == lim ? NM_E_TOO_LONG : NM_E_PARSE;
                goto fail;
            }
            p->state = s[i] == '\r' ? RS_STATUS_LF : RS_FIELDS;
            TAKE_BYTE();
            break;
        }
        case RS_STATUS_LF:
            if (c != '\n') {
                rc = NM_E_PARSE;
                goto fail;
            }
            p->state = RS_FIELDS;
            TAKE_BYTE();
            break;
        case RS_FIELDS: {
            size_t used;
            nm_slice_t v;
            int lr = nm_lex_feed(&p->lex, buf + i, len - i, &used, &v,
                                 NM_RESP_HEAD_MAX, NM_RESP_FIELDS_MAX);
            i += used;
            if (lr < 0) {
                rc = lr;
                goto fail;
            }
            if (lr == NM_LEX_VALUE || lr == NM_LEX_LINE_END) {
                if (p->lex.field != NM_FLD_NONE &&
                    (rc = line_event(p, resp, v.ptr, v.len,
                                     lr == NM_LEX_LINE_END)) < 0)
                    goto fail;
            } else if (lr == NM_LEX_HEAD_END) {
                if ((rc = head_end(p, resp)) < 0)
                    goto fail;
                *ev = NM_RESP_EV_HEAD_DONE;
                return (long)i;
            }
            break;
        }
        case RS_BODY_CL: {
            size_t n = len - i;
            if (n > p->body_left)
                n = (size_t)p->body_left;
            p->body_ptr = buf + i;
            p->body_len = n;
            i += n;
            p->body_left -= n;
            if (p->body_left == 0)
                p->state = RS_MSG_DONE;
            *ev = NM_RESP_EV_BODY;
            return (long)i;
        }
        case RS_BODY_CHUNKED: {
            size_t used;
            nm_slice_t d;
            int cr = nm_chunk_feed(&p->chunk, buf + i, len - i, &used, &d,
                                   NM_RESP_HEAD_MAX, NM_RESP_FIELDS_MAX);
            i += used;
            if (cr < 0) {
                rc = cr;
                goto fail;
            }
            if (cr == NM_CK_DATA) {
                p->body_ptr = d.ptr;
                p->body_len = d.len;
                *ev = NM_RESP_EV_BODY;
                return (long)i;
            }
            if (cr == NM_CK_DONE) {
                if (p->chunk.has_trailer)
                    resp->flags |= NM_RESP_HAS_TRAILER;
                msg_done(p);
                *ev = NM_RESP_EV_MSG_DONE;
                return (long)i;
            }
            break;
        }
        case RS_BODY_CLOSE:
            p->body_ptr = buf + i;
            p->body_len = len - i;
            *ev = NM_RESP_EV_BODY;
            return (long)len;
        default:
            rc = NM_E_INVAL;
            goto fail;
        }
    }
fail:
    p->state = RS_FAILED;
    p->error = (int8_t)rc;
    return rc;
}

bool nm_http_resp_take_done(nm_resp_parser_t *p)
{
    if (p->state != RS_MSG_DONE)
        return false;
    msg_done(p);
    return true;
}

uint64_t nm_http_resp_skippable(const nm_resp_parser_t *p)
{
    switch (p->state) {
    case RS_BODY_CL:
        return p->body_left;
    case RS_BODY_CHUNKED:
        return nm_chunk_in_data(&p->chunk) ? p->chunk.left : 0;
    case RS_BODY_CLOSE:
        return UINT64_MAX;
    default:
        return 0;
    }
}

int nm_http_resp_skip(nm_resp_parser_t *p, uint64_t n, nm_resp_event_t *ev)
{
    if (!p || !ev || n > nm_http_resp_skippable(p))
        return NM_E_INVAL;
    *ev = NM_RESP_EV_NONE;
    if (p->state == RS_BODY_CL) {
        p->body_left -= n;
        if (p->body_left == 0) {
            msg_done(p);
            *ev = NM_RESP_EV_MSG_DONE;
        }
    } else if (p->state == RS_BODY_CHUNKED) {
        nm_chunk_skip(&p->chunk, n);
    }
    return NM_OK;
}

int nm_http_resp_eof(nm_resp_parser_t *p)
{
    switch (p->state) {
    case RS_BODY_CLOSE:
    case RS_MSG_DONE:
        msg_done(p);
        return NM_RESP_EV_MSG_DONE;
    case RS_START:
        if (!(p->framing & NM_FR_AFTER_1XX))
            return NM_RESP_EV_NONE;
        break;
    case RS_FAILED:
        return p->error;
    default:
        break;
    }
    p->state = RS_FAILED;
    p->error = NM_E_PARSE;
    return NM_E_PARSE;
}
