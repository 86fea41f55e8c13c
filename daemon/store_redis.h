/* store_redis.h - the Redis backend of the store (store.h), on hiredis'
 * async API driven by libevent, through redis_link.c (one server, Sentinel
 * or Cluster). Redis assigns the dates of epochs, by a
 * script on the URL's one hash (store_redis.c, "epochs"). Key schema
 * (single-key commands, except the counter script, whose two keys share a
 * hash slot; so all of it shards under Redis Cluster):
 *   notmod:url:<url>          hash    tag, lm: current tag, date of its
 *                                     epoch; pin, pin_lm: operator's pin,
 *                                     date of its epoch; hwm: largest date
 *                                     ever assigned for <url> (a purge
 *                                     deletes the others and keeps it)
 *   notmod:disabled           set     disabled route prefixes
 *   notmod:fresh              hash    route prefix -> its freshness:
 *                                     seconds, "origin" or "never"
 *   notmod:stats              hash    fleet totals, fields as stats.h
 *   notmod:route:<route>      hash    per-route counters, same fields;
 *                                     { and } in <route> as %7B and %7D
 *   notmod:batch:<id>:{<key>} string  number of the last counter batch that
 *                                     daemon process <id> (16 hex digits,
 *                                     random per start) applied to hash
 *                                     <key>; 1 day after its last batch
 * Every command or script touches keys of one slot; with Cluster each goes
 * to the master of that slot.
 * Counters are added by a Lua script (EVAL) that applies a numbered batch
 * of HINCRBYs only once and raises the marker with it, so a batch resent
 * after a lost reply never counts twice (store_redis.c, "counters").
 * <url> is host + request-target (url.h). */
#ifndef NM_STORE_REDIS_H
#define NM_STORE_REDIS_H

#include <event2/event.h>

#include "store.h"

/* Parses url (redis_addr.h: redis://, unix://, sentinel://, cluster://),
 * attaches the backend to store and starts connecting (redis_link.c).
 * Returns 0, or -1 with *why for a bad URL. Connection failures are not
 * errors: it retries with backoff and the memory store keeps serving. */
int nm_redis_attach(nm_store_t *store, struct event_base *base, const char *url,
                    const char **why);

#endif
