/* redis_link.h - notmodd's connections to a Redis deployment: one server
 * (redis://, unix://), the master that Sentinel names (sentinel://), or
 * the masters of a Cluster (cluster://). It sends each command to the node
 * that owns its key, follows MOVED and ASK, finds the master again after a
 * failover, and tells its user when commands can go (up) and when every
 * command in flight has failed (down). User: store_redis.c. */
#ifndef NM_REDIS_LINK_H
#define NM_REDIS_LINK_H

#include <event2/event.h>
#include <hiredis/hiredis.h>
#include <stdbool.h>
#include <stddef.h>

#include "redis_addr.h"

typedef struct nm_redis_link nm_redis_link_t;

/* A command's reply, or NULL when it failed or its outcome is unknown (the
 * connection was lost with it: it may or may not have run). After a NULL
 * the link always goes down and up again. */
typedef void (*nm_redis_reply_fn)(void *priv, const redisReply *reply);

typedef struct nm_redis_link_cbs {
    /* Commands can be sent: every master is connected (and, with Sentinel
     * or Cluster, said with ROLE that it is a master). */
    void (*on_up)(void *arg);
    /* The link was lost (why) and reconnects by itself, with backoff. Runs
     * before the NULL replies of the commands it had in flight. */
    void (*on_down)(void *arg, const char *why);
} nm_redis_link_cbs_t;

/* A write: with Sentinel or Cluster, and a master that has replicas, its
 * reply is given once a replica has it too (WAIT), or WAIT timed out, so
 * that a failover right after it cannot lose what the reply confirmed. */
#define NM_REDIS_WRITE 1

/* A link to addr (taken: the link frees it). Connects once the loop runs.
 * NULL on out of memory (addr is freed). */
nm_redis_link_t *nm_redis_link_new(struct event_base *base,
                                   nm_redis_addr_t *addr,
                                   const nm_redis_link_cbs_t *cbs, void *arg);

/* Closes everything; commands in flight get their NULL reply first. */
void nm_redis_link_free(nm_redis_link_t *l);

/* True between on_up and the next on_down: commands can be sent. */
bool nm_redis_link_is_up(const nm_redis_link_t *l);

/* Sends argv to the master of key's slot (the one master without a
 * Cluster); fn gets the reply. Never calls fn from inside this call unless
 * the command cannot be sent at all (then with NULL). */
void nm_redis_link_send(nm_redis_link_t *l, const char *key, int flags,
                        nm_redis_reply_fn fn, void *priv, int argc,
                        const char **argv, const size_t *lens);

/* The same to the master named node (as nm_redis_link_each_master gives
 * it), for commands every master must run (SCAN). */
void nm_redis_link_send_node(nm_redis_link_t *l, const char *node, int flags,
                             nm_redis_reply_fn fn, void *priv, int argc,
                             const char **argv, const size_t *lens);

/* Calls fn with the name of each master the link routes to now. */
void nm_redis_link_each_master(const nm_redis_link_t *l,
                               void (*fn)(void *arg, const char *node),
                               void *arg);

/* Drops every connection, soon (from the loop, never inside hiredis), and
 * connects again after the backoff; why is logged and described. */
void nm_redis_link_reset(nm_redis_link_t *l, const char *why);

/* Commands sent whose reply was not given yet. */
size_t nm_redis_link_inflight(const nm_redis_link_t *l);

/* "127.0.0.1:6379 db 0", "sentinel m at h:26379 db 0, master h:6380",
 * "cluster h:7000,h:7001, 3 masters, followed 2 MOVED 1 ASK 0 TRYAGAIN"
 * (redirections since start). */
void nm_redis_link_describe(const nm_redis_link_t *l, char *out, size_t cap);

#endif
