/* headcache.h - the tag of a URL's file, known without a body: a HEAD has
 * no body to hash, and a server's own 304 has none either, yet RFC 9110
 * §15.4.5 wants both to carry the ETag the 200 would. A GET's 200 whose
 * body was a whole file (sent with sendfile, or written from memory and
 * equal, hash for hash, to a file the same thread opened) leaves the URL,
 * the file's path and identity (filehash.h) and its tag here; a HEAD or a
 * 304 of that URL gets the tag only while that file, looked up again by
 * path, keeps that identity. The table is shared by every process forked
 * from the one that loaded the shim (prefork, a process per connection),
 * so a HEAD or a 304 in another worker finds it. Dynamic bodies never
 * enter it: equal lengths say nothing about equal bytes. Used by answer.c
 * (get), phase.c (put) and hooks_fd.c (files opened). */
#ifndef NM_SHIM_HEADCACHE_H
#define NM_SHIM_HEADCACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "filehash.h"
#include "http_resp.h"

/* Maps the shared table, once (later calls return): before the server's
 * first fork (the shim may have followed nothing yet) and when the shim
 * becomes active in the process that loaded it, as tagwatch.h. Without it
 * nothing is remembered. */
void nm_headcache_init(void);

/* Notes that this thread opened fd read-only by path (relative to the
 * working directory or absolute): a body it writes next may be that
 * file's bytes (nm_headcache_put_held). */
void nm_headcache_note_open(int fd, const char *path);

/* Records that a GET's 200 for the URL of url_key (its request's, 0:
 * none; head: its head_len bytes) was the whole file open as fd, of
 * identity id, and got tag. */
void nm_headcache_put_file(uint64_t url_key, const nm_resp_t *resp,
                           const char *head, size_t head_len, const char *tag,
                           int fd, const nm_file_id_t *id);

/* A GET's held 200 (head, body_len bytes of body) got tag: records it as
 * nm_headcache_put_file when a file this thread opened since the last
 * call holds exactly those bytes (same length, same hash). */
void nm_headcache_put_held(uint64_t url_key, const nm_resp_t *resp,
                           const char *head, size_t head_len, const char *tag,
                           uint64_t body_len);

/* For a HEAD's 200: true and tag filled when the same URL's GET was a
 * whole file that still has the recorded identity, with the same length,
 * Last-Modified and Content-Encoding (one stat of the file). */
bool nm_headcache_get(uint64_t url_key, const nm_resp_t *resp, char *tag);

/* For the server's own 304 to a request for url_key: true, tag and the 200's
 * Last-Modified
 * (*lm_unix) filled when the same URL's GET was a whole file without
 * Content-Encoding that still has the recorded identity. */
bool nm_headcache_get_for_304(uint64_t url_key, char *tag, int64_t *lm_unix);

#endif
