/* snapshot_bench.c - ns per nm_snapshot_lookup, the call a shim makes per
 * response to learn the current tag of a URL from notmodd's snapshot. A
 * region of 65536 slots is filled to half with distinct URLs (the load
 * notmodd keeps it under), then hits and misses are looked up in a
 * pseudo-random order so the cache sees a realistic spread.
 * Prints "name value unit" lines for tools/bench/run.sh.
 * Usage: snapshot_bench [iterations] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "snapshot.h"

#define SLOTS 65536u
#define URLS (SLOTS / 2)

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static volatile long sink;
static char paths[URLS][48];
static char misses[URLS][48]; /* URLs never put */

static double bench_lookup(const void *map, size_t len, long iters,
                           bool want_hits)
{
    nm_slice_t host = {"www.example.org", 15};
    nm_snapshot_hit_t hit;
    uint32_t x = 12345;
    double t0 = now_ns();
    for (long i = 0; i < iters; i++) {
        x = x * 1664525u + 1013904223u; /* LCG: cheap spread over URLs */
        const char *path = (want_hits ? paths : misses)[(x >> 8) % URLS];
        nm_slice_t target = {path, strlen(path)};
        int found = nm_snapshot_lookup(map, len, host, target, &hit);
        if (found != (want_hits ? 1 : 0)) {
            fprintf(stderr, "snapshot_bench: lookup gave %d\n", found);
            exit(1);
        }
        sink += found + (long)hit.tag_len;
    }
    return (now_ns() - t0) / (double)iters;
}

int main(int argc, char **argv)
{
    long iters = argc > 1 ? atol(argv[1]) : 2000000;
    if (iters <= 0)
        iters = 2000000;
    size_t len = nm_snapshot_region_len(SLOTS);
    void *map = calloc(1, len);
    if (!map || nm_snapshot_w_init(map, len, SLOTS, 1) != NM_OK) {
        fprintf(stderr, "snapshot_bench: cannot make a region\n");
        return 1;
    }
    nm_slice_t host = {"www.example.org", 15};
    nm_snapshot_w_begin(map);
    for (unsigned i = 0; i < URLS; i++) {
        int n =
            snprintf(paths[i], sizeof(paths[i]), "/static/app-%u.css?v=3", i);
        nm_slice_t target = {paths[i], (size_t)n};
        nm_slice_t tag = {"\"nm-AAECAwQFBgcICQoLDA0ODw\"", 27};
        if (nm_snapshot_w_put_url(map, len, host, target, tag, 1764000000,
                                  false) != NM_OK) {
            fprintf(stderr, "snapshot_bench: put %u failed\n", i);
            return 1;
        }
    }
    nm_snapshot_w_end(map, 1764000000);
    double best_hit = 1e18, best_miss = 1e18;
    for (int r = 0; r < 5; r++) {
        double h = bench_lookup(map, len, iters, true);
        double m = bench_lookup(map, len, iters, false);
        best_hit = h < best_hit ? h : best_hit;
        best_miss = m < best_miss ? m : best_miss;
    }
    printf("snapshot_hit_ns %.1f ns\n", best_hit);
    printf("snapshot_miss_ns %.1f ns\n", best_miss);
    printf("snapshot_urls %u entries\n", URLS);
    free(map);
    return 0;
}
