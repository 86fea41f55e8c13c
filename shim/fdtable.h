/* fdtable.h - maps fd numbers to the shim's per-connection state. A
 * two-level table allocated lazily in chunks: untouched fds cost nothing and
 * a lookup is one atomic load, lock- and malloc-free (write() may run in a
 * signal handler). Several fds may share one connection (dup, inetd fd 0/1). */
#ifndef NM_SHIM_FDTABLE_H
#define NM_SHIM_FDTABLE_H

#include <stdint.h>

/* Slot values other than connection pointers. */
#define NM_FD_UNKNOWN ((uintptr_t)0)   /* never looked at: may adopt lazily */
#define NM_FD_IGNORED ((uintptr_t)1)   /* not ours: pass through for life */
#define NM_FD_LISTEN_OK ((uintptr_t)2) /* a TCP listener on a handled port */
#define NM_FD_IS_CONN(v) ((v) > NM_FD_LISTEN_OK)

/* Highest fd number tracked (+1); others always pass through. */
#define NM_FD_MAX (1 << 20)

/* Returns the slot value for fd (NM_FD_UNKNOWN for out-of-range fds). */
uintptr_t nm_fdtable_get(int fd);

/* Sets the slot; returns -1 when fd is out of range or memory is short. */
int nm_fdtable_set(int fd, uintptr_t value);

/* Calls fn for every slot holding a connection (fork/exec flushes). */
void nm_fdtable_each_conn(void (*fn)(int fd, uintptr_t value, void *arg),
                          void *arg);

#endif
