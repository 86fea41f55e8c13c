/* flusher.h - a background thread, started on first need, that calls back
 * every 10 ms: each watched item until it says it is done (bytes the shim
 * owes on a socket the server will not write again, holds past their
 * deadline), and the report queue while poked. It knows nothing of
 * connections or reports: the shim's constructor gives it the callbacks.
 *
 * A thread costs a process that then exits about 100 us of CPU here
 * (tools/bench/RESULTS.md), as much as the rest of what a CGI request's
 * relay does under the shim. So a single-threaded process that relays (its
 * last read took bytes from something other than a followed connection: a
 * CGI's pipe, an upstream) gets no thread at first: the watch is *deferred*,
 * and the hooks keep it. A poll they bound to the round's 10 ms and run the
 * round themselves when it times out; any other wait they see that could
 * block starts the thread (nm_flusher_start_deferred). Used by the
 * connection layer (watches), the report queue (pokes), and the hooks
 * (waits). */
#ifndef NM_SHIM_FLUSHER_H
#define NM_SHIM_FLUSHER_H

#include <stdbool.h>
#include <stdint.h>

struct nm_flusher_ops {
    /* Delivers what item owes without blocking; true when nothing remains
     * (it is then no longer watched). Called without the flusher's lock. */
    bool (*flush_item)(void *item);
    /* Sends what waited long enough at now_ms; true when nothing waits. */
    bool (*tick)(uint64_t now_ms);
    /* Runs before the thread is created, while the process may still have
     * a single thread. */
    void (*before_start)(void);
};

/* Sets the callbacks (ops must outlive the process); from the constructor,
 * before anything is added. */
void nm_flusher_init(const struct nm_flusher_ops *ops);

/* Watches item until flush_item says it is done (deferred when this
 * thread relays in a single-threaded process: see above). Called with the
 * item locked. False when the watch cannot be kept (no callbacks, no
 * thread, no memory): then nothing may be held. */
bool nm_flusher_add(void *item);

/* Wakes the flusher so tick runs within 10 ms, and again each round until
 * it returns true (deferred in a single-threaded process). */
void nm_flusher_poke(void);

/* Set while something is watched or poked with no thread to keep it: the
 * hooks then keep it (a plain load on every hooked wait). */
extern bool nm_flusher_is_deferred __attribute__((visibility("hidden")));

/* The hooks saw this thread read bytes: from a followed connection
 * (is_from_connection) or from anything else (it relays). */
void nm_flusher_note_read(bool is_from_connection);

/* The process enters a wait the hooks do not bound: the thread takes over
 * what is deferred. */
void nm_flusher_start_deferred(void);

/* A wait of timeout_ms (negative: none) is about to begin while something
 * is deferred: how long it may last before the next round is due. */
int nm_flusher_slice_ms(int timeout_ms);

/* Runs one round on the calling thread (a wait bounded by
 * nm_flusher_slice_ms timed out), as the thread would. */
void nm_flusher_run_round(void);

/* Stops watching item. */
void nm_flusher_remove(void *item);

/* In a fork child: the thread is gone; start afresh on next need. */
void nm_flusher_after_fork_child(void);

#endif
