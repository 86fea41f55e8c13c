/* config.c - see config.h. */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "paths.h"
#include "snapshot.h"

/* From project() in CMakeLists.txt. */
#ifndef NM_VERSION
#define NM_VERSION "unknown"
#endif

static const char usage_text[] =
    "usage: notmodd [--socket PATH] [--control PATH] [--snapshot PATH]\n"
    "               [--redis URL] [--metrics HOST:PORT] [--state FILE]\n"
    "               [--secret HEX] [--pidfile PATH] [--config FILE]\n"
    "               [--log stderr|syslog] [--foreground] [--verbose]\n"
    "               [--pcap IFACE --pcap-filter EXPR] [--accelerate "
    "off|origin]\n"
    "\n"
    "  --socket PATH      event socket the shims send to (default\n"
    "                     /run/notmod/notmodd.sock if /run/notmod is "
    "writable,\n"
    "                     else $XDG_RUNTIME_DIR/notmod.sock, else\n"
    "                     /tmp/notmod-$UID.sock)\n"
    "  --control PATH     control socket for notmodctl (default: the event\n"
    "                     socket with .sock -> -ctl.sock), mode 0600\n"
    "  --snapshot PATH    snapshot file the shims map (default: the event\n"
    "                     socket with .sock -> .snapshot)\n"
    "  --redis URL        redis://[[user]:password@]host[:port][/db],\n"
    "                     unix:///path[?db=N&password=P],\n"
    "                     sentinel://[password@]host:port[,...]/MASTER[?db=N]\n"
    "                     or cluster://[password@]host:port[,...]; without\n"
    "                     it the store is embedded in memory\n"
    "  --metrics H:P      serve Prometheus /metrics (host defaults to "
    "127.0.0.1)\n"
    "  --state FILE       keep pins and disabled prefixes there (written on\n"
    "                     every change), tags and dates across a clean stop\n"
    "  --secret HEX       16 hex digits; drop events without this token\n"
    "  --pidfile PATH     write the daemon's pid there\n"
    "  --config FILE      'key = value' lines with the long option names\n"
    "  --log TARGET       stderr (default in foreground) or syslog\n"
    "  --pcap IFACE       also count revalidations seen on IFACE's packets\n"
    "                     (figures with source \"pcap\"; needs CAP_NET_RAW)\n"
    "  --pcap-filter EXPR BPF filter for --pcap (e.g. 'tcp port 80')\n"
    "  --accelerate MODE  off (default): only routes given a freshness with\n"
    "                     'notmodctl fresh' are answered before the server;\n"
    "                     origin: every other route too, while the origin's\n"
    "                     Cache-Control or Expires says it is fresh\n"
    "  --foreground       do not detach\n"
    "  --verbose          log debug messages\n"
    "  --help             print this and exit\n"
    "  --version          print the version and exit\n"
    "Signals: TERM/INT clean shutdown, HUP reloads --config (secret, log,\n"
    "accelerate).\n";

enum {
    O_SOCKET = 256,
    O_CONTROL,
    O_SNAPSHOT,
    O_REDIS,
    O_METRICS,
    O_PCAP,
    O_PCAP_FILTER,
    O_PIDFILE,
    O_STATE,
    O_SECRET,
    O_LOG,
    O_ACCELERATE,
    O_CONFIG
};

static const struct option options[] = {
    {"socket", required_argument, NULL, O_SOCKET},
    {"control", required_argument, NULL, O_CONTROL},
    {"snapshot", required_argument, NULL, O_SNAPSHOT},
    {"redis", required_argument, NULL, O_REDIS},
    {"metrics", required_argument, NULL, O_METRICS},
    {"pcap", required_argument, NULL, O_PCAP},
    {"pcap-filter", required_argument, NULL, O_PCAP_FILTER},
    {"pidfile", required_argument, NULL, O_PIDFILE},
    {"state", required_argument, NULL, O_STATE},
    {"secret", required_argument, NULL, O_SECRET},
    {"log", required_argument, NULL, O_LOG},
    {"accelerate", required_argument, NULL, O_ACCELERATE},
    {"config", required_argument, NULL, O_CONFIG},
    {"foreground", no_argument, NULL, 'f'},
    {"verbose", no_argument, NULL, 'v'},
    {"help", no_argument, NULL, 'h'},
    {"version", no_argument, NULL, 'V'},
    {NULL, 0, NULL, 0},
};

/* The string field a key names, or NULL. */
static char **field_of(nm_config_t *cfg, const char *key)
{
    struct {
        const char *name;
        char **slot;
    } map[] = {
        {"socket", &cfg->socket},
        {"control", &cfg->control},
        {"snapshot", &cfg->snapshot},
        {"redis", &cfg->redis},
        {"metrics", &cfg->metrics},
        {"pcap", &cfg->pcap},
        {"pcap-filter", &cfg->pcap_filter},
        {"pidfile", &cfg->pidfile},
        {"state", &cfg->state},
        {"secret", &cfg->secret},
        {"log", &cfg->log},
        {"accelerate", &cfg->accelerate},
    };
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
        if (strcmp(map[i].name, key) == 0)
            return map[i].slot;
    return NULL;
}

static void set(char **slot, const char *v)
{
    free(*slot);
    *slot = strdup(v);
}

int nm_config_parse_args(nm_config_t *cfg, int argc, char **argv)
{
    int c;
    opterr = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "fvh", options, NULL)) != -1) {
        switch (c) {
        case 'f':
            cfg->is_foreground = true;
            break;
        case 'v':
            cfg->is_verbose = true;
            break;
        case 'h':
            fputs(usage_text, stdout);
            return 1;
        case 'V':
            puts("notmodd " NM_VERSION);
            return 1;
        case O_CONFIG:
            set(&cfg->config, optarg);
            break;
        case '?':
            fprintf(stderr,
                    "notmodd: unknown or incomplete option '%s' "
                    "(see --help)\n",
                    argv[optind - 1]);
            return -1;
        default:
            set(field_of(cfg, options[c - O_SOCKET].name), optarg);
            break;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "notmodd: unexpected argument '%s' (see --help)\n",
                argv[optind]);
        return -1;
    }
    return 0;
}

static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    char *e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1]))
        *--e = '\0';
    return s;
}

int nm_config_merge_file(nm_config_t *cfg)
{
    if (!cfg->config)
        return 0;
    FILE *f = fopen(cfg->config, "re");
    if (!f) {
        fprintf(stderr, "notmodd: cannot read config %s: %s\n", cfg->config,
                strerror(errno));
        return -1;
    }
    char line[4096];
    int lineno = 0, rc = 0;
    while (rc == 0 && fgets(line, sizeof(line), f)) {
        lineno++;
        char *s = trim(line);
        if (!*s || *s == '#')
            continue;
        size_t klen = strcspn(s, " \t=");
        char *v = s + klen;
        bool has_eq = false;
        while (*v == ' ' || *v == '\t' || (*v == '=' && !has_eq)) {
            has_eq |= *v == '=';
            *v++ = '\0';
        }
        s[klen] = '\0';
        char **slot = field_of(cfg, s);
        if (strcmp(s, "foreground") == 0) {
            cfg->is_foreground |= !*v || strcmp(v, "yes") == 0 ||
                                  strcmp(v, "true") == 0 || strcmp(v, "1") == 0;
        } else if (!slot || !*v) {
            fprintf(stderr, "notmodd: %s:%d: %s '%s'\n", cfg->config, lineno,
                    slot ? "missing value for" : "unknown key", s);
            rc = -1;
        } else if (!*slot) {
            set(slot, v); /* flags given on the command line win */
        }
    }
    fclose(f);
    return rc;
}

static int fill_default(char **slot, const char *socket,
                        int (*derive)(const char *, char *, size_t))
{
    if (*slot)
        return 0;
    char buf[4096];
    if (derive(socket, buf, sizeof(buf)) < 0)
        return -1;
    *slot = strdup(buf);
    return 0;
}

int nm_config_finish(nm_config_t *cfg)
{
    char buf[4096];
    if (!cfg->socket) {
        if (nm_paths_default_socket(buf, sizeof(buf)) < 0)
            return -1;
        cfg->socket = strdup(buf);
    }
    if (fill_default(&cfg->control, cfg->socket, nm_paths_control_for_socket) <
            0 ||
        fill_default(&cfg->snapshot, cfg->socket, nm_snapshot_path_for_socket) <
            0) {
        fprintf(stderr, "notmodd: socket path too long: %s\n", cfg->socket);
        return -1;
    }
    cfg->has_secret = false;
    if (cfg->secret) {
        char *end;
        errno = 0;
        cfg->secret_token = strtoull(cfg->secret, &end, 16);
        if (strlen(cfg->secret) != 16 || *end || errno) {
            fprintf(stderr, "notmodd: --secret wants 16 hex digits\n");
            return -1;
        }
        cfg->has_secret = true;
    }
    if (cfg->log && strcmp(cfg->log, "stderr") != 0 &&
        strcmp(cfg->log, "syslog") != 0) {
        fprintf(stderr, "notmodd: --log wants stderr or syslog, not '%s'\n",
                cfg->log);
        return -1;
    }
    cfg->is_accelerate_origin =
        cfg->accelerate && strcmp(cfg->accelerate, "origin") == 0;
    if (cfg->accelerate && strcmp(cfg->accelerate, "off") != 0 &&
        !cfg->is_accelerate_origin) {
        fprintf(stderr, "notmodd: --accelerate wants off or origin, not '%s'\n",
                cfg->accelerate);
        return -1;
    }
    if (cfg->pcap_filter && !cfg->pcap) {
        fprintf(stderr, "notmodd: --pcap-filter needs --pcap IFACE\n");
        return -1;
    }
    return 0;
}

void nm_config_free(nm_config_t *cfg)
{
    char **all[] = {&cfg->socket,      &cfg->control, &cfg->snapshot,
                    &cfg->redis,       &cfg->metrics, &cfg->pcap,
                    &cfg->pcap_filter, &cfg->pidfile, &cfg->state,
                    &cfg->secret,      &cfg->log,     &cfg->config,
                    &cfg->accelerate};
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
        free(*all[i]);
        *all[i] = NULL;
    }
}
