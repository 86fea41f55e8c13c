/* parser_bench.c - ns per request for notmod's request parser against
 * libhttp-parser (when present), on a ~400-byte browser revalidation GET.
 * Both capture the same fields (method, target, Host, If-None-Match,
 * If-Modified-Since, If-Match, If-Unmodified-Since, Range/If-Range,
 * Connection, Upgrade, Expect). Usage: parser_bench [iterations] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "http_req.h"

#ifdef HAVE_HTTP_PARSER
#include <http_parser.h>
#endif

static const char request[] =
    "GET /static/app.css?v=3 HTTP/1.1\r\n"
    "Host: www.example.org\r\n"
    "User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 "
    "Firefox/128.0\r\n"
    "Accept: text/css,*/*;q=0.1\r\n"
    "Accept-Language: en-US,en;q=0.5\r\n"
    "Accept-Encoding: gzip, deflate, br, zstd\r\n"
    "Connection: keep-alive\r\n"
    "Referer: http://www.example.org/\r\n"
    "If-Modified-Since: Mon, 24 Nov 2025 10:00:00 GMT\r\n"
    "If-None-Match: W/\"1a2b-3c4d\"\r\n"
    "Cache-Control: max-age=0\r\n\r\n";

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static volatile unsigned sink;

static double bench_notmod(long iters)
{
    nm_req_parser_t p;
    static nm_req_t req;
    double t0 = now_ns();
    for (long i = 0; i < iters; i++) {
        nm_req_event_t ev;
        nm_http_req_init(&p);
        long n = nm_http_req_feed(&p, &req, request, sizeof(request) - 1, &ev);
        if (n != (long)sizeof(request) - 1 || ev != NM_REQ_EV_HEAD_DONE) {
            fprintf(stderr, "notmod parser failed: %ld\n", n);
            exit(1);
        }
        sink += req.flags + req.inm_len;
    }
    return (now_ns() - t0) / (double)iters;
}

#ifdef HAVE_HTTP_PARSER
/* The same captures through http_parser's callbacks: field names may
 * arrive in pieces, so they are collected before the value is routed. */
enum {
    HF_NONE,
    HF_HOST,
    HF_INM,
    HF_IMS,
    HF_IM,
    HF_IUS,
    HF_RANGE,
    HF_IF_RANGE,
    HF_CONN,
    HF_UPGRADE,
    HF_EXPECT
};

typedef struct cap {
    nm_req_t req;
    char name[64];
    size_t name_len;
    int field;
    int in_value;
} cap_t;

static void append(char *dst, uint16_t *len, size_t cap, const char *s,
                   size_t n)
{
    if (n > cap - *len)
        n = cap - *len;
    memcpy(dst + *len, s, n);
    *len = (uint16_t)(*len + n);
}

static int on_url(http_parser *hp, const char *at, size_t n)
{
    cap_t *c = hp->data;
    append(c->req.target, &c->req.target_len, NM_REQ_TARGET_MAX, at, n);
    return 0;
}

static int on_field(http_parser *hp, const char *at, size_t n)
{
    cap_t *c = hp->data;
    if (c->in_value) {
        c->name_len = 0;
        c->in_value = 0;
    }
    if (n > sizeof(c->name) - c->name_len)
        n = sizeof(c->name) - c->name_len;
    memcpy(c->name + c->name_len, at, n);
    c->name_len += n;
    return 0;
}

static int classify(const char *s, size_t n)
{
    static const struct {
        const char *name;
        int f;
    } t[] = {{"host", HF_HOST},
             {"if-none-match", HF_INM},
             {"if-modified-since", HF_IMS},
             {"if-match", HF_IM},
             {"if-unmodified-since", HF_IUS},
             {"range", HF_RANGE},
             {"if-range", HF_IF_RANGE},
             {"connection", HF_CONN},
             {"upgrade", HF_UPGRADE},
             {"expect", HF_EXPECT}};
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
        if (strlen(t[i].name) == n && strncasecmp(t[i].name, s, n) == 0)
            return t[i].f;
    return HF_NONE;
}

static int on_value(http_parser *hp, const char *at, size_t n)
{
    cap_t *c = hp->data;
    nm_req_t *r = &c->req;
    if (!c->in_value) {
        c->in_value = 1;
        c->field = classify(c->name, c->name_len);
    }
    switch (c->field) {
    case HF_HOST:
        append(r->host, &r->host_len, NM_REQ_HOST_MAX, at, n);
        break;
    case HF_INM:
        r->flags |= NM_REQ_HAS_INM;
        append(r->inm, &r->inm_len, NM_REQ_INM_MAX, at, n);
        break;
    case HF_IMS:
        r->flags |= NM_REQ_HAS_IMS;
        append(r->ims, &r->ims_len, NM_REQ_DATE_MAX, at, n);
        break;
    case HF_IM:
        r->flags |= NM_REQ_HAS_IF_MATCH;
        append(r->if_match, &r->if_match_len, NM_REQ_IF_MATCH_MAX, at, n);
        break;
    case HF_IUS:
        r->flags |= NM_REQ_HAS_IUS;
        append(r->ius, &r->ius_len, NM_REQ_DATE_MAX, at, n);
        break;
    case HF_RANGE:
        r->flags |= NM_REQ_HAS_RANGE;
        break;
    case HF_IF_RANGE:
        r->flags |= NM_REQ_HAS_IF_RANGE;
        break;
    case HF_UPGRADE:
        r->flags |= NM_REQ_UPGRADE;
        break;
    case HF_CONN:
        /* http_parser tracks close/keep-alive itself (F_CONNECTION_*). */
        break;
    case HF_EXPECT:
        if (n == 12 && strncasecmp(at, "100-continue", 12) == 0)
            r->flags |= NM_REQ_EXPECT_CONTINUE;
        break;
    default:
        break;
    }
    return 0;
}

static int on_headers_complete(http_parser *hp)
{
    cap_t *c = hp->data;
    c->req.method = hp->method == HTTP_GET    ? NM_METHOD_GET
                    : hp->method == HTTP_HEAD ? NM_METHOD_HEAD
                                              : NM_METHOD_OTHER;
    c->req.version_minor = hp->http_minor;
    if (!http_should_keep_alive(hp))
        c->req.flags |= NM_REQ_CONN_CLOSE;
    return 1; /* like ours: stop after the head, skip no body */
}

static double bench_http_parser(long iters)
{
    http_parser_settings s;
    static cap_t c;
    http_parser hp;
    memset(&s, 0, sizeof(s));
    s.on_url = on_url;
    s.on_header_field = on_field;
    s.on_header_value = on_value;
    s.on_headers_complete = on_headers_complete;
    double t0 = now_ns();
    for (long i = 0; i < iters; i++) {
        http_parser_init(&hp, HTTP_REQUEST);
        hp.data = &c;
        c.req.flags = 0;
        c.req.target_len = c.req.host_len = c.req.inm_len = 0;
        c.req.ims_len = c.req.if_match_len = c.req.ius_len = 0;
        c.name_len = 0;
        c.in_value = 0;
        size_t n = http_parser_execute(&hp, &s, request, sizeof(request) - 1);
        if (n != sizeof(request) - 1 ||
            HTTP_PARSER_ERRNO(&hp) != HPE_CB_headers_complete) {
            if (HTTP_PARSER_ERRNO(&hp) != HPE_OK || n != sizeof(request) - 1) {
                fprintf(stderr, "http_parser failed: %s\n",
                        http_errno_name(HTTP_PARSER_ERRNO(&hp)));
                exit(1);
            }
        }
        sink += c.req.flags + c.req.inm_len;
    }
    return (now_ns() - t0) / (double)iters;
}
#endif

int main(int argc, char **argv)
{
    long iters = argc > 1 ? atol(argv[1]) : 2000000;
    double ours, best_ours = 1e18;
    if (iters <= 0)
        iters = 2000000;
    printf("request: %zu bytes, %ld iterations, best of 5\n",
           sizeof(request) - 1, iters);
    for (int r = 0; r < 5; r++) {
        ours = bench_notmod(iters);
        if (ours < best_ours)
            best_ours = ours;
    }
#ifdef HAVE_HTTP_PARSER
    double theirs, best_theirs = 1e18;
    for (int r = 0; r < 5; r++) {
        theirs = bench_http_parser(iters);
        if (theirs < best_theirs)
            best_theirs = theirs;
    }
    printf("parser: notmod %.0f ns/req, http-parser %.0f ns/req\n", best_ours,
           best_theirs);
#else
    printf("parser: notmod %.0f ns/req, http-parser n/a (not installed)\n",
           best_ours);
#endif
    return 0;
}
