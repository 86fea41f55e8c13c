/* events.c - see events.h. */
#include "events.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "log.h"

/* Datagrams read per wakeup: bounded so the loop stays fair. */
#define BATCH 256

/* Linux queues at most net.unix.max_dgram_qlen datagrams on a unix
 * datagram socket, whatever its buffer: a shim sends its events in
 * batches of up to 64, one datagram each, so a queue shorter than a few
 * batches drops most of a burst (seen here: 10, the kernel's default, lost
 * 4 events in 5 at 600 keep-alive requests; 512 lost none). */
#define QLEN_WANTED 512
#define QLEN_PATH "/proc/sys/net/unix/max_dgram_qlen"

struct nm_events {
    struct event *ev;
    int fd;
    char *path;
    nm_events_fn fn;
    void *arg;
    bool has_secret;
    uint64_t token;
    nm_events_counts_t counts;
};

static int fill_addr(struct sockaddr_un *sa, const char *path)
{
    memset(sa, 0, sizeof(*sa));
    sa->sun_family = AF_UNIX;
    if (strlen(path) >= sizeof(sa->sun_path)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    strcpy(sa->sun_path, path);
    return 0;
}

/* A socket file nobody answers on is left over from a crash. */
static bool is_stale(const struct sockaddr_un *sa, int type)
{
    struct stat sb;
    if (lstat(sa->sun_path, &sb) != 0 || !S_ISSOCK(sb.st_mode))
        return false;
    int fd = socket(AF_UNIX, type | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return false;
    int rc = connect(fd, (const struct sockaddr *)sa, sizeof(*sa));
    int err = errno;
    close(fd);
    return rc != 0 && err == ECONNREFUSED;
}

int nm_unix_bind(const char *path, int type, int mode)
{
    struct sockaddr_un sa;
    if (fill_addr(&sa, path) < 0)
        return -1;
    if (is_stale(&sa, type))
        unlink(path);
    int fd = socket(AF_UNIX, type | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return -1;
    /* Bind under a tight umask, then open up: no window where the control
     * socket is reachable with looser permissions. */
    mode_t old = umask(0177);
    int rc = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
    umask(old);
    if (rc != 0 || chmod(path, (mode_t)mode) != 0) {
        int err = errno;
        close(fd);
        errno = err;
        return -1;
    }
    return fd;
}

static void on_readable(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    nm_events_t *e = arg;
    static unsigned char buf[NM_EVENT_MAX_LEN + 1];
    for (int i = 0; i < BATCH; i++) {
        ssize_t n = recv(fd, buf, sizeof(buf), MSG_TRUNC | MSG_DONTWAIT);
        if (n < 0)
            break; /* EAGAIN, or an error we cannot act on */
        e->counts.received++;
        nm_event_t ev;
        if ((size_t)n > NM_EVENT_MAX_LEN ||
            nm_event_decode(buf, (size_t)n, &ev) != NM_OK) {
            e->counts.malformed++;
            continue;
        }
        if (e->has_secret &&
            (!(ev.flags & NM_EVENT_F_TOKEN) || ev.token != e->token)) {
            e->counts.rejected++;
            continue;
        }
        e->counts.accepted++;
        e->fn(e->arg, &ev);
    }
}

/* Says once, at start, when the kernel's datagram queue is too short for
 * the events to arrive whole (QLEN_WANTED); the limit is the system's to
 * set, read when a socket is made: the operator raises it, then restarts
 * notmodd. */
static void warn_if_short_queue(void)
{
    char buf[32] = "";
    int fd = open(QLEN_PATH, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    long qlen = n > 0 ? strtol(buf, NULL, 10) : QLEN_WANTED;
    if (qlen < QLEN_WANTED)
        nm_log(LOG_WARNING,
               "net.unix.max_dgram_qlen is %ld: bursts of events from busy "
               "servers will be dropped and the statistics undercount; "
               "'sysctl -w net.unix.max_dgram_qlen=%d', then restart notmodd",
               qlen, QLEN_WANTED);
}

nm_events_t *nm_events_open(struct event_base *base, const char *path,
                            nm_events_fn fn, void *arg)
{
    nm_events_t *e = calloc(1, sizeof(*e));
    if (!e)
        return NULL;
    e->fd = nm_unix_bind(path, SOCK_DGRAM, 0666);
    if (e->fd < 0) {
        int err = errno;
        free(e);
        errno = err;
        return NULL;
    }
    /* Bursts from many servers queue here rather than being dropped. */
    int rcvbuf = 4 << 20;
    setsockopt(e->fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
    warn_if_short_queue();
    e->path = strdup(path);
    e->fn = fn;
    e->arg = arg;
    e->ev = event_new(base, e->fd, EV_READ | EV_PERSIST, on_readable, e);
    if (!e->path || !e->ev || event_add(e->ev, NULL) != 0) {
        nm_events_close(e);
        errno = ENOMEM;
        return NULL;
    }
    return e;
}

void nm_events_set_secret(nm_events_t *e, bool has_secret, uint64_t token)
{
    e->has_secret = has_secret;
    e->token = token;
}

const nm_events_counts_t *nm_events_counts(const nm_events_t *e)
{
    return &e->counts;
}

void nm_events_close(nm_events_t *e)
{
    if (!e)
        return;
    if (e->ev)
        event_free(e->ev);
    if (e->fd >= 0)
        close(e->fd);
    if (e->path)
        unlink(e->path);
    free(e->path);
    free(e);
}
