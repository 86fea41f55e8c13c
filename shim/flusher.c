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

static pthread_mutex_t list_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t list_cond = PTHREAD_COND_INITIALIZER;
static const struct nm_flusher_ops *ops;
static void **watched; /* grows as needed, never shrinks */
static int watched_count, watched_cap;
static bool is_started;
static bool is_poked; /* tick runs until it returns true */

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
        nm_real_poll(NULL, 0, 10);
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
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return is_started;
}

bool nm_flusher_add(void *item)
{
    pthread_mutex_lock(&list_lock);
    bool is_ok = is_started || start_locked();
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
    if (is_started || start_locked()) {
        is_poked = true;
        pthread_cond_signal(&list_cond);
    }
    pthread_mutex_unlock(&list_lock);
}

void nm_flusher_remove(void *item)
{
    pthread_mutex_lock(&list_lock);
    drop_locked(item);
    pthread_mutex_unlock(&list_lock);
}

void nm_flusher_after_fork_child(void)
{
    pthread_mutex_init(&list_lock, NULL);
    pthread_cond_init(&list_cond, NULL);
    watched_count = 0;
    is_started = false;
    is_poked = false;
}
