/* report.c - see report.h. */
#include "report.h"

#include "config.h"
#include "hold.h"
#include "symbols.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static pthread_mutex_t report_lock = PTHREAD_MUTEX_INITIALIZER;
static _Atomic int report_fd = -1;
static uint64_t quiet_until_ms; /* no attempt before this (no daemon) */

/* A datagram socket of our own: close-on-exec, non-blocking, high. */
static int open_socket(void)
{
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return -1;
    int hi = fcntl(fd, F_DUPFD_CLOEXEC, 600);
    if (hi >= 0) {
        nm_real_close(fd);
        fd = hi;
    }
    return fd;
}

void nm_report_send(nm_event_t *ev)
{
    char buf[NM_EVENT_MAX_LEN];
    uint64_t now = nm_now_ms();
    if (now < quiet_until_ms)
        return;
    ev->pid = (uint32_t)getpid();
    if (nm_cfg.has_secret) {
        ev->flags |= NM_EVENT_F_TOKEN;
        ev->token = nm_cfg.secret;
    }
    int n = nm_event_encode(buf, sizeof(buf), ev);
    if (n <= 0)
        return;
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    memcpy(sa.sun_path, nm_cfg.socket_path, sizeof(sa.sun_path) - 1);
    int saved = errno;
    pthread_mutex_lock(&report_lock);
    int fd = atomic_load(&report_fd);
    if (fd < 0) {
        fd = open_socket();
        atomic_store(&report_fd, fd);
    }
    ssize_t r = -1;
    if (fd >= 0)
        r = sendto(fd, buf, (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL,
                   (struct sockaddr *)&sa, sizeof(sa));
    if (r < 0 && errno != EAGAIN)
        quiet_until_ms = now + 1000; /* no daemon: try again in a second */
    pthread_mutex_unlock(&report_lock);
    errno = saved;
}

void nm_report_fd_gone(int fd)
{
    int expected = fd;
    if (fd >= 0)
        atomic_compare_exchange_strong(&report_fd, &expected, -1);
}

void nm_report_after_fork_child(void)
{
    pthread_mutex_init(&report_lock, NULL);
}

void nm_report_range_gone(unsigned first, unsigned last)
{
    int fd = atomic_load(&report_fd);
    if (fd >= 0 && (unsigned)fd >= first && (unsigned)fd <= last)
        nm_report_fd_gone(fd);
}
