/* control.c - see control.h. */
#include "control.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/listener.h>
#include <inttypes.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fresh.h"
#include "log.h"
#include "metrics.h"
#include "snapshot.h"
#include "url.h"

#define LINE_MAX_BYTES 4096
#define ARGS_MAX 8

struct nm_control {
    nm_daemon_t *d;
    struct evconnlistener *listener;
    char *path;
};

typedef int (*cmd_fn)(nm_daemon_t *d, int argc, char **argv,
                      struct evbuffer *out);

/* Writes "err ...": handlers return -1 after calling it. */
static int fail(struct evbuffer *out, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static int fail(struct evbuffer *out, const char *fmt, ...)
{
    evbuffer_drain(out, evbuffer_get_length(out));
    evbuffer_add_printf(out, "err ");
    va_list ap;
    va_start(ap, fmt);
    evbuffer_add_vprintf(out, fmt, ap);
    va_end(ap);
    evbuffer_add_printf(out, "\n");
    return -1;
}

struct fresh_list {
    char **lines;
    size_t n, cap;
};

static void collect_fresh(void *arg, const char *prefix, int64_t fresh_s)
{
    struct fresh_list *l = arg;
    char v[24], *line = NULL;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        char **p = realloc(l->lines, cap * sizeof(*p));
        if (!p)
            return;
        l->lines = p;
        l->cap = cap;
    }
    if (nm_fresh_setting_format(fresh_s, v, sizeof(v)) > 0 &&
        asprintf(&line, "fresh: %s %s\n", prefix, v) > 0)
        l->lines[l->n++] = line;
}

static int by_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* One "fresh: PREFIX SETTING" line per rule, sorted by prefix. */
static void fresh_lines(nm_daemon_t *d, struct evbuffer *out)
{
    struct fresh_list l = {NULL, 0, 0};
    nm_store_each_fresh(d->store, collect_fresh, &l);
    if (l.n > 1)
        qsort(l.lines, l.n, sizeof(*l.lines), by_str);
    for (size_t i = 0; i < l.n; i++) {
        evbuffer_add_printf(out, "%s", l.lines[i]);
        free(l.lines[i]);
    }
    free(l.lines);
}

static int cmd_status(nm_daemon_t *d, int argc, char **argv,
                      struct evbuffer *out)
{
    (void)argc;
    (void)argv;
    const nm_events_counts_t *ec = nm_events_counts(d->events);
    char store[512] = "memory";
    const nm_store_backend_t *be = nm_store_backend(d->store);
    if (be && be->describe)
        be->describe(be->self, store, sizeof(store));
    char metrics[128] = "off";
    if (d->metrics)
        nm_metrics_address(d->metrics, metrics, sizeof(metrics));
    evbuffer_add_printf(
        out,
        "pid: %d\nuptime_s: %" PRId64 "\nstore: %s\nurls: %zu\n"
        "disabled_prefixes: %zu\nfresh_prefixes: %zu\naccelerate: %s\n"
        "socket: %s\ncontrol: %s\nsnapshot: %s\n"
        "snapshot_generation: %" PRIu64 "\nmetrics: %s\nsecret: %s\n"
        "state_file: %s\nevents_received: %" PRIu64
        "\nevents_accepted: %" PRIu64 "\nevents_malformed: %" PRIu64
        "\nevents_rejected: %" PRIu64 "\nevents_without_url: %" PRIu64
        "\ntls_requests: %" PRIu64 "\ntls_connections: %" PRIu64 "\n",
        (int)getpid(), (int64_t)(time(NULL) - d->started_unix), store,
        nm_store_count(d->store), nm_store_disabled_count(d->store),
        nm_store_fresh_count(d->store),
        d->cfg->is_accelerate_origin ? "origin" : "off", d->cfg->socket,
        d->cfg->control, d->cfg->snapshot, nm_snapw_generation(d->snapw),
        metrics, d->cfg->has_secret ? "required" : "off",
        d->cfg->state ? d->cfg->state : "none", ec->received, ec->accepted,
        ec->malformed, ec->rejected, d->events_without_url,
        nm_stats_totals(d->stats)->tls_requests,
        nm_stats_totals(d->stats)->tls_connections);
    fresh_lines(d, out);
    return 0;
}

static double coverage(const nm_counters_t *c)
{
    return c->get_200 ? (double)c->get_200_validated / (double)c->get_200 : 0.0;
}

/* One source's counters as JSON members (no braces). */
static void counters_json(const nm_counters_t *c, struct evbuffer *out)
{
#define NM_JSON_FIELD(f)                                                       \
    evbuffer_add_printf(out, "\"" #f "\":%" PRIu64 ",", c->f);
    NM_STATS_FIELDS(NM_JSON_FIELD)
#undef NM_JSON_FIELD
    evbuffer_add_printf(out,
                        "\"revalidation_hits\":%" PRIu64 ",\"hit_rate\":%.6f,"
                        "\"validator_coverage\":%.6f",
                        nm_stats_hits(c), nm_stats_hit_rate(c), coverage(c));
}

static void stats_json(nm_daemon_t *d, struct evbuffer *out)
{
    const nm_events_counts_t *ec = nm_events_counts(d->events);
    evbuffer_add_printf(out, "{");
    counters_json(nm_stats_totals(d->stats), out);
    evbuffer_add_printf(out,
                        ",\"events_received\":%" PRIu64
                        ",\"events_malformed\":%" PRIu64
                        ",\"events_rejected\":%" PRIu64,
                        ec->received, ec->malformed, ec->rejected);
    if (d->pcap_stats) { /* what --pcap saw on the wire, kept apart */
        evbuffer_add_printf(out, ",\"pcap\":{");
        counters_json(nm_stats_totals(d->pcap_stats), out);
        evbuffer_add_printf(out, "}");
    }
    evbuffer_add_printf(out, "}\n");
}

/* One source's counters in the CLI's table. */
static void counters_text(const nm_counters_t *c, struct evbuffer *out)
{
    evbuffer_add_printf(
        out,
        "requests              %" PRIu64 "\n"
        "revalidations         %" PRIu64 "\n"
        "revalidation hits     %" PRIu64 " (served %" PRIu64
        ", substituted %" PRIu64 ", accelerated %" PRIu64 ")\n"
        "hit rate              %.1f%%\n"
        "missed revalidations  %" PRIu64 "\n"
        "tags added            %" PRIu64 "\n"
        "validator coverage    %.1f%%\n"
        "bytes saved           %" PRIu64 "\n"
        "not handled           %" PRIu64 "\n"
        "server time avoided   %.3f s (estimated)\n"
        "followed inside TLS   %" PRIu64 " requests, %" PRIu64 " connections\n",
        c->requests, c->revalidations, nm_stats_hits(c), c->hits_served,
        c->hits_substituted, c->hits_accelerated, 100 * nm_stats_hit_rate(c),
        c->missed, c->tags_added, 100 * coverage(c), c->bytes_saved,
        c->not_handled, (double)c->server_time_avoided_us / 1e6,
        c->tls_requests, c->tls_connections);
}

static int cmd_stats(nm_daemon_t *d, int argc, char **argv,
                     struct evbuffer *out)
{
    if (argc > 2 || (argc == 2 && strcmp(argv[1], "json") != 0))
        return fail(out, "usage: stats [json]");
    if (argc == 2) {
        stats_json(d, out);
        return 0;
    }
    counters_text(nm_stats_totals(d->stats), out);
    if (d->pcap_stats) {
        evbuffer_add_printf(out, "\non the wire (--pcap):\n");
        counters_text(nm_stats_totals(d->pcap_stats), out);
    }
    return 0;
}

/* One line of counter values in NM_STATS_FIELDS order, after a label. */
static void counters_line(struct evbuffer *out, const char *label,
                          const nm_counters_t *c)
{
    evbuffer_add_printf(out, "%s", label);
#define NM_LINE_FIELD(f) evbuffer_add_printf(out, " %" PRIu64, c->f);
    NM_STATS_FIELDS(NM_LINE_FIELD)
#undef NM_LINE_FIELD
}

static void route_line(void *arg, const char *route, const nm_counters_t *c)
{
    struct evbuffer *out = arg;
    counters_line(out, "route", c);
    /* Last on the line: a route is one token, but nothing after it needs
     * to be found should it ever hold a space. */
    evbuffer_add_printf(out, " %s\n", route);
}

/* `counters [routes]`: the raw counters notmodctl turns into rates by
 * polling (top, stats --interval). Numbers, not a table: the client does
 * the arithmetic and the layout, and a "fields" line names the columns so
 * that a counter added later does not break an older client. Every route
 * is sent, not a top N: a route's rate needs its previous value, and the
 * busiest route now may not have been among the top N a second ago. */
static int cmd_counters(nm_daemon_t *d, int argc, char **argv,
                        struct evbuffer *out)
{
    if (argc > 2 || (argc == 2 && strcmp(argv[1], "routes") != 0))
        return fail(out, "usage: counters [routes]");
    evbuffer_add_printf(out, "uptime_s %" PRId64 "\nfields",
                        (int64_t)(time(NULL) - d->started_unix));
#define NM_NAME_FIELD(f) evbuffer_add_printf(out, " " #f);
    NM_STATS_FIELDS(NM_NAME_FIELD)
#undef NM_NAME_FIELD
    evbuffer_add_printf(out, "\n");
    counters_line(out, "totals", nm_stats_totals(d->stats));
    evbuffer_add_printf(out, "\n");
    if (argc == 2)
        nm_stats_each_route(d->stats, route_line, out);
    return 0;
}

static int url_arg(const char *arg, char *key, struct evbuffer *out)
{
    const char *why = "";
    if (nm_url_key(arg, key, NM_URL_MAX, &why) < 0)
        return fail(out, "URL malformed: %s (%s)", arg, why);
    return 0;
}

static void put_time(struct evbuffer *out, const char *name, int64_t t)
{
    char when[64] = "none";
    time_t tt = (time_t)t;
    struct tm tm;
    if (t > 0 && gmtime_r(&tt, &tm))
        strftime(when, sizeof(when), "%a, %d %b %Y %H:%M:%S GMT", &tm);
    evbuffer_add_printf(out, "%s: %" PRId64 " (%s)\n", name, t, when);
}

/* Is any disabled prefix covering key? Same rule as the shims use. */
static bool key_is_disabled(nm_daemon_t *d, const char *key)
{
    nm_slice_t host, target;
    nm_url_split(key, &host, &target);
    /* Ask the published snapshot: it is what the shims will do. */
    nm_snapw_flush(d->snapw);
    return nm_snapw_is_disabled(d->snapw, host, target);
}

static int cmd_get(nm_daemon_t *d, int argc, char **argv, struct evbuffer *out)
{
    char key[NM_URL_MAX];
    if (argc != 2)
        return fail(out, "usage: get URL");
    if (url_arg(argv[1], key, out) < 0)
        return -1;
    const nm_store_rec_t *r = nm_store_get(d->store, key);
    bool is_disabled = key_is_disabled(d, key);
    if (!r && !is_disabled)
        return fail(out, "not in the store: %s", key);
    evbuffer_add_printf(out, "url: %s\n", key);
    evbuffer_add_printf(out, "tag: %s\n", r && r->tag ? r->tag : "none");
    /* The date the shims publish with the tag they publish (the pin's). */
    put_time(out, "last_modified", r ? nm_store_published_lm(r) : 0);
    evbuffer_add_printf(out, "pinned: %s\n",
                        r && r->pin_tag ? r->pin_tag : "no");
    evbuffer_add_printf(out, "disabled: %s\n", is_disabled ? "yes" : "no");
    /* What the shims would accelerate it with (the snapshot's answer). */
    nm_slice_t host, target;
    nm_url_split(key, &host, &target);
    char fresh[24] = "off";
    int64_t fresh_s = nm_snapw_fresh_for(d->snapw, host, target);
    if (!is_disabled && fresh_s != 0)
        nm_fresh_setting_format(fresh_s, fresh, sizeof(fresh));
    evbuffer_add_printf(out, "fresh: %s\n", fresh);
    return 0;
}

/* Operator changes are policy: written to --state before the answer, so
 * that what was answered "ok" survives a crash. */
static int save_policy(nm_daemon_t *d, struct evbuffer *out)
{
    int rc = nm_daemon_save_policy(d);
    if (rc < 0)
        return fail(out, "applied, but state file %s not written: %s",
                    d->cfg->state, strerror(-rc));
    return 0;
}

static int cmd_purge(nm_daemon_t *d, int argc, char **argv,
                     struct evbuffer *out)
{
    char key[NM_URL_MAX];
    const char *why = "";
    if (argc == 3 && strcmp(argv[1], "--prefix") == 0) {
        if (nm_url_prefix(argv[2], key, sizeof(key), &why) < 0)
            return fail(out, "prefix malformed: %s (%s)", argv[2], why);
        int n = nm_store_purge_prefix(d->store, key);
        if (n > 0 && save_policy(d, out) < 0)
            return -1;
        evbuffer_add_printf(out, "purged %d URLs under %s\n", n, key);
        return 0;
    }
    if (argc != 2)
        return fail(out, "usage: purge URL | purge --prefix P");
    if (url_arg(argv[1], key, out) < 0)
        return -1;
    if (nm_store_purge(d->store, key) == 0)
        return fail(out, "not in the store: %s", key);
    if (save_policy(d, out) < 0)
        return -1;
    evbuffer_add_printf(out, "purged %s\n", key);
    return 0;
}

/* RFC 9110 §8.8.3: entity-tag = [ "W/" ] DQUOTE *etagc DQUOTE. */
static bool is_entity_tag(const char *s)
{
    if (strncmp(s, "W/", 2) == 0)
        s += 2;
    size_t n = strlen(s);
    if (n < 2 || n > NM_SNAPSHOT_TAG_MAX || s[0] != '"' || s[n - 1] != '"')
        return false;
    for (size_t i = 1; i + 1 < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c <= 0x20 || c == 0x7f)
            return false;
    }
    return true;
}

static int cmd_pin(nm_daemon_t *d, int argc, char **argv, struct evbuffer *out)
{
    char key[NM_URL_MAX];
    if (argc != 3)
        return fail(out, "usage: pin URL ETAG");
    if (url_arg(argv[1], key, out) < 0)
        return -1;
    if (!is_entity_tag(argv[2]))
        return fail(out,
                    "ETAG malformed: %s (expected \"opaque\" or "
                    "W/\"opaque\", at most %d bytes)",
                    argv[2], NM_SNAPSHOT_TAG_MAX);
    int rc = nm_store_pin(d->store, key, argv[2], (int64_t)time(NULL));
    if (rc < 0)
        return fail(out, "out of memory");
    if (rc > 0 && save_policy(d, out) < 0)
        return -1;
    evbuffer_add_printf(out, "pinned %s to %s\n", key, argv[2]);
    return 0;
}

static int set_disabled(nm_daemon_t *d, int argc, char **argv,
                        struct evbuffer *out, bool is_disabled)
{
    char prefix[NM_URL_MAX];
    const char *why = "";
    if (argc != 2)
        return fail(out, "usage: %s PREFIX", argv[0]);
    if (nm_url_prefix(argv[1], prefix, sizeof(prefix), &why) < 0)
        return fail(out, "prefix malformed: %s (%s)", argv[1], why);
    int rc = nm_store_set_disabled(d->store, prefix, is_disabled);
    if (rc < 0)
        return fail(out, "out of memory");
    if (rc > 0 && save_policy(d, out) < 0)
        return -1;
    evbuffer_add_printf(out, "%s %s%s\n", is_disabled ? "disabled" : "enabled",
                        prefix, rc == 0 ? " (already)" : "");
    return 0;
}

static int cmd_disable(nm_daemon_t *d, int argc, char **argv,
                       struct evbuffer *out)
{
    return set_disabled(d, argc, argv, out, true);
}

static int cmd_enable(nm_daemon_t *d, int argc, char **argv,
                      struct evbuffer *out)
{
    return set_disabled(d, argc, argv, out, false);
}

/* fresh PREFIX SECONDS|origin|never|off: the route's freshness for
 * acceleration (docs/acceleration.md). */
static int cmd_fresh(nm_daemon_t *d, int argc, char **argv,
                     struct evbuffer *out)
{
    char prefix[NM_URL_MAX];
    const char *why = "";
    int64_t fresh_s = 0;
    if (argc != 3)
        return fail(out, "usage: fresh PREFIX SECONDS|origin|never|off");
    if (nm_url_prefix(argv[1], prefix, sizeof(prefix), &why) < 0)
        return fail(out, "prefix malformed: %s (%s)", argv[1], why);
    bool is_set = strcmp(argv[2], "off") != 0;
    if (is_set && nm_fresh_setting_parse(argv[2], &fresh_s) < 0)
        return fail(out,
                    "freshness malformed: %s (expected SECONDS from 1 to %d, "
                    "origin, never or off)",
                    argv[2], NM_FRESH_SECONDS_MAX);
    int rc = nm_store_set_fresh(d->store, prefix, is_set, fresh_s);
    if (rc < 0)
        return fail(out, "out of memory");
    if (rc > 0 && save_policy(d, out) < 0)
        return -1;
    char v[24] = "off";
    if (is_set)
        nm_fresh_setting_format(fresh_s, v, sizeof(v));
    evbuffer_add_printf(out, "fresh %s %s%s\n", prefix, v,
                        rc == 0 ? " (already)" : "");
    return 0;
}

static const struct {
    const char *name;
    cmd_fn fn;
} commands[] = {
    {"status", cmd_status},     {"stats", cmd_stats},
    {"counters", cmd_counters}, {"get", cmd_get},
    {"purge", cmd_purge},       {"pin", cmd_pin},
    {"disable", cmd_disable},   {"enable", cmd_enable},
    {"fresh", cmd_fresh},
};

/* Runs one command line; the answer goes to out. */
static void dispatch(nm_daemon_t *d, char *line, struct evbuffer *out)
{
    char *argv[ARGS_MAX + 1];
    int argc = 0;
    for (char *tok = strtok(line, " \t\r"); tok; tok = strtok(NULL, " \t\r")) {
        if (argc == ARGS_MAX) {
            fail(out, "too many arguments");
            return;
        }
        argv[argc++] = tok;
    }
    if (argc == 0) {
        fail(out, "empty command");
        return;
    }
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
        if (strcmp(argv[0], commands[i].name) != 0)
            continue;
        struct evbuffer *payload = evbuffer_new();
        if (!payload || commands[i].fn(d, argc, argv, payload) < 0) {
            if (payload)
                evbuffer_add_buffer(out, payload);
        } else {
            evbuffer_add_printf(out, "ok\n");
            evbuffer_add_buffer(out, payload);
        }
        evbuffer_free(payload);
        return;
    }
    fail(out, "unknown command: %s", argv[0]);
}

static void on_written(struct bufferevent *bev, void *arg)
{
    (void)arg;
    if (evbuffer_get_length(bufferevent_get_output(bev)) == 0)
        bufferevent_free(bev);
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
    (void)what;
    (void)arg;
    bufferevent_free(bev); /* EOF, error or timeout */
}

static void answer(struct bufferevent *bev, struct evbuffer *out)
{
    bufferevent_disable(bev, EV_READ);
    bufferevent_setcb(bev, NULL, on_written, on_event, NULL);
    bufferevent_write_buffer(bev, out);
}

/* A peer of another uid: its request is read and dropped, then refused. */
static void on_refused_read(struct bufferevent *bev, void *arg)
{
    struct evbuffer *in = bufferevent_get_input(bev);
    size_t n;
    char *line = evbuffer_readln(in, &n, EVBUFFER_EOL_CRLF);
    if (line == NULL && evbuffer_get_length(in) <= LINE_MAX_BYTES)
        return; /* wait for the whole line */
    free(line);
    evbuffer_drain(in, evbuffer_get_length(in));
    struct evbuffer *out = evbuffer_new();
    if (out == NULL) {
        bufferevent_free(bev);
        return;
    }
    fail(out, "permission denied (uid %u is not the daemon's uid %u)",
         (unsigned)(uintptr_t)arg, (unsigned)geteuid());
    answer(bev, out);
    evbuffer_free(out);
}

static void on_read(struct bufferevent *bev, void *arg)
{
    nm_control_t *c = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    size_t n;
    char *line = evbuffer_readln(in, &n, EVBUFFER_EOL_CRLF);
    struct evbuffer *out = evbuffer_new();
    if (!out) {
        free(line);
        bufferevent_free(bev);
        return;
    }
    if (line)
        dispatch(c->d, line, out);
    else if (evbuffer_get_length(in) > LINE_MAX_BYTES)
        fail(out, "command line too long");
    else {
        evbuffer_free(out);
        return; /* wait for the rest of the line */
    }
    free(line);
    answer(bev, out);
    evbuffer_free(out);
}

static void on_accept(struct evconnlistener *l, evutil_socket_t fd,
                      struct sockaddr *sa, int salen, void *arg)
{
    (void)l;
    (void)sa;
    (void)salen;
    nm_control_t *c = arg;
    struct bufferevent *bev =
        bufferevent_socket_new(c->d->base, fd, BEV_OPT_CLOSE_ON_FREE);
    if (!bev) {
        close(fd);
        return;
    }
    /* Mode 0600 already keeps others out; the uid check also covers a
     * socket placed in a directory with looser rules (or group mode). */
    struct ucred cred;
    socklen_t len = sizeof(cred);
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 ||
        (cred.uid != 0 && cred.uid != geteuid())) {
        /* Answered once the request line is in: closing with it unread
         * would reset the connection and lose the refusal. */
        struct timeval tv = {5, 0};
        bufferevent_set_timeouts(bev, &tv, &tv);
        bufferevent_setcb(bev, on_refused_read, NULL, on_event,
                          (void *)(uintptr_t)cred.uid);
        bufferevent_enable(bev, EV_READ);
        return;
    }
    struct timeval tv = {5, 0};
    bufferevent_set_timeouts(bev, &tv, &tv);
    bufferevent_setcb(bev, on_read, NULL, on_event, c);
    bufferevent_enable(bev, EV_READ);
}

nm_control_t *nm_control_open(nm_daemon_t *d, const char *path)
{
    nm_control_t *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->d = d;
    int fd = nm_unix_bind(path, SOCK_STREAM, 0600);
    if (fd < 0) {
        int err = errno;
        free(c);
        errno = err;
        return NULL;
    }
    c->path = strdup(path);
    c->listener = evconnlistener_new(
        d->base, on_accept, c, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC,
        64, fd);
    if (!c->listener || !c->path) {
        if (!c->listener)
            close(fd);
        nm_control_close(c);
        errno = ENOMEM;
        return NULL;
    }
    return c;
}

void nm_control_close(nm_control_t *c)
{
    if (!c)
        return;
    if (c->listener)
        evconnlistener_free(c->listener);
    if (c->path)
        unlink(c->path);
    free(c->path);
    free(c);
}
