/* hooks_fd.c - the hooks of fd lifecycles: accept and connect (which
 * sockets to follow), close, shutdown, dup and close_range (an fd stops or
 * starts naming a connection; what the shim holds or owes goes out first,
 * through the SSL for a TLS connection's socket), and open (a file is
 * never a connection). Thin doors to track.c and hooks_ssl.c. */
#include "hooks.h"

#include "fdtable.h"
#include "headcache.h"
#include "hooks_ssl.h"
#include "process.h"
#include "report.h"
#include "symbols.h"
#include "track.h"

#include <fcntl.h>
#include <stdarg.h>
#include <sys/socket.h>
#include <unistd.h>

/* ---- fd lifecycle ---- */

/* fd's socket ends (close, shutdown): a TLS connection carried on it is
 * drained through its SSL first. */
static void tls_socket_ends(int fd)
{
    if (nm_fdtable_get(fd) == NM_FD_TLS)
        nm_hooks_ssl_socket_ends(fd);
}

static void forget(int fd)
{
    if (nm_hooks_may_touch_state())
        QUIETLY(tls_socket_ends(fd); nm_hooks_forget_cached(fd);
                nm_track_forget_fd(fd));
}

/* A connection accepted on listen_fd: follow it if the listener is ours.
 * The first accept activates an armed shim. */
static int accepted(int listen_fd, int r)
{
    if (r >= 0 && nm_hooks_may_touch_state() && nm_hooks_activate())
        QUIETLY(nm_hooks_forget_cached(r); nm_track_on_accept(listen_fd, r));
    return r;
}

EXPORT int accept4(int fd, struct sockaddr *addr, socklen_t *alen, int flags)
{
    nm_hooks_before_fd_wait(fd, POLLIN, 0);
    return accepted(fd, nm_real_accept4(fd, addr, alen, flags));
}

EXPORT int accept(int fd, struct sockaddr *addr, socklen_t *alen)
{
    nm_hooks_before_fd_wait(fd, POLLIN, 0);
    return accepted(fd, nm_real_accept(fd, addr, alen));
}

/* A socket this process connects is its client side (Apache to php-fpm or
 * a backend): never followed, whatever its ports (adoption would take its
 * replies for requests). */
EXPORT int connect(int fd, const struct sockaddr *addr, socklen_t len)
{
    nm_hooks_before_fd_wait(fd, 0, 0); /* a blocking connect waits */
    int r = nm_real_connect(fd, addr, len);
    if (fd >= 0 && nm_hooks_may_touch_state())
        QUIETLY(nm_hooks_forget_cached(fd); nm_track_drop_stale_fd(fd);
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
    if (nm_hooks_may_touch_state() && how != SHUT_RD)
        QUIETLY(tls_socket_ends(fd); nm_track_drain(fd));
    return nm_real_shutdown(fd, how);
}

static void dup_to(int oldfd, int newfd)
{
    if (newfd < 0)
        return;
    if (nm_hooks_may_touch_state())
        QUIETLY(nm_hooks_forget_cached(newfd); nm_track_dup_fd(oldfd, newfd));
    else if (nm_hooks_in_vfork) /* a name the exec'd program may inherit */
        nm_process_vfork_child_dup(newfd);
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
    if (nm_hooks_may_touch_state() && !(flags & CLOSE_RANGE_CLOEXEC))
        QUIETLY(nm_report_range_gone(first, last);
                nm_track_forget_range(first, last));
    return nm_real_close_range(first, last, flags);
}

/* ---- files: never sockets, so mark them at birth ---- */

/* A file fd is never a connection: recording that now spares the first
 * read on it the socket check (a getsockopt) that unknown fds get. */
static int opened(int fd, int flags, const char *path)
{
    if (fd < 0 || !nm_hooks_may_touch_state())
        return fd;
    /* A file opened to be read may be a body the server sends next: its
     * tag can then serve the URL's HEAD and 304 (headcache.h). */
    bool may_be_body =
        (flags & O_ACCMODE) == O_RDONLY && !(flags & (O_DIRECTORY | O_PATH));
    /* a number closed unseen is reused */
    QUIETLY(nm_hooks_forget_cached(fd); nm_track_drop_stale_fd(fd);
            nm_fdtable_set(fd, NM_FD_IGNORED));
    if (may_be_body)
        nm_headcache_note_open(fd, path);
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
    return opened(nm_real_open(path, flags, mode), flags, path);
}

EXPORT int open64(const char *path, int flags, ...)
{
    MODE_ARG(flags);
    return opened(nm_real_open64(path, flags, mode), flags, path);
}

EXPORT int openat(int dirfd, const char *path, int flags, ...)
{
    MODE_ARG(flags);
    return opened(nm_real_openat(dirfd, path, flags, mode), flags, path);
}

EXPORT int openat64(int dirfd, const char *path, int flags, ...)
{
    MODE_ARG(flags);
    return opened(nm_real_openat64(dirfd, path, flags, mode), flags, path);
}

/* The fortified forms (-D_FORTIFY_SOURCE with flags not known at compile
 * time: h2o, busybox) are names of their own. */
EXPORT int __open_2(const char *path, int flags)
{
    return opened(nm_real___open_2(path, flags), flags, path);
}

EXPORT int __open64_2(const char *path, int flags)
{
    return opened(nm_real___open64_2(path, flags), flags, path);
}

EXPORT int __openat_2(int dirfd, const char *path, int flags)
{
    return opened(nm_real___openat_2(dirfd, path, flags), flags, path);
}

EXPORT int __openat64_2(int dirfd, const char *path, int flags)
{
    return opened(nm_real___openat64_2(dirfd, path, flags), flags, path);
}
