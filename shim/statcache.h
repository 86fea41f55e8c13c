/* statcache.h - the last fstat() the server itself made on each fd, so the
 * shim can identify a file it is about to hash without a syscall of its
 * own (nginx opens, fstats, then sendfiles). Entries die when the fd is
 * closed or reused. Used by hooks_io.c (fill, forget) and filehash.c. */
#ifndef NM_SHIM_STATCACHE_H
#define NM_SHIM_STATCACHE_H

#include <stdbool.h>
#include <sys/stat.h>

/* Remembers what fstat(fd) returned to the server. */
void nm_statcache_put(int fd, const struct stat *st);

/* True and *st filled when the server fstat'ed fd since it was opened. */
bool nm_statcache_get(int fd, struct stat *st);

/* fd was closed, replaced or reopened. */
void nm_statcache_forget(int fd);

/* In the child after fork: the cache's lock is free (its holder, another
 * thread, does not exist there). */
void nm_statcache_after_fork_child(void);

#endif
