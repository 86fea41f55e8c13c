/* deliver.c - see deliver.h. */
#include "alloc.h"
#include "deliver.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

/* How long a blocking link is waited for, as the server would have. */
#define BLOCKING_WAIT_MS 30000

bool nm_deliver_owe(struct nm_owed *o, const char *p, size_t n)
{
    if (n == 0)
        return true;
    if (o->off > 0 && o->off == o->len)
        o->off = o->len = 0;
    char *grown = nm_realloc(o->buf, o->len + n);
    if (grown == NULL)
        return false;
    memcpy(grown + o->len, p, n);
    o->buf = grown;
    o->len += n;
    return true;
}

void nm_deliver_drop(struct nm_owed *o)
{
    free(o->buf);
    o->buf = NULL;
    o->len = o->off = 0;
}

/* "Try later" from the transport: may the caller wait for the link? */
static bool would_block(int err)
{
    return err == EAGAIN || err == EWOULDBLOCK;
}

bool nm_deliver_flush(struct nm_owed *o, const nm_link_t *l, bool may_block)
{
    if (nm_deliver_is_done(o))
        return true;
    while (o->off < o->len) {
        struct iovec v = {o->buf + o->off, o->len - o->off};
        ssize_t r = l->tp->send_own(l->h, &v, 1);
        if (r > 0) {
            o->off += (size_t)r;
        } else if (r < 0 && errno == EINTR) {
            continue;
        } else if (r < 0 && would_block(errno)) {
            if (!may_block || l->tp->is_nonblocking(l->h) ||
                !l->tp->wait_writable(l->h, BLOCKING_WAIT_MS))
                return false;
        } else {
            nm_deliver_drop(o); /* the peer is gone: nothing to deliver to */
            return true;
        }
    }
    nm_deliver_drop(o);
    return true;
}

void nm_deliver_flush_bounded(struct nm_owed *o, const nm_link_t *l)
{
    for (int i = 0; i < 20 && !nm_deliver_flush(o, l, false); i++)
        l->tp->wait_writable(l->h, 100);
}

void nm_deliver_send(struct nm_owed *o, const nm_link_t *l,
                     const struct iovec *iov, int cnt)
{
    int i = 0;
    size_t off = 0;
    if (nm_deliver_is_done(o)) {
        while (i < cnt) {
            struct iovec v[8];
            int n = 0;
            for (int j = i; j < cnt && n < 8; j++) {
                v[n].iov_base = (char *)iov[j].iov_base + (j == i ? off : 0);
                v[n].iov_len = iov[j].iov_len - (j == i ? off : 0);
                n++;
            }
            ssize_t r = l->tp->send_own(l->h, v, n);
            if (r < 0 && errno == EINTR)
                continue;
            if (r < 0 && would_block(errno)) {
                if (!l->tp->is_nonblocking(l->h) &&
                    l->tp->wait_writable(l->h, BLOCKING_WAIT_MS))
                    continue;
                break;
            }
            if (r < 0)
                return; /* the peer is gone */
            size_t left = (size_t)r;
            while (i < cnt && left >= iov[i].iov_len - off) {
                left -= iov[i].iov_len - off;
                i++;
                off = 0;
            }
            off += left;
        }
    }
    for (; i < cnt; i++, off = 0)
        if (!nm_deliver_owe(o, (const char *)iov[i].iov_base + off,
                            iov[i].iov_len - off))
            return; /* out of memory: the client sees a cut response */
}

void nm_deliver_send_file(struct nm_owed *o, const nm_link_t *l, int memfd,
                          uint64_t len)
{
    off_t off = 0;
    /* From the file while the link takes it... */
    while (l->tp->send_own_file != NULL && nm_deliver_is_done(o) &&
           (uint64_t)off < len) {
        ssize_t r = l->tp->send_own_file(l->h, memfd, &off,
                                         (size_t)(len - (uint64_t)off));
        if (r > 0 || (r < 0 && errno == EINTR))
            continue;
        if (r < 0 && would_block(errno)) {
            if (!l->tp->is_nonblocking(l->h) &&
                l->tp->wait_writable(l->h, BLOCKING_WAIT_MS))
                continue;
            break;
        }
        return; /* the peer is gone */
    }
    /* ...the rest through memory: owed behind what is owed, or sent as
     * the shim's own bytes by a link that cannot send from a file. */
    char buf[16384];
    while ((uint64_t)off < len) {
        size_t want = len - (uint64_t)off < sizeof(buf)
                          ? (size_t)(len - (uint64_t)off)
                          : sizeof(buf);
        ssize_t r = pread(memfd, buf, want, off);
        if (r <= 0)
            return;
        if (l->tp->send_own_file != NULL) {
            if (!nm_deliver_owe(o, buf, (size_t)r))
                return;
        } else {
            struct iovec v = {buf, (size_t)r};
            nm_deliver_send(o, l, &v, 1);
        }
        off += r;
    }
}
