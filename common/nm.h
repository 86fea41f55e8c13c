/* nm.h - basics shared by every common/ module: status codes, byte
 * slices and request methods. Included by the shim, the daemon, the pcap
 * observer and the tests; holds no logic of its own. */
#ifndef NM_NM_H
#define NM_NM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Status codes: functions return 0 or a positive count on success and one
 * of these (negative) on failure. */
enum {
    NM_OK = 0,
    NM_E_PARSE = -1,       /* input is not what the grammar allows */
    NM_E_AMBIGUOUS = -2,   /* framing could be read two ways: stop touching */
    NM_E_TOO_LONG = -3,    /* a line, field or count passed our limit */
    NM_E_NOSPACE = -4,     /* the caller's output buffer is too small */
    NM_E_UNSUPPORTED = -5, /* valid HTTP we choose not to follow (upgrade...) */
    NM_E_INVAL = -6,       /* bad argument */
};

/* A view of bytes owned by someone else; ptr == NULL means "absent". */
typedef struct nm_slice {
    const char *ptr;
    size_t len;
} nm_slice_t;

/* Request methods notmod tells apart; everything else is NM_METHOD_OTHER. */
typedef enum nm_method {
    NM_METHOD_OTHER = 0,
    NM_METHOD_GET,
    NM_METHOD_HEAD,
    NM_METHOD_POST,
    NM_METHOD_PUT,
    NM_METHOD_DELETE,
    NM_METHOD_OPTIONS,
    NM_METHOD_CONNECT,
    NM_METHOD_TRACE,
    NM_METHOD_PATCH,
} nm_method_t;

#endif
