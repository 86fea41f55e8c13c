/* filehash.h - tags for sendfile() bodies: the file region is hashed with
 * pread instead of being held, and the tag cached by the file's whole
 * identity (dev, inode, size, mtime, ctime) and the region, so an unchanged
 * file is hashed once per process. Used by phase.c; headcache.c keeps the
 * identity to tag a HEAD of the same file. */
#ifndef NM_SHIM_FILEHASH_H
#define NM_SHIM_FILEHASH_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>

/* What names a file's bytes: ctime too, since a rewrite in place that
 * restores size and mtime (cp -p, rsync -t --inplace, tar -x) cannot set
 * it back. */
typedef struct nm_file_id {
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime, ctime;
} nm_file_id_t;

/* Writes the quoted tag of len bytes of fd at off into out (28 bytes) and
 * the file's identity into *id. False when fd is not a regular file holding
 * that whole region, or it changed while being hashed. */
bool nm_filehash_tag(int fd, off_t off, uint64_t len, uint64_t seed, char *out,
                     nm_file_id_t *id);

/* As nm_filehash_tag for a whole file, and only when it is exactly len
 * bytes long: one fstat says so before anything is hashed. */
bool nm_filehash_tag_whole(int fd, uint64_t len, uint64_t seed, char *out,
                           nm_file_id_t *id);

/* The identity of st. */
void nm_file_id_of(const struct stat *st, nm_file_id_t *id);

/* True when a and b name the same bytes. */
bool nm_file_id_equal(const nm_file_id_t *a, const nm_file_id_t *b);

/* In the child after fork: the cache's lock is free (its holder, another
 * thread, does not exist there). */
void nm_filehash_after_fork_child(void);

#endif
