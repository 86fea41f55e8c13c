/* hooks_io.c - the exported hooks: the only symbols libnotmod.so exports
 * (exports.map, unversioned so they bind to every libc version node).
 * Each one is a thin door: untracked fds go straight to the real function
 * with a single table load; tracked ones go to conn.c. errno is the real
 * call's on failure and left as it was on success. */
#include "config.h"
#include "conn.h"
#include "fdtable.h"
#include "filehash.h"
#include "flusher.h"
#include "headcache.h"
#include "hooks_ssl.h"
#include "tagwatch.h"
#include "log.h"
#include "report.h"
#include "storeview.h"
#include "symbols.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#define EXPORT __attribute__((visibility("default")))

/* Set once the constructor resolved everything and config allows work. */
static bool is_active;
/* Calls made by the shim itself on this thread are never followed. */
static __thread int in_shim;

static inline bool should_follow(void)
{
    return is_active && in_shim == 0;
}

/* Runs the shim's own work inside a hook: the server's errno is kept, and
 * calls the work makes are not followed. */
#define QUIETLY(work)                                                          \
    do {                                                                       \
        int saved_errno_ = errno;                                              \
        in_shim++;                                                             \
        work;                                                                  \
        in_shim--;                                                             \
        errno = saved_errno_;                                                  \
    } while (0)

/* fd no longer names what it named: forget what we cached about that
 * number (our event socket may even have been closed behind our back). */
static void forget_cached(int fd)
{
    nm_report_fd_gone(fd);
}

/* ---- lifecycle ---- */

static void before_fork(void)
{
    in_shim++;
    nm_conn_before_fork();
    in_shim--;
}

static void after_fork_parent(void)
{
    nm_conn_after_fork_parent();
}

static void after_fork_child(void)
{
    nm_filehash_after_fork_child();
    nm_headcache_after_fork_child();
    nm_flusher_after_fork_child();
    nm_report_after_fork_child();
    nm_storeview_after_fork_child();
    nm_conn_after_fork_child();
    nm_hooks_ssl_after_fork_child();
}

/* The flusher calls back into the layers above it. */
static const struct nm_flusher_ops flusher_ops = {
    .flush_item = nm_conn_flush_watched,
    .tick = nm_report_tick,
    /* The event socket is opened while the process has one thread: see
     * nm_report_open. */
    .before_start = nm_report_open,
};

__attribute__((constructor)) static void nm_shim_init(void)
{
    nm_log_open();
    nm_config_load();
    if (nm_symbols_resolve() != 0) {
        nm_log(NM_LOG_ERROR, "libnotmod.so loaded twice: staying inert");
        return;
    }
    if (nm_cfg.is_disabled)
        return;
    nm_flusher_init(&flusher_ops);
    pthread_atfork(before_fork, after_fork_parent, after_fork_child);
    nm_tagwatch_init(); /* before the server forks: shared by its workers */
    is_active = true;
    nm_hooks_ssl_enable();
    nm_log(NM_LOG_INFO, "active (hold max %llu bytes)",
           (unsigned long long)nm_cfg.hold_max_bytes);
}

/* exit() (not _exit) after writing a response: deliver what is held. */
__attribute__((destructor)) static void nm_shim_fini(void)
{
    if (is_active)
        QUIETLY(nm_conn_deliver_at_exit());
}

/* ---- read side ---- */

/* Before a read on a tracked connection: see nm_conn_before_read. */
static inline void before_read(int fd, int flags)
{
    if (should_follow() && NM_FD_IS_CONN(nm_fdtable_get(fd)))
        QUIETLY(nm_conn_before_read(fd, flags));
}

/* The server read n > 0 bytes from fd: let the tracker see them. */
static void saw_read(int fd, const struct iovec *iov, int cnt, ssize_t n)
{
    int saved = errno;
    in_shim++;
    struct nm_conn *c = nm_conn_acquire(fd);
    if (c == NULL && nm_fdtable_get(fd) == NM_FD_UNKNOWN)
        c = nm_conn_adopt(fd);
    if (c != NULL) {
        nm_conn_on_read(c, iov, cnt, (size_t)n);
        nm_conn_release(c);
    }
    in_shim--;
    errno = saved;
}

EXPORT ssize_t read(int fd, void *buf, size_t len)
{
    before_read(fd, 0);
    ssize_t r = nm_real_read(fd, buf, len);
    if (r > 0 && should_follow()) {
        struct iovec v = {.iov_base = buf, .iov_len = (size_t)r};
        saw_read(fd, &v, 1, r);
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
    if (r > 0 && should_follow())
        saw_read(fd, iov, cnt, r);
    return r;
}

EXPORT ssize_t recvfrom(int fd, void *buf, size_t len, int flags,
                        struct sockaddr *addr, socklen_t *alen)
{
    before_read(fd, flags);
    ssize_t r = nm_real_recvfrom(fd, buf, len, flags, addr, alen);
    /* MSG_PEEK bytes will be read again: never count them twice. */
    if (r > 0 && !(flags & MSG_PEEK) && should_follow()) {
        struct iovec v = {.iov_base = buf, .iov_len = (size_t)r};
        saw_read(fd, &v, 1, r);
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
    if (r > 0 && !(flags & MSG_PEEK) && should_follow())
        saw_read(fd, msg->msg_iov, (int)msg->msg_iovlen, r);
    return r;
}

/* A server polling a connection for input waits on its client: what is
 * held for that client goes out first (nm_conn_before_poll). A poll with
 * no timeout waits for nothing, like a non-blocking read. */
EXPORT int poll(struct pollfd *fds, nfds_t nfds, int timeout)
{
    if (timeout != 0 && should_follow())
        for (nfds_t i = 0; i < nfds; i++)
            if ((fds[i].events & POLLIN) &&
                NM_FD_IS_CONN(nm_fdtable_get(fds[i].fd)))
                QUIETLY(nm_conn_before_poll(fds[i].fd));
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
    if (!should_follow())
        return 0;
    int saved = errno;
    in_shim++;
    struct nm_conn *c = nm_conn_acquire(fd);
    ssize_t r = 0;
    if (c != NULL) {
        *is_handled = true;
        r = nm_conn_write(c, (nm_handle_t){.fd = fd}, op, iov, cnt, flags);
        nm_conn_release(c);
    }
    in_shim--;
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
 * real is the one the server called, or its raw syscall before
 * resolution. */
static ssize_t do_sendfile(int out, int in, off_t *off, size_t count,
                           ssize_t (*real)(int, int, off_t *, size_t))
{
    if (!should_follow())
        return real(out, in, off, count);
    int saved = errno;
    in_shim++;
    struct nm_conn *c = nm_conn_acquire(out);
    ssize_t r;
    if (c != NULL) {
        r = nm_conn_sendfile(c, out, in, off, count, real);
        nm_conn_release(c);
    } else {
        r = real(out, in, off, count);
    }
    in_shim--;
    if (r >= 0)
        errno = saved;
    return r;
}

EXPORT ssize_t sendfile(int out, int in, off_t *off, size_t count)
{
    return do_sendfile(out, in, off, count,
                       nm_real.sendfile ? nm_real.sendfile : nm_raw_sendfile);
}

EXPORT ssize_t sendfile64(int out, int in, off_t *off, size_t count)
{
    return do_sendfile(out, in, off, count,
                       nm_real.sendfile64 ? nm_real.sendfile64
                                          : nm_raw_sendfile64);
}

/* ---- fd lifecycle ---- */

static void forget(int fd)
{
    if (is_active)
        QUIETLY(forget_cached(fd); nm_conn_forget_fd(fd));
}

/* A connection accepted on listen_fd: follow it if the listener is ours. */
static int accepted(int listen_fd, int r)
{
    if (r >= 0 && is_active)
        QUIETLY(forget_cached(r); nm_conn_on_accept(listen_fd, r));
    return r;
}

EXPORT int accept4(int fd, struct sockaddr *addr, socklen_t *alen, int flags)
{
    return accepted(fd, nm_real_accept4(fd, addr, alen, flags));
}

EXPORT int accept(int fd, struct sockaddr *addr, socklen_t *alen)
{
    return accepted(fd, nm_real_accept(fd, addr, alen));
}

/* A socket this process connects is its client side (Apache to php-fpm or
 * a backend): never followed, whatever its ports (adoption would take its
 * replies for requests). */
EXPORT int connect(int fd, const struct sockaddr *addr, socklen_t len)
{
    int r = nm_real_connect(fd, addr, len);
    if (fd >= 0 && should_follow())
        QUIETLY(forget_cached(fd); nm_conn_drop_stale_fd(fd);
                nm_fdtable_set(fd, NM_FD_IGNORED));
    return r;
}

EXPORT int close(int fd)
{
    forget(fd);
    return nm_real_close(fd);
}

EXPORT int shutdown(int fd, int how)
{
    if (is_active && how != SHUT_RD)
        QUIETLY(nm_conn_drain(fd));
    return nm_real_shutdown(fd, how);
}

static void dup_to(int oldfd, int newfd)
{
    if (newfd >= 0 && is_active)
        QUIETLY(forget_cached(newfd); nm_conn_dup_fd(oldfd, newfd));
}

EXPORT int dup(int fd)
{
    int r = nm_real_dup(fd);
    dup_to(fd, r);
    return r;
}

EXPORT int dup2(int oldfd, int newfd)
{
    /* dup2 closes newfd implicitly: deliver what it owes first. */
    if (oldfd != newfd)
        forget(newfd);
    int r = nm_real_dup2(oldfd, newfd);
    dup_to(oldfd, r);
    return r;
}

EXPORT int dup3(int oldfd, int newfd, int flags)
{
    if (oldfd != newfd)
        forget(newfd);
    int r = nm_real_dup3(oldfd, newfd, flags);
    dup_to(oldfd, r);
    return r;
}

/* A dup through fcntl: its new fd names the same connection. */
static int fcntl_done(int fd, int cmd, int r)
{
    if ((cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC) && r >= 0)
        dup_to(fd, r);
    return r;
}

/* fcntl and fcntl64 are distinct imports (docs/interposition.md); the
 * third argument is an int or a pointer, passed on as the ABI carries it. */
EXPORT int fcntl(int fd, int cmd, ...)
{
    va_list ap;
    va_start(ap, cmd);
    void *arg = va_arg(ap, void *);
    va_end(ap);
    return fcntl_done(fd, cmd, nm_real_fcntl(fd, cmd, arg));
}

EXPORT int fcntl64(int fd, int cmd, ...)
{
    va_list ap;
    va_start(ap, cmd);
    void *arg = va_arg(ap, void *);
    va_end(ap);
    return fcntl_done(fd, cmd, nm_real_fcntl64(fd, cmd, arg));
}

EXPORT int close_range(unsigned first, unsigned last, int flags)
{
    if (is_active && !(flags & CLOSE_RANGE_CLOEXEC))
        QUIETLY(nm_report_range_gone(first, last);
                nm_conn_forget_range(first, last));
    return nm_real_close_range(first, last, flags);
}

/* ---- files: never sockets, so mark them at birth ---- */

/* A file fd is never a connection: recording that now spares the first
 * read on it the socket check (a getsockopt) that unknown fds get. */
static int opened(int fd)
{
    if (fd >= 0 && is_active) /* a number closed unseen may be reused */
        QUIETLY(forget_cached(fd); nm_conn_drop_stale_fd(fd);
                nm_fdtable_set(fd, NM_FD_IGNORED));
    return fd;
}

/* The mode argument exists only with O_CREAT or O_TMPFILE. */
#define MODE_ARG(flags)                                                        \
    mode_t mode = 0;                                                           \
    if ((flags) & (O_CREAT | __O_TMPFILE)) {                                   \
        va_list ap;                                                            \
        va_start(ap, flags);                                                   \
        mode = (mode_t)va_arg(ap, int);                                        \
        va_end(ap);                                                            \
    }

EXPORT int open(const char *path, int flags, ...)
{
    MODE_ARG(flags);
    return opened(nm_real_open(path, flags, mode));
}

EXPORT int open64(const char *path, int flags, ...)
{
    MODE_ARG(flags);
    return opened(nm_real_open64(path, flags, mode));
}

EXPORT int openat(int dirfd, const char *path, int flags, ...)
{
    MODE_ARG(flags);
    return opened(nm_real_openat(dirfd, path, flags, mode));
}

EXPORT int openat64(int dirfd, const char *path, int flags, ...)
{
    MODE_ARG(flags);
    return opened(nm_real_openat64(dirfd, path, flags, mode));
}

/* ---- processes ---- */

/* vfork's child shares our memory and would run hooks on the parent's
 * table; fork gives the same semantics to a correct vfork user. */
EXPORT pid_t vfork(void)
{
    return nm_real_fork();
}

/* Nothing held may cross exec: the new image has no shim state. */
static void before_exec(void)
{
    if (is_active)
        QUIETLY(nm_conn_before_exec());
}

EXPORT int execve(const char *path, char *const argv[], char *const envp[])
{
    before_exec();
    return nm_real_execve(path, argv, envp);
}

EXPORT int execv(const char *path, char *const argv[])
{
    before_exec();
    return nm_real_execv(path, argv);
}

EXPORT int execvp(const char *file, char *const argv[])
{
    before_exec();
    return nm_real_execvp(file, argv);
}
