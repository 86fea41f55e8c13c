/* pcap_observer.h - HTTP/1.x revalidation figures from captured packets:
 * TCP flows reassembled per direction (common/tcp_reasm), requests and
 * responses parsed by the shim's own parsers and paired (pipelining too),
 * 200 bodies hashed as the shim would to spot revalidations a validator
 * would have saved. No I/O: pcap_capture.c feeds it from a file
 * (notmodctl pcap-report) or an interface (notmodd --pcap). Memory is
 * bounded by the options whatever the capture holds. */
#ifndef NM_PCAP_OBSERVER_H
#define NM_PCAP_OBSERVER_H

#include <stddef.h>
#include <stdint.h>

#include "nm.h"

/* Limits; zero fields of nm_pcap_opts_t take these. */
#define NM_PCAP_FLOWS_MAX 4096                   /* live TCP flows */
#define NM_PCAP_FLOW_OOO_MAX (256 * 1024)        /* out-of-order bytes/flow */
#define NM_PCAP_OOO_TOTAL_MAX (32 * 1024 * 1024) /* ... over all flows */
#define NM_PCAP_URLS_MAX 65536                   /* last-200 hashes kept */
#define NM_PCAP_ROUTES_MAX 10000                 /* then "(other)" */
#define NM_PCAP_IDLE_US (120 * 1000000ull)       /* flow idle timeout */
#define NM_PCAP_PIPELINE_MAX 64                  /* requests awaiting answers */

typedef struct nm_pcap_opts {
    uint16_t port; /* server port to follow; 0: every TCP flow */
    size_t flows_max, flow_ooo_max_bytes, ooo_total_max_bytes;
    size_t urls_max, routes_max;
    uint64_t idle_us;
} nm_pcap_opts_t;

/* X-macro: the report's totals, named as in notmodd(8), FIGURES, where the
 * figure is one of those (requests, revalidations, hits, missed...). */
#define NM_PCAP_COUNTS(X)                                                      \
    X(packets)             /* frames read */                                   \
    X(packets_skipped)     /* not TCP/IP, another port, IP fragments */        \
    X(packets_malformed)   /* headers that do not decode */                    \
    X(wire_bytes)          /* frame bytes of the TCP packets followed */       \
    X(request_bytes)       /* TCP payload, client to server */                 \
    X(response_bytes)      /* TCP payload, server to client */                 \
    X(flows)               /* TCP connections seen */                          \
    X(flows_not_http)      /* first bytes were not HTTP/1.x */                 \
    X(flows_evicted)       /* dropped to stay under flows_max */               \
    X(requests)            /* responses paired with their request */           \
    X(get)                 /* ... of which to GET */                           \
    X(head)                /* ... to HEAD */                                   \
    X(revalidations)       /* GET/HEAD with If-None-Match or IMS */            \
    X(revalidations_inm)   /* ... carrying If-None-Match */                    \
    X(revalidations_ims)   /* ... carrying If-Modified-Since */                \
    X(responses_200)       /* ... */                                           \
    X(responses_304)       /* every 304 */                                     \
    X(hits)                /* revalidations answered 304 */                    \
    X(revalidations_200)   /* revalidations answered with a full 200 */        \
    X(missed)              /* ... whose body equals the URL's previous 200 */  \
    X(missed_bytes)        /* their body bytes: what notmod would save */      \
    X(get_200)             /* 200s to GET */                                   \
    X(get_200_validated)   /* ... that carried an ETag or Last-Modified */     \
    X(bytes_lost)          /* stream bytes missing from the capture */         \
    X(bytes_retransmitted) /* stream bytes seen more than once */              \
    X(segments_truncated)  /* captured shorter than sent (snaplen) */          \
    X(responses_cut)       /* connection ended or lost mid-response */         \
    X(requests_unanswered) /* no response before the connection ended */       \
    X(parse_errors)        /* HTTP that did not parse after a good start */

typedef struct nm_pcap_counts {
#define NM_PCAP_DECL(f) uint64_t f;
    NM_PCAP_COUNTS(NM_PCAP_DECL)
#undef NM_PCAP_DECL
} nm_pcap_counts_t;

/* The totals by name, in NM_PCAP_COUNTS order (JSON, tables): fills up
 * to cap pairs, returns how many there are. */
size_t nm_pcap_counts_list(const nm_pcap_counts_t *c, const char **names,
                           uint64_t *values, size_t cap);

/* Per route (host + path without query). */
typedef struct nm_pcap_route_counts {
    uint64_t requests, revalidations, hits, revalidations_200, missed,
        missed_bytes, body_bytes;
} nm_pcap_route_counts_t;

typedef struct nm_pcap_route {
    const char *route;
    nm_pcap_route_counts_t c;
} nm_pcap_route_t;

/* One paired request and response, for a live consumer (notmodd). */
typedef struct nm_pcap_exchange {
    nm_method_t method;
    bool has_inm, has_ims;
    bool is_identical; /* a 200 whose body equals the URL's previous 200 */
    int status;
    uint64_t body_len;
    nm_slice_t etag;   /* as sent; len 0 when none */
    const char *route; /* NULL when the request had no usable URL */
} nm_pcap_exchange_t;

typedef void (*nm_pcap_exchange_fn)(void *arg, const nm_pcap_exchange_t *x);

typedef struct nm_pcap_obs nm_pcap_obs_t;

/* A new observer (opts may be NULL); NULL when out of memory. */
nm_pcap_obs_t *nm_pcap_obs_new(const nm_pcap_opts_t *opts);

/* Finishes nothing: call nm_pcap_obs_finish first to count open flows. */
void nm_pcap_obs_free(nm_pcap_obs_t *o);

/* Calls fn for every exchange from now on. */
void nm_pcap_obs_set_exchange_fn(nm_pcap_obs_t *o, nm_pcap_exchange_fn fn,
                                 void *arg);

/* One captured frame: link type (pcap_datalink), capture time, the bytes
 * captured and the frame's length on the wire. */
void nm_pcap_obs_packet(nm_pcap_obs_t *o, int dlt, uint64_t ts_us,
                        const uint8_t *frame, size_t caplen, size_t wire_len);

/* Ends flows idle since before now_us - idle_us (live captures call it
 * on a timer; packets call it with their own timestamps). */
void nm_pcap_obs_expire(nm_pcap_obs_t *o, uint64_t now_us);

/* Ends every open flow (end of a capture file): cut responses, requests
 * never answered and close-delimited bodies are settled. */
void nm_pcap_obs_finish(nm_pcap_obs_t *o);

const nm_pcap_counts_t *nm_pcap_obs_counts(const nm_pcap_obs_t *o);

/* Up to n routes, most revalidations first, then requests; the strings
 * stay valid until the observer is freed. Returns how many. */
size_t nm_pcap_obs_top(const nm_pcap_obs_t *o, nm_pcap_route_t *out, size_t n);

/* Bytes the observer holds now (flows, buffers, tables): for tests and
 * the memory bound. */
size_t nm_pcap_obs_memory(const nm_pcap_obs_t *o);

#endif
