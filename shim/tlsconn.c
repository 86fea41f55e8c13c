/* tlsconn.c - see tlsconn.h.
 *
 * The server's write contract is OpenSSL's (docs/tls.md, rules 1-3): a
 * write succeeds with its whole length (or a short count, with
 * SSL_MODE_ENABLE_PARTIAL_WRITE), or fails right after a real call that
 * failed, and is then called again with the same arguments. So when the
 * connection logic has taken k of n bytes and the rest cannot go now, the
 * server is failed with WANT_WRITE and k is remembered: the retry feeds
 * only the bytes after k. The server is never told "done" while the shim
 * still has bytes of its own to send (rule 5): no other thread will send
 * them. */
#include "tlsconn.h"

#include "clock.h"
#include "conn.h"
#include "exchange.h"
#include "log.h"
#include "phase.h"
#include "report.h"
#include "ssl_real.h"
#include "storeview.h"
#include "track.h"
#include "transport_tls.h"

#include <errno.h>
#include <pthread.h>

/* Rounds a server write may take when real calls keep taking bytes (short
 * writes) without one saying "try later". */
#define WRITE_ROUNDS_MAX 8

bool nm_tlsconn_follow(struct nm_tls *t)
{
    nm_track_lock_table(); /* serializes nm_conn_new and nm_conn_recycle */
    t->conn = nm_conn_new(&nm_transport_tls, nm_transport_tls_handle(t));
    nm_track_unlock_table();
    return t->conn != NULL;
}

/* Has the shim bytes of its own still to send on t? */
static bool has_unsent(struct nm_conn *c, const struct nm_tls *t)
{
    return !nm_deliver_is_done(&c->owed) || nm_transport_tls_is_pending(t);
}

/* t's connection locked, with holds past NOTMOD_HOLD_MS released (rule
 * 6: no flusher keeps that deadline over TLS); NULL when there is none to
 * follow and nothing of the shim's to send. */
static struct nm_conn *acquire(struct nm_tls *t)
{
    struct nm_conn *c = t->conn;
    if (c == NULL)
        return NULL;
    nm_lock(&c->lock);
    nm_conn_touch(c);
    if (c->is_given_up && !has_unsent(c, t)) {
        nm_conn_unlock(c);
        return NULL;
    }
    if (nm_conn_is_holding(c))
        nm_conn_release_overdue(c, nm_now_ms());
    return c;
}

/* Sends what the shim owes on t: the write to repeat, then the owed
 * queue. True when nothing remains. */
static bool flush(struct nm_conn *c, struct nm_tls *t)
{
    return nm_transport_tls_finish(t) && nm_conn_flush_owed(c, true) &&
           nm_transport_tls_finish(t);
}

void nm_tlsconn_before_read(struct nm_tls *t)
{
    struct nm_conn *c = acquire(t);
    if (c == NULL)
        return;
    if (nm_conn_is_holding(c) && c->link.tp->read_could_block(c->link.h, 0))
        nm_conn_release_overdue(c, 0);
    flush(c, t);
    nm_conn_unlock(c);
}

void nm_tlsconn_on_read(struct nm_tls *t, const void *buf, size_t n)
{
    struct nm_conn *c = acquire(t);
    if (c == NULL)
        return;
    struct iovec v = {.iov_base = (void *)buf, .iov_len = n};
    nm_storeview_tick(); /* the copy this request is judged by */
    nm_exchange_on_read(c, &v, 1, n);
    nm_conn_unlock(c);
}

/* Where the server's retry of a failed write starts: after the bytes the
 * failed call took. OpenSSL lets the retry grow (nginx adds what came
 * meanwhile behind the same buffer), never shrink or move without the
 * moving mode: a call that is not such a retry breaks the contract the
 * shim relied on, and the connection is given up (its bytes pass). */
static size_t resume_at(struct nm_conn *c, struct nm_tls *t, const void *buf,
                        size_t n)
{
    struct nm_tls_memo *m = &t->memo;
    if (!m->is_set)
        return 0;
    m->is_set = false;
    if (n >= m->len && (m->buf == buf || nm_transport_tls_is_moving(t)))
        return m->done;
    nm_conn_give_up(c, "a failed TLS write was not retried as OpenSSL asks");
    return 0;
}

/* One server write through the connection logic (c locked): the count the
 * server gets, or -1 after a real call that failed. */
static ssize_t write_locked(struct nm_conn *c, struct nm_tls *t,
                            const char *buf, size_t n)
{
    size_t done = resume_at(c, t, buf, n);
    for (int round = 0;; round++) {
        if (done < n) {
            struct iovec v = {.iov_base = (void *)(buf + done),
                              .iov_len = n - done};
            t->last_want = 0;
            ssize_t r = nm_phase_write(c, nm_transport_tls_handle(t),
                                       NM_OP_WRITE, &v, 1, 0);
            if (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
                return -1; /* the server's own real call failed */
            if (r > 0)
                done += (size_t)r;
        }
        bool is_clear = flush(c, t);
        if (done == n && is_clear)
            return (ssize_t)n;
        /* A short count is what OpenSSL itself returns in partial mode;
         * the server calls again for the rest, and what is unsent goes
         * first then. */
        if (done > 0 && done < n && nm_transport_tls_is_partial(t))
            return (ssize_t)done;
        if (t->last_want != 0 || round == WRITE_ROUNDS_MAX) {
            if (t->last_want == 0)
                nm_log(NM_LOG_WARN,
                       "TLS connection %p: a write made no "
                       "progress",
                       t->ssl);
            nm_log(NM_LOG_DEBUG,
                   "TLS connection %p: a write fails with WANT_%s after "
                   "%zu of %zu bytes",
                   t->ssl,
                   t->last_want == NM_SSL_ERROR_WANT_READ ? "READ" : "WRITE",
                   done, n);
            t->memo = (struct nm_tls_memo){buf, n, done, true};
            return -1;
        }
    }
}

bool nm_tlsconn_write(struct nm_tls *t, const void *buf, size_t n, ssize_t *out)
{
    struct nm_conn *c = acquire(t);
    if (c == NULL)
        return false;
    *out = write_locked(c, t, buf, n);
    nm_conn_unlock(c);
    return true;
}

bool nm_tlsconn_stand_aside(struct nm_tls *t, const char *why)
{
    struct nm_conn *c = acquire(t);
    if (c == NULL)
        return true;
    nm_conn_give_up(c, why);
    bool is_clear = flush(c, t);
    nm_conn_unlock(c);
    return is_clear;
}

bool nm_tlsconn_drain(struct nm_tls *t)
{
    struct nm_conn *c = acquire(t);
    if (c == NULL)
        return true;
    /* A write still to repeat goes first; the server calls again. */
    bool is_clear = nm_transport_tls_finish(t);
    if (is_clear) {
        nm_phase_drain(c, nm_transport_tls_handle(t), true);
        is_clear = flush(c, t);
    }
    nm_conn_unlock(c);
    nm_report_flush(); /* a shutdown usually precedes the process's end */
    return is_clear;
}

void nm_tlsconn_forget(struct nm_tls *t, bool is_closing)
{
    struct nm_conn *c = t->conn;
    if (c == NULL)
        return;
    t->conn = NULL;
    nm_lock(&c->lock);
    nm_conn_touch(c);
    if (is_closing) {
        nm_phase_drain(c, nm_transport_tls_handle(t), true);
        for (int i = 0; i < 20 && !flush(c, t); i++)
            c->link.tp->wait_writable(c->link.h, 100);
    }
    bool had_exchange = c->has_exchanged;
    nm_conn_drop_claim(c);
    nm_conn_release_state(c);
    nm_deliver_drop(&c->owed);
    c->is_given_up = true;
    nm_conn_unlock(c);
    nm_track_lock_table();
    nm_conn_recycle(c);
    nm_track_unlock_table();
    nm_transport_tls_drop(t);
    t->memo.is_set = false;
    if (had_exchange)
        nm_report_flush();
}
