/* notmodctl.h - pieces of notmodctl shared between its files: the exit
 * codes of the CLI contract and the launcher (`run`). */
#ifndef NM_NOTMODCTL_H
#define NM_NOTMODCTL_H

enum { EXIT_OK = 0, EXIT_FAILED = 1, EXIT_USAGE = 2 };

/* `notmodctl run [--socket PATH] -- PROGRAM ARGS...`: argv starts at
 * "run". Execs on success; returns an exit code otherwise. */
int nm_ctl_run(int argc, char **argv);

/* `notmodctl pcap-report FILE [--port N] [--json] [--top N]`: argv starts
 * at "pcap-report". Prints the figures; returns an exit code. */
int nm_ctl_pcap_report(int argc, char **argv, const char *usage);

#endif
