/* flusher.h - a background thread, started on first need, that delivers
 * bytes the shim owes on non-blocking sockets when the server does not
 * write again (it may be waiting for a request the client will only send
 * after it has the whole response). */
#ifndef NM_SHIM_FLUSHER_H
#define NM_SHIM_FLUSHER_H

struct nm_conn;

/* Watches c until its owed bytes are out and its holds released. Called
 * with c locked. False when the watch cannot be kept (no thread, no
 * memory): then nothing may be held. */
#include <stdbool.h>
bool nm_flusher_add(struct nm_conn *c);

/* Wakes the flusher so queued reports leave within their delay. */
void nm_flusher_poke(void);

/* Stops watching c (its last fd closed). */
void nm_flusher_remove(struct nm_conn *c);

/* In a fork child: the thread is gone; start afresh on next need. */
void nm_flusher_after_fork_child(void);

#endif
