/* stats.c - see stats.h. */
#include "stats.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "strmap.h"

/* A route's counters and what was already flushed to the backend. */
typedef struct route {
    nm_counters_t now, flushed;
} route_t;

struct nm_stats {
    nm_counters_t totals, totals_flushed;
    nm_strmap_t routes; /* route -> route_t* */
};

nm_stats_t *nm_stats_new(void)
{
    nm_stats_t *s = calloc(1, sizeof(*s));
    if (s)
        nm_strmap_init(&s->routes);
    return s;
}

void nm_stats_free(nm_stats_t *s)
{
    if (!s)
        return;
    nm_strmap_free(&s->routes, free);
    free(s);
}

static bool is_get_or_head(const nm_event_t *ev)
{
    return ev->method == NM_METHOD_GET || ev->method == NM_METHOD_HEAD;
}

/* The figures of notmodd(8), FIGURES, applied to one event; avoided_us:
 * the estimate of server time an accelerated 304 saved. */
static void count(nm_counters_t *c, const nm_event_t *ev, uint64_t avoided_us)
{
    bool is_cond = is_get_or_head(ev) &&
                   (ev->flags & (NM_EVENT_F_COND_INM | NM_EVENT_F_COND_IMS));
    c->requests++;
    c->revalidations += is_cond;
    switch (ev->outcome) {
    case NM_OUTCOME_SERVER_304:
        c->hits_served++;
        break;
    case NM_OUTCOME_SUBSTITUTED_304:
        c->hits_substituted++;
        c->bytes_saved += ev->bytes_saved;
        break;
    case NM_OUTCOME_ACCELERATED_304:
        c->hits_accelerated++;
        c->bytes_saved += ev->bytes_saved;
        c->server_time_avoided_us += avoided_us;
        break;
    case NM_OUTCOME_COND_MISS:
        c->missed++;
        /* A miss may still leave with notmod's tag. */
        c->tags_added += (ev->flags & NM_EVENT_F_SYNTH_TAG) != 0;
        break;
    case NM_OUTCOME_TAG_ADDED:
        c->tags_added++;
        break;
    case NM_OUTCOME_NOT_HANDLED:
        c->not_handled++;
        break;
    default:
        break;
    }
    /* The server's time, where the shim took it (never on an accelerated
     * 304: the server did not see the request). */
    if ((ev->flags & NM_EVENT_F_TIMED) &&
        ev->outcome != NM_OUTCOME_ACCELERATED_304) {
        c->server_time_us += ev->server_us;
        c->server_timed++;
    }
    c->tls_requests += (ev->flags & NM_EVENT_F_TLS) != 0;
    c->tls_connections += (ev->flags & NM_EVENT_F_TLS_FIRST) != 0;
    /* Validator coverage: 200s to GET and whether a validator left. */
    if (ev->method == NM_METHOD_GET && ev->status == 200) {
        c->get_200++;
        c->get_200_validated += ev->validator.len > 0;
    }
}

static route_t *route_of(nm_stats_t *s, const char *route)
{
    if (!nm_strmap_find(&s->routes, route) &&
        s->routes.count >= NM_STATS_ROUTES_MAX)
        route = "(other)";
    int is_new;
    nm_strmap_node_t *n = nm_strmap_upsert(&s->routes, route, &is_new);
    if (!n)
        return NULL;
    if (is_new && !(n->value = calloc(1, sizeof(route_t)))) {
        nm_strmap_remove(&s->routes, route);
        return NULL;
    }
    return n->value;
}

/* What an accelerated 304 on route r saved the server: the route's
 * average time over the responses the server produced, as far as it is
 * known now (nothing before the first timed response). */
static uint64_t avoided_us(const route_t *r, const nm_event_t *ev)
{
    if (ev->outcome != NM_OUTCOME_ACCELERATED_304 || !r ||
        r->now.server_timed == 0)
        return 0;
    return r->now.server_time_us / r->now.server_timed;
}

void nm_stats_record(nm_stats_t *s, const nm_event_t *ev, const char *route)
{
    route_t *r = route ? route_of(s, route) : NULL;
    uint64_t avoided = avoided_us(r, ev);
    count(&s->totals, ev, avoided);
    if (r)
        count(&r->now, ev, avoided);
}

const nm_counters_t *nm_stats_totals(const nm_stats_t *s)
{
    return &s->totals;
}

struct top_ctx {
    nm_route_stats_t *all;
    size_t n;
};

static void collect(void *arg, nm_strmap_node_t *node)
{
    struct top_ctx *c = arg;
    c->all[c->n].route = node->key;
    c->all[c->n].c = ((route_t *)node->value)->now;
    c->n++;
}

static int by_revalidations(const void *a_, const void *b_)
{
    const nm_route_stats_t *a = a_, *b = b_;
    if (a->c.revalidations != b->c.revalidations)
        return a->c.revalidations < b->c.revalidations ? 1 : -1;
    if (a->c.requests != b->c.requests)
        return a->c.requests < b->c.requests ? 1 : -1;
    return strcmp(a->route, b->route);
}

size_t nm_stats_top(const nm_stats_t *s, nm_route_stats_t *out, size_t n)
{
    if (s->routes.count == 0 || n == 0)
        return 0;
    struct top_ctx c = {calloc(s->routes.count, sizeof(*c.all)), 0};
    if (!c.all)
        return 0;
    nm_strmap_each(&s->routes, collect, &c);
    qsort(c.all, c.n, sizeof(*c.all), by_revalidations);
    size_t k = c.n < n ? c.n : n;
    memcpy(out, c.all, k * sizeof(*out));
    free(c.all);
    return k;
}

struct each_ctx {
    void (*fn)(void *arg, const char *route, const nm_counters_t *c);
    void *arg;
};

static void each_route(void *arg, nm_strmap_node_t *node)
{
    struct each_ctx *e = arg;
    e->fn(e->arg, node->key, &((route_t *)node->value)->now);
}

void nm_stats_each_route(const nm_stats_t *s,
                         void (*fn)(void *arg, const char *route,
                                    const nm_counters_t *c),
                         void *arg)
{
    struct each_ctx e = {fn, arg};
    nm_strmap_each(&s->routes, each_route, &e);
}

/* Sends now - flushed for each field, then remembers now as flushed. */
static void flush_counters(const nm_store_backend_t *be, const char *key,
                           const nm_counters_t *now, nm_counters_t *flushed)
{
#define NM_STATS_FLUSH(f)                                                      \
    if (now->f != flushed->f)                                                  \
        be->count(be->self, key, #f, (int64_t)(now->f - flushed->f));
    NM_STATS_FIELDS(NM_STATS_FLUSH)
#undef NM_STATS_FLUSH
    *flushed = *now;
}

struct flush_ctx {
    const nm_store_backend_t *be;
};

/* "notmod:route:<route>" with { and } percent-encoded (RFC 3986 allows
 * neither raw in a URL): counter keys must hash whole under Redis Cluster,
 * where a brace pair would be a hash tag (store.h, count). */
static void route_key(char *out, size_t cap, const char *route)
{
    size_t n = (size_t)snprintf(out, cap, "notmod:route:");
    for (const char *p = route; *p && n + 4 <= cap; p++) {
        if (*p == '{' || *p == '}')
            n += (size_t)snprintf(out + n, cap - n, "%%7%c",
                                  *p == '{' ? 'B' : 'D');
        else
            out[n++] = *p;
    }
    out[n] = '\0';
}

static void flush_route(void *arg, nm_strmap_node_t *node)
{
    struct flush_ctx *c = arg;
    route_t *r = node->value;
    if (memcmp(&r->now, &r->flushed, sizeof(r->now)) == 0)
        return;
    char key[2400];
    route_key(key, sizeof(key), node->key);
    flush_counters(c->be, key, &r->now, &r->flushed);
}

void nm_stats_flush(nm_stats_t *s, const nm_store_backend_t *be)
{
    if (!be || !be->count)
        return;
    flush_counters(be, "notmod:stats", &s->totals, &s->totals_flushed);
    struct flush_ctx c = {be};
    nm_strmap_each(&s->routes, flush_route, &c);
}

uint64_t nm_stats_hits(const nm_counters_t *c)
{
    return c->hits_served + c->hits_substituted + c->hits_accelerated;
}

double nm_stats_hit_rate(const nm_counters_t *c)
{
    uint64_t hits = nm_stats_hits(c);
    return c->revalidations ? (double)hits / (double)c->revalidations : 0.0;
}
