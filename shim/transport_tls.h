/* transport_tls.h - the transport (transport.h) of HTTP inside the
 * server's own OpenSSL, named by the connection's entry in the TLS table
 * (tlstable.h, which holds the SSL *): every byte goes through the real
 * SSL_write_ex, the ciphertext socket is never written directly. It keeps
 * OpenSSL's write contract for the shim's own calls (docs/tls.md, rules
 * 1-4): a real write that returns WANT_WRITE/WANT_READ is copied and
 * counted as taken, and repeated with the same length before any other
 * write. Used by the TLS connections (tlsconn.c). */
#ifndef NM_SHIM_TRANSPORT_TLS_H
#define NM_SHIM_TRANSPORT_TLS_H

#include "tlstable.h"
#include "transport.h"

#include <stdbool.h>

extern const struct nm_transport nm_transport_tls;

/* The handle that names t's connection on this transport. */
static inline nm_handle_t nm_transport_tls_handle(struct nm_tls *t)
{
    nm_handle_t h = {.ptr = t};
    return h;
}

/* Is a real write of the shim's waiting to be repeated on t? */
static inline bool nm_transport_tls_is_pending(const struct nm_tls *t)
{
    return t->pending.buf != NULL;
}

/* Repeats t's pending real write until it is done. True when nothing is
 * pending any more (done, or dropped with a broken connection); false:
 * try later, and the SSL's state says WANT_WRITE or WANT_READ as the real
 * call left it (t->last_want). */
bool nm_transport_tls_finish(struct nm_tls *t);

/* t's connection ends: a write still to repeat is forgotten (the SSL is
 * freed or cleared, and its record with it). */
void nm_transport_tls_drop(struct nm_tls *t);

/* Does the server's SSL accept short writes (SSL_MODE_ENABLE_PARTIAL_WRITE)? */
bool nm_transport_tls_is_partial(const struct nm_tls *t);

/* Does the server's SSL accept a retry from another address with the same
 * contents (SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER)? */
bool nm_transport_tls_is_moving(const struct nm_tls *t);

#endif
