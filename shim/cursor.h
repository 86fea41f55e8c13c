/* cursor.h - a read position in the iovec array of one server call, and
 * the few moves the phase machine makes with it. Header only: the write
 * path walks it for every byte range it parses, sends or holds. */
#ifndef NM_SHIM_CURSOR_H
#define NM_SHIM_CURSOR_H

#include <stddef.h>
#include <sys/uio.h>

struct nm_cursor {
    const struct iovec *iov;
    int cnt;
    int i;      /* current iovec */
    size_t off; /* offset in it */
};

/* The contiguous bytes at k (*p), skipping empty iovecs; 0 at the end. */
static inline size_t nm_cursor_piece(struct nm_cursor *k, const char **p)
{
    while (k->i < k->cnt && k->off >= k->iov[k->i].iov_len) {
        k->i++;
        k->off = 0;
    }
    if (k->i >= k->cnt)
        return 0;
    *p = (const char *)k->iov[k->i].iov_base + k->off;
    return k->iov[k->i].iov_len - k->off;
}

/* Moves k forward by n bytes. */
static inline void nm_cursor_advance(struct nm_cursor *k, size_t n)
{
    const char *p;
    size_t len;
    while (n > 0 && (len = nm_cursor_piece(k, &p)) > 0) {
        size_t take = len < n ? len : n;
        k->off += take;
        n -= take;
    }
}

/* Collects up to n bytes from k into out (at most cap entries); returns the
 * entry count and sets *got to the bytes covered. */
static inline int nm_cursor_slice(struct nm_cursor k, size_t n,
                                  struct iovec *out, int cap, size_t *got)
{
    int cnt = 0;
    *got = 0;
    const char *p;
    size_t len;
    while (n > 0 && cnt < cap && (len = nm_cursor_piece(&k, &p)) > 0) {
        size_t take = len < n ? len : n;
        out[cnt].iov_base = (void *)p;
        out[cnt].iov_len = take;
        cnt++;
        k.off += take;
        n -= take;
        *got += take;
    }
    return cnt;
}

#endif
