/* config.h - notmodd's settings: command-line flags (notmodd(8)) and the
 * same names in a config file ("key = value", '#' comments), flags
 * winning. Read at start and again on SIGHUP. */
#ifndef NM_CONFIG_H
#define NM_CONFIG_H

#include <stdbool.h>
#include <stdint.h>

typedef struct nm_config {
    char *socket, *control, *snapshot, *redis, *metrics, *pcap, *pcap_filter;
    char *pidfile, *state, *secret, *log, *config, *accelerate;
    bool is_foreground, is_verbose;
    bool is_accelerate_origin; /* --accelerate origin (parsed) */
    bool has_secret;
    uint64_t secret_token; /* parsed from secret */
} nm_config_t;

/* Parses argv into cfg. Returns 0, 1 when --help/--version was handled
 * (exit 0), or -1 after printing a one-line usage error (exit 2). */
int nm_config_parse_args(nm_config_t *cfg, int argc, char **argv);

/* Fills unset fields of cfg from the file cfg->config. Returns 0 or -1
 * after printing "notmodd: FILE:LINE: problem". */
int nm_config_merge_file(nm_config_t *cfg);

/* Fills default paths and checks values (secret hex, log target).
 * Returns 0 or -1 after printing the problem. */
int nm_config_finish(nm_config_t *cfg);

void nm_config_free(nm_config_t *cfg);

#endif
