/* paths.h - default locations of notmodd's sockets and snapshot, shared by
 * notmodd and notmodctl so both find the same files:
 *   event socket  /run/notmod/notmodd.sock when /run/notmod is writable,
 *                 else $XDG_RUNTIME_DIR/notmod.sock, else /tmp/notmod-$UID.sock
 *   control       the event socket with ".sock" -> "-ctl.sock"
 *   snapshot      the event socket with ".sock" -> ".snapshot" */
#ifndef NM_PATHS_H
#define NM_PATHS_H

#include <stddef.h>

/* Writes the default event socket path; returns its length or -1 when it
 * does not fit in cap. Looks at the file system and the environment. */
int nm_paths_default_socket(char *out, size_t cap);

/* Writes the control socket path that goes with an event socket path. */
int nm_paths_control_for_socket(const char *socket_path, char *out, size_t cap);

#endif
