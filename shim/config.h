/* config.h - the shim's configuration (every NOTMOD_* variable:
 * libnotmod(7)), captured from the environment when the shim is loaded
 * (a server may empty its environment before it serves: nginx's workers
 * keep only TZ) and parsed when it becomes active. Absurd values fall back
 * to defaults with a logged warning; nothing here ever fails the server. */
#ifndef NM_SHIM_CONFIG_H
#define NM_SHIM_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define NM_PORTS_MAX 64

struct nm_config {
    bool is_disabled; /* NOTMOD_DISABLE=1 */
    /* NOTMOD_EXEC=keep: every program exec'd keeps the shim (execenv.h) */
    bool exec_keeps_shim;
    int port_count; /* 0: every TCP port */
    uint16_t ports[NM_PORTS_MAX];
    uint64_t hold_max_bytes;   /* NOTMOD_HOLD_MAX */
    uint64_t hold_total_bytes; /* NOTMOD_HOLD_TOTAL */
    uint32_t hold_ms;          /* NOTMOD_HOLD_MS */
    uint64_t seed;             /* body-hash seed: the fleet secret, or 0 */
    bool has_secret;           /* NOTMOD_SECRET given */
    uint64_t secret;           /* token for notmodd's --secret */
    char socket_path[108];     /* NOTMOD_SOCKET */
    char snapshot_path[256];   /* NOTMOD_SNAPSHOT */
};

extern struct nm_config nm_cfg;

/* Copies the variables the shim reads out of the environment, in one pass
 * and without allocating (the constructor's one piece of work). */
void nm_config_capture(void);

/* A captured variable's value (NOTMOD_LOG...), or NULL when it was unset,
 * or longer than NM_CONFIG_VALUE_MAX (taken as unset). */
const char *nm_config_env(const char *name);

#define NM_CONFIG_VALUE_MAX 1024

/* Parses the captured variables into nm_cfg (logging what it rejects). */
void nm_config_load(void);

/* True when local TCP port is one the shim should handle. */
bool nm_config_port_ok(uint16_t port);

/* Parses "8M", "512k", "1048576" into bytes; -1 when malformed. */
int64_t nm_config_parse_size(const char *s);

/* Parses "200", "200ms", "1s" into milliseconds; -1 when malformed. */
int64_t nm_config_parse_ms(const char *s);

#endif
