/* hooks_proc.c - the shim's life in the process: the constructor (arm
 * the hooks, give the flusher its callbacks), the activation at the first
 * call that may carry HTTP (read the configuration, open the log, resolve
 * libc, map the tag table), the pthread_atfork handlers, the destructor,
 * and the hooks of vfork and exec (nothing held may cross them). Thin
 * doors to process.c. */
#include "hooks.h"
#include "hooks_ssl.h"

#include "config.h"
#include "filehash.h"
#include "flusher.h"
#include "headcache.h"
#include "kept.h"
#include "log.h"
#include "process.h"
#include "report.h"
#include "storeview.h"
#include "symbols.h"
#include "tagwatch.h"
#include "track.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <sys/syscall.h>
#include <unistd.h>

bool nm_hooks_is_armed;
bool nm_hooks_is_active;
__thread int nm_hooks_in_shim;

/* The process that ran our constructor: only it may map the tag table at
 * activation (tagwatch.h). */
static pid_t loader_pid;

/* Activation runs once: nm_hooks_activate. */
enum { SETUP_NONE, SETUP_RUNNING, SETUP_DONE };
static _Atomic int setup_state = SETUP_NONE;

/* ---- lifecycle ---- */

static void before_fork(void)
{
    nm_hooks_in_shim++;
    /* A server may fork its workers before it follows anything (nginx's
     * master never accepts): their shared table must exist by then. */
    nm_tagwatch_init();
    nm_headcache_init();
    nm_kept_init();
    nm_process_before_fork();
    if (nm_hooks_is_active)
        nm_storeview_before_fork();
    nm_hooks_in_shim--;
}

static void after_fork_parent(void)
{
    nm_process_after_fork_parent();
}

static void after_fork_child(void)
{
    /* Forked while another thread was setting up: this copy of the shim
     * would wait for it forever; it stays out of the way instead. */
    if (atomic_load(&setup_state) == SETUP_RUNNING) {
        __atomic_store_n(&nm_hooks_is_armed, false, __ATOMIC_RELAXED);
        atomic_store(&setup_state, SETUP_DONE);
    }
    nm_filehash_after_fork_child();
    nm_flusher_after_fork_child();
    nm_report_after_fork_child();
    nm_storeview_after_fork_child();
    nm_process_after_fork_child();
    nm_hooks_ssl_after_fork_child();
}

/* The flusher calls back into the layers above it. */
static const struct nm_flusher_ops flusher_ops = {
    .flush_item = nm_track_flush_watched,
    .tick = nm_report_tick,
    /* The event socket is opened while the process has one thread: see
     * nm_report_open. */
    .before_start = nm_report_open,
};

/* ---- arming and activation ---- */

/* Our pid without libc's getpid: its first call would be a lazy binding,
 * about 700 instructions in every program a CGI execs. */
static pid_t raw_getpid(void)
{
#if defined(__x86_64__)
    long pid;
    __asm__ volatile("syscall"
                     : "=a"(pid)
                     : "0"((long)SYS_getpid)
                     : "rcx", "r11", "memory");
    return (pid_t)pid;
#else
    return getpid();
#endif
}

#ifdef NM_NO_STARTFILES
/* The handle crtbeginS.o would define (linked without it: CMakeLists.txt):
 * atfork handlers are registered under it. */
__attribute__((visibility("hidden"))) void *__dso_handle = &__dso_handle;
#endif

#ifdef __GLIBC__
/* pthread_atfork is this call, from libc_nonshared.a (glibc's
 * nptl/pthread_atfork.c), linked at the end of our text: calling it
 * faulted in a page of code no other load-time work touches. */
extern int __register_atfork(void (*prepare)(void), void (*parent)(void),
                             void (*child)(void), void *dso_handle);
extern void *__dso_handle;
#endif

static void register_atfork(void)
{
#ifdef __GLIBC__
    __register_atfork(before_fork, after_fork_parent, after_fork_child,
                      __dso_handle);
#else
    pthread_atfork(before_fork, after_fork_parent, after_fork_child);
#endif
}

/* Arms the hooks, and no more: every program a CGI execs loads the shim
 * (tools/bench/RESULTS.md, "A process that never follows"). */
__attribute__((constructor)) static void nm_shim_init(void)
{
    nm_config_capture();
    loader_pid = raw_getpid();
    nm_flusher_init(&flusher_ops);
    register_atfork();
    nm_symbols_allow_lookup();
    __atomic_store_n(&nm_hooks_is_armed, true, __ATOMIC_RELEASE);
}

/* Sets everything up; true when the shim may work. */
static bool set_up(void)
{
    nm_log_open(nm_config_env("NOTMOD_LOG"), nm_config_env("NOTMOD_LOG_LEVEL"));
    nm_config_load();
    if (nm_symbols_resolve() != 0) {
        nm_log(NM_LOG_ERROR, "libnotmod.so loaded twice: staying inert");
        return false;
    }
    if (nm_cfg.is_disabled)
        return false;
    if (getpid() == loader_pid) {
        nm_tagwatch_init();
        nm_headcache_init(); /* the URLs' files, as the tag table */
        nm_kept_init(); /* shared by the workers it forks, as the tag table */
    }
    nm_hooks_ssl_enable();
    nm_log(NM_LOG_INFO, "active (hold max %llu bytes, %u ms)",
           (unsigned long long)nm_cfg.hold_max_bytes, (unsigned)nm_cfg.hold_ms);
    return true;
}

bool nm_hooks_activate(void)
{
    if (__atomic_load_n(&nm_hooks_is_active, __ATOMIC_ACQUIRE))
        return true;
    int none = SETUP_NONE;
    if (atomic_compare_exchange_strong(&setup_state, &none, SETUP_RUNNING)) {
        int saved_errno = errno;
        nm_hooks_in_shim++;
        bool is_ok = set_up();
        nm_hooks_in_shim--;
        errno = saved_errno;
        __atomic_store_n(&nm_hooks_is_active, is_ok, __ATOMIC_RELEASE);
        __atomic_store_n(&nm_hooks_is_armed, false, __ATOMIC_RELEASE);
        atomic_store(&setup_state, SETUP_DONE);
        return is_ok;
    }
    /* Another thread sets up (a few syscalls): wait for it, boundedly;
     * a call that gives up passes through. */
    for (int n = 0; n < 10000 && atomic_load(&setup_state) != SETUP_DONE; n++)
        sched_yield();
    return __atomic_load_n(&nm_hooks_is_active, __ATOMIC_ACQUIRE);
}

/* exit() (not _exit) after writing a response: deliver what is held,
 * and send the events queued (only an active shim queues any: a process
 * that never followed reads no page of the report's state at exit). */
__attribute__((destructor)) static void nm_shim_fini(void)
{
    if (__atomic_load_n(&nm_hooks_is_active, __ATOMIC_RELAXED)) {
        QUIETLY(nm_process_at_exit());
        /* A process that answered only from the read side (accelerated
         * 304s) closes nothing before it exits: its events go now. */
        QUIETLY(nm_report_flush());
    }
}

/* ---- processes ---- */

/* vfork's child shares our memory until it execs, its hooks passing
 * straight to libc (its thread's nm_hooks_in_shim, which it shares with
 * the suspended parent thread, is raised until the parent resumes). A
 * real vfork is kept while the shim is armed (as in every shell a CGI
 * runs), and once it is active while no connection has a response under
 * way (busybox's per-connection child spawns its CGI with the request
 * read and nothing written): fork costs each such spawn about 110 us more
 * CPU here (tools/bench/RESULTS.md). The child's exec checks which
 * followed sockets the new image inherits, and the parent gives those up
 * (process.h). Otherwise vfork becomes fork (the same semantics for a
 * correct vfork user, and the atfork handlers settle the child). */
__attribute__((used)) pid_t nm_vfork_as_fork(void)
{
    return nm_real_fork();
}

__thread bool nm_hooks_in_vfork;

#if defined(__x86_64__) && defined(__linux__)
/* 1: a real vfork; 0: nm_vfork_as_fork. */
__attribute__((used)) int nm_vfork_is_real(void)
{
    if (!__atomic_load_n(&nm_hooks_is_active, __ATOMIC_ACQUIRE))
        return 1;
    if (nm_hooks_in_shim > 0 || nm_hooks_in_vfork)
        return 0; /* from inside the shim, or a vfork child's own vfork */
    bool is_safe;
    QUIETLY(is_safe = nm_process_before_vfork());
    nm_hooks_in_vfork = is_safe;
    return is_safe;
}

/* The parent is back with the syscall's result r (a tail call from
 * vfork): -1 and errno for an error, else the child's pid, once the
 * connections its exec'd program inherited are given up. */
__attribute__((used)) pid_t nm_vfork_parent_done(long r)
{
    bool was_noted = nm_hooks_in_vfork;
    nm_hooks_in_vfork = false;
    if (r < 0) {
        errno = (int)-r;
        return -1;
    }
    if (was_noted)
        QUIETLY(nm_process_after_vfork());
    return (pid_t)r;
}

/* In assembly because vfork's child returns through the caller's stack
 * frame: a wrapper's own frame would be gone by the time the parent
 * returns through it (glibc's vfork keeps the return address in a
 * register across the syscall; so does this). */
/* The child returns at 1 with its mark raised: its hooks pass through
 * until exec. */
_Static_assert(SYS_vfork == 58, "the syscall number in the code below");
__asm__(".text\n"
        ".globl vfork\n"
        ".type vfork, @function\n"
        "vfork:\n"
        "    subq $8, %rsp\n"
        "    call nm_vfork_is_real\n"
        "    addq $8, %rsp\n"
        "    testl %eax, %eax\n"
        "    jz nm_vfork_as_fork\n"
        "    movq nm_hooks_in_shim@gottpoff(%rip), %rcx\n"
        "    addl $1, %fs:(%rcx)\n"
        "    popq %rdi\n"
        "    movl $58, %eax\n"
        "    syscall\n"
        "    pushq %rdi\n"
        "    testq %rax, %rax\n"
        "    jz 1f\n"
        "    movq nm_hooks_in_shim@gottpoff(%rip), %rcx\n"
        "    subl $1, %fs:(%rcx)\n"
        "    movq %rax, %rdi\n"
        "    jmp nm_vfork_parent_done\n"
        "1:  ret\n"
        ".size vfork, .-vfork\n");
#else
EXPORT pid_t vfork(void)
{
    return nm_vfork_as_fork();
}
#endif

/* Nothing held may cross exec: the new image has no shim state. */
static void before_exec(void)
{
    if (nm_hooks_should_follow())
        QUIETLY(nm_process_before_exec());
    else if (nm_hooks_in_vfork) /* the child of a real vfork (above) */
        nm_process_vfork_child_exec();
}

EXPORT int execve(const char *path, char *const argv[], char *const envp[])
{
    before_exec();
    return nm_real_execve(path, argv, envp);
}

EXPORT int execv(const char *path, char *const argv[])
{
    before_exec();
    return nm_real_execv(path, argv);
}

EXPORT int execvp(const char *file, char *const argv[])
{
    before_exec();
    return nm_real_execvp(file, argv);
}
