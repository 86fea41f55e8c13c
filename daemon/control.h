/* control.h - notmodd's control socket for notmodctl: a unix stream socket
 * (mode 0600, peer uid checked with SO_PEERCRED: same uid or root). One
 * command line per connection; the answer is "ok\n" and a payload, or
 * "err MESSAGE\n", then the daemon closes. Commands:
 *   status | stats [json] | counters [routes] | get URL | purge URL |
 *   purge --prefix P | pin URL ETAG | disable PREFIX | enable PREFIX */
#ifndef NM_CONTROL_H
#define NM_CONTROL_H

#include "daemon.h"

/* Binds path; NULL with errno set on failure. */
nm_control_t *nm_control_open(nm_daemon_t *d, const char *path);

/* Closes and unlinks the socket (NULL is fine). */
void nm_control_close(nm_control_t *c);

#endif
