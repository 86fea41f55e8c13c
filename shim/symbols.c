/* symbols.c - resolution of the real libc functions (see symbols.h). */
#include "symbols.h"

#include <dlfcn.h>
#include <errno.h>
#include <sys/syscall.h>
#include <unistd.h>

struct nm_real_fns nm_real;

/* Looks name up behind us; refuses our own address (loaded twice). */
static void *lookup(const char *name, void *self, int *is_circular)
{
    void *p = dlsym(RTLD_NEXT, name);
    if (p != NULL && p == self)
        *is_circular = 1;
    return p;
}

/* Our own exported hooks, to detect RTLD_NEXT returning them. */
extern ssize_t write(int, const void *, size_t);

int nm_symbols_resolve(void)
{
    int is_circular = 0;
#define RESOLVE(fn)                                                            \
    nm_real.fn = (__typeof__(nm_real.fn))lookup(#fn, NULL, &is_circular)
    RESOLVE(accept);
    RESOLVE(accept4);
    RESOLVE(read);
    RESOLVE(recv);
    RESOLVE(recvfrom);
    RESOLVE(recvmsg);
    RESOLVE(readv);
    nm_real.write =
        (__typeof__(nm_real.write))lookup("write", (void *)write, &is_circular);
    RESOLVE(send);
    RESOLVE(sendto);
    RESOLVE(sendmsg);
    RESOLVE(writev);
    RESOLVE(sendfile);
    RESOLVE(sendfile64);
    RESOLVE(close);
    RESOLVE(shutdown);
    RESOLVE(dup);
    RESOLVE(dup2);
    RESOLVE(dup3);
    RESOLVE(close_range);
    RESOLVE(fcntl);
    RESOLVE(open);
    RESOLVE(open64);
    RESOLVE(openat);
    RESOLVE(openat64);
    RESOLVE(fcntl64);
    RESOLVE(execv);
    RESOLVE(execvp);
    RESOLVE(fork);
    RESOLVE(execve);
    RESOLVE(poll);
    RESOLVE(connect);
#undef RESOLVE
    return is_circular ? -1 : 0;
}

ssize_t nm_real_read(int fd, void *buf, size_t len)
{
    if (nm_real.read)
        return nm_real.read(fd, buf, len);
    return syscall(SYS_read, fd, buf, len);
}

ssize_t nm_real_write(int fd, const void *buf, size_t len)
{
    if (nm_real.write)
        return nm_real.write(fd, buf, len);
    return syscall(SYS_write, fd, buf, len);
}

ssize_t nm_real_writev(int fd, const struct iovec *iov, int cnt)
{
    if (nm_real.writev)
        return nm_real.writev(fd, iov, cnt);
    return syscall(SYS_writev, fd, iov, cnt);
}

ssize_t nm_real_send(int fd, const void *buf, size_t len, int flags)
{
    if (nm_real.send)
        return nm_real.send(fd, buf, len, flags);
    return syscall(SYS_sendto, fd, buf, len, flags, NULL, 0);
}

ssize_t nm_real_sendmsg(int fd, const struct msghdr *msg, int flags)
{
    if (nm_real.sendmsg)
        return nm_real.sendmsg(fd, msg, flags);
    return syscall(SYS_sendmsg, fd, msg, flags);
}

ssize_t nm_real_recvmsg(int fd, struct msghdr *msg, int flags)
{
    if (nm_real.recvmsg)
        return nm_real.recvmsg(fd, msg, flags);
    return syscall(SYS_recvmsg, fd, msg, flags);
}

int nm_real_close(int fd)
{
    if (nm_real.close)
        return nm_real.close(fd);
    return (int)syscall(SYS_close, fd);
}
