/* transport_sock.c - see transport_sock.h. */
#include "transport_sock.h"

#include "symbols.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>

static ssize_t sock_pass(nm_handle_t h, enum nm_write_op op,
                         const struct iovec *iov, int cnt, int flags)
{
    if (op == NM_OP_WRITE)
        return cnt == 1 ? nm_real_write(h.fd, iov[0].iov_base, iov[0].iov_len)
                        : nm_real_writev(h.fd, iov, cnt);
    if (cnt == 1)
        return nm_real_send(h.fd, iov[0].iov_base, iov[0].iov_len, flags);
    struct msghdr msg = {.msg_iov = (struct iovec *)iov,
                         .msg_iovlen = (size_t)cnt};
    return nm_real_sendmsg(h.fd, &msg, flags);
}

/* MSG_NOSIGNAL: a late write to a closed client must not raise SIGPIPE in
 * a server that does not ignore it. */
static ssize_t sock_send_own(nm_handle_t h, const struct iovec *iov, int cnt)
{
    struct msghdr msg = {.msg_iov = (struct iovec *)iov,
                         .msg_iovlen = (size_t)cnt};
    return nm_real_sendmsg(h.fd, &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
}

static ssize_t sock_send_own_file(nm_handle_t h, int fd, off_t *off, size_t len)
{
    return nm_real_sendfile(h.fd, fd, off, len);
}

static bool sock_is_nonblocking(nm_handle_t h)
{
    int fl = nm_real_fcntl(h.fd, F_GETFL, NULL);
    return fl >= 0 && (fl & O_NONBLOCK);
}

static bool sock_wait_writable(nm_handle_t h, int timeout_ms)
{
    struct pollfd pfd = {.fd = h.fd, .events = POLLOUT};
    int r;
    do
        r = nm_real_poll(&pfd, 1, timeout_ms);
    while (r < 0 && errno == EINTR);
    return r > 0 && !(pfd.revents & (POLLERR | POLLNVAL));
}

/* A poll with no timeout tells whether input, EOF or an error is there
 * without taking a byte. MSG_WAITALL on a blocking socket waits for more
 * than may be there. */
static bool sock_read_could_block(nm_handle_t h, int flags)
{
    if ((flags & MSG_DONTWAIT) || sock_is_nonblocking(h))
        return false;
    if (flags & MSG_WAITALL)
        return true;
    struct pollfd pfd = {.fd = h.fd, .events = POLLIN};
    int r;
    do
        r = nm_real_poll(&pfd, 1, 0);
    while (r < 0 && errno == EINTR);
    return r == 0;
}

static void sock_shut_output(nm_handle_t h)
{
    nm_real_shutdown(h.fd, SHUT_WR);
}

static int sock_fd_of(nm_handle_t h)
{
    return h.fd;
}

const struct nm_transport nm_transport_sock = {
    .pass = sock_pass,
    .send_own = sock_send_own,
    .send_own_file = sock_send_own_file,
    .is_nonblocking = sock_is_nonblocking,
    .wait_writable = sock_wait_writable,
    .read_could_block = sock_read_could_block,
    .shut_output = sock_shut_output,
    .fd_of = sock_fd_of,
};
