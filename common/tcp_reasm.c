/* tcp_reasm.c - see tcp_reasm.h. Out-of-order segments are kept in a
 * sorted singly linked list: on captures they are rare and few (a lost
 * packet and the window behind it), so a list beats a tree in code and in
 * practice; the budget bounds its length. */
#include "tcp_reasm.h"

#include <stdlib.h>
#include <string.h>

struct nm_tcp_seg {
    nm_tcp_seg_t *next;
    uint32_t seq, len;
    uint8_t data[];
};

/* RFC 9293 §3.4: sequence numbers compare modulo 2^32. */
static int32_t seq_diff(uint32_t a, uint32_t b)
{
    return (int32_t)(a - b);
}

void nm_tcp_stream_init(nm_tcp_stream_t *s, size_t ooo_max_bytes)
{
    memset(s, 0, sizeof(*s));
    s->ooo_max_bytes = ooo_max_bytes;
}

void nm_tcp_stream_free(nm_tcp_stream_t *s)
{
    while (s->ooo) {
        nm_tcp_seg_t *next = s->ooo->next;
        free(s->ooo);
        s->ooo = next;
    }
    s->ooo_bytes = 0;
}

void nm_tcp_stream_syn(nm_tcp_stream_t *s, uint32_t isn)
{
    if (s->delivered_bytes > 0 || s->ooo)
        return;
    s->next_seq = isn + 1;
    s->is_synced = true;
}

/* Delivers [seq, seq+len) where seq <= next_seq: only the part past
 * next_seq is new, the rest is a retransmission or an overlap. */
static size_t deliver_from(nm_tcp_stream_t *s, uint32_t seq,
                           const uint8_t *data, size_t len,
                           nm_tcp_deliver_fn fn, void *arg)
{
    size_t seen = (size_t)seq_diff(s->next_seq, seq);
    if (seen >= len) {
        s->dup_bytes += len;
        return 0;
    }
    s->dup_bytes += seen;
    len -= seen;
    fn(arg, data + seen, len);
    s->next_seq += (uint32_t)len;
    s->delivered_bytes += len;
    return len;
}

/* Delivers buffered segments that the stream has caught up with. */
static size_t drain(nm_tcp_stream_t *s, nm_tcp_deliver_fn fn, void *arg)
{
    size_t n = 0;
    while (s->ooo && seq_diff(s->ooo->seq, s->next_seq) <= 0) {
        nm_tcp_seg_t *g = s->ooo;
        s->ooo = g->next;
        s->ooo_bytes -= g->len;
        n += deliver_from(s, g->seq, g->data, g->len, fn, arg);
        free(g);
    }
    return n;
}

/* Gives up on the bytes before seq: reports them lost and moves on. */
static void skip_to(nm_tcp_stream_t *s, uint32_t seq, nm_tcp_deliver_fn fn,
                    void *arg)
{
    size_t gap = (size_t)seq_diff(seq, s->next_seq);
    fn(arg, NULL, gap);
    s->lost_bytes += gap;
    s->next_seq = seq;
}

/* Inserts a copy in seq order; an exact or covered retransmission of a
 * segment already buffered is dropped rather than stored twice. */
static int buffer_seg(nm_tcp_stream_t *s, uint32_t seq, const uint8_t *data,
                      size_t len)
{
    nm_tcp_seg_t **at = &s->ooo;
    while (*at && seq_diff((*at)->seq, seq) < 0)
        at = &(*at)->next;
    if (*at && (*at)->seq == seq && (*at)->len >= len) {
        s->dup_bytes += len;
        return 0;
    }
    nm_tcp_seg_t *g = malloc(sizeof(*g) + len);
    if (!g)
        return NM_E_NOSPACE;
    g->seq = seq;
    g->len = (uint32_t)len;
    memcpy(g->data, data, len);
    g->next = *at;
    *at = g;
    s->ooo_bytes += len;
    return 0;
}

/* Skips holes until len more bytes fit the budget (or nothing is left to
 * skip). Returns the bytes delivered on the way. */
static size_t make_room(nm_tcp_stream_t *s, size_t len, nm_tcp_deliver_fn fn,
                        void *arg)
{
    size_t n = 0;
    while (s->ooo && s->ooo_bytes + len > s->ooo_max_bytes) {
        skip_to(s, s->ooo->seq, fn, arg);
        n += drain(s, fn, arg);
    }
    return n;
}

long nm_tcp_stream_data(nm_tcp_stream_t *s, uint32_t seq, const uint8_t *data,
                        size_t len, nm_tcp_deliver_fn fn, void *arg)
{
    if (len == 0)
        return 0;
    if (!s->is_synced) {
        s->next_seq = seq;
        s->is_synced = true;
    }
    size_t n = 0;
    if (seq_diff(seq, s->next_seq) > 0) {
        n = make_room(s, len, fn, arg);
        if (seq_diff(seq, s->next_seq) > 0) {
            if (len <= s->ooo_max_bytes)
                return buffer_seg(s, seq, data, len) < 0 ? NM_E_NOSPACE
                                                         : (long)n;
            skip_to(s, seq, fn, arg); /* too big to wait for its hole */
        }
    }
    n += deliver_from(s, seq, data, len, fn, arg);
    n += drain(s, fn, arg);
    return (long)n;
}

void nm_tcp_stream_fin(nm_tcp_stream_t *s, uint32_t seq)
{
    if (!s->is_synced) {
        s->next_seq = seq;
        s->is_synced = true;
    }
    s->has_fin = true;
    s->fin_seq = seq;
}

bool nm_tcp_stream_is_finished(const nm_tcp_stream_t *s)
{
    return s->has_fin && seq_diff(s->next_seq, s->fin_seq) >= 0;
}

void nm_tcp_stream_flush(nm_tcp_stream_t *s, nm_tcp_deliver_fn fn, void *arg)
{
    while (s->ooo) {
        skip_to(s, s->ooo->seq, fn, arg);
        drain(s, fn, arg);
    }
    if (s->has_fin && seq_diff(s->fin_seq, s->next_seq) > 0)
        skip_to(s, s->fin_seq, fn, arg);
}
