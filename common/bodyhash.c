/* bodyhash.c - the synthesized strong ETag: XXH3-128 of the body bytes,
 * written as DQUOTE "nm-" base64url(16 canonical big-endian bytes) DQUOTE.
 * base64url (RFC 4648 §5) without padding only uses etagc characters, so
 * the tag needs no escaping anywhere. */
#include "bodyhash.h"

#ifdef NM_BODYHASH_AVX2
#include "bodyhash_avx2.h"
#include "cpu.h"

_Static_assert(sizeof(XXH3_state_t) == NM_BODYHASH_STATE_BYTES,
               "the state libxxhash and bodyhash_avx2.c share");
#endif

static const char b64url[64] = {
    'A', 'B', 'C', 'D', 'E', 'F', 'G', 'H', 'I', 'J', 'K', 'L', 'M',
    'N', 'O', 'P', 'Q', 'R', 'S', 'T', 'U', 'V', 'W', 'X', 'Y', 'Z',
    'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j', 'k', 'l', 'm',
    'n', 'o', 'p', 'q', 'r', 's', 't', 'u', 'v', 'w', 'x', 'y', 'z',
    '0', '1', '2', '3', '4', '5', '6', '7', '8', '9', '-', '_'};

/* 16 canonical bytes -> 22 chars: five 3-byte groups (20 chars) and one
 * last byte (2 chars, the low 4 bits of the second are zero). */
static void write_tag(const unsigned char b[16], char *out)
{
    char *p = out;

    *p++ = '"';
    *p++ = 'n';
    *p++ = 'm';
    *p++ = '-';
    for (int i = 0; i < 15; i += 3) {
        uint32_t v = (uint32_t)b[i] << 16 | (uint32_t)b[i + 1] << 8 | b[i + 2];
        *p++ = b64url[v >> 18];
        *p++ = b64url[(v >> 12) & 63];
        *p++ = b64url[(v >> 6) & 63];
        *p++ = b64url[v & 63];
    }
    *p++ = b64url[b[15] >> 2];
    *p++ = b64url[(b[15] & 3) << 4];
    *p++ = '"';
    *p = '\0';
}

static void write_hash_tag(XXH128_hash_t hash, char *out)
{
    XXH128_canonical_t c;
    XXH128_canonicalFromHash(&c, hash);
    write_tag(c.digest, out);
}

bool nm_bodyhash_has_avx2(void)
{
#ifdef NM_BODYHASH_AVX2
    return NM_CPU_HAS_AVX2();
#else
    return false;
#endif
}

void nm_bodyhash_init_using(nm_bodyhash_t *h, uint64_t seed, bool use_avx2)
{
#ifdef NM_BODYHASH_AVX2
    h->is_avx2 = use_avx2;
    if (use_avx2) {
        nm_bodyhash_avx2_reset(&h->state, seed);
        return;
    }
#else
    (void)use_avx2;
    h->is_avx2 = false;
#endif
    XXH3_128bits_reset_withSeed(&h->state, seed);
}

void nm_bodyhash_init(nm_bodyhash_t *h, uint64_t seed)
{
    nm_bodyhash_init_using(h, seed, nm_bodyhash_has_avx2());
}

void nm_bodyhash_update(nm_bodyhash_t *h, const void *data, size_t len)
{
    if (len == 0)
        return;
#ifdef NM_BODYHASH_AVX2
    if (h->is_avx2) {
        nm_bodyhash_avx2_update(&h->state, data, len);
        return;
    }
#endif
    XXH3_128bits_update(&h->state, data, len);
}

void nm_bodyhash_final(nm_bodyhash_t *h, char *out)
{
#ifdef NM_BODYHASH_AVX2
    if (h->is_avx2) {
        unsigned char digest[16];
        nm_bodyhash_avx2_digest(&h->state, digest);
        write_tag(digest, out);
        return;
    }
#endif
    write_hash_tag(XXH3_128bits_digest(&h->state), out);
}

/* The one-shot function gives the same hash as the streaming state for the
 * same seed (xxhash guarantees it; test_bodyhash checks every split). */
void nm_bodyhash_tag(const void *data, size_t len, uint64_t seed, char *out)
{
    if (len == 0)
        data = "";
#ifdef NM_BODYHASH_AVX2
    if (nm_bodyhash_has_avx2()) {
        unsigned char digest[16];
        nm_bodyhash_avx2_oneshot(data, len, seed, digest);
        write_tag(digest, out);
        return;
    }
#endif
    write_hash_tag(XXH3_128bits_withSeed(data, len, seed), out);
}
