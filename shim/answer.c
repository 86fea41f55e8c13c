/* answer.c - see answer.h. */
#include "alloc.h"
#include "answer.h"

#include "headcache.h"
#include "hold.h"
#include "log.h"
#include "tagwatch.h"

#include "event.h"
#include "http_hdr.h"
#include "httpdate.h"
#include "resp304.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <xxhash.h>

/* A 304 is the 200's head minus a few fields, plus Date and extras. */
#define RESP304_EXTRA 128

bool nm_answer_304(struct nm_conn *c, const char *head, size_t head_len,
                   const nm_synth_t *sy, int64_t now)
{
    char stack_buf[8192];
    size_t cap = head_len + RESP304_EXTRA;
    char *out = cap <= sizeof(stack_buf) ? stack_buf : nm_malloc(cap);
    if (out == NULL)
        return false;
    char extra[224] = "";
    size_t extra_len =
        sy ? nm_decide_synth_lines(sy, false, extra, sizeof(extra)) : 0;
    /* A close-delimited HTTP/1.1 200 says "close" by closing; its 304 has
     * no body to end that way, so it says it in words (RFC 9112 §9.6),
     * or the client would wait to reuse a connection about to close. */
    nm_slice_t conn_field;
    const nm_resp_t *resp = c->resp;
    if ((resp->flags & NM_RESP_CLOSE_DELIMITED) && resp->version_minor == 1 &&
        !(nm_hdr_find(head, head_len, "connection", &conn_field) == 1 &&
          nm_hdr_list_has(conn_field.ptr, conn_field.len, "close"))) {
        static const char close_line[] = "Connection: close\r\n";
        memcpy(extra + extra_len, close_line, sizeof(close_line) - 1);
        extra_len += sizeof(close_line) - 1;
    }
    /* The parser kept where each field line starts: no second scan of
     * the head (unless it had too many lines to keep). */
    long n =
        resp->line_count <= NM_RESP_LINES_MAX && resp->head_len == head_len
            ? nm_resp304_build_lines(head, head_len, resp->line_start,
                                     resp->line_count, extra, extra_len, now,
                                     out, cap)
            : nm_resp304_build(head, head_len, extra, extra_len, now, out, cap);
    if (n > 0) {
        struct iovec v = {.iov_base = out, .iov_len = (size_t)n};
        nm_conn_send_own(c, &v, 1);
        nm_log(NM_LOG_DEBUG, "fd %d: 304 substituted (%ld bytes)",
               nm_conn_fd(c), n);
        c->note.outcome = NM_OUTCOME_SUBSTITUTED_304;
        /* "Bytes saved": the body not sent, plus the head difference. A
         * held body was counted as it came. */
        uint64_t body = (resp->flags & NM_RESP_HAS_CL) ? resp->content_length
                                                       : c->body_bytes;
        c->saved_bytes =
            body + (head_len > (size_t)n ? head_len - (size_t)n : 0);
    }
    if (out != stack_buf)
        free(out);
    return n > 0;
}

bool nm_answer_known_tag(const struct nm_conn *c, const nm_snapshot_hit_t *hit,
                         char *out)
{
    const char *pin = nm_decide_pinned_tag(hit);
    if (pin != NULL) {
        size_t n = strnlen(pin, NM_SNAPSHOT_TAG_MAX);
        memcpy(out, pin, n);
        out[n] = '\0';
        return true;
    }
    const struct nm_pending *p = c->q_head;
    return p->req.method == NM_METHOD_HEAD &&
           nm_headcache_get(p->url_key, c->resp, out);
}

/* sy for tag served to the URL of url_key: the store's date becomes its
 * Last-Modified only if no other tag went out for the URL from this
 * server since (nm_decide_synth_date). A URL cut short (key 0) has no
 * history to trust. */
static void synth_for(nm_synth_t *sy, uint64_t url_key, const nm_resp_t *resp,
                      const char *tag, const nm_snapshot_hit_t *hit,
                      int64_t now)
{
    if (!nm_decide_synth_start(sy, resp, tag, now))
        return;
    int64_t other_since =
        url_key == 0 ? INT64_MAX
                     : nm_tagwatch_served(
                           url_key, XXH3_64bits(sy->tag, sy->tag_len), now);
    nm_decide_synth_date(sy, hit, other_since);
}

/* Sends head with lines (n bytes, CRLF-terminated) added before its empty
 * line (the server's own bytes and order kept), then what was held of its
 * body: memory first, then the memfd. */
static void send_with_lines(struct nm_conn *c, const char *head,
                            size_t head_len, char *lines, size_t n)
{
    /* The empty line ending the head is CRLF, or LF from a CGI. */
    size_t cut = head_len >= 2 && head[head_len - 2] == '\r' ? 2 : 1;
    memcpy(lines + n, cut == 2 ? "\r\n" : "\n", cut);
    n += cut;
    struct iovec v[3] = {{(void *)head, head_len - cut}, {lines, n}};
    nm_conn_send_with_held_body(c, v, 2);
}

/* The 200's head with our validator lines, then its held body. */
static void release_with_tag(struct nm_conn *c, const char *head,
                             size_t head_len, const nm_synth_t *sy)
{
    char line[256];
    size_t n = nm_decide_synth_lines(sy, true, line, sizeof(line) - 2);
    send_with_lines(c, head, head_len, line, n);
    c->note.outcome = NM_OUTCOME_TAG_ADDED;
}

bool nm_answer_server_304(struct nm_conn *c, const char *head, size_t head_len,
                          int64_t now)
{
    const nm_req_t *req = &c->q_head->req;
    char tag[NM_SNAPSHOT_TAG_MAX + 1];
    int64_t file_lm;
    nm_slice_t vary;
    /* A 304 with Vary answers for one of several bodies: which one, the
     * file's tag cannot say. */
    if (!nm_decide_server_304_needs_tag(req, c->resp) ||
        nm_hdr_find(head, head_len, "vary", &vary) != 0 ||
        !nm_headcache_get_for_304(c->q_head->url_key, tag, &file_lm) ||
        !nm_decide_tag_server_304(req, c->resp, tag, file_lm, now))
        return false;
    char line[NM_SNAPSHOT_TAG_MAX + 16];
    int n = snprintf(line, sizeof(line) - 2, "ETag: %s\r\n", tag);
    if (n <= 0 || (size_t)n >= sizeof(line) - 2)
        return false;
    send_with_lines(c, head, head_len, line, (size_t)n);
    nm_log(NM_LOG_DEBUG, "fd %d: the server's 304 carries its file's tag",
           nm_conn_fd(c));
    return true;
}

/* The 200 as it leaves with sy (or would have, before its 304): a head
 * acceleration may keep (a no-op off routes with freshness). */
static void offer_ours(struct nm_conn *c, const char *head, size_t head_len,
                       const nm_synth_t *sy, int64_t now)
{
    if (!c->q_head->kept.is_fresh)
        return;
    char line[256];
    size_t n = nm_decide_synth_lines(sy, true, line, sizeof(line));
    int64_t lm = sy->last_modified;
    if (lm < 0 && (c->resp->flags & NM_RESP_HAS_LAST_MODIFIED) &&
        nm_httpdate_parse(c->resp->last_modified, c->resp->last_modified_len,
                          now, &lm) != 0)
        lm = -1;
    if (n > 0)
        nm_conn_offer_head(c, head, head_len, line, n,
                           (nm_slice_t){sy->tag, sy->tag_len}, lm,
                           sy->last_modified >= 0);
}

bool nm_answer_with_tag(struct nm_conn *c, const char *head, size_t head_len,
                        const char *tag, const nm_snapshot_hit_t *hit,
                        int64_t now)
{
    const nm_req_t *req = &c->q_head->req;
    nm_synth_t sy;
    synth_for(&sy, c->q_head->url_key, c->resp, tag, hit, now);
    offer_ours(c, head, head_len, &sy, now);
    c->is_synth = true;
    memcpy(c->vtag, sy.tag, sy.tag_len + 1);
    c->vtag_len = (uint8_t)sy.tag_len; /* at most NM_SNAPSHOT_TAG_MAX */
    nm_decide_in_t in = {.req = req, .resp = c->resp, .now = now};
    bool is_304 = nm_decide_tagged(&in, &sy) == NM_VERDICT_NOT_MODIFIED &&
                  nm_answer_304(c, head, head_len, &sy, now);
    if (!is_304)
        release_with_tag(c, head, head_len, &sy);
    return is_304;
}

bool nm_answer_held(struct nm_conn *c, const char *tag)
{
    const nm_snapshot_hit_t *hit =
        c->hold && c->hold->has_store_hit ? &c->hold->store_hit : NULL;
    bool is_304 =
        nm_answer_with_tag(c, c->head, c->head_len, tag, hit, time(NULL));
    nm_hold_free(c->hold);
    c->hold = NULL;
    c->head_len = 0;
    return is_304;
}
