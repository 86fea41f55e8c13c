/* top.h - `notmodctl top`: notmodd's counters as an operator's live screen
 * (totals, rates per second, 10/100/1000 second averages, routes), or one
 * report as plain lines or JSON for scripts. */
#ifndef NM_TOP_H
#define NM_TOP_H

/* argv starts at "top"; control is the control socket's path. Returns an
 * exit code (notmodctl.h). */
int nm_ctl_top(const char *control, int argc, char **argv, const char *usage);

#endif
