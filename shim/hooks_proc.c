/* hooks_proc.c - the shim's life in the process: the constructor (resolve
 * libc, read the configuration, give the flusher its callbacks), the
 * pthread_atfork handlers, the destructor, and the hooks of vfork and exec
 * (nothing held may cross them). Thin doors to process.c. */
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
#include <unistd.h>

bool nm_hooks_is_active;
__thread int nm_hooks_in_shim;

/* ---- lifecycle ---- */

static void before_fork(void)
{
    nm_hooks_in_shim++;
    nm_process_before_fork();
    nm_storeview_before_fork();
    nm_hooks_in_shim--;
}

static void after_fork_parent(void)
{
    nm_process_after_fork_parent();
}

static void after_fork_child(void)
{
    nm_filehash_after_fork_child();
    nm_headcache_after_fork_child();
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

__attribute__((constructor)) static void nm_shim_init(void)
{
    nm_log_open();
    nm_config_load();
    if (nm_symbols_resolve() != 0) {
        nm_log(NM_LOG_ERROR, "libnotmod.so loaded twice: staying inert");
        return;
    }
    if (nm_cfg.is_disabled)
        return;
    nm_flusher_init(&flusher_ops);
    pthread_atfork(before_fork, after_fork_parent, after_fork_child);
    nm_tagwatch_init(); /* before the server forks: shared by its workers */
    nm_kept_init();     /* the same */
    nm_hooks_is_active = true;
    nm_hooks_ssl_enable();
    nm_log(NM_LOG_INFO, "active (hold max %llu bytes, %u ms)",
           (unsigned long long)nm_cfg.hold_max_bytes, (unsigned)nm_cfg.hold_ms);
}

/* exit() (not _exit) after writing a response: deliver what is held. */
__attribute__((destructor)) static void nm_shim_fini(void)
{
    if (nm_hooks_is_active) {
        QUIETLY(nm_process_at_exit());
        /* A process that answered only from the read side (accelerated
         * 304s) closes nothing before it exits: its events go now. */
        QUIETLY(nm_report_flush());
    }
}

/* ---- processes ---- */

/* vfork's child shares our memory and would run hooks on the parent's
 * table; fork gives the same semantics to a correct vfork user. */
EXPORT pid_t vfork(void)
{
    return nm_real_fork();
}

/* Nothing held may cross exec: the new image has no shim state. */
static void before_exec(void)
{
    if (nm_hooks_may_touch_state())
        QUIETLY(nm_process_before_exec());
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
