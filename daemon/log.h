/* log.h - notmodd's logging: stderr (foreground) or syslog (daemonized),
 * with a level threshold. Used by every daemon module. */
#ifndef NM_LOG_H
#define NM_LOG_H

#include <stdbool.h>
#include <syslog.h>

/* Sends messages at level <= max_level (LOG_ERR..LOG_DEBUG) to syslog when
 * use_syslog, else to stderr. Safe to call again (SIGHUP). */
void nm_log_init(bool use_syslog, int max_level);

/* printf-style message; one line, no trailing newline needed. */
void nm_log(int level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif
