/* fdtable.c - see fdtable.h. */
#include "fdtable.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <sys/mman.h>

#define CHUNK_BITS NM_FD_CHUNK_BITS
#define CHUNK_SIZE NM_FD_CHUNK_SIZE
#define TOP_SIZE (NM_FD_MAX >> CHUNK_BITS)

typedef _Atomic uintptr_t slot_t;

_Atomic(slot_t *) nm_fdtable_top[TOP_SIZE];

/* Chunks come from mmap, not malloc: the table may be touched before the
 * allocator is ready or from inside it (docs/interposition.md). */
static slot_t *chunk_for(int fd, int create)
{
    slot_t *chunk = atomic_load_explicit(&nm_fdtable_top[fd >> CHUNK_BITS],
                                         memory_order_acquire);
    if (chunk != NULL || !create)
        return chunk;
    slot_t *fresh =
        mmap(NULL, sizeof(slot_t) * CHUNK_SIZE, PROT_READ | PROT_WRITE,
             MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (fresh == MAP_FAILED)
        return NULL;
    slot_t *expected = NULL;
    if (!atomic_compare_exchange_strong(&nm_fdtable_top[fd >> CHUNK_BITS],
                                        &expected, fresh)) {
        munmap(fresh, sizeof(slot_t) * CHUNK_SIZE);
        return expected;
    }
    return fresh;
}

int nm_fdtable_set(int fd, uintptr_t value)
{
    if (fd < 0 || fd >= NM_FD_MAX)
        return -1;
    slot_t *chunk = chunk_for(fd, value != NM_FD_UNKNOWN);
    if (chunk == NULL)
        return value == NM_FD_UNKNOWN ? 0 : -1;
    atomic_store_explicit(&chunk[fd & (CHUNK_SIZE - 1)], value,
                          memory_order_release);
    return 0;
}

void nm_fdtable_each_conn(void (*fn)(int fd, uintptr_t value, void *arg),
                          void *arg)
{
    for (int t = 0; t < TOP_SIZE; t++) {
        slot_t *chunk = atomic_load(&nm_fdtable_top[t]);
        if (chunk == NULL)
            continue;
        for (int i = 0; i < CHUNK_SIZE; i++) {
            uintptr_t v = atomic_load(&chunk[i]);
            if (NM_FD_IS_CONN(v))
                fn((t << CHUNK_BITS) | i, v, arg);
        }
    }
}
