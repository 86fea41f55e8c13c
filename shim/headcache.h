/* headcache.h - what this process learned from its GETs, so a HEAD for the
 * same URL can carry the same synthesized tag: a HEAD has no body to hash,
 * so the tag is added only when the GET's Content-Length (and
 * Last-Modified, Content-Encoding) match (issue 4). */
#ifndef NM_SHIM_HEADCACHE_H
#define NM_SHIM_HEADCACHE_H

#include <stdbool.h>

#include "http_req.h"
#include "http_resp.h"

/* Records the tag a GET's 200 got. */
void nm_headcache_put(const nm_req_t *req, const nm_resp_t *resp,
                      const char *tag);

/* For a HEAD's 200: the tag of the matching GET, if one was seen. */
bool nm_headcache_get(const nm_req_t *req, const nm_resp_t *resp, char *tag);

/* In the child after fork: the cache's lock is free (its holder, another
 * thread, does not exist there). */
void nm_headcache_after_fork_child(void);

#endif
