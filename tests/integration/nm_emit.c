/* nm_emit.c - test helper: sends shim events (common/event.h) to notmodd,
 * encoded by the real encoder, so the integration tests exercise the same
 * bytes a shim sends.
 *   nm_emit --socket PATH [--count N] [--host H] [--path P] [--tag T]
 *           [--method GET|HEAD|POST] [--status N] [--outcome NAME]
 *           [--cond inm|ims] [--synth] [--body-len N] [--saved N]
 *           [--token HEX] [--raw HEX]     (--raw sends bytes as given)
 *           [--server-us N]  (the server's time, event version 2)
 *           (--outcome accelerated_304: a version 2 event)
 *           [--rate R]    (R events per second, evenly spaced; default:
 *                          as fast as the socket takes them)
 * Several events: repeat the options after "--" separators. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "event.h"

static nm_slice_t S(const char *s)
{
    nm_slice_t sl = {s, s ? strlen(s) : 0};
    return sl;
}

static int outcome_of(const char *name)
{
    for (int i = 0; i < NM_OUTCOME_COUNT_; i++)
        if (strcmp(nm_event_outcome_name((unsigned)i), name) == 0)
            return i;
    return -1;
}

static int method_of(const char *m)
{
    static const char *const names[] = {"OTHER", "GET",    "HEAD",    "POST",
                                        "PUT",   "DELETE", "OPTIONS", "CONNECT",
                                        "TRACE", "PATCH"};
    for (int i = 0; i < 10; i++)
        if (strcmp(names[i], m) == 0)
            return i;
    return -1;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static int usage(const char *why)
{
    fprintf(stderr, "nm_emit: %s\n", why);
    return 2;
}

int main(int argc, char **argv)
{
    const char *sock = NULL;
    long count = 1;
    double rate = 0;
    nm_event_t ev = {0};
    ev.method = NM_METHOD_GET;
    ev.status = 200;
    ev.outcome = NM_OUTCOME_TAG_ADDED;
    ev.pid = (uint32_t)getpid();
    ev.host = S("example.test");
    ev.path = S("/");
    unsigned char raw[NM_EVENT_MAX_LEN + 64];
    size_t raw_len = 0;
    for (int i = 1; i < argc; i++) {
        const char *opt = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(opt, "--synth") == 0) {
            ev.flags |= NM_EVENT_F_SYNTH_TAG;
            continue;
        }
        if (!v)
            return usage("missing value");
        i++;
        if (strcmp(opt, "--socket") == 0)
            sock = v;
        else if (strcmp(opt, "--count") == 0)
            count = atol(v);
        else if (strcmp(opt, "--rate") == 0)
            rate = atof(v);
        else if (strcmp(opt, "--host") == 0)
            ev.host = S(v);
        else if (strcmp(opt, "--path") == 0)
            ev.path = S(v);
        else if (strcmp(opt, "--tag") == 0)
            ev.validator = S(v);
        else if (strcmp(opt, "--status") == 0)
            ev.status = (uint16_t)atoi(v);
        else if (strcmp(opt, "--body-len") == 0)
            ev.body_len = strtoull(v, NULL, 10);
        else if (strcmp(opt, "--saved") == 0)
            ev.bytes_saved = strtoull(v, NULL, 10);
        else if (strcmp(opt, "--server-us") == 0) {
            ev.flags |= NM_EVENT_F_TIMED;
            ev.server_us = (uint32_t)strtoul(v, NULL, 10);
        } else if (strcmp(opt, "--token") == 0) {
            ev.flags |= NM_EVENT_F_TOKEN;
            ev.token = strtoull(v, NULL, 16);
        } else if (strcmp(opt, "--cond") == 0)
            ev.flags |= strcmp(v, "inm") == 0 ? NM_EVENT_F_COND_INM
                                              : NM_EVENT_F_COND_IMS;
        else if (strcmp(opt, "--method") == 0) {
            int m = method_of(v);
            if (m < 0)
                return usage("unknown method");
            ev.method = (uint8_t)m;
        } else if (strcmp(opt, "--outcome") == 0) {
            int o = outcome_of(v);
            if (o < 0)
                return usage("unknown outcome");
            ev.outcome = (uint8_t)o;
        } else if (strcmp(opt, "--raw") == 0) {
            size_t n = strlen(v);
            if (n % 2 || n / 2 > sizeof(raw))
                return usage("bad --raw");
            for (size_t k = 0; k < n / 2; k++) {
                int hi = hexval(v[2 * k]), lo = hexval(v[2 * k + 1]);
                if (hi < 0 || lo < 0)
                    return usage("bad --raw");
                raw[k] = (unsigned char)(hi << 4 | lo);
            }
            raw_len = n / 2;
        } else
            return usage("unknown option");
    }
    if (!sock)
        return usage("--socket is required");
    unsigned char buf[NM_EVENT_MAX_LEN];
    const unsigned char *msg = raw;
    size_t len = raw_len;
    if (!raw_len) {
        int n = nm_event_encode(buf, sizeof(buf), &ev);
        if (n < 0)
            return usage("event does not encode");
        msg = buf;
        len = (size_t)n;
    }
    int fd = socket(AF_UNIX, SOCK_DGRAM, 0);
    struct sockaddr_un sa = {0};
    sa.sun_family = AF_UNIX;
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock);
    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (long k = 0; k < count; k++) {
        if (rate > 0) {
            /* Absolute deadlines: the rate holds however long a send
             * takes, which is what the rate tests compare against. */
            double at = (double)start.tv_sec + (double)start.tv_nsec / 1e9 +
                        (double)k / rate;
            struct timespec ts = {(time_t)at,
                                  (long)((at - (double)(time_t)at) * 1e9)};
            while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) ==
                   EINTR)
                ;
        }
        while (sendto(fd, msg, len, 0, (struct sockaddr *)&sa, sizeof(sa)) <
               0) {
            if (errno != EAGAIN && errno != ENOBUFS) {
                fprintf(stderr, "nm_emit: sendto %s: %s\n", sock,
                        strerror(errno));
                return 1;
            }
            usleep(1000); /* receiver busy: a test wants every event */
        }
    }
    close(fd);
    return 0;
}
