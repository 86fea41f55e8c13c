/* alloc.c - fault injection for the shim's allocations (see alloc.h). */
#include "alloc.h"

#ifdef NM_FAULT_INJECTION
#include <stdatomic.h>

static _Atomic long every = -1; /* -1: not read yet, 0: never fail */
static _Atomic long count;

int nm_alloc_should_fail(void)
{
    long n = atomic_load(&every);
    if (n < 0) {
        const char *s = getenv("NOTMOD_TEST_FAIL_ALLOC");
        n = s != NULL ? strtol(s, NULL, 10) : 0;
        atomic_store(&every, n > 0 ? n : 0);
    }
    return n > 0 && atomic_fetch_add(&count, 1) % n == n - 1;
}
#else
/* An empty translation unit is not valid C. */
typedef int nm_alloc_unused_t;
#endif
