/* fuzz_fresh.c - the acceleration rules (common/fresh.c, cachectl.c) on
 * arbitrary heads. Input: 1 byte of configured freshness (0: off, 1:
 * origin, else seconds), 2 bytes of elapsed seconds, 1 byte each for the
 * lengths of the stored 200's head and of its request's head, those two,
 * then this request's head. Invariants: the parsers return 0 or
 * NM_E_PARSE; a verdict is a known one, and an accelerated request has
 * an age from 0 to below a lifetime no longer than the configured one, a
 * GET or HEAD with a conditional, no reload directive; the stored head
 * parses like the head it came from, storing it again changes nothing,
 * and its 304 has one Date and one Age. */
#include "fresh.h"
#include "fuzz_util.h"
#include "http_hdr.h"

#define T0 1700000000LL

static nm_slice_t field_of(const char *head, size_t len, const char *name)
{
    nm_slice_t v = {NULL, 0};
    if (nm_hdr_find(head, len, name, &v) != 1)
        v.ptr = NULL;
    return v;
}

static void check_stored_head(const char *resp, size_t rl)
{
    char *out = malloc(rl ? rl : 1);
    if (out == NULL)
        abort();
    long n = nm_fresh_store_head(resp, rl, out, rl);
    FUZZ_CHECK(n == NM_E_PARSE || (n > 0 && (size_t)n <= rl),
               "store_head %ld of %zu", n, rl);
    if (n > 0) {
        char *again = malloc((size_t)n);
        if (again == NULL)
            abort();
        long m = nm_fresh_store_head(out, (size_t)n, again, (size_t)n);
        FUZZ_CHECK(m == n && memcmp(again, out, (size_t)n) == 0,
                   "storing twice changed it: %ld, %ld", n, m);
        free(again);
        FUZZ_CHECK(nm_hdr_count(out, (size_t)n, "connection") == 0 &&
                       nm_hdr_count(out, (size_t)n, "keep-alive") == 0 &&
                       nm_hdr_count(out, (size_t)n, "transfer-encoding") == 0,
                   "hop-by-hop field kept");
        char b304[8192];
        long k = nm_fresh_build_304(out, (size_t)n, 42, T0, b304, sizeof b304);
        if (k > 0) {
            FUZZ_CHECK(nm_hdr_count(b304, (size_t)k, "date") == 1 &&
                           nm_hdr_count(b304, (size_t)k, "age") == 1,
                       "304 without one Date and one Age");
            nm_slice_t age = field_of(b304, (size_t)k, "age");
            FUZZ_CHECK(age.len == 2 && memcmp(age.ptr, "42", 2) == 0,
                       "Age %.*s", (int)age.len, age.ptr);
        }
    }
    free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 5)
        return 0;
    int64_t fresh_s = data[0] == 0   ? 0
                      : data[0] == 1 ? NM_FRESH_ORIGIN
                                     : (int64_t)data[0] * 7;
    int64_t elapsed = (int64_t)(data[1] | data[2] << 8) - 100;
    size_t rl = data[3], sl = data[4];
    size_t left = size - 5;
    if (rl > left)
        rl = left;
    if (sl > left - rl)
        sl = left - rl;
    size_t ql = left - rl - sl;
    char *resp = dup_exact(data + 5, rl);
    char *sreq = dup_exact(data + 5 + rl, sl);
    char *req = dup_exact(data + 5 + rl + sl, ql);

    nm_fresh_stored_t st;
    nm_fresh_req_t rq;
    int a = nm_fresh_stored_parse(resp, rl, T0, &st);
    int b = nm_fresh_req_parse(sreq, sl, &st.req);
    int c = nm_fresh_req_parse(req, ql, &rq);
    FUZZ_CHECK((a == 0 || a == NM_E_PARSE) && (b == 0 || b == NM_E_PARSE) &&
                   (c == 0 || c == NM_E_PARSE),
               "parse %d %d %d", a, b, c);
    FUZZ_CHECK(!rq.is_ae_keyed || rq.ae_key_len < NM_FRESH_KEY_MAX,
               "ae key of %zu", rq.ae_key_len);
    if (a == 0 && b == 0 && c == 0) {
        st.request_unix = st.response_unix = T0;
        nm_cond_input_t cond = {
            .if_match = field_of(req, ql, "if-match"),
            .if_none_match = field_of(req, ql, "if-none-match"),
            .if_modified_since = field_of(req, ql, "if-modified-since"),
            .if_unmodified_since = field_of(req, ql, "if-unmodified-since"),
            .etag = field_of(resp, rl, "etag"),
            .last_modified = -1,
            .now = T0 + elapsed,
        };
        int64_t age = -1;
        nm_fresh_verdict_t v =
            nm_fresh_decide(&st, &rq, &cond, fresh_s, T0 + elapsed, &age);
        FUZZ_CHECK(v < NM_FRESH_VERDICT_COUNT_, "verdict %d", (int)v);
        if (v == NM_FRESH_ACCELERATE) {
            FUZZ_CHECK(fresh_s != 0, "accelerated while off");
            FUZZ_CHECK(age >= 0 && (fresh_s < 0 || age < fresh_s),
                       "age %lld with freshness %lld", (long long)age,
                       (long long)fresh_s);
            FUZZ_CHECK(rq.method == NM_METHOD_GET ||
                           rq.method == NM_METHOD_HEAD,
                       "method %d", (int)rq.method);
            FUZZ_CHECK(cond.if_none_match.ptr || cond.if_modified_since.ptr,
                       "not conditional");
            FUZZ_CHECK(!rq.has_pragma_no_cache &&
                           !(rq.cc.flags &
                             (NM_CACHECTL_NO_CACHE | NM_CACHECTL_NO_STORE |
                              NM_CACHECTL_INVALID)) &&
                           !((rq.cc.flags & NM_CACHECTL_MAX_AGE) &&
                             rq.cc.max_age_s == 0),
                       "a reload accelerated");
            FUZZ_CHECK(st.status == 200 && !st.has_set_cookie &&
                           !(st.cc.flags &
                             (NM_CACHECTL_NO_STORE | NM_CACHECTL_PRIVATE |
                              NM_CACHECTL_NO_CACHE | NM_CACHECTL_INVALID)),
                       "an unstorable 200 reused");
        }
    }
    check_stored_head(resp, rl);
    free(resp);
    free(sreq);
    free(req);
    return 0;
}
