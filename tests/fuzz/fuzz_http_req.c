/* fuzz_http_req.c - the request parser (common/http_req.c) fed the same
 * bytes whole and in random splits: both must report the same events at
 * the same offsets with the same captures and the same error. Input: one
 * byte n (low 4 bits), n split-control bytes, then the client's stream. */
#include "fuzz_util.h"
#include "http_req.h"

static void put_req(fuzz_tr_t *t, const nm_req_t *r)
{
    tr_printf(t, " m=%d v=%d f=%x t=", (int)r->method, r->version_minor,
              (unsigned)r->flags);
    FUZZ_CHECK(
        r->target_len <= NM_REQ_TARGET_MAX && r->host_len <= NM_REQ_HOST_MAX &&
            r->inm_len <= NM_REQ_INM_MAX && r->ims_len <= NM_REQ_DATE_MAX &&
            r->if_match_len <= NM_REQ_IF_MATCH_MAX &&
            r->ius_len <= NM_REQ_DATE_MAX,
        "capture length past its buffer");
    tr_bytes(t, r->target, r->target_len);
    tr_printf(t, " h=");
    tr_bytes(t, r->host, r->host_len);
    tr_printf(t, " inm=");
    tr_bytes(t, r->inm, r->inm_len);
    tr_printf(t, " ims=");
    tr_bytes(t, r->ims, r->ims_len);
    tr_printf(t, " im=");
    tr_bytes(t, r->if_match, r->if_match_len);
    tr_printf(t, " ius=");
    tr_bytes(t, r->ius, r->ius_len);
    tr_printf(t, "\n");
}

/* Feeds data in chunks from sp (one chunk when sp has no control bytes);
 * each chunk is copied to an exactly sized block so ASan sees over-reads. */
static void run(const uint8_t *data, size_t len, fuzz_split_t *sp, fuzz_tr_t *t)
{
    nm_req_parser_t p;
    nm_req_t req;
    memset(&req, 0, sizeof(req));
    nm_http_req_init(&p);
    size_t off = 0;
    int stalls = 0;
    for (;;) {
        size_t k = split_next(sp, len - off);
        char *chunk = dup_exact(data + off, k);
        size_t pos = 0;
        for (;;) {
            nm_req_event_t ev = NM_REQ_EV_NONE;
            long n = nm_http_req_feed(&p, &req, chunk + pos, k - pos, &ev);
            if (n < 0) {
                tr_printf(t, "E%ld\n", n);
                free(chunk);
                return;
            }
            FUZZ_CHECK((size_t)n <= k - pos, "consumed %ld of %zu", n, k - pos);
            pos += (size_t)n;
            if (ev == NM_REQ_EV_NONE) {
                FUZZ_CHECK(pos == k, "NONE with %zu bytes left", k - pos);
                break;
            }
            stalls = n == 0 ? stalls + 1 : 0;
            FUZZ_CHECK(stalls < 3, "events without progress");
            if (ev == NM_REQ_EV_HEAD_DONE) {
                tr_printf(t, "H@%zu", off + pos);
                put_req(t, &req);
            } else {
                FUZZ_CHECK(ev == NM_REQ_EV_MSG_DONE, "event %d", (int)ev);
                tr_printf(t, "M@%zu\n", off + pos);
            }
        }
        free(chunk);
        off += k;
        if (off == len)
            break;
    }
    tr_printf(t, "END\n");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t nctl = data[0] & 15;
    if (size < 1 + nctl)
        return 0;
    fuzz_split_t whole = {NULL, 0, 0};
    fuzz_split_t split = {data + 1, nctl, 0};
    const uint8_t *msg = data + 1 + nctl;
    size_t msg_len = size - 1 - nctl;

    fuzz_tr_t a = {0}, b = {0};
    run(msg, msg_len, &whole, &a);
    run(msg, msg_len, &split, &b);
    tr_expect_same(&a, &b, "request transcripts");
    /* One byte at a time: the header promises the same result. */
    fuzz_split_t bytewise = {(const uint8_t *)"\0", 1, 0};
    tr_free(&b);
    run(msg, msg_len, &bytewise, &b);
    tr_expect_same(&a, &b, "request transcripts (bytewise)");
    tr_free(&a);
    tr_free(&b);
    return 0;
}
