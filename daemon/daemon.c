/* daemon.c - see daemon.h. */
#include "daemon.h"

#include <errno.h>
#include <string.h>

#include "control.h"
#include "log.h"
#include "metrics.h"
#include "pcap_live.h"
#include "store_redis.h"
#include "url.h"

/* Events that teach the store a tag: a 200 to GET or HEAD that left with
 * a validator (the server's own or notmod's). */
static bool teaches_tag(const nm_event_t *ev)
{
    return (ev->method == NM_METHOD_GET || ev->method == NM_METHOD_HEAD) &&
           ev->status == 200 && ev->validator.len > 0 &&
           ev->outcome != NM_OUTCOME_NOT_HANDLED;
}

void nm_daemon_on_event(void *arg, const nm_event_t *ev)
{
    nm_daemon_t *d = arg;
    char key[NM_URL_MAX], route[NM_URL_MAX];
    bool has_key =
        nm_url_key_from_parts(ev->host, ev->path, key, sizeof(key)) > 0;
    if (!has_key)
        d->events_without_url++;
    else
        nm_url_route(key, route, sizeof(route));
    nm_stats_record(d->stats, ev, has_key ? route : NULL);
    if (has_key && teaches_tag(ev)) {
        char tag[NM_EVENT_VALIDATOR_MAX + 1];
        memcpy(tag, ev->validator.ptr, ev->validator.len);
        tag[ev->validator.len] = '\0';
        nm_store_observe(d->store, key, tag, (int64_t)time(NULL));
    }
}

/* What the shim would have reported, had it been there: the server's own
 * 304s, revalidations answered 200, everything else passed. */
static uint8_t wire_outcome(const nm_pcap_exchange_t *x)
{
    bool is_reval =
        (x->method == NM_METHOD_GET || x->method == NM_METHOD_HEAD) &&
        (x->has_inm || x->has_ims);
    if (is_reval && x->status == 304)
        return NM_OUTCOME_SERVER_304;
    if (is_reval && x->status == 200)
        return NM_OUTCOME_COND_MISS;
    return NM_OUTCOME_PASSED;
}

/* One exchange seen on the wire (nm_pcap_exchange_fn): counted like a
 * shim event, in the "pcap" statistics. It teaches the store nothing:
 * the store holds the tags the shims publish. */
static void on_pcap_exchange(void *arg, const nm_pcap_exchange_t *x)
{
    nm_daemon_t *d = arg;
    nm_event_t ev = {0};
    ev.method = (uint8_t)x->method;
    ev.status = (uint16_t)x->status;
    ev.flags = (uint8_t)((x->has_inm ? NM_EVENT_F_COND_INM : 0) |
                         (x->has_ims ? NM_EVENT_F_COND_IMS : 0));
    ev.outcome = wire_outcome(x);
    ev.body_len = x->body_len;
    if (x->etag.len <= NM_EVENT_VALIDATOR_MAX)
        ev.validator = x->etag;
    nm_stats_record(d->pcap_stats, &ev, x->route);
}

static int open_pcap(nm_daemon_t *d)
{
    char err[512];
    d->pcap_stats = nm_stats_new();
    if (!d->pcap_stats)
        return -1;
    d->pcap = nm_pcap_live_open(d->base, d->cfg->pcap, d->cfg->pcap_filter,
                                on_pcap_exchange, d, err, sizeof(err));
    if (!d->pcap) {
        nm_log(LOG_ERR, "--pcap %s", err);
        return -1;
    }
    return 0;
}

static void on_stats_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    nm_daemon_t *d = arg;
    nm_stats_flush(d->stats, nm_store_backend(d->store));
}

int nm_daemon_save_policy(nm_daemon_t *d)
{
    if (!d->cfg->state)
        return 0;
    int rc = nm_store_save(d->store, d->cfg->state, NM_STORE_SAVE_POLICY);
    if (rc < 0)
        nm_log(LOG_ERR, "state file %s: %s", d->cfg->state, strerror(-rc));
    return rc;
}

/* Loads --state, then writes it back at once without the records: their
 * dates hold only until this process stops cleanly (and writes them
 * again); after a crash every URL must start a new epoch. */
static int load_state(nm_daemon_t *d)
{
    int n = nm_store_load(d->store, d->cfg->state, (int64_t)time(NULL));
    if (n < 0) {
        nm_log(LOG_ERR, "state file %s: %s", d->cfg->state, strerror(-n));
        return -1;
    }
    nm_log(LOG_INFO, "state file %s: %d URLs and pins", d->cfg->state, n);
    return nm_daemon_save_policy(d) < 0 ? -1 : 0;
}

/* Store first (its change callback needs the writer, which reads the
 * store): the writer is attached once it exists. The backend comes before
 * the state file, whose policy it must receive; it only connects once the
 * loop runs. */
static int open_store(nm_daemon_t *d)
{
    d->store = nm_store_new(NULL, NULL);
    d->stats = nm_stats_new();
    if (!d->store || !d->stats)
        return -1;
    const char *why = NULL;
    if (d->cfg->redis &&
        nm_redis_attach(d->store, d->base, d->cfg->redis, &why) < 0) {
        nm_log(LOG_ERR, "--redis %s: %s", d->cfg->redis, why);
        return -1;
    }
    if (d->cfg->state && load_state(d) < 0)
        return -1;
    d->snapw = nm_snapw_open(d->base, d->cfg->snapshot, d->store);
    if (!d->snapw) {
        nm_log(LOG_ERR, "snapshot %s: %s", d->cfg->snapshot, strerror(errno));
        return -1;
    }
    nm_snapw_set_accelerate_origin(d->snapw, d->cfg->is_accelerate_origin);
    nm_store_set_on_change(d->store, nm_snapw_mark, d->snapw);
    return 0;
}

int nm_daemon_start(nm_daemon_t *d)
{
    d->started_unix = time(NULL);
    if (open_store(d) < 0)
        return -1;
    d->events = nm_events_open(d->base, d->cfg->socket, nm_daemon_on_event, d);
    if (!d->events) {
        nm_log(LOG_ERR, "event socket %s: %s%s", d->cfg->socket,
               strerror(errno),
               errno == EADDRINUSE ? " (another notmodd running?)" : "");
        return -1;
    }
    nm_events_set_secret(d->events, d->cfg->has_secret, d->cfg->secret_token);
    d->control = nm_control_open(d, d->cfg->control);
    if (!d->control) {
        nm_log(LOG_ERR, "control socket %s: %s%s", d->cfg->control,
               strerror(errno),
               errno == EADDRINUSE ? " (another notmodd running?)" : "");
        return -1;
    }
    if (d->cfg->pcap && open_pcap(d) < 0)
        return -1;
    if (d->cfg->metrics) {
        d->metrics = nm_metrics_open(d, d->cfg->metrics);
        if (!d->metrics)
            return -1;
    }
    d->stats_tick = event_new(d->base, -1, EV_PERSIST, on_stats_tick, d);
    struct timeval sec = {1, 0};
    if (!d->stats_tick || event_add(d->stats_tick, &sec) != 0)
        return -1;
    nm_log(LOG_INFO,
           "listening on %s (control %s, snapshot %s, store %s, pcap %s)",
           d->cfg->socket, d->cfg->control, d->cfg->snapshot,
           d->cfg->redis ? "redis" : "memory",
           d->cfg->pcap ? d->cfg->pcap : "off");
    d->is_started = true;
    return 0;
}

static void on_drain_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg; /* only wakes the loop up */
}

/* Gives Redis up to a second to take what is queued or in flight. */
static void drain_backend(nm_daemon_t *d)
{
    const nm_store_backend_t *be = nm_store_backend(d->store);
    if (!be || !be->is_idle)
        return;
    struct event *t = event_new(d->base, -1, EV_PERSIST, on_drain_tick, NULL);
    struct timeval tick = {0, 20000};
    if (!t)
        return;
    event_add(t, &tick);
    for (int i = 0; i < 50 && !be->is_idle(be->self); i++)
        event_base_loop(d->base, EVLOOP_ONCE);
    event_free(t);
}

void nm_daemon_stop(nm_daemon_t *d)
{
    if (d->stats && d->store)
        nm_stats_flush(d->stats, nm_store_backend(d->store));
    if (d->store)
        drain_backend(d);
    /* The records' dates only with the embedded store: a backend keeps
     * its own, and assigned them. */
    if (d->cfg->state && d->store && d->is_started) {
        nm_store_save_t what = nm_store_backend(d->store) ? NM_STORE_SAVE_POLICY
                                                          : NM_STORE_SAVE_ALL;
        int rc = nm_store_save(d->store, d->cfg->state, what);
        if (rc < 0)
            nm_log(LOG_ERR, "state file %s: %s", d->cfg->state, strerror(-rc));
    }
    if (d->stats_tick)
        event_free(d->stats_tick);
    nm_metrics_close(d->metrics);
    nm_pcap_live_close(d->pcap);
    nm_stats_free(d->pcap_stats);
    d->pcap = NULL;
    d->pcap_stats = NULL;
    nm_control_close(d->control);
    nm_events_close(d->events);
    if (d->store)
        nm_store_set_on_change(d->store, NULL, NULL);
    nm_snapw_close(d->snapw);
    nm_store_free(d->store);
    nm_stats_free(d->stats);
    d->stats_tick = NULL;
    d->metrics = NULL;
    d->control = NULL;
    d->events = NULL;
    d->snapw = NULL;
    d->store = NULL;
    d->stats = NULL;
}
