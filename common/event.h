/* event.h - the record a shim sends notmodd for every response it saw, one
 * unix datagram each: versioned, fixed little-endian header, then three
 * length-prefixed strings. Encoded by the shim, decoded by notmodd and by
 * the tests; pure functions over caller buffers, no I/O, no allocation. */
#ifndef NM_EVENT_H
#define NM_EVENT_H

#include "nm.h"

/* Wire layout, versions 1 and 2 (all integers little-endian):
 *   0  u32 magic "NMEV"       4  u8 version (1, 2)  5  u8 flags
 *   6  u8 method              7  u8 outcome         8  u16 status
 *  10  u16 reason            12  u32 pid           16  u64 body_len
 *  24  u64 bytes_saved
 *  32  u64 token              (only with NM_EVENT_F_TOKEN)
 *  then u32 server_us         (only with NM_EVENT_F_TIMED, version 2)
 *  then u8 validator_len, validator; u8 host_len, host; u16 path_len, path
 * The record must end exactly after path: trailing bytes are malformed.
 * Version 2 adds the outcome NM_OUTCOME_ACCELERATED_304 and the flags
 * NM_EVENT_F_TIMED, NM_EVENT_F_TLS and NM_EVENT_F_TLS_FIRST; a record is
 * written as version 2 only when it uses one of them, so a notmodd that reads
 * version 1 only still gets every other record of a newer shim (and counts
 * those as malformed). */
#define NM_EVENT_MAGIC 0x56454d4eu /* "NMEV" read little-endian */
#define NM_EVENT_VERSION 2         /* the newest this code reads and writes */
#define NM_EVENT_FIXED_LEN 32
#define NM_EVENT_VALIDATOR_MAX 255
#define NM_EVENT_HOST_MAX 255
#define NM_EVENT_PATH_MAX 2048 /* request-target: path + query */
/* Largest record; a datagram buffer of this size always suffices. */
#define NM_EVENT_MAX_LEN                                                       \
    (NM_EVENT_FIXED_LEN + 8 + 4 + 1 + NM_EVENT_VALIDATOR_MAX + 1 +             \
     NM_EVENT_HOST_MAX + 2 + NM_EVENT_PATH_MAX)

/* nm_event_t.flags */
#define NM_EVENT_F_TOKEN (1u << 0)    /* token field present */
#define NM_EVENT_F_COND_INM (1u << 1) /* request carried If-None-Match */
#define NM_EVENT_F_COND_IMS (1u << 2) /* request carried If-Modified-Since */
#define NM_EVENT_F_SYNTH_TAG                                                   \
    (1u << 3) /* validator was synthesized by notmod                           \
               */
/* server_us present: how long the server took over this response
 * (version 2) */
#define NM_EVENT_F_TIMED (1u << 4)
/* the response went inside the server's own TLS (version 2) */
#define NM_EVENT_F_TLS (1u << 5)
/* with NM_EVENT_F_TLS: the first response of its TLS connection, so that
 * connections followed over TLS can be counted (version 2) */
#define NM_EVENT_F_TLS_FIRST (1u << 6)
#define NM_EVENT_F_ALL_V1 0x0fu
#define NM_EVENT_F_ALL 0x7fu

/* What the shim did with the response. */
typedef enum nm_event_outcome {
    NM_OUTCOME_PASSED = 0,      /* sent as the server wrote it */
    NM_OUTCOME_TAG_ADDED,       /* a 200 that left with notmod's ETag */
    NM_OUTCOME_SUBSTITUTED_304, /* notmod replaced a 200 by a 304 */
    NM_OUTCOME_SERVER_304,      /* the server answered 304 itself */
    NM_OUTCOME_COND_MISS,       /* a revalidation answered with a full 200 */
    NM_OUTCOME_NOT_HANDLED,     /* notmod stood aside; see reason */
    /* notmod answered 304 before the server saw the request, from the
     * stored 200 head, while fresh (docs/acceleration.md; version 2) */
    NM_OUTCOME_ACCELERATED_304,
    NM_OUTCOME_COUNT_
} nm_event_outcome_t;

/* Why a response was NM_OUTCOME_NOT_HANDLED (0 for the other outcomes).
 * Unknown values up to 0xffff decode fine: newer shims may add reasons. */
enum {
    NM_REASON_NONE = 0,
    NM_REASON_METHOD,       /* not GET or HEAD */
    NM_REASON_STATUS,       /* not a 200 */
    NM_REASON_TOO_LARGE,    /* body over NOTMOD_HOLD_MAX */
    NM_REASON_STREAMING,    /* event stream or a stalled half response */
    NM_REASON_PARSE,        /* request or response did not parse */
    NM_REASON_DISABLED,     /* route disabled in the snapshot */
    NM_REASON_PRECONDITION, /* If-Match / If-Unmodified-Since present */
    NM_REASON_RANGE,        /* 206 or Range handling */
    NM_REASON_ENCODING,     /* framing we do not follow (upgrade...) */
    NM_REASON_OTHER,
};

/* One event. On decode, the slices point into the caller's buffer. */
typedef struct nm_event {
    uint32_t pid;
    uint8_t flags;   /* NM_EVENT_F_* */
    uint8_t method;  /* nm_method_t */
    uint8_t outcome; /* nm_event_outcome_t */
    uint16_t status;
    uint16_t reason;
    uint64_t body_len;    /* body bytes of the response the server wrote */
    uint64_t bytes_saved; /* bytes not sent thanks to a substituted 304 */
    uint64_t token;       /* shared secret, meaningful with NM_EVENT_F_TOKEN */
    /* Wall-clock microseconds from the request complete (its last byte
     * read by the server) to the response's last byte written, with
     * NM_EVENT_F_TIMED; saturates at UINT32_MAX. */
    uint32_t server_us;
    nm_slice_t validator; /* ETag as sent (quotes, W/), len 0 if none */
    nm_slice_t host;      /* Host field value, len 0 if none */
    nm_slice_t path;      /* request-target: path and query */
} nm_event_t;

/* Writes ev into buf. Returns the record length, NM_E_NOSPACE when cap is
 * too small, NM_E_TOO_LONG when a string passes its limit, NM_E_INVAL for
 * out-of-range enums or flags. */
int nm_event_encode(void *buf, size_t cap, const nm_event_t *ev);

/* Parses one record of exactly len bytes into ev (slices point into buf).
 * Returns 0, NM_E_UNSUPPORTED for another version, or NM_E_PARSE for a bad
 * magic, truncation, trailing bytes, bad enums, or a string holding a byte
 * <= 0x20 or 0x7f (none is valid in a Host, request-target or entity-tag,
 * and their absence lets notmodd use spaces and newlines as separators). */
int nm_event_decode(const void *buf, size_t len, nm_event_t *ev);

/* Short stable name of an outcome ("substituted_304"), "?" if unknown. */
const char *nm_event_outcome_name(unsigned outcome);

#endif
