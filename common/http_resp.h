/* http_resp.h - incremental HTTP/1.x response parser. Fed the server's
 * byte stream in any split, it reports each response head (status, framing,
 * the validators it carries), then the de-chunked body bytes as spans of the
 * input, then the end of the message. Used by the shim's write side and the
 * pcap observer; the caller keeps the head bytes if it needs them. */
#ifndef NM_HTTP_RESP_H
#define NM_HTTP_RESP_H

#include "nm.h"
#include "http_common.h"

/* nm_resp_t.flags */
#define NM_RESP_HAS_ETAG (1u << 0)
#define NM_RESP_HAS_LAST_MODIFIED (1u << 1)
#define NM_RESP_HAS_DATE (1u << 2)
#define NM_RESP_HAS_CL (1u << 3)          /* Content-Length framing */
#define NM_RESP_CHUNKED (1u << 4)         /* Transfer-Encoding: chunked */
#define NM_RESP_CLOSE_DELIMITED (1u << 5) /* body ends when the conn closes */
#define NM_RESP_NO_BODY (1u << 6)         /* HEAD, 1xx, 204, 304: head is all */
#define NM_RESP_CONN_CLOSE (1u << 7)      /* Connection: close */
#define NM_RESP_KEEP_ALIVE (1u << 8)      /* Connection: keep-alive */
#define NM_RESP_STREAMING                                                      \
    (1u << 9) /* text/event-stream, multipart/x-mixed-replace */
#define NM_RESP_HAS_CONTENT_ENCODING (1u << 10)
#define NM_RESP_HAS_CONTENT_RANGE (1u << 11)
#define NM_RESP_HAS_TRAILER (1u << 12) /* a chunked body ended with fields */
#define NM_RESP_TRUNCATED_VALIDATOR                                            \
    (1u << 13) /* ETag/LM overflowed capture                                   \
                */

#define NM_RESP_ETAG_MAX 256
#define NM_RESP_DATE_MAX 64
/* Field lines whose offsets a head keeps (most heads have under 20). */
#define NM_RESP_LINES_MAX 48

/* What one response head says. */
typedef struct nm_resp {
    int status;
    int version_minor;
    uint32_t flags;
    uint64_t content_length; /* valid with NM_RESP_HAS_CL */
    uint32_t head_len;       /* bytes from the status line to the empty line */
    uint16_t etag_len, last_modified_len, date_len;
    char etag[NM_RESP_ETAG_MAX]; /* ETag field value as sent */
    char last_modified[NM_RESP_DATE_MAX];
    char date[NM_RESP_DATE_MAX];
    /* Field lines of the head, and where each starts (offsets from the
     * status line) when there are at most NM_RESP_LINES_MAX of them. */
    uint16_t line_count;
    uint32_t line_start[NM_RESP_LINES_MAX];
} nm_resp_t;

typedef enum nm_resp_event {
    NM_RESP_EV_NONE = 0,  /* consumed everything, need more bytes */
    NM_RESP_EV_HEAD_DONE, /* *resp holds a complete head (1xx included) */
    NM_RESP_EV_BODY,      /* body bytes: p->body_ptr / p->body_len */
    NM_RESP_EV_MSG_DONE,  /* the response is complete */
} nm_resp_event_t;

/* Parser state; no pointers into the input except body_ptr, which is only
 * meaningful right after NM_RESP_EV_BODY. Callers allocate it, call init
 * and expect_head, and read body_ptr/body_len; the rest is the parser's. */
typedef struct nm_resp_parser {
    uint8_t state;
    uint8_t is_head_request; /* set before each response: no body follows */
    int8_t error;            /* sticky NM_E_* once the parser has failed */
    uint32_t head_len;       /* head bytes of the last response reported */
    uint32_t framing;        /* NM_FR_* bits of the current head */
    uint64_t body_left;      /* Content-Length bytes still to come */
    uint64_t content_length;
    const char *body_ptr; /* with NM_RESP_EV_BODY: de-chunked body span */
    size_t body_len;
    nm_lex_t lex;
    nm_chunk_t chunk;
} nm_resp_parser_t;

#define NM_RESP_HEAD_MAX (64 * 1024)
#define NM_RESP_FIELDS_MAX 256

/* Resets the parser to expect the start of a response. */
void nm_http_resp_init(nm_resp_parser_t *p);

/* Says whether the response about to be parsed answers a HEAD (no body
 * whatever the framing fields say). Call before its first byte. */
void nm_http_resp_expect_head(nm_resp_parser_t *p, bool is_head_request);

/* Feeds up to len bytes; returns bytes consumed and the event in *ev,
 * stopping right after each event. Drive it like nm_http_req_feed: an
 * event may be followed by another at the same position (MSG_DONE after
 * the HEAD_DONE of a bodiless response, or after the BODY span that ends a
 * Content-Length body), reported by the next call even with len 0.
 * After a 1xx head (HEAD_DONE with status 1xx, no MSG_DONE) the parser
 * expects the final response of the same request, still for HEAD if
 * expect_head said so. After MSG_DONE is_head_request is cleared.
 * Errors as nm_http_req_feed (a response Transfer-Encoding whose final
 * coding is not chunked is close-delimited, RFC 9112 §6.3, not an error),
 * plus NM_E_UNSUPPORTED for 101 Switching Protocols (the rest is not HTTP),
 * reported once its head is complete.
 *
 * Flags: NM_RESP_HAS_CL / NM_RESP_CHUNKED say what the fields say; the
 * framing actually used is, in order: NM_RESP_NO_BODY (HEAD, 1xx, 204,
 * 304), NM_RESP_CHUNKED, NM_RESP_HAS_CL, else NM_RESP_CLOSE_DELIMITED.
 * NM_RESP_CONN_CLOSE means the server ends the connection after this
 * response: Connection: close, an HTTP/1.0 response without keep-alive
 * (RFC 9112 §9.3), or a close-delimited body. NM_RESP_KEEP_ALIVE is the
 * keep-alive token as sent. A repeated ETag or Last-Modified line sets
 * NM_RESP_TRUNCATED_VALIDATOR (the first is kept; do not trust it). */
long nm_http_resp_feed(nm_resp_parser_t *p, nm_resp_t *resp, const char *buf,
                       size_t len, nm_resp_event_t *ev);

/* The path nm_http_resp_feed takes at the start of a response whose head
 * is whole in buf (head_scan.h): returns the head's length with *ev set to
 * NM_RESP_EV_HEAD_DONE, leaving *p and *resp exactly as feed would; or 0
 * (*ev NONE) when it declines: not at the start of a response, the head
 * not whole in buf or longer than NM_HEAD_SCAN_MAX, or anything it leaves
 * to the incremental states to judge, errors included. After 0 the parser
 * is still at the start of the response and *resp holds no head. Exposed
 * for the tests that hold both paths to the same results. */
long nm_http_resp_oneshot(nm_resp_parser_t *p, nm_resp_t *resp, const char *buf,
                          size_t len, nm_resp_event_t *ev);

/* What nm_http_resp_feed reports when fed no bytes, without its checks:
 * true, the parser then past the message, when the bytes fed before ended
 * it (NM_RESP_EV_MSG_DONE: the parser reports an end on the call after its
 * last byte); false in every other state, a failed one included. The shim
 * asks after each write of a response. */
bool nm_http_resp_take_done(nm_resp_parser_t *p);

/* Body bytes that may be consumed now without being seen: what is left of a
 * Content-Length body or of the current chunk's data, UINT64_MAX for a
 * close-delimited body, 0 when the parser is not inside body data. Lets the
 * shim follow sendfile() bodies it never reads. */
uint64_t nm_http_resp_skippable(const nm_resp_parser_t *p);

/* Consumes n ≤ skippable body bytes unseen; sets *ev to NM_RESP_EV_MSG_DONE
 * when that completes a Content-Length body, else NM_RESP_EV_NONE. */
int nm_http_resp_skip(nm_resp_parser_t *p, uint64_t n, nm_resp_event_t *ev);

/* The connection was closed by the server: completes a close-delimited body
 * (returns NM_RESP_EV_MSG_DONE), or returns NM_RESP_EV_NONE when no
 * message was in progress, or NM_E_PARSE when one was cut short. */
int nm_http_resp_eof(nm_resp_parser_t *p);

#endif
