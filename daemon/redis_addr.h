/* redis_addr.h - the --redis URL: one server (redis://, unix://), the
 * sentinels that name a master (sentinel://), or the seed nodes of a
 * Cluster (cluster://), read into one structure. No I/O; used by
 * store_redis.c and redis_link.c, unit-tested. */
#ifndef NM_REDIS_ADDR_H
#define NM_REDIS_ADDR_H

#include <stddef.h>

typedef enum {
    NM_REDIS_SINGLE,   /* redis://[[user]:password@]host[:port][/db], unix:// */
    NM_REDIS_SENTINEL, /* sentinel://[password@]host[:port][,...]/MASTER[?db=N]
                        */
    NM_REDIS_CLUSTER,  /* cluster://[password@]host[:port][,...] */
} nm_redis_mode_t;

#define NM_REDIS_HOST_MAX 256

typedef struct nm_redis_hostport {
    char host[NM_REDIS_HOST_MAX]; /* without IPv6 brackets */
    int port;
} nm_redis_hostport_t;

typedef struct nm_redis_addr {
    nm_redis_mode_t mode;
    char *unix_path;            /* SINGLE over a unix socket, else NULL */
    nm_redis_hostport_t *hosts; /* the server, the sentinels or the seeds */
    size_t n_hosts;
    char *password; /* NULL: none */
    char *master;   /* SENTINEL: the master's name */
    int db;         /* always 0 for CLUSTER */
} nm_redis_addr_t;

/* Parses url into a (zeroed first). Returns 0, or NM_E_PARSE with *why the
 * forms expected; a is then empty (nothing to free). Default ports: 6379,
 * 26379 for sentinels. */
int nm_redis_addr_parse(nm_redis_addr_t *a, const char *url, const char **why);

/* Frees what parse allocated; a is zeroed. */
void nm_redis_addr_free(nm_redis_addr_t *a);

/* The URL again without its password, for logs and `status`: "127.0.0.1:6379
 * db 0", "unix:///run/redis.sock db 0", "sentinel mymaster at
 * 127.0.0.1:26379,... db 0", "cluster 127.0.0.1:7000,...". */
void nm_redis_addr_describe(const nm_redis_addr_t *a, char *out, size_t cap);

#endif
