/* ctlsock.c - see ctlsock.h. */
#include "ctlsock.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "notmodctl.h"

int nm_ctl_request(const char *path, const char *line, char **answer)
{
    struct sockaddr_un sa = {0};
    sa.sun_family = AF_UNIX;
    if (strlen(path) >= sizeof(sa.sun_path)) {
        fprintf(stderr, "notmodctl: control socket path too long: %s\n", path);
        return EXIT_USAGE;
    }
    strcpy(sa.sun_path, path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        int err = errno;
        if (err == EACCES || err == EPERM)
            fprintf(stderr,
                    "notmodctl: permission denied on the control "
                    "socket %s (connect: %s)\n",
                    path, strerror(err));
        else
            fprintf(stderr,
                    "notmodctl: daemon not running at %s (connect: "
                    "%s)\n",
                    path, strerror(err));
        if (fd >= 0)
            close(fd);
        return EXIT_FAILED;
    }
    size_t len = strlen(line);
    size_t cap = 4096, used = 0;
    char *buf = malloc(cap);
    if (!buf) {
        close(fd);
        fprintf(stderr, "notmodctl: out of memory\n");
        return EXIT_FAILED;
    }
    /* MSG_NOSIGNAL: a daemon that refuses us may close first; its answer
     * is still worth reading, and a SIGPIPE would lose it. */
    ssize_t n = send(fd, line, len, MSG_NOSIGNAL);
    if (n < 0)
        n = 0; /* read what the daemon said anyway */
    while (n >= 0) {
        if (used + 1 >= cap) {
            char *bigger = realloc(buf, cap *= 2);
            if (!bigger)
                break;
            buf = bigger;
        }
        n = read(fd, buf + used, cap - used - 1);
        if (n <= 0)
            break;
        used += (size_t)n;
    }
    close(fd);
    if (used == 0) { /* an answer received before a reset still counts */
        fprintf(stderr, "notmodctl: no answer from the daemon at %s%s%s\n",
                path, n < 0 ? ": " : "", n < 0 ? strerror(errno) : "");
        free(buf);
        return EXIT_FAILED;
    }
    buf[used] = '\0';
    *answer = buf;
    return EXIT_OK;
}

const char *nm_ctl_payload(const char *answer)
{
    if (strncmp(answer, "ok\n", 3) == 0)
        return answer + 3;
    if (strncmp(answer, "err ", 4) == 0)
        fprintf(stderr, "notmodctl: %s", answer + 4);
    else
        fprintf(stderr, "notmodctl: unexpected answer from the daemon\n");
    return NULL;
}
