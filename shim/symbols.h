/* symbols.h - the real libc functions behind each hook, resolved once with
 * dlsym(RTLD_NEXT). Before resolution (hooks can run before our constructor,
 * shim-pitfalls.md §1) the nm_real_* wrappers fall back to raw syscalls,
 * never to dlsym or malloc. Used by every shim file for its own I/O. */
#ifndef NM_SHIM_SYMBOLS_H
#define NM_SHIM_SYMBOLS_H

#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>

struct nm_real_fns {
    int (*accept)(int, struct sockaddr *, socklen_t *);
    int (*accept4)(int, struct sockaddr *, socklen_t *, int);
    ssize_t (*read)(int, void *, size_t);
    ssize_t (*recv)(int, void *, size_t, int);
    ssize_t (*recvfrom)(int, void *, size_t, int, struct sockaddr *,
                        socklen_t *);
    ssize_t (*recvmsg)(int, struct msghdr *, int);
    ssize_t (*readv)(int, const struct iovec *, int);
    ssize_t (*write)(int, const void *, size_t);
    ssize_t (*send)(int, const void *, size_t, int);
    ssize_t (*sendto)(int, const void *, size_t, int, const struct sockaddr *,
                      socklen_t);
    ssize_t (*sendmsg)(int, const struct msghdr *, int);
    ssize_t (*writev)(int, const struct iovec *, int);
    ssize_t (*sendfile)(int, int, off_t *, size_t);
    ssize_t (*sendfile64)(int, int, off_t *, size_t);
    int (*close)(int);
    int (*shutdown)(int, int);
    int (*dup)(int);
    int (*dup2)(int, int);
    int (*dup3)(int, int, int);
    int (*close_range)(unsigned, unsigned, int);
    int (*fcntl)(int, int, ...);
    int (*open)(const char *, int, ...);
    int (*open64)(const char *, int, ...);
    int (*openat)(int, const char *, int, ...);
    int (*openat64)(int, const char *, int, ...);
    int (*fcntl64)(int, int, ...);
    int (*execv)(const char *, char *const[]);
    int (*execvp)(const char *, char *const[]);
    pid_t (*fork)(void);
    int (*execve)(const char *, char *const[], char *const[]);
    int (*poll)(struct pollfd *, nfds_t, int);
    int (*connect)(int, const struct sockaddr *, socklen_t);
};

/* The resolved functions; entries stay NULL until nm_symbols_resolve. */
extern struct nm_real_fns nm_real;

/* Resolves every entry; called from the constructor. Returns 0, or -1 when
 * a lookup returned our own hook (shim loaded twice): then stay inert. */
int nm_symbols_resolve(void);

/* Real-call wrappers safe at any time (raw syscall before resolution). */
ssize_t nm_real_read(int fd, void *buf, size_t len);
ssize_t nm_real_write(int fd, const void *buf, size_t len);
ssize_t nm_real_writev(int fd, const struct iovec *iov, int cnt);
ssize_t nm_real_send(int fd, const void *buf, size_t len, int flags);
ssize_t nm_real_sendmsg(int fd, const struct msghdr *msg, int flags);
ssize_t nm_real_recvmsg(int fd, struct msghdr *msg, int flags);
int nm_real_close(int fd);

#endif
