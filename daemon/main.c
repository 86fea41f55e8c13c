/* main.c - notmodd: arguments and config file, detaching, the pid file and
 * signals (TERM/INT: clean shutdown; HUP: reload the config file). The
 * work itself is wired up in daemon.c. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "daemon.h"
#include "log.h"

static void on_stop(evutil_socket_t sig, short what, void *arg)
{
    (void)what;
    nm_daemon_t *d = arg;
    nm_log(LOG_INFO, "signal %d: shutting down", (int)sig);
    event_base_loopexit(d->base, NULL);
}

static bool str_differs(const char *a, const char *b)
{
    return (a == NULL) != (b == NULL) || (a && strcmp(a, b) != 0);
}

static void log_setup(const nm_config_t *cfg)
{
    bool use_syslog =
        cfg->log ? strcmp(cfg->log, "syslog") == 0 : !cfg->is_foreground;
    nm_log_init(use_syslog, cfg->is_verbose ? LOG_DEBUG : LOG_INFO);
}

/* SIGHUP: re-read the config file. The secret, logging and --accelerate
 * apply now; the sockets, snapshot and store are fixed for the life of the
 * process. */
static void on_reload(evutil_socket_t sig, short what, void *arg)
{
    (void)sig;
    (void)what;
    nm_daemon_t *d = arg;
    nm_config_t *cur = d->cfg;
    if (!cur->config) {
        nm_log(LOG_INFO, "SIGHUP: no --config file to reload");
        return;
    }
    nm_config_t fresh = {0};
    fresh.config = strdup(cur->config);
    fresh.is_foreground = cur->is_foreground;
    fresh.is_verbose = cur->is_verbose;
    if (nm_config_merge_file(&fresh) < 0 || nm_config_finish(&fresh) < 0) {
        nm_log(LOG_ERR, "SIGHUP: %s has errors; keeping the old settings",
               cur->config);
        nm_config_free(&fresh);
        return;
    }
    /* Flags given on the command line still win over the file. */
    if (str_differs(fresh.secret, cur->secret)) {
        free(cur->secret);
        cur->secret = fresh.secret ? strdup(fresh.secret) : NULL;
        cur->has_secret = fresh.has_secret;
        cur->secret_token = fresh.secret_token;
        nm_events_set_secret(d->events, cur->has_secret, cur->secret_token);
        nm_log(LOG_INFO, "SIGHUP: secret %s", cur->has_secret ? "set" : "off");
    }
    if (str_differs(fresh.log, cur->log)) {
        free(cur->log);
        cur->log = fresh.log ? strdup(fresh.log) : NULL;
        log_setup(cur);
    }
    if (str_differs(fresh.accelerate, cur->accelerate)) {
        free(cur->accelerate);
        cur->accelerate = fresh.accelerate ? strdup(fresh.accelerate) : NULL;
        cur->is_accelerate_origin = fresh.is_accelerate_origin;
        nm_snapw_set_accelerate_origin(d->snapw, cur->is_accelerate_origin);
        nm_log(LOG_INFO, "SIGHUP: accelerate %s",
               cur->is_accelerate_origin ? "origin" : "off");
    }
    if (str_differs(fresh.redis, cur->redis) ||
        str_differs(fresh.metrics, cur->metrics) ||
        str_differs(fresh.state, cur->state))
        nm_log(LOG_WARNING, "SIGHUP: redis/metrics/state changes need a "
                            "restart");
    nm_log(LOG_INFO, "SIGHUP: reloaded %s", cur->config);
    nm_config_free(&fresh);
}

/* Detaches; the parent waits for the child's "ready" byte so that start-up
 * errors still give a failing exit status. Returns the fd to report
 * readiness on, or -1 in the foreground. */
static int detach(void)
{
    int pfd[2];
    if (pipe2(pfd, O_CLOEXEC) != 0)
        return -1;
    pid_t pid = fork();
    if (pid < 0) {
        perror("notmodd: fork");
        exit(1);
    }
    if (pid > 0) {
        close(pfd[1]);
        char c = 0;
        ssize_t n;
        do
            n = read(pfd[0], &c, 1);
        while (n < 0 && errno == EINTR);
        _exit(n == 1 && c == '1' ? 0 : 1);
    }
    close(pfd[0]);
    setsid();
    if (chdir("/") != 0) {
        /* harmless: only avoids pinning a mount */
    }
    return pfd[1];
}

static void ready(int fd)
{
    if (fd < 0)
        return;
    int null = open("/dev/null", O_RDWR);
    if (null >= 0) {
        dup2(null, 0);
        dup2(null, 1);
        dup2(null, 2);
        if (null > 2)
            close(null);
    }
    ssize_t n = write(fd, "1", 1);
    (void)n;
    close(fd);
}

static int write_pidfile(const char *path)
{
    char tmp[4096];
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    FILE *f = fopen(tmp, "we");
    if (!f || fprintf(f, "%d\n", (int)getpid()) < 0 || fclose(f) != 0 ||
        rename(tmp, path) != 0) {
        nm_log(LOG_ERR, "pidfile %s: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    nm_config_t cfg = {0};
    int rc = nm_config_parse_args(&cfg, argc, argv);
    if (rc != 0) {
        nm_config_free(&cfg);
        return rc > 0 ? 0 : 2;
    }
    if (nm_config_merge_file(&cfg) < 0 || nm_config_finish(&cfg) < 0) {
        nm_config_free(&cfg);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    int ready_fd = cfg.is_foreground ? -1 : detach();
    /* Until ready, errors go to stderr whatever --log says. */
    nm_log_init(false, cfg.is_verbose ? LOG_DEBUG : LOG_INFO);
    nm_daemon_t d = {0};
    d.cfg = &cfg;
    d.base = event_base_new();
    struct event *sig_term = NULL, *sig_int = NULL, *sig_hup = NULL;
    int status = 1;
    if (!d.base) {
        nm_log(LOG_ERR, "cannot create the event loop");
        goto out;
    }
    sig_term = evsignal_new(d.base, SIGTERM, on_stop, &d);
    sig_int = evsignal_new(d.base, SIGINT, on_stop, &d);
    sig_hup = evsignal_new(d.base, SIGHUP, on_reload, &d);
    if (!sig_term || !sig_int || !sig_hup || evsignal_add(sig_term, NULL) ||
        evsignal_add(sig_int, NULL) || evsignal_add(sig_hup, NULL))
        goto out;
    if (nm_daemon_start(&d) < 0)
        goto out;
    if (cfg.pidfile && write_pidfile(cfg.pidfile) < 0)
        goto out;
    log_setup(&cfg);
    ready(ready_fd);
    ready_fd = -1;
    event_base_dispatch(d.base);
    status = 0;
out:
    nm_daemon_stop(&d);
    if (cfg.pidfile && status == 0)
        unlink(cfg.pidfile);
    if (sig_term)
        event_free(sig_term);
    if (sig_int)
        event_free(sig_int);
    if (sig_hup)
        event_free(sig_hup);
    if (d.base)
        event_base_free(d.base);
    nm_config_free(&cfg);
    if (ready_fd >= 0)
        close(ready_fd);
    return status;
}
