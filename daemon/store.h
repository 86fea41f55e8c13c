/* store.h - the validator store. The working set always lives in memory
 * (store_mem.c): per URL the current tag and the Last-Modified of its
 * epoch, an operator pin, the URL's high-water mark; plus disabled route
 * prefixes and the freshness of route prefixes (acceleration). An optional
 * backend (store_redis.c) makes it fleet-wide and persistent, and then is the
 * one that assigns dates: the memory store calls its hooks on every change and
 * the backend feeds back what Redis knows (nm_store_learn_*). The state file
 * (nm_store_save/load) keeps the policy across restarts, the dates across clean
 * ones. Users: daemon, control, snapshot writer, stats (counters through the
 * backend). */
#ifndef NM_STORE_H
#define NM_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct nm_store nm_store_t;

/* An epoch of a URL starts when a tag becomes its current tag, and its
 * date (the synthesized Last-Modified) is max(now + 1, hwm + 1): later
 * than every date ever assigned for the URL, so a client holding any
 * earlier content never gets a 304 for this one, and not yet reached in
 * the second it is assigned (the shims publish a date only once their
 * clock has reached it, so no response shows it before it is true). */

/* One URL. Strings are owned by the store; valid until the next change. */
typedef struct nm_store_rec {
    const char *url;     /* key: host + request-target (url.h) */
    char *tag;           /* current tag (the last a 200 carried), or NULL */
    int64_t lm_unix;     /* date of tag's epoch, 0 = none (yet) */
    char *pin_tag;       /* operator's pin, NULL if none */
    int64_t pin_lm_unix; /* date of the pin's epoch, 0 = none (yet) */
    /* Largest date assigned for url, as far as this store knows; a new
     * record starts from the store's floor. */
    int64_t hwm_unix;
    /* Store-wide numbers of the last local change of tag and of pin: a
     * backend hands them back with the date it assigned, so that a reply
     * to an older change is never taken for the current one. */
    uint64_t tag_seq, pin_seq;
} nm_store_rec_t;

/* What the snapshot writer is told about; key is a URL or a prefix. */
typedef enum { NM_STORE_CHANGED_URL, NM_STORE_CHANGED_PREFIX } nm_store_kind_t;
typedef void (*nm_store_change_fn)(void *arg, nm_store_kind_t kind,
                                   const char *key);

/* A persistent backend. Every hook is optional and must not block: it
 * queues work and returns. */
typedef struct nm_store_backend {
    void *self;
    /* url's tag (is_pin false) or pin (is_pin true) changed locally: write
     * it back and find out its date (nm_store_learn_date). */
    void (*url_changed)(void *self, const nm_store_rec_t *rec, bool is_pin);
    /* rec is about to be purged; forget it fleet-wide. */
    void (*url_purged)(void *self, const nm_store_rec_t *rec);
    void (*prefix_changed)(void *self, const char *prefix, bool is_disabled);
    /* prefix's freshness was set (is_set, to fresh_s) or removed. */
    void (*fresh_changed)(void *self, const char *prefix, bool is_set,
                          int64_t fresh_s);
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

/* Attaches a backend; the store owns it from now on, and from now on new
 * epochs get date 0 here until the backend tells their date. */
void nm_store_set_backend(nm_store_t *st, const nm_store_backend_t *be);
const nm_store_backend_t *nm_store_backend(const nm_store_t *st);

/* A 200 for url left with tag at now: a new or changed tag starts a new
 * epoch. Returns 1 when something changed, 0 when not, <0 on out of
 * memory. */
int nm_store_observe(nm_store_t *st, const char *url, const char *tag,
                     int64_t now_unix);

/* The record of url, or NULL. */
const nm_store_rec_t *nm_store_get(const nm_store_t *st, const char *url);

/* The date published for rec: the pin's when pinned, else the tag's. */
int64_t nm_store_published_lm(const nm_store_rec_t *rec);

/* Forgets url (tag, dates, pin); its high-water mark is kept as the
 * store's floor, which every later date exceeds. Returns 1 if it existed. */
int nm_store_purge(nm_store_t *st, const char *url);
/* Forgets every URL whose key starts with prefix (a key prefix, see
 * url.h; "/path" matches that path on every host). Returns the count. */
int nm_store_purge_prefix(nm_store_t *st, const char *prefix);

/* Publishes tag for url whatever the server sends, until purged: a new
 * epoch, unless tag is the one already published unpinned (it keeps its
 * date). Returns 1 when something changed, 0 when not, <0 on OOM. */
int nm_store_pin(nm_store_t *st, const char *url, const char *tag,
                 int64_t now_unix);

/* Disables or re-enables a route prefix (url.h form). Returns 1 when the
 * state changed. */
int nm_store_set_disabled(nm_store_t *st, const char *prefix, bool is_disabled);
bool nm_store_is_disabled(const nm_store_t *st, const char *prefix);

/* Sets (is_set) or removes the freshness of a route prefix (url.h form):
 * seconds > 0, NM_FRESH_ORIGIN, or 0 ("never", common/fresh.h). Returns 1
 * when the state changed, 0 when not, <0 on OOM. */
int nm_store_set_fresh(nm_store_t *st, const char *prefix, bool is_set,
                       int64_t fresh_s);
/* True, with *fresh_s, when prefix has a freshness of its own. */
bool nm_store_get_fresh(const nm_store_t *st, const char *prefix,
                        int64_t *fresh_s);

size_t nm_store_count(const nm_store_t *st);
size_t nm_store_disabled_count(const nm_store_t *st);
size_t nm_store_fresh_count(const nm_store_t *st);
void nm_store_each(const nm_store_t *st,
                   void (*fn)(void *arg, const nm_store_rec_t *rec), void *arg);
void nm_store_each_disabled(const nm_store_t *st,
                            void (*fn)(void *arg, const char *prefix),
                            void *arg);
void nm_store_each_fresh(const nm_store_t *st,
                         void (*fn)(void *arg, const char *prefix,
                                    int64_t fresh_s),
                         void *arg);

/* Backend feedback: what the fleet store holds. They never call the
 * backend's hooks back. learn_date gives the date of the change numbered
 * seq (rec's tag_seq, or pin_seq when is_pin) and applies only while that
 * change is still the URL's latest; learn_url fills a URL this store does
 * not hold; learn_pin sets a pin and its date unless the URL was pinned
 * here; learn_disabled adds; learn_fresh makes the freshness rules those
 * n of the fleet store (adding, changing and removing). */
void nm_store_learn_date(nm_store_t *st, const char *url, bool is_pin,
                         uint64_t seq, int64_t lm_unix);
void nm_store_learn_url(nm_store_t *st, const char *url, const char *tag,
                        int64_t lm_unix, int64_t hwm_unix);
void nm_store_learn_pin(nm_store_t *st, const char *url, const char *tag,
                        int64_t pin_lm_unix);
void nm_store_learn_disabled(nm_store_t *st, const char *prefix);
void nm_store_learn_fresh(nm_store_t *st, const char *const *prefixes,
                          const int64_t *fresh_s, size_t n);

/* What nm_store_save writes: the policy (disabled prefixes, freshness,
 * pins, the date floor) always, the records (tags and their dates) only with
 * ALL. */
typedef enum { NM_STORE_SAVE_POLICY, NM_STORE_SAVE_ALL } nm_store_save_t;

/* Writes the store to path (temp file + fsync + rename). Lines, fields
 * separated by TAB: "floor D" (every later date exceeds D), "url URL TAG
 * LM HWM", "pin URL TAG", "disabled PREFIX", "fresh PREFIX SETTING"
 * (nm_fresh_setting_format). Returns 0 or -errno. */
int nm_store_save(const nm_store_t *st, const char *path, nm_store_save_t what);

/* Loads a file written by nm_store_save; a missing file is an empty store.
 * From then on new dates exceed the file's floor and now + 1 (the writer
 * may have assigned now + 1 just before it died). Records keep their
 * dates, but only without a backend (with one, the backend has them). Pins,
 * disabled prefixes and freshness are applied again as an operator would, so
 * they reach the backend; without a backend each pin starts a new epoch at now
 * (the file does not say what was published before it), with one the backend
 * says its date. Files of the first format (url first, first-seen times) give
 * their policy only. Returns the number of records and pins loaded, or -errno /
 * -EINVAL (bad line). */
int nm_store_load(nm_store_t *st, const char *path, int64_t now_unix);

#endif
