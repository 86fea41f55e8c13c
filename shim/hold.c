/* hold.c - see hold.h. */
#include "alloc.h"
#include "hold.h"

#include "config.h"
#include "log.h"
#include "symbols.h"

#include <fcntl.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static _Atomic uint64_t held_total;
/* The last hold freed, kept for the next response: most responses on a
 * busy server are held one at a time, and a hold (the XXH3 state) is the
 * largest allocation of the hot path. One slot, taken by exchange. */
static _Atomic(struct nm_hold *) spare;

uint64_t nm_hold_total(void)
{
    return atomic_load(&held_total);
}

bool nm_hold_fits(uint64_t len)
{
    return len <= nm_cfg.hold_max_bytes;
}

bool nm_hold_is_due(uint64_t since_ms, uint64_t now_ms)
{
    return now_ms - since_ms >= nm_cfg.hold_ms;
}

enum nm_hold_admit nm_hold_admits(const nm_resp_t *resp)
{
    if ((resp->flags & NM_RESP_HAS_CL) && !nm_hold_fits(resp->content_length))
        return NM_HOLD_TOO_LARGE;
    if (nm_hold_total() >= nm_cfg.hold_total_bytes)
        return NM_HOLD_NO_ROOM;
    return NM_HOLD_ADMITTED;
}

static struct nm_hold *spare_or_alloc(void)
{
    struct nm_hold *h = atomic_exchange(&spare, NULL);
    if (h != NULL)
        return h;
    return aligned_alloc(64, (sizeof(struct nm_hold) + 63) & ~(size_t)63);
}

struct nm_hold *nm_hold_new(uint64_t seed, uint64_t now_ms)
{
    /* One allocation point, reused or not, for fault injection. */
    struct nm_hold *h = NM_FAIL_OR(spare_or_alloc());
    if (h == NULL)
        return NULL;
    /* The hash state is set up by the first body byte (sendfile bodies are
     * hashed elsewhere): only the small fields are reset here. */
    h->seed = seed;
    h->is_hashing = false;
    h->mem = NULL;
    h->mem_len = h->mem_cap = 0;
    h->memfd = -1;
    h->file_len = 0;
    h->started_ms = now_ms;
    h->has_store_hit = false;
    return h;
}

static void start_hash(struct nm_hold *h)
{
    if (!h->is_hashing) {
        nm_bodyhash_init(&h->hash, h->seed);
        h->is_hashing = true;
    }
}

void nm_hold_hash(struct nm_hold *h, const void *p, size_t n)
{
    start_hash(h);
    nm_bodyhash_update(&h->hash, p, n);
}

void nm_hold_tag(struct nm_hold *h, char *out)
{
    start_hash(h); /* an empty body has a tag too */
    nm_bodyhash_final(&h->hash, out);
}

uint64_t nm_hold_len(const struct nm_hold *h)
{
    return h->mem_len + h->file_len;
}

/* Moves to a memfd: close-on-exec and high, away from the server's fds.
 * NOTMOD_TEST_NO_MEMFD=1 simulates memfd_create failing. */
static bool spill(struct nm_hold *h)
{
    static int is_memfd_off = -1;
    if (is_memfd_off < 0) {
        const char *s = getenv("NOTMOD_TEST_NO_MEMFD");
        is_memfd_off = s != NULL && strcmp(s, "1") == 0;
    }
    if (is_memfd_off)
        return false;
    int fd = memfd_create("notmod-hold", MFD_CLOEXEC);
    if (fd < 0) {
        nm_log(NM_LOG_WARN, "memfd_create failed: passing through");
        return false;
    }
    int hi = nm_real_fcntl(fd, F_DUPFD_CLOEXEC, (void *)512);
    if (hi >= 0) {
        nm_real_close(fd);
        fd = hi;
    }
    h->memfd = fd;
    return true;
}

/* Room for at least want held bytes in memory, behind the front room. */
static bool grow(struct nm_hold *h, size_t want)
{
    size_t cap = h->mem_cap ? h->mem_cap : 4096;
    while (cap < want)
        cap *= 2;
    char *block = h->mem != NULL ? h->mem - NM_HOLD_FRONT_BYTES : NULL;
    char *grown = nm_realloc(block, NM_HOLD_FRONT_BYTES + cap);
    if (grown == NULL)
        return false;
    h->mem = grown + NM_HOLD_FRONT_BYTES;
    h->mem_cap = cap;
    return true;
}

bool nm_hold_join_front(struct nm_hold *h, const struct iovec *v, int cnt,
                        struct iovec *out)
{
    size_t front = 0;
    for (int i = 0; i < cnt; i++)
        front += v[i].iov_len;
    if (h->mem_len == 0 || front > NM_HOLD_FRONT_BYTES)
        return false;
    char *at = h->mem - front;
    for (int i = 0; i < cnt; i++) {
        memcpy(at, v[i].iov_base, v[i].iov_len);
        at += v[i].iov_len;
    }
    out->iov_base = h->mem - front;
    out->iov_len = front + h->mem_len;
    return true;
}

bool nm_hold_append(struct nm_hold *h, const char *p, size_t n)
{
    if (n == 0)
        return true;
    uint64_t len = nm_hold_len(h);
    if (len + n > nm_cfg.hold_max_bytes ||
        atomic_load(&held_total) + n > nm_cfg.hold_total_bytes)
        return false;
    if (h->memfd < 0 && h->mem_len + n <= NM_HOLD_MEM_BYTES) {
        if (h->mem_len + n > h->mem_cap && !grow(h, h->mem_len + n))
            return false;
        memcpy(h->mem + h->mem_len, p, n);
        h->mem_len += n;
    } else {
        if (h->memfd < 0 && !spill(h))
            return false;
        while (n > 0) {
            ssize_t r = pwrite(h->memfd, p, n, (off_t)h->file_len);
            if (r <= 0)
                return false;
            h->file_len += (uint64_t)r;
            atomic_fetch_add(&held_total, (uint64_t)r);
            p += r;
            n -= (size_t)r;
        }
        return true;
    }
    atomic_fetch_add(&held_total, n);
    return true;
}

void nm_hold_free(struct nm_hold *h)
{
    if (h == NULL)
        return;
    atomic_fetch_sub(&held_total, nm_hold_len(h));
    if (h->memfd >= 0)
        nm_real_close(h->memfd);
    if (h->mem != NULL)
        free(h->mem - NM_HOLD_FRONT_BYTES);
    struct nm_hold *none = NULL;
    if (!atomic_compare_exchange_strong(&spare, &none, h))
        free(h);
}
