/* snapshot.c - reader and writer of the validator snapshot (layout in
 * snapshot.h). The reader trusts nothing in the region: every size and
 * index is checked against the mapped length before use, and probing is
 * bounded by the slot count, so a garbage or half-written file can only
 * yield "not found". */
#include "snapshot.h"

#include "fresh.h"
#include "origin.h"

#include <stdatomic.h>
#include <string.h>

#define XXH_STATIC_LINKING_ONLY
#include <xxhash.h>

typedef struct snap_header {
    uint32_t magic;
    uint32_t version;
    _Atomic uint64_t seq;
    uint64_t generation;
    uint32_t slots;
    uint32_t entry_len;
    uint32_t used;
    uint32_t flags;
    uint64_t purge_generation;
    int64_t published_unix;
    uint32_t disabled; /* disabled-prefix entries: 0 skips those probes */
    uint32_t fresh;    /* fresh-prefix entries: 0 skips those probes */
} snap_header_t;

typedef struct snap_entry {
    uint64_t key;
    union {
        int64_t lm_unix; /* NM_SNAPSHOT_E_URL */
        int64_t fresh_s; /* NM_SNAPSHOT_E_FRESH */
    };
    uint32_t flags;
    uint32_t purge_generation;
    uint8_t tag_len;
    char tag[NM_SNAPSHOT_TAG_MAX];
} snap_entry_t;

_Static_assert(sizeof(snap_header_t) == NM_SNAPSHOT_HEADER_LEN,
               "header layout");
_Static_assert(sizeof(snap_entry_t) == NM_SNAPSHOT_ENTRY_LEN, "entry layout");

/* Different seeds keep URL keys and prefix keys apart. */
#define URL_SEED 0x6e6d2d75726c0001ull
#define PREFIX_SEED 0x6e6d2d7072650002ull

/* The key hashes the folded host, a NUL (never in a Host) and s. */
static uint64_t key_streamed(uint64_t seed, nm_slice_t host, const char *s,
                             size_t len)
{
    XXH3_state_t st;
    XXH3_64bits_reset_withSeed(&st, seed);
    char low[64];
    for (size_t off = 0; host.ptr && off < host.len; off += sizeof(low)) {
        size_t n = host.len - off < sizeof(low) ? host.len - off : sizeof(low);
        nm_origin_fold(low, host.ptr + off, n);
        XXH3_64bits_update(&st, low, n);
    }
    XXH3_64bits_update(&st, "", 1);
    if (s && len)
        XXH3_64bits_update(&st, s, len);
    return XXH3_64bits_digest(&st);
}

/* The same bytes hashed in one call when they fit the stack: XXH3 gives a
 * streamed input the same value, and its state costs about 500
 * instructions more per key. A host known to be in lower case already
 * (is_lower) is copied, not folded again. */
static uint64_t key_of(uint64_t seed, nm_slice_t host, const char *s,
                       size_t len, bool is_lower)
{
    char buf[512];
    size_t host_len = host.ptr ? host.len : 0, tail = s ? len : 0;
    uint64_t k;
    if (host_len < sizeof(buf) && tail < sizeof(buf) - host_len) {
        if (is_lower && host_len > 0)
            memcpy(buf, host.ptr, host_len);
        else
            nm_origin_fold(buf, host.ptr, host_len);
        buf[host_len] = '\0';
        if (tail > 0)
            memcpy(buf + host_len + 1, s, tail);
        k = XXH3_64bits_withSeed(buf, host_len + 1 + tail, seed);
    } else {
        k = key_streamed(seed, host, s, len);
    }
    return k ? k : 1;
}

uint64_t nm_snapshot_url_key(nm_slice_t host, nm_slice_t target)
{
    return key_of(URL_SEED, host, target.ptr, target.len, false);
}

uint64_t nm_snapshot_url_key_lower(nm_slice_t host, nm_slice_t target)
{
    return key_of(URL_SEED, host, target.ptr, target.len, true);
}

size_t nm_snapshot_prefix_len(const char *prefix, size_t len)
{
    while (len > 1 && prefix[len - 1] == '/')
        len--;
    return len;
}

uint64_t nm_snapshot_prefix_key(nm_slice_t host, nm_slice_t prefix)
{
    size_t n = prefix.ptr ? nm_snapshot_prefix_len(prefix.ptr, prefix.len) : 0;
    return key_of(PREFIX_SEED, host, prefix.ptr, n, false);
}

/* The header if the region looks like a snapshot we can read, else NULL. */
static const snap_header_t *header_of(const void *map, size_t len)
{
    if (!map || len < NM_SNAPSHOT_HEADER_LEN || ((uintptr_t)map & 7))
        return NULL;
    const snap_header_t *h = map;
    if (h->magic != NM_SNAPSHOT_MAGIC || h->version != NM_SNAPSHOT_VERSION ||
        h->entry_len != NM_SNAPSHOT_ENTRY_LEN)
        return NULL;
    size_t need = nm_snapshot_region_len(h->slots);
    if (need == 0 || need > len)
        return NULL;
    return h;
}

static const snap_entry_t *entries_of(const void *map)
{
    return (const snap_entry_t *)((const char *)map + NM_SNAPSHOT_HEADER_LEN);
}

/* One probe for key with the given kind; copies the entry into *out.
 * Runs inside a seqlock read, so what it reads may be torn: it only has to
 * stay in bounds and terminate. */
static bool probe(const void *map, uint32_t slots, uint64_t key, uint32_t kind,
                  snap_entry_t *out)
{
    const snap_entry_t *e = entries_of(map);
    uint32_t mask = slots - 1;
    for (uint32_t n = 0, i = (uint32_t)key & mask; n < slots;
         n++, i = (i + 1) & mask) {
        memcpy(out, &e[i], sizeof(*out));
        if (out->key == 0)
            return false;
        if (out->key == key && (out->flags & kind))
            return true;
    }
    return false;
}

/* Seqlock read of one key. Returns true and *out when found in a
 * consistent read; false otherwise (including "writer too busy"). */
static bool read_entry(const void *map, size_t len, uint64_t key, uint32_t kind,
                       snap_entry_t *out, uint64_t *gen)
{
    const snap_header_t *h = header_of(map, len);
    if (!h)
        return false;
    /* seq is only ever accessed atomically; everything else read here is
     * validated by seq being even and unchanged around the reads. */
    const _Atomic uint64_t *seq = &h->seq;
    for (int attempt = 0; attempt < NM_SNAPSHOT_READ_TRIES; attempt++) {
        uint64_t s1 = atomic_load_explicit(seq, memory_order_acquire);
        if (s1 & 1)
            continue;
        uint32_t slots = h->slots;
        bool is_found = false;
        uint64_t g = h->generation;
        /* slots may have been garbled under us: re-check before probing. */
        size_t need = nm_snapshot_region_len(slots);
        if (need != 0 && need <= len)
            is_found = probe(map, slots, key, kind, out);
        atomic_thread_fence(memory_order_acquire);
        if (atomic_load_explicit(seq, memory_order_relaxed) != s1)
            continue;
        *gen = g;
        return is_found;
    }
    return false;
}

int nm_snapshot_lookup(const void *map, size_t len, nm_slice_t host,
                       nm_slice_t target, nm_snapshot_hit_t *out)
{
    return nm_snapshot_lookup_key(map, len, nm_snapshot_url_key(host, target),
                                  out);
}

int nm_snapshot_lookup_key(const void *map, size_t len, uint64_t key,
                           nm_snapshot_hit_t *out)
{
    snap_entry_t e;
    uint64_t gen = 0;
    if (!out || !read_entry(map, len, key, NM_SNAPSHOT_E_URL, &e, &gen))
        return 0;
    memset(out, 0, sizeof(*out));
    out->lm_unix = e.lm_unix;
    out->flags = e.flags;
    out->purge_generation = e.purge_generation;
    out->generation = gen;
    if ((e.flags & NM_SNAPSHOT_E_HAS_TAG) && e.tag_len <= NM_SNAPSHOT_TAG_MAX) {
        out->tag_len = e.tag_len;
        memcpy(out->tag, e.tag, e.tag_len);
    } else {
        out->flags &= ~NM_SNAPSHOT_E_HAS_TAG;
    }
    return 1;
}

static bool prefix_disabled(const void *map, size_t len, nm_slice_t host,
                            const char *path, size_t n)
{
    snap_entry_t e;
    uint64_t gen;
    nm_slice_t p = {path, n}, any = {NULL, 0};
    if (read_entry(map, len, nm_snapshot_prefix_key(host, p),
                   NM_SNAPSHOT_E_DISABLED, &e, &gen))
        return true;
    return read_entry(map, len, nm_snapshot_prefix_key(any, p),
                      NM_SNAPSHOT_E_DISABLED, &e, &gen);
}

bool nm_snapshot_is_disabled(const void *map, size_t len, nm_slice_t host,
                             nm_slice_t target)
{
    if (!target.ptr)
        return false;
    /* Routes are matched on the normalized path, so "/%70", "/./p" and "//p"
     * are "/p"; a path that cannot be normalized safely might be another
     * path to the server than to us: it counts as disabled. */
    char norm[NM_SNAPSHOT_PATH_MAX];
    if (!nm_origin_path_is_plain(target.ptr, target.len)) {
        int n = nm_origin_path(target.ptr, target.len, norm, sizeof(norm));
        if (n == NM_E_UNSUPPORTED || n == NM_E_NOSPACE)
            return true;
        if (n > 0)
            target = (nm_slice_t){norm, (size_t)n};
    }
    const snap_header_t *h = header_of(map, len);
    /* Most snapshots disable nothing: skip the per-segment probes. A racy
     * read of the count is fine, the answer is racy anyway. */
    if (!h || __atomic_load_n(&h->disabled, __ATOMIC_RELAXED) == 0)
        return false;
    size_t plen = 0;
    while (plen < target.len && target.ptr[plen] != '?')
        plen++;
    if (plen == 0)
        return false;
    if (prefix_disabled(map, len, host, "/", 1))
        return true;
    for (size_t i = 1; i <= plen; i++) {
        bool is_boundary = i == plen || target.ptr[i] == '/';
        if (is_boundary && !(i == plen && target.ptr[i - 1] == '/') &&
            prefix_disabled(map, len, host, target.ptr, i))
            return true;
    }
    return false;
}

/* The fresh entry of path (n bytes) on host, or on every host: one probe
 * each, inside the caller's seqlock read. */
static bool prefix_fresh(const void *map, uint32_t slots, nm_slice_t host,
                         const char *path, size_t n, int64_t *fresh_s)
{
    snap_entry_t e;
    nm_slice_t p = {path, n}, any = {NULL, 0};
    if (!probe(map, slots, nm_snapshot_prefix_key(host, p), NM_SNAPSHOT_E_FRESH,
               &e) &&
        !probe(map, slots, nm_snapshot_prefix_key(any, p), NM_SNAPSHOT_E_FRESH,
               &e))
        return false;
    /* Only the three kinds of value a writer puts; anything else: never. */
    *fresh_s = (e.fresh_s > 0 || e.fresh_s == NM_FRESH_ORIGIN) ? e.fresh_s : 0;
    return true;
}

/* The longest fresh prefix of path (plen bytes, normalized), else the
 * header's default. */
static int64_t fresh_walk(const void *map, uint32_t slots, nm_slice_t host,
                          const char *path, size_t plen, int64_t fallback)
{
    int64_t fresh_s;
    for (size_t i = plen; i >= 1; i--) {
        bool is_boundary = i == plen || path[i] == '/';
        if (is_boundary && !(i == plen && path[i - 1] == '/') &&
            prefix_fresh(map, slots, host, path, i, &fresh_s))
            return fresh_s;
    }
    if (prefix_fresh(map, slots, host, "/", 1, &fresh_s))
        return fresh_s;
    return fallback;
}

int64_t nm_snapshot_fresh_for(const void *map, size_t len, nm_slice_t host,
                              nm_slice_t target)
{
    const snap_header_t *h = header_of(map, len);
    if (!h || !target.ptr)
        return 0;
    /* Most snapshots accelerate nothing: two loads and out (a racy look;
     * any answer but 0 comes from the consistent read below). */
    if (__atomic_load_n(&h->fresh, __ATOMIC_RELAXED) == 0 &&
        !(__atomic_load_n(&h->flags, __ATOMIC_RELAXED) &
          NM_SNAPSHOT_F_ACCELERATE_ORIGIN))
        return 0;
    /* The normalized path, as nm_snapshot_is_disabled matches it; one
     * that cannot be normalized safely is never accelerated. */
    char norm[NM_SNAPSHOT_PATH_MAX];
    if (!nm_origin_path_is_plain(target.ptr, target.len)) {
        int n = nm_origin_path(target.ptr, target.len, norm, sizeof(norm));
        if (n < 0)
            return 0;
        target = (nm_slice_t){norm, (size_t)n};
    }
    size_t plen = 0;
    while (plen < target.len && target.ptr[plen] != '?')
        plen++;
    if (plen == 0 || target.ptr[0] != '/')
        return 0;
    /* The whole walk in one seqlock read: a probe the writer spoiled must
     * not let a shorter prefix (or the default) answer for a longer
     * "never". A writer too busy means 0. */
    const _Atomic uint64_t *seq = &h->seq;
    for (int attempt = 0; attempt < NM_SNAPSHOT_READ_TRIES; attempt++) {
        uint64_t s1 = atomic_load_explicit(seq, memory_order_acquire);
        if (s1 & 1)
            continue;
        uint32_t slots = h->slots, count = h->fresh, flags = h->flags;
        size_t need = nm_snapshot_region_len(slots);
        int64_t fallback =
            (flags & NM_SNAPSHOT_F_ACCELERATE_ORIGIN) ? NM_FRESH_ORIGIN : 0;
        int64_t fresh_s = fallback;
        if (need != 0 && need <= len && count > 0)
            fresh_s = fresh_walk(map, slots, host, target.ptr, plen, fallback);
        atomic_thread_fence(memory_order_acquire);
        if (atomic_load_explicit(seq, memory_order_relaxed) != s1)
            continue;
        return need != 0 && need <= len ? fresh_s : 0;
    }
    return 0;
}

bool nm_snapshot_may_be_fresh(const void *map, size_t len)
{
    const snap_header_t *h = header_of(map, len);
    return h && (__atomic_load_n(&h->fresh, __ATOMIC_RELAXED) != 0 ||
                 (__atomic_load_n(&h->flags, __ATOMIC_RELAXED) &
                  NM_SNAPSHOT_F_ACCELERATE_ORIGIN));
}

uint64_t nm_snapshot_generation(const void *map, size_t len)
{
    const snap_header_t *h = header_of(map, len);
    return h ? __atomic_load_n(&h->generation, __ATOMIC_ACQUIRE) : 0;
}

bool nm_snapshot_is_retired(const void *map, size_t len)
{
    const snap_header_t *h = header_of(map, len);
    return h && (__atomic_load_n(&h->flags, __ATOMIC_ACQUIRE) &
                 NM_SNAPSHOT_F_RETIRED);
}

int nm_snapshot_path_for_socket(const char *socket_path, char *out, size_t cap)
{
    if (!socket_path || !out)
        return NM_E_INVAL;
    size_t n = strlen(socket_path);
    if (n >= 5 && strcmp(socket_path + n - 5, ".sock") == 0)
        n -= 5;
    static const char ext[] = ".snapshot";
    if (n + sizeof(ext) > cap)
        return NM_E_NOSPACE;
    memcpy(out, socket_path, n);
    memcpy(out + n, ext, sizeof(ext));
    return (int)(n + sizeof(ext) - 1);
}

/* --- writer --- */

size_t nm_snapshot_region_len(uint32_t slots)
{
    if (slots < 8 || slots > NM_SNAPSHOT_SLOTS_MAX || (slots & (slots - 1)))
        return 0;
    return NM_SNAPSHOT_HEADER_LEN + (size_t)slots * NM_SNAPSHOT_ENTRY_LEN;
}

int nm_snapshot_w_init(void *map, size_t len, uint32_t slots,
                       uint64_t generation)
{
    size_t need = nm_snapshot_region_len(slots);
    if (!map || need == 0 || need > len || ((uintptr_t)map & 7))
        return NM_E_INVAL;
    snap_header_t *h = map;
    uint64_t seq = atomic_load_explicit(&h->seq, memory_order_relaxed);
    if (h->magic != NM_SNAPSHOT_MAGIC)
        seq = 0; /* fresh region: whatever was there is not a counter */
    memset((char *)map + NM_SNAPSHOT_HEADER_LEN, 0,
           need - NM_SNAPSHOT_HEADER_LEN);
    h->version = NM_SNAPSHOT_VERSION;
    h->generation = generation;
    h->slots = slots;
    h->entry_len = NM_SNAPSHOT_ENTRY_LEN;
    h->used = 0;
    h->flags = 0;
    h->purge_generation = 0;
    h->published_unix = 0;
    h->disabled = 0;
    h->fresh = 0;
    atomic_store_explicit(&h->seq, seq & ~1ull, memory_order_release);
    h->magic = NM_SNAPSHOT_MAGIC;
    return NM_OK;
}

void nm_snapshot_w_begin(void *map)
{
    snap_header_t *h = map;
    uint64_t s = atomic_load_explicit(&h->seq, memory_order_relaxed);
    atomic_store_explicit(&h->seq, s + 1, memory_order_relaxed);
    /* Readers must see seq odd before any entry changes. */
    atomic_thread_fence(memory_order_release);
}

void nm_snapshot_w_end(void *map, int64_t now_unix)
{
    snap_header_t *h = map;
    __atomic_store_n(&h->generation, h->generation + 1, __ATOMIC_RELAXED);
    h->published_unix = now_unix;
    uint64_t s = atomic_load_explicit(&h->seq, memory_order_relaxed);
    atomic_store_explicit(&h->seq, s + 1, memory_order_release);
}

static snap_header_t *w_header(void *map, size_t len)
{
    return (snap_header_t *)header_of(map, len);
}

static snap_entry_t *w_entries(void *map)
{
    return (snap_entry_t *)((char *)map + NM_SNAPSHOT_HEADER_LEN);
}

/* Slot holding key/kind, or the empty slot where it would go; -1 when the
 * table has neither (full). */
static int64_t w_find(snap_header_t *h, uint64_t key, uint32_t kind)
{
    snap_entry_t *e = w_entries(h);
    uint32_t mask = h->slots - 1;
    for (uint32_t n = 0, i = (uint32_t)key & mask; n < h->slots;
         n++, i = (i + 1) & mask) {
        if (e[i].key == 0 || (e[i].key == key && (e[i].flags & kind)))
            return i;
    }
    return -1;
}

static int w_put(void *map, size_t len, uint64_t key, uint32_t flags,
                 nm_slice_t tag, int64_t lm_unix)
{
    snap_header_t *h = w_header(map, len);
    if (!h)
        return NM_E_INVAL;
    uint32_t kind = flags & (NM_SNAPSHOT_E_URL | NM_SNAPSHOT_E_DISABLED |
                             NM_SNAPSHOT_E_FRESH);
    int64_t i = w_find(h, key, kind);
    snap_entry_t *e = w_entries(map);
    if (i < 0 || (e[i].key == 0 && (uint64_t)h->used + 1 > h->slots / 4 * 3))
        return NM_E_NOSPACE;
    snap_entry_t ne = {0};
    ne.key = key;
    ne.flags = flags;
    ne.lm_unix = lm_unix;
    ne.purge_generation = (uint32_t)h->purge_generation;
    if (tag.ptr && tag.len > 0 && tag.len <= NM_SNAPSHOT_TAG_MAX) {
        ne.flags |= NM_SNAPSHOT_E_HAS_TAG;
        ne.tag_len = (uint8_t)tag.len;
        memcpy(ne.tag, tag.ptr, tag.len);
    }
    if (e[i].key == 0) {
        h->used++;
        if (kind & NM_SNAPSHOT_E_DISABLED)
            h->disabled++;
        if (kind & NM_SNAPSHOT_E_FRESH)
            h->fresh++;
    }
    e[i] = ne;
    return NM_OK;
}

/* Linear-probing deletion by backward shift: no tombstones, so probe
 * chains stay short however many purges happen. */
static int w_remove(void *map, size_t len, uint64_t key, uint32_t kind)
{
    snap_header_t *h = w_header(map, len);
    if (!h)
        return NM_E_INVAL;
    int64_t found = w_find(h, key, kind);
    snap_entry_t *e = w_entries(map);
    if (found < 0 || e[found].key == 0)
        return 0;
    uint32_t mask = h->slots - 1, i = (uint32_t)found;
    for (uint32_t j = (i + 1) & mask; e[j].key != 0; j = (j + 1) & mask) {
        uint32_t home = (uint32_t)e[j].key & mask;
        /* e[j] may move back to i unless its home lies in (i, j]. */
        if (((j - home) & mask) >= ((j - i) & mask)) {
            e[i] = e[j];
            i = j;
        }
    }
    memset(&e[i], 0, sizeof(e[i]));
    h->used--;
    if ((kind & NM_SNAPSHOT_E_DISABLED) && h->disabled > 0)
        h->disabled--;
    if ((kind & NM_SNAPSHOT_E_FRESH) && h->fresh > 0)
        h->fresh--;
    return 1;
}

int nm_snapshot_w_put_url(void *map, size_t len, nm_slice_t host,
                          nm_slice_t target, nm_slice_t tag, int64_t lm_unix,
                          bool is_pinned)
{
    uint32_t flags = NM_SNAPSHOT_E_URL | (is_pinned ? NM_SNAPSHOT_E_PINNED : 0);
    return w_put(map, len, nm_snapshot_url_key(host, target), flags, tag,
                 lm_unix);
}

int nm_snapshot_w_remove_url(void *map, size_t len, nm_slice_t host,
                             nm_slice_t target)
{
    int rc = w_remove(map, len, nm_snapshot_url_key(host, target),
                      NM_SNAPSHOT_E_URL);
    if (rc >= 0)
        w_header(map, len)->purge_generation++;
    return rc;
}

int nm_snapshot_w_set_disabled(void *map, size_t len, nm_slice_t host,
                               nm_slice_t prefix, bool is_disabled)
{
    uint64_t key = nm_snapshot_prefix_key(host, prefix);
    if (!is_disabled) {
        int rc = w_remove(map, len, key, NM_SNAPSHOT_E_DISABLED);
        return rc < 0 ? rc : NM_OK;
    }
    nm_slice_t none = {NULL, 0};
    return w_put(map, len, key, NM_SNAPSHOT_E_DISABLED, none, 0);
}

int nm_snapshot_w_set_fresh(void *map, size_t len, nm_slice_t host,
                            nm_slice_t prefix, bool is_set, int64_t fresh_s)
{
    uint64_t key = nm_snapshot_prefix_key(host, prefix);
    if (!is_set) {
        int rc = w_remove(map, len, key, NM_SNAPSHOT_E_FRESH);
        return rc < 0 ? rc : NM_OK;
    }
    if (fresh_s < 0 && fresh_s != NM_FRESH_ORIGIN)
        return NM_E_INVAL;
    nm_slice_t none = {NULL, 0};
    return w_put(map, len, key, NM_SNAPSHOT_E_FRESH, none, fresh_s);
}

void nm_snapshot_w_set_accelerate_origin(void *map, bool is_origin)
{
    snap_header_t *h = map;
    if (is_origin)
        __atomic_or_fetch(&h->flags, NM_SNAPSHOT_F_ACCELERATE_ORIGIN,
                          __ATOMIC_RELAXED);
    else
        __atomic_and_fetch(&h->flags, ~NM_SNAPSHOT_F_ACCELERATE_ORIGIN,
                           __ATOMIC_RELAXED);
}

int64_t nm_snapshot_w_used(const void *map, size_t len)
{
    const snap_header_t *h = header_of(map, len);
    return h ? (int64_t)h->used : NM_E_INVAL;
}

void nm_snapshot_w_retire(void *map)
{
    snap_header_t *h = map;
    __atomic_or_fetch(&h->flags, NM_SNAPSHOT_F_RETIRED, __ATOMIC_RELEASE);
}
