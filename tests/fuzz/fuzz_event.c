/* fuzz_event.c - nm_event_decode (common/event.c) on arbitrary datagrams.
 * A record that decodes re-encodes to the same bytes, into a buffer of
 * exactly its length and not one byte less; decoded strings lie inside the
 * record and hold no separator byte (what notmodd relies on). */
#include "event.h"
#include "fuzz_util.h"

static void check_str(nm_slice_t s, const char *rec, size_t len, size_t max)
{
    FUZZ_CHECK(s.len <= max, "string of %zu bytes", s.len);
    if (s.len == 0)
        return;
    FUZZ_CHECK(s.ptr >= rec && s.ptr + s.len <= rec + len,
               "string outside the record");
    for (size_t i = 0; i < s.len; i++) {
        unsigned char c = (unsigned char)s.ptr[i];
        FUZZ_CHECK(c > 0x20 && c != 0x7f, "separator byte %02x", c);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *rec = dup_exact(data, size);
    nm_event_t ev;
    int rc = nm_event_decode(rec, size, &ev);
    FUZZ_CHECK(rc == NM_OK || rc == NM_E_PARSE || rc == NM_E_UNSUPPORTED,
               "decode = %d", rc);
    if (rc == NM_OK) {
        FUZZ_CHECK(size <= NM_EVENT_MAX_LEN, "record of %zu bytes", size);
        check_str(ev.validator, rec, size, NM_EVENT_VALIDATOR_MAX);
        check_str(ev.host, rec, size, NM_EVENT_HOST_MAX);
        check_str(ev.path, rec, size, NM_EVENT_PATH_MAX);
        FUZZ_CHECK(ev.outcome < NM_OUTCOME_COUNT_ &&
                       strcmp(nm_event_outcome_name(ev.outcome), "?") != 0,
                   "outcome %u", ev.outcome);

        char *out = malloc(size);
        if (out == NULL)
            abort();
        int n = nm_event_encode(out, size, &ev);
        FUZZ_CHECK(n == (int)size && memcmp(out, rec, size) == 0,
                   "re-encode: %d of %zu bytes", n, size);
        free(out);
        out = malloc(size - 1);
        if (out == NULL)
            abort();
        n = nm_event_encode(out, size - 1, &ev);
        FUZZ_CHECK(n == NM_E_NOSPACE, "encode into %zu bytes: %d", size - 1, n);
        free(out);

        nm_event_t again;
        FUZZ_CHECK(nm_event_decode(rec, size, &again) == NM_OK &&
                       again.pid == ev.pid && again.token == ev.token &&
                       again.body_len == ev.body_len,
                   "decode not deterministic");
    }
    free(rec);
    return 0;
}
