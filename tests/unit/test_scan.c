/* test_scan.c - nm_scan (scan.h), the block scan behind field values,
 * entity-tags and request-targets: the first byte outside a class, found
 * 16 bytes at a time, must be the one a byte-by-byte walk finds, for
 * every class, span length, start and position of the byte. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "scan.h"

/* The definition: the table, one byte at a time. */
static size_t scan_bytes(const unsigned char *s, size_t i, size_t lim,
                         enum nm_scan_class k)
{
    while (i < lim && (nm_scan_classes[s[i]] & (1u << k)))
        i++;
    return i;
}

/* Spans of 0 to 70 bytes from offsets 0 to 3, every byte value at every
 * position (and none outside at all), in each class. */
static void scan_finds_the_first_byte_outside_like_the_table(void **state)
{
    (void)state;
    static const enum nm_scan_class classes[] = {NM_SCAN_VALUE, NM_SCAN_ETAGC,
                                                 NM_SCAN_TARGET};
    unsigned char s[80];
    for (size_t c = 0; c < 3; c++) {
        enum nm_scan_class k = classes[c];
        for (size_t len = 0; len <= 70; len++) {
            for (size_t start = 0; start < 4 && start <= len; start++) {
                for (size_t at = start; at <= len; at++) {
                    for (int v = 0; v < 256; v += at < len ? 1 : 256) {
                        memset(s, 'a', sizeof(s));
                        if (at < len)
                            s[at] = (unsigned char)v;
                        size_t got = nm_scan(s, start, len, k);
                        size_t want = scan_bytes(s, start, len, k);
                        if (got != want)
                            fail_msg("class %zu span [%zu, %zu) byte 0x%02x "
                                     "at %zu: %zu, want %zu",
                                     c, start, len, (unsigned)v, at, got, want);
                    }
                }
            }
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(scan_finds_the_first_byte_outside_like_the_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
