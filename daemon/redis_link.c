/* redis_link.c - see redis_link.h.
 *
 * One rule keeps the user's bookkeeping simple: a command whose reply never
 * comes is always followed by a reset (down, then up again), and a reset
 * fails every command still out. The user queues what failed and sends it
 * again once up; its writes are idempotent (store_redis.c), so sending
 * again what did run is harmless. So a node lost, a failover or a map
 * that no longer fits all end the same way: everything is dropped, the
 * topology is asked again (sentinels, CLUSTER SLOTS) and the link comes up
 * once every master answers. Costs: a node loss pauses writes to every
 * node until the failover is done (notmodd serves from memory meanwhile);
 * what was in flight on the healthy nodes is sent again.
 *
 * Cluster: no Cluster client library is packaged in Debian 12 for hiredis
 * 0.14 (hiredis-cluster and hiredis-vip are not), so the routing is written
 * here over the async contexts, one per master: CLUSTER SLOTS gives the
 * map, each command goes to the master of its key's slot (redis_slots.c),
 * MOVED updates the slot, resends and refreshes the whole map, ASK resends
 * once after ASKING on the node named, TRYAGAIN (a multi-key command while
 * its slot migrates: the counter script) waits a little and resends.
 *
 * Durability: Redis replicates asynchronously, so a master that dies right
 * after a write may take it along, and a replica promoted then lacks a
 * write whose reply the user already acted on (a counter batch ended: its
 * counts lost). With Sentinel or Cluster, a write's reply from a master
 * that had a replica when we connected is held until WAIT 1 says a replica
 * has it; one WAIT per node covers every write sent before it. A WAIT that
 * times out (no replica acknowledged) is sent again: the replica may just
 * have been promoted (a failover under way, the old master still taking
 * writes that the new one will never see; measured: a graceful Sentinel
 * failover lost about a second of counts when the replies were given at
 * the timeout). The failover then resets the link (+switch-master,
 * READONLY, the connection lost), the held writes fail and are sent again
 * to the new master. After HOLD_MAX_MS without an acknowledgement the link
 * resets by itself: a master whose replicas are really gone then has none
 * at ROLE, and its writes are confirmed without WAIT, which is Redis' own
 * guarantee (min-replicas-to-write on the master refuses them instead;
 * its NOREPLICAS reply is a "not now" to store_redis.c). */
#include "redis_link.h"

#include <hiredis/adapters/libevent.h>
#include <hiredis/async.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "redis_sentinel.h"
#include "redis_slots.h"

#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 2000
#define STALL_MS 3000 /* no reply (or no connect) for this long: reset */
#define DISCOVER_TIMEOUT_MS 2000 /* per cluster node asked for the map */
#define WAIT_TIMEOUT_MS 500
#define HOLD_MAX_MS 10000 /* no replica acknowledged for this long: reset */
#define MAX_REDIRECTS 5   /* MOVED / ASK for one command, then reset */
#define TRYAGAIN_MAX 60   /* times 50 ms: a slot migrating for 3 s */
#define TRYAGAIN_DELAY_MS 50
#define NODE_NAME_MAX (NM_REDIS_HOST_MAX + 8)

typedef struct node node_t;
typedef struct lcmd lcmd_t;

/* A user's command, kept formatted for MOVED, ASK and TRYAGAIN. */
struct lcmd {
    nm_redis_link_t *l;
    node_t *node; /* where it was last sent */
    nm_redis_reply_fn fn;
    void *priv;
    char *buf;
    size_t len;
    int slot; /* -1: sent to a named node, never redirected */
    int flags;
    int redirects, tryagains;
    uint64_t write_seq; /* node's number of this write, for WAIT */
    redisReply *held;   /* reply kept until WAIT */
    lcmd_t *next;       /* node->held list, or l->delayed */
    struct event *retry_ev;
};

struct node {
    nm_redis_link_t *l;
    char *host, *unix_path;
    int port;
    char name[NODE_NAME_MAX];
    redisAsyncContext *ac;
    bool is_connected, is_ready, in_map;
    int replicas; /* connected replicas, from ROLE */
    /* A replica was there since we connected: writes wait for one. */
    bool had_replicas;
    int64_t unacked_since_ms; /* first WAIT that timed out, 0 none */
    size_t pending; /* commands sent, reply not in yet (stall detection) */
    int64_t last_progress_ms, connect_started_ms;
    uint64_t writes_sent, wait_covers;
    lcmd_t *held_head, *held_tail;
};

/* One WAIT out: releases the writes numbered up to covers. */
typedef struct wait_ctx {
    node_t *node;
    uint64_t covers;
} wait_ctx_t;

struct nm_redis_link {
    struct event_base *base;
    nm_redis_addr_t addr;
    nm_redis_link_cbs_t cbs;
    void *arg;
    node_t **nodes;
    size_t n_nodes;
    node_t *master;     /* without Cluster: the one node */
    node_t **slot_node; /* Cluster: NM_REDIS_SLOTS entries */
    bool is_up;
    size_t user_inflight;
    lcmd_t *delayed; /* TRYAGAIN: waiting to be sent again */
    int backoff_ms;
    struct event *retry_ev, *reset_ev, *tick_ev, *refresh_ev, *disc_timer;
    char reset_why[200], last_error[200];
    nm_sentinel_t *sentinel;
    /* Cluster: the node asked for the map, and which one in the list of
     * seeds and nodes seen (known). */
    redisAsyncContext *disc_ac;
    size_t disc_tried;
    nm_redis_hostport_t *known;
    size_t n_known;
    bool is_refreshing;
    /* Cluster redirections followed, for `status`. */
    uint64_t n_moved, n_ask, n_tryagain;
};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void set_error(nm_redis_link_t *l, const char *what)
{
    if (strcmp(l->last_error, what) != 0) {
        char desc[512];
        nm_redis_link_describe(l, desc, sizeof(desc));
        nm_log(LOG_WARNING, "redis %s: %s (serving from memory, retrying)",
               desc, what);
    }
    snprintf(l->last_error, sizeof(l->last_error), "%s", what);
}

/* Resets from the loop, soon: never inside a hiredis callback, where
 * freeing a context would run its remaining callbacks under our feet. */
static void reset_soon(nm_redis_link_t *l, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void reset_soon(nm_redis_link_t *l, const char *fmt, ...)
{
    static const struct timeval now = {0, 0};
    if (evtimer_pending(l->reset_ev, NULL))
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(l->reset_why, sizeof(l->reset_why), fmt, ap);
    va_end(ap);
    evtimer_add(l->reset_ev, &now);
}

void nm_redis_link_reset(nm_redis_link_t *l, const char *why)
{
    reset_soon(l, "%s", why);
}

/* --- commands --- */

static void lcmd_free(lcmd_t *c)
{
    if (c->held)
        freeReplyObject(c->held);
    if (c->retry_ev)
        event_free(c->retry_ev);
    free(c->buf);
    free(c);
}

/* Gives the user its reply (NULL: failed) and forgets the command. */
static void finish(lcmd_t *c, const redisReply *rep)
{
    nm_redis_link_t *l = c->l;
    l->user_inflight--;
    c->fn(c->priv, rep);
    lcmd_free(c);
}

/* A deep copy of a reply, to keep it past its callback (hiredis frees it
 * after). Replies to writes are small: integers, statuses, short arrays. */
static redisReply *copy_reply(const redisReply *r)
{
    redisReply *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->type = r->type;
    c->integer = r->integer;
    if (r->str) {
        c->str = malloc((size_t)r->len + 1);
        if (!c->str) {
            free(c);
            return NULL;
        }
        memcpy(c->str, r->str, (size_t)r->len + 1);
        c->len = r->len;
    }
    if (r->type == REDIS_REPLY_ARRAY && r->elements) {
        c->element = calloc(r->elements, sizeof(*c->element));
        if (!c->element) {
            freeReplyObject(c);
            return NULL;
        }
        c->elements = r->elements;
        for (size_t i = 0; i < r->elements; i++)
            if (!(c->element[i] = copy_reply(r->element[i]))) {
                freeReplyObject(c);
                return NULL;
            }
    }
    return c;
}

static void on_cmd_reply(redisAsyncContext *ac, void *reply, void *priv);

static void progress(node_t *n)
{
    n->pending--;
    n->last_progress_ms = now_ms();
}

static bool sent(node_t *n, int rc)
{
    if (rc != REDIS_OK)
        return false;
    if (n->pending++ == 0)
        n->last_progress_ms = now_ms();
    return true;
}

/* Sends c to n (after ASKING when is_asking). A node without a connection,
 * or one that refuses, fails c and resets. */
static void send_to(nm_redis_link_t *l, lcmd_t *c, node_t *n, bool is_asking)
{
    c->node = n;
    if (!n || !n->ac) {
        int slot = c->slot;
        finish(c, NULL);
        if (n)
            reset_soon(l, "%s: no connection", n->name);
        else
            reset_soon(l, "slot %d: no master", slot);
        return;
    }
    if (is_asking)
        redisAsyncCommand(n->ac, NULL, NULL, "ASKING");
    if (c->flags & NM_REDIS_WRITE)
        c->write_seq = ++n->writes_sent;
    if (!sent(n, redisAsyncFormattedCommand(n->ac, on_cmd_reply, c, c->buf,
                                            c->len))) {
        finish(c, NULL);
        reset_soon(l, "%s: command refused", n->name);
    }
}

/* --- nodes --- */

static void on_connect(const redisAsyncContext *ac, int status);
static void on_disconnect(const redisAsyncContext *ac, int status);
static void on_internal(redisAsyncContext *ac, void *reply, void *priv);
static void on_role(redisAsyncContext *ac, void *reply, void *priv);

static node_t *find_node(const nm_redis_link_t *l, const char *host, int port)
{
    for (size_t i = 0; i < l->n_nodes; i++)
        if (l->nodes[i]->port == port && l->nodes[i]->host &&
            strcmp(l->nodes[i]->host, host) == 0)
            return l->nodes[i];
    return NULL;
}

static node_t *find_node_named(const nm_redis_link_t *l, const char *name)
{
    for (size_t i = 0; i < l->n_nodes; i++)
        if (strcmp(l->nodes[i]->name, name) == 0)
            return l->nodes[i];
    return NULL;
}

/* Remembers host:port for later discoveries (Cluster). */
static void add_known(nm_redis_link_t *l, const char *host, int port)
{
    for (size_t i = 0; i < l->n_known; i++)
        if (l->known[i].port == port && strcmp(l->known[i].host, host) == 0)
            return;
    nm_redis_hostport_t *k =
        realloc(l->known, (l->n_known + 1) * sizeof(*l->known));
    if (!k)
        return;
    l->known = k;
    snprintf(k[l->n_known].host, sizeof(k->host), "%s", host);
    k[l->n_known++].port = port;
}

/* Connects n: AUTH and SELECT go first, then ROLE where the node must be
 * a master (Sentinel, Cluster); without them it is ready once connected. */
static void node_connect(nm_redis_link_t *l, node_t *n)
{
    redisAsyncContext *ac = n->unix_path ? redisAsyncConnectUnix(n->unix_path)
                                         : redisAsyncConnect(n->host, n->port);
    if (!ac || ac->err) {
        reset_soon(l, "%s: %s", n->name, ac ? ac->errstr : "out of memory");
        if (ac)
            redisAsyncFree(ac);
        return;
    }
    ac->data = n;
    redisLibeventAttach(ac, l->base);
    redisAsyncSetConnectCallback(ac, on_connect);
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
    n->ac = ac;
    n->connect_started_ms = now_ms();
    if (l->addr.password)
        sent(n, redisAsyncCommand(ac, on_internal, n, "AUTH %s",
                                  l->addr.password));
    if (l->addr.db)
        sent(n, redisAsyncCommand(ac, on_internal, n, "SELECT %d", l->addr.db));
    if (l->addr.mode != NM_REDIS_SINGLE)
        sent(n, redisAsyncCommand(ac, on_role, n, "ROLE"));
}

static node_t *add_node(nm_redis_link_t *l, const char *host, int port,
                        const char *unix_path)
{
    node_t *n = calloc(1, sizeof(*n));
    node_t **nodes = realloc(l->nodes, (l->n_nodes + 1) * sizeof(*nodes));
    if (!n || !nodes) {
        free(n);
        if (nodes)
            l->nodes = nodes;
        return NULL;
    }
    l->nodes = nodes;
    n->l = l;
    n->port = port;
    if (unix_path) {
        n->unix_path = strdup(unix_path);
        snprintf(n->name, sizeof(n->name), "%s", unix_path);
    } else {
        n->host = strdup(host);
        snprintf(n->name, sizeof(n->name),
                 strchr(host, ':') ? "[%s]:%d" : "%s:%d", host, port);
    }
    if (!(unix_path ? n->unix_path : n->host)) {
        free(n);
        return NULL;
    }
    l->nodes[l->n_nodes++] = n;
    if (l->addr.mode == NM_REDIS_CLUSTER)
        add_known(l, host, port);
    return n;
}

/* The node at host:port, connecting to it if it is new. */
static node_t *get_node(nm_redis_link_t *l, const char *host, int port)
{
    node_t *n = find_node(l, host, port);
    if (n)
        return n;
    n = add_node(l, host, port, NULL);
    if (n)
        node_connect(l, n);
    return n;
}

/* Gives every held write its reply (or NULL) up to write number covers. */
static void release_held(node_t *n, uint64_t covers, bool has_failed)
{
    while (n->held_head && n->held_head->write_seq <= covers) {
        lcmd_t *c = n->held_head;
        n->held_head = c->next;
        if (!n->held_head)
            n->held_tail = NULL;
        redisReply *rep = c->held;
        c->held = NULL;
        finish(c, has_failed ? NULL : rep);
        if (rep)
            freeReplyObject(rep);
    }
}

/* Frees n's connection: hiredis gives every command on it a NULL reply
 * (the user queues them). */
static void node_close(node_t *n)
{
    redisAsyncContext *ac = n->ac;
    n->ac = NULL;
    n->is_connected = n->is_ready = false;
    if (ac)
        redisAsyncFree(ac);
    release_held(n, UINT64_MAX, true);
    n->pending = 0;
}

static void node_free(node_t *n)
{
    node_close(n);
    free(n->host);
    free(n->unix_path);
    free(n);
}

static bool all_ready(const nm_redis_link_t *l)
{
    size_t in_map = 0;
    for (size_t i = 0; i < l->n_nodes; i++) {
        if (!l->nodes[i]->in_map)
            continue;
        if (!l->nodes[i]->is_ready)
            return false;
        in_map++;
    }
    return in_map > 0;
}

static void node_ready(nm_redis_link_t *l, node_t *n)
{
    n->is_ready = true;
    if (l->is_up || !all_ready(l))
        return;
    l->is_up = true;
    l->backoff_ms = BACKOFF_MIN_MS;
    l->last_error[0] = '\0';
    char desc[512];
    nm_redis_link_describe(l, desc, sizeof(desc));
    nm_log(LOG_INFO, "redis %s: connected", desc);
    l->cbs.on_up(l->arg);
}

static void on_connect(const redisAsyncContext *ac, int status)
{
    node_t *n = ac->data;
    nm_redis_link_t *l = n->l;
    if (n->ac != ac)
        return;
    if (status != REDIS_OK) {
        n->ac = NULL; /* hiredis frees it after this callback */
        reset_soon(l, "%s: %s", n->name, ac->errstr);
        return;
    }
    n->is_connected = true;
    if (l->addr.mode == NM_REDIS_SINGLE)
        node_ready(l, n);
}

static void on_disconnect(const redisAsyncContext *ac, int status)
{
    node_t *n = ac->data;
    nm_redis_link_t *l = n->l;
    if (n->ac != ac)
        return; /* we closed it ourselves */
    n->ac = NULL;
    n->is_connected = n->is_ready = false;
    /* A node out of the map with nothing in flight (a master that was
     * replaced and died) is simply forgotten. */
    if (!n->in_map && n->pending == 0)
        return;
    reset_soon(l, "%s: %s", n->name,
               status == REDIS_OK ? "disconnected" : ac->errstr);
}

/* AUTH, SELECT: an error is kept for `status` (the commands after them
 * will fail the same way, and say so). */
static void on_internal(redisAsyncContext *ac, void *reply, void *priv)
{
    (void)ac;
    node_t *n = priv;
    const redisReply *rep = reply;
    if (!rep)
        return;
    progress(n);
    if (rep->type == REDIS_REPLY_ERROR) {
        nm_log(LOG_WARNING, "redis %s: %s", n->name, rep->str);
        snprintf(n->l->last_error, sizeof(n->l->last_error), "%s", rep->str);
    }
}

static void refresh_soon(nm_redis_link_t *l);

/* ROLE: ["master", offset, [[ip, port, offset]...]] or ["slave", ...]. A
 * node that is not (or no longer) a master: with Sentinel the sentinels
 * are asked again, with Cluster the map. */
static void on_role(redisAsyncContext *ac, void *reply, void *priv)
{
    (void)ac;
    node_t *n = priv;
    nm_redis_link_t *l = n->l;
    const redisReply *rep = reply;
    if (!rep)
        return;
    progress(n);
    bool is_master = true; /* an old Redis without ROLE: take its word */
    if (rep->type == REDIS_REPLY_ARRAY && rep->elements >= 1 &&
        rep->element[0]->type == REDIS_REPLY_STRING) {
        is_master = strcmp(rep->element[0]->str, "master") == 0;
        n->replicas = is_master && rep->elements >= 3 &&
                              rep->element[2]->type == REDIS_REPLY_ARRAY
                          ? (int)rep->element[2]->elements
                          : 0;
    }
    n->had_replicas |= n->replicas > 0;
    if (is_master) {
        if (!n->is_ready && n->is_connected)
            node_ready(l, n);
        return;
    }
    if (l->addr.mode == NM_REDIS_CLUSTER && n->is_ready && l->is_up)
        refresh_soon(l);
    else
        reset_soon(l, "%s is not a master (%s)", n->name, rep->element[0]->str);
}

/* --- durability: WAIT --- */

static void send_wait(node_t *n);

/* WAIT's reply: how many replicas have every write sent before it. None
 * (timed out): the writes stay held and WAIT goes again, until the link
 * resets. An error (the node is a replica now): the link resets. */
static void on_wait(redisAsyncContext *ac, void *reply, void *priv)
{
    (void)ac;
    wait_ctx_t *w = priv;
    node_t *n = w->node;
    const redisReply *rep = reply;
    uint64_t covers = w->covers;
    free(w);
    if (!rep) {
        release_held(n, UINT64_MAX, true);
        return;
    }
    progress(n);
    if (rep->type == REDIS_REPLY_INTEGER && rep->integer > 0) {
        n->unacked_since_ms = 0;
        release_held(n, covers, false);
        return;
    }
    if (rep->type == REDIS_REPLY_ERROR) {
        reset_soon(n->l, "%s: WAIT: %s", n->name, rep->str);
        return;
    }
    int64_t t = now_ms();
    if (!n->unacked_since_ms) {
        n->unacked_since_ms = t;
        nm_log(LOG_WARNING,
               "redis %s: no replica acknowledged writes within %d ms; "
               "holding them",
               n->name, WAIT_TIMEOUT_MS);
    }
    if (t - n->unacked_since_ms > HOLD_MAX_MS)
        reset_soon(n->l, "%s: no replica acknowledged writes for %d s", n->name,
                   HOLD_MAX_MS / 1000);
    else if (n->held_head && n->wait_covers == covers)
        send_wait(n); /* the last WAIT out: one more for what is held */
}

/* One WAIT for every write sent on n so far. */
static void send_wait(node_t *n)
{
    wait_ctx_t *w = malloc(sizeof(*w));
    if (w) {
        w->node = n;
        w->covers = n->writes_sent;
        if (sent(n, redisAsyncCommand(n->ac, on_wait, w, "WAIT 1 %d",
                                      WAIT_TIMEOUT_MS))) {
            n->wait_covers = w->covers;
            return;
        }
        free(w);
    }
    /* No WAIT: the held writes fail, the link resets, they go again. */
    release_held(n, UINT64_MAX, true);
    reset_soon(n->l, "%s: WAIT refused", n->name);
}

/* Keeps c's reply until a replica has c: one WAIT covers every write sent
 * on n so far, and goes only when the last one does not cover c. */
static void hold(node_t *n, lcmd_t *c, const redisReply *rep)
{
    if (!(c->held = copy_reply(rep))) {
        finish(c, rep);
        return;
    }
    c->next = NULL;
    if (n->held_tail)
        n->held_tail->next = c;
    else
        n->held_head = c;
    n->held_tail = c;
    if (n->wait_covers < c->write_seq)
        send_wait(n);
}

/* --- replies: redirections --- */

static void on_retry_cmd(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    lcmd_t *c = arg;
    nm_redis_link_t *l = c->l;
    for (lcmd_t **p = &l->delayed; *p; p = &(*p)->next)
        if (*p == c) {
            *p = c->next;
            break;
        }
    event_free(c->retry_ev);
    c->retry_ev = NULL;
    send_to(l, c, l->slot_node[c->slot], false);
}

/* TRYAGAIN: the counter script's two keys are split between the two ends
 * of a slot migration; the migration ends in milliseconds. */
static bool delay(nm_redis_link_t *l, lcmd_t *c)
{
    if (c->slot < 0 || ++c->tryagains > TRYAGAIN_MAX)
        return false;
    c->redirects = 0; /* each try may be ASKed again */
    c->retry_ev = evtimer_new(l->base, on_retry_cmd, c);
    if (!c->retry_ev)
        return false;
    l->n_tryagain++;
    struct timeval tv = {0, TRYAGAIN_DELAY_MS * 1000};
    evtimer_add(c->retry_ev, &tv);
    c->next = l->delayed;
    l->delayed = c;
    return true;
}

/* MOVED (the slot moved: map it, resend, refresh the whole map) or ASK
 * (this key is at the other end of a migration: ASKING, resend once). */
static void redirect(nm_redis_link_t *l, lcmd_t *c, nm_redis_redirect_t kind,
                     unsigned slot, const char *host, int port)
{
    if (++c->redirects > MAX_REDIRECTS) {
        finish(c, NULL);
        reset_soon(l, "slot %u: more than %d redirections", slot,
                   MAX_REDIRECTS);
        return;
    }
    /* An empty host is "the one you asked" (an unknown endpoint). */
    node_t *to = get_node(l, *host ? host : c->node->host, port);
    if (kind == NM_REDIS_REDIRECT_ASK)
        l->n_ask++;
    if (kind == NM_REDIS_REDIRECT_MOVED) {
        l->n_moved++;
        if (to && c->slot >= 0)
            l->slot_node[slot] = to;
        if (to)
            to->in_map = true;
        refresh_soon(l);
    }
    send_to(l, c, to, kind == NM_REDIS_REDIRECT_ASK);
}

static void on_cmd_reply(redisAsyncContext *ac, void *reply, void *priv)
{
    (void)ac;
    lcmd_t *c = priv;
    node_t *n = c->node;
    nm_redis_link_t *l = c->l;
    const redisReply *rep = reply;
    if (!rep) {
        finish(c, NULL);
        return;
    }
    progress(n);
    if (l->addr.mode == NM_REDIS_CLUSTER && rep->type == REDIS_REPLY_ERROR &&
        rep->str) {
        unsigned slot;
        char host[NM_REDIS_HOST_MAX];
        int port;
        nm_redis_redirect_t kind =
            nm_redis_parse_redirect(rep->str, &slot, host, sizeof(host), &port);
        if (kind != NM_REDIS_REDIRECT_NONE && c->slot >= 0) {
            redirect(l, c, kind, slot, host, port);
            return;
        }
        if (strncmp(rep->str, "TRYAGAIN", 8) == 0 && delay(l, c))
            return;
    }
    if ((c->flags & NM_REDIS_WRITE) && n->had_replicas &&
        l->addr.mode != NM_REDIS_SINGLE && rep->type != REDIS_REPLY_ERROR) {
        hold(n, c, rep);
        return;
    }
    finish(c, rep);
}

static lcmd_t *lcmd_new(nm_redis_link_t *l, int flags, nm_redis_reply_fn fn,
                        void *priv, int argc, const char **argv,
                        const size_t *lens)
{
    lcmd_t *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->l = l;
    c->fn = fn;
    c->priv = priv;
    c->flags = flags;
    c->slot = -1;
    int len = redisFormatCommandArgv(&c->buf, argc, argv, lens);
    if (len < 0) {
        free(c);
        return NULL;
    }
    c->len = (size_t)len;
    l->user_inflight++;
    return c;
}

void nm_redis_link_send(nm_redis_link_t *l, const char *key, int flags,
                        nm_redis_reply_fn fn, void *priv, int argc,
                        const char **argv, const size_t *lens)
{
    lcmd_t *c = lcmd_new(l, flags, fn, priv, argc, argv, lens);
    if (!c) {
        fn(priv, NULL);
        return;
    }
    if (!l->is_up) {
        finish(c, NULL);
        return;
    }
    if (l->addr.mode == NM_REDIS_CLUSTER) {
        c->slot = (int)nm_redis_keyslot(key, strlen(key));
        send_to(l, c, l->slot_node[c->slot], false);
    } else {
        send_to(l, c, l->master, false);
    }
}

void nm_redis_link_send_node(nm_redis_link_t *l, const char *node, int flags,
                             nm_redis_reply_fn fn, void *priv, int argc,
                             const char **argv, const size_t *lens)
{
    lcmd_t *c = lcmd_new(l, flags, fn, priv, argc, argv, lens);
    if (!c) {
        fn(priv, NULL);
        return;
    }
    node_t *n = l->is_up ? find_node_named(l, node) : NULL;
    if (!n) {
        /* A master gone since (a failover): the user starts over. */
        finish(c, NULL);
        return;
    }
    send_to(l, c, n, false);
}

void nm_redis_link_each_master(const nm_redis_link_t *l,
                               void (*fn)(void *arg, const char *node),
                               void *arg)
{
    for (size_t i = 0; i < l->n_nodes; i++)
        if (l->nodes[i]->in_map)
            fn(arg, l->nodes[i]->name);
}

/* --- Cluster: the map --- */

/* Takes a CLUSTER SLOTS reply (redis_slots.h) as the slot map; an empty
 * host is the node asked (default_host). Returns the number of ranges, or
 * -1 (map unchanged) on a bad reply. */
static int apply_map(nm_redis_link_t *l, const redisReply *rep,
                     const char *default_host)
{
    nm_redis_slot_range_t *ranges =
        rep->type == REDIS_REPLY_ARRAY && rep->elements
            ? calloc(rep->elements, sizeof(*ranges))
            : NULL;
    int n = ranges ? nm_redis_parse_slots(rep, ranges) : -1;
    if (n <= 0) {
        free(ranges);
        return -1;
    }
    for (size_t i = 0; i < l->n_nodes; i++)
        l->nodes[i]->in_map = false;
    memset(l->slot_node, 0, NM_REDIS_SLOTS * sizeof(*l->slot_node));
    for (int i = 0; i < n; i++) {
        node_t *node = get_node(
            l, *ranges[i].host ? ranges[i].host : default_host, ranges[i].port);
        if (!node)
            continue; /* out of memory: those slots have no master */
        node->in_map = true;
        for (unsigned s = ranges[i].start; s <= ranges[i].end; s++)
            l->slot_node[s] = node;
    }
    free(ranges);
    return n;
}

static void on_refresh(redisAsyncContext *ac, void *reply, void *priv)
{
    (void)ac;
    node_t *n = priv;
    nm_redis_link_t *l = n->l;
    const redisReply *rep = reply;
    l->is_refreshing = false;
    if (!rep)
        return; /* the node is lost: a reset follows */
    progress(n);
    if (apply_map(l, rep, n->host) < 0)
        nm_log(LOG_WARNING, "redis %s: CLUSTER SLOTS: unexpected reply",
               n->name);
}

static void on_refresh_ev(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    nm_redis_link_t *l = arg;
    if (!l->is_up || l->is_refreshing)
        return;
    for (size_t i = 0; i < l->n_nodes; i++) {
        node_t *n = l->nodes[i];
        if (n->in_map && n->is_ready && n->ac &&
            sent(n, redisAsyncCommand(n->ac, on_refresh, n, "CLUSTER SLOTS"))) {
            l->is_refreshing = true;
            return;
        }
    }
}

/* A refresh at most once per loop pass: a resharding answers MOVED for
 * every command of the slots it moved. */
static void refresh_soon(nm_redis_link_t *l)
{
    static const struct timeval now = {0, 0};
    if (!l->is_refreshing && !evtimer_pending(l->refresh_ev, NULL))
        evtimer_add(l->refresh_ev, &now);
}

/* --- discovery --- */

static void schedule_retry(nm_redis_link_t *l)
{
    if (evtimer_pending(l->retry_ev, NULL))
        return;
    struct timeval tv = {l->backoff_ms / 1000, (l->backoff_ms % 1000) * 1000};
    evtimer_add(l->retry_ev, &tv);
    int next = l->backoff_ms * 2;
    l->backoff_ms = next < BACKOFF_MIN_MS   ? BACKOFF_MIN_MS
                    : next > BACKOFF_MAX_MS ? BACKOFF_MAX_MS
                                            : next;
}

static void disc_next(nm_redis_link_t *l);

static const nm_redis_hostport_t *disc_host(const nm_redis_link_t *l)
{
    return &l->known[(l->disc_tried - 1) % l->n_known];
}

static void on_disc_slots(redisAsyncContext *ac, void *reply, void *priv)
{
    (void)priv;
    nm_redis_link_t *l = ac->data;
    const redisReply *rep = reply;
    if (ac != l->disc_ac)
        return; /* abandoned */
    if (!rep) {
        l->disc_ac = NULL; /* hiredis is freeing it */
        set_error(l, "cluster node lost while asked for the map");
        disc_next(l);
        return;
    }
    l->disc_ac = NULL;
    redisAsyncFree(ac); /* deferred by hiredis until we return */
    event_del(l->disc_timer);
    char host[NM_REDIS_HOST_MAX];
    snprintf(host, sizeof(host), "%s", disc_host(l)->host);
    if (rep->type == REDIS_REPLY_ERROR) {
        set_error(l, rep->str);
        disc_next(l);
        return;
    }
    if (apply_map(l, rep, host) <= 0) {
        set_error(l, "CLUSTER SLOTS: no slots");
        disc_next(l);
    }
    /* Up once every master has answered ROLE (node_ready). */
}

static void on_disc_connect(const redisAsyncContext *ac, int status)
{
    nm_redis_link_t *l = ac->data;
    if (status == REDIS_OK || ac != l->disc_ac)
        return;
    l->disc_ac = NULL; /* hiredis frees it */
    set_error(l, ac->errstr);
    disc_next(l);
}

static void on_disc_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    nm_redis_link_t *l = arg;
    redisAsyncContext *ac = l->disc_ac;
    l->disc_ac = NULL;
    if (ac)
        redisAsyncFree(ac);
    set_error(l, "cluster node did not give its map in time");
    disc_next(l);
}

/* Asks the seeds and the nodes seen before, in turn, for the map. */
static void disc_next(nm_redis_link_t *l)
{
    while (l->disc_tried < l->n_known) {
        l->disc_tried++;
        const nm_redis_hostport_t *h = disc_host(l);
        redisAsyncContext *ac = redisAsyncConnect(h->host, h->port);
        if (!ac || ac->err) {
            if (ac)
                redisAsyncFree(ac);
            continue;
        }
        ac->data = l;
        redisLibeventAttach(ac, l->base);
        redisAsyncSetConnectCallback(ac, on_disc_connect);
        l->disc_ac = ac;
        if (l->addr.password)
            redisAsyncCommand(ac, NULL, NULL, "AUTH %s", l->addr.password);
        if (redisAsyncCommand(ac, on_disc_slots, NULL, "CLUSTER SLOTS") !=
            REDIS_OK) {
            l->disc_ac = NULL;
            redisAsyncFree(ac);
            continue;
        }
        struct timeval tv = {DISCOVER_TIMEOUT_MS / 1000,
                             (DISCOVER_TIMEOUT_MS % 1000) * 1000};
        evtimer_add(l->disc_timer, &tv);
        return;
    }
    event_del(l->disc_timer);
    reset_soon(l, "no cluster node gave its map (last: %s)", l->last_error);
}

static void on_sentinel_found(void *arg, const char *host, int port,
                              const char *why)
{
    nm_redis_link_t *l = arg;
    if (!host) {
        reset_soon(l, "%s", why);
        return;
    }
    l->master = add_node(l, host, port, NULL);
    if (!l->master) {
        reset_soon(l, "out of memory");
        return;
    }
    l->master->in_map = true;
    node_connect(l, l->master);
}

static void on_sentinel_switch(void *arg, const char *host, int port)
{
    nm_redis_link_t *l = arg;
    if (l->is_up && l->master && l->master->host &&
        strcmp(l->master->host, host) == 0 && l->master->port == port)
        return;        /* already there */
    l->backoff_ms = 0; /* the new master is known: no reason to wait */
    reset_soon(l, "failover: the master is now %s:%d", host, port);
}

static void discover(nm_redis_link_t *l)
{
    switch (l->addr.mode) {
    case NM_REDIS_SINGLE:
        l->master = add_node(l, l->addr.hosts ? l->addr.hosts[0].host : NULL,
                             l->addr.hosts ? l->addr.hosts[0].port : 0,
                             l->addr.unix_path);
        if (!l->master) {
            reset_soon(l, "out of memory");
            return;
        }
        l->master->in_map = true;
        node_connect(l, l->master);
        break;
    case NM_REDIS_SENTINEL:
        nm_sentinel_ask(l->sentinel, on_sentinel_found, l);
        break;
    case NM_REDIS_CLUSTER:
        l->disc_tried = 0;
        disc_next(l);
        break;
    }
}

static void on_retry(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    discover(arg);
}

/* Drops every node and command; the user hears on_down before the NULL
 * replies so that it queues them instead of sending. */
static void close_all(nm_redis_link_t *l)
{
    l->is_up = false;
    l->is_refreshing = false;
    if (l->sentinel)
        nm_sentinel_cancel(l->sentinel);
    if (l->disc_ac) {
        redisAsyncContext *ac = l->disc_ac;
        l->disc_ac = NULL;
        redisAsyncFree(ac);
    }
    event_del(l->disc_timer);
    event_del(l->refresh_ev);
    while (l->delayed) {
        lcmd_t *c = l->delayed;
        l->delayed = c->next;
        finish(c, NULL);
    }
    for (size_t i = 0; i < l->n_nodes; i++)
        node_free(l->nodes[i]);
    l->n_nodes = 0;
    l->master = NULL;
    memset(l->slot_node, 0, NM_REDIS_SLOTS * sizeof(*l->slot_node));
}

static void on_reset_ev(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    nm_redis_link_t *l = arg;
    char why[sizeof(l->reset_why)];
    snprintf(why, sizeof(why), "%s", l->reset_why);
    set_error(l, why);
    l->is_up = false;
    l->cbs.on_down(l->arg, why);
    close_all(l);
    /* A later reset (a failover announced) brings its own backoff. */
    event_del(l->retry_ev);
    schedule_retry(l);
}

/* Once a second: a node that does not connect or answer (SIGSTOP, a
 * network black hole) resets the link; with Sentinel or Cluster, ROLE
 * tells each master's replicas (for WAIT) and that it still is a master. */
static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    nm_redis_link_t *l = arg;
    int64_t t = now_ms();
    for (size_t i = 0; i < l->n_nodes; i++) {
        node_t *n = l->nodes[i];
        if (!n->ac)
            continue;
        if (!n->is_connected && t - n->connect_started_ms > STALL_MS) {
            reset_soon(l, "%s: connect timed out", n->name);
            return;
        }
        if (n->pending > 0 && t - n->last_progress_ms > STALL_MS) {
            reset_soon(l, "%s: no reply for 3 s", n->name);
            return;
        }
        if (l->is_up && n->is_ready && l->addr.mode != NM_REDIS_SINGLE)
            sent(n, redisAsyncCommand(n->ac, on_role, n, "ROLE"));
    }
}

size_t nm_redis_link_inflight(const nm_redis_link_t *l)
{
    return l->user_inflight;
}

bool nm_redis_link_is_up(const nm_redis_link_t *l)
{
    return l->is_up;
}

void nm_redis_link_describe(const nm_redis_link_t *l, char *out, size_t cap)
{
    nm_redis_addr_describe(&l->addr, out, cap);
    size_t n = strlen(out);
    if (l->addr.mode == NM_REDIS_SENTINEL && l->master && n < cap)
        snprintf(out + n, cap - n, ", master %s", l->master->name);
    if (l->addr.mode == NM_REDIS_CLUSTER && n < cap) {
        size_t masters = 0;
        for (size_t i = 0; i < l->n_nodes; i++)
            masters += l->nodes[i]->in_map;
        snprintf(out + n, cap - n,
                 ", %zu masters, followed %" PRIu64 " MOVED %" PRIu64
                 " ASK %" PRIu64 " TRYAGAIN",
                 masters, l->n_moved, l->n_ask, l->n_tryagain);
    }
}

nm_redis_link_t *nm_redis_link_new(struct event_base *base,
                                   nm_redis_addr_t *addr,
                                   const nm_redis_link_cbs_t *cbs, void *arg)
{
    nm_redis_link_t *l = calloc(1, sizeof(*l));
    if (!l) {
        nm_redis_addr_free(addr);
        return NULL;
    }
    l->base = base;
    l->addr = *addr;
    memset(addr, 0, sizeof(*addr));
    l->cbs = *cbs;
    l->arg = arg;
    l->backoff_ms = BACKOFF_MIN_MS;
    l->slot_node = calloc(NM_REDIS_SLOTS, sizeof(*l->slot_node));
    l->retry_ev = evtimer_new(base, on_retry, l);
    l->reset_ev = evtimer_new(base, on_reset_ev, l);
    l->tick_ev = event_new(base, -1, EV_PERSIST, on_tick, l);
    l->refresh_ev = evtimer_new(base, on_refresh_ev, l);
    l->disc_timer = evtimer_new(base, on_disc_timer, l);
    if (l->addr.mode == NM_REDIS_SENTINEL)
        l->sentinel = nm_sentinel_new(base, &l->addr, on_sentinel_switch, l);
    for (size_t i = 0; l->addr.mode == NM_REDIS_CLUSTER && i < l->addr.n_hosts;
         i++)
        add_known(l, l->addr.hosts[i].host, l->addr.hosts[i].port);
    if (!l->slot_node || !l->retry_ev || !l->reset_ev || !l->tick_ev ||
        !l->refresh_ev || !l->disc_timer ||
        (l->addr.mode == NM_REDIS_SENTINEL && !l->sentinel) ||
        (l->addr.mode == NM_REDIS_CLUSTER && !l->n_known)) {
        nm_redis_link_free(l);
        return NULL;
    }
    struct timeval sec = {1, 0};
    event_add(l->tick_ev, &sec);
    /* Connecting starts from the loop, like every later attempt. */
    static const struct timeval now = {0, 0};
    evtimer_add(l->retry_ev, &now);
    return l;
}

void nm_redis_link_free(nm_redis_link_t *l)
{
    if (!l)
        return;
    close_all(l);
    nm_sentinel_free(l->sentinel);
    struct event *evs[] = {l->retry_ev, l->reset_ev, l->tick_ev, l->refresh_ev,
                           l->disc_timer};
    for (size_t i = 0; i < sizeof(evs) / sizeof(evs[0]); i++)
        if (evs[i])
            event_free(evs[i]);
    free(l->nodes);
    free(l->slot_node);
    free(l->known);
    nm_redis_addr_free(&l->addr);
    free(l);
}
