/* track.c - see track.h. */
#include "track.h"

#include "clock.h"
#include "config.h"
#include "fdtable.h"
#include "flusher.h"
#include "hold.h"
#include "phase.h"
#include "report.h"
#include "transport_sock.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>

/* Guards the sharing of connections between fds (dup) and their
 * recycling (nm_conn_new, nm_conn_recycle), not plain marks. */
static pthread_mutex_t table_lock = PTHREAD_MUTEX_INITIALIZER;

void nm_track_lock_table(void)
{
    pthread_mutex_lock(&table_lock);
}

void nm_track_unlock_table(void)
{
    pthread_mutex_unlock(&table_lock);
}

void nm_track_reset_table_lock(void)
{
    pthread_mutex_init(&table_lock, NULL);
}

/* The fd as a socket transport names it. */
static nm_handle_t fd_handle(int fd)
{
    nm_handle_t h = {.fd = fd};
    return h;
}

struct nm_conn *nm_track_acquire(int fd)
{
    uintptr_t v = nm_fdtable_get(fd);
    if (!NM_FD_IS_CONN(v))
        return NULL;
    struct nm_conn *c = (struct nm_conn *)v;
    nm_lock(&c->lock);
    nm_conn_touch(c);
    if (nm_fdtable_get(fd) != v || (c->is_given_up && c->owed.len == 0)) {
        nm_conn_unlock(c);
        return NULL;
    }
    return c;
}

/* ---- which sockets are ours ---- */

/* The local port of fd when it is a TCP socket (v4 or v6), else -1. One
 * getsockopt and one getsockname. */
static int tcp_port(int fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    int type = 0;
    socklen_t tlen = sizeof(type);
    if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tlen) != 0 ||
        type != SOCK_STREAM)
        return -1;
    if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0)
        return -1;
    if (ss.ss_family == AF_INET)
        return ntohs(((struct sockaddr_in *)&ss)->sin_port);
    if (ss.ss_family == AF_INET6)
        return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    return -1;
}

bool nm_track_is_tcp(int fd)
{
    return tcp_port(fd) >= 0;
}

/* A TCP socket whose local port is handled; the answer is cached in the
 * fd table by the callers. */
static bool is_handled_tcp(int fd)
{
    int port = tcp_port(fd);
    return port >= 0 && nm_config_port_ok((uint16_t)port);
}

static struct nm_conn *track(int fd)
{
    pthread_mutex_lock(&table_lock);
    struct nm_conn *c = nm_conn_new(&nm_transport_sock, fd_handle(fd));
    if (c != NULL && nm_fdtable_set(fd, (uintptr_t)c) != 0) {
        nm_conn_recycle(c);
        c = NULL;
    }
    pthread_mutex_unlock(&table_lock);
    return c;
}

void nm_track_on_accept(int listen_fd, int fd)
{
    uintptr_t lv = nm_fdtable_get(listen_fd);
    if (lv == NM_FD_UNKNOWN) {
        lv = is_handled_tcp(listen_fd) ? NM_FD_LISTEN_OK : NM_FD_IGNORED;
        nm_fdtable_set(listen_fd, lv);
    }
    /* A new fd number: whatever the slot held is stale. */
    nm_track_drop_stale_fd(fd);
    if (lv == NM_FD_LISTEN_OK)
        track(fd);
    else
        nm_fdtable_set(fd, NM_FD_IGNORED);
}

struct nm_conn *nm_track_adopt(int fd)
{
    if (!is_handled_tcp(fd)) {
        nm_fdtable_set(fd, NM_FD_IGNORED);
        return NULL;
    }
    struct nm_conn *c = track(fd);
    if (c == NULL)
        return NULL;
    nm_lock(&c->lock);
    return c;
}

/* ---- fd bookkeeping ---- */

/* fd no longer names its connection. is_closing: the fd is still that
 * socket, so what the shim holds or owes is delivered first; otherwise the
 * number already belongs to something new (closed behind our back) and
 * nothing may be written to it. */
static void forget(int fd, bool is_closing)
{
    /* Every close comes here; most fds (files, pipes) are no connection:
     * their slot is reset without the table lock, which guards the
     * sharing of connections between fds (dup), not plain marks. */
    uintptr_t seen = nm_fdtable_get(fd);
    if (!NM_FD_IS_CONN(seen)) {
        if (seen != NM_FD_UNKNOWN)
            nm_fdtable_set(fd, NM_FD_UNKNOWN);
        return;
    }
    pthread_mutex_lock(&table_lock);
    uintptr_t v = nm_fdtable_get(fd);
    if (v == NM_FD_UNKNOWN) {
        pthread_mutex_unlock(&table_lock);
        return;
    }
    nm_fdtable_set(fd, NM_FD_UNKNOWN);
    struct nm_conn *c = NM_FD_IS_CONN(v) ? (struct nm_conn *)v : NULL;
    bool is_last = c != NULL && --c->refs == 0;
    pthread_mutex_unlock(&table_lock);
    if (!is_last)
        return;
    nm_lock(&c->lock);
    nm_conn_touch(c);
    if (is_closing)
        nm_phase_drain(c, fd_handle(fd), true);
    bool had_exchange = c->has_exchanged;
    nm_conn_drop_claim(c);
    nm_conn_release_state(c);
    nm_deliver_drop(&c->owed);
    c->is_given_up = true; /* a racing holder of the pointer passes */
    nm_conn_unlock(c);
    if (c->is_in_flusher)
        nm_flusher_remove(c);
    pthread_mutex_lock(&table_lock);
    nm_conn_recycle(c);
    pthread_mutex_unlock(&table_lock);
    if (had_exchange) /* the process may _exit next (fork per connection) */
        nm_report_flush();
}

void nm_track_forget_fd(int fd)
{
    forget(fd, true);
}

void nm_track_drop_stale_fd(int fd)
{
    forget(fd, false);
}

void nm_track_dup_fd(int oldfd, int newfd)
{
    if (oldfd == newfd)
        return;
    /* newfd already names oldfd's socket: nothing of its past may be
     * written there (dup2's implicit close was drained by the hook). */
    nm_track_drop_stale_fd(newfd);
    pthread_mutex_lock(&table_lock);
    uintptr_t v = nm_fdtable_get(oldfd);
    if (v != NM_FD_UNKNOWN && nm_fdtable_set(newfd, v) == 0 && NM_FD_IS_CONN(v))
        ((struct nm_conn *)v)->refs++;
    pthread_mutex_unlock(&table_lock);
}

struct range {
    unsigned first, last;
};

static void forget_in_range(int fd, uintptr_t v, void *arg)
{
    (void)v;
    const struct range *r = arg;
    if ((unsigned)fd >= r->first && (unsigned)fd <= r->last)
        nm_track_forget_fd(fd);
}

void nm_track_forget_range(unsigned first, unsigned last)
{
    struct range r = {first, last};
    nm_fdtable_each_conn(forget_in_range, &r);
}

void nm_track_drain(int fd)
{
    struct nm_conn *c = nm_track_acquire(fd);
    if (c == NULL)
        return;
    nm_phase_drain(c, fd_handle(fd), true);
    nm_track_release(c);
    nm_report_flush(); /* shutdown usually precedes the end of a process */
}

/* ---- reads: the server may be waiting on its client ---- */

/* Is the may_owe hint up for fd? Connections are never freed: the hint is
 * safe to read unlocked, and false costs the read no lock. */
static bool may_owe(int fd)
{
    uintptr_t v = nm_fdtable_get(fd);
    return NM_FD_IS_CONN(v) &&
           atomic_load_explicit(&((struct nm_conn *)v)->may_owe,
                                memory_order_relaxed);
}

void nm_track_before_read(int fd, int flags)
{
    if (!may_owe(fd))
        return;
    struct nm_conn *c = nm_track_acquire(fd);
    if (c == NULL)
        return;
    c->link.h = fd_handle(fd);
    /* A held response stays held through a read that cannot wait: Apache
     * writes a streamed body, then looks for a pipelined request with a
     * non-blocking read (EAGAIN), then writes the last chunk. A read that
     * could block is the server waiting on its client, who must not be
     * left waiting on us meanwhile. Owed bytes go out either way. */
    if (nm_conn_is_holding(c) && c->link.tp->read_could_block(c->link.h, flags))
        nm_conn_release_overdue(c, 0);
    nm_conn_flush_owed(c, false);
    nm_track_release(c);
}

void nm_track_before_poll(int fd)
{
    /* The server waits for its client's next bytes (after a non-blocking
     * read found none): nothing may stay held meanwhile. */
    if (!may_owe(fd))
        return;
    struct nm_conn *c = nm_track_acquire(fd);
    if (c == NULL)
        return;
    c->link.h = fd_handle(fd);
    nm_conn_release_overdue(c, 0);
    nm_conn_flush_owed(c, false);
    nm_track_release(c);
}

bool nm_track_flush_watched(void *item)
{
    struct nm_conn *c = item;
    nm_lock(&c->lock);
    uint64_t now = nm_now_ms();
    /* A fork-split exchange is claimed only when its hold is due: the
     * other side (a child about to exec) must get the chance first. */
    if (c->takeover == NULL || nm_hold_is_due(c->head_started_ms, now))
        nm_conn_resolve_takeover(c);
    if (c->takeover == NULL)
        nm_conn_release_overdue(c, now);
    nm_conn_flush_owed(c, false);
    bool is_needed = !nm_deliver_is_done(&c->owed) || nm_conn_is_holding(c);
    if (!is_needed)
        c->is_in_flusher = false;
    nm_conn_unlock(c);
    return !is_needed;
}
