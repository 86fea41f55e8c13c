/* config.c - see config.h. */
#include "config.h"
#include "log.h"
#include "snapshot.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct nm_config nm_cfg;

/* ---- the environment, captured at load ---- */

static const char *const captured_names[] = {
    "NOTMOD_DISABLE",    "NOTMOD_PORTS",   "NOTMOD_HOLD_MAX",
    "NOTMOD_HOLD_TOTAL", "NOTMOD_HOLD_MS", "NOTMOD_SOCKET",
    "NOTMOD_SNAPSHOT",   "NOTMOD_SECRET",  "NOTMOD_LOG",
    "NOTMOD_LOG_LEVEL",  "NOTMOD_EXEC",    "XDG_RUNTIME_DIR",
};
#define CAPTURED (sizeof(captured_names) / sizeof(captured_names[0]))
/* Values live in one static pool: no malloc at load (the first one would
 * set up the heap of a process that may never need it). */
static char pool[4096];
static const char *captured[CAPTURED];

extern char **environ;

/* Copies value into the pool; NULL when it does not fit. */
static const char *keep(const char *value, size_t *used)
{
    size_t n = strlen(value);
    if (n > NM_CONFIG_VALUE_MAX || *used + n + 1 > sizeof(pool))
        return NULL;
    char *out = pool + *used;
    memcpy(out, value, n + 1);
    *used += n + 1;
    return out;
}

void nm_config_capture(void)
{
    size_t used = 0;
    for (char **e = environ; e != NULL && *e != NULL; e++) {
        const char *v = *e;
        if (v[0] != 'N' && v[0] != 'X') /* spares most entries the loop */
            continue;
        for (size_t i = 0; i < CAPTURED; i++) {
            size_t n = strlen(captured_names[i]);
            if (strncmp(v, captured_names[i], n) == 0 && v[n] == '=') {
                captured[i] = keep(v + n + 1, &used);
                break;
            }
        }
    }
}

const char *nm_config_env(const char *name)
{
    for (size_t i = 0; i < CAPTURED; i++)
        if (strcmp(name, captured_names[i]) == 0)
            return captured[i];
    return NULL;
}

/* ---- parsing ---- */

int64_t nm_config_parse_size(const char *s)
{
    char *end;
    if (s == NULL || *s < '0' || *s > '9')
        return -1;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0)
        return -1;
    uint64_t mult = 1;
    if (*end == 'k' || *end == 'K')
        mult = 1024, end++;
    else if (*end == 'm' || *end == 'M')
        mult = 1024 * 1024, end++;
    else if (*end == 'g' || *end == 'G')
        mult = 1024ull * 1024 * 1024, end++;
    if (*end != '\0' || v > (uint64_t)INT64_MAX / mult)
        return -1;
    return (int64_t)(v * mult);
}

int64_t nm_config_parse_ms(const char *s)
{
    char *end;
    if (s == NULL || *s < '0' || *s > '9')
        return -1;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0)
        return -1;
    uint64_t mult = 1;
    if (strcmp(end, "s") == 0)
        mult = 1000;
    else if (*end != '\0' && strcmp(end, "ms") != 0)
        return -1;
    if (v > (uint64_t)INT64_MAX / mult)
        return -1;
    return (int64_t)(v * mult);
}

/* Reads a size variable; a malformed value keeps the default, logged. */
static uint64_t size_var(const char *name, uint64_t dflt)
{
    const char *s = nm_config_env(name);
    if (s == NULL || *s == '\0')
        return dflt;
    int64_t v = nm_config_parse_size(s);
    if (v < 0) {
        nm_log(NM_LOG_WARN, "%s=%.32s is not a size, using %llu", name, s,
               (unsigned long long)dflt);
        return dflt;
    }
    return (uint64_t)v;
}

/* Reads a duration variable, in ms; a malformed value keeps the default,
 * logged. */
static uint64_t ms_var(const char *name, uint64_t dflt)
{
    const char *s = nm_config_env(name);
    if (s == NULL || *s == '\0')
        return dflt;
    int64_t v = nm_config_parse_ms(s);
    if (v < 0) {
        nm_log(NM_LOG_WARN, "%s=%.32s is not a duration, using %llu ms", name,
               s, (unsigned long long)dflt);
        return dflt;
    }
    return (uint64_t)v;
}

/* NOTMOD_PORTS="80,8080": anything unparsable disables the filter's entry
 * (and is logged); an empty result means "all ports". */
static void load_ports(void)
{
    const char *s = nm_config_env("NOTMOD_PORTS");
    nm_cfg.port_count = 0;
    while (s != NULL && *s != '\0' && nm_cfg.port_count < NM_PORTS_MAX) {
        char *end;
        long v = strtol(s, &end, 10);
        if (end == s || v <= 0 || v > 65535 || (*end != ',' && *end != '\0')) {
            nm_log(NM_LOG_WARN, "NOTMOD_PORTS: bad entry near '%.16s'", s);
            while (*end != ',' && *end != '\0')
                end++;
        } else {
            nm_cfg.ports[nm_cfg.port_count++] = (uint16_t)v;
        }
        s = *end == ',' ? end + 1 : end;
    }
}

/* Where notmodd listens by default (notmodd(8)): /run/notmod if
 * writable, else $XDG_RUNTIME_DIR, else /tmp. */
static void default_socket(char *out, size_t cap)
{
    const char *xdg = nm_config_env("XDG_RUNTIME_DIR");
    if (access("/run/notmod", W_OK) == 0)
        snprintf(out, cap, "/run/notmod/notmodd.sock");
    else if (xdg != NULL && *xdg == '/' && strlen(xdg) < cap - 16)
        snprintf(out, cap, "%s/notmod.sock", xdg);
    else
        snprintf(out, cap, "/tmp/notmod-%u.sock", (unsigned)getuid());
}

/* NOTMOD_SECRET: the fleet secret notmodd was given with --secret (hex,
 * up to 16 digits). It authenticates our events and seeds the body hash
 * so every host of the fleet derives the same tag for the same bytes. */
static void load_secret(void)
{
    const char *s = nm_config_env("NOTMOD_SECRET");
    nm_cfg.has_secret = false;
    nm_cfg.secret = nm_cfg.seed = 0;
    if (s == NULL || *s == '\0')
        return;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 16);
    if (errno != 0 || *end != '\0' || strlen(s) > 16) {
        nm_log(NM_LOG_WARN, "NOTMOD_SECRET is not hex: ignored");
        return;
    }
    nm_cfg.has_secret = true;
    nm_cfg.secret = nm_cfg.seed = v;
}

/* NOTMOD_EXEC: "auto" (the default) takes the shim out of the
 * environment of a program exec'd with no socket; "keep" never does. Any
 * other value keeps it too, logged: whoever set it meant something, and
 * keeping the shim costs CPU where taking it wrongly loses the tags. */
static void load_exec(void)
{
    const char *s = nm_config_env("NOTMOD_EXEC");
    nm_cfg.exec_keeps_shim = false;
    if (s == NULL || *s == '\0' || strcmp(s, "auto") == 0)
        return;
    nm_cfg.exec_keeps_shim = true;
    if (strcmp(s, "keep") != 0)
        nm_log(NM_LOG_WARN, "NOTMOD_EXEC=%.32s is not auto or keep: keep", s);
}

void nm_config_load(void)
{
    const char *s = nm_config_env("NOTMOD_DISABLE");
    nm_cfg.is_disabled = s != NULL && strcmp(s, "1") == 0;
    load_exec();
    load_ports();
    nm_cfg.hold_max_bytes = size_var("NOTMOD_HOLD_MAX", 8u << 20);
    nm_cfg.hold_total_bytes = size_var("NOTMOD_HOLD_TOTAL", 64u << 20);
    uint64_t ms = ms_var("NOTMOD_HOLD_MS", 200);
    if (ms > 60000) {
        nm_log(NM_LOG_WARN, "NOTMOD_HOLD_MS too large, using 200");
        ms = 200;
    }
    nm_cfg.hold_ms = (uint32_t)ms;
    s = nm_config_env("NOTMOD_SOCKET");
    if (s != NULL && *s != '\0' && strlen(s) < sizeof(nm_cfg.socket_path))
        snprintf(nm_cfg.socket_path, sizeof(nm_cfg.socket_path), "%s", s);
    else
        default_socket(nm_cfg.socket_path, sizeof(nm_cfg.socket_path));
    s = nm_config_env("NOTMOD_SNAPSHOT");
    if (s != NULL && *s != '\0' && strlen(s) < sizeof(nm_cfg.snapshot_path))
        snprintf(nm_cfg.snapshot_path, sizeof(nm_cfg.snapshot_path), "%s", s);
    else /* next to the socket, as notmodd publishes it */
        nm_snapshot_path_for_socket(nm_cfg.socket_path, nm_cfg.snapshot_path,
                                    sizeof(nm_cfg.snapshot_path));
    load_secret();
}

bool nm_config_port_ok(uint16_t port)
{
    if (nm_cfg.port_count == 0)
        return true;
    for (int i = 0; i < nm_cfg.port_count; i++)
        if (nm_cfg.ports[i] == port)
            return true;
    return false;
}
