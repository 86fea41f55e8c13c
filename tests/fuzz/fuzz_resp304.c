/* fuzz_resp304.c - nm_resp304_build (common/resp304.c) on arbitrary heads
 * and extra lines. Invariants: it never writes past out_cap (every output
 * buffer is an exactly sized heap block, so ASan sees one byte over); a
 * result of length L fits in exactly L bytes and not in L - 1; the 304
 * starts with "HTTP/1.x 304", every line ends in CRLF, it ends with the
 * empty line, carries a Date and no Content-Length or Transfer-Encoding.
 * Input: 2 bytes of out_cap, 8 bytes of now, 1 byte of extra length, the
 * extra lines, then the 200's head. When the response parser accepts the
 * head, nm_resp304_build_lines from its line offsets must give the very
 * same result as nm_resp304_build (the shim uses the former). */
#include "fuzz_util.h"
#include "http_resp.h"
#include "resp304.h"

#define MIN_T (-62167219200LL)
#define MAX_T 253402300799LL

static bool starts_ci(const char *s, size_t n, const char *lit)
{
    size_t k = strlen(lit);
    if (n < k)
        return false;
    for (size_t i = 0; i < k; i++) {
        char c = s[i];
        if (c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        if (c != lit[i])
            return false;
    }
    return true;
}

static void check_304(const char *o, size_t n)
{
    FUZZ_CHECK(n >= 8 + 19 + 2 && memcmp(o, "HTTP/1.", 7) == 0 &&
                   memcmp(o + 8, " 304 Not Modified\r\n", 19) == 0,
               "bad status line: %.*s", (int)(n < 40 ? n : 40), o);
    FUZZ_CHECK(memcmp(o + n - 4, "\r\n\r\n", 4) == 0, "no empty line");
    bool has_date = false;
    size_t b = 0;
    while (b < n) {
        const char *lf = memchr(o + b, '\n', n - b);
        FUZZ_CHECK(lf != NULL, "output ends inside a line");
        size_t e = (size_t)(lf - o);
        FUZZ_CHECK(e > b && o[e - 1] == '\r', "bare LF at %zu", e);
        FUZZ_CHECK(memchr(o + b, '\r', e - 1 - b) == NULL, "bare CR in line");
        const char *line = o + b;
        size_t ll = e - 1 - b;
        FUZZ_CHECK(!starts_ci(line, ll, "content-length:") &&
                       !starts_ci(line, ll, "transfer-encoding:"),
                   "framing field kept: %.*s", (int)ll, line);
        if (starts_ci(line, ll, "date:"))
            has_date = true;
        if (ll == 0)
            FUZZ_CHECK(e + 1 == n, "empty line before the end");
        b = e + 1;
    }
    FUZZ_CHECK(has_date, "no Date line");
}

static long build(const char *head, size_t hl, const char *extra, size_t el,
                  int64_t now, size_t cap, char **out)
{
    *out = malloc(cap ? cap : 1);
    if (*out == NULL)
        abort();
    return nm_resp304_build(head, hl, extra, el, now, cap ? *out : NULL, cap);
}

/* The parser's view of head: accepted as exactly one whole head? */
static bool parse_whole(const char *head, size_t hl, nm_resp_t *resp)
{
    nm_resp_parser_t p;
    nm_resp_event_t ev;
    nm_http_resp_init(&p);
    nm_http_resp_expect_head(&p, false);
    long used = nm_http_resp_feed(&p, resp, head, hl, &ev);
    return used == (long)hl && ev == NM_RESP_EV_HEAD_DONE &&
           resp->status >= 200 && resp->head_len == hl;
}

static void check_lines(const char *head, size_t hl, const char *extra,
                        size_t el, int64_t now, long len, const char *big)
{
    static nm_resp_t resp;
    if (!parse_whole(head, hl, &resp) || resp.line_count > NM_RESP_LINES_MAX)
        return;
    char *out = malloc(1 << 17);
    if (out == NULL)
        abort();
    long rc = nm_resp304_build_lines(head, hl, resp.line_start, resp.line_count,
                                     extra, el, now, out, 1 << 17);
    FUZZ_CHECK(rc == len, "from lines %ld, from the head %ld", rc, len);
    if (len > 0)
        FUZZ_CHECK(memcmp(out, big, (size_t)len) == 0, "lines output differs");
    free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 11)
        return 0;
    size_t cap = (size_t)(data[0] | data[1] << 8) % 4096;
    uint64_t raw = get_le64(data + 2);
    int64_t now = (int64_t)(raw % (uint64_t)(MAX_T - MIN_T + 2001)) + MIN_T -
                  1000; /* mostly valid, the edges reachable */
    size_t el = data[10];
    if (el > size - 11)
        el = size - 11;
    char *extra = dup_exact(data + 11, el);
    size_t hl = size - 11 - el;
    char *head = dup_exact(data + 11 + el, hl);

    char *big;
    long len = build(head, hl, extra, el, now, 1 << 17, &big);
    FUZZ_CHECK(len > 0 || len == NM_E_PARSE || len == NM_E_INVAL,
               "result %ld with room to spare", len);
    char *out;
    long rc = build(head, hl, extra, el, now, cap, &out);
    if (len > 0) {
        check_304(big, (size_t)len);
        FUZZ_CHECK(rc == ((size_t)len <= cap ? len : NM_E_NOSPACE),
                   "cap %zu: %ld, needs %ld", cap, rc, len);
        if (rc > 0)
            FUZZ_CHECK(memcmp(out, big, (size_t)len) == 0, "output differs");
        free(out);
        rc = build(head, hl, extra, el, now, (size_t)len, &out);
        FUZZ_CHECK(rc == len && memcmp(out, big, (size_t)len) == 0,
                   "exact cap %ld: %ld", len, rc);
        free(out);
        rc = build(head, hl, extra, el, now, (size_t)len - 1, &out);
        FUZZ_CHECK(rc == NM_E_NOSPACE, "cap %ld - 1: %ld", len, rc);
    } else {
        FUZZ_CHECK(rc == len, "error %ld with room, %ld with cap %zu", len, rc,
                   cap);
    }
    free(out);
    check_lines(head, hl, extra, el, now, len, big);
    free(big);
    free(extra);
    free(head);
    return 0;
}
