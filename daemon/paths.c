/* paths.c - see paths.h. */
#include "paths.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int fits(int n, size_t cap)
{
    return n < 0 || (size_t)n >= cap ? -1 : n;
}

int nm_paths_default_socket(char *out, size_t cap)
{
    if (access("/run/notmod", W_OK) == 0)
        return fits(snprintf(out, cap, "/run/notmod/notmodd.sock"), cap);
    const char *xdg = getenv("XDG_RUNTIME_DIR");
    if (xdg && xdg[0] == '/' && access(xdg, W_OK) == 0)
        return fits(snprintf(out, cap, "%s/notmod.sock", xdg), cap);
    /* Per-uid name: /tmp is shared, and notmodd refuses a path it cannot
     * bind, so another user's socket is never mistaken for ours. */
    return fits(snprintf(out, cap, "/tmp/notmod-%u.sock", (unsigned)getuid()),
                cap);
}

int nm_paths_control_for_socket(const char *socket_path, char *out, size_t cap)
{
    size_t n = strlen(socket_path);
    if (n >= 5 && strcmp(socket_path + n - 5, ".sock") == 0)
        n -= 5;
    return fits(snprintf(out, cap, "%.*s-ctl.sock", (int)n, socket_path), cap);
}
