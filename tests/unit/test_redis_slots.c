/* test_redis_slots.c - Redis Cluster's CRC16 and key slots against the
 * specification's check value and slots Redis 7 itself gives (CLUSTER
 * KEYSLOT), hash tags included; MOVED and ASK replies read; CLUSTER SLOTS
 * replies (built here as hiredis would) read into ranges, bad ones
 * refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "redis_slots.h"

static void crc16_matches_the_xmodem_check_value(void **state)
{
    (void)state;
    assert_int_equal(nm_redis_crc16("123456789", 9), 0x31C3);
    assert_int_equal(nm_redis_crc16("", 0), 0);
}

typedef struct slot_row {
    const char *what;
    const char *key;
    unsigned slot;
} slot_row_t;

/* Slots from redis-server 7.0 CLUSTER KEYSLOT, and the examples of the
 * Cluster specification ("somekey", "foo{hash_tag}", "{user1000}..."). */
static const slot_row_t slot_rows[] = {
    {"check_string", "123456789", 12739},
    {"doc_somekey", "somekey", 11058},
    {"doc_tag_foo", "foo{hash_tag}", 2515},
    {"doc_tag_bar_same_slot", "bar{hash_tag}", 2515},
    {"plain_foo", "foo", 12182},
    {"plain_bar", "bar", 5061},
    {"plain_hello", "hello", 866},
    {"doc_tag_following", "{user1000}.following", 3443},
    {"doc_tag_followers", "{user1000}.followers", 3443},
    {"empty_tag_hashes_whole_key", "foo{}{bar}", 8363},
    {"tag_is_up_to_first_close", "foo{{bar}}zap", 4015},
    {"first_tag_wins", "foo{bar}{zap}", 5061},
    {"empty_key", "", 0},
    {"open_only", "{", 4092},
    {"close_only", "}", 12090},
    {"empty_braces", "{}", 15257},
    {"unclosed_open_hashes_whole", "a{b", 13340},
    {"close_before_open_ignored", "a}b{c}", 7365},
    /* notmod's own keys: a counter hash and its batch marker share a slot
     * (store_redis.c, "counters"). */
    {"stats_hash", "notmod:stats", 130},
    {"stats_marker", "notmod:batch:0123456789abcdef:{notmod:stats}", 130},
    {"disabled_set", "notmod:disabled", 4605},
    {"url_hash", "notmod:url:example.test/page?x=1", 5324},
};

static void keyslot_follows_hash_tags_as_redis_does(void **state)
{
    (void)state;
    int failures = 0;
    for (size_t i = 0; i < sizeof slot_rows / sizeof slot_rows[0]; i++) {
        const slot_row_t *r = &slot_rows[i];
        unsigned got = nm_redis_keyslot(r->key, strlen(r->key));
        if (got != r->slot) {
            print_error("%s: key [%s] slot %u want %u\n", r->what, r->key, got,
                        r->slot);
            failures++;
        }
    }
    assert_int_equal(failures, 0);
}

typedef struct redirect_row {
    const char *what;
    const char *err;
    nm_redis_redirect_t kind;
    unsigned slot;
    const char *host;
    int port;
} redirect_row_t;

static const redirect_row_t redirect_rows[] = {
    {"moved", "MOVED 3999 127.0.0.1:6381", NM_REDIS_REDIRECT_MOVED, 3999,
     "127.0.0.1", 6381},
    {"ask", "ASK 3999 127.0.0.1:6381", NM_REDIS_REDIRECT_ASK, 3999, "127.0.0.1",
     6381},
    {"ipv6_host", "MOVED 1 ::1:7000", NM_REDIS_REDIRECT_MOVED, 1, "::1", 7000},
    {"unknown_endpoint_empty_host", "MOVED 16383 :7001",
     NM_REDIS_REDIRECT_MOVED, 16383, "", 7001},
    {"other_error", "ERR unknown command", NM_REDIS_REDIRECT_NONE, 0, NULL, 0},
    {"tryagain_is_none", "TRYAGAIN Multiple keys request during rehashing",
     NM_REDIS_REDIRECT_NONE, 0, NULL, 0},
    {"slot_out_of_range", "MOVED 16384 h:1", NM_REDIS_REDIRECT_NONE, 0, NULL,
     0},
    {"no_port", "MOVED 1 host", NM_REDIS_REDIRECT_NONE, 0, NULL, 0},
    {"bad_port", "ASK 1 host:0", NM_REDIS_REDIRECT_NONE, 0, NULL, 0},
    {"junk_after_port", "ASK 1 host:80x", NM_REDIS_REDIRECT_NONE, 0, NULL, 0},
    {"no_slot", "MOVED host:1", NM_REDIS_REDIRECT_NONE, 0, NULL, 0},
    {"lowercase_is_not_a_redirect", "moved 1 h:1", NM_REDIS_REDIRECT_NONE, 0,
     NULL, 0},
};

static void redirects_give_slot_and_node(void **state)
{
    (void)state;
    int failures = 0;
    for (size_t i = 0; i < sizeof redirect_rows / sizeof redirect_rows[0];
         i++) {
        const redirect_row_t *r = &redirect_rows[i];
        unsigned slot = 0;
        char host[64] = "";
        int port = 0;
        nm_redis_redirect_t kind =
            nm_redis_parse_redirect(r->err, &slot, host, sizeof(host), &port);
        if (kind != r->kind ||
            (kind != NM_REDIS_REDIRECT_NONE &&
             (slot != r->slot || strcmp(host, r->host) != 0 ||
              port != r->port))) {
            print_error("%s: [%s] kind %d slot %u host [%s] port %d\n", r->what,
                        r->err, (int)kind, slot, host, port);
            failures++;
        }
    }
    assert_int_equal(failures, 0);
}

static void redirect_host_longer_than_buffer_is_refused(void **state)
{
    (void)state;
    unsigned slot;
    char host[4];
    int port;
    assert_int_equal(nm_redis_parse_redirect("MOVED 1 localhost:1", &slot, host,
                                             sizeof(host), &port),
                     NM_REDIS_REDIRECT_NONE);
}

/* --- CLUSTER SLOTS --- */

/* A reply tree from a compact spec: "i123" an integer, "s..." a string,
 * "[" ... "]" an array. */
static redisReply *build(const char **spec)
{
    redisReply *r = calloc(1, sizeof(*r));
    const char *t = *spec;
    if (t[0] == 'i') {
        r->type = REDIS_REPLY_INTEGER;
        r->integer = strtoll(t + 1, NULL, 10);
        (*spec) += strlen(t) + 1;
    } else if (t[0] == 's') {
        r->type = REDIS_REPLY_STRING;
        r->str = strdup(t + 1);
        r->len = strlen(t + 1);
        (*spec) += strlen(t) + 1;
    } else { /* "[" */
        r->type = REDIS_REPLY_ARRAY;
        (*spec) += 2;
        r->element = calloc(16, sizeof(*r->element));
        while (**spec != ']')
            r->element[r->elements++] = build(spec);
        (*spec) += 2;
    }
    return r;
}

static void drop(redisReply *r)
{
    for (size_t i = 0; i < r->elements; i++)
        drop(r->element[i]);
    free(r->element);
    free(r->str);
    free(r);
}

typedef struct slots_row {
    const char *what;
    const char *spec; /* NUL-separated tokens, ending with an empty one */
    int n;
    const char *first; /* "start end host port" of range 0 */
} slots_row_t;

#define T(s) s "\0"
static const slots_row_t slots_rows[] = {
    {"three_masters_with_a_replica",
     T("[") T("[") T("i0") T("i5460") T("[") T("s127.0.0.1") T("i7000")
         T("sabc") T("]") T("[") T("s127.0.0.1") T("i7003") T("sdef") T("]")
             T("]") T("[") T("i5461") T("i10922") T("[") T("s127.0.0.1")
                 T("i7001") T("]") T("]") T("[") T("i10923") T("i16383") T("[")
                     T("s127.0.0.1") T("i7002") T("]") T("]") T("]"),
     3, "0 5460 127.0.0.1 7000"},
    {"unknown_endpoint_is_the_node_asked",
     T("[") T("[") T("i0") T("i16383") T("[") T("s?") T("i7000") T("]") T("]")
         T("]"),
     1, "0 16383  7000"},
    {"empty_endpoint_is_the_node_asked",
     T("[") T("[") T("i5") T("i5") T("[") T("s") T("i7000") T("]") T("]")
         T("]"),
     1, "5 5  7000"},
    {"no_slots_assigned_is_no_range", T("[") T("]"), 0, NULL},
    {"not_an_array_refused", T("sOK"), -1, NULL},
    {"range_not_an_array_refused", T("[") T("i0") T("]"), -1, NULL},
    {"start_after_end_refused",
     T("[") T("[") T("i9") T("i8") T("[") T("sh") T("i1") T("]") T("]") T("]"),
     -1, NULL},
    {"slot_past_16383_refused",
     T("[") T("[") T("i0") T("i16384") T("[") T("sh") T("i1") T("]") T("]")
         T("]"),
     -1, NULL},
    {"port_zero_refused",
     T("[") T("[") T("i0") T("i1") T("[") T("sh") T("i0") T("]") T("]") T("]"),
     -1, NULL},
    {"master_without_port_refused",
     T("[") T("[") T("i0") T("i1") T("[") T("sh") T("]") T("]") T("]"), -1,
     NULL},
    {"port_as_string_refused",
     T("[") T("[") T("i0") T("i1") T("[") T("sh") T("s1") T("]") T("]") T("]"),
     -1, NULL},
};
#undef T

static void cluster_slots_read_into_ranges(void **state)
{
    (void)state;
    int failures = 0;
    for (size_t i = 0; i < sizeof slots_rows / sizeof slots_rows[0]; i++) {
        const slots_row_t *r = &slots_rows[i];
        const char *spec = r->spec;
        redisReply *rep = build(&spec);
        nm_redis_slot_range_t out[16];
        int n = nm_redis_parse_slots(rep, out);
        char first[128] = "";
        if (n > 0)
            snprintf(first, sizeof(first), "%u %u %s %d", out[0].start,
                     out[0].end, out[0].host, out[0].port);
        if (n != r->n || (r->first && strcmp(first, r->first) != 0)) {
            print_error("%s: n %d [%s] want %d [%s]\n", r->what, n, first, r->n,
                        r->first ? r->first : "");
            failures++;
        }
        drop(rep);
    }
    assert_int_equal(failures, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(crc16_matches_the_xmodem_check_value),
        cmocka_unit_test(keyslot_follows_hash_tags_as_redis_does),
        cmocka_unit_test(redirects_give_slot_and_node),
        cmocka_unit_test(redirect_host_longer_than_buffer_is_refused),
        cmocka_unit_test(cluster_slots_read_into_ranges),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
