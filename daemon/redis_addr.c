/* redis_addr.c - see redis_addr.h. */
#include "redis_addr.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nm.h"

static const char WHY[] =
    "expected redis://[[user]:password@]host[:port][/db], "
    "unix:///path[?db=N&password=P], "
    "sentinel://[password@]host[:port][,host[:port]...]/MASTER[?db=N] or "
    "cluster://[password@]host[:port][,host[:port]...]";

void nm_redis_addr_free(nm_redis_addr_t *a)
{
    free(a->unix_path);
    free(a->hosts);
    free(a->password);
    free(a->master);
    memset(a, 0, sizeof(*a));
}

/* A non-negative decimal of [s, end) into *out, at most max. */
static int parse_uint(const char *s, const char *end, long max, long *out)
{
    if (s == end || end - s > 9)
        return -1;
    long v = 0;
    for (const char *p = s; p < end; p++) {
        if (*p < '0' || *p > '9')
            return -1;
        v = v * 10 + (*p - '0');
    }
    if (v > max)
        return -1;
    *out = v;
    return 0;
}

/* "host[:port]" or "[v6]:port" in [s, end), appended to a->hosts. An empty
 * host means 127.0.0.1 (redis:// only: the others name their hosts). */
static int add_host(nm_redis_addr_t *a, const char *s, const char *end,
                    int default_port, int allow_empty)
{
    const char *host = s, *host_end, *rest;
    if (s < end && *s == '[') {
        host = s + 1;
        host_end = memchr(host, ']', (size_t)(end - host));
        if (!host_end)
            return -1;
        rest = host_end + 1;
    } else {
        host_end = memchr(s, ':', (size_t)(end - s));
        if (!host_end)
            host_end = end;
        rest = host_end;
    }
    size_t hlen = (size_t)(host_end - host);
    if (hlen >= NM_REDIS_HOST_MAX || (hlen == 0 && !allow_empty))
        return -1;
    long port = default_port;
    if (rest < end) {
        if (*rest != ':' || parse_uint(rest + 1, end, 65535, &port) < 0 ||
            port == 0)
            return -1;
    }
    nm_redis_hostport_t *h =
        realloc(a->hosts, (a->n_hosts + 1) * sizeof(*a->hosts));
    if (!h)
        return -1;
    a->hosts = h;
    h = &a->hosts[a->n_hosts++];
    if (hlen == 0)
        snprintf(h->host, sizeof(h->host), "127.0.0.1");
    else
        snprintf(h->host, sizeof(h->host), "%.*s", (int)hlen, host);
    h->port = (int)port;
    return 0;
}

/* A comma-separated list of hosts in [s, end). */
static int add_hosts(nm_redis_addr_t *a, const char *s, const char *end,
                     int default_port)
{
    while (s <= end) {
        const char *comma = memchr(s, ',', (size_t)(end - s));
        const char *item_end = comma ? comma : end;
        if (add_host(a, s, item_end, default_port, 0) < 0)
            return -1;
        s = item_end + 1;
        if (!comma)
            break;
    }
    return a->n_hosts ? 0 : -1;
}

/* "password@" (a leading ':' or "user:" dropped, as in redis://) before
 * the last '@' of [s, end): returns where the hosts start. */
static const char *take_password(nm_redis_addr_t *a, const char *s,
                                 const char *end)
{
    const char *at = NULL;
    for (const char *p = s; p < end; p++)
        if (*p == '@')
            at = p;
    if (!at)
        return s;
    const char *colon = memchr(s, ':', (size_t)(at - s));
    const char *pw = colon ? colon + 1 : s;
    a->password = strndup(pw, (size_t)(at - pw));
    return at + 1;
}

/* "?db=N" (and for unix:// "password=P"), '&'-separated. */
static int parse_query(nm_redis_addr_t *a, const char *q, int allow_password)
{
    while (q && *q) {
        size_t len = strcspn(q, "&");
        long db;
        if (strncmp(q, "db=", 3) == 0 &&
            parse_uint(q + 3, q + len, 1000000, &db) == 0) {
            a->db = (int)db;
        } else if (allow_password && strncmp(q, "password=", 9) == 0) {
            free(a->password);
            a->password = strndup(q + 9, len - 9);
        } else {
            return -1;
        }
        q += len;
        if (*q == '&')
            q++;
    }
    return 0;
}

static int parse_unix(nm_redis_addr_t *a, const char *rest)
{
    const char *q = strchr(rest, '?');
    size_t n = q ? (size_t)(q - rest) : strlen(rest);
    if (n == 0 || rest[0] != '/')
        return -1;
    a->unix_path = strndup(rest, n);
    return parse_query(a, q ? q + 1 : NULL, 1);
}

/* redis://[[user]:password@]host[:port][/db]: a bare user alone is
 * ignored (Redis 6 ACL users need the password too). */
static int parse_tcp(nm_redis_addr_t *a, const char *rest)
{
    const char *end = rest + strlen(rest);
    const char *slash = strchr(rest, '/');
    const char *hosts_end = slash ? slash : end;
    const char *at = NULL;
    for (const char *p = rest; p < hosts_end; p++)
        if (*p == '@')
            at = p;
    if (at) {
        const char *colon = memchr(rest, ':', (size_t)(at - rest));
        if (colon)
            a->password = strndup(colon + 1, (size_t)(at - colon - 1));
        rest = at + 1;
    }
    if (add_host(a, rest, hosts_end, 6379, 1) < 0)
        return -1;
    long db = 0;
    if (slash && slash[1] && parse_uint(slash + 1, end, 1000000, &db) < 0)
        return -1;
    a->db = (int)db;
    return 0;
}

static int parse_sentinel(nm_redis_addr_t *a, const char *rest)
{
    const char *slash = strchr(rest, '/');
    if (!slash)
        return -1;
    const char *hosts = take_password(a, rest, slash);
    if (add_hosts(a, hosts, slash, 26379) < 0)
        return -1;
    const char *name = slash + 1, *q = strchr(name, '?');
    size_t n = q ? (size_t)(q - name) : strlen(name);
    if (n == 0 || memchr(name, '/', n))
        return -1;
    a->master = strndup(name, n);
    return parse_query(a, q ? q + 1 : NULL, 0);
}

/* A Cluster has database 0 only: no path, no query. */
static int parse_cluster(nm_redis_addr_t *a, const char *rest)
{
    const char *end = rest + strlen(rest);
    if (end > rest && end[-1] == '/')
        end--;
    const char *hosts = take_password(a, rest, end);
    if (memchr(hosts, '/', (size_t)(end - hosts)) ||
        memchr(hosts, '?', (size_t)(end - hosts)))
        return -1;
    return add_hosts(a, hosts, end, 6379);
}

int nm_redis_addr_parse(nm_redis_addr_t *a, const char *url, const char **why)
{
    static const struct {
        const char *scheme;
        nm_redis_mode_t mode;
        int (*parse)(nm_redis_addr_t *, const char *);
    } schemes[] = {
        {"redis://", NM_REDIS_SINGLE, parse_tcp},
        {"unix://", NM_REDIS_SINGLE, parse_unix},
        {"sentinel://", NM_REDIS_SENTINEL, parse_sentinel},
        {"cluster://", NM_REDIS_CLUSTER, parse_cluster},
    };
    memset(a, 0, sizeof(*a));
    for (size_t i = 0; i < sizeof(schemes) / sizeof(schemes[0]); i++) {
        size_t n = strlen(schemes[i].scheme);
        if (strncmp(url, schemes[i].scheme, n) != 0)
            continue;
        a->mode = schemes[i].mode;
        if (schemes[i].parse(a, url + n) == 0)
            return 0;
        break;
    }
    nm_redis_addr_free(a);
    *why = WHY;
    return NM_E_PARSE;
}

/* "host:port", IPv6 in brackets. */
static size_t put_host(char *out, size_t cap, const nm_redis_hostport_t *h)
{
    int n = snprintf(out, cap, strchr(h->host, ':') ? "[%s]:%d" : "%s:%d",
                     h->host, h->port);
    return n < 0 ? 0 : (size_t)n;
}

void nm_redis_addr_describe(const nm_redis_addr_t *a, char *out, size_t cap)
{
    size_t n = 0;
#define PUT(...)                                                               \
    do {                                                                       \
        if (n < cap) {                                                         \
            int k_ = snprintf(out + n, cap - n, __VA_ARGS__);                  \
            n += k_ < 0 ? 0 : (size_t)k_;                                      \
        }                                                                      \
    } while (0)
    if (cap == 0)
        return;
    out[0] = '\0';
    if (a->unix_path) {
        PUT("unix://%s db %d", a->unix_path, a->db);
        return;
    }
    if (a->mode == NM_REDIS_SENTINEL)
        PUT("sentinel %s at ", a->master);
    else if (a->mode == NM_REDIS_CLUSTER)
        PUT("cluster ");
    for (size_t i = 0; i < a->n_hosts && n < cap; i++) {
        if (i)
            PUT(",");
        if (n < cap)
            n += put_host(out + n, cap - n, &a->hosts[i]);
    }
    if (a->mode != NM_REDIS_CLUSTER)
        PUT(" db %d", a->db);
#undef PUT
}
