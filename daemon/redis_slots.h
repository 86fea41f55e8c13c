/* redis_slots.h - Redis Cluster's key-to-slot rule (CRC16 of the key or of
 * its hash tag, modulo 16384), the MOVED / ASK redirections that name a
 * slot's node and the slot map CLUSTER SLOTS gives. Pure functions, no I/O;
 * used by redis_link.c to route each command to the master of its key's slot.
 * Written here because no Cluster client library is packaged in Debian 12 for
 * hiredis 0.14. */
#ifndef NM_REDIS_SLOTS_H
#define NM_REDIS_SLOTS_H

#include <hiredis/hiredis.h>
#include <stddef.h>
#include <stdint.h>

#define NM_REDIS_SLOTS 16384

/* CRC16-CCITT (XMODEM: poly 0x1021, init 0, no reflection), the one the
 * Cluster specification names: crc16("123456789") is 0x31C3. */
uint16_t nm_redis_crc16(const void *buf, size_t len);

/* The slot of key: of its hash tag when it has one (the bytes between the
 * first '{' and the first '}' after it, if not empty), else of all of it. */
unsigned nm_redis_keyslot(const char *key, size_t len);

typedef enum {
    NM_REDIS_REDIRECT_NONE,
    NM_REDIS_REDIRECT_MOVED, /* the slot lives there now: update the map */
    NM_REDIS_REDIRECT_ASK,   /* this key only, this once: ASKING + retry */
} nm_redis_redirect_t;

/* Reads an error reply "MOVED 3999 127.0.0.1:6381" or "ASK ...": the slot
 * and the node (host up to host_cap - 1 bytes, port). NONE for any other
 * error, or one that does not parse. */
nm_redis_redirect_t nm_redis_parse_redirect(const char *err, unsigned *slot,
                                            char *host, size_t host_cap,
                                            int *port);

/* One range of CLUSTER SLOTS: slots start..end (inclusive) are served by
 * the master host:port. host points into the reply; "" means the node
 * that was asked (Redis 7 gives "" or "?" for an unknown endpoint). */
typedef struct nm_redis_slot_range {
    unsigned start, end;
    const char *host;
    int port;
} nm_redis_slot_range_t;

/* Reads a CLUSTER SLOTS reply, [[start, end, [host, port, id, ...],
 * replica...]...], into out (room for rep->elements ranges). Returns the
 * number of ranges, or -1 when any range is not of that shape. */
int nm_redis_parse_slots(const redisReply *rep, nm_redis_slot_range_t *out);

#endif
