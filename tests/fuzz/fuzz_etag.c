/* fuzz_etag.c - nm_etag_list_match (common/etag.c) on arbitrary field
 * values and current tags, with invariants that follow from RFC 9110
 * §8.8.3 and §13.1: a match needs a member (or "*"), strong implies weak,
 * validity does not depend on the comparison or the current tag, a single
 * tag matches as the comparison functions say, and appending the current
 * tag to a valid list makes it match. Input: one flags byte (bit 0: weak
 * comparison, bit 1: a current tag), one length byte for the current tag,
 * the current tag, then the field value. */
#include "etag.h"
#include "fuzz_util.h"

static bool is_star(const char *v, size_t n)
{
    size_t b = 0, e = n;
    while (b < e && (v[b] == ' ' || v[b] == '\t'))
        b++;
    while (e > b && (v[e - 1] == ' ' || v[e - 1] == '\t'))
        e--;
    return e - b == 1 && v[b] == '*';
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    bool use_weak = data[0] & 1;
    bool want_cur = data[0] & 2;
    size_t cur_len = data[1];
    if (cur_len > size - 2)
        cur_len = size - 2;
    char *cur_s = dup_exact(data + 2, cur_len);
    size_t vlen = size - 2 - cur_len;
    char *value = dup_exact(data + 2 + cur_len, vlen);

    nm_etag_t cur_tag;
    const nm_etag_t *cur = NULL;
    if (want_cur && nm_etag_parse(cur_s, cur_len, &cur_tag) == NM_OK) {
        cur = &cur_tag;
        FUZZ_CHECK(cur_tag.opaque.len >= 2 && cur_tag.opaque.ptr[0] == '"',
                   "parsed tag without quotes");
        FUZZ_CHECK(nm_etag_weak_eq(cur, cur), "weak_eq not reflexive");
        FUZZ_CHECK(nm_etag_strong_eq(cur, cur) == !cur->is_weak,
                   "strong_eq of a tag with itself");
    }

    int rc = nm_etag_list_match(value, vlen, cur, use_weak);
    FUZZ_CHECK(rc == NM_ETAG_MATCH || rc == NM_ETAG_NO_MATCH ||
                   rc == NM_E_PARSE,
               "result %d", rc);
    FUZZ_CHECK(rc != NM_ETAG_MATCH || vlen > 0, "match on an empty value");
    FUZZ_CHECK(rc != NM_ETAG_MATCH || cur != NULL || is_star(value, vlen),
               "match without a current tag and without *");

    int rc_strong = nm_etag_list_match(value, vlen, cur, false);
    int rc_weak = nm_etag_list_match(value, vlen, cur, true);
    int rc_none = nm_etag_list_match(value, vlen, NULL, use_weak);
    FUZZ_CHECK(rc == (use_weak ? rc_weak : rc_strong), "not deterministic");
    FUZZ_CHECK(rc_strong != NM_ETAG_MATCH || rc_weak == NM_ETAG_MATCH,
               "strong match %d but weak %d", rc_strong, rc_weak);
    FUZZ_CHECK((rc_strong == NM_E_PARSE) == (rc_weak == NM_E_PARSE) &&
                   (rc_none == NM_E_PARSE) == (rc == NM_E_PARSE),
               "validity depends on the comparison: %d %d %d", rc_strong,
               rc_weak, rc_none);

    /* A value that is one tag matches exactly as the comparisons say. */
    nm_etag_t one;
    if (cur != NULL && nm_etag_parse(value, vlen, &one) == NM_OK) {
        bool eq = use_weak ? nm_etag_weak_eq(&one, cur)
                           : nm_etag_strong_eq(&one, cur);
        FUZZ_CHECK(rc == (eq ? NM_ETAG_MATCH : NM_ETAG_NO_MATCH),
                   "single tag: %d, comparison says %d", rc, (int)eq);
        FUZZ_CHECK(nm_etag_weak_eq(&one, cur) == nm_etag_weak_eq(cur, &one) &&
                       nm_etag_strong_eq(&one, cur) ==
                           nm_etag_strong_eq(cur, &one),
                   "comparison not symmetric");
    }

    /* value ", " current: still valid, and now a (weak) match. */
    if (cur != NULL && rc != NM_E_PARSE && !is_star(value, vlen)) {
        size_t n = vlen + 2 + cur_len;
        char *ext = malloc(n);
        if (ext == NULL)
            abort();
        memcpy(ext, value, vlen);
        memcpy(ext + vlen, ", ", 2);
        memcpy(ext + vlen + 2, cur_s, cur_len);
        int rc_ext = nm_etag_list_match(ext, n, cur, true);
        FUZZ_CHECK(rc_ext == NM_ETAG_MATCH, "appended current tag: %d", rc_ext);
        free(ext);
    }
    free(cur_s);
    free(value);
    return 0;
}
