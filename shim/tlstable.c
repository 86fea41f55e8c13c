/* tlstable.c - SSL * -> struct nm_tls (see tlstable.h): chained buckets,
 * doubled when the chains grow past two entries on average. Lookups are
 * one short critical section per SSL_read/SSL_write under a spin lock; an
 * entry is only ever touched by the thread using its SSL. */
#include "tlstable.h"

#include "alloc.h"
#include "spin.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#define BUCKETS_FIRST 256

static nm_spin_t table_lock = NM_SPIN_INIT;
static struct nm_tls **buckets;
static size_t bucket_count; /* a power of two, or 0 before the first add */
static uint64_t entry_count;
/* fd -> the entry whose ciphertext socket it is: the socket's close must
 * find its SSL (python closes the socket without SSL_shutdown). Grown to
 * the highest fd seen, under the same lock. */
static struct nm_tls **by_fd;
static size_t by_fd_len;

static size_t bucket_of(const void *ssl, size_t count)
{
    uint64_t h = ((uint64_t)(uintptr_t)ssl >> 4) * 0x9e3779b97f4a7c15ull;
    return (size_t)(h >> 32) & (count - 1);
}

static struct nm_tls *find_locked(const void *ssl)
{
    if (bucket_count == 0)
        return NULL;
    struct nm_tls *t = buckets[bucket_of(ssl, bucket_count)];
    while (t != NULL && t->ssl != ssl)
        t = t->next;
    return t;
}

/* Doubles the bucket array; on failure the chains just grow longer. */
static void grow_locked(void)
{
    size_t n = bucket_count ? bucket_count * 2 : BUCKETS_FIRST;
    struct nm_tls **nb = nm_calloc(n, sizeof(*nb));
    if (nb == NULL)
        return;
    for (size_t i = 0; i < bucket_count; i++) {
        struct nm_tls *t = buckets[i];
        while (t != NULL) {
            struct nm_tls *next = t->next;
            size_t b = bucket_of(t->ssl, n);
            t->next = nb[b];
            nb[b] = t;
            t = next;
        }
    }
    free(buckets);
    buckets = nb;
    bucket_count = n;
}

struct nm_tls *nm_tls_get(const void *ssl)
{
    nm_spin_lock(&table_lock);
    struct nm_tls *t = find_locked(ssl);
    nm_spin_unlock(&table_lock);
    return t;
}

struct nm_tls *nm_tls_get_or_add(const void *ssl)
{
    nm_spin_lock(&table_lock);
    struct nm_tls *t = find_locked(ssl);
    if (t == NULL) {
        if (entry_count >= bucket_count * 2)
            grow_locked();
        if (bucket_count > 0)
            t = nm_calloc(1, sizeof(*t));
        if (t != NULL) {
            t->ssl = ssl;
            t->rfd = t->wfd = -1;
            size_t b = bucket_of(ssl, bucket_count);
            t->next = buckets[b];
            buckets[b] = t;
            entry_count++;
        }
    }
    nm_spin_unlock(&table_lock);
    return t;
}

/* Forgets the sockets that name t (its entry goes); a number already
 * reused by another entry stays that one's. */
static void unname_locked(const struct nm_tls *t)
{
    int fds[2] = {t->rfd, t->wfd};
    for (int i = 0; i < 2; i++)
        if (fds[i] >= 0 && (size_t)fds[i] < by_fd_len && by_fd[fds[i]] == t)
            by_fd[fds[i]] = NULL;
}

void nm_tls_set_fd(struct nm_tls *t, int fd)
{
    if (fd < 0 || fd >= (1 << 20))
        return;
    nm_spin_lock(&table_lock);
    if ((size_t)fd >= by_fd_len) {
        size_t n = by_fd_len ? by_fd_len : 64;
        while (n <= (size_t)fd)
            n *= 2;
        struct nm_tls **grown = nm_realloc(by_fd, n * sizeof(*grown));
        if (grown != NULL) {
            memset(grown + by_fd_len, 0, (n - by_fd_len) * sizeof(*grown));
            by_fd = grown;
            by_fd_len = n;
        }
    }
    if ((size_t)fd < by_fd_len)
        by_fd[fd] = t;
    nm_spin_unlock(&table_lock);
}

struct nm_tls *nm_tls_of_fd(int fd)
{
    nm_spin_lock(&table_lock);
    struct nm_tls *t = fd >= 0 && (size_t)fd < by_fd_len ? by_fd[fd] : NULL;
    nm_spin_unlock(&table_lock);
    return t;
}

struct nm_tls *nm_tls_take(const void *ssl)
{
    nm_spin_lock(&table_lock);
    struct nm_tls *t = NULL;
    if (bucket_count > 0) {
        struct nm_tls **pp = &buckets[bucket_of(ssl, bucket_count)];
        while (*pp != NULL && (*pp)->ssl != ssl)
            pp = &(*pp)->next;
        t = *pp;
        if (t != NULL) {
            *pp = t->next;
            t->next = NULL;
            entry_count--;
            unname_locked(t);
        }
    }
    nm_spin_unlock(&table_lock);
    return t;
}

void nm_tls_free(struct nm_tls *t)
{
    if (t != NULL)
        free(t->pending.buf);
    free(t);
}

uint64_t nm_tls_count(void)
{
    nm_spin_lock(&table_lock);
    uint64_t n = entry_count;
    nm_spin_unlock(&table_lock);
    return n;
}

void nm_tls_after_fork_child(void)
{
    nm_spin_reset(&table_lock);
}
