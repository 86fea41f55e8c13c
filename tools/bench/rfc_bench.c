/* rfc_bench.c - micro figures for the RFC logic in common/: ns per
 * nm_cond_eval (If-None-Match list, If-Modified-Since), ns per
 * nm_resp304_build of an nginx-shaped head, ns per HTTP-date parse, and
 * body-hash throughput in GB/s (16 KiB: also libxxhash's own code, which
 * the AVX2 build replaces where the CPU has it). Run by hand:
 * build/rfc_bench [seconds]. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bodyhash.h"
#include "cond.h"
#include "httpdate.h"
#include "resp304.h"

static volatile long sink;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

#define NOW 1700000000LL

static long run_cond_inm(long iters)
{
    static const char inm[] = "\"x1\", W/\"x2\", \"6553f1a0-267\"";
    static const char etag[] = "\"6553f1a0-267\"";
    nm_cond_input_t in = {
        .method = NM_METHOD_GET,
        .status = 200,
        .if_none_match = {inm, sizeof inm - 1},
        .etag = {etag, sizeof etag - 1},
        .last_modified = -1,
        .now = NOW,
    };
    long acc = 0;
    for (long i = 0; i < iters; i++)
        acc += nm_cond_eval(&in);
    return acc;
}

static long run_cond_ims(long iters)
{
    static const char ims[] = "Sun, 06 Nov 1994 08:49:37 GMT";
    nm_cond_input_t in = {
        .method = NM_METHOD_GET,
        .status = 200,
        .if_modified_since = {ims, sizeof ims - 1},
        .last_modified = 784111777,
        .now = NOW,
    };
    long acc = 0;
    for (long i = 0; i < iters; i++)
        acc += nm_cond_eval(&in);
    return acc;
}

static long run_date(long iters)
{
    static const char d[] = "Sun, 06 Nov 1994 08:49:37 GMT";
    long acc = 0;
    int64_t t;
    for (long i = 0; i < iters; i++) {
        nm_httpdate_parse(d, sizeof d - 1, NOW, &t);
        acc += (long)t;
    }
    return acc;
}

static long run_build(long iters)
{
    static const char head[] =
        "HTTP/1.1 200 OK\r\n"
        "Server: nginx/1.22.1\r\n"
        "Date: Wed, 15 Nov 2023 10:00:00 GMT\r\n"
        "Content-Type: text/html\r\n"
        "Content-Length: 615\r\n"
        "Last-Modified: Sun, 06 Nov 1994 08:49:37 GMT\r\n"
        "Connection: keep-alive\r\n"
        "ETag: \"6553f1a0-267\"\r\n"
        "Accept-Ranges: bytes\r\n"
        "\r\n";
    char out[512];
    long acc = 0;
    for (long i = 0; i < iters; i++)
        acc += nm_resp304_build(head, sizeof head - 1, "", 0, NOW, out,
                                sizeof out);
    return acc;
}

/* Times fn until about `secs` have passed; returns ns per call. */
static double time_ns(long (*fn)(long), double secs)
{
    long iters = 1000;
    for (;;) {
        double t0 = now_s();
        sink += fn(iters);
        double dt = now_s() - t0;
        if (dt >= secs)
            return dt * 1e9 / (double)iters;
        iters *= dt > 0.01 ? (long)(secs / dt) + 1 : 10;
    }
}

static double hash_gbps_using(size_t len, double secs, bool use_avx2)
{
    unsigned char *buf = malloc(len);
    char tag[NM_BODYHASH_TAG_LEN + 1];
    if (buf == NULL)
        return 0;
    for (size_t i = 0; i < len; i++)
        buf[i] = (unsigned char)(i * 131 + 7);
    nm_bodyhash_t *h = aligned_alloc(64, (sizeof *h + 63) & ~(size_t)63);
    if (h == NULL) {
        free(buf);
        return 0;
    }
    double bytes = 0, t0 = now_s(), dt;
    do {
        /* Streamed in 64 KiB pieces, as the shim feeds held bodies. */
        nm_bodyhash_init_using(h, 42, use_avx2);
        for (size_t off = 0; off < len; off += 65536)
            nm_bodyhash_update(h, buf + off,
                               len - off < 65536 ? len - off : 65536);
        nm_bodyhash_final(h, tag);
        sink += tag[5];
        bytes += (double)len;
        dt = now_s() - t0;
    } while (dt < secs);
    free(h);
    free(buf);
    return bytes / dt / 1e9;
}

/* As the shim hashes: the best implementation this CPU runs. */
static double hash_gbps(size_t len, double secs)
{
    return hash_gbps_using(len, secs, nm_bodyhash_has_avx2());
}

int main(int argc, char **argv)
{
    double secs = argc > 1 ? atof(argv[1]) : 0.5;
    if (secs <= 0)
        secs = 0.5;
    printf("cond_eval_inm_ns %.1f\n", time_ns(run_cond_inm, secs));
    printf("cond_eval_ims_ns %.1f\n", time_ns(run_cond_ims, secs));
    printf("httpdate_parse_ns %.1f\n", time_ns(run_date, secs));
    printf("build_304_ns %.1f\n", time_ns(run_build, secs));
    printf("hash_1k_gbps %.2f\n", hash_gbps(1024, secs));
    printf("hash_16k_gbps %.2f\n", hash_gbps(16 << 10, secs));
    printf("hash_16k_lib_gbps %.2f\n", hash_gbps_using(16 << 10, secs, false));
    printf("hash_1m_gbps %.2f\n", hash_gbps(1 << 20, secs));
    printf("hash_16m_gbps %.2f\n", hash_gbps(16 << 20, secs));
    return 0;
}
