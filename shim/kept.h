/* kept.h - what acceleration remembers (docs/acceleration.md, "Keeping
 * heads"): the heads of 200s that left on routes with freshness, with the
 * facts the decision needs, keyed by URL (and by Accept-Encoding when the
 * 200 varies on it). A bounded, set-associative LRU in memory shared by
 * every process forked from the one that loaded the shim: a server that
 * forks per connection (busybox, mini_httpd) answers each request in a
 * new child, which finds what earlier children kept. The write side offers a
 * head as its response starts and keeps it once the response ended whole
 * (conn.c, exchange.c); the read side looks it up (accel.c). */
#ifndef NM_SHIM_KEPT_H
#define NM_SHIM_KEPT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fresh.h"
#include "http_req.h"
#include "snapshot.h"

/* Heads longer than this are not kept: their URL is never accelerated. */
#define NM_KEPT_HEAD_MAX 2048

/* What the read side learned of a request on a route with freshness,
 * carried with the request until its response ends. */
struct nm_kept_req {
    bool is_fresh;        /* its route had freshness when it was read */
    int64_t request_unix; /* its head complete (RFC 9111 request_time) */
    uint64_t read_us;     /* the same, monotonic: the server's time */
    nm_fresh_req_t rq;
};

/* A 200 about to leave, as the shim sends it. */
struct nm_kept_offer {
    const char *head; /* as the server wrote it, its empty line last */
    size_t head_len;
    const char *lines; /* notmod's validator lines, put before the empty */
    size_t lines_len;  /* line (0: the server's own validators) */
    const char *tag;   /* the ETag that leaves, as sent */
    size_t tag_len;
    int64_t last_modified; /* the Last-Modified that leaves, -1: none */
    bool is_lm_exact;      /* it is notmod's epoch date (nm_cond_input_t) */
    uint64_t body_len;     /* for the events' bytes saved */
};

/* A head offered, kept once its response ended whole. */
struct nm_kept_cand;

/* Room for a kept head's 304: the head's lines and Date, Age. */
#define NM_KEPT_304_MAX (NM_KEPT_HEAD_MAX + 128)

/* A head kept, as a lookup copies it out: its facts and its 304, built
 * once (nm_fresh_build_304 at age 0, nm_fresh_restamp_304 per use). */
struct nm_kept_head {
    nm_fresh_stored_t st;
    char tag[NM_SNAPSHOT_TAG_MAX + 1];
    size_t tag_len;
    int64_t last_modified;
    bool is_lm_exact;
    uint64_t body_len;
    size_t head_len; /* the stored head's, for the bytes saved */
    /* What the snapshot of generation view_gen (0: none yet) said of it:
     * its route's freshness (0: none, or disabled), and whether the URL's
     * current tag is its tag (nm_kept_set_view). */
    uint64_t view_gen;
    int64_t view_fresh_s;
    bool is_view_current;
    size_t tmpl_len;
    char tmpl[NM_KEPT_304_MAX];
};

/* Notes the facts of a request head (len bytes, whole) read on a route
 * with freshness, and when it was read. kr->is_fresh false when the head
 * does not parse. */
void nm_kept_note_request(struct nm_kept_req *kr, const char *head, size_t len);

/* A candidate for the head of a 200 to GET (or to HEAD with the server's
 * validators) answering req (canonical host and target) and kr, or NULL
 * when it cannot be kept (no freshness noted, no ETag, too long, memory
 * short). */
struct nm_kept_cand *nm_kept_offer(const nm_req_t *req,
                                   const struct nm_kept_req *kr,
                                   const struct nm_kept_offer *o,
                                   int64_t now_unix);

/* A 304 of the server's own (h304, len bytes, tag its ETag) validated the
 * head kept for req's URL with that tag: a candidate for that head updated
 * by the 304's fields (RFC 9111 §4.3.4 freshening), or NULL (nothing kept
 * with that tag, no freshness noted, memory short). */
struct nm_kept_cand *nm_kept_offer_304(const nm_req_t *req,
                                       const struct nm_kept_req *kr,
                                       const char *h304, size_t len,
                                       nm_slice_t tag, int64_t now_unix);

/* The response of cand ended whole at now_unix: keep its head, in place
 * of the URL's (and encoding's) older one. Frees cand. */
void nm_kept_commit(struct nm_kept_cand *cand, int64_t now_unix);

/* Drops a candidate not kept (NULL is fine). */
void nm_kept_cand_free(struct nm_kept_cand *cand);

/* The server answered req (its URL key url_key, 0: none) in a way that
 * ends what is kept of its URL (not a 200, an unsafe method, a 200 not
 * kept): every head of it goes. */
void nm_kept_forget(const nm_req_t *req, uint64_t url_key);

/* The head kept for host + target that a request with facts rq would be
 * answered from (its Accept-Encoding's, when the 200 varied on it),
 * copied into *out. False when none. */
bool nm_kept_get(nm_slice_t host, nm_slice_t target, const nm_fresh_req_t *rq,
                 struct nm_kept_head *out);

/* Remembers, with the head nm_kept_get found for the same arguments (if
 * it is still there with tag), what the snapshot of generation gen says of
 * it: one snapshot answers alike every time, so the route and tag checks
 * are made once per snapshot, not per request. */
void nm_kept_set_view(nm_slice_t host, nm_slice_t target,
                      const nm_fresh_req_t *rq, nm_slice_t tag, uint64_t gen,
                      int64_t fresh_s, bool is_current);

/* Maps the shared table; called once from the shim's constructor, before
 * the server forks. Without it nothing is kept. */
void nm_kept_init(void);

#endif
