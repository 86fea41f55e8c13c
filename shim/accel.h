/* accel.h - acceleration's read side (docs/acceleration.md, "Deciding on
 * a read", "Answering"): a conditional request the shim may answer from a
 * kept head within its route's freshness is answered with a 304 before the
 * server sees it, and taken out of what the server reads. Transport-
 * neutral: the 304 leaves through the connection's transport; the hooks
 * remove the bytes and read again. Used by hooks_io.c. */
#ifndef NM_SHIM_ACCEL_H
#define NM_SHIM_ACCEL_H

#include "conn.h"

#include <stddef.h>

/* The server read n bytes into iov (cnt buffers) from c (locked; the read
 * consumed them, no MSG_PEEK). When they begin with a whole request head
 * the shim answers (a 304 sent or owed, its event queued), returns that
 * head's length, which the caller removes from what the server gets; else
 * 0 and nothing changed. Only when every request the server read has been
 * answered (pipelining order). */
size_t nm_accel_take(struct nm_conn *c, const struct iovec *iov, int cnt,
                     size_t n);

#endif
