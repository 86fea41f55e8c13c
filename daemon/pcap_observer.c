/* pcap_observer.c - see pcap_observer.h. Flows live in a chained hash
 * table keyed by the connection's endpoints (either direction finds the
 * same flow) and on an LRU list by last packet, so idle expiry and
 * eviction under the flow cap are O(1). Per-URL memory is a fixed table of
 * (URL hash, body tag) in 4-way sets: a fifth URL in a set forgets the
 * least recently used one, which can only under-count missed
 * revalidations, never invent one (direct-mapped lost ~3% of them on a
 * 300-URL test capture; 4-way loses none there). */
#include "pcap_observer.h"

#include <stdlib.h>
#include <string.h>

#include "bodyhash.h"
#include "http_req.h"
#include "http_resp.h"
#include "pcap_decode.h"
#include "strmap.h"
#include "tcp_reasm.h"
#include "url.h"

/* One connection endpoint: address (IPv4 in the first 4 bytes) and port. */
typedef struct endpoint {
    uint8_t addr[16];
    uint16_t port;
} endpoint_t;

/* Endpoints in a fixed order (the smaller first), so both directions of
 * a connection have the same key; family keeps v4 and v6 apart. */
typedef struct flow_key {
    endpoint_t ep[2];
    uint8_t family;
} flow_key_t;

typedef struct route {
    const char *name; /* the strmap key */
    nm_pcap_route_counts_t c;
} route_t;

/* A request waiting for its response. */
typedef struct pending {
    nm_method_t method;
    bool has_inm, has_ims;
    uint64_t url_hash; /* 0: no usable URL */
    route_t *route;
} pending_t;

typedef struct flow flow_t;
struct flow {
    nm_bodyhash_t body_hash; /* first: XXH3 state wants 64-byte alignment */
    flow_t *hnext;           /* hash chain */
    flow_t *lprev, *lnext;   /* LRU list, oldest first */
    nm_pcap_obs_t *obs;
    flow_key_t key;
    uint64_t hash, last_us;
    int client;   /* ep index of the client, -1 until known */
    bool is_lost; /* HTTP no longer followed (gap, parse error) */
    bool has_req; /* a request head parsed: this is HTTP */
    bool is_eof_done;
    bool in_resp;     /* inside a final response */
    bool is_expected; /* expect_head set for the coming response */
    bool is_hashing;
    nm_tcp_stream_t dir[2]; /* by sender ep index */
    nm_req_parser_t reqp;
    nm_req_t req;
    nm_resp_parser_t respp;
    nm_resp_t resp;
    uint64_t body_len;
    pending_t pend[NM_PCAP_PIPELINE_MAX];
    unsigned pend_first, pend_count;
};

#define URL_WAYS 4

typedef struct url_slot {
    uint64_t url_hash; /* 0: empty */
    uint64_t used;     /* obs->url_clock at the last use */
    char tag[NM_BODYHASH_TAG_LEN + 1];
} url_slot_t;

struct nm_pcap_obs {
    nm_pcap_opts_t opts;
    nm_pcap_counts_t c;
    flow_t **buckets;
    size_t nbuckets, nflows;
    flow_t *lru_head, *lru_tail;
    size_t ooo_total_bytes;
    url_slot_t *urls; /* urls_max slots, in sets of URL_WAYS */
    uint64_t url_clock;
    nm_strmap_t routes;
    nm_pcap_exchange_fn on_exchange;
    void *on_exchange_arg;
};

static void opts_defaults(nm_pcap_opts_t *o)
{
    if (!o->flows_max)
        o->flows_max = NM_PCAP_FLOWS_MAX;
    if (!o->flow_ooo_max_bytes)
        o->flow_ooo_max_bytes = NM_PCAP_FLOW_OOO_MAX;
    if (!o->ooo_total_max_bytes)
        o->ooo_total_max_bytes = NM_PCAP_OOO_TOTAL_MAX;
    if (o->urls_max < URL_WAYS)
        o->urls_max = NM_PCAP_URLS_MAX;
    o->urls_max -= o->urls_max % URL_WAYS;
    if (!o->routes_max)
        o->routes_max = NM_PCAP_ROUTES_MAX;
    if (!o->idle_us)
        o->idle_us = NM_PCAP_IDLE_US;
}

nm_pcap_obs_t *nm_pcap_obs_new(const nm_pcap_opts_t *opts)
{
    nm_pcap_obs_t *o = calloc(1, sizeof(*o));
    if (!o)
        return NULL;
    if (opts)
        o->opts = *opts;
    opts_defaults(&o->opts);
    o->nbuckets = 1;
    while (o->nbuckets < o->opts.flows_max)
        o->nbuckets <<= 1;
    o->buckets = calloc(o->nbuckets, sizeof(*o->buckets));
    o->urls = calloc(o->opts.urls_max, sizeof(*o->urls));
    nm_strmap_init(&o->routes);
    if (!o->buckets || !o->urls) {
        nm_pcap_obs_free(o);
        return NULL;
    }
    return o;
}

static void free_flow(flow_t *f)
{
    nm_tcp_stream_free(&f->dir[0]);
    nm_tcp_stream_free(&f->dir[1]);
    free(f);
}

void nm_pcap_obs_free(nm_pcap_obs_t *o)
{
    if (!o)
        return;
    while (o->lru_head) {
        flow_t *f = o->lru_head;
        o->lru_head = f->lnext;
        free_flow(f);
    }
    nm_strmap_free(&o->routes, free);
    free(o->buckets);
    free(o->urls);
    free(o);
}

void nm_pcap_obs_set_exchange_fn(nm_pcap_obs_t *o, nm_pcap_exchange_fn fn,
                                 void *arg)
{
    o->on_exchange = fn;
    o->on_exchange_arg = arg;
}

const nm_pcap_counts_t *nm_pcap_obs_counts(const nm_pcap_obs_t *o)
{
    return &o->c;
}

size_t nm_pcap_counts_list(const nm_pcap_counts_t *c, const char **names,
                           uint64_t *values, size_t cap)
{
    size_t n = 0;
#define NM_PCAP_LIST(f)                                                        \
    if (n < cap) {                                                             \
        names[n] = #f;                                                         \
        values[n] = c->f;                                                      \
    }                                                                          \
    n++;
    NM_PCAP_COUNTS(NM_PCAP_LIST)
#undef NM_PCAP_LIST
    return n;
}

/* ---- routes and URLs ---------------------------------------------------- */

static route_t *route_of(nm_pcap_obs_t *o, const char *name)
{
    if (!nm_strmap_find(&o->routes, name) &&
        o->routes.count >= o->opts.routes_max)
        name = "(other)";
    int is_new;
    nm_strmap_node_t *n = nm_strmap_upsert(&o->routes, name, &is_new);
    if (!n)
        return NULL;
    if (is_new) {
        route_t *r = calloc(1, sizeof(*r));
        if (!r) {
            nm_strmap_remove(&o->routes, name);
            return NULL;
        }
        r->name = n->key;
        n->value = r;
    }
    return n->value;
}

/* Fills p's URL hash and route from the request head just parsed. */
static void pending_url(nm_pcap_obs_t *o, const nm_req_t *req, pending_t *p)
{
    char key[NM_URL_MAX], route[NM_URL_MAX];
    nm_slice_t host = {req->host, req->host_len};
    nm_slice_t target = {req->target, req->target_len};
    if (req->flags & (NM_REQ_TRUNCATED_TARGET | NM_REQ_TRUNCATED_HOST) ||
        nm_url_key_from_parts(host, target, key, sizeof(key)) <= 0 ||
        nm_url_route(key, route, sizeof(route)) < 0)
        return;
    p->url_hash = XXH3_64bits(key, strlen(key)) | 1; /* 0 means none */
    p->route = route_of(o, route);
}

/* The URL's slot in its set, else the set's least recently used one
 * (empty slots have used == 0). */
static url_slot_t *url_slot(nm_pcap_obs_t *o, uint64_t url_hash)
{
    url_slot_t *set =
        &o->urls[(url_hash % (o->opts.urls_max / URL_WAYS)) * URL_WAYS];
    url_slot_t *victim = set;
    for (int i = 0; i < URL_WAYS; i++) {
        if (set[i].url_hash == url_hash)
            return &set[i];
        if (set[i].used < victim->used)
            victim = &set[i];
    }
    return victim;
}

/* ---- flows -------------------------------------------------------------- */

static int ep_cmp(const endpoint_t *a, const endpoint_t *b)
{
    int d = memcmp(a->addr, b->addr, sizeof(a->addr));
    return d ? d : (int)a->port - (int)b->port;
}

/* Builds the key; returns the ep index of the packet's sender. */
static int make_key(const nm_pkt_t *p, flow_key_t *k)
{
    endpoint_t src = {{0}, p->sport}, dst = {{0}, p->dport};
    memcpy(src.addr, p->src, sizeof(src.addr));
    memcpy(dst.addr, p->dst, sizeof(dst.addr));
    memset(k, 0, sizeof(*k));
    k->family = p->family;
    int sender = ep_cmp(&src, &dst) <= 0 ? 0 : 1;
    k->ep[sender] = src;
    k->ep[!sender] = dst;
    return sender;
}

static flow_t **find_slot(nm_pcap_obs_t *o, const flow_key_t *k, uint64_t h)
{
    flow_t **at = &o->buckets[h & (o->nbuckets - 1)];
    while (*at && ((*at)->hash != h || memcmp(&(*at)->key, k, sizeof(*k))))
        at = &(*at)->hnext;
    return at;
}

static void lru_unlink(nm_pcap_obs_t *o, flow_t *f)
{
    if (f->lprev)
        f->lprev->lnext = f->lnext;
    else
        o->lru_head = f->lnext;
    if (f->lnext)
        f->lnext->lprev = f->lprev;
    else
        o->lru_tail = f->lprev;
    f->lprev = f->lnext = NULL;
}

static void lru_append(nm_pcap_obs_t *o, flow_t *f)
{
    f->lprev = o->lru_tail;
    f->lnext = NULL;
    if (o->lru_tail)
        o->lru_tail->lnext = f;
    else
        o->lru_head = f;
    o->lru_tail = f;
}

/* ---- HTTP on top of the streams ----------------------------------------- */

static void lose_http(flow_t *f)
{
    f->is_lost = true;
}

/* The figures of one finished exchange (notmodd(8), FIGURES). */
static void account(nm_pcap_obs_t *o, const pending_t *p, const nm_resp_t *r,
                    bool is_identical, uint64_t body_len)
{
    nm_pcap_counts_t *c = &o->c;
    bool is_reval =
        (p->method == NM_METHOD_GET || p->method == NM_METHOD_HEAD) &&
        (p->has_inm || p->has_ims);
    c->requests++;
    c->get += p->method == NM_METHOD_GET;
    c->head += p->method == NM_METHOD_HEAD;
    c->revalidations += is_reval;
    c->revalidations_inm += is_reval && p->has_inm;
    c->revalidations_ims += is_reval && p->has_ims;
    c->responses_200 += r->status == 200;
    c->responses_304 += r->status == 304;
    c->hits += is_reval && r->status == 304;
    c->revalidations_200 += is_reval && r->status == 200;
    c->missed += is_reval && is_identical;
    c->missed_bytes += is_reval && is_identical ? body_len : 0;
    if (p->method == NM_METHOD_GET && r->status == 200) {
        c->get_200++;
        c->get_200_validated +=
            (r->flags & (NM_RESP_HAS_ETAG | NM_RESP_HAS_LAST_MODIFIED)) != 0;
    }
    route_t *rt = p->route;
    if (!rt)
        return;
    rt->c.requests++;
    rt->c.revalidations += is_reval;
    rt->c.hits += is_reval && r->status == 304;
    rt->c.revalidations_200 += is_reval && r->status == 200;
    rt->c.missed += is_reval && is_identical;
    rt->c.missed_bytes += is_reval && is_identical ? body_len : 0;
    rt->c.body_bytes += body_len;
}

/* A 200 to GET compares its body tag with the URL's previous 200 and
 * becomes the one the next 200 compares with. */
static bool remember_body(nm_pcap_obs_t *o, flow_t *f, const pending_t *p)
{
    if (!f->is_hashing)
        return false;
    f->is_hashing = false;
    char tag[NM_BODYHASH_TAG_LEN + 1];
    nm_bodyhash_final(&f->body_hash, tag);
    if (!p->url_hash)
        return false;
    url_slot_t *s = url_slot(o, p->url_hash);
    bool is_identical = s->url_hash == p->url_hash && !strcmp(s->tag, tag);
    s->url_hash = p->url_hash;
    s->used = ++o->url_clock;
    memcpy(s->tag, tag, sizeof(tag));
    return is_identical;
}

static void on_response_done(flow_t *f)
{
    nm_pcap_obs_t *o = f->obs;
    pending_t *p = &f->pend[f->pend_first];
    bool is_identical = remember_body(o, f, p);
    account(o, p, &f->resp, is_identical, f->body_len);
    if (o->on_exchange) {
        nm_pcap_exchange_t x = {p->method,
                                p->has_inm,
                                p->has_ims,
                                is_identical,
                                f->resp.status,
                                f->body_len,
                                {f->resp.etag, f->resp.etag_len},
                                p->route ? p->route->name : NULL};
        o->on_exchange(o->on_exchange_arg, &x);
    }
    f->pend_first = (f->pend_first + 1) % NM_PCAP_PIPELINE_MAX;
    f->pend_count--;
    f->in_resp = f->is_expected = false;
}

static void on_response_head(flow_t *f)
{
    if (f->resp.status < 200)
        return; /* 1xx: the final response follows */
    if (f->pend_count == 0) {
        f->obs->c.parse_errors++; /* a response nobody asked for */
        lose_http(f);
        return;
    }
    const pending_t *p = &f->pend[f->pend_first];
    f->in_resp = true;
    f->body_len = 0;
    f->is_hashing = p->method == NM_METHOD_GET && f->resp.status == 200;
    if (f->is_hashing)
        nm_bodyhash_init(&f->body_hash, 0);
}

static void on_request_head(flow_t *f)
{
    f->has_req = true;
    if (f->pend_count == NM_PCAP_PIPELINE_MAX) {
        f->obs->c.parse_errors++;
        lose_http(f);
        return;
    }
    pending_t *p =
        &f->pend[(f->pend_first + f->pend_count) % NM_PCAP_PIPELINE_MAX];
    memset(p, 0, sizeof(*p));
    p->method = f->req.method;
    p->has_inm = (f->req.flags & NM_REQ_HAS_INM) != 0;
    p->has_ims = (f->req.flags & NM_REQ_HAS_IMS) != 0;
    pending_url(f->obs, &f->req, p);
    f->pend_count++;
}

static void http_error(flow_t *f, bool is_request_side)
{
    if (is_request_side && !f->has_req)
        f->obs->c.flows_not_http++;
    else
        f->obs->c.parse_errors++;
    lose_http(f);
}

static void feed_requests(flow_t *f, const uint8_t *data, size_t len)
{
    const char *buf = (const char *)data;
    while (!f->is_lost) {
        nm_req_event_t ev;
        long n = nm_http_req_feed(&f->reqp, &f->req, buf, len, &ev);
        if (n < 0) {
            http_error(f, true);
            return;
        }
        buf += n;
        len -= (size_t)n;
        if (ev == NM_REQ_EV_NONE)
            return;
        if (ev == NM_REQ_EV_HEAD_DONE)
            on_request_head(f);
    }
}

/* Before a response's first byte the parser must know if it answers a
 * HEAD (no body whatever the framing says). */
static void expect_next(flow_t *f)
{
    if (f->in_resp || f->is_expected || f->pend_count == 0)
        return;
    nm_http_resp_expect_head(&f->respp,
                             f->pend[f->pend_first].method == NM_METHOD_HEAD);
    f->is_expected = true;
}

static void on_resp_event(flow_t *f, nm_resp_event_t ev)
{
    if (ev == NM_RESP_EV_HEAD_DONE) {
        on_response_head(f);
    } else if (ev == NM_RESP_EV_BODY && f->in_resp) {
        f->body_len += f->respp.body_len;
        if (f->is_hashing)
            nm_bodyhash_update(&f->body_hash, f->respp.body_ptr,
                               f->respp.body_len);
    } else if (ev == NM_RESP_EV_MSG_DONE && f->in_resp) {
        on_response_done(f);
    }
}

static void feed_responses(flow_t *f, const uint8_t *data, size_t len)
{
    const char *buf = (const char *)data;
    while (!f->is_lost) {
        expect_next(f);
        nm_resp_event_t ev;
        long n = nm_http_resp_feed(&f->respp, &f->resp, buf, len, &ev);
        if (n < 0) {
            http_error(f, false);
            return;
        }
        buf += n;
        len -= (size_t)n;
        if (ev == NM_RESP_EV_NONE)
            return;
        on_resp_event(f, ev);
    }
}

/* The server closed its side: settles a close-delimited body. */
static void server_eof(flow_t *f)
{
    if (f->is_eof_done || f->is_lost)
        return;
    f->is_eof_done = true;
    if (nm_http_resp_eof(&f->respp) == NM_RESP_EV_MSG_DONE && f->in_resp)
        on_response_done(f);
}

/* nm_tcp_deliver_fn for each direction: the flow is the argument, the
 * direction is in the function. */
static void deliver(flow_t *f, bool is_client, const uint8_t *data, size_t len)
{
    if (!data) {
        lose_http(f); /* no resynchronising inside HTTP/1.x */
        f->obs->c.bytes_lost += len;
        return;
    }
    if (is_client) {
        f->obs->c.request_bytes += len;
        if (!f->is_lost)
            feed_requests(f, data, len);
    } else {
        f->obs->c.response_bytes += len;
        if (!f->is_lost)
            feed_responses(f, data, len);
    }
}

static void deliver_client(void *arg, const uint8_t *data, size_t len)
{
    deliver(arg, true, data, len);
}

static void deliver_server(void *arg, const uint8_t *data, size_t len)
{
    deliver(arg, false, data, len);
}

static nm_tcp_deliver_fn deliver_fn(const flow_t *f, int sender)
{
    return sender == f->client ? deliver_client : deliver_server;
}

/* Ends a flow: what is buffered is delivered, what was in flight is
 * counted as cut or unanswered, and the flow is freed. */
static void end_flow(nm_pcap_obs_t *o, flow_t *f)
{
    if (f->client >= 0) {
        for (int i = 0; i < 2; i++) {
            o->ooo_total_bytes -= f->dir[i].ooo_bytes;
            nm_tcp_stream_flush(&f->dir[i], deliver_fn(f, i), f);
        }
        server_eof(f);
    }
    if (f->has_req) {
        o->c.responses_cut += f->in_resp;
        o->c.requests_unanswered += f->pend_count - f->in_resp;
    }
    *find_slot(o, &f->key, f->hash) = f->hnext;
    lru_unlink(o, f);
    o->nflows--;
    free_flow(f);
}

static flow_t *new_flow(nm_pcap_obs_t *o, const flow_key_t *k, uint64_t h)
{
    if (o->nflows >= o->opts.flows_max && o->lru_head) {
        o->c.flows_evicted++;
        end_flow(o, o->lru_head);
    }
    /* aligned_alloc: the XXH3 state inside must be 64-byte aligned. */
    size_t size = (sizeof(flow_t) + 63) & ~(size_t)63;
    flow_t *f = aligned_alloc(64, size);
    if (!f)
        return NULL;
    memset(f, 0, sizeof(*f));
    f->obs = o;
    f->key = *k;
    f->hash = h;
    f->client = -1;
    nm_tcp_stream_init(&f->dir[0], o->opts.flow_ooo_max_bytes);
    nm_tcp_stream_init(&f->dir[1], o->opts.flow_ooo_max_bytes);
    nm_http_req_init(&f->reqp);
    nm_http_resp_init(&f->respp);
    flow_t **slot = find_slot(o, k, h);
    f->hnext = *slot;
    *slot = f;
    lru_append(o, f);
    o->nflows++;
    o->c.flows++;
    return f;
}

/* Which side is the client: the SYN says; else the --port; else the
 * first payload (a status line comes from the server). */
static void learn_client(nm_pcap_obs_t *o, flow_t *f, const nm_pkt_t *p,
                         int sender)
{
    if (f->client >= 0)
        return;
    if (p->tcp_flags & NM_TCP_SYN)
        f->client = p->tcp_flags & NM_TCP_ACK ? !sender : sender;
    else if (o->opts.port && p->sport != p->dport)
        f->client = p->dport == o->opts.port ? sender : !sender;
    else if (p->payload_len > 0)
        f->client = p->payload_len >= 5 && !memcmp(p->payload, "HTTP/", 5)
                        ? !sender
                        : sender;
}

/* Feeds the payload within the global out-of-order budget. */
static void feed_payload(nm_pcap_obs_t *o, flow_t *f, const nm_pkt_t *p,
                         int sender)
{
    nm_tcp_stream_t *s = &f->dir[sender];
    size_t room = o->opts.ooo_total_max_bytes - o->ooo_total_bytes;
    size_t before = s->ooo_bytes;
    s->ooo_max_bytes = o->opts.flow_ooo_max_bytes;
    if (s->ooo_max_bytes > before + room)
        s->ooo_max_bytes = before + room;
    uint64_t dup = s->dup_bytes;
    nm_tcp_stream_data(s, p->seq, p->payload, p->payload_len,
                       deliver_fn(f, sender), f);
    o->ooo_total_bytes = o->ooo_total_bytes - before + s->ooo_bytes;
    o->c.bytes_retransmitted += s->dup_bytes - dup;
}

/* A SYN on a flow that already carried a connection: the tuple is reused. */
static bool is_new_connection(const flow_t *f, const nm_pkt_t *p)
{
    return (p->tcp_flags & (NM_TCP_SYN | NM_TCP_ACK)) == NM_TCP_SYN &&
           (f->dir[0].delivered_bytes || f->dir[1].delivered_bytes ||
            f->dir[0].has_fin || f->dir[1].has_fin);
}

static flow_t *flow_for(nm_pcap_obs_t *o, const nm_pkt_t *p, int *sender)
{
    flow_key_t k;
    *sender = make_key(p, &k);
    uint64_t h = XXH3_64bits(&k, sizeof(k));
    flow_t *f = *find_slot(o, &k, h);
    if (f && is_new_connection(f, p)) {
        end_flow(o, f);
        f = NULL;
    }
    /* Only a SYN or data opens a flow: the last ACK after both FINs, a
     * RST or a bare FIN of a connection already ended open nothing. */
    if (!f && !(p->tcp_flags & NM_TCP_SYN) && p->payload_wire_len == 0)
        return NULL;
    return f ? f : new_flow(o, &k, h);
}

static void on_segment(nm_pcap_obs_t *o, const nm_pkt_t *p, uint64_t ts_us)
{
    int sender;
    flow_t *f = flow_for(o, p, &sender);
    if (!f)
        return;
    f->last_us = ts_us;
    lru_unlink(o, f);
    lru_append(o, f);
    learn_client(o, f, p, sender);
    if (f->client < 0)
        return; /* a bare ACK before anything told the sides apart */
    nm_tcp_stream_t *s = &f->dir[sender];
    if (p->tcp_flags & NM_TCP_SYN)
        nm_tcp_stream_syn(s, p->seq);
    if (p->payload_len < p->payload_wire_len) {
        o->c.segments_truncated++;
        lose_http(f);
    } else if (p->payload_len > 0) {
        feed_payload(o, f, p, sender);
    }
    if (p->tcp_flags & NM_TCP_FIN)
        nm_tcp_stream_fin(s, p->seq + (uint32_t)p->payload_wire_len +
                                 ((p->tcp_flags & NM_TCP_SYN) != 0));
    if (nm_tcp_stream_is_finished(&f->dir[!f->client]))
        server_eof(f);
    if ((p->tcp_flags & NM_TCP_RST) || (nm_tcp_stream_is_finished(&f->dir[0]) &&
                                        nm_tcp_stream_is_finished(&f->dir[1])))
        end_flow(o, f);
}

void nm_pcap_obs_packet(nm_pcap_obs_t *o, int dlt, uint64_t ts_us,
                        const uint8_t *frame, size_t caplen, size_t wire_len)
{
    o->c.packets++;
    nm_pcap_obs_expire(o, ts_us);
    nm_pkt_t p;
    int rc = nm_pkt_decode(dlt, frame, caplen, &p);
    if (rc < 0) {
        o->c.packets_malformed++;
        return;
    }
    if (rc == NM_PKT_SKIP ||
        (o->opts.port && p.sport != o->opts.port && p.dport != o->opts.port)) {
        o->c.packets_skipped++;
        return;
    }
    o->c.wire_bytes += wire_len;
    on_segment(o, &p, ts_us);
}

void nm_pcap_obs_expire(nm_pcap_obs_t *o, uint64_t now_us)
{
    while (o->lru_head && o->lru_head->last_us + o->opts.idle_us < now_us)
        end_flow(o, o->lru_head);
}

void nm_pcap_obs_finish(nm_pcap_obs_t *o)
{
    while (o->lru_head)
        end_flow(o, o->lru_head);
}

/* ---- reports ------------------------------------------------------------ */

struct top_ctx {
    nm_pcap_route_t *all;
    size_t n;
};

static void collect(void *arg, nm_strmap_node_t *node)
{
    struct top_ctx *c = arg;
    const route_t *r = node->value;
    c->all[c->n].route = r->name;
    c->all[c->n].c = r->c;
    c->n++;
}

static int by_revalidations(const void *a_, const void *b_)
{
    const nm_pcap_route_t *a = a_, *b = b_;
    if (a->c.revalidations != b->c.revalidations)
        return a->c.revalidations < b->c.revalidations ? 1 : -1;
    if (a->c.requests != b->c.requests)
        return a->c.requests < b->c.requests ? 1 : -1;
    return strcmp(a->route, b->route);
}

size_t nm_pcap_obs_top(const nm_pcap_obs_t *o, nm_pcap_route_t *out, size_t n)
{
    if (o->routes.count == 0 || n == 0)
        return 0;
    struct top_ctx c = {calloc(o->routes.count, sizeof(*c.all)), 0};
    if (!c.all)
        return 0;
    nm_strmap_each(&o->routes, collect, &c);
    qsort(c.all, c.n, sizeof(*c.all), by_revalidations);
    size_t k = c.n < n ? c.n : n;
    memcpy(out, c.all, k * sizeof(*out));
    free(c.all);
    return k;
}

size_t nm_pcap_obs_memory(const nm_pcap_obs_t *o)
{
    return sizeof(*o) + o->nbuckets * sizeof(*o->buckets) +
           o->opts.urls_max * sizeof(*o->urls) + o->nflows * sizeof(flow_t) +
           o->ooo_total_bytes + o->routes.count * (sizeof(route_t) + 64);
}
