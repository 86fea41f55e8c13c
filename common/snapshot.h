/* snapshot.h - the validator snapshot: a file notmodd publishes and every
 * shim maps read-only, so a lookup costs no syscall and no lock. Readers
 * (the shim) use nm_snapshot_lookup / nm_snapshot_is_disabled /
 * nm_snapshot_fresh_for; the writer
 * (notmodd's snapshot_writer.c) uses the nm_snapshot_w_* functions. Pure
 * functions over a memory region: no I/O, no allocation, no clock. */
#ifndef NM_SNAPSHOT_H
#define NM_SNAPSHOT_H

#include "nm.h"

/* Layout, version 2, native endianness (the file never leaves the host):
 *   header, 64 bytes: u32 magic "NMSS", u32 version, u64 seq (seqlock:
 *     odd while the writer is inside), u64 generation (bumped per publish),
 *     u32 slots (power of two), u32 entry_len (128), u32 used, u32 flags
 *     (NM_SNAPSHOT_F_*), u64 purge_generation, i64 published_unix, u32
 *     disabled (count of disabled-prefix entries), u32 fresh (count of
 *     fresh-prefix entries).
 *   slots x 128-byte entries: u64 key, i64 value (a URL's Last-Modified, a
 *     fresh prefix's seconds), u32 flags (NM_SNAPSHOT_E_*: the kind and
 *     more), u32 purge_generation, u8 tag_len, 103 bytes tag.
 * Open addressing with linear probing from key & (slots - 1); key 0 marks
 * an empty slot; a URL, a disabled prefix and a fresh prefix may share a
 * key, the kind flag tells them apart. Version 1 had 4 reserved bytes
 * where fresh is and no fresh entries: a reader of either version treats a
 * file of the other as empty. The writer changes entries in place between
 * write_begin and write_end; a reader that sees seq odd or changed retries a
 * few times, then treats the snapshot as empty. To grow, the writer publishes a
 * new file by rename and marks the old one retired: a shim seeing
 * nm_snapshot_is_retired() re-opens the path. Files are never truncated while
 * published. */
#define NM_SNAPSHOT_MAGIC 0x53534d4eu /* "NMSS" read little-endian */
#define NM_SNAPSHOT_VERSION 2
#define NM_SNAPSHOT_HEADER_LEN 64
#define NM_SNAPSHOT_ENTRY_LEN 128
#define NM_SNAPSHOT_TAG_MAX 103 /* longer tags are published without */
#define NM_SNAPSHOT_SLOTS_MAX (1u << 24)
#define NM_SNAPSHOT_READ_TRIES 8
#define NM_SNAPSHOT_PATH_MAX 4096 /* longer paths count as disabled */

#define NM_SNAPSHOT_F_RETIRED (1u << 0) /* header: re-open the path */
/* header: a route without a fresh prefix honours the origin's freshness
 * (notmodd --accelerate origin) */
#define NM_SNAPSHOT_F_ACCELERATE_ORIGIN (1u << 1)

/* Entry flags. */
#define NM_SNAPSHOT_E_URL (1u << 0)      /* key is nm_snapshot_url_key */
#define NM_SNAPSHOT_E_DISABLED (1u << 1) /* key is nm_snapshot_prefix_key */
#define NM_SNAPSHOT_E_PINNED (1u << 2)   /* tag was pinned by an operator */
#define NM_SNAPSHOT_E_HAS_TAG (1u << 3)  /* tag holds the current tag */
#define NM_SNAPSHOT_E_FRESH (1u << 4)    /* key is nm_snapshot_prefix_key */

/* What a lookup returns: a private copy, safe to keep. */
typedef struct nm_snapshot_hit {
    /* Last-Modified notmodd gives the current tag: the start of its epoch
     * (docs/validators.md), 0 if none yet. */
    int64_t lm_unix;
    uint32_t flags;            /* NM_SNAPSHOT_E_* */
    uint32_t purge_generation; /* header purge_generation when put */
    uint64_t generation;       /* snapshot generation read */
    size_t tag_len;
    char tag[NM_SNAPSHOT_TAG_MAX + 1]; /* entity-tag as sent, NUL-terminated */
} nm_snapshot_hit_t;

/* --- reader side (the shim) --- */

/* 64-bit key of a URL: host (ASCII case-folded) and request-target (path
 * and query, byte for byte). Never 0. */
uint64_t nm_snapshot_url_key(nm_slice_t host, nm_slice_t target);

/* The same key for a host with no byte in 'A'-'Z' (nm_origin_canon's
 * output), which it does not fold again. */
uint64_t nm_snapshot_url_key_lower(nm_slice_t host, nm_slice_t target);

/* Key of a disabled route prefix; host len 0 means "on every host". The
 * prefix is normalized as nm_snapshot_prefix_len does. Never 0. */
uint64_t nm_snapshot_prefix_key(nm_slice_t host, nm_slice_t prefix);

/* Finds the entry of host + target. Returns 1 and fills *out when found,
 * 0 when absent or when the map is missing, short, garbage, of another
 * version, or kept busy by the writer past NM_SNAPSHOT_READ_TRIES. */
int nm_snapshot_lookup(const void *map, size_t len, nm_slice_t host,
                       nm_slice_t target, nm_snapshot_hit_t *out);

/* The same for a URL whose key (nm_snapshot_url_key) is already made. */
int nm_snapshot_lookup_key(const void *map, size_t len, uint64_t key,
                           nm_snapshot_hit_t *out);

/* True when a disabled prefix covers target's normalized path
 * (nm_origin_path) on host (or on every host), and for any target whose
 * path cannot be normalized safely, even without a valid map. Prefixes
 * match at '/' boundaries: "/a" covers "/a", "/a/x" and "/a?q", not "/ab";
 * the query never takes part. */
bool nm_snapshot_is_disabled(const void *map, size_t len, nm_slice_t host,
                             nm_slice_t target);

/* The configured freshness of host + target (fresh.h): the seconds of the
 * longest fresh prefix covering target's normalized path (on host, or on
 * every host; host wins at equal length), NM_FRESH_ORIGIN for "origin",
 * and 0 for a "never" prefix, for none (unless the header says
 * NM_SNAPSHOT_F_ACCELERATE_ORIGIN: then NM_FRESH_ORIGIN), for a path that
 * cannot be normalized safely and for a map that is not a valid snapshot.
 * Prefixes match as in nm_snapshot_is_disabled. One atomic load when
 * nothing is fresh. The caller checks nm_snapshot_is_disabled first. */
int64_t nm_snapshot_fresh_for(const void *map, size_t len, nm_slice_t host,
                              nm_slice_t target);

/* Could any route be fresh (a fresh prefix, or the origin default)?
 * False lets a reader skip parsing a request to ask nm_snapshot_fresh_for;
 * true is only a hint (a racy look). */
bool nm_snapshot_may_be_fresh(const void *map, size_t len);

/* Generation of the snapshot (bumped by every publish), 0 for a map that
 * is not a valid snapshot. A cheap "did anything change" check. */
uint64_t nm_snapshot_generation(const void *map, size_t len);

/* True when the writer has replaced this file: re-open the path. */
bool nm_snapshot_is_retired(const void *map, size_t len);

/* Length of prefix once normalized: trailing '/' dropped except for "/". */
size_t nm_snapshot_prefix_len(const char *prefix, size_t len);

/* Writes the snapshot path that goes with an event socket path into out:
 * "X.sock" gives "X.snapshot", anything else gets ".snapshot" appended.
 * Returns the length or NM_E_NOSPACE. Shared so shim and daemon agree. */
int nm_snapshot_path_for_socket(const char *socket_path, char *out, size_t cap);

/* --- writer side (notmodd) --- */

/* Bytes a region with this many slots needs; 0 if slots is not a power of
 * two in [8, NM_SNAPSHOT_SLOTS_MAX]. */
size_t nm_snapshot_region_len(uint32_t slots);

/* Formats a zeroed-or-not region as an empty snapshot. The caller makes
 * sure no reader maps it yet, or wraps the call in write_begin/end. */
int nm_snapshot_w_init(void *map, size_t len, uint32_t slots,
                       uint64_t generation);

/* Brackets every change: readers retry while the writer is inside. */
void nm_snapshot_w_begin(void *map);
void nm_snapshot_w_end(void *map, int64_t now_unix);

/* Inserts or replaces the URL entry. A tag longer than NM_SNAPSHOT_TAG_MAX
 * is left out (flag HAS_TAG clear). Returns 0, NM_E_NOSPACE when the table
 * is 3/4 full (grow it), NM_E_INVAL on a bad region. */
int nm_snapshot_w_put_url(void *map, size_t len, nm_slice_t host,
                          nm_slice_t target, nm_slice_t tag, int64_t lm_unix,
                          bool is_pinned);

/* Removes the URL entry (a no-op when absent) and bumps purge_generation.
 * Returns 1 if removed, 0 if absent. */
int nm_snapshot_w_remove_url(void *map, size_t len, nm_slice_t host,
                             nm_slice_t target);

/* Marks a route prefix disabled or enabled again. Returns 0 or the errors
 * of nm_snapshot_w_put_url. */
int nm_snapshot_w_set_disabled(void *map, size_t len, nm_slice_t host,
                               nm_slice_t prefix, bool is_disabled);

/* Sets (is_set) or removes the freshness of a route prefix: seconds > 0,
 * NM_FRESH_ORIGIN, or 0 ("never": a longer prefix that stops a shorter
 * one). Returns 0 or the errors of nm_snapshot_w_put_url; NM_E_INVAL for a
 * value of none of these kinds. */
int nm_snapshot_w_set_fresh(void *map, size_t len, nm_slice_t host,
                            nm_slice_t prefix, bool is_set, int64_t fresh_s);

/* Sets or clears NM_SNAPSHOT_F_ACCELERATE_ORIGIN (inside begin/end). */
void nm_snapshot_w_set_accelerate_origin(void *map, bool is_origin);

/* Entries in use, or a negative NM_E_* for a bad region. */
int64_t nm_snapshot_w_used(const void *map, size_t len);

/* Marks the region replaced (see nm_snapshot_is_retired). */
void nm_snapshot_w_retire(void *map);

#endif
