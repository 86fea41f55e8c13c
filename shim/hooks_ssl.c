/* hooks_ssl.c - the exported SSL_* hooks (see hooks_ssl.h, docs/tls.md).
 *
 * Each hook finds the real function (ssl_real.c), calls it, and keeps the
 * table of TLS connections (tlstable.c) up to date: an SSL's ciphertext
 * socket is marked so the plain socket hooks leave it alone, and at the
 * first application data the connection gets its verdict: followed when it
 * is the server side of an HTTP/1.x connection (no ALPN, or http/1.1 or
 * http/1.0), with OpenSSL 3 and no early data; otherwise passed through
 * untouched for life. A followed connection's plaintext goes through the
 * connection logic (tlsconn.c): what the server reads feeds its requests,
 * what it writes is tagged, held or replaced by a 304.
 *
 * Calls libssl makes to its own exported functions (SSL_new calls
 * SSL_clear, SSL_set_fd calls SSL_set_bio, the SSL BIO calls SSL_read_ex)
 * come back through these hooks: inside a hook they pass straight through.
 * The server's errno is kept across the shim's own work: after SSL_read
 * fails with SSL_ERROR_SYSCALL, errno is what the server looks at. */
#include "hooks_ssl.h"

#include "config.h"
#include "fdtable.h"
#include "log.h"
#include "ssl_real.h"
#include "tlsconn.h"
#include "tlstable.h"
#include "track.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <string.h>
#include <sys/socket.h>

#define EXPORT __attribute__((visibility("default")))
#define CALLER __builtin_return_address(0)

static bool is_active;
/* > 0 while this thread is inside a hook's call to libssl. */
static __thread int in_ssl;

void nm_hooks_ssl_enable(void)
{
    is_active = true;
}

void nm_hooks_ssl_after_fork_child(void)
{
    nm_tls_after_fork_child();
    nm_ssl_after_fork_child();
}

/* Resolves libssl; true when this call may be looked at (OpenSSL 3, the
 * shim active, not a call libssl makes to itself). */
static inline bool may_look(const void *caller)
{
    return nm_ssl_resolve(caller) == NM_SSL_OPENSSL_3 && is_active &&
           in_ssl == 0;
}

/* No libssl behind the hook: the call fails as OpenSSL's would. */
static int no_libssl(void)
{
    errno = ENOSYS;
    return -1;
}

/* Runs the shim's own work with the server's errno kept. */
#define QUIETLY(work)                                                          \
    do {                                                                       \
        int saved_errno_ = errno;                                              \
        work;                                                                  \
        errno = saved_errno_;                                                  \
    } while (0)

/* ---- the ciphertext socket ---- */

/* fd carries the records of t's SSL: the plain socket hooks must never
 * follow it (its bytes are not HTTP), whatever they adopted at accept; its
 * close or shutdown ends t's connection (nm_hooks_ssl_socket_ends). */
static void mark_ciphertext(struct nm_tls *t, int fd)
{
    if (fd < 0)
        return;
    nm_track_drop_stale_fd(fd);
    nm_fdtable_set(fd, t != NULL ? NM_FD_TLS : NM_FD_IGNORED);
    if (t != NULL)
        nm_tls_set_fd(t, fd);
}

static void learn_fds(SSL *s)
{
    struct nm_tls *t = nm_tls_get_or_add(s);
    int rfd = nm_ssl.get_rfd(s);
    int wfd = nm_ssl.get_wfd(s);
    if (t != NULL) {
        t->rfd = rfd;
        t->wfd = wfd;
    }
    mark_ciphertext(t, rfd);
    if (wfd != rfd)
        mark_ciphertext(t, wfd);
}

void nm_hooks_ssl_socket_ends(int fd)
{
    struct nm_tls *t = nm_tls_of_fd(fd);
    if (t == NULL || t->conn == NULL)
        return;
    in_ssl++;
    nm_tlsconn_forget(t, true);
    in_ssl--;
}

/* ---- the verdict ---- */

static void set_aside(struct nm_tls *t, const char *why)
{
    t->verdict = NM_TLS_ASIDE;
    t->aside_why = why;
    nm_log(NM_LOG_INFO, "TLS connection %p (fd %d): passing through: %s",
           t->ssl, t->rfd, why);
}

/* RFC 7301: the protocol the server selected, if any. HTTP/1.x only:
 * h2 and everything else are out of the shim's reach. */
static bool is_http1_alpn(SSL *s)
{
    const unsigned char *proto = NULL;
    unsigned int len = 0;
    nm_ssl.get0_alpn_selected(s, &proto, &len);
    if (proto == NULL || len == 0)
        return true;
    return (len == 8 && (memcmp(proto, "http/1.1", 8) == 0 ||
                         memcmp(proto, "http/1.0", 8) == 0));
}

/* NOTMOD_PORTS applies to TLS too, where the socket is known. */
static bool is_handled_port(int fd)
{
    if (fd < 0 || nm_cfg.port_count == 0)
        return true;
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0)
        return false;
    if (ss.ss_family == AF_INET)
        return nm_config_port_ok(ntohs(((struct sockaddr_in *)&ss)->sin_port));
    if (ss.ss_family == AF_INET6)
        return nm_config_port_ok(
            ntohs(((struct sockaddr_in6 *)&ss)->sin6_port));
    return false;
}

/* At the first application data the handshake is done: ALPN is known. */
static void decide(struct nm_tls *t, SSL *s)
{
    if (!nm_ssl.is_server(s))
        set_aside(t, "client side (the server's own outbound TLS)");
    else if (t->has_early_data)
        set_aside(t, "early data (0-RTT) is replayable: never a 304");
    else if (!is_http1_alpn(s))
        set_aside(t, "ALPN selected a protocol other than HTTP/1.x");
    else if (!is_handled_port(t->rfd))
        set_aside(t, "local port not in NOTMOD_PORTS");
    else {
        t->verdict = NM_TLS_FOLLOW;
        nm_log(NM_LOG_DEBUG, "TLS connection %p (fd %d): HTTP/1.x, followed",
               t->ssl, t->rfd);
    }
}

/* The server read n > 0 bytes of plaintext from s into buf. */
static void saw_plaintext(SSL *s, const void *buf, size_t n)
{
    struct nm_tls *t = nm_tls_get_or_add(s);
    if (t == NULL)
        return;
    if (t->verdict == NM_TLS_UNDECIDED) {
        decide(t, s);
        if (t->verdict == NM_TLS_FOLLOW && !nm_tlsconn_follow(t))
            set_aside(t, "out of memory");
    }
    if (t->conn != NULL)
        nm_tlsconn_on_read(t, buf, n);
}

/* The server is about to read from s: see nm_tlsconn_before_read. */
static void before_read(SSL *s)
{
    struct nm_tls *t = nm_tls_get(s);
    if (t != NULL && t->conn != NULL)
        nm_tlsconn_before_read(t);
}

/* ---- read side ---- */

EXPORT int SSL_read(SSL *s, void *buf, int num)
{
    bool is_looked_at = may_look(CALLER);
    if (nm_ssl.read == NULL)
        return no_libssl();
    if (!is_looked_at)
        return nm_ssl.read(s, buf, num);
    in_ssl++;
    QUIETLY(before_read(s));
    int r = nm_ssl.read(s, buf, num);
    if (r > 0)
        QUIETLY(saw_plaintext(s, buf, (size_t)r));
    in_ssl--;
    return r;
}

EXPORT int SSL_read_ex(SSL *s, void *buf, size_t num, size_t *readbytes)
{
    bool is_looked_at = may_look(CALLER);
    if (nm_ssl.read_ex == NULL)
        return no_libssl() + 1; /* 0: failure */
    if (!is_looked_at)
        return nm_ssl.read_ex(s, buf, num, readbytes);
    in_ssl++;
    QUIETLY(before_read(s));
    int r = nm_ssl.read_ex(s, buf, num, readbytes);
    if (r == 1 && readbytes != NULL && *readbytes > 0)
        QUIETLY(saw_plaintext(s, buf, *readbytes));
    in_ssl--;
    return r;
}

/* Peeked bytes will be read again: never fed to the request parser. */
EXPORT int SSL_peek(SSL *s, void *buf, int num)
{
    (void)may_look(CALLER);
    if (nm_ssl.peek == NULL)
        return no_libssl();
    return nm_ssl.peek(s, buf, num);
}

EXPORT int SSL_peek_ex(SSL *s, void *buf, size_t num, size_t *readbytes)
{
    (void)may_look(CALLER);
    if (nm_ssl.peek_ex == NULL)
        return no_libssl() + 1;
    return nm_ssl.peek_ex(s, buf, num, readbytes);
}

/* RFC 8446 §8 and RFC 8470: early data can be replayed by an attacker, so
 * a connection that accepted some is never answered by the shim. */
EXPORT int SSL_read_early_data(SSL *s, void *buf, size_t num, size_t *readbytes)
{
    bool is_looked_at = may_look(CALLER);
    if (nm_ssl.read_early_data == NULL)
        return no_libssl() + 1; /* SSL_READ_EARLY_DATA_ERROR */
    if (!is_looked_at)
        return nm_ssl.read_early_data(s, buf, num, readbytes);
    in_ssl++;
    int r = nm_ssl.read_early_data(s, buf, num, readbytes);
    in_ssl--;
    if (r == NM_SSL_READ_EARLY_DATA_SUCCESS && readbytes != NULL &&
        *readbytes > 0) {
        int saved = errno;
        struct nm_tls *t = nm_tls_get_or_add(s);
        if (t != NULL && !t->has_early_data) {
            t->has_early_data = true;
            set_aside(t, "early data (0-RTT) is replayable: never a 304");
        }
        errno = saved;
    }
    return r;
}

/* ---- write side ---- */

/* The followed connection of s, or NULL: its calls go straight through. */
static struct nm_tls *followed(SSL *s)
{
    struct nm_tls *t = nm_tls_get(s);
    return t != NULL && t->conn != NULL ? t : NULL;
}

/* The server writes n > 0 bytes on s: true when the connection logic took
 * the call, with *out what to return (see nm_tlsconn_write). errno is the
 * server's, or on -1 what the failed real call left. */
static bool write_followed(SSL *s, const void *buf, size_t n, ssize_t *out)
{
    struct nm_tls *t = followed(s);
    if (t == NULL)
        return false;
    int saved = errno;
    in_ssl++;
    bool is_handled = nm_tlsconn_write(t, buf, n, out);
    in_ssl--;
    if (!is_handled || *out >= 0)
        errno = saved;
    return is_handled;
}

EXPORT int SSL_write(SSL *s, const void *buf, int num)
{
    bool is_looked_at = may_look(CALLER);
    if (nm_ssl.write == NULL)
        return no_libssl();
    ssize_t r;
    if (is_looked_at && num > 0 && write_followed(s, buf, (size_t)num, &r))
        return r > 0 ? (int)r : -1;
    return nm_ssl.write(s, buf, num);
}

EXPORT int SSL_write_ex(SSL *s, const void *buf, size_t num, size_t *written)
{
    bool is_looked_at = may_look(CALLER);
    if (nm_ssl.write_ex == NULL)
        return no_libssl() + 1;
    ssize_t r;
    if (is_looked_at && num > 0 && write_followed(s, buf, num, &r)) {
        if (r <= 0)
            return 0;
        if (written != NULL)
            *written = (size_t)r;
        return 1;
    }
    return nm_ssl.write_ex(s, buf, num, written);
}

/* Ends the shim's part before a call that sends the server's own bytes
 * or ends the stream (why: SSL_sendfile's reason, NULL: SSL_shutdown).
 * False when some of the shim's bytes cannot go now: the hook fails the
 * call, with errno as the shim's real call left it and the SSL's state
 * answering SSL_get_error with WANT_WRITE (or WANT_READ). */
static bool clear_before(struct nm_tls *t, const char *why)
{
    int saved = errno;
    in_ssl++;
    bool is_clear =
        why != NULL ? nm_tlsconn_stand_aside(t, why) : nm_tlsconn_drain(t);
    in_ssl--;
    if (is_clear)
        errno = saved;
    return is_clear;
}

/* kTLS: the kernel encrypts a file's bytes the shim never sees, so the
 * connection is passed through from here on (docs/tls.md, kTLS). */
EXPORT ssize_t SSL_sendfile(SSL *s, int fd, off_t offset, size_t size,
                            int flags)
{
    bool is_looked_at = may_look(CALLER);
    if (nm_ssl.sendfile == NULL)
        return no_libssl();
    struct nm_tls *t = is_looked_at ? followed(s) : NULL;
    if (t != NULL && !clear_before(t, "SSL_sendfile (kTLS) is not followed"))
        return -1;
    return nm_ssl.sendfile(s, fd, offset, size, flags);
}

/* ---- what binds a connection's life ---- */

/* An entry taken out of the table: its connection ends, then it goes.
 * is_closing: the SSL still works (see nm_tlsconn_forget). */
static void forget(struct nm_tls *t, bool is_closing)
{
    if (t == NULL)
        return;
    nm_tlsconn_forget(t, is_closing);
    nm_tls_free(t);
}

EXPORT SSL *SSL_new(SSL_CTX *ctx)
{
    bool is_looked_at = may_look(CALLER);
    if (nm_ssl.new_ == NULL) {
        no_libssl();
        return NULL;
    }
    if (!is_looked_at)
        return nm_ssl.new_(ctx);
    in_ssl++;
    SSL *s = nm_ssl.new_(ctx);
    in_ssl--;
    /* A new SSL at the address of one freed unseen: forget the old. */
    if (s != NULL)
        QUIETLY(forget(nm_tls_take(s), false));
    return s;
}

/* The entry goes even when libssl frees an SSL inside a hooked call: a
 * stale entry would be found again by the next SSL at that address. */
EXPORT void SSL_free(SSL *s)
{
    enum nm_ssl_lib lib = nm_ssl_resolve(CALLER);
    if (nm_ssl.free == NULL)
        return;
    if (lib == NM_SSL_OPENSSL_3 && is_active && s != NULL) {
        /* The server's own SSL_free: what is owed goes first. One libssl
         * makes inside a hooked call: the SSL may be half made. */
        bool is_closing = in_ssl == 0;
        in_ssl++;
        QUIETLY(forget(nm_tls_take(s), is_closing));
        in_ssl--;
    }
    in_ssl++;
    nm_ssl.free(s);
    in_ssl--;
}

EXPORT int SSL_set_fd(SSL *s, int fd)
{
    bool is_looked_at = may_look(CALLER);
    if (nm_ssl.set_fd == NULL)
        return no_libssl() + 1;
    if (!is_looked_at)
        return nm_ssl.set_fd(s, fd);
    in_ssl++;
    int r = nm_ssl.set_fd(s, fd);
    in_ssl--;
    if (r == 1)
        QUIETLY(learn_fds(s));
    return r;
}

/* A socket BIO (libevent, servers that build their own) has an fd behind
 * it; Apache's BIOs do not (SSL_get_rfd answers -1). */
EXPORT void SSL_set_bio(SSL *s, BIO *rbio, BIO *wbio)
{
    bool is_looked_at = may_look(CALLER);
    if (nm_ssl.set_bio == NULL)
        return;
    if (!is_looked_at) {
        nm_ssl.set_bio(s, rbio, wbio);
        return;
    }
    in_ssl++;
    nm_ssl.set_bio(s, rbio, wbio);
    in_ssl--;
    QUIETLY(learn_fds(s));
}

/* The TLS close: a close-delimited response ends, and what the shim owes
 * goes out before the close_notify (docs/tls.md rule 7). */
EXPORT int SSL_shutdown(SSL *s)
{
    bool is_looked_at = may_look(CALLER);
    if (nm_ssl.shutdown == NULL)
        return no_libssl();
    struct nm_tls *t = is_looked_at ? followed(s) : NULL;
    if (t != NULL && !clear_before(t, NULL))
        return -1;
    if (!is_looked_at)
        return nm_ssl.shutdown(s);
    in_ssl++;
    int r = nm_ssl.shutdown(s);
    in_ssl--;
    return r;
}

/* The SSL is reused for a new connection: what was known is stale. */
EXPORT int SSL_clear(SSL *s)
{
    bool is_looked_at = may_look(CALLER);
    if (nm_ssl.clear == NULL)
        return no_libssl() + 1;
    if (!is_looked_at)
        return nm_ssl.clear(s);
    struct nm_tls *t = followed(s);
    if (t != NULL) {
        in_ssl++;
        QUIETLY(nm_tlsconn_forget(t, true));
        in_ssl--;
    }
    in_ssl++;
    int r = nm_ssl.clear(s);
    in_ssl--;
    int saved = errno;
    t = nm_tls_get(s);
    if (t != NULL) {
        t->verdict = NM_TLS_UNDECIDED;
        t->has_early_data = false;
        t->aside_why = NULL;
    }
    errno = saved;
    return r;
}
