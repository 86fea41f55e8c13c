/* redis_sentinel.h - asks Redis Sentinel which server is the master of a
 * name, trying each sentinel in turn, and watches +switch-master on one of
 * them so that a failover is known the moment it is made. Over hiredis'
 * async API on notmodd's libevent loop; used by redis_link.c. */
#ifndef NM_REDIS_SENTINEL_H
#define NM_REDIS_SENTINEL_H

#include <event2/event.h>

#include "redis_addr.h"

typedef struct nm_sentinel nm_sentinel_t;

/* The master's address; host NULL, with why, when no sentinel named one. */
typedef void (*nm_sentinel_found_fn)(void *arg, const char *host, int port,
                                     const char *why);
/* The sentinels just made host:port the master (a failover). */
typedef void (*nm_sentinel_switch_fn)(void *arg, const char *host, int port);

/* A sentinel client for addr (a SENTINEL address, borrowed: it must
 * outlive the client). NULL on out of memory. */
nm_sentinel_t *nm_sentinel_new(struct event_base *base,
                               const nm_redis_addr_t *addr,
                               nm_sentinel_switch_fn on_switch, void *arg);

/* Asks the sentinels in turn, the last one that answered first; calls
 * found once, later (never from inside this call). An ask still running is
 * abandoned without its call. The watch starts on the first sentinel that
 * answers and moves on when its connection is lost. */
void nm_sentinel_ask(nm_sentinel_t *s, nm_sentinel_found_fn found, void *arg);

/* Abandons an ask still running (its found is not called). */
void nm_sentinel_cancel(nm_sentinel_t *s);

/* Closes every connection; no callback runs any more. */
void nm_sentinel_free(nm_sentinel_t *s);

#endif
