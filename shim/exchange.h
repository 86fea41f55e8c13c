/* exchange.h - requests and their responses, paired: the read side feeds
 * the request parser and queues each request read; the write side starts a
 * response by pairing it with the oldest request, and ends it by reporting
 * what became of it (report.h) and dropping that request. Used by the
 * hooks (what the server read), phase.c and process.c. */
#ifndef NM_SHIM_EXCHANGE_H
#define NM_SHIM_EXCHANGE_H

#include "conn.h"

#include <stdbool.h>
#include <stddef.h>
#include <sys/uio.h>

/* The server read n bytes (spread over iov) from c: they feed the request
 * parser. Body bytes of the request being answered release what is held:
 * its client may wait for the response to what it sent. */
void nm_exchange_on_read(struct nm_conn *c, const struct iovec *iov, int iovcnt,
                         size_t n);

/* One identity per origin (origin.h) for store keys, counters and routes:
 * r's Host and target as the store knows them (in place). True when made
 * so (the host is then in lower case); false for a request cut short or
 * a target in neither origin- nor absolute-form, left as sent. */
bool nm_exchange_canon_origin(nm_req_t *r);

/* The store key of r's URL (canonical already), 0 when its Host or
 * target was cut short. */
uint64_t nm_exchange_url_key(const nm_req_t *r);

/* The next byte the server writes starts a response: pair it with its
 * request and choose the phase it begins in (gives up when there is no
 * request). */
void nm_exchange_start(struct nm_conn *c);

/* The message ended: report it, and the next byte belongs to the next
 * response. A 1xx is not final, so its request stays at the front. */
void nm_exchange_end(struct nm_conn *c);

/* The parser reports the end of a message on the call after its last byte
 * (http_resp.h): asks for it as an empty feed would, without the feed's
 * checks (about 45 instructions a response). True when the message is
 * complete. */
static inline bool nm_exchange_is_done(struct nm_conn *c)
{
    return c->resp != NULL && nm_http_resp_take_done(&c->respp);
}

#endif
