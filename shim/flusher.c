/* flusher.c - see flusher.h. */
#include "flusher.h"

#include "alloc.h"
#include "conn.h"
#include "hold.h"
#include "report.h"

#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <string.h>

static pthread_mutex_t list_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t list_cond = PTHREAD_COND_INITIALIZER;
static struct nm_conn **watched; /* grows as needed, never shrinks */
static int watched_count, watched_cap;
static bool is_started;
static bool has_reports; /* queued events wait for nm_report_tick */

static void drop_locked(struct nm_conn *c)
{
    for (int i = 0; i < watched_count; i++)
        if (watched[i] == c) {
            watched[i] = watched[--watched_count];
            return;
        }
}

/* Every 10 ms while anything is watched: deliver owed bytes the socket
 * now takes, release holds past their deadline. */
static void *flusher_main(void *arg)
{
    (void)arg;
    struct nm_conn **batch = NULL;
    int batch_cap = 0;
    for (;;) {
        pthread_mutex_lock(&list_lock);
        while (watched_count == 0 && !has_reports)
            pthread_cond_wait(&list_cond, &list_lock);
        if (batch_cap < watched_count) {
            struct nm_conn **grown =
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
        poll(NULL, 0, 10);
        /* Cleared before the tick: a poke racing with it sets it again. */
        pthread_mutex_lock(&list_lock);
        bool do_reports = has_reports;
        has_reports = false;
        pthread_mutex_unlock(&list_lock);
        if (do_reports && !nm_report_tick(nm_now_ms())) {
            pthread_mutex_lock(&list_lock);
            has_reports = true;
            pthread_mutex_unlock(&list_lock);
        }
        for (int i = 0; i < n; i++) {
            if (nm_conn_flush_watched(batch[i])) {
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
    nm_report_open(); /* while the process has one thread: see report.h */
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

bool nm_flusher_add(struct nm_conn *c)
{
    pthread_mutex_lock(&list_lock);
    bool is_ok = is_started || start_locked();
    for (int i = 0; is_ok && i < watched_count; i++)
        if (watched[i] == c)
            goto out;
    if (is_ok && watched_count == watched_cap) {
        int cap = watched_cap ? watched_cap * 2 : 64;
        struct nm_conn **grown =
            nm_realloc(watched, sizeof(*watched) * (size_t)cap);
        if (grown == NULL)
            is_ok = false;
        else {
            watched = grown;
            watched_cap = cap;
        }
    }
    if (is_ok)
        watched[watched_count++] = c;
out:
    pthread_cond_signal(&list_cond);
    pthread_mutex_unlock(&list_lock);
    return is_ok;
}

void nm_flusher_poke(void)
{
    pthread_mutex_lock(&list_lock);
    if (is_started || start_locked()) {
        has_reports = true;
        pthread_cond_signal(&list_cond);
    }
    pthread_mutex_unlock(&list_lock);
}

void nm_flusher_remove(struct nm_conn *c)
{
    pthread_mutex_lock(&list_lock);
    drop_locked(c);
    pthread_mutex_unlock(&list_lock);
}

void nm_flusher_after_fork_child(void)
{
    pthread_mutex_init(&list_lock, NULL);
    pthread_cond_init(&list_cond, NULL);
    watched_count = 0;
    is_started = false;
    has_reports = false;
}
