/* event.c - encoder and decoder of the shim -> notmodd event record. Bytes
 * are packed one by one so the format does not depend on struct layout or
 * host endianness. */
#include "event.h"

#include <string.h>

static void put_u16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static void put_u32(uint8_t *p, uint32_t v)
{
    put_u16(p, (uint16_t)v);
    put_u16(p + 2, (uint16_t)(v >> 16));
}

static void put_u64(uint8_t *p, uint64_t v)
{
    put_u32(p, (uint32_t)v);
    put_u32(p + 4, (uint32_t)(v >> 32));
}

static uint16_t get_u16(const uint8_t *p)
{
    return (uint16_t)(p[0] | (p[1] << 8));
}

static uint32_t get_u32(const uint8_t *p)
{
    return get_u16(p) | ((uint32_t)get_u16(p + 2) << 16);
}

static uint64_t get_u64(const uint8_t *p)
{
    return get_u32(p) | ((uint64_t)get_u32(p + 4) << 32);
}

/* Separator-free strings: see nm_event_decode in event.h. */
static bool is_clean(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c <= 0x20 || c == 0x7f)
            return false;
    }
    return true;
}

static size_t slice_len(nm_slice_t s)
{
    return s.ptr ? s.len : 0;
}

int nm_event_encode(void *buf, size_t cap, const nm_event_t *ev)
{
    if (!buf || !ev)
        return NM_E_INVAL;
    if (ev->outcome >= NM_OUTCOME_COUNT_ || (ev->flags & ~NM_EVENT_F_ALL))
        return NM_E_INVAL;
    if ((ev->flags & NM_EVENT_F_TLS_FIRST) && !(ev->flags & NM_EVENT_F_TLS))
        return NM_E_INVAL;
    /* Version 1 while the record fits it: older daemons keep reading. */
    bool is_v2 = ev->outcome == NM_OUTCOME_ACCELERATED_304 ||
                 (ev->flags & ~NM_EVENT_F_ALL_V1);
    bool is_timed = ev->flags & NM_EVENT_F_TIMED;
    size_t vlen = slice_len(ev->validator), hlen = slice_len(ev->host);
    size_t plen = slice_len(ev->path);
    if (vlen > NM_EVENT_VALIDATOR_MAX || hlen > NM_EVENT_HOST_MAX ||
        plen > NM_EVENT_PATH_MAX)
        return NM_E_TOO_LONG;
    bool has_token = ev->flags & NM_EVENT_F_TOKEN;
    size_t total = NM_EVENT_FIXED_LEN + (has_token ? 8 : 0) +
                   (is_timed ? 4 : 0) + 1 + vlen + 1 + hlen + 2 + plen;
    if (total > cap)
        return NM_E_NOSPACE;

    uint8_t *p = buf;
    put_u32(p, NM_EVENT_MAGIC);
    p[4] = is_v2 ? 2 : 1;
    p[5] = ev->flags;
    p[6] = ev->method;
    p[7] = ev->outcome;
    put_u16(p + 8, ev->status);
    put_u16(p + 10, ev->reason);
    put_u32(p + 12, ev->pid);
    put_u64(p + 16, ev->body_len);
    put_u64(p + 24, ev->bytes_saved);
    p += NM_EVENT_FIXED_LEN;
    if (has_token) {
        put_u64(p, ev->token);
        p += 8;
    }
    if (is_timed) {
        put_u32(p, ev->server_us);
        p += 4;
    }
    *p++ = (uint8_t)vlen;
    if (vlen)
        memcpy(p, ev->validator.ptr, vlen);
    p += vlen;
    *p++ = (uint8_t)hlen;
    if (hlen)
        memcpy(p, ev->host.ptr, hlen);
    p += hlen;
    put_u16(p, (uint16_t)plen);
    p += 2;
    if (plen)
        memcpy(p, ev->path.ptr, plen);
    return (int)total;
}

/* A bounds-checked cursor over the record being decoded. */
typedef struct cursor {
    const uint8_t *p;
    size_t left;
} cursor_t;

/* Takes a string with a little-endian length prefix of width bytes (1 or
 * 2); false when the record is too short, the length passes max or the
 * string holds a forbidden byte. */
static bool take_str(cursor_t *c, size_t width, size_t max, nm_slice_t *out)
{
    if (c->left < width)
        return false;
    size_t n = width == 1 ? c->p[0] : get_u16(c->p);
    c->p += width;
    c->left -= width;
    if (n > max || n > c->left)
        return false;
    out->ptr = (const char *)c->p;
    out->len = n;
    c->p += n;
    c->left -= n;
    return is_clean(out->ptr, n);
}

int nm_event_decode(const void *buf, size_t len, nm_event_t *ev)
{
    if (!buf || !ev)
        return NM_E_INVAL;
    const uint8_t *p = buf;
    if (len < 5 || get_u32(p) != NM_EVENT_MAGIC)
        return NM_E_PARSE;
    if (p[4] != 1 && p[4] != 2)
        return NM_E_UNSUPPORTED;
    bool is_v2 = p[4] == 2;
    if (len < NM_EVENT_FIXED_LEN)
        return NM_E_PARSE;

    memset(ev, 0, sizeof(*ev));
    ev->flags = p[5];
    ev->method = p[6];
    ev->outcome = p[7];
    ev->status = get_u16(p + 8);
    ev->reason = get_u16(p + 10);
    ev->pid = get_u32(p + 12);
    ev->body_len = get_u64(p + 16);
    ev->bytes_saved = get_u64(p + 24);
    if ((ev->flags & ~(is_v2 ? NM_EVENT_F_ALL : NM_EVENT_F_ALL_V1)) ||
        ev->outcome >=
            (is_v2 ? NM_OUTCOME_COUNT_ : NM_OUTCOME_ACCELERATED_304) ||
        ev->method > NM_METHOD_PATCH)
        return NM_E_PARSE;
    /* A version 2 record uses what only version 2 has: one record, one
     * encoding. */
    if (is_v2 && ev->outcome != NM_OUTCOME_ACCELERATED_304 &&
        !(ev->flags & ~NM_EVENT_F_ALL_V1))
        return NM_E_PARSE;
    if ((ev->flags & NM_EVENT_F_TLS_FIRST) && !(ev->flags & NM_EVENT_F_TLS))
        return NM_E_PARSE;

    cursor_t c = {p + NM_EVENT_FIXED_LEN, len - NM_EVENT_FIXED_LEN};
    if (ev->flags & NM_EVENT_F_TOKEN) {
        if (c.left < 8)
            return NM_E_PARSE;
        ev->token = get_u64(c.p);
        c.p += 8;
        c.left -= 8;
    }
    if (ev->flags & NM_EVENT_F_TIMED) {
        if (c.left < 4)
            return NM_E_PARSE;
        ev->server_us = get_u32(c.p);
        c.p += 4;
        c.left -= 4;
    }
    if (!take_str(&c, 1, NM_EVENT_VALIDATOR_MAX, &ev->validator) ||
        !take_str(&c, 1, NM_EVENT_HOST_MAX, &ev->host) ||
        !take_str(&c, 2, NM_EVENT_PATH_MAX, &ev->path))
        return NM_E_PARSE;
    if (c.left != 0)
        return NM_E_PARSE; /* trailing bytes: not a record we wrote */
    return NM_OK;
}

const char *nm_event_outcome_name(unsigned outcome)
{
    static const char *const names[NM_OUTCOME_COUNT_] = {
        "passed",    "tag_added",   "substituted_304", "server_304",
        "cond_miss", "not_handled", "accelerated_304",
    };
    return outcome < NM_OUTCOME_COUNT_ ? names[outcome] : "?";
}
