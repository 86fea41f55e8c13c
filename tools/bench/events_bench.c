/* events_bench.c - drives notmodd's event intake for tools/bench/run.sh:
 * sends count events (common/event.h, the shim's own encoder) over a set
 * of distinct URLs, as fast as the daemon's socket takes them (a blocking
 * datagram socket waits while notmodd's queue is full), and prints the
 * time it took. --churn makes every event carry a new tag, so every event
 * changes the store (the Redis backend writes each change back); without
 * it each URL keeps one tag, as steady revalidation traffic does.
 * Usage: events_bench --socket PATH [--count N] [--urls K] [--churn] */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "event.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int usage(void)
{
    fprintf(stderr, "usage: events_bench --socket PATH [--count N] "
                    "[--urls K] [--churn]\n");
    return 2;
}

int main(int argc, char **argv)
{
    const char *sock_path = NULL;
    long count = 200000, urls = 10000;
    bool is_churn = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--churn") == 0)
            is_churn = true;
        else if (i + 1 < argc && strcmp(argv[i], "--socket") == 0)
            sock_path = argv[++i];
        else if (i + 1 < argc && strcmp(argv[i], "--count") == 0)
            count = atol(argv[++i]);
        else if (i + 1 < argc && strcmp(argv[i], "--urls") == 0)
            urls = atol(argv[++i]);
        else
            return usage();
    }
    if (!sock_path || count <= 0 || urls <= 0)
        return usage();
    int fd = socket(AF_UNIX, SOCK_DGRAM, 0);
    struct sockaddr_un sa = {0};
    sa.sun_family = AF_UNIX;
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock_path);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        fprintf(stderr, "events_bench: %s: %s\n", sock_path, strerror(errno));
        return 1;
    }
    nm_event_t ev = {0};
    ev.pid = (uint32_t)getpid();
    ev.method = NM_METHOD_GET;
    ev.host = (nm_slice_t){"bench.example", 13};
    unsigned char buf[NM_EVENT_MAX_LEN];
    char path[64], tag[64];
    double t0 = now_s();
    for (long i = 0; i < count; i++) {
        long url = i % urls;
        /* Mostly revalidations answered 304, a tenth full 200s. */
        bool is_304 = i % 10 != 0;
        ev.status = is_304 ? 304 : 200;
        ev.outcome = is_304 ? NM_OUTCOME_SUBSTITUTED_304 : NM_OUTCOME_TAG_ADDED;
        ev.flags = NM_EVENT_F_SYNTH_TAG | (is_304 ? NM_EVENT_F_COND_INM : 0);
        ev.body_len = 16384;
        ev.bytes_saved = is_304 ? 16384 : 0;
        int pn = snprintf(path, sizeof(path), "/static/%ld.css", url);
        int tn = snprintf(tag, sizeof(tag), "\"nm-%ld-%ld\"", url,
                          is_churn ? i : 0L);
        ev.path = (nm_slice_t){path, (size_t)pn};
        ev.validator = (nm_slice_t){tag, (size_t)tn};
        int n = nm_event_encode(buf, sizeof(buf), &ev);
        if (n < 0) {
            fprintf(stderr, "events_bench: encode failed: %d\n", n);
            return 1;
        }
        while (send(fd, buf, (size_t)n, 0) < 0) {
            if (errno != EINTR && errno != EAGAIN && errno != ENOBUFS) {
                fprintf(stderr, "events_bench: send: %s\n", strerror(errno));
                return 1;
            }
        }
    }
    double dt = now_s() - t0;
    printf("sent %ld events over %ld URLs in %.3f s (%.0f/s)\n", count, urls,
           dt, (double)count / dt);
    close(fd);
    return 0;
}
