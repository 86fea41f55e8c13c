/* bodyhash.c - the synthesized strong ETag (see bodyhash.h). */
#include "bodyhash.h"

#include <string.h>

static const char b64url[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

void nm_bodyhash_init(nm_bodyhash_t *h, uint64_t seed)
{
    XXH3_128bits_reset_withSeed(&h->state, seed);
}

void nm_bodyhash_update(nm_bodyhash_t *h, const void *data, size_t len)
{
    if (len > 0)
        XXH3_128bits_update(&h->state, data, len);
}

/* 16 bytes → 22 base64url chars, no padding. */
static void encode(const unsigned char *in, char *out)
{
    int o = 0;
    for (int i = 0; i < 15; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 |
                     in[i + 2];
        out[o++] = b64url[v >> 18 & 63];
        out[o++] = b64url[v >> 12 & 63];
        out[o++] = b64url[v >> 6 & 63];
        out[o++] = b64url[v & 63];
    }
    out[o++] = b64url[in[15] >> 2];
    out[o++] = b64url[(in[15] & 3) << 4];
}

void nm_bodyhash_final(nm_bodyhash_t *h, char *out)
{
    XXH128_canonical_t canon;
    XXH128_canonicalFromHash(&canon, XXH3_128bits_digest(&h->state));
    memcpy(out, "\"nm-", 4);
    encode(canon.digest, out + 4);
    out[26] = '"';
    out[27] = '\0';
}

void nm_bodyhash_tag(const void *data, size_t len, uint64_t seed, char *out)
{
    nm_bodyhash_t h;
    nm_bodyhash_init(&h, seed);
    nm_bodyhash_update(&h, data, len);
    nm_bodyhash_final(&h, out);
}
