/* fdtable.h - maps fd numbers to the shim's per-connection state. A
 * two-level table allocated lazily in chunks: untouched fds cost nothing and
 * a lookup is one atomic load, lock- and malloc-free (write() may run in a
 * signal handler). Several fds may share one connection (dup, inetd fd 0/1). */
#ifndef NM_SHIM_FDTABLE_H
#define NM_SHIM_FDTABLE_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

/* Slot values other than connection pointers. */
#define NM_FD_UNKNOWN ((uintptr_t)0)   /* never looked at: may adopt lazily */
#define NM_FD_IGNORED ((uintptr_t)1)   /* not ours: pass through for life */
#define NM_FD_LISTEN_OK ((uintptr_t)2) /* a TCP listener on a handled port */
/* the ciphertext socket of a TLS connection (its SSL is followed): passed
 * through as ignored, but its close or shutdown ends that connection */
#define NM_FD_TLS ((uintptr_t)3)
#define NM_FD_IS_CONN(v) ((v) > NM_FD_TLS)

/* Highest fd number tracked (+1); others always pass through. */
#define NM_FD_MAX (1 << 20)

#define NM_FD_CHUNK_BITS 10
#define NM_FD_CHUNK_SIZE (1 << NM_FD_CHUNK_BITS)

/* The first level (internal; for the inline lookup below). */
extern _Atomic(_Atomic uintptr_t *)
    nm_fdtable_top[NM_FD_MAX >> NM_FD_CHUNK_BITS];

/* Returns the slot value for fd (NM_FD_UNKNOWN for out-of-range fds).
 * Inline: every hooked call makes one or two of these. */
static inline uintptr_t nm_fdtable_get(int fd)
{
    if (fd < 0 || fd >= NM_FD_MAX)
        return NM_FD_UNKNOWN;
    _Atomic uintptr_t *chunk = atomic_load_explicit(
        &nm_fdtable_top[fd >> NM_FD_CHUNK_BITS], memory_order_acquire);
    if (chunk == NULL)
        return NM_FD_UNKNOWN;
    return atomic_load_explicit(&chunk[fd & (NM_FD_CHUNK_SIZE - 1)],
                                memory_order_acquire);
}

/* Sets the slot; returns -1 when fd is out of range or memory is short. */
int nm_fdtable_set(int fd, uintptr_t value);

/* Calls fn for every slot holding a connection (fork/exec flushes). */
void nm_fdtable_each_conn(void (*fn)(int fd, uintptr_t value, void *arg),
                          void *arg);

#endif
