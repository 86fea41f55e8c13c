/* tagwatch.h - which synthesized tag this server last served per URL, so a
 * Last-Modified from the store is trusted only when no other tag went out
 * for that URL since the store could have dated the current one. The
 * snapshot is up to 50 ms old and the store learns of a response only after
 * it left: a URL that goes A -> B -> A faster than that still finds A's old
 * date. The table lives in memory shared by every process forked from the
 * one that loaded the shim (prefork servers, fork per connection), so a
 * change one worker served is seen by the others. Used by answer.c. */
#ifndef NM_SHIM_TAGWATCH_H
#define NM_SHIM_TAGWATCH_H

#include <stdint.h>

/* Maps the shared table unless it is mapped. Called before every fork (so
 * that the table exists before a server forks its workers, even one that
 * followed nothing yet) and when the shim becomes active in the process
 * that loaded it; never in a child forked without the atfork handlers
 * (its siblings would each have a table of their own). Without it every
 * answer is "unknown". */
void nm_tagwatch_init(void);

/* Records that tag_key is served for url_key at now_unix (seconds) and
 * returns the latest time another tag may have been served for that URL by
 * this server: a store date must be later to be trusted. INT64_MAX when
 * that cannot be known (table missing, slot busy with another live URL). */
int64_t nm_tagwatch_served(uint64_t url_key, uint64_t tag_key,
                           int64_t now_unix);

#endif
