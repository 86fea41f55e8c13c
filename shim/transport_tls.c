/* transport_tls.c - see transport_tls.h.
 *
 * OpenSSL 3.0 keeps the record it built when a write returns WANT_WRITE
 * (or WANT_READ: a renegotiation, a key update) and fails any later write
 * that is not the same call again ("bad write retry", fatal). The shim
 * cannot count on anyone to repeat its own calls, so it repeats them
 * itself: the bytes offered are copied, counted as taken, and offered
 * again, same length, before anything else is written on that SSL. The
 * repeat comes from the copy, so OpenSSL is told to accept a moved buffer
 * (SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER) for that one call only: the
 * contents are the same, which is all the mode asks. */
#include "transport_tls.h"

#include "alloc.h"
#include "log.h"
#include "ssl_real.h"
#include "symbols.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>

/* The largest TLS record's plaintext (RFC 8446 §5.1): small pieces are
 * gathered up to this into one real write, so one record. */
#define RECORD_MAX 16384
/* The shim's own bytes go at most this many per real call: a call that
 * must be repeated is copied, and an owed queue can be megabytes. */
#define OWN_WRITE_MAX (4 * RECORD_MAX)

static SSL *ssl_of(const struct nm_tls *t)
{
    return (SSL *)t->ssl;
}

static long mode_of(const struct nm_tls *t)
{
    return nm_ssl.ctrl(ssl_of(t), NM_SSL_CTRL_MODE, 0, NULL);
}

bool nm_transport_tls_is_partial(const struct nm_tls *t)
{
    return (mode_of(t) & NM_SSL_MODE_ENABLE_PARTIAL_WRITE) != 0;
}

bool nm_transport_tls_is_moving(const struct nm_tls *t)
{
    return (mode_of(t) & NM_SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER) != 0;
}

/* One real SSL_write_ex of len > 0 bytes at p; t->last_want says how it
 * ended. Returns the bytes written (> 0), 0 for "try later" (the call
 * must be repeated) or -1 when the connection is broken. */
static long write_once(struct nm_tls *t, const void *p, size_t len)
{
    size_t written = 0;
    if (nm_ssl.write_ex(ssl_of(t), p, len, &written) == 1) {
        t->last_want = 0;
        return (long)written;
    }
    int e = nm_ssl.get_error(ssl_of(t), 0);
    if (e == NM_SSL_ERROR_WANT_WRITE || e == NM_SSL_ERROR_WANT_READ) {
        t->last_want = e;
        return 0;
    }
    t->last_want = 0;
    return -1;
}

/* Keeps a copy of the len bytes at p that a real write must offer again;
 * false when memory is short (the connection cannot go on). */
static bool keep_pending(struct nm_tls *t, const void *p, size_t len)
{
    char *copy = nm_malloc(len);
    if (copy == NULL) {
        nm_log(NM_LOG_WARN, "TLS connection %p: no memory to repeat a write",
               t->ssl);
        return false;
    }
    memcpy(copy, p, len);
    nm_log(NM_LOG_DEBUG, "TLS connection %p: a write of %zu bytes to repeat",
           t->ssl, len);
    t->pending.buf = copy;
    t->pending.len = len;
    return true;
}

void nm_transport_tls_drop(struct nm_tls *t)
{
    free(t->pending.buf);
    t->pending.buf = NULL;
    t->pending.len = 0;
}

bool nm_transport_tls_finish(struct nm_tls *t)
{
    while (t->pending.buf != NULL) {
        bool was_moving = nm_transport_tls_is_moving(t);
        if (!was_moving)
            nm_ssl.ctrl(ssl_of(t), NM_SSL_CTRL_MODE,
                        NM_SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER, NULL);
        nm_ssl.err_set_mark();
        long r = write_once(t, t->pending.buf, t->pending.len);
        nm_ssl.err_pop_to_mark();
        if (!was_moving)
            nm_ssl.ctrl(ssl_of(t), NM_SSL_CTRL_CLEAR_MODE,
                        NM_SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER, NULL);
        if (r == 0)
            return false;
        if (r < 0 || (size_t)r == t->pending.len) {
            nm_transport_tls_drop(t); /* done, or nowhere to deliver it */
            continue;
        }
        /* A short write (the server's SSL has the partial mode): the
         * rest is a new call, from the front of the copy. */
        t->pending.len -= (size_t)r;
        memmove(t->pending.buf, t->pending.buf + r, t->pending.len);
    }
    return true;
}

/* Where send_iov stands in its iovecs. */
struct at {
    int i;      /* the piece */
    size_t off; /* bytes of it already written */
};

/* The next real write of iov from *a, which it advances past it: the
 * pieces from there that are adjacent in memory, as they are, when they
 * fill a record or end the iovecs; else pieces gathered through stage up
 * to one full record (RECORD_MAX), the last one cut where the record is
 * full. A head in front of a body thus leaves as the server's own
 * buffered writes would (one full record, then the rest), not as a small
 * record the client wakes up for alone. */
static void next_run(const struct iovec *iov, int cnt, struct at *a,
                     char *stage, const char **p, size_t *len)
{
    *len = iov[a->i].iov_len - a->off;
    if (*len == 0) { /* an empty piece, maybe with no buffer at all */
        *a = (struct at){a->i + 1, 0};
        return;
    }
    *p = (const char *)iov[a->i].iov_base + a->off;
    int next = a->i + 1;
    while (next < cnt && (const char *)iov[next].iov_base == *p + *len)
        *len += iov[next++].iov_len;
    if (*len >= RECORD_MAX || next == cnt) {
        *a = (struct at){next, 0};
        return;
    }
    size_t got = 0;
    while (a->i < cnt && got < RECORD_MAX) {
        size_t take = iov[a->i].iov_len - a->off;
        if (take > RECORD_MAX - got)
            take = RECORD_MAX - got;
        memcpy(stage + got, (const char *)iov[a->i].iov_base + a->off, take);
        got += take;
        a->off += take;
        if (a->off == iov[a->i].iov_len)
            *a = (struct at){a->i + 1, 0};
    }
    *p = stage;
    *len = got;
}

/* "The peer is gone" for the caller (transport.h), whatever errno the
 * failed call left. */
static void set_broken_errno(void)
{
    if (errno == 0 || errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
        errno = EPIPE;
}

/* Writes iov with as few real calls as it can. A call that must be
 * repeated is copied and counted as taken. is_own: the shim's bytes,
 * whose errors never reach the server's error queue (docs/tls.md rule 3);
 * the server's own keep theirs, for SSL_get_error. */
static ssize_t send_iov(struct nm_tls *t, const struct iovec *iov, int cnt,
                        bool is_own)
{
    if (!nm_transport_tls_finish(t)) {
        errno = EAGAIN;
        return -1;
    }
    size_t total = 0;
    char stage[RECORD_MAX];
    struct at a = {0, 0};
    while (a.i < cnt) {
        const char *p;
        size_t len;
        next_run(iov, cnt, &a, stage, &p, &len);
        if (len == 0)
            continue;
        size_t want = is_own && len > OWN_WRITE_MAX ? OWN_WRITE_MAX : len;
        if (is_own)
            nm_ssl.err_set_mark();
        long r = write_once(t, p, want);
        if (r == 0 && !keep_pending(t, p, want))
            r = -1;
        if (is_own)
            nm_ssl.err_pop_to_mark();
        if (r < 0) {
            if (total > 0)
                return (ssize_t)total;
            set_broken_errno();
            return -1;
        }
        if (r == 0)
            return (ssize_t)(total + want); /* taken: repeated first later */
        total += (size_t)r;
        if ((size_t)r < len)
            return (ssize_t)total; /* a short write (capped, or partial) */
    }
    return (ssize_t)total;
}

static ssize_t tls_pass(nm_handle_t h, enum nm_write_op op,
                        const struct iovec *iov, int cnt, int flags)
{
    (void)op; /* SSL_write has one form */
    (void)flags;
    return send_iov(h.ptr, iov, cnt, false);
}

static ssize_t tls_send_own(nm_handle_t h, const struct iovec *iov, int cnt)
{
    return send_iov(h.ptr, iov, cnt, true);
}

/* The socket under the SSL, or -1 (Apache's BIOs of its own). */
static int sock_of(const struct nm_tls *t)
{
    return t->wfd >= 0 ? t->wfd : t->rfd;
}

/* Where OpenSSL does not know the socket, the server's BIO may not wait:
 * never wait for it. */
static bool tls_is_nonblocking(nm_handle_t h)
{
    int fd = sock_of(h.ptr);
    if (fd < 0)
        return true;
    int fl = nm_real_fcntl(fd, F_GETFL, NULL);
    return fl >= 0 && (fl & O_NONBLOCK);
}

static bool poll_once(int fd, short events, int timeout_ms)
{
    struct pollfd pfd = {.fd = fd, .events = events};
    int r;
    do
        r = nm_real_poll(&pfd, 1, timeout_ms);
    while (r < 0 && errno == EINTR);
    return r > 0 && !(pfd.revents & POLLNVAL);
}

static bool tls_wait_writable(nm_handle_t h, int timeout_ms)
{
    int fd = sock_of(h.ptr);
    return fd >= 0 && poll_once(fd, POLLOUT, timeout_ms);
}

/* A read could wait when OpenSSL has no plaintext buffered and the socket
 * has nothing either, even a non-blocking one: over TLS no server is
 * known to look for a pipelined request in the middle of a response, and
 * no flusher releases a hold while it waits for its client (docs/tls.md
 * rule 6). Without a known socket, only the server's next call can. */
static bool tls_read_could_block(nm_handle_t h, int flags)
{
    (void)flags;
    const struct nm_tls *t = h.ptr;
    if (t->rfd < 0 || nm_ssl.pending(ssl_of(t)) > 0)
        return false;
    return !poll_once(t->rfd, POLLIN, 0);
}

/* close_notify: the TLS end of the stream (RFC 8446 §6.1). */
static void tls_shut_output(nm_handle_t h)
{
    const struct nm_tls *t = h.ptr;
    nm_ssl.err_set_mark();
    nm_ssl.shutdown(ssl_of(t));
    nm_ssl.err_pop_to_mark();
}

static int tls_fd_of(nm_handle_t h)
{
    return sock_of(h.ptr);
}

const struct nm_transport nm_transport_tls = {
    .pass = tls_pass,
    .send_own = tls_send_own,
    .send_own_file = NULL, /* the bytes must be encrypted: read, then send */
    .is_nonblocking = tls_is_nonblocking,
    .wait_writable = tls_wait_writable,
    .read_could_block = tls_read_could_block,
    .shut_output = tls_shut_output,
    .fd_of = tls_fd_of,
    .is_inside_tls = true,
};
