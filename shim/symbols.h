/* symbols.h - the one way the shim reaches the libc functions it hooks.
 * One list (NM_REAL_FUNCS) makes the table of real functions and for each
 * one an nm_real_x() that calls it. An entry is looked up with
 * dlsym(RTLD_NEXT) at its first use, or all at once when the shim becomes
 * active (nm_symbols_resolve): a process that never follows a connection
 * (each program a CGI execs) pays for the few functions it calls, not for
 * the whole list. Before our constructor ran, and inside a lookup, the
 * raw syscall stands in (hooks can run before our constructor:
 * docs/interposition.md), never dlsym or malloc.
 *
 * The rule: a function the shim exports as a hook is reached only through
 * nm_real_x(), by the hooks and by every call the shim makes for itself (a
 * call to the hook would be followed, or recurse). Functions the shim does
 * not hook (pread, fstat, getsockopt...) are called directly. The bottom
 * layer: includes nothing of the shim. */
#ifndef NM_SHIM_SYMBOLS_H
#define NM_SHIM_SYMBOLS_H

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/select.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* glibc's fortified open forms, declared by <fcntl.h> only in fortified
 * builds: the table needs their types. */
int __open_2(const char *path, int flags);
int __open64_2(const char *path, int flags);
int __openat_2(int dirfd, const char *path, int flags);
int __openat64_2(int dirfd, const char *path, int flags);

/* The raw ppoll and pselect6 write the time left into their timeout, which
 * the libc functions take const: the fallbacks pass a copy. */
#define NM_TS_COPY_(t)                                                         \
    ((t) != NULL ? &(struct timespec){(t)->tv_sec, (t)->tv_nsec} : NULL)
/* pselect6's sixth argument. */
struct nm_sigmask_arg_ {
    const sigset_t *mask;
    size_t size;
};

/* X(return type, name, parameters, arguments, fallback before resolution).
 * The table entry has libc's own type for name (variadic for fcntl and
 * open: their third argument is passed on as the ABI carries it). */
#define NM_REAL_FUNCS(X)                                                       \
    X(ssize_t, read, (int fd, void *buf, size_t len), (fd, buf, len),          \
      syscall(SYS_read, fd, buf, len))                                         \
    X(ssize_t, readv, (int fd, const struct iovec *iov, int cnt),              \
      (fd, iov, cnt), syscall(SYS_readv, fd, iov, cnt))                        \
    X(ssize_t, recv, (int fd, void *buf, size_t len, int flags),               \
      (fd, buf, len, flags), syscall(SYS_recvfrom, fd, buf, len, flags, 0, 0)) \
    X(ssize_t, recvfrom,                                                       \
      (int fd, void *buf, size_t len, int flags, struct sockaddr *addr,        \
       socklen_t *alen),                                                       \
      (fd, buf, len, flags, addr, alen),                                       \
      syscall(SYS_recvfrom, fd, buf, len, flags, addr, alen))                  \
    X(ssize_t, recvmsg, (int fd, struct msghdr *msg, int flags),               \
      (fd, msg, flags), syscall(SYS_recvmsg, fd, msg, flags))                  \
    X(ssize_t, write, (int fd, const void *buf, size_t len), (fd, buf, len),   \
      syscall(SYS_write, fd, buf, len))                                        \
    X(ssize_t, writev, (int fd, const struct iovec *iov, int cnt),             \
      (fd, iov, cnt), syscall(SYS_writev, fd, iov, cnt))                       \
    X(ssize_t, send, (int fd, const void *buf, size_t len, int flags),         \
      (fd, buf, len, flags), syscall(SYS_sendto, fd, buf, len, flags, 0, 0))   \
    X(ssize_t, sendto,                                                         \
      (int fd, const void *buf, size_t len, int flags,                         \
       const struct sockaddr *addr, socklen_t alen),                           \
      (fd, buf, len, flags, addr, alen),                                       \
      syscall(SYS_sendto, fd, buf, len, flags, addr, alen))                    \
    X(ssize_t, sendmsg, (int fd, const struct msghdr *msg, int flags),         \
      (fd, msg, flags), syscall(SYS_sendmsg, fd, msg, flags))                  \
    X(ssize_t, sendfile, (int out, int in, off_t *off, size_t count),          \
      (out, in, off, count), syscall(SYS_sendfile, out, in, off, count))       \
    X(ssize_t, sendfile64, (int out, int in, off_t *off, size_t count),        \
      (out, in, off, count), syscall(SYS_sendfile, out, in, off, count))       \
    X(int, accept, (int fd, struct sockaddr *addr, socklen_t *alen),           \
      (fd, addr, alen), syscall(SYS_accept, fd, addr, alen))                   \
    X(int, accept4,                                                            \
      (int fd, struct sockaddr *addr, socklen_t *alen, int flags),             \
      (fd, addr, alen, flags), syscall(SYS_accept4, fd, addr, alen, flags))    \
    X(int, connect, (int fd, const struct sockaddr *addr, socklen_t len),      \
      (fd, addr, len), syscall(SYS_connect, fd, addr, len))                    \
    X(int, close, (int fd), (fd), syscall(SYS_close, fd))                      \
    X(int, shutdown, (int fd, int how), (fd, how),                             \
      syscall(SYS_shutdown, fd, how))                                          \
    X(int, dup, (int fd), (fd), syscall(SYS_dup, fd))                          \
    X(int, dup2, (int oldfd, int newfd), (oldfd, newfd),                       \
      syscall(SYS_dup2, oldfd, newfd))                                         \
    X(int, dup3, (int oldfd, int newfd, int flags), (oldfd, newfd, flags),     \
      syscall(SYS_dup3, oldfd, newfd, flags))                                  \
    X(int, close_range, (unsigned first, unsigned last, int flags),            \
      (first, last, flags), syscall(SYS_close_range, first, last, flags))      \
    X(int, fcntl, (int fd, int cmd, void *arg), (fd, cmd, arg),                \
      syscall(SYS_fcntl, fd, cmd, arg))                                        \
    X(int, fcntl64, (int fd, int cmd, void *arg), (fd, cmd, arg),              \
      syscall(SYS_fcntl, fd, cmd, arg))                                        \
    X(int, open, (const char *path, int flags, mode_t mode),                   \
      (path, flags, mode), syscall(SYS_openat, AT_FDCWD, path, flags, mode))   \
    X(int, open64, (const char *path, int flags, mode_t mode),                 \
      (path, flags, mode),                                                     \
      syscall(SYS_openat, AT_FDCWD, path, flags | O_LARGEFILE, mode))          \
    X(int, openat, (int dirfd, const char *path, int flags, mode_t mode),      \
      (dirfd, path, flags, mode),                                              \
      syscall(SYS_openat, dirfd, path, flags, mode))                           \
    X(int, openat64, (int dirfd, const char *path, int flags, mode_t mode),    \
      (dirfd, path, flags, mode),                                              \
      syscall(SYS_openat, dirfd, path, flags | O_LARGEFILE, mode))             \
    X(int, __open_2, (const char *path, int flags), (path, flags),             \
      syscall(SYS_openat, AT_FDCWD, path, flags))                              \
    X(int, __open64_2, (const char *path, int flags), (path, flags),           \
      syscall(SYS_openat, AT_FDCWD, path, flags | O_LARGEFILE))                \
    X(int, __openat_2, (int dirfd, const char *path, int flags),               \
      (dirfd, path, flags), syscall(SYS_openat, dirfd, path, flags))           \
    X(int, __openat64_2, (int dirfd, const char *path, int flags),             \
      (dirfd, path, flags),                                                    \
      syscall(SYS_openat, dirfd, path, flags | O_LARGEFILE))                   \
    X(int, poll, (struct pollfd * fds, nfds_t nfds, int timeout),              \
      (fds, nfds, timeout), syscall(SYS_poll, fds, nfds, timeout))             \
    X(int, ppoll,                                                              \
      (struct pollfd * fds, nfds_t nfds, const struct timespec *tmo,           \
       const sigset_t *mask),                                                  \
      (fds, nfds, tmo, mask),                                                  \
      syscall(SYS_ppoll, fds, nfds, NM_TS_COPY_(tmo), mask, _NSIG / 8))        \
    X(int, select,                                                             \
      (int n, fd_set *rd, fd_set *wr, fd_set *ex, struct timeval *tmo),        \
      (n, rd, wr, ex, tmo), syscall(SYS_select, n, rd, wr, ex, tmo))           \
    X(int, pselect,                                                            \
      (int n, fd_set *rd, fd_set *wr, fd_set *ex, const struct timespec *tmo,  \
       const sigset_t *mask),                                                  \
      (n, rd, wr, ex, tmo, mask),                                              \
      syscall(SYS_pselect6, n, rd, wr, ex, NM_TS_COPY_(tmo),                   \
              &(struct nm_sigmask_arg_){mask, _NSIG / 8}))                     \
    X(int, epoll_wait, (int ep, struct epoll_event *ev, int max, int tmo),     \
      (ep, ev, max, tmo), syscall(SYS_epoll_wait, ep, ev, max, tmo))           \
    X(int, epoll_pwait,                                                        \
      (int ep, struct epoll_event *ev, int max, int tmo,                       \
       const sigset_t *mask),                                                  \
      (ep, ev, max, tmo, mask),                                                \
      syscall(SYS_epoll_pwait, ep, ev, max, tmo, mask, _NSIG / 8))             \
    X(int, epoll_pwait2,                                                       \
      (int ep, struct epoll_event *ev, int max, const struct timespec *tmo,    \
       const sigset_t *mask),                                                  \
      (ep, ev, max, tmo, mask),                                                \
      syscall(SYS_epoll_pwait2, ep, ev, max, tmo, mask, _NSIG / 8))            \
    X(int, nanosleep, (const struct timespec *req, struct timespec *rem),      \
      (req, rem), syscall(SYS_nanosleep, req, rem))                            \
    X(int, clock_nanosleep,                                                    \
      (clockid_t clk, int flags, const struct timespec *req,                   \
       struct timespec *rem),                                                  \
      (clk, flags, req, rem),                                                  \
      syscall(SYS_clock_nanosleep, clk, flags, req, rem) == 0 ? 0 : errno)     \
    X(unsigned, sleep, (unsigned secs), (secs),                                \
      (syscall(SYS_nanosleep, &(struct timespec){(time_t)secs, 0}, NULL), 0u)) \
    X(int, usleep, (useconds_t usecs), (usecs),                                \
      syscall(SYS_nanosleep,                                                   \
              &(struct timespec){(time_t)(usecs / 1000000),                    \
                                 (long)(usecs % 1000000) * 1000},              \
              NULL))                                                           \
    X(int, pause, (void), (), syscall(SYS_pause))                              \
    X(int, sigsuspend, (const sigset_t *mask), (mask),                         \
      syscall(SYS_rt_sigsuspend, mask, _NSIG / 8))                             \
    X(pid_t, wait, (int *status), (status),                                    \
      syscall(SYS_wait4, -1, status, 0, NULL))                                 \
    X(pid_t, waitpid, (pid_t pid, int *status, int options),                   \
      (pid, status, options), syscall(SYS_wait4, pid, status, options, NULL))  \
    X(pid_t, wait3, (int *status, int options, struct rusage *ru),             \
      (status, options, ru), syscall(SYS_wait4, -1, status, options, ru))      \
    X(pid_t, wait4, (pid_t pid, int *status, int options, struct rusage *ru),  \
      (pid, status, options, ru),                                              \
      syscall(SYS_wait4, pid, status, options, ru))                            \
    X(int, waitid, (idtype_t type, id_t id, siginfo_t * info, int options),    \
      (type, id, info, options),                                               \
      syscall(SYS_waitid, type, id, info, options, NULL))                      \
    X(pid_t, fork, (void), (), syscall(SYS_fork))                              \
    X(int, execve, (const char *path, char *const argv[], char *const envp[]), \
      (path, argv, envp), syscall(SYS_execve, path, argv, envp))               \
    X(int, execv, (const char *path, char *const argv[]), (path, argv),        \
      syscall(SYS_execve, path, argv, environ))                                \
    X(int, execvp, (const char *file, char *const argv[]), (file, argv),       \
      ((void)file, (void)argv, errno = ENOSYS, -1))

/* The resolved functions, each of libc's type; NULL until looked up. */
#define NM_REAL_ENTRY_(ret, name, params, args, fallback)                      \
    __typeof__(name) *name;
struct nm_real_fns {
    NM_REAL_FUNCS(NM_REAL_ENTRY_)
};
#undef NM_REAL_ENTRY_

/* Hidden: the hooks read it on every call, without a GOT load. */
extern struct nm_real_fns nm_real __attribute__((visibility("hidden")));

/* Called by the constructor: from now on entries may be looked up. */
void nm_symbols_allow_lookup(void);

/* Looks every entry up; called when the shim becomes active, so that a
 * server meets no lookup later. Returns 0, or -1 when a lookup returned
 * our own hook (shim loaded twice): then stay inert. */
int nm_symbols_resolve(void);

/* Each entry's index, for nm_symbols_lookup. */
#define NM_REAL_INDEX_(ret, name, params, args, fallback) NM_SYM_##name,
enum { NM_REAL_FUNCS(NM_REAL_INDEX_) NM_SYM_COUNT };
#undef NM_REAL_INDEX_

/* The real function of entry index (dlsym(RTLD_NEXT)), or NULL before the
 * constructor, inside another lookup on this thread, or when libc has
 * none (asked once: a failing dlsym allocates). */
void *nm_symbols_lookup(int index);

/* nm_raw_x: the fallback alone (a raw syscall). nm_real_fn_x: the real
 * function, looked up at its first use, or NULL (then use nm_raw_x).
 * nm_real_x: calls the real function, or the fallback. Inline: the
 * hooks' path. A racing first use stores the same pointer twice. */
#define NM_REAL_CALLS_(ret, name, params, args, fallback)                      \
    static inline ret nm_raw_##name params                                     \
    {                                                                          \
        return (ret)(fallback);                                                \
    }                                                                          \
    static inline __typeof__(name) *nm_real_fn_##name(void)                    \
    {                                                                          \
        __typeof__(name) *fn =                                                 \
            __atomic_load_n(&nm_real.name, __ATOMIC_RELAXED);                  \
        if (__builtin_expect(fn == NULL, 0)) {                                 \
            fn = (__typeof__(name) *)nm_symbols_lookup(NM_SYM_##name);         \
            if (fn != NULL)                                                    \
                __atomic_store_n(&nm_real.name, fn, __ATOMIC_RELAXED);         \
        }                                                                      \
        return fn;                                                             \
    }                                                                          \
    static inline ret nm_real_##name params                                    \
    {                                                                          \
        __typeof__(name) *fn = nm_real_fn_##name();                            \
        return fn != NULL ? fn args : nm_raw_##name args;                      \
    }
NM_REAL_FUNCS(NM_REAL_CALLS_)
#undef NM_REAL_CALLS_

#endif
