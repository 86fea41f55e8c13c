/* fuzz_cond.c - nm_cond_eval (common/cond.c) on arbitrary field values.
 * Invariant (RFC 9110 §13.2.2, §15.4.5): NM_COND_NOT_MODIFIED only for a
 * 200 to GET or HEAD, never with a truncated condition, and only when a
 * condition says so: an If-None-Match that weakly matches, or (without
 * If-None-Match) a single valid If-Modified-Since no later than now and
 * not earlier than Last-Modified; a present If-Match must match strongly.
 * Input: method, status (2 bytes), flags, Last-Modified (8), now (8), five
 * length bytes, then If-Match, If-None-Match, IMS, IUS and ETag values. */
#include "cond.h"
#include "etag.h"
#include "fuzz_util.h"
#include "httpdate.h"

#define HDR 25

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < HDR)
        return 0;
    nm_cond_input_t in;
    memset(&in, 0, sizeof(in));
    in.method = (nm_method_t)(data[0] % 11);
    /* Mostly 200, so the interesting branches get explored. */
    in.status = (data[1] & 0x80) ? 200 : (data[1] << 8 | data[2]) - 1;
    uint8_t fl = data[3];
    in.is_ims_multi = fl & 1;
    in.is_ius_multi = fl & 2;
    in.is_cond_truncated = (fl & 0x0c) == 0x0c; /* rarer */
    uint64_t lm = get_le64(data + 4);
    in.last_modified = (lm & 1) ? -1 : (int64_t)(lm % 253402300800ull);
    in.now = (int64_t)(get_le64(data + 12) % 253402300800ull);

    char *bufs[5];
    nm_slice_t *slots[5] = {&in.if_match, &in.if_none_match,
                            &in.if_modified_since, &in.if_unmodified_since,
                            &in.etag};
    size_t off = HDR;
    for (int i = 0; i < 5; i++) {
        /* A 0xff length (no bytes) or bits 4..7 of the flags: absent. */
        size_t n = data[20 + i] == 0xff ? 0 : data[20 + i];
        if (n > size - off)
            n = size - off;
        bufs[i] = dup_exact(data + off, n);
        off += n;
        bool is_present =
            data[20 + i] != 0xff && !(i < 4 && (fl >> (4 + i)) & 1);
        if (is_present) {
            slots[i]->ptr = bufs[i];
            slots[i]->len = n;
        }
    }

    nm_cond_result_t r = nm_cond_eval(&in);
    FUZZ_CHECK(r == NM_COND_PASS || r == NM_COND_NOT_MODIFIED, "result %d",
               (int)r);
    if (r == NM_COND_NOT_MODIFIED) {
        FUZZ_CHECK(in.method == NM_METHOD_GET || in.method == NM_METHOD_HEAD,
                   "304 for method %d", (int)in.method);
        FUZZ_CHECK(in.status == 200, "304 for status %d", in.status);
        FUZZ_CHECK(!in.is_cond_truncated, "304 with a truncated condition");

        nm_etag_t tag;
        const nm_etag_t *cur = NULL;
        size_t b = 0, e = in.etag.len;
        while (in.etag.ptr && b < e &&
               (in.etag.ptr[b] == ' ' || in.etag.ptr[b] == '\t'))
            b++;
        while (in.etag.ptr && e > b &&
               (in.etag.ptr[e - 1] == ' ' || in.etag.ptr[e - 1] == '\t'))
            e--;
        if (in.etag.ptr && nm_etag_parse(in.etag.ptr + b, e - b, &tag) == 0)
            cur = &tag;
        if (in.if_match.ptr)
            FUZZ_CHECK(nm_etag_list_match(in.if_match.ptr, in.if_match.len, cur,
                                          false) == NM_ETAG_MATCH,
                       "304 although If-Match fails");
        if (in.if_none_match.ptr) {
            FUZZ_CHECK(nm_etag_list_match(in.if_none_match.ptr,
                                          in.if_none_match.len, cur,
                                          true) == NM_ETAG_MATCH,
                       "304 although If-None-Match does not match");
        } else {
            int64_t ims;
            FUZZ_CHECK(in.if_modified_since.ptr && !in.is_ims_multi &&
                           nm_httpdate_parse(in.if_modified_since.ptr,
                                             in.if_modified_since.len, in.now,
                                             &ims) == NM_OK,
                       "304 without a usable condition");
            FUZZ_CHECK(in.last_modified >= 0 && in.last_modified <= ims &&
                           ims <= in.now,
                       "304 with IMS %lld, LM %lld, now %lld", (long long)ims,
                       (long long)in.last_modified, (long long)in.now);
        }
    }
    for (int i = 0; i < 5; i++)
        free(bufs[i]);
    return 0;
}
