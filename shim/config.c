/* config.c - see config.h. */
#include "config.h"
#include "log.h"
#include "snapshot.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct nm_config nm_cfg;

/* ---- the environment, captured at load ---- */

/* Every process a CGI request execs runs this, so it calls nothing in
 * libc (each first call of a libc function is a lazy binding, about 700
 * instructions) and reads no table of names (the names' page of .rodata
 * was a page fault of its own, and a fault costs 2-8 us here:
 * tools/bench/RESULTS.md, "Loading the shim, cheaper"). The entries are
 * copied whole ("NOTMOD_PORTS=80"), in order; names are matched when the
 * shim activates. A value longer than NM_CONFIG_VALUE_MAX is taken as
 * unset; a NOTMOD_ variable the shim does not know takes pool space like
 * the others. Values live in one static pool: no malloc at load (the
 * first one would set up the heap of a process that may never need it). */
static char pool[4096];
static size_t pool_used;

extern char **environ;

/* Is entry one of ours? Character by character, so the names are
 * immediates in the code and the check touches no data page. */
static bool is_captured(const char *v)
{
    if (v[0] == 'N')
        return v[1] == 'O' && v[2] == 'T' && v[3] == 'M' && v[4] == 'O' &&
               v[5] == 'D' && v[6] == '_';
    return v[0] == 'X' && v[1] == 'D' && v[2] == 'G' && v[3] == '_' &&
           v[4] == 'R' && v[5] == 'U' && v[6] == 'N' && v[7] == 'T' &&
           v[8] == 'I' && v[9] == 'M' && v[10] == 'E' && v[11] == '_' &&
           v[12] == 'D' && v[13] == 'I' && v[14] == 'R' && v[15] == '=';
}

void nm_config_capture(void)
{
    /* Runs once, on an empty pool: pool_used is written only when an
     * entry was kept (its page is touched only then). */
    size_t used = 0;
    for (char **e = environ; e != NULL && *e != NULL; e++) {
        const char *v = *e;
        if (!is_captured(v))
            continue;
        /* Copied as it is scanned (one loop, which the compiler does not
         * turn into calls of strlen and memcpy), kept if it fit. */
        char *out = pool + used;
        size_t room = sizeof(pool) - used, n = 0, eq = 0;
        while (n < room && (out[n] = v[n]) != '\0') {
            if (eq == 0 && v[n] == '=')
                eq = n;
            n++;
        }
        if (n < room && eq != 0 && n - eq - 1 <= NM_CONFIG_VALUE_MAX)
            used += n + 1;
    }
    if (used != 0)
        pool_used = used;
}

const char *nm_config_env(const char *name)
{
    /* The last entry of that name wins, as it did when each name was
     * kept as it was met. */
    const char *found = NULL;
    size_t n = strlen(name);
    for (size_t at = 0; at < pool_used; at += strlen(pool + at) + 1)
        if (strncmp(pool + at, name, n) == 0 && pool[at + n] == '=')
            found = pool + at + n + 1;
    return found;
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

void nm_config_load(void)
{
    const char *s = nm_config_env("NOTMOD_DISABLE");
    nm_cfg.is_disabled = s != NULL && strcmp(s, "1") == 0;
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
