/* process.c - see process.h. */
#include "process.h"

#include "conn.h"
#include "fdtable.h"
#include "hold.h"
#include "phase.h"
#include "report.h"
#include "symbols.h"
#include "track.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

/* A cell both sides of a fork share, to settle which one answers the
 * exchange in flight; NULL when it cannot be had. */
static _Atomic int *claim_cell(void)
{
    void *cell = mmap(NULL, sizeof(_Atomic int), PROT_READ | PROT_WRITE,
                      MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (cell == MAP_FAILED)
        return NULL;
    atomic_store((_Atomic int *)cell, NM_TAKE_OPEN);
    return cell;
}

/* Before fork (is_forking) or exec: what c holds or owes goes out through
 * fd, one of its names, unless its exchange is split between both sides. */
static void flush_one(int fd, uintptr_t v, void *arg)
{
    struct nm_conn *c = (struct nm_conn *)v;
    nm_lock(&c->lock);
    if (c->takeover != NULL) {
        /* Split by an earlier fork, another thread's (python's threaded
         * server forks a CGI per request): it stays open for the side
         * that writes it. Touching it here would claim it for this
         * process, which does not, and the child's response would lose
         * the head this process holds. */
        nm_conn_unlock(c);
        return;
    }
    bool is_forking = arg != NULL && !c->is_given_up;
    /* Before fork: a head still being written is kept for whichever side
     * goes on writing it (python's CGI handler writes the status line,
     * then its child execs the script: see nm_process_before_exec). */
    bool is_split = is_forking && c->phase == NM_PHASE_HEAD && c->head_len > 0;
    /* A request read and nothing of its response written: the side that
     * writes first answers it (mini_httpd's child writes the response of
     * the CGI its parent execs; busybox's parent relays its child's). */
    bool is_unanswered = is_forking && c->phase == NM_PHASE_IDLE &&
                         c->q_len > 0 && c->req_cur == NULL &&
                         !nm_conn_is_holding(c);
    if (is_split || is_unanswered) {
        c->takeover = claim_cell();
        c->is_claimed_by_write = is_unanswered;
    }
    if ((is_split || is_unanswered) && c->takeover != NULL) {
        nm_link_t named = {c->link.tp, {.fd = fd}};
        nm_deliver_flush_bounded(&c->owed, &named);
    } else if (nm_conn_fd(c) == fd) {
        nm_phase_drain(c, (nm_handle_t){.fd = fd}, false);
    }
    nm_conn_unlock(c);
}

static void set_role(int fd, uintptr_t v, void *arg)
{
    (void)fd;
    struct nm_conn *c = (struct nm_conn *)v;
    if (c->takeover != NULL)
        c->takeover_role = (int)(intptr_t)arg;
}

/* After fork the parent goes on following its connections: servers that
 * fork a CGI relay its output themselves (busybox), or write nothing more
 * on that exchange (python's CGI: its child execs and writes the rest
 * unseen; the parent's parser then fails on any later byte and gives up).
 * An exchange split with a claim cell (a head begun, or a request with
 * nothing of its response written: flush_one) is followed by both until
 * one side claims it. In the child, any other exchange in flight is one we
 * cannot know the state of: stop following it. Idle ones (busybox forks
 * right after accept) are kept. */
static void settle_one(int fd, uintptr_t v, void *arg)
{
    (void)fd;
    (void)arg;
    struct nm_conn *c = (struct nm_conn *)v;
    nm_lock_init(&c->lock);
    nm_lock(&c->lock);
    /* Owed bytes were the parent's to send, and were sent before fork. */
    nm_deliver_drop(&c->owed);
    if (c->takeover != NULL) {
        c->takeover_role = NM_TAKE_CHILD;
    } else if (!c->is_given_up && nm_conn_is_busy(c)) {
        c->head_len = 0; /* never send what the parent holds */
        nm_hold_free(c->hold);
        c->hold = NULL;
        c->phase = NM_PHASE_PASS;
        nm_conn_give_up(c, "fork with an exchange in flight");
    }
    c->is_in_flusher = false;
    nm_conn_unlock(c);
}

void nm_process_before_fork(void)
{
    nm_fdtable_each_conn(flush_one, (void *)1);
    nm_track_lock_table();
}

void nm_process_after_fork_parent(void)
{
    nm_track_unlock_table();
    nm_fdtable_each_conn(set_role, (void *)(intptr_t)NM_TAKE_PARENT);
}

void nm_process_after_fork_child(void)
{
    nm_track_reset_table_lock();
    nm_fdtable_each_conn(settle_one, NULL);
}

/* At exit, what is held goes out unchanged, without blocking: a forked
 * child that carried an exchange may exit() without closing its socket
 * (the kernel's close is unseen). trylock: exit() may run from a signal
 * handler that interrupted this very shim holding the lock; then that
 * connection's bytes stay where they are rather than the process hang. */
static void deliver_one(int fd, uintptr_t v, void *arg)
{
    (void)arg;
    struct nm_conn *c = (struct nm_conn *)v;
    if (!nm_lock_try(&c->lock))
        return;
    /* A fork-split exchange is left to the other side: it claims it at
     * its next touch or write, and sends what it holds then. */
    if (c->takeover == NULL) {
        /* an fd that still names it (the last one used may be closed) */
        c->link.h.fd = fd;
        nm_conn_release_overdue(c, 0);
        nm_conn_flush_owed(c, false);
    }
    nm_conn_unlock(c);
}

void nm_process_at_exit(void)
{
    nm_fdtable_each_conn(deliver_one, NULL);
}

/* ---- exec of a program that writes a response onto the socket ---- */

/* glibc's fork without the atfork handlers (ours would take the lock we
 * hold) but with its own internal state reset. */
extern pid_t _Fork(void);

/* Feeds everything the exec'd program writes into the pipe through the
 * shim onto the socket, then finishes the response as a close would. */
static int relay(struct nm_conn *c, int sock, int in, pid_t child)
{
    nm_handle_t h = {.fd = sock};
    char buf[16384];
    for (;;) {
        /* Unlocked while waiting: the flusher may release a hold past its
         * deadline meanwhile (a script that sleeps mid-body). */
        nm_conn_unlock(c);
        ssize_t n = nm_real_read(in, buf, sizeof(buf));
        int err = errno;
        nm_lock(&c->lock);
        errno = err;
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        size_t off = 0;
        while (off < (size_t)n) {
            struct iovec v = {buf + off, (size_t)n - off};
            ssize_t w = nm_phase_write(c, h, NM_OP_WRITE, &v, 1, 0);
            if (w > 0)
                off += (size_t)w;
            else if (w < 0 && (errno == EAGAIN || errno == EINTR))
                c->link.tp->wait_writable(c->link.h, 1000);
            else
                break; /* the client is gone: drain the pipe anyway */
        }
    }
    nm_phase_drain(c, h, true);
    int status = 0;
    while (waitpid(child, &status, 0) < 0 && errno == EINTR)
        ;
    return WIFEXITED(status)
               ? WEXITSTATUS(status)
               : 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

void nm_process_before_exec(void)
{
    /* The program about to run will write its output on fd 1. When that
     * is a connection whose response is in progress (python's CGI handler
     * sent the status line, its child execs the script), the script's
     * bytes would bypass the shim: give the script a pipe instead and
     * relay it here. This process becomes the relay and exits with the
     * script's status, so the server waiting for it sees the response
     * complete before it closes the connection. */
    struct nm_conn *c = nm_track_acquire(1);
    bool is_wanted = c != NULL && !c->is_given_up && c->q_len > 0 &&
                     (c->phase == NM_PHASE_HEAD || c->phase == NM_PHASE_IDLE);
    int p[2] = {-1, -1};
    if (is_wanted && pipe2(p, 0) == 0) {
        pid_t pid = _Fork();
        if (pid == 0) { /* the program: stdout is the pipe, nothing of ours */
            nm_real_dup2(p[1], 1);
            nm_real_close(p[0]);
            nm_real_close(p[1]);
            return; /* the caller goes on with the real exec */
        }
        if (pid > 0) {
            nm_real_close(p[1]);
            int code = relay(c, 1, p[0], pid);
            nm_track_release(c);
            nm_report_flush();
            _exit(code);
        }
        nm_real_close(p[0]);
        nm_real_close(p[1]);
    }
    if (c != NULL)
        nm_track_release(c);
    /* Nothing held or owed may cross exec: the new image has no shim
     * state. */
    nm_fdtable_each_conn(flush_one, NULL);
}
