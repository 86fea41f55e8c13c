/* snapshot_writer.h - keeps the snapshot file (common/snapshot.h) in step
 * with the store: changes are batched and applied at most every
 * NM_SNAPW_BATCH_MS, in place under the seqlock; when the table fills up a
 * bigger file replaces it by rename and the old one is marked retired. */
#ifndef NM_SNAPSHOT_WRITER_H
#define NM_SNAPSHOT_WRITER_H

#include <event2/event.h>
#include <stdint.h>

#include "nm.h"
#include "store.h"

#define NM_SNAPW_BATCH_MS 50

typedef struct nm_snapw nm_snapw_t;

/* Creates path (replacing and retiring any previous snapshot) from the
 * store's current content. NULL with errno set on failure. */
nm_snapw_t *nm_snapw_open(struct event_base *base, const char *path,
                          const nm_store_t *store);

/* Store change callback (nm_store_change_fn): queues key for the next
 * batch. */
void nm_snapw_mark(void *snapw, nm_store_kind_t kind, const char *key);

/* Applies queued changes now (also run by the batch timer). */
void nm_snapw_flush(nm_snapw_t *w);

/* What a shim would answer: is host + target under a disabled prefix in
 * the published snapshot? */
bool nm_snapw_is_disabled(const nm_snapw_t *w, nm_slice_t host,
                          nm_slice_t target);

/* What a shim would answer: host + target's configured freshness
 * (nm_snapshot_fresh_for) in the published snapshot. */
int64_t nm_snapw_fresh_for(const nm_snapw_t *w, nm_slice_t host,
                           nm_slice_t target);

/* Publishes notmodd --accelerate origin: routes without a fresh prefix
 * honour the origin's freshness. */
void nm_snapw_set_accelerate_origin(nm_snapw_t *w, bool is_origin);

uint64_t nm_snapw_generation(const nm_snapw_t *w);
const char *nm_snapw_path(const nm_snapw_t *w);

/* Flushes, unmaps and frees; the file stays for the shims. */
void nm_snapw_close(nm_snapw_t *w);

#endif
