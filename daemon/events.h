/* events.h - notmodd's event intake: a unix datagram socket on which every
 * shim sends one common/event.h record per response. Records that do not
 * decode, or lack the shared secret when one is set, are counted and
 * dropped. */
#ifndef NM_EVENTS_H
#define NM_EVENTS_H

#include <event2/event.h>
#include <stdbool.h>
#include <stdint.h>

#include "event.h"

typedef void (*nm_events_fn)(void *arg, const nm_event_t *ev);

typedef struct nm_events_counts {
    uint64_t received;  /* datagrams read */
    uint64_t accepted;  /* decoded and authenticated */
    uint64_t malformed; /* did not decode (or oversize) */
    uint64_t rejected;  /* missing or wrong token */
} nm_events_counts_t;

typedef struct nm_events nm_events_t;

/* Binds path (mode 0666: servers of any user report; use a secret to
 * authenticate them). Refuses a path where another notmodd answers and
 * replaces a stale socket. NULL with errno set on failure. */
nm_events_t *nm_events_open(struct event_base *base, const char *path,
                            nm_events_fn fn, void *arg);

/* Requires token in every record from now on (SIGHUP may change it). */
void nm_events_set_secret(nm_events_t *e, bool has_secret, uint64_t token);

const nm_events_counts_t *nm_events_counts(const nm_events_t *e);

/* Closes and unlinks the socket. */
void nm_events_close(nm_events_t *e);

/* Binds a unix socket of type at path after removing a stale one; shared
 * with the control socket. Returns the fd or -1 with errno set (EADDRINUSE
 * when a live process answers there). */
int nm_unix_bind(const char *path, int type, int mode);

#endif
