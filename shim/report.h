/* report.h - one small datagram per response to notmodd (common/event.h):
 * never blocks, dropped when no daemon listens, and backs off for a second
 * after a failure so a server without a daemon pays no syscall per
 * response. Used by exchange.c when a response ends, track.c and process.c
 * before a process may end; the flusher ticks it (through the hooks'
 * callbacks). */
#ifndef NM_SHIM_REPORT_H
#define NM_SHIM_REPORT_H

#include "event.h"

#include <stdbool.h>

/* Queues ev for notmodd (token and pid filled in here); batches leave
 * with one sendmmsg. Safe from any thread. */
void nm_report_send(nm_event_t *ev);

/* Sends the queued events now: when a connection ends (a process per
 * connection may exit right after, with _exit) and at exit. */
void nm_report_flush(void);

/* Opens the event socket now if it is not open. Called before the process
 * starts its first thread: moving the socket to a high fd number grows the
 * fd table, which in a multi-threaded process waits for an RCU grace
 * period (strace: 14 ms per call in a forked busybox child). */
void nm_report_open(void);

/* For the flusher: sends a batch that waited long enough. Returns true
 * when nothing is left waiting. */
bool nm_report_tick(uint64_t now_ms);

/* The server closed or replaced fd: if it was our socket, forget it. */
void nm_report_fd_gone(int fd);

/* close_range over [first, last]: as nm_report_fd_gone for each. */
void nm_report_range_gone(unsigned first, unsigned last);

/* In a fork child: reconnect lazily (the fd is shared with the parent). */
void nm_report_after_fork_child(void);

#endif
