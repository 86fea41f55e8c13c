/* test_redis_addr.c - the --redis URL forms: one server, unix socket,
 * sentinels with a master name, cluster seeds; what is refused; the
 * description never shows the password. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "nm.h"
#include "redis_addr.h"

typedef struct addr_row {
    const char *what;
    const char *url;
    int rc;
    nm_redis_mode_t mode;
    const char *password; /* NULL: none */
    const char *master;   /* NULL: none */
    int db;
    const char *desc; /* nm_redis_addr_describe */
} addr_row_t;

#define BAD NM_E_PARSE, NM_REDIS_SINGLE, NULL, NULL, 0, NULL

static const addr_row_t rows[] = {
    {"redis_host_port_db", "redis://127.0.0.1:6380/2", 0, NM_REDIS_SINGLE, NULL,
     NULL, 2, "127.0.0.1:6380 db 2"},
    {"redis_defaults", "redis://", 0, NM_REDIS_SINGLE, NULL, NULL, 0,
     "127.0.0.1:6379 db 0"},
    {"redis_trailing_slash", "redis://h/", 0, NM_REDIS_SINGLE, NULL, NULL, 0,
     "h:6379 db 0"},
    {"redis_password", "redis://:s3cret@h:1/0", 0, NM_REDIS_SINGLE, "s3cret",
     NULL, 0, "h:1 db 0"},
    {"redis_user_password", "redis://u:pw@h", 0, NM_REDIS_SINGLE, "pw", NULL, 0,
     "h:6379 db 0"},
    {"redis_bare_user_ignored", "redis://u@h", 0, NM_REDIS_SINGLE, NULL, NULL,
     0, "h:6379 db 0"},
    {"redis_ipv6", "redis://[::1]:7000", 0, NM_REDIS_SINGLE, NULL, NULL, 0,
     "[::1]:7000 db 0"},
    {"redis_bad_port", "redis://h:0", BAD},
    {"redis_port_too_big", "redis://h:65536", BAD},
    {"redis_bad_db", "redis://h/x", BAD},
    {"unix_path", "unix:///run/r.sock?db=3&password=p", 0, NM_REDIS_SINGLE, "p",
     NULL, 3, "unix:///run/r.sock db 3"},
    {"unix_relative_refused", "unix://run/r.sock", BAD},
    {"unix_unknown_option_refused", "unix:///r?x=1", BAD},
    {"sentinel_three", "sentinel://a:26379,b:26380,c/mymaster", 0,
     NM_REDIS_SENTINEL, NULL, "mymaster", 0,
     "sentinel mymaster at a:26379,b:26380,c:26379 db 0"},
    {"sentinel_password_db", "sentinel://pw@127.0.0.1:5000/m?db=4", 0,
     NM_REDIS_SENTINEL, "pw", "m", 4, "sentinel m at 127.0.0.1:5000 db 4"},
    {"sentinel_colon_password", "sentinel://:pw@h:1/m", 0, NM_REDIS_SENTINEL,
     "pw", "m", 0, "sentinel m at h:1 db 0"},
    {"sentinel_without_master_refused", "sentinel://h:1", BAD},
    {"sentinel_empty_master_refused", "sentinel://h:1/", BAD},
    {"sentinel_empty_host_refused", "sentinel://h:1,/m", BAD},
    {"sentinel_unknown_option_refused", "sentinel://h/m?x=1", BAD},
    {"cluster_seeds", "cluster://127.0.0.1:7000,127.0.0.1:7001", 0,
     NM_REDIS_CLUSTER, NULL, NULL, 0, "cluster 127.0.0.1:7000,127.0.0.1:7001"},
    {"cluster_password", "cluster://pw@h", 0, NM_REDIS_CLUSTER, "pw", NULL, 0,
     "cluster h:6379"},
    {"cluster_trailing_slash", "cluster://h:1/", 0, NM_REDIS_CLUSTER, NULL,
     NULL, 0, "cluster h:1"},
    {"cluster_db_refused", "cluster://h:1/2", BAD},
    {"cluster_query_refused", "cluster://h:1?db=1", BAD},
    {"cluster_no_host_refused", "cluster://", BAD},
    {"unknown_scheme", "rediss://h", BAD},
    {"empty", "", BAD},
};

static void urls_parse_to_mode_hosts_and_options(void **state)
{
    (void)state;
    int failures = 0;
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        const addr_row_t *r = &rows[i];
        nm_redis_addr_t a;
        const char *why = NULL;
        int rc = nm_redis_addr_parse(&a, r->url, &why);
        char desc[256] = "";
        if (rc == 0)
            nm_redis_addr_describe(&a, desc, sizeof(desc));
        int ok = rc == r->rc;
        if (ok && rc == 0)
            ok = a.mode == r->mode && a.db == r->db &&
                 (r->password
                      ? a.password && strcmp(a.password, r->password) == 0
                      : !a.password) &&
                 (r->master ? a.master && strcmp(a.master, r->master) == 0
                            : !a.master) &&
                 strcmp(desc, r->desc) == 0;
        if (ok && rc != 0)
            ok = why && strstr(why, "sentinel://") && a.hosts == NULL;
        if (!ok) {
            print_error("%s: [%s] rc %d mode %d db %d desc [%s]\n", r->what,
                        r->url, rc, (int)a.mode, a.db, desc);
            failures++;
        }
        nm_redis_addr_free(&a);
    }
    assert_int_equal(failures, 0);
}

static void description_is_cut_to_the_buffer(void **state)
{
    (void)state;
    nm_redis_addr_t a;
    const char *why;
    assert_int_equal(
        nm_redis_addr_parse(&a, "cluster://aaaa:1,bbbb:2,cccc:3", &why), 0);
    char out[12];
    nm_redis_addr_describe(&a, out, sizeof(out));
    assert_string_equal(out, "cluster aaa");
    nm_redis_addr_free(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(urls_parse_to_mode_hosts_and_options),
        cmocka_unit_test(description_is_cut_to_the_buffer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
