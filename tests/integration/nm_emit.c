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
 * Several events: repeat the options after "--" separators.
 * A synthetic load for the fleet simulation (tools/bench/fleet.py):
 *   nm_emit --load --socket PATH [--socket PATH...] --urls M [--routes K]
 *           [--rate R] [--changes C] [--seconds T] [--fill] [--seed N]
 *           [--host H]
 * (see run_load). */
#include <errno.h>
#include <stdint.h>
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

/* --- load ---
 * Every socket gets R events a second for T seconds, each for a URL drawn
 * uniformly from M: http://H/r<u % K>?u=<u> (K routes), tag "u<u>.<v>"
 * where v is the URL's version. C changes a second, fleet-wide, each
 * raise the version of one URL: one sender for all sockets, so every
 * daemon sees the same content, as behind a load balancer. One event in
 * three is a revalidation answered by a substituted 304 (1000 bytes
 * saved), the others 200s that left with their tag. An event the
 * receiver has no room for is dropped, and counted so (never sent
 * twice). --fill first sends each URL once to the first socket, waiting
 * for room. Prints the totals sent, by field of stats.h, as one JSON
 * line. */

typedef struct load {
    const char *socks[256];
    int n_socks;
    long urls, routes, seconds;
    double rate, changes;
    uint64_t seed;
    const char *host;
    int is_fill;
    uint32_t *versions;
    uint64_t rng, change_rng;
    unsigned long long sent, dropped, revalidations, bytes_saved, applied;
} load_t;

static uint64_t next_rand(uint64_t *x)
{
    /* xorshift64*: enough for spreading URLs. */
    *x ^= *x >> 12;
    *x ^= *x << 25;
    *x ^= *x >> 27;
    return *x * 0x2545F4914F6CDD1DULL;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Sends the event of URL u to fd/sa; waits for room when must_arrive. */
static int send_url(load_t *L, int fd, const struct sockaddr_un *sa, long u,
                    int is_reval, int must_arrive)
{
    char path[64], tag[64];
    snprintf(path, sizeof(path), "/r%ld?u=%ld", u % L->routes, u);
    snprintf(tag, sizeof(tag), "\"u%ld.%u\"", u, L->versions[u]);
    nm_event_t ev = {0};
    ev.method = NM_METHOD_GET;
    ev.status = 200;
    ev.pid = (uint32_t)getpid();
    ev.host = S(L->host);
    ev.path = S(path);
    ev.validator = S(tag);
    ev.outcome = NM_OUTCOME_TAG_ADDED;
    ev.flags = NM_EVENT_F_SYNTH_TAG;
    if (is_reval) {
        ev.outcome = NM_OUTCOME_SUBSTITUTED_304;
        ev.flags |= NM_EVENT_F_COND_INM;
        ev.bytes_saved = 1000;
    }
    unsigned char buf[NM_EVENT_MAX_LEN];
    int n = nm_event_encode(buf, sizeof(buf), &ev);
    if (n < 0)
        return -1;
    while (sendto(fd, buf, (size_t)n, MSG_DONTWAIT, (const struct sockaddr *)sa,
                  sizeof(*sa)) < 0) {
        if (errno != EAGAIN && errno != ENOBUFS)
            return -1;
        if (!must_arrive) {
            L->dropped++;
            return 0;
        }
        usleep(200);
    }
    L->sent++;
    L->revalidations += is_reval != 0;
    L->bytes_saved += is_reval ? 1000 : 0;
    return 0;
}

static int run_load(load_t *L)
{
    if (L->n_socks == 0 || L->urls <= 0 || L->routes <= 0)
        return usage("--load needs --socket and --urls");
    L->versions = calloc((size_t)L->urls, sizeof(*L->versions));
    int fd = socket(AF_UNIX, SOCK_DGRAM, 0);
    if (!L->versions || fd < 0)
        return usage("out of memory");
    struct sockaddr_un sa[256];
    for (int i = 0; i < L->n_socks; i++) {
        memset(&sa[i], 0, sizeof(sa[i]));
        sa[i].sun_family = AF_UNIX;
        snprintf(sa[i].sun_path, sizeof(sa[i].sun_path), "%s", L->socks[i]);
    }
    L->rng = L->seed * 2 + 1;
    L->change_rng = L->seed * 2 + 0x9E3779B97F4A7C15ULL;
    unsigned long long n_events = 0;
    for (long u = 0; L->is_fill && u < L->urls; u++)
        if (send_url(L, fd, &sa[0], u, 0, 1) < 0)
            return usage("sendto failed");
    double start = now_s(), due_events = 0;
    unsigned long long sent_per_sock = 0;
    while (L->seconds > 0) {
        double t = now_s() - start;
        if (t >= (double)L->seconds)
            break;
        /* Changes first: a version raised now is what every daemon's
         * next event for that URL carries. */
        while ((double)L->applied < L->changes * t) {
            L->versions[next_rand(&L->change_rng) % (uint64_t)L->urls]++;
            L->applied++;
        }
        due_events = L->rate * t;
        for (; (double)sent_per_sock < due_events; sent_per_sock++) {
            for (int i = 0; i < L->n_socks; i++) {
                long u = (long)(next_rand(&L->rng) % (uint64_t)L->urls);
                if (send_url(L, fd, &sa[i], u, n_events++ % 3 == 0, 0) < 0)
                    return usage("sendto failed");
            }
        }
        usleep(5000);
    }
    close(fd);
    printf("{\"requests\": %llu, \"revalidations\": %llu, "
           "\"hits_substituted\": %llu, \"bytes_saved\": %llu, "
           "\"tags_added\": %llu, \"dropped\": %llu, \"changes\": %llu}\n",
           L->sent, L->revalidations, L->revalidations, L->bytes_saved,
           L->sent - L->revalidations, L->dropped, L->applied);
    free(L->versions);
    return 0;
}

/* Reads the --load options (everything after --load). */
static int main_load(int argc, char **argv)
{
    load_t L = {0};
    L.routes = 1000;
    L.rate = 100;
    L.seconds = 10;
    L.host = "fleet.test";
    for (int i = 2; i < argc; i++) {
        const char *opt = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(opt, "--fill") == 0) {
            L.is_fill = 1;
            continue;
        }
        if (!v)
            return usage("missing value");
        i++;
        if (strcmp(opt, "--socket") == 0 && L.n_socks < 256)
            L.socks[L.n_socks++] = v;
        else if (strcmp(opt, "--urls") == 0)
            L.urls = atol(v);
        else if (strcmp(opt, "--routes") == 0)
            L.routes = atol(v);
        else if (strcmp(opt, "--rate") == 0)
            L.rate = atof(v);
        else if (strcmp(opt, "--changes") == 0)
            L.changes = atof(v);
        else if (strcmp(opt, "--seconds") == 0)
            L.seconds = atol(v);
        else if (strcmp(opt, "--seed") == 0)
            L.seed = strtoull(v, NULL, 10);
        else if (strcmp(opt, "--host") == 0)
            L.host = v;
        else
            return usage("unknown --load option");
    }
    return run_load(&L);
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--load") == 0)
        return main_load(argc, argv);
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
