/* redis_sentinel.c - see redis_sentinel.h. The protocol is the one the
 * Sentinel documentation asks clients to follow: SENTINEL
 * get-master-addr-by-name on each sentinel in turn until one answers,
 * remembering which did; the caller then checks with ROLE that the server
 * really is the master (redis_link.c), and asks again on a failover, a
 * lost connection or a READONLY reply. The sentinels get the password of
 * the URL too, where one is given (an error from a sentinel without one is
 * ignored). */
#include "redis_sentinel.h"

#include <hiredis/adapters/libevent.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

#define ASK_TIMEOUT_MS 1000 /* per sentinel: a black-holed one is skipped */
#define WATCH_RETRY_MS 1000

struct nm_sentinel {
    struct event_base *base;
    const nm_redis_addr_t *addr;
    nm_sentinel_switch_fn on_switch;
    void *switch_arg;
    /* The ask running: the sentinel asked, how many were tried. */
    redisAsyncContext *ask_ac;
    size_t ask_i, tried;
    nm_sentinel_found_fn found;
    void *found_arg;
    struct event *ask_timer; /* the sentinel's time is up */
    struct event *done_ev;   /* calls found from the loop */
    char found_host[NM_REDIS_HOST_MAX];
    int found_port;
    char why[200];
    size_t good; /* the sentinel that answered last */
    /* The watch: a subscribed connection. */
    redisAsyncContext *watch_ac;
    struct event *watch_timer;
};

static void ask_next(nm_sentinel_t *s);

/* Why the last sentinel failed, "sentinel host:port: ...". */
static void set_why(nm_sentinel_t *s, const nm_redis_hostport_t *h,
                    const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void set_why(nm_sentinel_t *s, const nm_redis_hostport_t *h,
                    const char *fmt, ...)
{
    int n = snprintf(s->why, sizeof(s->why), "sentinel %.64s:%d: ", h->host,
                     h->port);
    if (n < 0 || (size_t)n >= sizeof(s->why))
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->why + n, sizeof(s->why) - (size_t)n, fmt, ap);
    va_end(ap);
}

/* Frees a context of ours; hiredis defers it when inside its callback. */
static void close_ac(redisAsyncContext **acp)
{
    redisAsyncContext *ac = *acp;
    *acp = NULL;
    if (ac)
        redisAsyncFree(ac);
}

static redisAsyncContext *connect_to(nm_sentinel_t *s, size_t i,
                                     redisConnectCallback *on_connect)
{
    const nm_redis_hostport_t *h = &s->addr->hosts[i];
    redisAsyncContext *ac = redisAsyncConnect(h->host, h->port);
    if (!ac || ac->err) {
        set_why(s, h, "%s", ac ? ac->errstr : "out of memory");
        if (ac)
            redisAsyncFree(ac);
        return NULL;
    }
    ac->data = s;
    redisLibeventAttach(ac, s->base);
    redisAsyncSetConnectCallback(ac, on_connect);
    if (s->addr->password)
        redisAsyncCommand(ac, NULL, NULL, "AUTH %s", s->addr->password);
    return ac;
}

/* --- asking --- */

static void finish_ask(nm_sentinel_t *s, const char *host, int port)
{
    static const struct timeval now = {0, 0};
    event_del(s->ask_timer);
    if (host)
        snprintf(s->found_host, sizeof(s->found_host), "%s", host);
    else
        s->found_host[0] = '\0';
    s->found_port = port;
    evtimer_add(s->done_ev, &now);
}

static void on_done_ev(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    nm_sentinel_t *s = arg;
    nm_sentinel_found_fn found = s->found;
    s->found = NULL;
    if (found)
        found(s->found_arg, s->found_host[0] ? s->found_host : NULL,
              s->found_port, s->why);
}

static void start_watch(nm_sentinel_t *s);

/* The reply to SENTINEL get-master-addr-by-name: [ip, port], or nil for a
 * name the sentinel does not monitor. */
static void on_addr(redisAsyncContext *ac, void *reply, void *priv)
{
    (void)priv;
    nm_sentinel_t *s = ac->data;
    const redisReply *rep = reply;
    if (ac != s->ask_ac)
        return; /* abandoned */
    const nm_redis_hostport_t *h = &s->addr->hosts[s->ask_i];
    if (!rep) {
        /* hiredis is freeing the context (connection lost). */
        s->ask_ac = NULL;
        set_why(s, h, "%s", ac->errstr[0] ? ac->errstr : "connection lost");
        ask_next(s);
        return;
    }
    close_ac(&s->ask_ac);
    if (rep->type == REDIS_REPLY_ARRAY && rep->elements == 2 &&
        rep->element[0]->type == REDIS_REPLY_STRING &&
        rep->element[1]->type == REDIS_REPLY_STRING) {
        int port = atoi(rep->element[1]->str);
        if (port > 0 && port <= 65535) {
            s->good = s->ask_i;
            if (!s->watch_ac && !evtimer_pending(s->watch_timer, NULL))
                start_watch(s);
            finish_ask(s, rep->element[0]->str, port);
            return;
        }
    }
    set_why(s, h, "%s",
            rep->type == REDIS_REPLY_ERROR ? rep->str
                                           : "does not know the master");
    ask_next(s);
}

static void on_ask_connect(const redisAsyncContext *ac, int status)
{
    nm_sentinel_t *s = ac->data;
    if (status == REDIS_OK || ac != s->ask_ac)
        return;
    /* hiredis frees it after this: on_addr then sees it abandoned. */
    const nm_redis_hostport_t *h = &s->addr->hosts[s->ask_i];
    set_why(s, h, "%s", ac->errstr);
    s->ask_ac = NULL;
    ask_next(s);
}

static void on_ask_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    nm_sentinel_t *s = arg;
    const nm_redis_hostport_t *h = &s->addr->hosts[s->ask_i];
    set_why(s, h, "no answer in %d ms", ASK_TIMEOUT_MS);
    close_ac(&s->ask_ac);
    ask_next(s);
}

static void ask_next(nm_sentinel_t *s)
{
    while (s->tried < s->addr->n_hosts) {
        s->ask_i = (s->good + s->tried++) % s->addr->n_hosts;
        redisAsyncContext *ac = connect_to(s, s->ask_i, on_ask_connect);
        if (!ac)
            continue;
        s->ask_ac = ac;
        if (redisAsyncCommand(ac, on_addr, NULL,
                              "SENTINEL get-master-addr-by-name %s",
                              s->addr->master) != REDIS_OK) {
            close_ac(&s->ask_ac);
            continue;
        }
        struct timeval tv = {ASK_TIMEOUT_MS / 1000,
                             (ASK_TIMEOUT_MS % 1000) * 1000};
        evtimer_add(s->ask_timer, &tv);
        return;
    }
    finish_ask(s, NULL, 0);
}

void nm_sentinel_cancel(nm_sentinel_t *s)
{
    s->found = NULL;
    event_del(s->ask_timer);
    event_del(s->done_ev);
    close_ac(&s->ask_ac);
}

void nm_sentinel_ask(nm_sentinel_t *s, nm_sentinel_found_fn found, void *arg)
{
    nm_sentinel_cancel(s);
    s->found = found;
    s->found_arg = arg;
    s->tried = 0;
    snprintf(s->why, sizeof(s->why), "no sentinel answered");
    ask_next(s);
}

/* --- watching --- */

static void watch_later(nm_sentinel_t *s)
{
    struct timeval tv = {WATCH_RETRY_MS / 1000, (WATCH_RETRY_MS % 1000) * 1000};
    if (!evtimer_pending(s->watch_timer, NULL))
        evtimer_add(s->watch_timer, &tv);
}

/* "+switch-master <name> <old ip> <old port> <new ip> <new port>". */
static void on_switch_message(nm_sentinel_t *s, const char *msg)
{
    char name[256], old_ip[NM_REDIS_HOST_MAX], new_ip[NM_REDIS_HOST_MAX];
    int old_port, new_port;
    if (sscanf(msg, "%255s %255s %d %255s %d", name, old_ip, &old_port, new_ip,
               &new_port) != 5 ||
        strcmp(name, s->addr->master) != 0)
        return;
    nm_log(LOG_INFO, "sentinel: %s switched from %s:%d to %s:%d", name, old_ip,
           old_port, new_ip, new_port);
    s->on_switch(s->switch_arg, new_ip, new_port);
}

static void on_message(redisAsyncContext *ac, void *reply, void *priv)
{
    (void)priv;
    nm_sentinel_t *s = ac->data;
    const redisReply *rep = reply;
    if (ac != s->watch_ac)
        return;
    if (!rep) {
        s->watch_ac = NULL; /* being freed by hiredis */
        s->good = (s->good + 1) % s->addr->n_hosts;
        watch_later(s);
        return;
    }
    if (rep->type == REDIS_REPLY_ARRAY && rep->elements == 3 &&
        rep->element[0]->type == REDIS_REPLY_STRING &&
        strcmp(rep->element[0]->str, "message") == 0 &&
        rep->element[2]->type == REDIS_REPLY_STRING)
        on_switch_message(s, rep->element[2]->str);
}

static void on_watch_connect(const redisAsyncContext *ac, int status)
{
    nm_sentinel_t *s = ac->data;
    if (status == REDIS_OK || ac != s->watch_ac)
        return;
    s->watch_ac = NULL;
    s->good = (s->good + 1) % s->addr->n_hosts;
    watch_later(s);
}

static void start_watch(nm_sentinel_t *s)
{
    redisAsyncContext *ac = connect_to(s, s->good, on_watch_connect);
    if (!ac) {
        watch_later(s);
        return;
    }
    s->watch_ac = ac;
    if (redisAsyncCommand(ac, on_message, NULL, "SUBSCRIBE +switch-master") !=
        REDIS_OK) {
        close_ac(&s->watch_ac);
        watch_later(s);
    }
}

static void on_watch_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    nm_sentinel_t *s = arg;
    if (!s->watch_ac)
        start_watch(s);
}

nm_sentinel_t *nm_sentinel_new(struct event_base *base,
                               const nm_redis_addr_t *addr,
                               nm_sentinel_switch_fn on_switch, void *arg)
{
    nm_sentinel_t *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->base = base;
    s->addr = addr;
    s->on_switch = on_switch;
    s->switch_arg = arg;
    s->ask_timer = evtimer_new(base, on_ask_timer, s);
    s->done_ev = evtimer_new(base, on_done_ev, s);
    s->watch_timer = evtimer_new(base, on_watch_timer, s);
    if (!s->ask_timer || !s->done_ev || !s->watch_timer) {
        nm_sentinel_free(s);
        return NULL;
    }
    return s;
}

void nm_sentinel_free(nm_sentinel_t *s)
{
    if (!s)
        return;
    s->found = NULL;
    close_ac(&s->ask_ac);
    close_ac(&s->watch_ac);
    if (s->ask_timer)
        event_free(s->ask_timer);
    if (s->done_ev)
        event_free(s->done_ev);
    if (s->watch_timer)
        event_free(s->watch_timer);
    free(s);
}
