/* tagwatch.c - see tagwatch.h.
 *
 * A direct-mapped table of SLOTS entries in a MAP_SHARED anonymous mapping
 * (256 KiB of address space, pages touched only when used). Each slot has
 * its own try-lock: a process killed inside one leaves that slot locked,
 * which only makes its URLs "unknown" (no Last-Modified), never wrong. A
 * slot held by another URL served within STALE_S is not taken over, since
 * that URL's history would be lost; its URLs are "unknown" meanwhile. After
 * STALE_S without a response the store has long had the events of the
 * last switch, and its dates say so. */
#include "tagwatch.h"

#include "spin.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <sys/mman.h>

#define SLOTS 8192
#define STALE_S 60
#define LOCK_TRIES 256

struct slot {
    atomic_flag busy;
    uint64_t url_key; /* 0: free */
    uint64_t tag_key;
    int64_t switch_unix; /* when another tag was last replaced by tag_key */
    int64_t last_unix;   /* last serve */
};

static _Atomic(struct slot *) table;

void nm_tagwatch_init(void)
{
    if (atomic_load(&table) != NULL)
        return;
    void *p = mmap(NULL, SLOTS * sizeof(struct slot), PROT_READ | PROT_WRITE,
                   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return;
    struct slot *none = NULL;
    if (!atomic_compare_exchange_strong(&table, &none, p))
        munmap(p, SLOTS * sizeof(struct slot)); /* another thread's won */
}

static bool try_lock(struct slot *s)
{
    for (int n = 0; n < LOCK_TRIES; n++) {
        if (!atomic_flag_test_and_set_explicit(&s->busy, memory_order_acquire))
            return true;
        NM_CPU_RELAX();
    }
    return false;
}

int64_t nm_tagwatch_served(uint64_t url_key, uint64_t tag_key, int64_t now_unix)
{
    struct slot *t = atomic_load_explicit(&table, memory_order_acquire);
    if (t == NULL || url_key == 0)
        return INT64_MAX;
    struct slot *s = &t[url_key % SLOTS];
    if (!try_lock(s))
        return INT64_MAX;
    int64_t since = INT64_MAX;
    if (s->url_key != url_key) {
        if (s->url_key == 0 || now_unix - s->last_unix >= STALE_S) {
            s->url_key = url_key;
            s->tag_key = tag_key;
            s->switch_unix = 0;
            s->last_unix = now_unix;
            since = 0;
        }
    } else {
        if (s->tag_key != tag_key) {
            /* The other tag may have gone out up to this very second. */
            s->tag_key = tag_key;
            s->switch_unix = now_unix;
        }
        s->last_unix = now_unix;
        since = s->switch_unix;
    }
    atomic_flag_clear_explicit(&s->busy, memory_order_release);
    return since;
}
