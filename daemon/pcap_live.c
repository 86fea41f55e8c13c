/* pcap_live.c - see pcap_live.h. libpcap's selectable fd wakes the loop;
 * a one-second timer ends idle flows even when no packet arrives. */
#include "pcap_live.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/time.h>

#include "log.h"
#include "pcap_capture.h"

struct nm_pcap_live {
    pcap_t *pcap;
    nm_pcap_obs_t *obs;
    struct event *readable, *tick;
};

static void on_readable(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    nm_pcap_live_t *l = arg;
    char err[512];
    if (nm_pcap_dispatch(l->pcap, l->obs, err, sizeof(err)) < 0)
        nm_log(LOG_WARNING, "pcap: %s", err);
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    nm_pcap_live_t *l = arg;
    struct timeval now;
    gettimeofday(&now, NULL);
    nm_pcap_obs_expire(l->obs,
                       (uint64_t)now.tv_sec * 1000000u + (uint64_t)now.tv_usec);
}

nm_pcap_live_t *nm_pcap_live_open(struct event_base *base, const char *iface,
                                  const char *filter, nm_pcap_exchange_fn fn,
                                  void *arg, char *err, size_t cap)
{
    nm_pcap_live_t *l = calloc(1, sizeof(*l));
    if (!l || !(l->obs = nm_pcap_obs_new(NULL))) {
        snprintf(err, cap, "out of memory");
        nm_pcap_live_close(l);
        return NULL;
    }
    nm_pcap_obs_set_exchange_fn(l->obs, fn, arg);
    l->pcap = nm_pcap_open_live(iface, filter, err, cap);
    if (!l->pcap) {
        nm_pcap_live_close(l);
        return NULL;
    }
    int fd = pcap_get_selectable_fd(l->pcap);
    struct timeval sec = {1, 0};
    l->readable = event_new(base, fd, EV_READ | EV_PERSIST, on_readable, l);
    l->tick = event_new(base, -1, EV_PERSIST, on_tick, l);
    if (fd < 0 || !l->readable || !l->tick || event_add(l->readable, NULL) ||
        event_add(l->tick, &sec)) {
        snprintf(err, cap, "%s: cannot poll the capture", iface);
        nm_pcap_live_close(l);
        return NULL;
    }
    return l;
}

const nm_pcap_counts_t *nm_pcap_live_counts(const nm_pcap_live_t *l)
{
    return nm_pcap_obs_counts(l->obs);
}

void nm_pcap_live_close(nm_pcap_live_t *l)
{
    if (!l)
        return;
    if (l->readable)
        event_free(l->readable);
    if (l->tick)
        event_free(l->tick);
    if (l->pcap)
        pcap_close(l->pcap);
    nm_pcap_obs_free(l->obs);
    free(l);
}
