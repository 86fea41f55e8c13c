/* process.h - what the shim does for its connections when the process
 * forks, execs or exits: nothing it holds or owes may be lost or sent
 * twice. An exchange in flight at fork gets a claim cell both processes
 * share (conn.h), a program exec'd onto a connection in mid-response
 * writes into a pipe the shim relays, and at exit what is held goes out
 * unchanged. Used by the hooks (pthread_atfork, exec, the destructor). */
#ifndef NM_SHIM_PROCESS_H
#define NM_SHIM_PROCESS_H

#include <stdbool.h>

/* pthread_atfork handlers: nothing is held or owed across fork, and an
 * exchange in flight is followed by neither process afterwards, unless it
 * was split with a claim cell: then by the side that claims it first. */
void nm_process_before_fork(void);
void nm_process_after_fork_parent(void);
void nm_process_after_fork_child(void);

/* Before exec: a response in progress on fd 1 is relayed through the shim
 * from a pipe the exec'd program writes; then everything held or owed is
 * delivered. Returns only in the process that execs. */
void nm_process_before_exec(void);

/* ---- vfork kept a real vfork in a process that follows connections ----
 * The child shares the parent's memory and only execs (or exits), its
 * hooks passing through. What it must not do is give a followed connection
 * to the program it execs while the parent goes on following it: that
 * program could answer the request the parent queued, and the parent pair
 * its own next response with that request. So the parent notes its
 * sockets, the child checks at exec which ones the new image inherits,
 * and the parent gives those up. */

/* In the parent, before the syscall: true when a real vfork is safe (every
 * connection idle on its write side, nothing held or owed, few enough to
 * note), having noted them; false: fork instead. */
bool nm_process_before_vfork(void);

/* In the vfork child: newfd was made by a dup (a name the exec'd program
 * may inherit a socket under). */
void nm_process_vfork_child_dup(int newfd);

/* In the vfork child, at exec: which noted sockets the new image
 * inherits. */
void nm_process_vfork_child_exec(void);

/* In the parent, after a vfork that made a child: the connections its
 * exec'd program inherited (all of them when the child was not seen to
 * exec through a hook) are given up. */
void nm_process_after_vfork(void);

/* At exit: held and owed bytes go out unchanged, without blocking and
 * without waiting for a lock. */
void nm_process_at_exit(void);

#endif
