/* fuzz_httpdate.c - nm_httpdate_parse / nm_httpdate_format (common/
 * httpdate.c). Invariants: a parsed date lies in years 0000-9999 and
 * formats to an IMF-fixdate that parses back to the same second, whatever
 * "now" is; formatting any time in years 0000-9999 succeeds and parses back
 * exactly, and fails outside; surrounding OWS does not change a result.
 * Input: 8 bytes of "now" (bit 0 of the first byte: an arbitrary int64,
 * else folded into years 1970-9900, where RFC 850 years are meaningful),
 * then the string. The 8 bytes also serve as a time to format. */
#include "fuzz_util.h"
#include "httpdate.h"

#define MIN_T (-62167219200LL) /* 0000-01-01T00:00:00Z */
#define MAX_T 253402300799LL   /* 9999-12-31T23:59:59Z */
#define NOW_MAX 250256000000LL /* about 9900-01-01 */

static void round_trip(int64_t t, int64_t now)
{
    char out[NM_HTTPDATE_LEN + 1];
    int rc = nm_httpdate_format(t, out);
    if (t < MIN_T || t > MAX_T) {
        FUZZ_CHECK(rc == NM_E_INVAL, "format(%lld) = %d", (long long)t, rc);
        return;
    }
    FUZZ_CHECK(rc == NM_HTTPDATE_LEN, "format(%lld) = %d", (long long)t, rc);
    FUZZ_CHECK(strlen(out) == NM_HTTPDATE_LEN, "format(%lld): %s", (long long)t,
               out);
    int64_t back = 0;
    rc = nm_httpdate_parse(out, NM_HTTPDATE_LEN, now, &back);
    FUZZ_CHECK(rc == NM_OK && back == t, "%lld -> %s -> %d %lld", (long long)t,
               out, rc, (long long)back);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 8)
        return 0;
    uint64_t raw = get_le64(data);
    int64_t now = (raw & 1) ? (int64_t)raw : (int64_t)(raw % NOW_MAX);
    size_t n = size - 8;
    char *s = dup_exact(data + 8, n);

    int64_t t = 0;
    int rc = nm_httpdate_parse(s, n, now, &t);
    FUZZ_CHECK(rc == NM_OK || rc == NM_E_PARSE, "parse = %d", rc);
    if (rc == NM_OK) {
        FUZZ_CHECK(t >= MIN_T && t <= MAX_T,
                   "parsed %lld outside years 0000-9999 with now %lld",
                   (long long)t, (long long)now);
        round_trip(t, now);

        /* OWS around the value is allowed and changes nothing. */
        char *padded = malloc(n + 2);
        if (padded == NULL)
            abort();
        padded[0] = ' ';
        memcpy(padded + 1, s, n);
        padded[n + 1] = '\t';
        int64_t t2 = 0;
        FUZZ_CHECK(nm_httpdate_parse(padded, n + 2, now, &t2) == NM_OK &&
                       t2 == t,
                   "padding changed the result");
        free(padded);
    }
    round_trip((int64_t)raw, now);
    round_trip((int64_t)(raw % (uint64_t)(MAX_T - MIN_T + 1)) + MIN_T, now);
    free(s);
    return 0;
}
