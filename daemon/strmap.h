/* strmap.h - a small string-keyed hash map (chained, grows by doubling)
 * for the daemon's tables: store records, routes, pending Redis writes.
 * Keys are copied; values are the caller's pointers. */
#ifndef NM_STRMAP_H
#define NM_STRMAP_H

#include <stddef.h>
#include <stdint.h>

typedef struct nm_strmap_node {
    struct nm_strmap_node *next;
    uint64_t hash;
    void *value;
    char key[]; /* NUL-terminated copy */
} nm_strmap_node_t;

typedef struct nm_strmap {
    nm_strmap_node_t **buckets;
    size_t nbuckets, count;
} nm_strmap_t;

typedef void (*nm_strmap_free_fn)(void *value);

void nm_strmap_init(nm_strmap_t *m);
/* Frees every node, calling free_value (if not NULL) on each value. */
void nm_strmap_free(nm_strmap_t *m, nm_strmap_free_fn free_value);

/* The node of key, or NULL. */
nm_strmap_node_t *nm_strmap_find(const nm_strmap_t *m, const char *key);

/* The node of key, created with value NULL when absent (*is_new set);
 * NULL only when out of memory. */
nm_strmap_node_t *nm_strmap_upsert(nm_strmap_t *m, const char *key,
                                   int *is_new);

/* Removes key and returns its value (NULL when absent). */
void *nm_strmap_remove(nm_strmap_t *m, const char *key);

/* Calls fn on every node; fn must not add or remove keys. */
void nm_strmap_each(const nm_strmap_t *m,
                    void (*fn)(void *arg, nm_strmap_node_t *node), void *arg);

#endif
