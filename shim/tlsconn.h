/* tlsconn.h - the TLS connections the shim follows, keyed by the server's
 * SSL * through its entry in the TLS table (tlstable.h) rather than by an
 * fd: one connection (conn.h) per followed SSL, carried by the TLS
 * transport (transport_tls.h). The SSL_* hooks' entry points into the
 * connection logic, as track.h is the socket hooks'. Everything runs in
 * the server's own calls on that SSL (docs/tls.md, rules 5 and 6). */
#ifndef NM_SHIM_TLSCONN_H
#define NM_SHIM_TLSCONN_H

#include "tlstable.h"

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* t was found to carry HTTP/1.x: make its connection. False when memory
 * is short (then t must be passed through). */
bool nm_tlsconn_follow(struct nm_tls *t);

/* The server is about to read from t: what the shim owes goes out first,
 * and what it holds too when the read could wait for the client. */
void nm_tlsconn_before_read(struct nm_tls *t);

/* The server read n > 0 bytes of plaintext at buf from t. */
void nm_tlsconn_on_read(struct nm_tls *t, const void *buf, size_t n);

/* The server writes n > 0 bytes at buf on t (SSL_write, SSL_write_ex).
 * False: t is not followed, the hook makes the real call. True: *out is
 * what the hook returns: a count > 0, or -1 right after a real call on
 * the SSL failed (its state answers SSL_get_error: WANT_WRITE/WANT_READ,
 * or the broken connection). */
bool nm_tlsconn_write(struct nm_tls *t, const void *buf, size_t n,
                      ssize_t *out);

/* SSL_sendfile (kTLS) on t: the body is encrypted by the kernel and never
 * seen, so t stops being followed; what the shim holds goes out first.
 * False when some of it cannot go now (the hook fails the call: the state
 * says WANT_WRITE). */
bool nm_tlsconn_stand_aside(struct nm_tls *t, const char *why);

/* SSL_shutdown on t: a close-delimited response ends here; what is held
 * or owed goes out before the close_notify. False when some cannot go now
 * (the hook fails the call: the state says WANT_WRITE). */
bool nm_tlsconn_drain(struct nm_tls *t);

/* t's connection ends (SSL_free, SSL_clear, a stale entry). is_closing:
 * the SSL still works, so what is owed is delivered first, with a bound. */
void nm_tlsconn_forget(struct nm_tls *t, bool is_closing);

#endif
