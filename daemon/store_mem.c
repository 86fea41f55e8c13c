/* store_mem.c - the in-memory store (store.h): the embedded default, and
 * the working set in front of Redis. Without a backend it assigns epoch
 * dates itself, from the clock its callers pass in; with one it leaves
 * them 0 until the backend tells them, so that a fleet has one clock. */
#include "store.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fresh.h"
#include "strmap.h"

struct nm_store {
    nm_strmap_t urls;     /* url -> nm_store_rec_t* */
    nm_strmap_t disabled; /* prefix -> (void *)1 */
    nm_strmap_t fresh;    /* prefix -> int64_t* (seconds, origin, never) */
    nm_store_change_fn on_change;
    void *arg;
    nm_store_backend_t be;
    bool has_backend;
    /* The high-water mark a new record starts from: the largest of a
     * purged record (or of a state file), so that purging a URL does not
     * let its next epoch reuse a date. */
    int64_t floor_unix;
    uint64_t last_seq; /* numbers local changes (tag_seq, pin_seq) */
};

static void rec_free(void *v)
{
    nm_store_rec_t *r = v;
    if (!r)
        return;
    free(r->tag);
    free(r->pin_tag);
    free(r);
}

static bool str_eq(const char *a, const char *b)
{
    return a && b && strcmp(a, b) == 0;
}

/* Replaces *slot by a copy of s; false on out of memory. */
static bool set_str(char **slot, const char *s)
{
    char *c = s ? strdup(s) : NULL;
    if (s && !c)
        return false;
    free(*slot);
    *slot = c;
    return true;
}

static void changed(nm_store_t *st, nm_store_kind_t kind, const char *key)
{
    if (st->on_change)
        st->on_change(st->arg, kind, key);
}

nm_store_t *nm_store_new(nm_store_change_fn on_change, void *arg)
{
    nm_store_t *st = calloc(1, sizeof(*st));
    if (!st)
        return NULL;
    nm_strmap_init(&st->urls);
    nm_strmap_init(&st->disabled);
    nm_strmap_init(&st->fresh);
    st->on_change = on_change;
    st->arg = arg;
    return st;
}

void nm_store_free(nm_store_t *st)
{
    if (!st)
        return;
    if (st->has_backend && st->be.close)
        st->be.close(st->be.self);
    nm_strmap_free(&st->urls, rec_free);
    nm_strmap_free(&st->disabled, NULL);
    nm_strmap_free(&st->fresh, free);
    free(st);
}

void nm_store_set_on_change(nm_store_t *st, nm_store_change_fn on_change,
                            void *arg)
{
    st->on_change = on_change;
    st->arg = arg;
}

void nm_store_set_backend(nm_store_t *st, const nm_store_backend_t *be)
{
    st->be = *be;
    st->has_backend = true;
}

const nm_store_backend_t *nm_store_backend(const nm_store_t *st)
{
    return st->has_backend ? &st->be : NULL;
}

int64_t nm_store_published_lm(const nm_store_rec_t *rec)
{
    return rec->pin_tag ? rec->pin_lm_unix : rec->lm_unix;
}

static int64_t max64(int64_t a, int64_t b)
{
    return a > b ? a : b;
}

/* Starts a new epoch of r and returns its date: max(now + 1, hwm + 1).
 * With a backend the date is the backend's (one clock for the fleet): 0
 * until nm_store_learn_date. */
static int64_t new_epoch(nm_store_t *st, nm_store_rec_t *r, int64_t now_unix)
{
    if (st->has_backend)
        return 0;
    int64_t lm = max64(now_unix, r->hwm_unix) + 1;
    r->hwm_unix = lm;
    return lm;
}

static void notify_url(nm_store_t *st, const nm_store_rec_t *r, bool is_pin)
{
    changed(st, NM_STORE_CHANGED_URL, r->url);
    if (st->has_backend && st->be.url_changed)
        st->be.url_changed(st->be.self, r, is_pin);
}

/* The record of url, created empty when absent; NULL on out of memory. */
static nm_store_rec_t *rec_upsert(nm_store_t *st, const char *url)
{
    int is_new;
    nm_strmap_node_t *n = nm_strmap_upsert(&st->urls, url, &is_new);
    if (!n)
        return NULL;
    if (is_new) {
        nm_store_rec_t *r = calloc(1, sizeof(*r));
        if (!r) {
            nm_strmap_remove(&st->urls, url);
            return NULL;
        }
        r->url = n->key;
        r->hwm_unix = st->floor_unix; /* a purged URL may come back */
        n->value = r;
    }
    return n->value;
}

int nm_store_observe(nm_store_t *st, const char *url, const char *tag,
                     int64_t now_unix)
{
    nm_store_rec_t *r = rec_upsert(st, url);
    if (!r)
        return -ENOMEM;
    if (str_eq(r->tag, tag))
        return 0;
    if (!set_str(&r->tag, tag))
        return -ENOMEM;
    r->tag_seq = ++st->last_seq;
    r->lm_unix = new_epoch(st, r, now_unix);
    notify_url(st, r, false);
    return 1;
}

const nm_store_rec_t *nm_store_get(const nm_store_t *st, const char *url)
{
    nm_strmap_node_t *n = nm_strmap_find(&st->urls, url);
    return n ? n->value : NULL;
}

int nm_store_purge(nm_store_t *st, const char *url)
{
    nm_strmap_node_t *n = nm_strmap_find(&st->urls, url);
    if (!n)
        return 0;
    nm_store_rec_t *r = n->value;
    st->floor_unix = max64(st->floor_unix, r->hwm_unix);
    if (st->has_backend && st->be.url_purged)
        st->be.url_purged(st->be.self, r);
    /* url points into the node: notify before the node goes away. */
    char *copy = strdup(url);
    rec_free(nm_strmap_remove(&st->urls, url));
    if (copy)
        changed(st, NM_STORE_CHANGED_URL, copy);
    free(copy);
    return 1;
}

/* Does key fall under prefix? "/p" means path p on any host; matches are
 * at '/' or '?' boundaries, as in the snapshot. */
static bool key_has_prefix(const char *key, const char *prefix)
{
    const char *path = key;
    if (prefix[0] == '/') {
        path = strchr(key, '/');
        if (!path)
            return false;
    }
    size_t n = strlen(prefix);
    if (strncmp(path, prefix, n) != 0)
        return false;
    char next = path[n];
    return next == '\0' || next == '/' || next == '?' || prefix[n - 1] == '/';
}

struct purge_walk {
    const char *prefix;
    nm_strmap_t victims;
};

static void collect_prefix(void *arg, nm_strmap_node_t *n)
{
    struct purge_walk *w = arg;
    if (key_has_prefix(n->key, w->prefix))
        nm_strmap_upsert(&w->victims, n->key, NULL);
}

static void purge_one(void *arg, nm_strmap_node_t *n)
{
    nm_store_purge(arg, n->key);
}

int nm_store_purge_prefix(nm_store_t *st, const char *prefix)
{
    struct purge_walk w = {prefix, {0}};
    nm_strmap_init(&w.victims);
    nm_strmap_each(&st->urls, collect_prefix, &w);
    int count = (int)w.victims.count;
    nm_strmap_each(&w.victims, purge_one, st);
    nm_strmap_free(&w.victims, NULL);
    return count;
}

/* Pins tag on url. may_keep: pinning the tag already published unpinned
 * changes nothing a client sees, so it keeps that epoch's date. */
static int pin(nm_store_t *st, const char *url, const char *tag,
               int64_t now_unix, bool may_keep)
{
    nm_store_rec_t *r = rec_upsert(st, url);
    if (!r)
        return -ENOMEM;
    if (str_eq(r->pin_tag, tag))
        return 0;
    bool is_kept = may_keep && !r->pin_tag && str_eq(r->tag, tag);
    if (!set_str(&r->pin_tag, tag))
        return -ENOMEM;
    r->pin_seq = ++st->last_seq;
    r->pin_lm_unix = is_kept ? r->lm_unix : new_epoch(st, r, now_unix);
    notify_url(st, r, true);
    return 1;
}

int nm_store_pin(nm_store_t *st, const char *url, const char *tag,
                 int64_t now_unix)
{
    return pin(st, url, tag, now_unix, true);
}

int nm_store_set_disabled(nm_store_t *st, const char *prefix, bool is_disabled)
{
    if (nm_store_is_disabled(st, prefix) == is_disabled)
        return 0;
    if (is_disabled) {
        nm_strmap_node_t *n = nm_strmap_upsert(&st->disabled, prefix, NULL);
        if (!n)
            return -ENOMEM;
        n->value = (void *)1;
    } else {
        nm_strmap_remove(&st->disabled, prefix);
    }
    changed(st, NM_STORE_CHANGED_PREFIX, prefix);
    if (st->has_backend && st->be.prefix_changed)
        st->be.prefix_changed(st->be.self, prefix, is_disabled);
    return 1;
}

bool nm_store_is_disabled(const nm_store_t *st, const char *prefix)
{
    return nm_strmap_find(&st->disabled, prefix) != NULL;
}

/* Applies a freshness change locally; true when something changed. */
static int put_fresh(nm_store_t *st, const char *prefix, bool is_set,
                     int64_t fresh_s)
{
    int64_t cur;
    bool has = nm_store_get_fresh(st, prefix, &cur);
    if (has == is_set && (!is_set || cur == fresh_s))
        return 0;
    if (is_set) {
        nm_strmap_node_t *n = nm_strmap_upsert(&st->fresh, prefix, NULL);
        if (!n)
            return -ENOMEM;
        if (!n->value && !(n->value = malloc(sizeof(int64_t)))) {
            nm_strmap_remove(&st->fresh, prefix);
            return -ENOMEM;
        }
        *(int64_t *)n->value = fresh_s;
    } else {
        free(nm_strmap_remove(&st->fresh, prefix));
    }
    changed(st, NM_STORE_CHANGED_PREFIX, prefix);
    return 1;
}

int nm_store_set_fresh(nm_store_t *st, const char *prefix, bool is_set,
                       int64_t fresh_s)
{
    int rc = put_fresh(st, prefix, is_set, fresh_s);
    if (rc > 0 && st->has_backend && st->be.fresh_changed)
        st->be.fresh_changed(st->be.self, prefix, is_set, fresh_s);
    return rc;
}

bool nm_store_get_fresh(const nm_store_t *st, const char *prefix,
                        int64_t *fresh_s)
{
    nm_strmap_node_t *n = nm_strmap_find(&st->fresh, prefix);
    if (n && fresh_s)
        *fresh_s = *(const int64_t *)n->value;
    return n != NULL;
}

size_t nm_store_fresh_count(const nm_store_t *st)
{
    return st->fresh.count;
}

size_t nm_store_count(const nm_store_t *st)
{
    return st->urls.count;
}

size_t nm_store_disabled_count(const nm_store_t *st)
{
    return st->disabled.count;
}

struct each_ctx {
    void (*rec_fn)(void *arg, const nm_store_rec_t *rec);
    void (*str_fn)(void *arg, const char *s);
    void (*fresh_fn)(void *arg, const char *prefix, int64_t fresh_s);
    void *arg;
};

static void each_rec(void *arg, nm_strmap_node_t *n)
{
    struct each_ctx *c = arg;
    c->rec_fn(c->arg, n->value);
}

static void each_key(void *arg, nm_strmap_node_t *n)
{
    struct each_ctx *c = arg;
    c->str_fn(c->arg, n->key);
}

void nm_store_each(const nm_store_t *st,
                   void (*fn)(void *arg, const nm_store_rec_t *rec), void *arg)
{
    struct each_ctx c = {.rec_fn = fn, .arg = arg};
    nm_strmap_each(&st->urls, each_rec, &c);
}

void nm_store_each_disabled(const nm_store_t *st,
                            void (*fn)(void *arg, const char *prefix),
                            void *arg)
{
    struct each_ctx c = {.str_fn = fn, .arg = arg};
    nm_strmap_each(&st->disabled, each_key, &c);
}

static void each_fresh(void *arg, nm_strmap_node_t *n)
{
    struct each_ctx *c = arg;
    c->fresh_fn(c->arg, n->key, *(const int64_t *)n->value);
}

void nm_store_each_fresh(const nm_store_t *st,
                         void (*fn)(void *arg, const char *prefix,
                                    int64_t fresh_s),
                         void *arg)
{
    struct each_ctx c = {.fresh_fn = fn, .arg = arg};
    nm_strmap_each(&st->fresh, each_fresh, &c);
}

void nm_store_learn_date(nm_store_t *st, const char *url, bool is_pin,
                         uint64_t seq, int64_t lm_unix)
{
    nm_strmap_node_t *n = nm_strmap_find(&st->urls, url);
    nm_store_rec_t *r = n ? n->value : NULL;
    if (!r || lm_unix <= 0)
        return;
    r->hwm_unix = max64(r->hwm_unix, lm_unix);
    /* A reply to an older change (the tag went A, B, A again while it was
     * under way) must not date the current one. */
    if (seq != (is_pin ? r->pin_seq : r->tag_seq))
        return;
    int64_t *slot = is_pin ? &r->pin_lm_unix : &r->lm_unix;
    if (*slot == lm_unix)
        return;
    *slot = lm_unix;
    changed(st, NM_STORE_CHANGED_URL, url);
}

void nm_store_learn_url(nm_store_t *st, const char *url, const char *tag,
                        int64_t lm_unix, int64_t hwm_unix)
{
    if (nm_strmap_find(&st->urls, url))
        return; /* what this daemon saw itself is newer */
    nm_store_rec_t *r = rec_upsert(st, url);
    if (!r || !set_str(&r->tag, tag))
        return;
    r->lm_unix = lm_unix;
    r->hwm_unix = max64(r->hwm_unix, max64(hwm_unix, lm_unix));
    changed(st, NM_STORE_CHANGED_URL, url);
}

void nm_store_learn_pin(nm_store_t *st, const char *url, const char *tag,
                        int64_t pin_lm_unix)
{
    nm_store_rec_t *r = rec_upsert(st, url);
    /* A pin made here is newer (its date comes with its own reply). */
    if (!r || r->pin_seq != 0 ||
        (str_eq(r->pin_tag, tag) && r->pin_lm_unix == pin_lm_unix))
        return;
    if (!set_str(&r->pin_tag, tag))
        return;
    r->pin_lm_unix = pin_lm_unix;
    r->hwm_unix = max64(r->hwm_unix, pin_lm_unix);
    changed(st, NM_STORE_CHANGED_URL, url);
}

void nm_store_learn_disabled(nm_store_t *st, const char *prefix)
{
    if (nm_store_is_disabled(st, prefix))
        return;
    nm_strmap_node_t *n = nm_strmap_upsert(&st->disabled, prefix, NULL);
    if (!n)
        return;
    n->value = (void *)1;
    changed(st, NM_STORE_CHANGED_PREFIX, prefix);
}

struct learn_ctx {
    nm_store_t *st;
    const char *const *prefixes;
    size_t n;
    nm_strmap_t gone;
};

static void collect_gone(void *arg, nm_strmap_node_t *node)
{
    struct learn_ctx *c = arg;
    for (size_t i = 0; i < c->n; i++)
        if (strcmp(c->prefixes[i], node->key) == 0)
            return;
    nm_strmap_upsert(&c->gone, node->key, NULL);
}

static void remove_gone(void *arg, nm_strmap_node_t *node)
{
    put_fresh(arg, node->key, false, 0);
}

void nm_store_learn_fresh(nm_store_t *st, const char *const *prefixes,
                          const int64_t *fresh_s, size_t n)
{
    /* A rule another daemon removed goes here too: freshness that stays
     * on one host after an operator ended it would be stale 304s. */
    struct learn_ctx c = {st, prefixes, n, {0}};
    nm_strmap_init(&c.gone);
    nm_strmap_each(&st->fresh, collect_gone, &c);
    nm_strmap_each(&c.gone, remove_gone, st);
    nm_strmap_free(&c.gone, NULL);
    for (size_t i = 0; i < n; i++)
        put_fresh(st, prefixes[i], true, fresh_s[i]);
}

/* --- state file ---
 *
 * The records' dates are only true as long as nothing happened that the
 * store did not see: the daemon writes them at a clean shutdown and, once
 * it has read them at start, writes the file again without them (daemon.c).
 * A daemon killed after that start comes back with the policy alone, and
 * every URL starts a new epoch. */

struct save_ctx {
    FILE *f;
    int64_t floor_unix;
};

static void max_hwm(void *arg, const nm_store_rec_t *r)
{
    struct save_ctx *c = arg;
    c->floor_unix = max64(c->floor_unix, r->hwm_unix);
}

static void save_rec(void *arg, const nm_store_rec_t *r)
{
    struct save_ctx *c = arg;
    if (r->tag)
        fprintf(c->f, "url\t%s\t%s\t%" PRId64 "\t%" PRId64 "\n", r->url, r->tag,
                r->lm_unix, r->hwm_unix);
}

static void save_pin(void *arg, const nm_store_rec_t *r)
{
    struct save_ctx *c = arg;
    if (r->pin_tag)
        fprintf(c->f, "pin\t%s\t%s\n", r->url, r->pin_tag);
}

static void save_disabled(void *arg, const char *prefix)
{
    struct save_ctx *c = arg;
    fprintf(c->f, "disabled\t%s\n", prefix);
}

static void save_fresh(void *arg, const char *prefix, int64_t fresh_s)
{
    struct save_ctx *c = arg;
    char v[24];
    if (nm_fresh_setting_format(fresh_s, v, sizeof(v)) > 0)
        fprintf(c->f, "fresh\t%s\t%s\n", prefix, v);
}

int nm_store_save(const nm_store_t *st, const char *path, nm_store_save_t what)
{
    char tmp[4096];
    if (snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, (int)getpid()) >=
        (int)sizeof(tmp))
        return -ENAMETOOLONG;
    FILE *f = fopen(tmp, "we");
    if (!f)
        return -errno;
    struct save_ctx c = {f, st->floor_unix};
    nm_store_each(st, max_hwm, &c);
    fprintf(f, "# notmodd state v2\nfloor\t%" PRId64 "\n", c.floor_unix);
    if (what == NM_STORE_SAVE_ALL)
        nm_store_each(st, save_rec, &c);
    nm_store_each(st, save_pin, &c);
    nm_store_each_disabled(st, save_disabled, &c);
    nm_store_each_fresh(st, save_fresh, &c);
    int rc = 0;
    if (fflush(f) != 0 || fsync(fileno(f)) != 0)
        rc = -errno;
    if (fclose(f) != 0 && rc == 0)
        rc = -errno;
    if (rc == 0 && rename(tmp, path) != 0)
        rc = -errno;
    if (rc != 0)
        unlink(tmp);
    return rc;
}

/* Splits line at tabs into at most max fields; returns the count. */
static int split_tabs(char *line, char **fields, int max)
{
    int n = 0;
    line[strcspn(line, "\n")] = '\0';
    for (char *p = line; n < max;) {
        fields[n++] = p;
        p = strchr(p, '\t');
        if (!p)
            break;
        *p++ = '\0';
    }
    return n;
}

/* Applies one line of a state file; returns 1 for a record or pin, 0 for
 * other lines, -EINVAL for a bad one. */
static int load_line(nm_store_t *st, char **fld, int n, int64_t now_unix)
{
    if (n == 2 && strcmp(fld[0], "floor") == 0) {
        /* Only dates that were published matter to URLs without a record,
         * and none was later than now (a shim publishes a date once its
         * clock reaches it), or now + 1 in a shim's snapshot copy not yet
         * refreshed. A floor far ahead (a URL that flipped many times a
         * second) would keep every new URL without a date that long. */
        int64_t floor = strtoll(fld[1], NULL, 10);
        st->floor_unix =
            max64(st->floor_unix, floor < now_unix + 1 ? floor : now_unix + 1);
        return 0;
    }
    if (n == 2 && strcmp(fld[0], "disabled") == 0)
        return nm_store_set_disabled(st, fld[1], true) < 0 ? -ENOMEM : 0;
    if (n == 5 && strcmp(fld[0], "url") == 0) {
        if (!st->has_backend)
            nm_store_learn_url(st, fld[1], fld[2], strtoll(fld[3], NULL, 10),
                               strtoll(fld[4], NULL, 10));
        return st->has_backend ? 0 : 1;
    }
    if (n == 3 && strcmp(fld[0], "fresh") == 0) {
        int64_t v;
        if (nm_fresh_setting_parse(fld[2], &v) < 0)
            return -EINVAL;
        return nm_store_set_fresh(st, fld[1], true, v) < 0 ? -ENOMEM : 0;
    }
    if (n == 3 && strcmp(fld[0], "pin") == 0)
        return pin(st, fld[1], fld[2], now_unix, false) < 0 ? -ENOMEM : 1;
    /* First format: "url tag first_seen pin pin_since"; its times are not
     * epoch dates, so only the pin is taken. */
    if (n == 5 && strchr(fld[0], '/') != NULL) {
        if (strcmp(fld[3], "-") == 0)
            return 0;
        return pin(st, fld[0], fld[3], now_unix, false) < 0 ? -ENOMEM : 1;
    }
    return -EINVAL;
}

int nm_store_load(nm_store_t *st, const char *path, int64_t now_unix)
{
    FILE *f = fopen(path, "re");
    if (!f)
        return errno == ENOENT ? 0 : -errno;
    /* The last process may have died in this very second, after giving a
     * date of now + 1 that no file tells us of: start above it. */
    st->floor_unix = max64(st->floor_unix, now_unix + 1);
    char line[8192];
    int count = 0, rc = 0;
    while (rc >= 0 && fgets(line, sizeof(line), f)) {
        char *fld[5];
        if (line[0] == '#' || line[0] == '\n')
            continue;
        rc = load_line(st, fld, split_tabs(line, fld, 5), now_unix);
        count += rc > 0;
    }
    fclose(f);
    return rc < 0 ? rc : count;
}
