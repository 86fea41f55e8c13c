/* stats_interval.h - `notmodctl stats --interval N`: the totals' rates
 * every N seconds, one line (or one JSON object) per interval, like
 * vmstat: for logs, scripts and a quick look without the full screen. */
#ifndef NM_STATS_INTERVAL_H
#define NM_STATS_INTERVAL_H

/* argv starts at "stats" and holds --interval; control is the control
 * socket's path. Returns an exit code (notmodctl.h). */
int nm_ctl_stats_interval(const char *control, int argc, char **argv,
                          const char *usage);

#endif
