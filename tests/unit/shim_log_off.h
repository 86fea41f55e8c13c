/* shim_log_off.h - the shim's log (shim/log.h), off, for a unit test that
 * links shim objects without log.c. Included by one file per test. */
#ifndef NM_TEST_SHIM_LOG_OFF_H
#define NM_TEST_SHIM_LOG_OFF_H

int nm_log_level = -1;

void nm_log_write(int level, const char *fmt, ...)
{
    (void)level;
    (void)fmt;
}

#endif
