/* fuzz_snapshot.c - the snapshot reader (common/snapshot.c) on an
 * arbitrary byte region, as a shim would map a truncated, garbage or
 * hostile file: lookups and the disabled-prefix walk must stay inside the
 * region, terminate, and return sane copies. Input: host length byte,
 * target length (2 bytes), host, target, then the region (copied to an
 * exactly sized, 8-byte-aligned heap block). */
#include "fuzz_util.h"
#include "snapshot.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 3)
        return 0;
    size_t hl = data[0];
    size_t tl = (size_t)(data[1] | data[2] << 8);
    size_t off = 3;
    if (hl > size - off)
        hl = size - off;
    off += hl;
    if (tl > size - off)
        tl = size - off;
    char *host = dup_exact(data + 3, hl);
    char *target = dup_exact(data + off, tl);
    off += tl;
    size_t len = size - off;
    void *map = dup_exact(data + off, len); /* malloc: 16-byte aligned */

    nm_slice_t h = {host, hl}, t = {target, tl};
    nm_snapshot_hit_t hit;
    memset(&hit, 0xa5, sizeof(hit));
    int found = nm_snapshot_lookup(map, len, h, t, &hit);
    FUZZ_CHECK(found == 0 || found == 1, "lookup = %d", found);
    uint64_t gen = nm_snapshot_generation(map, len);
    if (found) {
        FUZZ_CHECK(len >= NM_SNAPSHOT_HEADER_LEN + 8 * NM_SNAPSHOT_ENTRY_LEN,
                   "hit in a region of %zu bytes", len);
        FUZZ_CHECK(hit.tag_len <= NM_SNAPSHOT_TAG_MAX &&
                       hit.tag[hit.tag_len] == '\0',
                   "tag_len %zu", hit.tag_len);
        FUZZ_CHECK((hit.flags & NM_SNAPSHOT_E_HAS_TAG) || hit.tag_len == 0,
                   "tag without HAS_TAG");
        FUZZ_CHECK(hit.flags & NM_SNAPSHOT_E_URL, "hit is not a URL entry");
        FUZZ_CHECK(hit.generation == gen, "generation %llu vs %llu",
                   (unsigned long long)hit.generation, (unsigned long long)gen);
    }
    bool is_disabled = nm_snapshot_is_disabled(map, len, h, t);
    nm_slice_t any = {NULL, 0};
    bool is_disabled_any = nm_snapshot_is_disabled(map, len, any, t);
    (void)is_disabled;
    (void)is_disabled_any;
    int64_t fresh_s = nm_snapshot_fresh_for(map, len, h, t);
    FUZZ_CHECK(fresh_s >= 0 || fresh_s == -1, "freshness %lld",
               (long long)fresh_s);
    (void)nm_snapshot_is_retired(map, len);
    /* Short regions: every prefix of a valid map must be handled too. */
    if (len > 0) {
        size_t cut = (size_t)data[0] * 8 % len;
        void *part = dup_exact(data + off, cut);
        FUZZ_CHECK(nm_snapshot_lookup(part, cut, h, t, &hit) == 0 ||
                       cut >= NM_SNAPSHOT_HEADER_LEN,
                   "hit in %zu bytes", cut);
        (void)nm_snapshot_is_disabled(part, cut, h, t);
        FUZZ_CHECK(nm_snapshot_fresh_for(part, cut, h, t) == 0 ||
                       cut >= NM_SNAPSHOT_HEADER_LEN,
                   "freshness in %zu bytes", cut);
        free(part);
    }
    free(map);
    free(host);
    free(target);
    return 0;
}
