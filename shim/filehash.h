/* filehash.h - tags for sendfile() bodies: the file region is hashed with
 * pread instead of being held, and the tag cached by (dev, inode, size,
 * mtime, offset, length) so an unchanged file is hashed once per process. */
#ifndef NM_SHIM_FILEHASH_H
#define NM_SHIM_FILEHASH_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

/* Writes the quoted tag of len bytes of fd at off into out (28 bytes).
 * False when fd is not a regular file holding that whole region. */
bool nm_filehash_tag(int fd, off_t off, uint64_t len, uint64_t seed, char *out);

/* In the child after fork: the cache's lock is free (its holder, another
 * thread, does not exist there). */
void nm_filehash_after_fork_child(void);

#endif
