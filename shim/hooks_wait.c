/* hooks_wait.c - the waits of a process whose flusher has no thread yet
 * (flusher.h: a single-threaded relay, busybox's per-connection child): a
 * poll goes in slices of the flusher's round and runs the round itself
 * when a slice times out; every other wait that could block (a read or
 * write on a blocking fd that is not ready, ppoll, select, pselect, the
 * epoll waits, the sleeps, the waits for a child, pause, sigsuspend)
 * first lets the thread take over. Otherwise each hook is one load and
 * the real call. */
#include "hooks.h"

#include "clock.h"
#include "flusher.h"
#include "symbols.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <sys/single_threaded.h>
#include <sys/stat.h>

/* The flusher thread takes over what is deferred, before a wait that may
 * last (may_wait) and that the hooks do not bound. */
static void before_wait(bool may_wait)
{
    if (may_wait && nm_hooks_keeps_deferred())
        QUIETLY(nm_flusher_start_deferred());
}

static bool is_blocking(int fd)
{
    int fl = nm_real_fcntl(fd, F_GETFL, NULL);
    return fl >= 0 && !(fl & O_NONBLOCK);
}

/* Could a call on fd waiting for events block? A write may block on a
 * blocking pipe or socket even when poll says writable (it may want more
 * room than there is); a file never does. */
static bool could_block(int fd, short events, int flags)
{
    if (flags & MSG_DONTWAIT)
        return false;
    if (events == 0 || (flags & MSG_WAITALL))
        return is_blocking(fd);
    if (events & POLLOUT) {
        struct stat st;
        return is_blocking(fd) && (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode));
    }
    struct pollfd p = {.fd = fd, .events = events};
    return nm_real_poll(&p, 1, 0) == 0 && is_blocking(fd);
}

/* A thread the server started since the watch was deferred may wait
 * where no hook sees it: the deferral assumed a single thread. */
static bool has_more_threads(void)
{
    return !__libc_single_threaded;
}

void nm_hooks_wait_on_fd(int fd, short events, int flags)
{
    int saved = errno;
    nm_hooks_in_shim++;
    if (has_more_threads() || could_block(fd, events, flags))
        nm_flusher_start_deferred();
    nm_hooks_in_shim--;
    errno = saved;
}

/* Milliseconds from now to end_ms; -1 for UINT64_MAX (no end). */
static int ms_left(uint64_t end_ms)
{
    if (end_ms == UINT64_MAX)
        return -1;
    uint64_t now = nm_now_ms();
    return end_ms > now ? (int)(end_ms - now) : 0;
}

int nm_hooks_poll_deferred(struct pollfd *fds, nfds_t nfds, int timeout_ms)
{
    if (has_more_threads())
        QUIETLY(nm_flusher_start_deferred());
    uint64_t end =
        timeout_ms < 0 ? UINT64_MAX : nm_now_ms() + (uint64_t)timeout_ms;
    for (;;) {
        int left = ms_left(end);
        bool is_deferred = nm_hooks_keeps_deferred();
        int slice = is_deferred ? nm_flusher_slice_ms(left) : left;
        int r = nm_real_poll(fds, nfds, slice);
        if (r == 0 && is_deferred)
            QUIETLY(nm_flusher_run_round());
        /* Ready, failed (EINTR as poll's own), or the server's time is up. */
        if (r != 0 || slice == left)
            return r;
    }
}

/* ---- the waits the hooks do not bound ---- */

static bool is_zero_ts(const struct timespec *t)
{
    return t != NULL && t->tv_sec == 0 && t->tv_nsec == 0;
}

EXPORT int ppoll(struct pollfd *fds, nfds_t nfds, const struct timespec *tmo,
                 const sigset_t *mask)
{
    before_wait(!is_zero_ts(tmo));
    return nm_real_ppoll(fds, nfds, tmo, mask);
}

extern void __chk_fail(void) __attribute__((noreturn));

EXPORT int __ppoll_chk(struct pollfd *fds, nfds_t nfds,
                       const struct timespec *tmo, const sigset_t *mask,
                       size_t fdslen)
{
    if (fdslen / sizeof(*fds) < nfds)
        __chk_fail();
    return ppoll(fds, nfds, tmo, mask);
}

EXPORT int select(int n, fd_set *rd, fd_set *wr, fd_set *ex,
                  struct timeval *tmo)
{
    before_wait(tmo == NULL || tmo->tv_sec != 0 || tmo->tv_usec != 0);
    return nm_real_select(n, rd, wr, ex, tmo);
}

EXPORT int pselect(int n, fd_set *rd, fd_set *wr, fd_set *ex,
                   const struct timespec *tmo, const sigset_t *mask)
{
    before_wait(!is_zero_ts(tmo));
    return nm_real_pselect(n, rd, wr, ex, tmo, mask);
}

EXPORT int epoll_wait(int ep, struct epoll_event *ev, int max, int tmo)
{
    before_wait(tmo != 0);
    return nm_real_epoll_wait(ep, ev, max, tmo);
}

EXPORT int epoll_pwait(int ep, struct epoll_event *ev, int max, int tmo,
                       const sigset_t *mask)
{
    before_wait(tmo != 0);
    return nm_real_epoll_pwait(ep, ev, max, tmo, mask);
}

EXPORT int epoll_pwait2(int ep, struct epoll_event *ev, int max,
                        const struct timespec *tmo, const sigset_t *mask)
{
    before_wait(!is_zero_ts(tmo));
    return nm_real_epoll_pwait2(ep, ev, max, tmo, mask);
}

EXPORT int nanosleep(const struct timespec *req, struct timespec *rem)
{
    before_wait(true);
    return nm_real_nanosleep(req, rem);
}

EXPORT int clock_nanosleep(clockid_t clk, int flags, const struct timespec *req,
                           struct timespec *rem)
{
    before_wait(true);
    return nm_real_clock_nanosleep(clk, flags, req, rem);
}

EXPORT unsigned sleep(unsigned secs)
{
    before_wait(secs != 0);
    return nm_real_sleep(secs);
}

EXPORT int usleep(useconds_t usecs)
{
    before_wait(usecs != 0);
    return nm_real_usleep(usecs);
}

EXPORT int pause(void)
{
    before_wait(true);
    return nm_real_pause();
}

EXPORT int sigsuspend(const sigset_t *mask)
{
    before_wait(true);
    return nm_real_sigsuspend(mask);
}

EXPORT pid_t wait(int *status)
{
    before_wait(true);
    return nm_real_wait(status);
}

EXPORT pid_t waitpid(pid_t pid, int *status, int options)
{
    before_wait(!(options & WNOHANG));
    return nm_real_waitpid(pid, status, options);
}

EXPORT pid_t wait3(int *status, int options, struct rusage *ru)
{
    before_wait(!(options & WNOHANG));
    return nm_real_wait3(status, options, ru);
}

EXPORT pid_t wait4(pid_t pid, int *status, int options, struct rusage *ru)
{
    before_wait(!(options & WNOHANG));
    return nm_real_wait4(pid, status, options, ru);
}

EXPORT int waitid(idtype_t type, id_t id, siginfo_t *info, int options)
{
    before_wait(!(options & WNOHANG));
    return nm_real_waitid(type, id, info, options);
}
