/* deliver.h - bytes the shim owes a client: what it sends itself (a 304,
 * a held head or body released) goes out before any later byte of the
 * connection: now if the transport takes it, else kept here and sent first
 * at the connection's next call or by the flusher. Over any transport
 * (transport.h). Used by the connection layer (conn.c and above). */
#ifndef NM_SHIM_DELIVER_H
#define NM_SHIM_DELIVER_H

#include "transport.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

/* The owed bytes of one connection; all zero is empty. */
struct nm_owed {
    char *buf;
    size_t len, off; /* buf[off..len) is owed */
};

/* Is nothing owed? Inline: asked before every server call. */
static inline bool nm_deliver_is_done(const struct nm_owed *o)
{
    return o->off >= o->len;
}

/* Appends n bytes behind what is owed; false when memory is short. */
bool nm_deliver_owe(struct nm_owed *o, const char *p, size_t n);

/* Forgets what is owed (the peer is gone, or the bytes were another
 * process's to send) and frees it. */
void nm_deliver_drop(struct nm_owed *o);

/* Sends what is owed. may_block: on a blocking link, wait (up to 30 s) as
 * the server's own call would have. True when nothing remains owed (sent,
 * or dropped because the peer is gone). */
bool nm_deliver_flush(struct nm_owed *o, const nm_link_t *l, bool may_block);

/* Before a connection's fd goes (close, fork): tries for about two seconds
 * at most, so a client that stopped reading cannot hang the server. */
void nm_deliver_flush_bounded(struct nm_owed *o, const nm_link_t *l);

/* Sends iov behind what is owed: now without blocking where possible, else
 * waited for on a blocking link, else owed. Out of memory: the client
 * sees a cut response. */
void nm_deliver_send(struct nm_owed *o, const nm_link_t *l,
                     const struct iovec *iov, int cnt);

/* As nm_deliver_send, for the first len bytes of the file memfd. */
void nm_deliver_send_file(struct nm_owed *o, const nm_link_t *l, int memfd,
                          uint64_t len);

#endif
