/* metrics.h - Prometheus text exposition at /metrics (--metrics HOST:PORT,
 * host defaulting to 127.0.0.1). Names are notmod_<figure>_total for the
 * figures of notmodd(8) (FIGURES), labelled source="shim" (the shims'
 * events) and, with --pcap, source="pcap" (the wire); per-route series only
 * for the top routes of each source, so label cardinality stays bounded. */
#ifndef NM_METRICS_H
#define NM_METRICS_H

#include <stddef.h>

#include "daemon.h"

#define NM_METRICS_TOP_ROUTES 10

/* Binds addr ("HOST:PORT", ":PORT", "PORT", "[V6]:PORT"); NULL after
 * logging the problem. */
nm_metrics_t *nm_metrics_open(nm_daemon_t *d, const char *addr);

/* The bound address as "host:port" (the real port when 0 was asked). */
void nm_metrics_address(const nm_metrics_t *m, char *out, size_t cap);

/* Closes the listener (NULL is fine). */
void nm_metrics_close(nm_metrics_t *m);

#endif
