/* http_req.h - incremental HTTP/1.x request parser. Fed any split of the
 * client's byte stream (one byte at a time gives the same result), it finds
 * each request's head, captures the fields notmod needs into a caller-owned
 * nm_req_t, and skips request bodies (Content-Length, chunked) so pipelined
 * requests are found. Used by the shim's read side and the pcap observer. */
#ifndef NM_HTTP_REQ_H
#define NM_HTTP_REQ_H

#include "nm.h"
#include "http_common.h"

/* Capture sizes. A field longer than its capture sets NM_REQ_TRUNCATED_*;
 * a truncated conditional field must never lead to a 304. */
#define NM_REQ_TARGET_MAX 1024
#define NM_REQ_HOST_MAX 256
#define NM_REQ_INM_MAX 512
#define NM_REQ_DATE_MAX 64
#define NM_REQ_IF_MATCH_MAX 256

/* nm_req_t.flags */
#define NM_REQ_HAS_INM (1u << 0)      /* If-None-Match present (maybe empty) */
#define NM_REQ_HAS_IMS (1u << 1)      /* If-Modified-Since present */
#define NM_REQ_HAS_IF_MATCH (1u << 2) /* If-Match present */
#define NM_REQ_HAS_IUS (1u << 3)      /* If-Unmodified-Since present */
#define NM_REQ_HAS_RANGE (1u << 4)
#define NM_REQ_HAS_IF_RANGE (1u << 5)
#define NM_REQ_CONN_CLOSE (1u << 6)      /* Connection: close */
#define NM_REQ_CONN_KEEP_ALIVE (1u << 7) /* Connection: keep-alive */
#define NM_REQ_UPGRADE (1u << 8)         /* Upgrade field present */
#define NM_REQ_EXPECT_CONTINUE (1u << 9) /* Expect: 100-continue */
#define NM_REQ_IMS_MULTI (1u << 10)      /* If-Modified-Since repeated */
#define NM_REQ_IUS_MULTI (1u << 11)      /* If-Unmodified-Since repeated */
#define NM_REQ_TRUNCATED_TARGET (1u << 12)
#define NM_REQ_TRUNCATED_HOST (1u << 13)
#define NM_REQ_TRUNCATED_COND (1u << 14) /* INM/IMS/IM/IUS overflowed */
#define NM_REQ_HAS_BODY (1u << 15)       /* Content-Length > 0 or chunked */

/* What one request head says. Repeated If-None-Match / If-Match field lines
 * are joined with ", " (RFC 9110 §5.3); a repeated date field sets *_MULTI. */
typedef struct nm_req {
    nm_method_t method;
    int version_minor; /* HTTP/1.<minor>: 0 or 1 */
    uint32_t flags;
    uint16_t target_len, host_len, inm_len, ims_len, if_match_len, ius_len;
    char target[NM_REQ_TARGET_MAX]; /* request-target as sent */
    char host[NM_REQ_HOST_MAX];     /* Host field value */
    char inm[NM_REQ_INM_MAX];
    char ims[NM_REQ_DATE_MAX];
    char if_match[NM_REQ_IF_MATCH_MAX];
    char ius[NM_REQ_DATE_MAX];
} nm_req_t;

/* Parser events, reported through *ev by nm_http_req_feed. */
typedef enum nm_req_event {
    NM_REQ_EV_NONE = 0,  /* consumed everything, need more bytes */
    NM_REQ_EV_HEAD_DONE, /* *req now holds a complete request head */
    NM_REQ_EV_MSG_DONE,  /* the request (head and body) is complete */
} nm_req_event_t;

/* Parser state; small, no pointers into the input, safe to copy. The
 * fields are the parser's own: callers only allocate it and call init. */
typedef struct nm_req_parser {
    uint8_t state;
    int8_t error;       /* sticky NM_E_* once the parser has failed */
    uint32_t framing;   /* NM_FR_* bits of the current head */
    uint64_t body_left; /* Content-Length bytes still to skip */
    uint64_t content_length;
    nm_lex_t lex;     /* field lines; lex.head_len counts the head */
    nm_chunk_t chunk; /* chunked request body */
} nm_req_parser_t;

/* Limits: a head over NM_REQ_HEAD_MAX bytes or NM_REQ_FIELDS_MAX fields
 * gives NM_E_TOO_LONG (the shim then stops touching the connection). */
#define NM_REQ_HEAD_MAX (64 * 1024)
#define NM_REQ_FIELDS_MAX 256

/* Resets the parser to expect the start of a request. */
void nm_http_req_init(nm_req_parser_t *p);

/* Feeds up to len bytes. Returns the number consumed (≤ len) and sets *ev;
 * it stops right after the byte that completes a head or a message, so call
 * again with the rest. A request without a body reports HEAD_DONE and then,
 * on the next call (even with len 0, consuming nothing), MSG_DONE; so drive
 * it as: for (;;) { n = feed(...); if (n < 0) give up; buf += n; len -= n;
 * if (ev == NM_REQ_EV_NONE) break; handle ev; }.
 * Between HEAD_DONE and the next head the parser does not touch *req.
 * Returns NM_E_PARSE for bytes that are not HTTP/1.x (TLS, HTTP/2 preface,
 * HTTP/0.9, NUL or control bytes in values), NM_E_AMBIGUOUS for smuggling
 * shapes (CL+TE, differing CLs, invalid CL, obs-fold, bare LF, whitespace
 * before the colon, a request Transfer-Encoding whose final coding is not
 * chunked, TE in HTTP/1.0, a second Host) and NM_E_TOO_LONG; after an error
 * the parser stays failed and returns the same code.
 * The NM_REQ_CONN_* flags say what the Connection field says; for HTTP/1.0
 * (version_minor 0) persistence needs keep-alive (RFC 9112 §9.3). Bytes
 * after a CONNECT or Upgrade request are parsed as HTTP: the caller decides
 * to stop following the connection on NM_METHOD_CONNECT / NM_REQ_UPGRADE. */
long nm_http_req_feed(nm_req_parser_t *p, nm_req_t *req, const char *buf,
                      size_t len, nm_req_event_t *ev);

/* The path nm_http_req_feed takes at the start of a request whose head is
 * whole in buf (head_scan.h): returns the head's length with *ev set to
 * NM_REQ_EV_HEAD_DONE, leaving *p and *req exactly as feed would; or 0
 * (*ev NONE) when it declines: not at the start of a request, the head
 * not whole in buf or longer than NM_HEAD_SCAN_MAX, or anything it leaves
 * to the incremental states to judge, errors included. After 0 the parser
 * is still at the start of the request and *req holds no head. Exposed
 * for the tests that hold both paths to the same results. */
long nm_http_req_oneshot(nm_req_parser_t *p, nm_req_t *req, const char *buf,
                         size_t len, nm_req_event_t *ev);

/* What nm_http_req_feed reports when fed no bytes, without its checks:
 * true, the parser then at the start of the next request, when the bytes
 * fed before ended a message (NM_REQ_EV_MSG_DONE: a request without a
 * body ends on the call after its head); false in every other state, a
 * failed one included. */
bool nm_http_req_take_done(nm_req_parser_t *p);

/* Maps a method token to nm_method_t (case-sensitive, RFC 9110 §9.1). */
nm_method_t nm_http_method(const char *s, size_t len);

#endif
