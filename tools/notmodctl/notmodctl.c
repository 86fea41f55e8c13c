/* notmodctl.c - the control CLI: parses a command, checks its arguments
 * as notmodd would, sends one line to the control socket and prints the
 * answer. Exit 0 ok, 1 failed operation, 2 bad usage. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "ctlsock.h"
#include "fresh.h"
#include "notmodctl.h"
#include "paths.h"
#include "stats_interval.h"
#include "top.h"
#include "url.h"

static const char main_usage[] =
    "usage: notmodctl [--control PATH] COMMAND [ARGS]\n"
    "commands:\n"
    "  status                      daemon, store and socket state\n"
    "  stats [--json] [--interval N [--count C]]\n"
    "                              totals: requests, revalidations, hits...;\n"
    "                              with --interval, their rates every N s\n"
    "  top [-n N] [-s KEY] [-d SECONDS] [--once] [--json]\n"
    "                              live rates and routes (KEY: revalidations,\n"
    "                              misses, bytes, rate); one report when "
    "piped\n"
    "  get URL                     the stored tag and its Last-Modified\n"
    "  purge URL | --prefix P      forget a URL (or every URL under P)\n"
    "  pin URL ETAG                publish ETAG for URL until purged\n"
    "  disable PREFIX              the shims pass that route untouched\n"
    "  enable PREFIX               undo disable\n"
    "  fresh PREFIX SECONDS|origin|never|off\n"
    "                              answer revalidations under PREFIX with\n"
    "                              304s before the server sees them, while\n"
    "                              fresh (docs/acceleration.md)\n"
    "  pcap-report FILE.pcap [--port N] [--json] [--top N]\n"
    "                              revalidation figures from a capture\n"
    "  run [--socket PATH] -- PROGRAM ARGS...   run under libnotmod.so\n"
    "The control socket defaults to $NOTMOD_CONTROL, else the event socket\n"
    "($NOTMOD_SOCKET or the default) with .sock -> -ctl.sock.\n"
    "'notmodctl COMMAND --help' describes one command.\n";

struct command {
    const char *name, *usage;
    int min_args, max_args; /* after the command name */
};

static const struct command commands[] = {
    {"status", "status", 0, 0},
    {"stats", "stats [--json] [--interval N [--count C]]", 0, 5},
    {"top", "top [-n N] [-s KEY] [-d SECONDS] [--once] [--json]", 0, 8},
    {"get", "get URL", 1, 1},
    {"purge", "purge URL | purge --prefix P", 1, 2},
    {"pin", "pin URL ETAG", 2, 2},
    {"disable", "disable PREFIX (/path, host/path or http://host/path)", 1, 1},
    {"enable", "enable PREFIX", 1, 1},
    {"fresh", "fresh PREFIX SECONDS|origin|never|off", 2, 2},
    {"pcap-report", "pcap-report FILE.pcap [--port N] [--json] [--top N]", 1,
     6},
    {"run", "run [--socket PATH] -- PROGRAM ARGS...", 1, 1000000},
};

static int usage_error(const struct command *c, const char *why)
{
    fprintf(stderr, "notmodctl: %s%s(usage: notmodctl %s)\n", why ? why : "",
            why ? " " : "", c->usage);
    return EXIT_USAGE;
}

/* Prints the payload of an "ok" answer; an "err" answer becomes the one
 * line error message. */
static int show(const char *answer)
{
    const char *payload = nm_ctl_payload(answer);
    if (!payload)
        return EXIT_FAILED;
    fputs(payload, stdout);
    return EXIT_OK;
}

static int call(const char *path, const char *line)
{
    char *answer = NULL;
    int rc = nm_ctl_request(path, line, &answer);
    if (rc == EXIT_OK) {
        rc = show(answer);
        free(answer);
    }
    return rc;
}

static int check_url(const struct command *c, const char *url)
{
    char key[NM_URL_MAX];
    const char *why = "";
    if (nm_url_key(url, key, sizeof(key), &why) >= 0)
        return EXIT_OK;
    fprintf(stderr, "notmodctl: URL malformed: %s (%s)\n", url, why);
    (void)c;
    return EXIT_USAGE;
}

static int check_prefix(const char *prefix)
{
    char key[NM_URL_MAX];
    const char *why = "";
    if (nm_url_prefix(prefix, key, sizeof(key), &why) >= 0)
        return EXIT_OK;
    fprintf(stderr, "notmodctl: prefix malformed: %s (%s)\n", prefix, why);
    return EXIT_USAGE;
}

/* Shape check only; notmodd checks the characters. */
static bool looks_like_etag(const char *s)
{
    if (strncmp(s, "W/", 2) == 0)
        s += 2;
    size_t n = strlen(s);
    return n >= 2 && s[0] == '"' && s[n - 1] == '"';
}

/* Checks arguments and builds the protocol line for the simple commands. */
static int build_line(const struct command *c, int argc, char **argv,
                      char *line, size_t cap)
{
    const char *name = c->name;
    if (strcmp(name, "stats") == 0) {
        if (argc == 2 && strcmp(argv[1], "--json") != 0)
            return usage_error(c, NULL);
        snprintf(line, cap, "stats%s\n", argc == 2 ? " json" : "");
    } else if (strcmp(name, "get") == 0 || strcmp(name, "pin") == 0) {
        int rc = check_url(c, argv[1]);
        if (rc != EXIT_OK)
            return rc;
        if (argc == 3 && !looks_like_etag(argv[2])) {
            fprintf(stderr,
                    "notmodctl: ETAG malformed: %s (expected "
                    "\"opaque\" or W/\"opaque\", quoted for the "
                    "shell: '\"v1\"')\n",
                    argv[2]);
            return EXIT_USAGE;
        }
        snprintf(line, cap, "%s %s%s%s\n", name, argv[1], argc == 3 ? " " : "",
                 argc == 3 ? argv[2] : "");
    } else if (strcmp(name, "purge") == 0) {
        bool is_prefix = strcmp(argv[1], "--prefix") == 0;
        if (is_prefix != (argc == 3))
            return usage_error(c, NULL);
        int rc = is_prefix ? check_prefix(argv[2]) : check_url(c, argv[1]);
        if (rc != EXIT_OK)
            return rc;
        snprintf(line, cap, "purge %s%s\n", is_prefix ? "--prefix " : "",
                 argv[argc - 1]);
    } else if (strcmp(name, "disable") == 0 || strcmp(name, "enable") == 0) {
        int rc = check_prefix(argv[1]);
        if (rc != EXIT_OK)
            return rc;
        snprintf(line, cap, "%s %s\n", name, argv[1]);
    } else if (strcmp(name, "fresh") == 0) {
        int64_t fresh_s;
        int rc = check_prefix(argv[1]);
        if (rc != EXIT_OK)
            return rc;
        if (strcmp(argv[2], "off") != 0 &&
            nm_fresh_setting_parse(argv[2], &fresh_s) < 0) {
            fprintf(stderr,
                    "notmodctl: freshness malformed: %s (expected SECONDS "
                    "from 1 to %d, origin, never or off)\n",
                    argv[2], NM_FRESH_SECONDS_MAX);
            return EXIT_USAGE;
        }
        snprintf(line, cap, "fresh %s %s\n", argv[1], argv[2]);
    } else {
        snprintf(line, cap, "%s\n", name);
    }
    return EXIT_OK;
}

static bool has_space(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (strpbrk(argv[i], " \t\r\n"))
            return true;
    return false;
}

static const char *control_path(const char *given, char *buf, size_t cap)
{
    if (given)
        return given;
    const char *env = getenv("NOTMOD_CONTROL");
    if (env && *env)
        return env;
    char sock[4096];
    env = getenv("NOTMOD_SOCKET");
    if (env && *env)
        snprintf(sock, sizeof(sock), "%s", env);
    else if (nm_paths_default_socket(sock, sizeof(sock)) < 0)
        return NULL;
    return nm_paths_control_for_socket(sock, buf, cap) < 0 ? NULL : buf;
}

int main(int argc, char **argv)
{
    const char *given = NULL;
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            fputs(main_usage, stdout);
            return EXIT_OK;
        } else if (strcmp(argv[i], "--control") == 0 && i + 1 < argc) {
            given = argv[++i];
        } else {
            fprintf(stderr,
                    "notmodctl: unknown option %s (see notmodctl "
                    "--help)\n",
                    argv[i]);
            return EXIT_USAGE;
        }
    }
    if (i >= argc) {
        fprintf(stderr, "notmodctl: missing COMMAND (see notmodctl --help)\n");
        return EXIT_USAGE;
    }
    const struct command *c = NULL;
    for (size_t k = 0; k < sizeof(commands) / sizeof(commands[0]); k++)
        if (strcmp(commands[k].name, argv[i]) == 0)
            c = &commands[k];
    if (!c) {
        fprintf(stderr,
                "notmodctl: unknown command '%s' (see notmodctl "
                "--help)\n",
                argv[i]);
        return EXIT_USAGE;
    }
    int cargc = argc - i;
    char **cargv = argv + i;
    if (strcmp(c->name, "run") == 0)
        return nm_ctl_run(cargc, cargv);
    for (int k = 1; k < cargc; k++) {
        if (strcmp(cargv[k], "--help") == 0 || strcmp(cargv[k], "-h") == 0) {
            printf("usage: notmodctl %s\n", c->usage);
            return EXIT_OK;
        }
    }
    if (cargc - 1 < c->min_args || cargc - 1 > c->max_args)
        return usage_error(c, "wrong number of arguments");
    /* Offline: reads a file, needs no daemon; paths may hold spaces. */
    if (strcmp(c->name, "pcap-report") == 0)
        return nm_ctl_pcap_report(cargc, cargv, c->usage);
    if (has_space(cargc, cargv))
        return usage_error(c, "arguments cannot contain spaces");
    char buf[4096];
    const char *path = control_path(given, buf, sizeof(buf));
    if (!path) {
        fprintf(stderr, "notmodctl: cannot work out the control socket path "
                        "(use --control PATH)\n");
        return EXIT_USAGE;
    }
    if (strcmp(c->name, "top") == 0)
        return nm_ctl_top(path, cargc, cargv, c->usage);
    if (strcmp(c->name, "stats") == 0 && cargc > 1 &&
        !(cargc == 2 && strcmp(cargv[1], "--json") == 0))
        return nm_ctl_stats_interval(path, cargc, cargv, c->usage);
    char line[8192];
    int rc = build_line(c, cargc, cargv, line, sizeof(line));
    return rc != EXIT_OK ? rc : call(path, line);
}
