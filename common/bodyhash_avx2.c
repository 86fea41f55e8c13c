/* bodyhash_avx2.c - see bodyhash_avx2.h. Built with -mavx2 (CMakeLists):
 * xxhash.h then picks its AVX2 accumulate and scramble loops. Nothing
 * here may run on a CPU without AVX2, not even a check for it. Built
 * without it (the fuzzing build compiles every common/ file alike), the
 * file is empty: bodyhash.c calls it only where CMake defines
 * NM_BODYHASH_AVX2, which it does together with -mavx2. */
#include "bodyhash_avx2.h"

#ifdef __AVX2__

#include <string.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

_Static_assert(sizeof(XXH3_state_t) == NM_BODYHASH_STATE_BYTES,
               "the state libxxhash and this copy share");

void nm_bodyhash_avx2_reset(void *state, uint64_t seed)
{
    XXH3_128bits_reset_withSeed(state, seed);
}

void nm_bodyhash_avx2_update(void *state, const void *data, size_t len)
{
    XXH3_128bits_update(state, data, len);
}

void nm_bodyhash_avx2_digest(const void *state, unsigned char out[16])
{
    XXH128_canonical_t c;
    XXH128_canonicalFromHash(&c, XXH3_128bits_digest(state));
    memcpy(out, c.digest, sizeof(c.digest));
}

void nm_bodyhash_avx2_oneshot(const void *data, size_t len, uint64_t seed,
                              unsigned char out[16])
{
    XXH128_canonical_t c;
    XXH128_canonicalFromHash(&c, XXH3_128bits_withSeed(data, len, seed));
    memcpy(out, c.digest, sizeof(c.digest));
}

#endif
