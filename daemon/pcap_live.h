/* pcap_live.h - notmodd --pcap IFACE --pcap-filter EXPR: a live capture on
 * the daemon's event loop, feeding the pcap observer; each exchange it
 * pairs is handed to a callback (daemon.c counts it as source "pcap"). */
#ifndef NM_PCAP_LIVE_H
#define NM_PCAP_LIVE_H

#include <event2/event.h>
#include <stddef.h>

#include "pcap_observer.h"

typedef struct nm_pcap_live nm_pcap_live_t;

/* Starts capturing on iface with filter (NULL: all traffic). NULL with a
 * one-line reason in err. */
nm_pcap_live_t *nm_pcap_live_open(struct event_base *base, const char *iface,
                                  const char *filter, nm_pcap_exchange_fn fn,
                                  void *arg, char *err, size_t cap);

/* The observer's figures (capture gaps, flows...). */
const nm_pcap_counts_t *nm_pcap_live_counts(const nm_pcap_live_t *l);

/* Stops the capture (NULL is fine). */
void nm_pcap_live_close(nm_pcap_live_t *l);

#endif
