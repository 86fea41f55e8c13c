/* hold.h - storage for a response the shim holds while it hashes the body:
 * in memory up to a small threshold, then spilled to a memfd, up to
 * NOTMOD_HOLD_MAX per response and NOTMOD_HOLD_TOTAL per process. Keeps the
 * server's raw bytes (framing included) and the hash of the de-chunked
 * body side by side, and checks every limit on holding. Used by the
 * connection layer (phase.c, conn.c). */
#ifndef NM_SHIM_HOLD_H
#define NM_SHIM_HOLD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "bodyhash.h"
#include "http_resp.h"
#include "snapshot.h"

/* Held bytes kept in memory before spilling to a memfd. */
#define NM_HOLD_MEM_BYTES (64 * 1024)
/* Room in front of them for a head and its validator lines. */
#define NM_HOLD_FRONT_BYTES 1024

struct nm_hold {
    nm_bodyhash_t hash; /* first: XXH3 state wants 64-byte alignment */
    uint64_t seed;
    bool is_hashing; /* hash is started: on the first body byte */
    char *mem;       /* the bytes held in memory, after NM_HOLD_FRONT_BYTES of
                        room for what goes in front of them (nm_hold_join_front) */
    size_t mem_len, mem_cap;
    int memfd;         /* -1 until spilled */
    uint64_t file_len; /* bytes in the memfd (they follow mem) */
    uint64_t started_ms;
    /* What the store knew of the URL when the hold began (one lookup per
     * response: its first-seen time dates the tag the hash will give). */
    bool has_store_hit;
    nm_snapshot_hit_t store_hit;
};

/* May the body of resp be held now? Every limit on holding is checked
 * here: NOTMOD_HOLD_MAX against its declared length, NOTMOD_HOLD_TOTAL
 * against what the process holds already (nm_hold_append checks both
 * again as bytes come). */
enum nm_hold_admit {
    NM_HOLD_ADMITTED,
    NM_HOLD_TOO_LARGE, /* the declared body is over NOTMOD_HOLD_MAX */
    NM_HOLD_NO_ROOM,   /* the process holds NOTMOD_HOLD_TOTAL already */
};
enum nm_hold_admit nm_hold_admits(const nm_resp_t *resp);

/* May a body of len bytes be hashed for a tag (NOTMOD_HOLD_MAX)? For a
 * body sent from a file, which is hashed there rather than held. */
bool nm_hold_fits(uint64_t len);

/* Has a hold that began at since_ms lasted NOTMOD_HOLD_MS at now_ms? Then
 * what is held goes out unchanged: a hold must never stall a client. */
bool nm_hold_is_due(uint64_t since_ms, uint64_t now_ms);

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

/* Makes the cnt pieces of v (a head, its validator lines) and the bytes
 * held in memory one piece, *out, by copying the pieces into the room in
 * front of those bytes: a response then leaves in one write from where it
 * is (over TLS, records cut from it, instead of a copy gathering small
 * pieces into a full record). False when they do not fit there or
 * nothing is in memory: the caller sends the pieces apart. */
bool nm_hold_join_front(struct nm_hold *h, const struct iovec *v, int cnt,
                        struct iovec *out);

/* Total raw bytes held. */
uint64_t nm_hold_len(const struct nm_hold *h);

/* Frees the hold and gives its bytes back to the process budget. */
void nm_hold_free(struct nm_hold *h);

/* Bytes held by every hold in this process (NOTMOD_HOLD_TOTAL budget). */
uint64_t nm_hold_total(void);

#endif
