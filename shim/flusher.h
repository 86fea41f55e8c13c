/* flusher.h - a background thread, started on first need, that calls back
 * every 10 ms: each watched item until it says it is done (bytes the shim
 * owes on a socket the server will not write again, holds past their
 * deadline), and the report queue while poked. It knows nothing of
 * connections or reports: the shim's constructor gives it the callbacks. */
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

/* Watches item until flush_item says it is done. Called with the item
 * locked. False when the watch cannot be kept (no callbacks, no thread, no
 * memory): then nothing may be held. */
bool nm_flusher_add(void *item);

/* Wakes the flusher so tick runs within 10 ms, and again each round until
 * it returns true. */
void nm_flusher_poke(void);

/* Stops watching item. */
void nm_flusher_remove(void *item);

/* In a fork child: the thread is gone; start afresh on next need. */
void nm_flusher_after_fork_child(void);

#endif
