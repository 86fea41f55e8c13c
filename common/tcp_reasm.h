/* tcp_reasm.h - one direction of a TCP connection put back in order from
 * captured segments: in-order bytes are handed to a callback at once,
 * out-of-order ones wait in a bounded buffer, retransmissions and overlaps
 * are delivered once (first copy wins). Pure: the pcap observer feeds it
 * decoded segments; no I/O, no clock. */
#ifndef NM_TCP_REASM_H
#define NM_TCP_REASM_H

#include "nm.h"

/* Receives in-order stream bytes. data == NULL means len bytes were lost
 * (the out-of-order budget ran out, or the flow ended with a hole): the
 * consumer must resynchronise or give up on this stream. */
typedef void (*nm_tcp_deliver_fn)(void *arg, const uint8_t *data, size_t len);

typedef struct nm_tcp_seg nm_tcp_seg_t; /* a buffered out-of-order segment */

typedef struct nm_tcp_stream {
    uint32_t next_seq; /* sequence number of the next byte to deliver */
    uint32_t fin_seq;  /* sequence number of the FIN, with has_fin */
    bool is_synced;    /* next_seq is known (SYN or first data seen) */
    bool has_fin;
    size_t ooo_bytes;     /* payload bytes buffered out of order */
    size_t ooo_max_bytes; /* budget; past it the earliest hole is skipped */
    nm_tcp_seg_t *ooo;    /* buffered segments, sorted by seq */
    uint64_t delivered_bytes, dup_bytes, lost_bytes;
} nm_tcp_stream_t;

/* Starts an empty stream that buffers up to ooo_max_bytes out of order. */
void nm_tcp_stream_init(nm_tcp_stream_t *s, size_t ooo_max_bytes);

/* Frees buffered segments; the stream may be init'ed again. */
void nm_tcp_stream_free(nm_tcp_stream_t *s);

/* A SYN with sequence number isn: data starts at isn + 1. A SYN after
 * data (a retransmitted SYN) is ignored. */
void nm_tcp_stream_syn(nm_tcp_stream_t *s, uint32_t isn);

/* One segment's payload at seq. Delivers what is now in order (possibly
 * draining buffered segments too). Returns the bytes delivered, or
 * NM_E_NOSPACE when a segment could not be buffered (it is then treated
 * as lost when its hole is skipped). A stream first seen mid-connection
 * starts at the first segment's seq. */
long nm_tcp_stream_data(nm_tcp_stream_t *s, uint32_t seq, const uint8_t *data,
                        size_t len, nm_tcp_deliver_fn fn, void *arg);

/* A FIN at seq (the segment's seq + its payload length). */
void nm_tcp_stream_fin(nm_tcp_stream_t *s, uint32_t seq);

/* True once every byte before the FIN has been delivered. */
bool nm_tcp_stream_is_finished(const nm_tcp_stream_t *s);

/* The connection ended (RST, idle, end of capture): delivers what is
 * buffered, reporting the holes before it as lost, and frees it. */
void nm_tcp_stream_flush(nm_tcp_stream_t *s, nm_tcp_deliver_fn fn, void *arg);

#endif
