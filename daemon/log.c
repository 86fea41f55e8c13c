/* log.c - see log.h. */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <time.h>

static bool log_to_syslog;
static int log_max_level = LOG_INFO;

void nm_log_init(bool use_syslog, int max_level)
{
    if (use_syslog && !log_to_syslog)
        openlog("notmodd", LOG_PID | LOG_NDELAY, LOG_DAEMON);
    log_to_syslog = use_syslog;
    log_max_level = max_level;
}

void nm_log(int level, const char *fmt, ...)
{
    if (level > log_max_level)
        return;
    va_list ap;
    va_start(ap, fmt);
    if (log_to_syslog) {
        vsyslog(level, fmt, ap);
    } else {
        static const char *const names[] = {"emerg", "alert",   "crit",
                                            "error", "warning", "notice",
                                            "info",  "debug"};
        fprintf(stderr, "notmodd: %s: ", names[level & 7]);
        vfprintf(stderr, fmt, ap);
        fputc('\n', stderr);
    }
    va_end(ap);
}
