/* scan.c - the byte classes of scan.h, built once from their definitions
 * (a table is what the byte loop after the blocks reads fastest). */
#include "scan.h"

#define V(c) ((c) == '\t' || ((c) >= 0x20 && (c) != 0x7f) || (c) >= 0x80)
#define E(c) ((c) == 0x21 || ((c) >= 0x23 && (c) <= 0x7e) || (c) >= 0x80)
#define T(c) (((c) >= 0x21 && (c) != 0x7f) || (c) >= 0x80)
#define B(c)                                                                   \
    (V(c) << NM_SCAN_VALUE | E(c) << NM_SCAN_ETAGC | T(c) << NM_SCAN_TARGET)
#define B4(c) B(c), B(c + 1), B(c + 2), B(c + 3)
#define B16(c) B4(c), B4(c + 4), B4(c + 8), B4(c + 12)
#define B64(c) B16(c), B16(c + 16), B16(c + 32), B16(c + 48)

const uint8_t nm_scan_classes[256] = {B64(0), B64(64), B64(128), B64(192)};
