/* head_bench.c - cost of parsing one request or response head that is
 * whole in one buffer (what the shim nearly always gets), through the
 * parsers' public feed functions, for the heads the benchmarks send and
 * receive. Prints ns per head; under callgrind, run it twice with two
 * iteration counts and divide the difference of the totals by the
 * difference of the counts to get instructions per head (tools/bench/
 * head_instr.sh does that for every head).
 * Usage: head_bench [--split] [--only NAME] [iterations]
 *   --split   feed the first byte alone, then the rest: the same head
 *             through the incremental states only. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "http_req.h"
#include "http_resp.h"

typedef struct head {
    const char *name;
    int is_request;
    const char *text;
} head_t;

static const head_t heads[] = {
    {"req_curl", 1,
     "GET /index.html HTTP/1.1\r\n"
     "Host: localhost:8080\r\n"
     "User-Agent: curl/7.88.1\r\n"
     "Accept: */*\r\n\r\n"},
    {"req_ab", 1,
     "GET /f1k.bin HTTP/1.0\r\n"
     "Connection: Keep-Alive\r\n"
     "Host: 127.0.0.1:41234\r\n"
     "User-Agent: ApacheBench/2.3\r\n"
     "Accept: */*\r\n\r\n"},
    {"req_firefox", 1,
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
     "Cache-Control: max-age=0\r\n\r\n"},
    /* nginx 1.22, a static file with its own validators. */
    {"resp_nginx", 0,
     "HTTP/1.1 200 OK\r\n"
     "Server: nginx/1.22.1\r\n"
     "Date: Tue, 25 Nov 2025 12:09:41 GMT\r\n"
     "Content-Type: application/octet-stream\r\n"
     "Content-Length: 1024\r\n"
     "Last-Modified: Tue, 25 Nov 2025 11:58:02 GMT\r\n"
     "Connection: keep-alive\r\n"
     "ETag: \"69259a4a-400\"\r\n"
     "Accept-Ranges: bytes\r\n\r\n"},
    /* The same without validators (the benchmarks' legacy nginx). */
    {"resp_legacy", 0,
     "HTTP/1.1 200 OK\r\n"
     "Server: nginx/1.22.1\r\n"
     "Date: Tue, 25 Nov 2025 12:09:41 GMT\r\n"
     "Content-Type: application/octet-stream\r\n"
     "Content-Length: 1024\r\n"
     "Connection: keep-alive\r\n"
     "Accept-Ranges: bytes\r\n\r\n"},
};

static volatile unsigned sink;

static void one_req(const char *s, size_t len, int is_split)
{
    static nm_req_parser_t p;
    static nm_req_t req;
    nm_req_event_t ev;
    long n = 0;
    nm_http_req_init(&p);
    if (is_split)
        n = nm_http_req_feed(&p, &req, s, 1, &ev);
    n += nm_http_req_feed(&p, &req, s + n, len - (size_t)n, &ev);
    if (n != (long)len || ev != NM_REQ_EV_HEAD_DONE) {
        fprintf(stderr, "request head not parsed: %ld\n", n);
        exit(1);
    }
    sink += req.flags + req.host_len;
}

static void one_resp(const char *s, size_t len, int is_split)
{
    static nm_resp_parser_t p;
    static nm_resp_t resp;
    nm_resp_event_t ev;
    long n = 0;
    nm_http_resp_init(&p);
    if (is_split)
        n = nm_http_resp_feed(&p, &resp, s, 1, &ev);
    n += nm_http_resp_feed(&p, &resp, s + n, len - (size_t)n, &ev);
    if (n != (long)len || ev != NM_RESP_EV_HEAD_DONE) {
        fprintf(stderr, "response head not parsed: %ld\n", n);
        exit(1);
    }
    sink += resp.flags + resp.etag_len;
}

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

int main(int argc, char **argv)
{
    const char *only = NULL;
    int is_split = 0;
    long iters = 1000000;
    for (int a = 1; a < argc; a++) {
        if (strcmp(argv[a], "--split") == 0)
            is_split = 1;
        else if (strcmp(argv[a], "--only") == 0 && a + 1 < argc)
            only = argv[++a];
        else
            iters = atol(argv[a]);
    }
    for (size_t h = 0; h < sizeof(heads) / sizeof(heads[0]); h++) {
        const head_t *hd = &heads[h];
        if (only && strcmp(only, hd->name) != 0)
            continue;
        size_t len = strlen(hd->text);
        double best = 1e18;
        for (int r = 0; r < 3; r++) {
            double t0 = now_ns();
            for (long i = 0; i < iters; i++) {
                if (hd->is_request)
                    one_req(hd->text, len, is_split);
                else
                    one_resp(hd->text, len, is_split);
            }
            double ns = (now_ns() - t0) / (double)iters;
            if (ns < best)
                best = ns;
        }
        printf("%-12s %4zu bytes  %7.1f ns/head  %5.2f ns/byte\n", hd->name,
               len, best, best / (double)len);
    }
    return 0;
}
