/* stats.h - the figures of notmodd(8) (FIGURES), totals and per route
 * (host + path without query), from the shims' events. Totals are exact;
 * routes beyond NM_STATS_ROUTES_MAX fold into the route "(other)". Read by
 * control (stats, top), metrics, and flushed to the store backend. */
#ifndef NM_STATS_H
#define NM_STATS_H

#include <stddef.h>
#include <stdint.h>

#include "event.h"
#include "store.h"

#define NM_STATS_ROUTES_MAX 10000

/* X-macro: field name (used in JSON, Redis hashes and metric names). */
/* tls_requests / tls_connections: responses, and connections (at their
 * first response), that a shim followed inside the server's own TLS.
 * server_time_us / server_timed: the server's time over the responses it
 * produced that a shim timed (event.h server_us), summed and counted: a
 * route's average. server_time_avoided_us: for each accelerated 304, that
 * average of its route when it came (an estimate, README "Acceleration"). */
#define NM_STATS_FIELDS(X)                                                     \
    X(requests)                                                                \
    X(revalidations)                                                           \
    X(hits_served)                                                             \
    X(hits_substituted)                                                        \
    X(hits_accelerated)                                                        \
    X(missed)                                                                  \
    X(tags_added)                                                              \
    X(bytes_saved)                                                             \
    X(not_handled)                                                             \
    X(get_200)                                                                 \
    X(get_200_validated)                                                       \
    X(server_time_us)                                                          \
    X(server_timed)                                                            \
    X(server_time_avoided_us)                                                  \
    X(tls_requests)                                                            \
    X(tls_connections)

typedef struct nm_counters {
#define NM_STATS_DECL(f) uint64_t f;
    NM_STATS_FIELDS(NM_STATS_DECL)
#undef NM_STATS_DECL
} nm_counters_t;

typedef struct nm_route_stats {
    const char *route;
    nm_counters_t c;
} nm_route_stats_t;

typedef struct nm_stats nm_stats_t;

nm_stats_t *nm_stats_new(void);
void nm_stats_free(nm_stats_t *s);

/* Counts one event; route is the event's route key (url.h), NULL when the
 * event had none. */
void nm_stats_record(nm_stats_t *s, const nm_event_t *ev, const char *route);

const nm_counters_t *nm_stats_totals(const nm_stats_t *s);

/* Fills out with up to n routes, most revalidations first (then requests).
 * Returns how many. Pointers stay valid until the next record. */
size_t nm_stats_top(const nm_stats_t *s, nm_route_stats_t *out, size_t n);

/* Calls fn on every route (the "(other)" fold included), in no order;
 * fn must not record events. */
void nm_stats_each_route(const nm_stats_t *s,
                         void (*fn)(void *arg, const char *route,
                                    const nm_counters_t *c),
                         void *arg);

/* Hands the growth since the last flush to be->count: the hash
 * "notmod:stats" for totals, "notmod:route:<route>" per route ({ and } in
 * route percent-encoded). */
void nm_stats_flush(nm_stats_t *s, const nm_store_backend_t *be);

/* Revalidation hits: served, substituted and accelerated. */
uint64_t nm_stats_hits(const nm_counters_t *c);

/* hits / revalidations in [0, 1], 0 when there were none. */
double nm_stats_hit_rate(const nm_counters_t *c);

#endif
