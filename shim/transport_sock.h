/* transport_sock.h - the transport (transport.h) of a plain TCP socket,
 * named by its fd: the server's bytes pass through the very call it made
 * (write, writev, send, sendmsg), the shim's own go with sendmsg and
 * MSG_DONTWAIT | MSG_NOSIGNAL, a held body in a memfd with sendfile. Used
 * by the fd-keyed connections that hooks_io.c follows. */
#ifndef NM_SHIM_TRANSPORT_SOCK_H
#define NM_SHIM_TRANSPORT_SOCK_H

#include "transport.h"

extern const struct nm_transport nm_transport_sock;

#endif
