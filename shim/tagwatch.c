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

#include "shared_map.h"

#include <stdatomic.h>
#include <stdbool.h>

#define SLOTS 8192
#define STALE_S 60

struct slot {
    atomic_flag busy;
    uint64_t url_key; /* 0: free */
    uint64_t tag_key;
    int64_t switch_unix; /* when another tag was last replaced by tag_key */
    int64_t last_unix;   /* last serve */
};

static _Atomic(void *) table;

void nm_tagwatch_init(void)
{
    nm_shared_map_once(&table, SLOTS * sizeof(struct slot));
}

int64_t nm_tagwatch_served(uint64_t url_key, uint64_t tag_key, int64_t now_unix)
{
    struct slot *t = nm_shared_map_get(&table);
    if (t == NULL || url_key == 0)
        return INT64_MAX;
    struct slot *s = &t[url_key % SLOTS];
    if (!nm_shared_try_lock(&s->busy))
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
    nm_shared_unlock(&s->busy);
    return since;
}
