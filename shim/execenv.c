/* execenv.c - see execenv.h. */
#include "execenv.h"

#include "config.h"
#include "preload.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

/* The shim's path as the loader opened it; empty: match nothing. */
static char lib_path[512];

/* A syscall that writes nothing but its result: no errno (the vfork
 * child shares the parent thread's), no lazy binding of libc's syscall()
 * (a write to the GOT the parent shares). */
static long raw_syscall3(long nr, long a, long b, long c)
{
#if defined(__x86_64__)
    long r;
    __asm__ volatile("syscall"
                     : "=a"(r)
                     : "0"(nr), "D"(a), "S"(b), "d"(c)
                     : "rcx", "r11", "memory");
    return r;
#else
    long r = syscall(nr, a, b, c);
    return r < 0 ? -errno : r;
#endif
}

void nm_execenv_init(void)
{
    Dl_info info;
    if (dladdr((void *)nm_execenv_init, &info) == 0 || info.dli_fname == NULL ||
        strlen(info.dli_fname) >= sizeof(lib_path))
        return;
    strcpy(lib_path, info.dli_fname);
    /* Binds now the libc functions the strip calls (string functions),
     * so that a vfork child's first exec binds none. */
    char var[sizeof(lib_path) + 16] = "LD_PRELOAD=a:";
    strcat(var, lib_path);
    char *const envp[] = {var, NULL};
    char *out[2];
    char buf[sizeof(var)];
    (void)nm_preload_strip_env(envp, lib_path, out, 2, buf, sizeof(buf));
}

/* getdents64's record (the kernel's struct linux_dirent64). */
struct dirent64_rec {
    uint64_t ino;
    int64_t off;
    unsigned short reclen;
    unsigned char type;
    char name[];
};

/* Would the exec'd program inherit fd as a socket? fstat first: most fds
 * are pipes and files, asked once. */
static bool is_inherited_socket(int fd)
{
    struct stat st;
    if (raw_syscall3(SYS_fstat, fd, (long)&st, 0) != 0 || !S_ISSOCK(st.st_mode))
        return false;
    long fl = raw_syscall3(SYS_fcntl, fd, F_GETFD, 0);
    return fl >= 0 && !(fl & FD_CLOEXEC);
}

/* Does the program about to run inherit a socket of any family? Also true
 * when that cannot be told (no /proc: a chroot). Which fds are open comes
 * from /proc/self/fd: opening it, one getdents64 and the one that finds
 * the end cost about 8 us here, and each fd 0.4 us more (fstat; F_GETFD
 * for a socket).
 * Probing every number with fcntl costs 0.2 us a number (13 us up to 64,
 * 180 up to 1024) and is complete only up to a bound nothing gives. Raw
 * syscalls: the fcntl hook is not wanted here, nor a lookup. */
static bool inherits_socket(void)
{
    long dir = raw_syscall3(SYS_openat, AT_FDCWD, (long)"/proc/self/fd",
                            O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir < 0)
        return true;
    /* 8-aligned: the records hold 64-bit fields. */
    _Alignas(8) char buf[1024];
    bool has_socket = false;
    for (;;) {
        long n = raw_syscall3(SYS_getdents64, dir, (long)buf, sizeof(buf));
        if (n < 0)
            has_socket = true;
        if (n <= 0 || has_socket)
            break;
        for (long off = 0; off < n && !has_socket;) {
            const struct dirent64_rec *d =
                (const struct dirent64_rec *)(buf + off);
            off += d->reclen;
            int fd = 0;
            const char *c = d->name;
            if (*c < '0' || *c > '9')
                continue; /* "." and ".." */
            for (; *c >= '0' && *c <= '9' && fd < (1 << 27); c++)
                fd = fd * 10 + (*c - '0');
            /* The listing's own fd is a directory: never counted. */
            has_socket = is_inherited_socket(fd);
        }
    }
    raw_syscall3(SYS_close, dir, 0, 0);
    return has_socket;
}

char *const *nm_execenv_for(char *const envp[], struct nm_execenv *env)
{
    if (nm_cfg.exec_keeps_shim || lib_path[0] == '\0')
        return envp;
    char *const *out = envp;
    /* The environment first: memory only, and most execs of a server
     * that loaded the shim through LD_PRELOAD name it. */
    int removed = nm_preload_strip_env(
        envp, lib_path, env->envp, NM_EXECENV_VARS, env->buf, sizeof(env->buf));
    if (removed > 0 && !inherits_socket())
        out = env->envp;
    return out;
}
