/* test_transport_tls.c - the TLS transport's side of OpenSSL's write
 * contract (shim/transport_tls.c, docs/tls.md rules 1-3), against a
 * scripted libssl: each real SSL_write_ex answers from a row's script
 * ("taken", "short", "want", "broken"), and every call is recorded with
 * its bytes and the SSL's mode at that moment. A row sends iovecs as the
 * shim's own bytes or the server's, then repeats the write left pending
 * as many times as its script lasts, and checks what OpenSSL was offered,
 * what the caller was told, and that the error queue and the mode end as
 * the server left them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <errno.h>

#include "log.h"
#include "ssl_real.h"
#include "tlstable.h"
#include "transport_tls.h"

/* ---- the scripted libssl ---- */

enum outcome { TAKEN, SHORT, WANT_WRITE, WANT_READ, BROKEN, END };

#define CALLS_MAX 8
#define SHORT_BYTES 3

static struct fake {
    const enum outcome *script;
    int next;
    long mode;
    int last_error;
    int marks;     /* ERR_set_mark minus ERR_pop_to_mark */
    int mark_sets; /* ERR_set_mark calls */
    int calls;
    size_t len[CALLS_MAX];
    char bytes[CALLS_MAX][64];
    bool was_moving[CALLS_MAX];
} fake;

static int fake_write_ex(SSL *s, const void *p, size_t len, size_t *written)
{
    (void)s;
    int i = fake.calls++;
    fake.len[i] = len;
    memcpy(fake.bytes[i], p, len < 63 ? len : 63);
    fake.was_moving[i] =
        (fake.mode & NM_SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER) != 0;
    switch (fake.script[fake.next++]) {
    case TAKEN:
        *written = len;
        return 1;
    case SHORT:
        *written = SHORT_BYTES;
        return 1;
    case WANT_WRITE:
        fake.last_error = NM_SSL_ERROR_WANT_WRITE;
        return 0;
    case WANT_READ:
        fake.last_error = NM_SSL_ERROR_WANT_READ;
        return 0;
    default:
        fake.last_error = 5; /* SSL_ERROR_SYSCALL */
        errno = ECONNRESET;
        return 0;
    }
}

static int fake_get_error(const SSL *s, int r)
{
    (void)s;
    (void)r;
    return fake.last_error;
}

static long fake_ctrl(SSL *s, int cmd, long larg, void *parg)
{
    (void)s;
    (void)parg;
    if (cmd == NM_SSL_CTRL_MODE)
        fake.mode |= larg;
    else if (cmd == NM_SSL_CTRL_CLEAR_MODE)
        fake.mode &= ~larg;
    return fake.mode;
}

static int fake_set_mark(void)
{
    fake.marks++;
    fake.mark_sets++;
    return 1;
}

static int fake_pop_to_mark(void)
{
    fake.marks--;
    return 1;
}

struct nm_ssl_fns nm_ssl = {
    .write_ex = fake_write_ex,
    .get_error = fake_get_error,
    .ctrl = fake_ctrl,
    .err_set_mark = fake_set_mark,
    .err_pop_to_mark = fake_pop_to_mark,
};

#include "shim_log_off.h"

/* ---- the rows ---- */

typedef struct row {
    const char *what;
    bool is_own;        /* send_own, else pass (the server's bytes) */
    long server_mode;   /* the SSL's mode as the server set it */
    const char *iov[4]; /* pieces offered, NULL-terminated */
    enum outcome script[CALLS_MAX];
    ssize_t want_ret;   /* what send_own / pass return */
    int want_errno;     /* with -1 */
    int finishes;       /* nm_transport_tls_finish calls after the send */
    bool want_finished; /* the last finish found nothing pending */
    const char *want_calls[CALLS_MAX]; /* the bytes of each real call */
    bool want_moving[CALLS_MAX];       /* the moving mode at each call */
    int want_last_want;                /* t->last_want at the end */
} row_t;

#define MOVING NM_SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER
#define PARTIAL NM_SSL_MODE_ENABLE_PARTIAL_WRITE

static const row_t rows[] = {
    {"small_pieces_go_as_one_record",
     true,
     0,
     {"HTTP/1.1 304", " Not", " Modified\r\n"},
     {TAKEN, END},
     27,
     0,
     0,
     true,
     {"HTTP/1.1 304 Not Modified\r\n"},
     {false},
     0},
    {"want_write_is_taken_copied_and_repeated_same_length_from_the_copy",
     true,
     0,
     {"abc", "def"},
     {WANT_WRITE, WANT_WRITE, TAKEN, END},
     6,
     0,
     2,
     true,
     {"abcdef", "abcdef", "abcdef"},
     {false, true, true},
     0},
    {"want_read_is_kept_the_same_way",
     false,
     0,
     {"body"},
     {WANT_READ, WANT_READ, END},
     4,
     0,
     1,
     false,
     {"body", "body"},
     {false, true},
     NM_SSL_ERROR_WANT_READ},
    {"the_servers_moving_mode_stays_set",
     false,
     MOVING,
     {"body"},
     {WANT_WRITE, TAKEN, END},
     4,
     0,
     1,
     true,
     {"body", "body"},
     {true, true},
     0},
    {"partial_mode_short_write_is_reported",
     false,
     PARTIAL,
     {"abcdefgh"},
     {SHORT, END},
     SHORT_BYTES,
     0,
     0,
     true,
     {"abcdefgh"},
     {false},
     0},
    {"partial_mode_repeat_that_completes_short_goes_on_with_the_rest",
     true,
     PARTIAL,
     {"abcdefgh"},
     {WANT_WRITE, SHORT, TAKEN, END},
     8,
     0,
     1,
     true,
     {"abcdefgh", "abcdefgh", "defgh"},
     {false, true, true},
     0},
    {"a_broken_connection_fails_with_the_errno_it_left",
     true,
     0,
     {"x"},
     {BROKEN, END},
     -1,
     ECONNRESET,
     0,
     true,
     {"x"},
     {false},
     0},
    {"a_broken_repeat_drops_the_copy",
     true,
     0,
     {"x"},
     {WANT_WRITE, BROKEN, END},
     1,
     0,
     1,
     true,
     {"x", "x"},
     {false, true},
     0},
};

static void run_row(const row_t *r)
{
    memset(&fake, 0, sizeof(fake));
    fake.script = r->script;
    fake.mode = r->server_mode;
    struct nm_tls t = {.ssl = (void *)&fake, .rfd = -1, .wfd = -1};
    struct iovec v[4];
    int cnt = 0;
    for (; cnt < 4 && r->iov[cnt] != NULL; cnt++)
        v[cnt] = (struct iovec){(void *)r->iov[cnt], strlen(r->iov[cnt])};
    nm_handle_t h = nm_transport_tls_handle(&t);
    errno = 0;
    ssize_t got = r->is_own ? nm_transport_tls.send_own(h, v, cnt)
                            : nm_transport_tls.pass(h, NM_OP_WRITE, v, cnt, 0);
    int got_errno = errno;
    bool is_finished = !nm_transport_tls_is_pending(&t);
    for (int i = 0; i < r->finishes; i++)
        is_finished = nm_transport_tls_finish(&t);
    assert_int_equal(got, r->want_ret);
    if (got < 0)
        assert_int_equal(got_errno, r->want_errno);
    assert_int_equal(is_finished, r->want_finished);
    int want_calls = 0;
    while (want_calls < CALLS_MAX && r->want_calls[want_calls] != NULL)
        want_calls++;
    assert_int_equal(fake.calls, want_calls);
    for (int i = 0; i < want_calls; i++) {
        assert_int_equal(fake.len[i], strlen(r->want_calls[i]));
        assert_memory_equal(fake.bytes[i], r->want_calls[i],
                            strlen(r->want_calls[i]));
        assert_int_equal(fake.was_moving[i], r->want_moving[i]);
    }
    assert_int_equal(fake.mode, r->server_mode); /* left as the server set */
    assert_int_equal(fake.marks, 0);             /* every mark popped */
    assert_int_equal(t.last_want, r->want_last_want);
    nm_transport_tls_drop(&t);
}

static void tls_transport_keeps_the_write_contract(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        print_message("row %s\n", rows[i].what);
        run_row(&rows[i]);
    }
}

/* A head in front of a body leaves as one full record (the head and the
 * start of the body, gathered) and then the rest of the body from where
 * it is, as a server's own buffered writes do. */
static void tls_head_and_body_fill_one_record_first(void **state)
{
    (void)state;
    static char body[20000];
    static const enum outcome script[] = {TAKEN, TAKEN, END};
    memset(body, 'b', sizeof(body));
    memset(&fake, 0, sizeof(fake));
    fake.script = script;
    struct nm_tls t = {.ssl = (void *)&fake, .rfd = -1, .wfd = -1};
    struct iovec v[3] = {{"HTTP/1.1 200 OK\r\n", 0},
                         {"ETag: \"x\"\r\n\r\n", 0},
                         {body, sizeof(body)}};
    v[0].iov_len = strlen(v[0].iov_base);
    v[1].iov_len = strlen(v[1].iov_base);
    size_t head = v[0].iov_len + v[1].iov_len;
    ssize_t got = nm_transport_tls.send_own(nm_transport_tls_handle(&t), v, 3);
    assert_int_equal(got, head + sizeof(body));
    assert_int_equal(fake.calls, 2);
    assert_int_equal(fake.len[0], 16384);
    assert_memory_equal(fake.bytes[0], "HTTP/1.1 200 OK\r\nETag: \"x\"", 25);
    assert_int_equal(fake.len[1], head + sizeof(body) - 16384);
}

/* The shim's own bytes go at most 64 KiB per real call, so a copy kept
 * for a repeat stays small. */
static void tls_own_writes_are_cut_to_64k(void **state)
{
    (void)state;
    static char big[200000];
    static const enum outcome script[] = {TAKEN, END};
    memset(&fake, 0, sizeof(fake));
    fake.script = script;
    struct nm_tls t = {.ssl = (void *)&fake, .rfd = -1, .wfd = -1};
    struct iovec v = {big, sizeof(big)};
    ssize_t got = nm_transport_tls.send_own(nm_transport_tls_handle(&t), &v, 1);
    assert_int_equal(got, 65536);
    assert_int_equal(fake.len[0], 65536);
}

/* A pass of the server's bytes keeps their errors for SSL_get_error: no
 * mark is set around it (the shim's own writes have one each). */
static void tls_pass_leaves_the_error_queue_alone(void **state)
{
    (void)state;
    static const enum outcome script[] = {BROKEN, TAKEN, END};
    memset(&fake, 0, sizeof(fake));
    fake.script = script;
    struct nm_tls t = {.ssl = (void *)&fake, .rfd = -1, .wfd = -1};
    struct iovec v = {"x", 1};
    nm_handle_t h = nm_transport_tls_handle(&t);
    assert_int_equal(nm_transport_tls.pass(h, NM_OP_WRITE, &v, 1, 0), -1);
    assert_int_equal(fake.mark_sets, 0);
    assert_int_equal(nm_transport_tls.send_own(h, &v, 1), 1);
    assert_int_equal(fake.mark_sets, 1);
}

/* While a write waits to be repeated nothing else is written: a new send
 * repeats it first and, when it still cannot go, takes nothing ("try
 * later"), and OpenSSL never sees the new bytes. */
static void tls_a_write_to_repeat_goes_before_anything_else(void **state)
{
    (void)state;
    static const enum outcome script[] = {WANT_WRITE, WANT_WRITE, TAKEN, TAKEN,
                                          END};
    memset(&fake, 0, sizeof(fake));
    fake.script = script;
    struct nm_tls t = {.ssl = (void *)&fake, .rfd = -1, .wfd = -1};
    nm_handle_t h = nm_transport_tls_handle(&t);
    struct iovec old = {"old", 3}, new = {"new!", 4};
    assert_int_equal(nm_transport_tls.send_own(h, &old, 1), 3);
    errno = 0;
    assert_int_equal(nm_transport_tls.send_own(h, &new, 1), -1);
    assert_int_equal(errno, EAGAIN);
    assert_int_equal(fake.calls, 2);
    assert_memory_equal(fake.bytes[1], "old", 3);
    assert_int_equal(nm_transport_tls.send_own(h, &new, 1), 4);
    assert_int_equal(fake.calls, 4);
    assert_memory_equal(fake.bytes[2], "old", 3);
    assert_memory_equal(fake.bytes[3], "new!", 4);
    assert_false(nm_transport_tls_is_pending(&t));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(tls_transport_keeps_the_write_contract),
        cmocka_unit_test(tls_own_writes_are_cut_to_64k),
        cmocka_unit_test(tls_head_and_body_fill_one_record_first),
        cmocka_unit_test(tls_pass_leaves_the_error_queue_alone),
        cmocka_unit_test(tls_a_write_to_repeat_goes_before_anything_else),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
