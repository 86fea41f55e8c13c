/* bodyhash.h - the strong ETag notmod synthesizes: XXH3-128 (libxxhash) of
 * the body bytes, seeded with the fleet secret when there is one, written
 * as "nm-" + 22 chars of base64url. Streaming, so bodies are hashed as they
 * pass; where the CPU has AVX2, by the same function compiled for it
 * (bodyhash_avx2.h). Used by the shim (held bodies, sendfile regions) and
 * pcap reports. */
#ifndef NM_BODYHASH_H
#define NM_BODYHASH_H

#include "nm.h"

#define XXH_STATIC_LINKING_ONLY
#include <xxhash.h>

/* Length of the quoted tag: DQUOTE "nm-" 22 chars DQUOTE. */
#define NM_BODYHASH_TAG_LEN 27

typedef struct nm_bodyhash {
    XXH3_state_t state;
    bool is_avx2; /* hashed by the AVX2 build of the same function */
} nm_bodyhash_t;

/* Starts a hash; seed 0 when there is no fleet secret. */
void nm_bodyhash_init(nm_bodyhash_t *h, uint64_t seed);

/* Does this CPU run the AVX2 build (and is there one in this build)? */
bool nm_bodyhash_has_avx2(void);

/* As nm_bodyhash_init with the implementation chosen: the AVX2 build
 * only where nm_bodyhash_has_avx2(). Tests and benchmarks compare them;
 * they give the same tag. */
void nm_bodyhash_init_using(nm_bodyhash_t *h, uint64_t seed, bool use_avx2);
void nm_bodyhash_update(nm_bodyhash_t *h, const void *data, size_t len);

/* Writes the quoted tag and a NUL into out (NM_BODYHASH_TAG_LEN + 1 bytes). */
void nm_bodyhash_final(nm_bodyhash_t *h, char *out);

/* One-shot convenience for a whole body in memory. */
void nm_bodyhash_tag(const void *data, size_t len, uint64_t seed, char *out);

#endif
