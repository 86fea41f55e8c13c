/* report.c - see report.h. */
#include "report.h"

#include "config.h"
#include "flusher.h"
#include "clock.h"
#include "lock.h"
#include "symbols.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

/* Every server thread queues its events here and the flusher sends them.
 * A futex word (lock.h), not a pthread mutex: taken once per response,
 * the mutex pair cost about 57 instructions there (callgrind), this one
 * a compare-and-swap and an exchange. */
static nm_lock_t report_lock;
static _Atomic int report_fd = -1;
static uint64_t quiet_until_ms; /* no attempt before this (no daemon) */

/* A datagram socket of our own: close-on-exec, non-blocking, high. */
static int open_socket(void)
{
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return -1;
    int hi = nm_real_fcntl(fd, F_DUPFD_CLOEXEC, (void *)600);
    if (hi >= 0) {
        nm_real_close(fd);
        fd = hi;
    }
    return fd;
}

/* The socket, opened on first need (report_lock held). */
static int open_if_needed(void)
{
    int fd = atomic_load(&report_fd);
    if (fd < 0) {
        fd = open_socket();
        atomic_store(&report_fd, fd);
    }
    return fd;
}

void nm_report_open(void)
{
    if (atomic_load_explicit(&report_fd, memory_order_relaxed) >= 0)
        return;
    int saved = errno;
    nm_lock(&report_lock);
    open_if_needed();
    nm_unlock(&report_lock);
    errno = saved;
}

/* Events are batched and sent with one sendmmsg per batch: a datagram per
 * response, as notmodd expects, but not a syscall per response (the shim
 * makes no syscall the server did not make, but to deliver what it owes).
 * A batch leaves when full or, through the flusher, REPORT_DELAY_MS after
 * its first event. */
#define BATCH_MAX 64
#define BATCH_BYTES (32 * 1024)
#define REPORT_DELAY_MS 100

static char batch_buf[BATCH_BYTES];
static uint32_t batch_len[BATCH_MAX];
static int batch_count;
static size_t batch_used;
static uint64_t batch_first_ms;
static int batch_tries; /* failed sends of the current batch */
#define BATCH_TRIES 3

/* Sends the batch (report_lock held); events that do not fit in the
 * socket's queue are dropped: reports are best effort. With no daemon to
 * take it, the batch is tried again a second later, up to BATCH_TRIES
 * times, so a notmodd that is starting or restarting loses nothing of that
 * moment; new events that do not fit meanwhile are dropped. */
static void flush_locked(uint64_t now)
{
    if (batch_count == 0 || now < quiet_until_ms)
        return;
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    memcpy(sa.sun_path, nm_cfg.socket_path, sizeof(sa.sun_path) - 1);
    struct mmsghdr msgs[BATCH_MAX];
    struct iovec iov[BATCH_MAX];
    size_t off = 0;
    for (int i = 0; i < batch_count; i++) {
        iov[i].iov_base = batch_buf + off;
        iov[i].iov_len = batch_len[i];
        off += batch_len[i];
        memset(&msgs[i], 0, sizeof(msgs[i]));
        msgs[i].msg_hdr.msg_name = &sa;
        msgs[i].msg_hdr.msg_namelen = sizeof(sa);
        msgs[i].msg_hdr.msg_iov = &iov[i];
        msgs[i].msg_hdr.msg_iovlen = 1;
    }
    int fd = open_if_needed();
    int r = fd >= 0 ? sendmmsg(fd, msgs, (unsigned)batch_count,
                               MSG_DONTWAIT | MSG_NOSIGNAL)
                    : -1;
    if (r < 0 && errno != EAGAIN) {
        quiet_until_ms = now + 1000; /* no daemon: try again in a second */
        if (++batch_tries < BATCH_TRIES)
            return;
    }
    batch_tries = 0;
    batch_count = 0;
    batch_used = 0;
}

/* getpid() is a syscall: the pid is read once per process image and
 * again after fork (nm_report_after_fork_child, and the exec relay). */
static _Atomic uint32_t my_pid;

static uint32_t cached_pid(void)
{
    uint32_t pid = atomic_load(&my_pid);
    if (pid == 0) {
        pid = (uint32_t)getpid();
        atomic_store(&my_pid, pid);
    }
    return pid;
}

void nm_report_send(nm_event_t *ev)
{
    uint64_t now = nm_now_ms();
    ev->pid = cached_pid();
    if (nm_cfg.has_secret) {
        ev->flags |= NM_EVENT_F_TOKEN;
        ev->token = nm_cfg.secret;
    }
    int saved = errno;
    bool is_first = false;
    nm_lock(&report_lock);
    if (batch_count == BATCH_MAX || BATCH_BYTES - batch_used < NM_EVENT_MAX_LEN)
        flush_locked(now);
    int n = batch_count < BATCH_MAX
                ? nm_event_encode(batch_buf + batch_used,
                                  BATCH_BYTES - batch_used, ev)
                : 0; /* still full: no daemon took the last batch */
    if (n > 0) {
        is_first = batch_count == 0;
        if (is_first)
            batch_first_ms = now;
        batch_len[batch_count++] = (uint32_t)n;
        batch_used += (size_t)n;
    }
    if (batch_count == BATCH_MAX)
        flush_locked(now);
    nm_unlock(&report_lock);
    if (is_first)
        nm_flusher_poke(); /* someone must send it if no other comes */
    errno = saved;
}

bool nm_report_tick(uint64_t now_ms)
{
    int saved = errno;
    nm_lock(&report_lock);
    if (batch_count > 0 && now_ms - batch_first_ms >= REPORT_DELAY_MS)
        flush_locked(now_ms);
    bool is_empty = batch_count == 0;
    nm_unlock(&report_lock);
    errno = saved;
    return is_empty;
}

void nm_report_fd_gone(int fd)
{
    int expected = fd;
    /* Every close and open comes here: a plain load first, the locked
     * compare-and-swap only for the one fd it can be. */
    if (fd >= 0 && atomic_load_explicit(&report_fd, memory_order_relaxed) == fd)
        atomic_compare_exchange_strong(&report_fd, &expected, -1);
}

void nm_report_after_fork_child(void)
{
    atomic_store(&my_pid, 0);
    nm_lock_init(&report_lock);
    batch_count = 0; /* the parent sends those */
    batch_tries = 0;
    batch_used = 0;
}

void nm_report_range_gone(unsigned first, unsigned last)
{
    int fd = atomic_load(&report_fd);
    if (fd >= 0 && (unsigned)fd >= first && (unsigned)fd <= last)
        nm_report_fd_gone(fd);
}

void nm_report_flush(void)
{
    int saved = errno;
    nm_lock(&report_lock);
    flush_locked(nm_now_ms());
    nm_unlock(&report_lock);
    errno = saved;
}
