/* test_ssl_abi.c - the OpenSSL 3 constants the shim hard-codes
 * (shim/ssl_real.h, so that it needs no OpenSSL header and links no
 * libssl) against the installed openssl/ssl.h. Built only where that
 * header is installed (libssl-dev). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <openssl/ssl.h>

#include "../../shim/ssl_real.h"

struct row {
    const char *name;
    long ours;
    long openssl;
};

static const struct row rows[] = {
    {"SSL_ERROR_WANT_READ", NM_SSL_ERROR_WANT_READ, SSL_ERROR_WANT_READ},
    {"SSL_ERROR_WANT_WRITE", NM_SSL_ERROR_WANT_WRITE, SSL_ERROR_WANT_WRITE},
    {"SSL_MODE_ENABLE_PARTIAL_WRITE", NM_SSL_MODE_ENABLE_PARTIAL_WRITE,
     SSL_MODE_ENABLE_PARTIAL_WRITE},
    {"SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER",
     NM_SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER,
     SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER},
    {"SSL_CTRL_MODE", NM_SSL_CTRL_MODE, SSL_CTRL_MODE},
    {"SSL_CTRL_CLEAR_MODE", NM_SSL_CTRL_CLEAR_MODE, SSL_CTRL_CLEAR_MODE},
    {"SSL_READ_EARLY_DATA_SUCCESS", NM_SSL_READ_EARLY_DATA_SUCCESS,
     SSL_READ_EARLY_DATA_SUCCESS},
};

static void shim_constants_equal_openssl_header(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        if (rows[i].ours != rows[i].openssl)
            print_error("%s: shim %ld, openssl/ssl.h %ld\n", rows[i].name,
                        rows[i].ours, rows[i].openssl);
        assert_int_equal(rows[i].ours, rows[i].openssl);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(shim_constants_equal_openssl_header),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
