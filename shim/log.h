/* log.h - the shim's optional log (NOTMOD_LOG = stderr | path | syslog,
 * NOTMOD_LOG_LEVEL = error | warn | info | debug). Off by default: the shim
 * prints nothing unless asked. Writes through the real write(), never a hook.
 */
#ifndef NM_SHIM_LOG_H
#define NM_SHIM_LOG_H

enum { NM_LOG_ERROR = 0, NM_LOG_WARN, NM_LOG_INFO, NM_LOG_DEBUG };

extern int nm_log_level; /* -1 when logging is off */

/* Opens the log: target is NOTMOD_LOG's value, level NOTMOD_LOG_LEVEL's
 * (either may be NULL), as config.c captured them. */
void nm_log_open(const char *target, const char *level);

void nm_log_write(int level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#define nm_log(level, ...)                                                     \
    do {                                                                       \
        if ((level) <= nm_log_level)                                           \
            nm_log_write((level), __VA_ARGS__);                                \
    } while (0)

#endif
