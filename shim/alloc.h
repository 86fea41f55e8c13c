/* alloc.h - every allocation the shim makes goes through these, so a test
 * build can make them fail (NOTMOD_TEST_FAIL_ALLOC=N: every Nth one) and
 * prove that each failure path passes the server's bytes through. In a
 * normal build they are the libc functions. */
#ifndef NM_SHIM_ALLOC_H
#define NM_SHIM_ALLOC_H

#include <stdlib.h>

#ifdef NM_FAULT_INJECTION
/* True when this allocation must fail (test builds only). */
int nm_alloc_should_fail(void);
#define NM_FAIL_OR(expr) (nm_alloc_should_fail() ? NULL : (expr))
#else
#define NM_FAIL_OR(expr) (expr)
#endif

#define nm_malloc(n) NM_FAIL_OR(malloc(n))
#define nm_calloc(k, n) NM_FAIL_OR(calloc((k), (n)))
#define nm_realloc(p, n) NM_FAIL_OR(realloc((p), (n)))
#define nm_aligned_alloc(a, n) NM_FAIL_OR(aligned_alloc((a), (n)))

#endif
