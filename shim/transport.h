/* transport.h - what carries a connection's bytes, as the connection logic
 * sees it: it sends through this interface and never calls send(), write()
 * or sendfile() itself. Two implementations: a socket fd
 * (transport_sock.c) and TLS inside the server's own OpenSSL, keyed by its
 * SSL * (transport_tls.c); the contract below is written for both. The shim
 * never reads on its own: the hooks tell the connection logic what the server
 * received (nm_exchange_on_read), whatever the transport.
 *
 * Every function gets the connection's handle, the opaque name of what
 * carries it; none takes a lock, and none allocates but the TLS transport
 * (a copy of a write OpenSSL must be offered again). errno after -1: EAGAIN or
 * EWOULDBLOCK means "nothing can go now, try later" on every transport (a
 * TLS hook answers SSL_get_error with WANT_WRITE for it); EINTR means "try
 * again now"; anything else means the peer is gone. */
#ifndef NM_SHIM_TRANSPORT_H
#define NM_SHIM_TRANSPORT_H

#include <stdbool.h>
#include <sys/types.h>
#include <sys/uio.h>

/* What names a connection: a socket fd, or an object (SSL *) for a
 * transport that is not a plain fd. */
typedef union nm_handle {
    int fd;
    void *ptr;
} nm_handle_t;

/* How the server handed its bytes over, so that passing them through makes
 * the same kind of call (write/writev, or send/sendmsg with its flags). */
enum nm_write_op { NM_OP_WRITE, NM_OP_SEND };

struct nm_transport {
    /* Passes the server's own bytes through: the real call the server made
     * (op, flags), on iov, which may be the server's bytes with some of
     * the shim's in front. Returns what that call returns, errno set on
     * -1; it may block exactly as the server's call would. A transport
     * whose real call must be retried with the same arguments after a
     * "try later" (SSL_write after SSL_ERROR_WANT_WRITE, without
     * SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER) cannot rely on the caller for
     * that: the shim's part in front of the server's bytes may have become
     * owed meanwhile. Such a transport copies what it offered, finishes it
     * before anything else, and counts it as taken. */
    ssize_t (*pass)(nm_handle_t h, enum nm_write_op op, const struct iovec *iov,
                    int cnt, int flags);

    /* Sends the shim's own bytes (a 304, a released head or body) without
     * blocking and without raising SIGPIPE: returns how many left (> 0,
     * possibly fewer than offered, possibly from the first iovecs only),
     * or -1 with errno as above. The caller offers whatever is not taken
     * again later, the same bytes in the same order but not necessarily at
     * the same address: a transport with a retry contract keeps its own
     * copy of a record it started. */
    ssize_t (*send_own)(nm_handle_t h, const struct iovec *iov, int cnt);

    /* As send_own, for len bytes of the regular file fd from *off (which
     * it advances): a held body spilled to a memfd. NULL when the
     * transport cannot send from a file (TLS: the bytes must be
     * encrypted): the caller reads the file and uses send_own. A socket's
     * sendfile has no MSG_DONTWAIT: on a blocking link it may wait. */
    ssize_t (*send_own_file)(nm_handle_t h, int fd, off_t *off, size_t len);

    /* Would the server's own sends on this link fail with "try later"
     * rather than wait (a non-blocking socket)? The shim then never waits
     * on the link where the server would not have. */
    bool (*is_nonblocking)(nm_handle_t h);

    /* Waits until the link can take more bytes, up to timeout_ms; false
     * on timeout or error. */
    bool (*wait_writable)(nm_handle_t h, int timeout_ms);

    /* Could a read the server is about to make (recv flags, 0 for read)
     * wait for the client? Not on a non-blocking link, nor when input, EOF
     * or an error is already there (TLS: a buffered record too). It must
     * not consume anything. */
    bool (*read_could_block)(nm_handle_t h, int flags);

    /* Ends the shim's output on the link (the client sees the end of the
     * stream): after a 304, bytes that cannot be framed. */
    void (*shut_output)(nm_handle_t h);

    /* The fd underneath, for logs; -1 when there is none. */
    int (*fd_of)(nm_handle_t h);

    /* The link is the server's own TLS (an SSL *). Only the server's own
     * calls may send on it (an SSL must not be used from two threads, and
     * its state answers SSL_get_error): no flusher thread watches it;
     * holds and owed bytes are released from the server's next call on
     * the connection. Its responses are counted apart (event.h). */
    bool is_inside_tls;
};

/* A connection's transport and handle. */
typedef struct nm_link {
    const struct nm_transport *tp;
    nm_handle_t h;
} nm_link_t;

#endif
