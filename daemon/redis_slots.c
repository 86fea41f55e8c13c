/* redis_slots.c - see redis_slots.h. Bitwise CRC: a key is hashed once per
 * command, and the command costs a round trip to Redis; a table would save
 * nothing measurable. */
#include "redis_slots.h"

#include <stdlib.h>
#include <string.h>

uint16_t nm_redis_crc16(const void *buf, size_t len)
{
    const unsigned char *p = buf;
    uint16_t crc = 0;
    for (size_t i = 0; i < len; i++) {
        crc ^= (uint16_t)(p[i] << 8);
        for (int bit = 0; bit < 8; bit++)
            crc = (uint16_t)(crc & 0x8000 ? (crc << 1) ^ 0x1021 : crc << 1);
    }
    return crc;
}

unsigned nm_redis_keyslot(const char *key, size_t len)
{
    const char *open = memchr(key, '{', len);
    if (open) {
        size_t rest = len - (size_t)(open - key) - 1;
        const char *close = memchr(open + 1, '}', rest);
        /* "{}" is no tag: the whole key is hashed. */
        if (close && close > open + 1)
            return nm_redis_crc16(open + 1, (size_t)(close - open - 1)) &
                   (NM_REDIS_SLOTS - 1);
    }
    return nm_redis_crc16(key, len) & (NM_REDIS_SLOTS - 1);
}

nm_redis_redirect_t nm_redis_parse_redirect(const char *err, unsigned *slot,
                                            char *host, size_t host_cap,
                                            int *port)
{
    nm_redis_redirect_t kind;
    if (strncmp(err, "MOVED ", 6) == 0) {
        kind = NM_REDIS_REDIRECT_MOVED;
        err += 6;
    } else if (strncmp(err, "ASK ", 4) == 0) {
        kind = NM_REDIS_REDIRECT_ASK;
        err += 4;
    } else {
        return NM_REDIS_REDIRECT_NONE;
    }
    char *end;
    unsigned long s = strtoul(err, &end, 10);
    if (end == err || *end != ' ' || s >= NM_REDIS_SLOTS)
        return NM_REDIS_REDIRECT_NONE;
    const char *node = end + 1;
    /* The last ':' splits host and port: an IPv6 host has colons too. */
    const char *colon = strrchr(node, ':');
    if (!colon)
        return NM_REDIS_REDIRECT_NONE;
    size_t hlen = (size_t)(colon - node);
    long p = strtol(colon + 1, &end, 10);
    if (hlen >= host_cap || end == colon + 1 || *end || p <= 0 || p > 65535)
        return NM_REDIS_REDIRECT_NONE;
    memcpy(host, node, hlen);
    host[hlen] = '\0';
    *slot = (unsigned)s;
    *port = (int)p;
    return kind;
}

int nm_redis_parse_slots(const redisReply *rep, nm_redis_slot_range_t *out)
{
    if (rep->type != REDIS_REPLY_ARRAY)
        return -1;
    for (size_t i = 0; i < rep->elements; i++) {
        const redisReply *r = rep->element[i];
        if (r->type != REDIS_REPLY_ARRAY || r->elements < 3 ||
            r->element[0]->type != REDIS_REPLY_INTEGER ||
            r->element[1]->type != REDIS_REPLY_INTEGER ||
            r->element[2]->type != REDIS_REPLY_ARRAY ||
            r->element[2]->elements < 2 ||
            r->element[2]->element[0]->type != REDIS_REPLY_STRING ||
            r->element[2]->element[1]->type != REDIS_REPLY_INTEGER)
            return -1;
        long long start = r->element[0]->integer, end = r->element[1]->integer;
        long long port = r->element[2]->element[1]->integer;
        if (start < 0 || end >= NM_REDIS_SLOTS || start > end || port <= 0 ||
            port > 65535)
            return -1;
        const char *host = r->element[2]->element[0]->str;
        out[i].start = (unsigned)start;
        out[i].end = (unsigned)end;
        out[i].host = strcmp(host, "?") == 0 ? "" : host;
        out[i].port = (int)port;
    }
    return (int)rep->elements;
}
