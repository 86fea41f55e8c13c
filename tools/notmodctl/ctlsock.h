/* ctlsock.h - notmodctl's client side of notmodd's control socket: one
 * command line out, the whole answer back ("ok\n" + payload or "err ...").
 * Used by every command that talks to the daemon. */
#ifndef NM_CTLSOCK_H
#define NM_CTLSOCK_H

/* Sends line (ending in "\n") to the control socket at path and reads the
 * answer into a malloc'd string (*answer, freed by the caller). Returns an
 * exit code (notmodctl.h); on failure it has printed the one-line reason. */
int nm_ctl_request(const char *path, const char *line, char **answer);

/* The payload of an "ok" answer, or NULL after printing an "err" answer
 * (or an unexpected one) as the one-line error message. */
const char *nm_ctl_payload(const char *answer);

#endif
