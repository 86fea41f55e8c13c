/* storeview.h - the shim's read-only view of notmodd's snapshot
 * (common/snapshot.h): a private copy refreshed from the file at most every
 * 50 ms, looked up with no syscall, no lock and no clock read. No snapshot, or
 * a damaged one, means an empty store. Used by phase.c for disabled routes,
 * pins and the Last-Modified the store remembers for a tag, and by acceleration
 * for the routes' freshness and the URLs' current tags. */
#ifndef NM_SHIM_STOREVIEW_H
#define NM_SHIM_STOREVIEW_H

#include <stdbool.h>
#include <stdint.h>

#include "snapshot.h"

/* Refreshes the copy when it is due (one clock read): at each server read
 * of a followed connection, so that every request, and the response paired
 * with it, is judged by a copy at most 50 ms older than the request (or one
 * second, with no snapshot file); the lookups below read the copy as the
 * last tick left it. */
void nm_storeview_tick(void);

/* True when the store disables the route of host + target. */
bool nm_storeview_is_disabled(const char *host, size_t host_len,
                              const char *target, size_t target_len);

/* Looks the URL of url_key (nm_snapshot_url_key; 0: none) up; true and
 * *hit filled when present. */
bool nm_storeview_lookup(uint64_t url_key, nm_snapshot_hit_t *hit);

/* Might any route be fresh? False: no request needs looking at for
 * acceleration (nm_snapshot_may_be_fresh). */
bool nm_storeview_may_be_fresh(void);

/* The configured freshness of host + target (nm_snapshot_fresh_for): 0
 * when none, or without a snapshot. */
int64_t nm_storeview_fresh_for(const char *host, size_t host_len,
                               const char *target, size_t target_len);

/* The generation of the copy lookups read now (0: none): two lookups of
 * one generation answer alike. */
uint64_t nm_storeview_generation(void);

/* Before fork: a copy due for a refresh is refreshed here, once, so that
 * the children of a server that forks per connection inherit a current
 * one instead of each reading the whole file (a parent that only accepts
 * never looks anything up itself). */
void nm_storeview_before_fork(void);

/* In a fork child: the refresh lock may have been held by another thread. */
void nm_storeview_after_fork_child(void);

#endif
