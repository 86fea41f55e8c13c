/* log.c - see log.h. */
#include "log.h"
#include "symbols.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>
#include <unistd.h>

int nm_log_level = -1;
static int log_fd = -1;
static int is_syslog;

/* Our own fds live high and close-on-exec so servers that close or dup2
 * "free" low numbers do not collide with them (docs/interposition.md). */
static int move_high(int fd)
{
    int hi = nm_real_fcntl(fd, F_DUPFD_CLOEXEC, (void *)512);
    if (hi < 0)
        return fd;
    nm_real_close(fd);
    return hi;
}

void nm_log_open(const char *target, const char *level)
{
    if (target == NULL || *target == '\0')
        return;
    nm_log_level = NM_LOG_WARN;
    if (level != NULL) {
        if (strcasecmp(level, "error") == 0)
            nm_log_level = NM_LOG_ERROR;
        else if (strcasecmp(level, "info") == 0)
            nm_log_level = NM_LOG_INFO;
        else if (strcasecmp(level, "debug") == 0)
            nm_log_level = NM_LOG_DEBUG;
    }
    if (strcmp(target, "stderr") == 0) {
        log_fd = move_high(nm_real_fcntl(2, F_DUPFD_CLOEXEC, (void *)3));
    } else if (strcmp(target, "syslog") == 0) {
        is_syslog = 1;
        openlog("libnotmod", LOG_PID | LOG_NDELAY, LOG_DAEMON);
    } else {
        int fd = nm_real_open(target, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC,
                              0644);
        log_fd = fd < 0 ? -1 : move_high(fd);
    }
    if (log_fd < 0 && !is_syslog)
        nm_log_level = -1;
}

void nm_log_write(int level, const char *fmt, ...)
{
    static const char *const names[] = {"error", "warn", "info", "debug"};
    int saved = errno;
    char line[512];
    va_list ap;
    int n = snprintf(line, sizeof(line), "notmod[%d] %s: ", (int)getpid(),
                     names[level]);
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
    va_end(ap);
    if (m < 0)
        m = 0;
    size_t len = (size_t)n + (size_t)m;
    if (len > sizeof(line) - 2)
        len = sizeof(line) - 2;
    if (is_syslog) {
        line[len] = '\0';
        syslog(level == NM_LOG_ERROR ? LOG_ERR : LOG_INFO, "%s", line);
    } else if (log_fd >= 0) {
        line[len++] = '\n';
        ssize_t r = nm_real_write(log_fd, line, len);
        (void)r;
    }
    errno = saved;
}
