/* track.h - which fds the shim follows, and the connection each names: a
 * socket accepted on a handled listener, or adopted on its first read
 * (inetd-style servers, CGI children); several fds may name one
 * connection (dup, fd 0 and 1). The fd-keyed entry points of the
 * connection layer, used by the hooks; connections carried by this layer
 * use the socket transport (transport_sock.h). */
#ifndef NM_SHIM_TRACK_H
#define NM_SHIM_TRACK_H

#include "conn.h"

#include <stdbool.h>

/* Returns the locked connection behind fd, or NULL when fd is not tracked
 * (or was given up with nothing owed): the caller then passes through. */
struct nm_conn *nm_track_acquire(int fd);

/* Unlocks a connection returned by nm_track_acquire/nm_track_adopt. */
static inline void nm_track_release(struct nm_conn *c)
{
    nm_conn_unlock(c);
}

/* A fresh socket from accept on listen_fd: track it when the listener is a
 * handled TCP socket (checked once per listener, cached). */
void nm_track_on_accept(int listen_fd, int fd);

/* Is fd a TCP socket (v4 or v6), whatever its port? Asks the kernel; needs
 * no configuration (an armed shim's first-socket test). */
bool nm_track_is_tcp(int fd);

/* First read on an unknown fd: adopt it if it is a connected TCP socket on
 * a handled port (inetd-style servers, CGI children). Returns it locked or
 * NULL. */
struct nm_conn *nm_track_adopt(int fd);

/* The server is about to read from fd (flags: recv's, 0 for read): owed
 * bytes go out, and held ones too when the read could block, so a server
 * waiting on its client never leaves that client waiting on us. A read
 * that cannot wait (non-blocking socket, input already there) keeps the
 * hold: servers look for a pipelined request in the middle of a response. */
void nm_track_before_read(int fd, int flags);

/* The server polls fd for input with a timeout: it waits on its client,
 * so whatever is held or owed goes out first. */
void nm_track_before_poll(int fd);

/* fd stops naming its connection (close, dup2 over it, close_range):
 * delivers what the shim owes first. Takes the table slot, not a lock. */
void nm_track_forget_fd(int fd);

/* Every fd in [first, last] stops naming its connection (close_range). */
void nm_track_forget_range(unsigned first, unsigned last);

/* fd was closed without us seeing it and now names something new: drop
 * its old state without writing anything to it. */
void nm_track_drop_stale_fd(int fd);

/* newfd becomes another name for oldfd's connection (dup family). */
void nm_track_dup_fd(int oldfd, int newfd);

/* The server shuts the write side down: deliver what is held or owed. */
void nm_track_drain(int fd);

/* The flusher's callback (flusher.h) for a connection c it watches: locks
 * c, releases holds past their deadline, sends what it owes without
 * blocking; true when nothing remains. */
bool nm_track_flush_watched(void *c);

/* The table lock, for fork (process.c): held across fork so that no other
 * thread is inside it then; reinitialised in the child. */
void nm_track_lock_table(void);
void nm_track_unlock_table(void);
void nm_track_reset_table_lock(void);

#endif
