/* daemon.h - notmodd's parts wired together: one context that the event
 * intake, the control socket and the metrics endpoint read. Owned by
 * main.c. */
#ifndef NM_DAEMON_H
#define NM_DAEMON_H

#include <event2/event.h>
#include <time.h>

#include "config.h"
#include "events.h"
#include "snapshot_writer.h"
#include "stats.h"
#include "store.h"

typedef struct nm_control nm_control_t;
typedef struct nm_metrics nm_metrics_t;
typedef struct nm_pcap_live nm_pcap_live_t;

typedef struct nm_daemon {
    struct event_base *base;
    nm_config_t *cfg;
    nm_store_t *store;
    nm_stats_t *stats;      /* source "shim": the shims' events */
    nm_stats_t *pcap_stats; /* source "pcap": --pcap, NULL without it */
    nm_pcap_live_t *pcap;
    nm_snapw_t *snapw;
    nm_events_t *events;
    nm_control_t *control;
    nm_metrics_t *metrics;
    struct event *stats_tick;
    time_t started_unix;
    uint64_t events_without_url; /* counted, not stored: no usable key */
    /* Start-up completed: only then does the stop write --state (a daemon
     * refused at start must not overwrite the file of the one running). */
    bool is_started;
} nm_daemon_t;

/* Opens store, snapshot, sockets and metrics per d->cfg. Returns 0 or -1
 * after logging what failed. */
int nm_daemon_start(nm_daemon_t *d);

/* Flushes counters, drains the backend (up to 1 s), saves --state (with
 * the records' dates when the store is embedded), closes everything and
 * removes the sockets. */
void nm_daemon_stop(nm_daemon_t *d);

/* Writes the policy part of --state (pins, disabled prefixes, the date
 * floor; no records) now: after every operator change, so a crash loses
 * none. Returns 0 (also without --state) or -errno, logged. */
int nm_daemon_save_policy(nm_daemon_t *d);

/* Handles one decoded event (nm_events_fn). */
void nm_daemon_on_event(void *d, const nm_event_t *ev);

#endif
