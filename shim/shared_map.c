/* shared_map.c - see shared_map.h. */
#include "shared_map.h"

#include <sys/mman.h>

void *nm_shared_map_once(_Atomic(void *) *slot, size_t bytes)
{
    void *have = nm_shared_map_get(slot);
    if (have != NULL)
        return have;
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
                   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return nm_shared_map_get(slot);
    void *none = NULL;
    if (atomic_compare_exchange_strong(slot, &none, p))
        return p;
    munmap(p, bytes); /* another thread's won: none holds it */
    return none;
}
