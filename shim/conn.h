/* conn.h - one tracked HTTP/1.x connection as the shim follows it: the
 * request parser fed by the read hooks, the queue of pending requests, the
 * response parser fed by the write hooks, and what the shim does with each
 * response (pass, substitute a 304 and swallow the 200, hold). Every failure
 * ends in nm_conn_give_up(): from then on bytes pass through unchanged. */
#ifndef NM_SHIM_CONN_H
#define NM_SHIM_CONN_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "transport.h"

struct nm_conn;

/* Returns the locked connection behind fd, or NULL when fd is not tracked
 * (or was given up with nothing owed): the caller then passes through. */
struct nm_conn *nm_conn_acquire(int fd);

/* Unlocks a connection returned by nm_conn_acquire/nm_conn_adopt. */
void nm_conn_release(struct nm_conn *c);

/* A fresh socket from accept on listen_fd: track it when the listener is a
 * handled TCP socket (checked once per listener, cached). */
void nm_conn_on_accept(int listen_fd, int fd);

/* First read on an unknown fd: adopt it if it is a connected TCP socket on
 * a handled port (inetd-style servers, CGI children). Returns it locked or
 * NULL. */
struct nm_conn *nm_conn_adopt(int fd);

/* The server is about to read from fd (flags: recv's, 0 for read): owed
 * bytes go out, and held ones too when the read could block, so a server
 * waiting on its client never leaves that client waiting on us. A read
 * that cannot wait (non-blocking socket, input already there) keeps the
 * hold: servers look for a pipelined request in the middle of a response. */
void nm_conn_before_read(int fd, int flags);

/* The server polls fd for input with a timeout: it waits on its client,
 * so whatever is held or owed goes out first. */
void nm_conn_before_poll(int fd);

/* The server read n bytes (spread over iov) from the connection. */
void nm_conn_on_read(struct nm_conn *c, const struct iovec *iov, int iovcnt,
                     size_t n);

/* The server writes iov on c, named h (the fd it wrote to); returns what
 * the real call would return to it. */
ssize_t nm_conn_write(struct nm_conn *c, nm_handle_t h, enum nm_write_op op,
                      const struct iovec *iov, int iovcnt, int flags);

/* The server sendfile()s count bytes from in_fd; real is the libc
 * function it called (sendfile or sendfile64). */
ssize_t nm_conn_sendfile(struct nm_conn *c, int out_fd, int in_fd,
                         off_t *offset, size_t count,
                         ssize_t (*real)(int, int, off_t *, size_t));

/* fd stops naming the connection (close, dup2 over it, close_range):
 * delivers what the shim owes first. Takes the table slot, not a lock. */
void nm_conn_forget_fd(int fd);

/* Every fd in [first, last] stops naming its connection (close_range). */
void nm_conn_forget_range(unsigned first, unsigned last);

/* The server shuts the write side down: deliver what is held or owed. */
void nm_conn_drain(int fd);

/* fd was closed without us seeing it and now names something new: drop
 * its old state without writing anything to it. */
void nm_conn_drop_stale_fd(int fd);

/* newfd becomes another name for oldfd's connection (dup family). */
void nm_conn_dup_fd(int oldfd, int newfd);

/* Delivers every byte the shim owes or holds, on all connections, blocking
 * briefly: before fork and exec, so nothing is held across them. */
void nm_conn_flush_all(void);

/* At exit: held and owed bytes go out unchanged, without blocking and
 * without waiting for a lock. */
void nm_conn_deliver_at_exit(void);

/* Before exec: a response in progress on fd 1 is relayed through the shim
 * from a pipe the exec'd program writes (see conn.c); then everything
 * held or owed is delivered. Returns only in the process that execs. */
void nm_conn_before_exec(void);

/* pthread_atfork handlers: nothing is held or owed across fork, and an
 * exchange in flight is followed by neither process afterwards. */
void nm_conn_before_fork(void);
void nm_conn_after_fork_parent(void);
void nm_conn_after_fork_child(void);

/* The flusher's callback (flusher.h) for a connection c it watches: locks
 * c, releases holds past their deadline, sends what it owes without
 * blocking; true when nothing remains. */
bool nm_conn_flush_watched(void *c);

#endif
