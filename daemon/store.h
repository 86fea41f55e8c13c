/* store.h - the validator store. The working set always lives in memory
 * (store_mem.c): per URL the current tag, the first time that tag was seen
 * (Last-Modified synthesis), an operator pin; plus disabled route prefixes.
 * An optional backend (store_redis.c) makes it fleet-wide and persistent:
 * the memory store calls its hooks on every change and the backend feeds
 * back what Redis knows (nm_store_learn_*). Without a backend, a state file
 * keeps the store across clean restarts. Users: events, control, snapshot
 * writer, stats. */
#ifndef NM_STORE_H
#define NM_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct nm_store nm_store_t;

/* One URL. Strings are owned by the store; valid until the next change. */
typedef struct nm_store_rec {
    const char *url;         /* key: host + request-target (url.h) */
    char *tag;               /* last tag a 200 carried, NULL if none */
    int64_t first_seen_unix; /* first time tag was seen for url */
    char *pin_tag;           /* operator's pin, NULL if none */
    int64_t pin_since_unix;  /* first_seen published with the pin */
} nm_store_rec_t;

/* What the snapshot writer is told about; key is a URL or a prefix. */
typedef enum { NM_STORE_CHANGED_URL, NM_STORE_CHANGED_PREFIX } nm_store_kind_t;
typedef void (*nm_store_change_fn)(void *arg, nm_store_kind_t kind,
                                   const char *key);

/* A persistent backend. Every hook is optional and must not block: it
 * queues work and returns. */
typedef struct nm_store_backend {
    void *self;
    /* url's tag (or pin) changed locally; write it back. */
    void (*url_changed)(void *self, const nm_store_rec_t *rec);
    /* rec is about to be purged; forget it fleet-wide. */
    void (*url_purged)(void *self, const nm_store_rec_t *rec);
    void (*prefix_changed)(void *self, const char *prefix, bool is_disabled);
    /* Adds delta to field of hash key (fleet-wide counters). key has no
     * '{' or '}': it must hash whole in Redis Cluster (store_redis.c). */
    void (*count)(void *self, const char *key, const char *field,
                  int64_t delta);
    /* One line for `status`: "redis 127.0.0.1:6379 connected" ... */
    void (*describe)(void *self, char *out, size_t cap);
    /* True when nothing is queued or in flight (clean shutdown waits). */
    bool (*is_idle)(void *self);
    void (*close)(void *self);
} nm_store_backend_t;

/* A new empty store; on_change is called (synchronously) for each change
 * that the snapshot must reflect. NULL on out of memory. */
nm_store_t *nm_store_new(nm_store_change_fn on_change, void *arg);
/* Closes the backend (if any) and frees everything. */
void nm_store_free(nm_store_t *st);

/* Sets (or clears, with NULL) the change callback. */
void nm_store_set_on_change(nm_store_t *st, nm_store_change_fn on_change,
                            void *arg);

/* Attaches a backend; the store owns it from now on. */
void nm_store_set_backend(nm_store_t *st, const nm_store_backend_t *be);
const nm_store_backend_t *nm_store_backend(const nm_store_t *st);

/* A 200 for url left with tag at now: a new or changed tag gets
 * first_seen = now. Returns 1 when something changed, 0 when not, <0 on
 * out of memory. */
int nm_store_observe(nm_store_t *st, const char *url, const char *tag,
                     int64_t now_unix);

/* The record of url, or NULL. */
const nm_store_rec_t *nm_store_get(const nm_store_t *st, const char *url);

/* Forgets url (tag, first_seen, pin). Returns 1 if it existed. */
int nm_store_purge(nm_store_t *st, const char *url);
/* Forgets every URL whose key starts with prefix (a key prefix, see
 * url.h; "/path" matches that path on every host). Returns the count. */
int nm_store_purge_prefix(nm_store_t *st, const char *prefix);

/* Publishes tag for url whatever the server sends, until purged. */
int nm_store_pin(nm_store_t *st, const char *url, const char *tag,
                 int64_t now_unix);

/* Disables or re-enables a route prefix (url.h form). Returns 1 when the
 * state changed. */
int nm_store_set_disabled(nm_store_t *st, const char *prefix, bool is_disabled);
bool nm_store_is_disabled(const nm_store_t *st, const char *prefix);

size_t nm_store_count(const nm_store_t *st);
size_t nm_store_disabled_count(const nm_store_t *st);
void nm_store_each(const nm_store_t *st,
                   void (*fn)(void *arg, const nm_store_rec_t *rec), void *arg);
void nm_store_each_disabled(const nm_store_t *st,
                            void (*fn)(void *arg, const char *prefix),
                            void *arg);

/* Backend feedback: what the fleet store holds. learn_first_seen applies
 * only while url still has tag (a later local change wins); learn_url
 * fills a URL this daemon has not seen; learn_disabled/learn_pin add. They
 * never call the backend's hooks back. */
void nm_store_learn_first_seen(nm_store_t *st, const char *url, const char *tag,
                               int64_t first_seen_unix);
void nm_store_learn_url(nm_store_t *st, const char *url, const char *tag,
                        int64_t first_seen_unix);
void nm_store_learn_pin(nm_store_t *st, const char *url, const char *tag);
void nm_store_learn_disabled(nm_store_t *st, const char *prefix);

/* Writes the whole store to path (temp file + rename): one line per URL
 * "url TAB tag TAB first_seen TAB pin TAB pin_since", "-" for none, and
 * "disabled TAB prefix". Returns 0 or -errno. */
int nm_store_save(const nm_store_t *st, const char *path);
/* Loads a file written by nm_store_save; a missing file is an empty store.
 * Returns the number of records, or -errno / -EINVAL (bad line). */
int nm_store_load(nm_store_t *st, const char *path);

#endif
