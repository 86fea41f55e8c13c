/* phase.h - the per-connection phase machine of the write side: the
 * server's output is cut into phases at response boundaries. A response
 * that a 304 could answer, or that could take notmod's tag, has its head
 * HELD until complete (usually it arrives in one call, and is not
 * copied), then decided (decide.h): its 304 goes out and the rest of the
 * 200 is SWALLOWED (the server is told it was sent); or its body is HELD
 * and hashed for the tag; or the head is released in front of what
 * follows and the response PASSES. Pass phases call the real function with
 * the server's own bytes; on a partial write the parser is rolled back so
 * the server's view stays exact. Used by the hooks, track.c and
 * process.c. */
#ifndef NM_SHIM_PHASE_H
#define NM_SHIM_PHASE_H

#include "conn.h"

#include <stdbool.h>
#include <sys/types.h>
#include <sys/uio.h>

/* The server writes iov on c, named h (the fd it wrote to), the way op and
 * flags say; returns what the real call would return to it. */
ssize_t nm_phase_write(struct nm_conn *c, nm_handle_t h, enum nm_write_op op,
                       const struct iovec *iov, int iovcnt, int flags);

/* The server sendfile()s count bytes from in_fd to c's socket out_fd;
 * real is the libc function it called (sendfile or sendfile64). Bodies
 * sent this way are never seen: they are followed by their count, and
 * hashed from the file when a tag is wanted. Returns what real would. */
ssize_t nm_phase_sendfile(struct nm_conn *c, int out_fd, int in_fd,
                          off_t *offset, size_t count,
                          ssize_t (*real)(int, int, off_t *, size_t));

/* c's output ends (its last fd closes, the server shuts it down, or it
 * forks or execs), named h: a close-delimited body held for its tag
 * (is_eof) is answered now, whatever else is held goes out unchanged, and
 * what is owed is delivered, bounded so that a dead client cannot hang
 * the server. */
void nm_phase_drain(struct nm_conn *c, nm_handle_t h, bool is_eof);

#endif
