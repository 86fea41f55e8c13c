/* headcache.h - a HEAD has no body to hash, so its 200 gets a synthesized
 * tag only when the shim can tie it to exact bytes: the same URL's GET sent
 * a whole file (sendfile) whose tag we hashed, and that file, looked up
 * again by path, still has the same identity (filehash.h). Dynamic bodies
 * never tag a HEAD: equal lengths say nothing about equal bytes. Used by
 * answer.c (get) and phase.c (put). */
#ifndef NM_SHIM_HEADCACHE_H
#define NM_SHIM_HEADCACHE_H

#include <stdbool.h>

#include "filehash.h"
#include "http_req.h"
#include "http_resp.h"

/* Records that a GET's 200 for req was the whole file open as fd, of
 * identity id, and got tag. */
void nm_headcache_put_file(const nm_req_t *req, const nm_resp_t *resp,
                           const char *tag, int fd, const nm_file_id_t *id);

/* For a HEAD's 200: true and tag filled when the same URL's GET was a
 * whole file that still has the recorded identity, with the same length,
 * Last-Modified and Content-Encoding (one stat of the file). */
bool nm_headcache_get(const nm_req_t *req, const nm_resp_t *resp, char *tag);

/* In the child after fork: the cache's lock is free (its holder, another
 * thread, does not exist there). */
void nm_headcache_after_fork_child(void);

#endif
