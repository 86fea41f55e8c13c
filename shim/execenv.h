/* execenv.h - the environment a program exec'd by a process that follows
 * connections is given: without the shim's own LD_PRELOAD entry when the
 * program inherits no socket, so that it never loads the shim (each
 * program a CGI request execs, the script's shell and what it runs, would
 * load it only to pass every call through). Used by the exec hooks
 * (hooks_proc.c); safe in a vfork child. */
#ifndef NM_SHIM_EXECENV_H
#define NM_SHIM_EXECENV_H

/* Bounds of what is built on the exec'ing stack; an environment beyond
 * them is passed on unchanged (the shim kept: a cost, not a fault). */
#define NM_EXECENV_VARS 512
#define NM_EXECENV_BYTES 2048

struct nm_execenv {
    char *envp[NM_EXECENV_VARS];
    char buf[NM_EXECENV_BYTES];
};

/* At activation (not in a vfork child): notes the path the loader opened
 * the shim under, taken from dladdr. */
void nm_execenv_init(void);

/* The environment to exec with in place of envp: env->envp, built in the
 * caller's env, when the shim's path was noted (the process became
 * active), NOTMOD_EXEC allows it, envp's LD_PRELOAD names the shim and no
 * fd open without close-on-exec is a socket; else envp itself. For the
 * exec hooks of an active process. No allocation, no lock, no write
 * outside env (raw syscalls, errno untouched, libc's string functions
 * bound at init): fit for a vfork child. */
char *const *nm_execenv_for(char *const envp[], struct nm_execenv *env);

#endif
