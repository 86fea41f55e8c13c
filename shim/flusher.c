/* flusher.c - see flusher.h. */
#include "flusher.h"

#include "conn.h"

#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>

#define WATCH_MAX 256

static pthread_mutex_t list_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t list_cond = PTHREAD_COND_INITIALIZER;
static struct nm_conn *watched[WATCH_MAX];
static int watched_count;
static bool is_started;

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
    for (;;) {
        struct nm_conn *batch[WATCH_MAX];
        pthread_mutex_lock(&list_lock);
        while (watched_count == 0)
            pthread_cond_wait(&list_cond, &list_lock);
        int n = watched_count < WATCH_MAX ? watched_count : WATCH_MAX;
        for (int i = 0; i < n; i++)
            batch[i] = watched[i];
        pthread_mutex_unlock(&list_lock);
        poll(NULL, 0, 10);
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

void nm_flusher_add(struct nm_conn *c)
{
    pthread_mutex_lock(&list_lock);
    bool is_present = false;
    for (int i = 0; i < watched_count; i++)
        is_present |= watched[i] == c;
    if (!is_present && watched_count < WATCH_MAX)
        watched[watched_count++] = c;
    if (!is_started) {
        /* The thread must not take the server's signals. */
        sigset_t all, old;
        sigfillset(&all);
        pthread_sigmask(SIG_SETMASK, &all, &old);
        pthread_t t;
        if (pthread_create(&t, NULL, flusher_main, NULL) == 0) {
            pthread_detach(t);
            is_started = true;
        }
        pthread_sigmask(SIG_SETMASK, &old, NULL);
    }
    pthread_cond_signal(&list_cond);
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
}
