/* flusher.c - see flusher.h. */
#include "flusher.h"

#include "alloc.h"
#include "clock.h"
#include "symbols.h"

#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <string.h>
#include <sys/single_threaded.h>

/* How often each watched item and a poke are called back. */
#define ROUND_MS 10
/* A round on the caller's thread takes at most this many items (a
 * single-threaded relay watches one or two); more start the thread. */
#define CALLER_BATCH 16

static pthread_mutex_t list_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t list_cond = PTHREAD_COND_INITIALIZER;
static const struct nm_flusher_ops *ops;
static void **watched; /* grows as needed, never shrinks */
static int watched_count, watched_cap;
static bool is_started;
static bool is_poked; /* tick runs until it returns true */
bool nm_flusher_is_deferred;
/* This thread's last read took bytes from something other than a
 * followed connection (nm_flusher_note_read). */
static __thread bool is_relaying;

void nm_flusher_init(const struct nm_flusher_ops *given)
{
    ops = given;
}

static void drop_locked(const void *item)
{
    for (int i = 0; i < watched_count; i++)
        if (watched[i] == item) {
            watched[i] = watched[--watched_count];
            return;
        }
}

static void set_deferred(bool is_deferred)
{
    __atomic_store_n(&nm_flusher_is_deferred, is_deferred, __ATOMIC_RELAXED);
}

/* Nothing left for a deferred round: the hooks stop keeping anything. */
static void settle_deferred_locked(void)
{
    if (!is_started && watched_count == 0 && !is_poked)
        set_deferred(false);
}

/* May the process's own waits keep a watch (needs_relay: a connection's)
 * instead of a thread? Its one thread is the one that will wait; a relay
 * waits on its source through the hooks (flusher.h). A poke's deadline is
 * a report's, not a client's: any single-threaded process may keep it. */
static bool defer_locked(bool needs_relay)
{
    if (!__libc_single_threaded || (needs_relay && !is_relaying))
        return false;
    set_deferred(true);
    return true;
}

/* One round: the report queue's tick when poked, then each item of
 * batch (n, copied from the watch list), dropped when done. */
static void call_back(void **batch, int n)
{
    /* Cleared before the tick: a poke racing with it sets it again. */
    pthread_mutex_lock(&list_lock);
    bool is_tick_due = is_poked;
    is_poked = false;
    pthread_mutex_unlock(&list_lock);
    if (is_tick_due && !ops->tick(nm_now_ms())) {
        pthread_mutex_lock(&list_lock);
        is_poked = true;
        pthread_mutex_unlock(&list_lock);
    }
    for (int i = 0; i < n; i++) {
        if (ops->flush_item(batch[i])) {
            pthread_mutex_lock(&list_lock);
            drop_locked(batch[i]);
            pthread_mutex_unlock(&list_lock);
        }
    }
}

/* Every 10 ms while anything is watched or poked: call back. */
static void *flusher_main(void *arg)
{
    (void)arg;
    void **batch = NULL;
    int batch_cap = 0;
    for (;;) {
        pthread_mutex_lock(&list_lock);
        while (watched_count == 0 && !is_poked)
            pthread_cond_wait(&list_cond, &list_lock);
        if (batch_cap < watched_count) {
            void **grown =
                nm_realloc(batch, sizeof(*batch) * (size_t)watched_cap);
            if (grown != NULL) {
                batch = grown;
                batch_cap = watched_cap;
            }
        }
        int n = watched_count < batch_cap ? watched_count : batch_cap;
        if (n > 0)
            memcpy(batch, watched, sizeof(*batch) * (size_t)n);
        pthread_mutex_unlock(&list_lock);
        nm_real_poll(NULL, 0, ROUND_MS);
        call_back(batch, n);
    }
    return NULL;
}

/* Starts the thread; it must not take the server's signals. */
static bool start_locked(void)
{
    if (ops == NULL)
        return false;
    ops->before_start();
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pthread_t t;
    if (pthread_create(&t, NULL, flusher_main, NULL) == 0) {
        pthread_detach(t);
        is_started = true;
        set_deferred(false); /* the thread keeps all of it now */
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return is_started;
}

bool nm_flusher_add(void *item)
{
    pthread_mutex_lock(&list_lock);
    bool is_ok = is_started || defer_locked(true) || start_locked();
    for (int i = 0; is_ok && i < watched_count; i++)
        if (watched[i] == item)
            goto out;
    if (is_ok && watched_count == watched_cap) {
        int cap = watched_cap ? watched_cap * 2 : 64;
        void **grown = nm_realloc(watched, sizeof(*watched) * (size_t)cap);
        if (grown == NULL)
            is_ok = false;
        else {
            watched = grown;
            watched_cap = cap;
        }
    }
    if (is_ok)
        watched[watched_count++] = item;
out:
    pthread_cond_signal(&list_cond);
    pthread_mutex_unlock(&list_lock);
    return is_ok;
}

void nm_flusher_poke(void)
{
    pthread_mutex_lock(&list_lock);
    if (is_started || defer_locked(false) || start_locked()) {
        is_poked = true;
        pthread_cond_signal(&list_cond);
    }
    pthread_mutex_unlock(&list_lock);
}

void nm_flusher_remove(void *item)
{
    pthread_mutex_lock(&list_lock);
    drop_locked(item);
    settle_deferred_locked();
    pthread_mutex_unlock(&list_lock);
}

void nm_flusher_note_read(bool is_from_connection)
{
    is_relaying = !is_from_connection;
}

void nm_flusher_start_deferred(void)
{
    pthread_mutex_lock(&list_lock);
    if (!is_started && nm_flusher_is_deferred && start_locked())
        pthread_cond_signal(&list_cond);
    pthread_mutex_unlock(&list_lock);
}

int nm_flusher_slice_ms(int timeout_ms)
{
    return timeout_ms < 0 || timeout_ms > ROUND_MS ? ROUND_MS : timeout_ms;
}

/* What flusher_main does each round, on the caller's thread. */
void nm_flusher_run_round(void)
{
    void *batch[CALLER_BATCH];
    pthread_mutex_lock(&list_lock);
    if (is_started || !nm_flusher_is_deferred || watched_count > CALLER_BATCH) {
        if (!is_started && nm_flusher_is_deferred && start_locked())
            pthread_cond_signal(&list_cond);
        pthread_mutex_unlock(&list_lock);
        return;
    }
    int n = watched_count;
    if (n > 0)
        memcpy(batch, watched, sizeof(*batch) * (size_t)n);
    pthread_mutex_unlock(&list_lock);
    call_back(batch, n);
    pthread_mutex_lock(&list_lock);
    settle_deferred_locked();
    pthread_mutex_unlock(&list_lock);
}

void nm_flusher_after_fork_child(void)
{
    pthread_mutex_init(&list_lock, NULL);
    pthread_cond_init(&list_cond, NULL);
    watched_count = 0;
    is_started = false;
    is_poked = false;
    set_deferred(false);
}
