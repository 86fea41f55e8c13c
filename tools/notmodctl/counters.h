/* counters.h - notmodd's counters as notmodctl polls them (the control
 * command "counters"), and the rates between two polls: what `top` and
 * `stats --interval` show. Rates are computed here, from successive polls,
 * so the daemon only keeps totals. */
#ifndef NM_COUNTERS_H
#define NM_COUNTERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The figures the rate views show (notmodd(8), FIGURES). */
enum nm_ctr {
    NM_CTR_REQUESTS,
    NM_CTR_REVALIDATIONS,
    NM_CTR_HITS, /* every hits_* field: served, substituted, ... */
    NM_CTR_MISSED,
    NM_CTR_BYTES_SAVED,
    NM_CTR_ACCELERATED, /* hits_accelerated: also among NM_CTR_HITS */
    NM_CTR_AVOIDED_US,  /* server_time_avoided_us (estimated) */
    NM_CTR_COUNT
};

/* JSON member names, in enum order. */
extern const char *const nm_ctr_names[NM_CTR_COUNT];

typedef struct nm_ctrs {
    uint64_t v[NM_CTR_COUNT];
} nm_ctrs_t;

typedef struct nm_route_ctrs {
    char *route;
    nm_ctrs_t c;
} nm_route_ctrs_t;

/* One poll. Routes are sorted by name (nm_sample_route looks them up). */
typedef struct nm_sample {
    double t_s; /* CLOCK_MONOTONIC when the answer arrived, seconds */
    int64_t uptime_s;
    nm_ctrs_t totals;
    nm_route_ctrs_t *routes;
    size_t nroutes;
} nm_sample_t;

/* Per-second rates of each figure over an interval. */
typedef struct nm_rates {
    double per_s[NM_CTR_COUNT];
    double hit_rate; /* hits / revalidations in the interval; < 0: none */
} nm_rates_t;

/* Asks the daemon at control for its counters (with every route when
 * with_routes) into *s. Returns an exit code; prints the reason itself. */
int nm_sample_fetch(const char *control, bool with_routes, nm_sample_t *s);

/* Parses the payload of a "counters" answer into *s (t_s left 0). Returns
 * 0, or -1 when it is malformed or memory runs out. */
int nm_sample_parse(const char *payload, nm_sample_t *s);

/* Frees what *s owns and zeroes it. */
void nm_sample_free(nm_sample_t *s);

/* The counters of route in s, or NULL when s does not have it. */
const nm_ctrs_t *nm_sample_route(const nm_sample_t *s, const char *route);

/* Did the daemon restart (or its counters go back) between prev and cur?
 * Then no rate between them means anything. */
bool nm_sample_restarted(const nm_sample_t *prev, const nm_sample_t *cur);

/* Rates from old to now over dt_s seconds (dt_s > 0). */
void nm_rates_between(const nm_ctrs_t *old, const nm_ctrs_t *now, double dt_s,
                      nm_rates_t *out);

/* hits / revalidations since the daemon started; < 0 when none. */
double nm_ctrs_hit_rate(const nm_ctrs_t *c);

/* CLOCK_MONOTONIC in seconds. */
double nm_now_s(void);

/* Totals over the last 1000 seconds or so, kept at most once a second, for
 * the 10, 100 and 1000 second averages varnishstat shows beside a rate. */
#define NM_HISTORY_LEN 1024
typedef struct nm_history {
    double t_s[NM_HISTORY_LEN];
    nm_ctrs_t c[NM_HISTORY_LEN];
    size_t head, count; /* head: next slot to write */
} nm_history_t;

/* Remembers s's totals unless the last one kept is less than a second
 * old. */
void nm_history_add(nm_history_t *h, const nm_sample_t *s);

/* Rates over the last window_s seconds up to s: from the newest kept
 * sample at least window_s old, or the oldest one while the history is
 * shorter. False when there is nothing older than s to compare with. */
bool nm_history_rates(const nm_history_t *h, const nm_sample_t *s,
                      double window_s, nm_rates_t *out);

#endif
