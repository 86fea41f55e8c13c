/* hooks.h - what the hook files (hooks_io.c, hooks_fd.c, hooks_proc.c)
 * share: whether the shim is armed or active (and the step from one to the
 * other), the per-thread mark of calls the shim makes itself (never
 * followed), and QUIETLY, which runs the shim's own work inside a hook
 * keeping the server's errno. The top layer: the hooks are the only
 * symbols libnotmod.so exports (exports.map). */
#ifndef NM_SHIM_HOOKS_H
#define NM_SHIM_HOOKS_H

#include "flusher.h"
#include "report.h"

#include <errno.h>
#include <poll.h>
#include <stdbool.h>

#define EXPORT __attribute__((visibility("default")))

/* Loading the shim costs a process almost nothing: the constructor only
 * arms it. Armed, the hooks pass every call through and keep the fd
 * table's marks (files, client sockets, fds found not to be TCP); the
 * first accept, or the first read on an unmarked TCP socket, activates
 * it (nm_hooks_activate: configuration, log, libc's functions, the tag
 * table), and only then does it follow connections. A process that never
 * meets a TCP socket (each program a CGI execs) never activates it. */
extern bool nm_hooks_is_armed __attribute__((visibility("hidden")));
/* Set once activated and the configuration allows work. */
extern bool nm_hooks_is_active __attribute__((visibility("hidden")));
/* Calls made by the shim itself on this thread are never followed. */
extern __thread int nm_hooks_in_shim __attribute__((visibility("hidden")));

/* Set on a thread from just before a real vfork in an active process until
 * the parent returns from it; its child, sharing the thread's TLS, sees it
 * set (hooks_proc.c, process.h). */
extern __thread bool nm_hooks_in_vfork __attribute__((visibility("hidden")));

/* Relaxed loads (plain moves): activation sets the flags from whichever
 * thread meets the first socket while others read them. */
static inline bool nm_hooks_should_follow(void)
{
    return __atomic_load_n(&nm_hooks_is_active, __ATOMIC_RELAXED) &&
           nm_hooks_in_shim == 0;
}

/* Armed and not inside the shim: a hook may look for the first socket. */
static inline bool nm_hooks_is_looking(void)
{
    return __atomic_load_n(&nm_hooks_is_armed, __ATOMIC_RELAXED) &&
           nm_hooks_in_shim == 0;
}

/* Activates the shim (once per process; hooks_proc.c) when armed; true
 * when it is active. Called by a hook at a call that may carry HTTP,
 * outside QUIETLY. */
bool nm_hooks_activate(void);

/* For the fd-lifecycle hooks (close, shutdown, dup, close_range, open):
 * nm_hooks_in_shim > 0 means this thread is already inside the shim,
 * typically a signal handler that interrupted a hook (Apache destroys a
 * pool, closing fds, from its SIGTERM handler). Those calls are
 * async-signal-safe in libc and must stay so here: they go straight to
 * libc, taking no lock the interrupted code may hold. A stale entry left
 * for that fd number is dropped when the number comes back (open, accept,
 * dup). Armed, they keep the marks the fd table already has. */
static inline bool nm_hooks_may_touch_state(void)
{
    return nm_hooks_should_follow() || nm_hooks_is_looking();
}

/* Runs the shim's own work inside a hook: the server's errno is kept, and
 * calls the work makes are not followed. */
#define QUIETLY(work)                                                          \
    do {                                                                       \
        int saved_errno_ = errno;                                              \
        nm_hooks_in_shim++;                                                    \
        work;                                                                  \
        nm_hooks_in_shim--;                                                    \
        errno = saved_errno_;                                                  \
    } while (0)

/* ---- waits (hooks_wait.c): keeping what the flusher deferred ---- */

/* Is something watched with no flusher thread (flusher.h), which this
 * hooked call must keep? Not from a signal handler inside the shim. */
static inline bool nm_hooks_keeps_deferred(void)
{
    return __atomic_load_n(&nm_flusher_is_deferred, __ATOMIC_RELAXED) &&
           nm_hooks_in_shim == 0;
}

/* A call on fd that waits for events (POLLIN, POLLOUT; 0: for as long as
 * fd blocks; flags: recv's) is about to be made while something is
 * deferred: when it could block, the flusher thread takes over. */
void nm_hooks_wait_on_fd(int fd, short events, int flags);

/* Before a call on fd that may wait (see nm_hooks_wait_on_fd). */
static inline void nm_hooks_before_fd_wait(int fd, short events, int flags)
{
    if (__builtin_expect(nm_hooks_keeps_deferred(), 0))
        nm_hooks_wait_on_fd(fd, events, flags);
}

/* poll while something is deferred: the wait goes in slices of the
 * flusher's round, each that times out running the round here. Returns
 * what the server's poll returns. */
int nm_hooks_poll_deferred(struct pollfd *fds, nfds_t nfds, int timeout_ms);

/* fd no longer names what it named: forget what we cached about that
 * number (our event socket may even have been closed behind our back). */
static inline void nm_hooks_forget_cached(int fd)
{
    nm_report_fd_gone(fd);
}

#endif
