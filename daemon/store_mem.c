/* store_mem.c - the in-memory store (store.h): the embedded default, and
 * the working set in front of Redis. */
#include "store.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "strmap.h"

struct nm_store {
    nm_strmap_t urls;     /* url -> nm_store_rec_t* */
    nm_strmap_t disabled; /* prefix -> (void *)1 */
    nm_store_change_fn on_change;
    void *arg;
    nm_store_backend_t be;
    bool has_backend;
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
    r->first_seen_unix = now_unix;
    changed(st, NM_STORE_CHANGED_URL, url);
    if (st->has_backend && st->be.url_changed)
        st->be.url_changed(st->be.self, r);
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

int nm_store_pin(nm_store_t *st, const char *url, const char *tag,
                 int64_t now_unix)
{
    nm_store_rec_t *r = rec_upsert(st, url);
    if (!r)
        return -ENOMEM;
    if (str_eq(r->pin_tag, tag))
        return 0;
    if (!set_str(&r->pin_tag, tag))
        return -ENOMEM;
    /* Pinning the tag already current keeps its history. */
    r->pin_since_unix = str_eq(r->tag, tag) ? r->first_seen_unix : now_unix;
    changed(st, NM_STORE_CHANGED_URL, url);
    if (st->has_backend && st->be.url_changed)
        st->be.url_changed(st->be.self, r);
    return 1;
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
    struct each_ctx c = {fn, NULL, arg};
    nm_strmap_each(&st->urls, each_rec, &c);
}

void nm_store_each_disabled(const nm_store_t *st,
                            void (*fn)(void *arg, const char *prefix),
                            void *arg)
{
    struct each_ctx c = {NULL, fn, arg};
    nm_strmap_each(&st->disabled, each_key, &c);
}

void nm_store_learn_first_seen(nm_store_t *st, const char *url, const char *tag,
                               int64_t first_seen_unix)
{
    nm_strmap_node_t *n = nm_strmap_find(&st->urls, url);
    nm_store_rec_t *r = n ? n->value : NULL;
    if (!r || first_seen_unix <= 0)
        return;
    bool is_changed = false;
    if (str_eq(r->tag, tag) && r->first_seen_unix != first_seen_unix) {
        r->first_seen_unix = first_seen_unix;
        is_changed = true;
    }
    if (str_eq(r->pin_tag, tag) && r->pin_since_unix != first_seen_unix) {
        r->pin_since_unix = first_seen_unix;
        is_changed = true;
    }
    if (is_changed)
        changed(st, NM_STORE_CHANGED_URL, url);
}

void nm_store_learn_url(nm_store_t *st, const char *url, const char *tag,
                        int64_t first_seen_unix)
{
    if (nm_strmap_find(&st->urls, url))
        return; /* what this daemon saw itself is newer */
    nm_store_rec_t *r = rec_upsert(st, url);
    if (!r || !set_str(&r->tag, tag))
        return;
    r->first_seen_unix = first_seen_unix;
    changed(st, NM_STORE_CHANGED_URL, url);
}

void nm_store_learn_pin(nm_store_t *st, const char *url, const char *tag)
{
    nm_store_rec_t *r = rec_upsert(st, url);
    if (!r || str_eq(r->pin_tag, tag) || !set_str(&r->pin_tag, tag))
        return;
    r->pin_since_unix = str_eq(r->tag, tag) ? r->first_seen_unix : 0;
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

/* --- state file --- */

static void save_rec(void *arg, const nm_store_rec_t *r)
{
    fprintf(arg, "%s\t%s\t%" PRId64 "\t%s\t%" PRId64 "\n", r->url,
            r->tag ? r->tag : "-", r->first_seen_unix,
            r->pin_tag ? r->pin_tag : "-", r->pin_since_unix);
}

static void save_disabled(void *arg, const char *prefix)
{
    fprintf(arg, "disabled\t%s\n", prefix);
}

int nm_store_save(const nm_store_t *st, const char *path)
{
    char tmp[4096];
    if (snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, (int)getpid()) >=
        (int)sizeof(tmp))
        return -ENAMETOOLONG;
    FILE *f = fopen(tmp, "we");
    if (!f)
        return -errno;
    fprintf(f, "# notmodd state v1\n");
    nm_store_each(st, save_rec, f);
    nm_store_each_disabled(st, save_disabled, f);
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

static const char *dash_null(const char *s)
{
    return strcmp(s, "-") == 0 ? NULL : s;
}

int nm_store_load(nm_store_t *st, const char *path)
{
    FILE *f = fopen(path, "re");
    if (!f)
        return errno == ENOENT ? 0 : -errno;
    char line[8192];
    int count = 0, rc = 0;
    while (rc == 0 && fgets(line, sizeof(line), f)) {
        char *fld[5];
        if (line[0] == '#' || line[0] == '\n')
            continue;
        int n = split_tabs(line, fld, 5);
        if (n == 2 && strcmp(fld[0], "disabled") == 0) {
            nm_store_learn_disabled(st, fld[1]);
        } else if (n == 5) {
            const char *tag = dash_null(fld[1]), *pin = dash_null(fld[3]);
            if (tag)
                nm_store_learn_url(st, fld[0], tag, strtoll(fld[2], NULL, 10));
            if (pin) {
                nm_store_learn_pin(st, fld[0], pin);
                nm_strmap_node_t *node = nm_strmap_find(&st->urls, fld[0]);
                if (node)
                    ((nm_store_rec_t *)node->value)->pin_since_unix =
                        strtoll(fld[4], NULL, 10);
            }
            count++;
        } else {
            rc = -EINVAL;
        }
    }
    fclose(f);
    return rc < 0 ? rc : count;
}
