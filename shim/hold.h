/* hold.h - storage for a response the shim holds while it hashes the body:
 * in memory up to a small threshold, then spilled to a memfd, up to
 * NOTMOD_HOLD_MAX per response and NOTMOD_HOLD_TOTAL per process. Keeps the
 * server's raw bytes (framing included) and the hash of the de-chunked
 * body side by side. Used by conn.c. */
#ifndef NM_SHIM_HOLD_H
#define NM_SHIM_HOLD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bodyhash.h"
#include "snapshot.h"

/* Held bytes kept in memory before spilling to a memfd. */
#define NM_HOLD_MEM_BYTES (64 * 1024)

struct nm_hold {
    nm_bodyhash_t hash; /* first: XXH3 state wants 64-byte alignment */
    uint64_t seed;
    bool is_hashing; /* hash is started: on the first body byte */
    char *mem;
    size_t mem_len, mem_cap;
    int memfd;         /* -1 until spilled */
    uint64_t file_len; /* bytes in the memfd (they follow mem) */
    uint64_t started_ms;
    /* What the store knew of the URL when the hold began (one lookup per
     * response: its first-seen time dates the tag the hash will give). */
    bool has_store_hit;
    nm_snapshot_hit_t store_hit;
};

/* A new, empty hold (64-byte aligned, maybe the last one freed), or NULL
 * when memory is short. */
struct nm_hold *nm_hold_new(uint64_t seed, uint64_t now_ms);

/* Hashes n de-chunked body bytes. */
void nm_hold_hash(struct nm_hold *h, const void *p, size_t n);

/* Writes the body's quoted tag and a NUL (NM_BODYHASH_TAG_LEN + 1). */
void nm_hold_tag(struct nm_hold *h, char *out);

/* Keeps n raw server bytes. False when a limit is passed or the spill
 * fails: the caller then releases what is held unchanged. */
bool nm_hold_append(struct nm_hold *h, const char *p, size_t n);

/* Total raw bytes held. */
uint64_t nm_hold_len(const struct nm_hold *h);

/* Frees the hold and gives its bytes back to the process budget. */
void nm_hold_free(struct nm_hold *h);

/* Bytes held by every hold in this process (NOTMOD_HOLD_TOTAL budget). */
uint64_t nm_hold_total(void);

#endif
