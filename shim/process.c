/* process.c - see process.h. */
#include "process.h"

#include "conn.h"
#include "fdtable.h"
#include "flusher.h"
#include "hold.h"
#include "phase.h"
#include "report.h"
#include "symbols.h"
#include "track.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
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
    /* Its reads wait where no hook sees them: what it holds is the
     * flusher thread's to release, never deferred (flusher.h). */
    nm_flusher_note_read(true);
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
    while (nm_real_waitpid(child, &status, 0) < 0 && errno == EINTR)
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

/* ---- vfork ---- */

#define VFORK_CONNS 8 /* more followed sockets than this: fork instead */
#define VFORK_DUPS 16 /* more dups in the child: it inherits them all */

/* What the parent's thread noted for its vfork child. Per thread: two
 * threads may vfork at once; the child shares the suspended thread's TLS,
 * so it reads and flags this very copy. */
struct vfork_note {
    int n_socks;
    int fds[VFORK_CONNS];
    const struct nm_conn *conns[VFORK_CONNS];
    dev_t devs[VFORK_CONNS];
    ino_t inos[VFORK_CONNS];
    bool is_inherited[VFORK_CONNS];
    bool is_checked; /* the child's exec went through the hook */
    int n_dups;
    int dups[VFORK_DUPS];
    bool has_lost_dups;
};
static __thread struct vfork_note vnote;

/* Notes fd, a name of c's socket (asked once per connection: fd 0 and 1
 * of busybox's child name one). False when it cannot be had. */
static bool note_socket(int fd, const struct nm_conn *c)
{
    int i = vnote.n_socks;
    vnote.fds[i] = fd;
    vnote.conns[i] = c;
    for (int j = 0; j < i; j++)
        if (vnote.conns[j] == c) {
            vnote.devs[i] = vnote.devs[j];
            vnote.inos[i] = vnote.inos[j];
            vnote.n_socks++;
            return true;
        }
    struct stat st;
    if (fstat(fd, &st) != 0)
        return false;
    vnote.devs[i] = st.st_dev;
    vnote.inos[i] = st.st_ino;
    vnote.n_socks++;
    return true;
}

/* Notes fd's socket, when its connection allows a real vfork. */
static void note_for_vfork(int fd, uintptr_t v, void *arg)
{
    bool *is_safe = arg;
    struct nm_conn *c = (struct nm_conn *)v;
    if (!*is_safe)
        return;
    nm_lock(&c->lock);
    /* Nothing of a response under way: no hold or owed bytes to reorder
     * with what the child's program writes, no claim cell to settle. */
    bool is_quiet = !nm_conn_is_holding(c) && nm_deliver_is_done(&c->owed) &&
                    c->takeover == NULL &&
                    (c->is_given_up || c->phase == NM_PHASE_IDLE);
    bool is_followed = !c->is_given_up;
    nm_conn_unlock(c);
    if (!is_quiet || (is_followed && vnote.n_socks == VFORK_CONNS)) {
        *is_safe = false;
        return;
    }
    if (is_followed && !note_socket(fd, c))
        *is_safe = false;
}

bool nm_process_before_vfork(void)
{
    memset(&vnote, 0, sizeof(vnote));
    bool is_safe = true;
    nm_fdtable_each_conn(note_for_vfork, &is_safe);
    return is_safe;
}

void nm_process_vfork_child_dup(int newfd)
{
    if (vnote.n_dups < VFORK_DUPS)
        vnote.dups[vnote.n_dups++] = newfd;
    else
        vnote.has_lost_dups = true;
}

/* Flags the noted sockets fd names, if the exec'd image keeps fd (a
 * noted socket first: most candidates are pipes and files). */
static void check_inherited(int fd)
{
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISSOCK(st.st_mode))
        return;
    int fl = -1;
    for (int i = 0; i < vnote.n_socks; i++) {
        if (vnote.inos[i] != st.st_ino || vnote.devs[i] != st.st_dev)
            continue;
        if (fl < 0)
            fl = nm_real_fcntl(fd, F_GETFD, NULL);
        if (fl >= 0 && !(fl & FD_CLOEXEC))
            vnote.is_inherited[i] = true;
    }
}

/* Adds fd to the n distinct fds of set (room for all candidates). */
static int add_distinct(int *set, int n, int fd)
{
    for (int i = 0; i < n; i++)
        if (set[i] == fd)
            return n;
    set[n] = fd;
    return n + 1;
}

void nm_process_vfork_child_exec(void)
{
    int saved = errno;
    vnote.is_checked = !vnote.has_lost_dups;
    /* The standard fds, the noted ones and the child's dups: the only
     * names the child can have given a noted socket. Each asked once. */
    int fds[3 + VFORK_CONNS + VFORK_DUPS];
    int n = 0;
    for (int fd = 0; fd <= 2; fd++)
        n = add_distinct(fds, n, fd);
    for (int i = 0; i < vnote.n_socks; i++)
        n = add_distinct(fds, n, vnote.fds[i]);
    for (int i = 0; i < vnote.n_dups; i++)
        n = add_distinct(fds, n, vnote.dups[i]);
    for (int i = 0; i < n; i++)
        check_inherited(fds[i]);
    errno = saved;
}

void nm_process_after_vfork(void)
{
    for (int i = 0; i < vnote.n_socks; i++) {
        if (vnote.is_checked && !vnote.is_inherited[i])
            continue;
        struct nm_conn *c = nm_track_acquire(vnote.fds[i]);
        if (c == NULL)
            continue;
        nm_conn_give_up(c, "the program a vfork child exec'd has it");
        nm_track_release(c);
    }
}
