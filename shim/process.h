/* process.h - what the shim does for its connections when the process
 * forks, execs or exits: nothing it holds or owes may be lost or sent
 * twice. An exchange in flight at fork gets a claim cell both processes
 * share (conn.h), a program exec'd onto a connection in mid-response
 * writes into a pipe the shim relays, and at exit what is held goes out
 * unchanged. Used by the hooks (pthread_atfork, exec, the destructor). */
#ifndef NM_SHIM_PROCESS_H
#define NM_SHIM_PROCESS_H

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

/* At exit: held and owed bytes go out unchanged, without blocking and
 * without waiting for a lock. */
void nm_process_at_exit(void);

#endif
