/* conn.h - one followed HTTP/1.x connection: the state the shim keeps for
 * it (the queue of requests read and not yet answered, the response
 * parser, what it holds and what it owes), its lock, and the two ways out
 * of trouble: nm_conn_give_up() is the one fail-open exit (from then on
 * bytes pass through unchanged, with a logged reason), and a held
 * response goes out unchanged when it cannot be finished. The bottom of
 * the connection layer: exchange.c, answer.c, phase.c, track.c and
 * process.c build on it; below it are only leaves (deliver, hold, the
 * flusher, the decision's types) and the base. */
#ifndef NM_SHIM_CONN_H
#define NM_SHIM_CONN_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "cursor.h"
#include "decide.h"
#include "deliver.h"
#include "kept.h"
#include "lock.h"
#include "transport.h"

#include "http_req.h"
#include "http_resp.h"
#include "snapshot.h"

/* What the shim is doing with the response going out (phase.c). Not to be
 * confused with the response parser's own states (common/http_resp.c). */
enum nm_phase {
    NM_PHASE_IDLE,    /* between responses: the next byte starts one */
    NM_PHASE_HEAD,    /* holding a head until it is complete and decided */
    NM_PHASE_PASS,    /* passing this response through */
    NM_PHASE_SWALLOW, /* a 304 replaced this response: discard its bytes */
    NM_PHASE_HOLD,    /* holding a 200 without ETag until its body is hashed */
    NM_PHASE_SINK,    /* unframeable bytes after a 304: drop all, output shut */
};

/* Which side of a fork claims an exchange split by it (process.c). */
enum nm_take { NM_TAKE_OPEN = 0, NM_TAKE_CHILD = 1, NM_TAKE_PARENT = 2 };

/* A request read and not yet answered. */
struct nm_pending {
    struct nm_pending *next;
    nm_req_t req;
    /* nm_snapshot_url_key of its canonical Host and target, made once for
     * the store, the tag tables and what acceleration keeps; 0 when
     * either was cut short (such a URL has no key) */
    uint64_t url_key;
    struct nm_kept_req kept; /* on a route with freshness: its facts */
};

_Static_assert(NM_SNAPSHOT_TAG_MAX <= UINT8_MAX,
               "nm_conn.vtag_len holds a validator's length");

struct nm_conn {
    nm_lock_t lock;
    struct nm_conn *free_next;
    /* Read without the lock by nm_track_before_read: may something be
     * held, owed or claimable (set whenever the lock is let go)? False:
     * the read costs no lock. A stale false only delays to the flusher's
     * deadline. */
    _Atomic bool may_owe;
    int refs;         /* fds naming this connection (track.c) */
    nm_link_t link;   /* its transport, named as the server used it last */
    bool is_given_up; /* pass everything through for life */
    bool is_in_flusher;
    bool has_exchanged; /* answered a request: report at close */
    uint8_t phase;      /* enum nm_phase */
    /* read side (exchange.c) */
    nm_req_parser_t reqp;
    struct nm_pending *req_cur; /* head being parsed */
    struct nm_pending *q_head, *q_tail;
    int q_len;
    /* write side (phase.c) */
    nm_resp_parser_t respp;
    nm_resp_t *resp;
    char *head; /* held head bytes that arrived in earlier calls */
    size_t head_len, head_cap;
    uint64_t head_started_ms; /* when a partial head began to be held */
    /* A fork split this exchange with a partial head held: whichever side
     * touches it first claims it (CAS in memory both sides share). */
    _Atomic int *takeover;
    int takeover_role; /* NM_TAKE_PARENT or NM_TAKE_CHILD */
    /* The split exchange had nothing of its response written yet: it is
     * claimed by the first side to write (not to touch) it. */
    bool is_claimed_by_write;
    struct nm_hold *hold; /* with NM_PHASE_HOLD: the body so far */
    /* what became of the current response, reported when it ends */
    nm_decide_note_t note; /* outcome, and reason when not handled */
    bool is_synth;         /* the validator is ours */
    uint64_t saved_bytes;
    uint64_t body_bytes; /* de-chunked body bytes of a held response */
    char vtag[NM_SNAPSHOT_TAG_MAX + 1]; /* validator that left, if ours */
    uint8_t vtag_len;                   /* its length (no strlen per report) */
    struct nm_owed owed;                /* bytes the shim owes the client */
    /* The current response's head, kept for acceleration if it ends
     * whole (kept.h). */
    struct nm_kept_cand *kept_cand;
};

/* ---- life: connections are type-stable (recycled, never freed), so a
 * racing lookup that lost its fd can still lock and re-check safely ---- */

/* A fresh connection carried by tp, named h, unlocked; NULL when memory is
 * short. Not thread-safe: the caller serializes nm_conn_new and
 * nm_conn_recycle (track.c's table lock). */
struct nm_conn *nm_conn_new(const struct nm_transport *tp, nm_handle_t h);

/* Puts c, released and unlocked, on the free list (same lock). */
void nm_conn_recycle(struct nm_conn *c);

/* Unlocks c, leaving the may_owe hint. */
void nm_conn_unlock(struct nm_conn *c);

/* The fd under c, for logs. */
static inline int nm_conn_fd(const struct nm_conn *c)
{
    return c->link.tp->fd_of(c->link.h);
}

/* ---- the ways out ---- */

/* The one way out of trouble: stop touching this connection, for life.
 * What is still held goes out first, unchanged; why is logged. */
void nm_conn_give_up(struct nm_conn *c, const char *why);

/* Drops everything but the owed bytes, which must still be delivered. */
void nm_conn_release_state(struct nm_conn *c);

/* Is the shim sitting on bytes of this connection's current response? */
static inline bool nm_conn_is_holding(const struct nm_conn *c)
{
    return !c->is_given_up && (c->phase == NM_PHASE_HOLD ||
                               (c->phase == NM_PHASE_HEAD && c->head_len > 0));
}

/* Is anything of this connection's exchange in flight right now? */
static inline bool nm_conn_is_busy(const struct nm_conn *c)
{
    return c->phase != NM_PHASE_IDLE || c->q_len > 0 || c->req_cur != NULL;
}

/* Sends what is held exactly as the server wrote it (head, then body). */
void nm_conn_release_unchanged(struct nm_conn *c);

/* Never stall a client: what is held goes out unchanged (and the response
 * passes) once held longer than NOTMOD_HOLD_MS, or at once with now 0. */
void nm_conn_release_overdue(struct nm_conn *c, uint64_t now_ms);

/* ---- what the shim sends itself (deliver.h, over c's transport) ---- */

/* Puts c under the flusher's watch (not a link only the server's thread
 * may use: its own calls keep the deadline); false when that is
 * impossible (then nothing may be held). */
bool nm_conn_watch(struct nm_conn *c);

/* Appends bytes to the owed queue; false when memory is short. */
bool nm_conn_owe(struct nm_conn *c, const char *p, size_t n);

/* Delivers the shim's bytes (iov) before anything later: sent now without
 * blocking where possible, else waited for on a blocking link, else owed
 * (and watched). */
void nm_conn_send_own(struct nm_conn *c, const struct iovec *iov, int cnt);

/* Sends v[0..cnt) (room for one more entry) and then what is held of the
 * body behind it, in one call where possible: memory, then the memfd. */
void nm_conn_send_with_held_body(struct nm_conn *c, struct iovec *v, int cnt);

/* Sends the owed bytes. may_block: wait on a blocking link, as the
 * server's own call would have. True when nothing is owed. Inline: asked
 * before every server call, and almost always nothing is owed. */
static inline bool nm_conn_flush_owed(struct nm_conn *c, bool may_block)
{
    return nm_deliver_is_done(&c->owed) ||
           nm_deliver_flush(&c->owed, &c->link, may_block);
}

/* The current response's head (head_len bytes, as the server wrote it)
 * leaves with notmod's validator lines (lines_len bytes, 0 for none) or
 * as it is; tag and last_modified (-1: none) are the validators that
 * leave, is_lm_exact when that date is notmod's. On a route with
 * freshness the head becomes a candidate for acceleration (kept.h). */
void nm_conn_offer_head(struct nm_conn *c, const char *head, size_t head_len,
                        const char *lines, size_t lines_len, nm_slice_t tag,
                        int64_t last_modified, bool is_lm_exact);

/* The current response is the server's own 304 (head, head_len bytes; tag
 * its ETag): on a route with freshness it renews the head kept with that
 * tag (kept.h). */
void nm_conn_offer_304(struct nm_conn *c, const char *head, size_t head_len,
                       nm_slice_t tag);

/* Appends n head bytes from k to the held head; false when memory is
 * short. */
bool nm_conn_keep_head(struct nm_conn *c, struct nm_cursor k, size_t n);

/* ---- memory of the exchange, recycled through small pools ---- */

/* A request capture for the parser; NULL when memory is short. */
struct nm_pending *nm_conn_new_request(void);
void nm_conn_free_request(struct nm_pending *p);

/* Makes sure c has a response capture; false when memory is short. */
bool nm_conn_has_resp(struct nm_conn *c);

/* The connection is idle: its response capture and head buffer go back
 * (an idle keep-alive connection costs what its struct costs). */
void nm_conn_idle(struct nm_conn *c);

/* ---- an exchange split by fork (process.c makes the claim cells) ---- */

/* Settles a fork-split exchange: the first side to touch it claims it; the
 * other drops its copy of the held head, unsent, and gives up. */
void nm_conn_resolve_takeover(struct nm_conn *c);

/* On every touch of c: settle a claim that is open to a touch. */
static inline void nm_conn_touch(struct nm_conn *c)
{
    if (c->takeover != NULL)
        nm_conn_resolve_takeover(c);
}

/* Before a write: an exchange split with nothing of its response written
 * is this side's when it writes first. */
static inline void nm_conn_claim_for_write(struct nm_conn *c)
{
    if (c->takeover != NULL && c->is_claimed_by_write) {
        c->is_claimed_by_write = false;
        nm_conn_resolve_takeover(c);
    }
}

/* The connection goes without having written: leave the claim to the
 * other side, unclaimed. */
void nm_conn_drop_claim(struct nm_conn *c);

#endif
