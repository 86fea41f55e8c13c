/* metrics.c - see metrics.h. libevent's evhttp serves it: one endpoint,
 * loopback by default, no reason to hand-write an HTTP server. */
#include "metrics.h"

#include <arpa/inet.h>
#include <event2/buffer.h>
#include <event2/http.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "log.h"

struct nm_metrics {
    nm_daemon_t *d;
    struct evhttp *http;
    struct evhttp_bound_socket *sock;
};

/* Label values escape \, " and newline (exposition format). */
static void put_label(struct evbuffer *out, const char *s)
{
    for (; *s; s++) {
        if (*s == '\\' || *s == '"')
            evbuffer_add_printf(out, "\\%c", *s);
        else if (*s == '\n')
            evbuffer_add_printf(out, "\\n");
        else
            evbuffer_add(out, s, 1);
    }
}

/* Where figures come from: the shims' events, and the wire when notmodd
 * runs with --pcap. Every figure is labelled with its source. */
typedef struct source {
    const char *name;
    const nm_stats_t *stats;
} source_t;

static size_t sources(const nm_daemon_t *d, source_t out[2])
{
    out[0] = (source_t){"shim", d->stats};
    out[1] = (source_t){"pcap", d->pcap_stats};
    return d->pcap_stats ? 2 : 1;
}

static uint64_t field(const nm_counters_t *c, size_t field_offset)
{
    uint64_t v;
    memcpy(&v, (const char *)c + field_offset, sizeof(v));
    return v;
}

/* One counter family of the totals, a sample per source. */
static void counter(struct evbuffer *out, const char *name, const char *help,
                    const source_t *src, size_t nsrc, size_t field_offset)
{
    evbuffer_add_printf(out, "# HELP %s %s\n# TYPE %s counter\n", name, help,
                        name);
    for (size_t i = 0; i < nsrc; i++)
        evbuffer_add_printf(out, "%s{source=\"%s\"} %" PRIu64 "\n", name,
                            src[i].name,
                            field(nm_stats_totals(src[i].stats), field_offset));
}

/* A counter family of microseconds shown in seconds, per source. */
static void seconds_counter(struct evbuffer *out, const char *name,
                            const char *help, const source_t *src, size_t nsrc,
                            size_t field_offset)
{
    evbuffer_add_printf(out, "# HELP %s %s\n# TYPE %s counter\n", name, help,
                        name);
    for (size_t i = 0; i < nsrc; i++)
        evbuffer_add_printf(
            out, "%s{source=\"%s\"} %.6f\n", name, src[i].name,
            (double)field(nm_stats_totals(src[i].stats), field_offset) / 1e6);
}

/* Counters of the shims' event intake (no source: only shims send). */
static void intake_counter(struct evbuffer *out, const char *name,
                           const char *help, uint64_t v)
{
    evbuffer_add_printf(out,
                        "# HELP %s %s\n# TYPE %s counter\n%s %" PRIu64 "\n",
                        name, help, name, name, v);
}

/* One per-route counter family over each source's top routes. */
static void route_family(struct evbuffer *out, const char *name,
                         const char *help, const source_t *src, size_t nsrc,
                         size_t field_offset)
{
    evbuffer_add_printf(out, "# HELP %s %s\n# TYPE %s counter\n", name, help,
                        name);
    for (size_t s = 0; s < nsrc; s++) {
        nm_route_stats_t rows[NM_METRICS_TOP_ROUTES];
        size_t n = nm_stats_top(src[s].stats, rows, NM_METRICS_TOP_ROUTES);
        for (size_t i = 0; i < n; i++) {
            evbuffer_add_printf(out, "%s{source=\"%s\",route=\"", name,
                                src[s].name);
            put_label(out, rows[i].route);
            evbuffer_add_printf(out, "\"} %" PRIu64 "\n",
                                field(&rows[i].c, field_offset));
        }
    }
}

#define OFF(f) offsetof(nm_counters_t, f)

static void render_hits(struct evbuffer *out, const source_t *src, size_t n)
{
    evbuffer_add_printf(
        out,
        "# HELP notmod_revalidation_hits_total Revalidations answered 304.\n"
        "# TYPE notmod_revalidation_hits_total counter\n");
    for (size_t i = 0; i < n; i++) {
        const nm_counters_t *c = nm_stats_totals(src[i].stats);
        evbuffer_add_printf(out,
                            "notmod_revalidation_hits_total{source=\"%s\","
                            "by=\"server\"} %" PRIu64 "\n"
                            "notmod_revalidation_hits_total{source=\"%s\","
                            "by=\"notmod\"} %" PRIu64 "\n"
                            "notmod_revalidation_hits_total{source=\"%s\","
                            "by=\"accelerated\"} %" PRIu64 "\n",
                            src[i].name, c->hits_served, src[i].name,
                            c->hits_substituted, src[i].name,
                            c->hits_accelerated);
    }
}

static void render(nm_daemon_t *d, struct evbuffer *out)
{
    source_t src[2];
    size_t n = sources(d, src);
    const nm_events_counts_t *ec = nm_events_counts(d->events);
    counter(out, "notmod_requests_total", "Responses seen.", src, n,
            OFF(requests));
    counter(out, "notmod_revalidations_total",
            "GET/HEAD requests with If-None-Match or If-Modified-Since.", src,
            n, OFF(revalidations));
    render_hits(out, src, n);
    counter(out, "notmod_revalidation_misses_total",
            "Revalidations answered with a full 200.", src, n, OFF(missed));
    counter(out, "notmod_tags_added_total",
            "200 responses that left with an ETag added by notmod.", src, n,
            OFF(tags_added));
    counter(out, "notmod_bytes_saved_total",
            "Body bytes not sent thanks to substituted and accelerated 304s.",
            src, n, OFF(bytes_saved));
    counter(out, "notmod_not_handled_total",
            "Responses notmod passed without handling.", src, n,
            OFF(not_handled));
    counter(out, "notmod_get_200_total", "200 responses to GET.", src, n,
            OFF(get_200));
    counter(out, "notmod_tls_requests_total",
            "Responses followed inside the server's own TLS.", src, n,
            OFF(tls_requests));
    counter(out, "notmod_tls_connections_total",
            "TLS connections followed (counted at their first response).", src,
            n, OFF(tls_connections));
    counter(out, "notmod_get_200_validated_total",
            "200 responses to GET that carried a validator.", src, n,
            OFF(get_200_validated));
    seconds_counter(out, "notmod_server_seconds_total",
                    "Server time over the responses the shims timed "
                    "(request read to response written).",
                    src, n, OFF(server_time_us));
    counter(out, "notmod_server_timed_responses_total",
            "Responses whose server time the shims took.", src, n,
            OFF(server_timed));
    seconds_counter(out, "notmod_server_seconds_avoided_total",
                    "Server time accelerated 304s avoided, estimated from "
                    "their route's average.",
                    src, n, OFF(server_time_avoided_us));
    intake_counter(out, "notmod_events_received_total",
                   "Event datagrams received from shims.", ec->received);
    intake_counter(out, "notmod_events_malformed_total",
                   "Event datagrams dropped as malformed.", ec->malformed);
    intake_counter(out, "notmod_events_rejected_total",
                   "Event datagrams dropped for a missing or wrong token.",
                   ec->rejected);
    evbuffer_add_printf(out,
                        "# HELP notmod_store_urls URLs in the store.\n"
                        "# TYPE notmod_store_urls gauge\n"
                        "notmod_store_urls %zu\n",
                        nm_store_count(d->store));
    route_family(out, "notmod_route_revalidations_total",
                 "Revalidations of the top routes.", src, n,
                 OFF(revalidations));
    route_family(out, "notmod_route_hits_substituted_total",
                 "304s substituted by notmod on the top routes.", src, n,
                 OFF(hits_substituted));
    route_family(out, "notmod_route_hits_served_total",
                 "304s sent by the server on the top routes.", src, n,
                 OFF(hits_served));
    route_family(out, "notmod_route_hits_accelerated_total",
                 "304s notmod sent before the server saw the request, on the "
                 "top routes.",
                 src, n, OFF(hits_accelerated));
    route_family(out, "notmod_route_bytes_saved_total",
                 "Bytes saved on the top routes.", src, n, OFF(bytes_saved));
}

static void on_metrics(struct evhttp_request *req, void *arg)
{
    nm_metrics_t *m = arg;
    struct evbuffer *out = evbuffer_new();
    if (!out) {
        evhttp_send_error(req, 500, NULL);
        return;
    }
    render(m->d, out);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                      "text/plain; version=0.0.4; charset=utf-8");
    evhttp_send_reply(req, 200, "OK", out);
    evbuffer_free(out);
}

static void on_other(struct evhttp_request *req, void *arg)
{
    (void)arg;
    evhttp_send_error(req, 404, "try /metrics");
}

/* Splits "HOST:PORT" & co. into host (default loopback) and port. */
static int parse_addr(const char *addr, char *host, size_t cap, int *port)
{
    const char *colon = strrchr(addr, ':');
    const char *p = colon ? colon + 1 : addr;
    size_t hlen = colon ? (size_t)(colon - addr) : 0;
    if (hlen >= 2 && addr[0] == '[' && addr[hlen - 1] == ']') {
        addr++;
        hlen -= 2;
    }
    if (hlen >= cap)
        return -1;
    if (hlen == 0)
        snprintf(host, cap, "127.0.0.1");
    else
        snprintf(host, cap, "%.*s", (int)hlen, addr);
    char *end;
    long v = strtol(p, &end, 10);
    if (end == p || *end || v < 0 || v > 65535)
        return -1;
    *port = (int)v;
    return 0;
}

nm_metrics_t *nm_metrics_open(nm_daemon_t *d, const char *addr)
{
    char host[256];
    int port;
    if (parse_addr(addr, host, sizeof(host), &port) < 0) {
        nm_log(LOG_ERR, "--metrics %s: expected HOST:PORT", addr);
        return NULL;
    }
    nm_metrics_t *m = calloc(1, sizeof(*m));
    if (!m)
        return NULL;
    m->d = d;
    m->http = evhttp_new(d->base);
    if (m->http) {
        evhttp_set_allowed_methods(m->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD);
        evhttp_set_cb(m->http, "/metrics", on_metrics, m);
        evhttp_set_gencb(m->http, on_other, m);
        evhttp_set_timeout(m->http, 10);
        m->sock =
            evhttp_bind_socket_with_handle(m->http, host, (ev_uint16_t)port);
    }
    if (!m->sock) {
        nm_log(LOG_ERR, "--metrics %s: cannot listen on %s port %d", addr, host,
               port);
        nm_metrics_close(m);
        return NULL;
    }
    return m;
}

void nm_metrics_address(const nm_metrics_t *m, char *out, size_t cap)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    char host[INET6_ADDRSTRLEN] = "?";
    int port = 0;
    int fd = evhttp_bound_socket_get_fd(m->sock);
    if (getsockname(fd, (struct sockaddr *)&ss, &len) == 0) {
        if (ss.ss_family == AF_INET) {
            struct sockaddr_in *a = (struct sockaddr_in *)&ss;
            inet_ntop(AF_INET, &a->sin_addr, host, sizeof(host));
            port = ntohs(a->sin_port);
        } else if (ss.ss_family == AF_INET6) {
            struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
            inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof(host));
            port = ntohs(a->sin6_port);
        }
    }
    snprintf(out, cap, "%s:%d", host, port);
}

void nm_metrics_close(nm_metrics_t *m)
{
    if (!m)
        return;
    if (m->http)
        evhttp_free(m->http);
    free(m);
}
