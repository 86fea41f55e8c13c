/* hooks_io.c - the hooks of the data path: reads (and polls for input),
 * writes and sendfile. Each one is a thin door: untracked fds go straight
 * to the real function with a single table load; tracked ones go to the
 * connection layer (track.c finds the connection, accel.c answers what
 * it may before the server sees it, exchange.c takes what the server read,
 * phase.c what it writes). errno is the real call's on
 * failure and left as it was on success. */
#include "hooks.h"

#include "accel.h"
#include "exchange.h"
#include "fdtable.h"
#include "phase.h"
#include "report.h"
#include "storeview.h"
#include "symbols.h"
#include "track.h"

#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

/* ---- read side ---- */

/* Before a read on a tracked connection: see nm_track_before_read. */
static inline void before_read(int fd, int flags)
{
    if (nm_hooks_should_follow() && NM_FD_IS_CONN(nm_fdtable_get(fd)))
        QUIETLY(nm_track_before_read(fd, flags));
    nm_hooks_before_fd_wait(fd, POLLIN, flags);
}

/* Armed: is fd, which a read just took bytes from, the first TCP socket
 * this process meets? Then the shim becomes active and follows it. An fd
 * that is not (a file, a pipe, a Unix socket) is marked so: asked once. */
static __attribute__((noinline)) bool is_first_socket(int fd)
{
    if (nm_fdtable_get(fd) != NM_FD_UNKNOWN)
        return false;
    int saved = errno;
    nm_hooks_in_shim++;
    bool is_tcp = nm_track_is_tcp(fd);
    if (!is_tcp)
        nm_fdtable_set(fd, NM_FD_IGNORED);
    nm_hooks_in_shim--;
    errno = saved;
    return is_tcp && nm_hooks_activate();
}

/* Do the n > 0 bytes just read from fd go to the tracker? */
static inline bool follows_read(int fd)
{
    return nm_hooks_should_follow() ||
           (nm_hooks_is_looking() && is_first_socket(fd));
}

/* One read call of the server's, to make again when acceleration took
 * all it returned (the server must see what the real call would have
 * given it after its own 304: the next bytes, or -1/EAGAIN, or a wait). */
enum rd_op { RD_READ, RD_READV, RD_RECVFROM, RD_RECVMSG };
struct rd {
    enum rd_op op;
    const struct iovec *iov; /* where the bytes went */
    int cnt;
    int flags;
    struct sockaddr *addr;
    socklen_t *alen;
    struct msghdr *msg;
};

static ssize_t read_again(int fd, const struct rd *a)
{
    switch (a->op) {
    case RD_READ:
        return nm_real_read(fd, a->iov[0].iov_base, a->iov[0].iov_len);
    case RD_READV:
        return nm_real_readv(fd, a->iov, a->cnt);
    case RD_RECVFROM:
        return nm_real_recvfrom(fd, a->iov[0].iov_base, a->iov[0].iov_len,
                                a->flags, a->addr, a->alen);
    default:
        return nm_real_recvmsg(fd, a->msg, a->flags);
    }
}

/* May acceleration take bytes from this read? Not from a peek (nothing was
 * consumed), nor from calls whose semantics a second read would change. */
static bool may_accelerate(const struct rd *a)
{
    return !(a->flags & (MSG_PEEK | MSG_WAITALL | MSG_OOB)) &&
           (a->op != RD_RECVMSG || a->msg->msg_controllen == 0);
}

/* Moves bytes [skip, n) of iov to its start; returns n - skip. */
static size_t shift_left(const struct iovec *iov, int cnt, size_t skip,
                         size_t n)
{
    int di = 0, si = 0;
    size_t doff = 0, soff = skip, left = n - skip;
    while (si < cnt && soff >= iov[si].iov_len)
        soff -= iov[si++].iov_len;
    while (left > 0 && si < cnt && di < cnt) {
        size_t k = iov[si].iov_len - soff;
        if (iov[di].iov_len - doff < k)
            k = iov[di].iov_len - doff;
        if (left < k)
            k = left;
        memmove((char *)iov[di].iov_base + doff,
                (char *)iov[si].iov_base + soff, k);
        left -= k;
        if ((doff += k) == iov[di].iov_len)
            di++, doff = 0;
        if ((soff += k) == iov[si].iov_len)
            si++, soff = 0;
    }
    return n - skip;
}

/* The server read n > 0 bytes from fd: requests the shim answers itself
 * come out of them (accel.h), reading again when nothing is left; the
 * tracker sees the rest. Returns what the server's call returns. */
static ssize_t saw_read(int fd, const struct rd *a, ssize_t n)
{
    int saved = errno;
    nm_hooks_in_shim++;
    struct nm_conn *c = nm_track_acquire(fd);
    if (c == NULL && nm_fdtable_get(fd) == NM_FD_UNKNOWN)
        c = nm_track_adopt(fd);
    if (c != NULL)
        nm_storeview_tick(); /* the copy these requests are judged by */
    while (c != NULL && n > 0 && may_accelerate(a)) {
        c->link.h.fd = fd; /* the 304 leaves by the fd the server reads */
        size_t took = nm_accel_take(c, a->iov, a->cnt, (size_t)n);
        if (took == 0)
            break;
        n = (ssize_t)shift_left(a->iov, a->cnt, took, (size_t)n);
        if (n > 0)
            continue;
        /* Nothing left for the server: it gets what its call would have
         * given after its own 304. A blocking socket waits for the next
         * request; a non-blocking one gets EAGAIN only from the kernel. */
        nm_track_release(c);
        nm_hooks_in_shim--;
        errno = saved;
        before_read(fd, a->flags); /* the 304 goes out before any wait */
        n = read_again(fd, a);
        if (n == 0 && nm_hooks_should_follow())
            QUIETLY(nm_report_flush()); /* the process may _exit next */
        if (n <= 0 || !nm_hooks_should_follow())
            return n; /* errno as the real call left it */
        saved = errno;
        nm_hooks_in_shim++;
        c = nm_track_acquire(fd);
        if (c != NULL)
            nm_storeview_tick();
    }
    if (c != NULL) {
        nm_exchange_on_read(c, a->iov, a->cnt, (size_t)n);
        nm_track_release(c);
    }
    nm_flusher_note_read(c != NULL);
    nm_hooks_in_shim--;
    errno = saved;
    return n;
}

EXPORT ssize_t read(int fd, void *buf, size_t len)
{
    before_read(fd, 0);
    ssize_t r = nm_real_read(fd, buf, len);
    if (r > 0 && follows_read(fd)) {
        struct iovec v = {.iov_base = buf, .iov_len = len};
        struct rd a = {.op = RD_READ, .iov = &v, .cnt = 1};
        r = saw_read(fd, &a, r);
    }
    return r;
}

extern void __chk_fail(void) __attribute__((noreturn));

EXPORT ssize_t __read_chk(int fd, void *buf, size_t len, size_t buflen)
{
    if (len > buflen)
        __chk_fail();
    return read(fd, buf, len);
}

EXPORT ssize_t readv(int fd, const struct iovec *iov, int cnt)
{
    before_read(fd, 0);
    ssize_t r = nm_real_readv(fd, iov, cnt);
    if (r > 0 && follows_read(fd)) {
        struct rd a = {.op = RD_READV, .iov = iov, .cnt = cnt};
        r = saw_read(fd, &a, r);
    }
    return r;
}

EXPORT ssize_t recvfrom(int fd, void *buf, size_t len, int flags,
                        struct sockaddr *addr, socklen_t *alen)
{
    before_read(fd, flags);
    ssize_t r = nm_real_recvfrom(fd, buf, len, flags, addr, alen);
    /* MSG_PEEK bytes will be read again: never count them twice. */
    if (r > 0 && !(flags & MSG_PEEK) && follows_read(fd)) {
        struct iovec v = {.iov_base = buf, .iov_len = len};
        struct rd a = {.op = RD_RECVFROM,
                       .iov = &v,
                       .cnt = 1,
                       .flags = flags,
                       .addr = addr,
                       .alen = alen};
        r = saw_read(fd, &a, r);
    }
    return r;
}

EXPORT ssize_t recv(int fd, void *buf, size_t len, int flags)
{
    return recvfrom(fd, buf, len, flags, NULL, NULL);
}

EXPORT ssize_t __recv_chk(int fd, void *buf, size_t len, size_t buflen,
                          int flags)
{
    if (len > buflen)
        __chk_fail();
    return recvfrom(fd, buf, len, flags, NULL, NULL);
}

EXPORT ssize_t __recvfrom_chk(int fd, void *buf, size_t len, size_t buflen,
                              int flags, struct sockaddr *addr, socklen_t *alen)
{
    if (len > buflen)
        __chk_fail();
    return recvfrom(fd, buf, len, flags, addr, alen);
}

EXPORT ssize_t recvmsg(int fd, struct msghdr *msg, int flags)
{
    before_read(fd, flags);
    ssize_t r = nm_real_recvmsg(fd, msg, flags);
    if (r > 0 && !(flags & MSG_PEEK) && follows_read(fd)) {
        struct rd a = {.op = RD_RECVMSG,
                       .iov = msg->msg_iov,
                       .cnt = (int)msg->msg_iovlen,
                       .flags = flags,
                       .msg = msg};
        r = saw_read(fd, &a, r);
    }
    return r;
}

/* A server polling a connection for input waits on its client: what is
 * held for that client goes out first (nm_track_before_poll). A poll with
 * no timeout waits for nothing, like a non-blocking read. */
EXPORT int poll(struct pollfd *fds, nfds_t nfds, int timeout)
{
    if (timeout != 0 && nm_hooks_should_follow())
        for (nfds_t i = 0; i < nfds; i++)
            if ((fds[i].events & POLLIN) &&
                NM_FD_IS_CONN(nm_fdtable_get(fds[i].fd)))
                QUIETLY(nm_track_before_poll(fds[i].fd));
    if (timeout != 0 && nm_hooks_keeps_deferred())
        return nm_hooks_poll_deferred(fds, nfds, timeout);
    return nm_real_poll(fds, nfds, timeout);
}

EXPORT int __poll_chk(struct pollfd *fds, nfds_t nfds, int timeout,
                      size_t fdslen)
{
    if (fdslen / sizeof(*fds) < nfds)
        __chk_fail();
    return poll(fds, nfds, timeout);
}

/* ---- write side ---- */

/* Routes one server write to the tracker when fd is followed. */
static ssize_t do_write(int fd, enum nm_write_op op, const struct iovec *iov,
                        int cnt, int flags, bool *is_handled)
{
    *is_handled = false;
    if (!nm_hooks_should_follow())
        return 0;
    if (!NM_FD_IS_CONN(nm_fdtable_get(fd)))
        nm_hooks_before_fd_wait(fd, POLLOUT, flags);
    int saved = errno;
    nm_hooks_in_shim++;
    struct nm_conn *c = nm_track_acquire(fd);
    ssize_t r = 0;
    if (c != NULL) {
        *is_handled = true;
        r = nm_phase_write(c, (nm_handle_t){.fd = fd}, op, iov, cnt, flags);
        nm_track_release(c);
    }
    nm_hooks_in_shim--;
    if (!*is_handled || r >= 0)
        errno = saved;
    return r;
}

EXPORT ssize_t write(int fd, const void *buf, size_t len)
{
    struct iovec v = {.iov_base = (void *)buf, .iov_len = len};
    bool is_handled;
    ssize_t r = do_write(fd, NM_OP_WRITE, &v, 1, 0, &is_handled);
    return is_handled ? r : nm_real_write(fd, buf, len);
}

EXPORT ssize_t writev(int fd, const struct iovec *iov, int cnt)
{
    bool is_handled = false;
    ssize_t r = 0;
    if (cnt > 0) /* the kernel answers a bad count itself */
        r = do_write(fd, NM_OP_WRITE, iov, cnt, 0, &is_handled);
    return is_handled ? r : nm_real_writev(fd, iov, cnt);
}

EXPORT ssize_t send(int fd, const void *buf, size_t len, int flags)
{
    struct iovec v = {.iov_base = (void *)buf, .iov_len = len};
    bool is_handled;
    ssize_t r = do_write(fd, NM_OP_SEND, &v, 1, flags, &is_handled);
    return is_handled ? r : nm_real_send(fd, buf, len, flags);
}

EXPORT ssize_t sendto(int fd, const void *buf, size_t len, int flags,
                      const struct sockaddr *addr, socklen_t alen)
{
    bool is_handled = false;
    ssize_t r = 0;
    if (addr == NULL) { /* connected TCP: an address means datagrams */
        struct iovec v = {.iov_base = (void *)buf, .iov_len = len};
        r = do_write(fd, NM_OP_SEND, &v, 1, flags, &is_handled);
    }
    if (is_handled)
        return r;
    return nm_real_sendto(fd, buf, len, flags, addr, alen);
}

EXPORT ssize_t sendmsg(int fd, const struct msghdr *msg, int flags)
{
    bool is_handled = false;
    ssize_t r = 0;
    /* Ancillary data or an address: not an HTTP byte stream we follow. */
    if (msg->msg_controllen == 0 && msg->msg_name == NULL &&
        msg->msg_iovlen > 0)
        r = do_write(fd, NM_OP_SEND, msg->msg_iov, (int)msg->msg_iovlen, flags,
                     &is_handled);
    return is_handled ? r : nm_real_sendmsg(fd, msg, flags);
}

/* sendfile and sendfile64 are distinct imports (docs/interposition.md);
 * real is the one the server called, or its raw syscall before our
 * constructor. */
static ssize_t do_sendfile(int out, int in, off_t *off, size_t count,
                           ssize_t (*real)(int, int, off_t *, size_t))
{
    if (!nm_hooks_should_follow())
        return real(out, in, off, count);
    int saved = errno;
    nm_hooks_in_shim++;
    struct nm_conn *c = nm_track_acquire(out);
    ssize_t r;
    if (c != NULL) {
        r = nm_phase_sendfile(c, out, in, off, count, real);
        nm_track_release(c);
    } else {
        r = real(out, in, off, count);
    }
    nm_hooks_in_shim--;
    if (r >= 0)
        errno = saved;
    return r;
}

EXPORT ssize_t sendfile(int out, int in, off_t *off, size_t count)
{
    ssize_t (*real)(int, int, off_t *, size_t) = nm_real_fn_sendfile();
    return do_sendfile(out, in, off, count, real ? real : nm_raw_sendfile);
}

EXPORT ssize_t sendfile64(int out, int in, off_t *off, size_t count)
{
    ssize_t (*real)(int, int, off_t *, size_t) = nm_real_fn_sendfile64();
    return do_sendfile(out, in, off, count, real ? real : nm_raw_sendfile64);
}
