/* bodyhash_avx2.h - XXH3-128 compiled for AVX2 from xxhash.h's own
 * implementation, for bodyhash.c only, which calls it where the CPU has
 * AVX2. libxxhash as Debian builds it has SSE2 code and no dispatch; this
 * is the same function (so the same hash, bit for bit), about three times
 * as fast on a 16 KiB body. The state is libxxhash's XXH3_state_t (same
 * header, same layout), passed as void * so that the library's
 * declarations and this file's inlined copy never meet in one unit. */
#ifndef NM_BODYHASH_AVX2_H
#define NM_BODYHASH_AVX2_H

#include <stddef.h>
#include <stdint.h>

/* sizeof(XXH3_state_t), checked on both sides of the void *. */
#define NM_BODYHASH_STATE_BYTES 576

/* XXH3_128bits_reset_withSeed, _update and _digest, and the one-shot
 * XXH3_128bits_withSeed; a digest is written as its 16 canonical
 * (big-endian) bytes. */
void nm_bodyhash_avx2_reset(void *state, uint64_t seed);
void nm_bodyhash_avx2_update(void *state, const void *data, size_t len);
void nm_bodyhash_avx2_digest(const void *state, unsigned char out[16]);
void nm_bodyhash_avx2_oneshot(const void *data, size_t len, uint64_t seed,
                              unsigned char out[16]);

#endif
