/* strmap.c - see strmap.h. FNV-1a is plenty for keys we generate; the
 * table is chained so removal stays trivial. */
#include "strmap.h"

#include <stdlib.h>
#include <string.h>

static uint64_t hash_str(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
    return h;
}

void nm_strmap_init(nm_strmap_t *m)
{
    memset(m, 0, sizeof(*m));
}

void nm_strmap_free(nm_strmap_t *m, nm_strmap_free_fn free_value)
{
    for (size_t i = 0; i < m->nbuckets; i++) {
        nm_strmap_node_t *n = m->buckets[i];
        while (n) {
            nm_strmap_node_t *next = n->next;
            if (free_value)
                free_value(n->value);
            free(n);
            n = next;
        }
    }
    free(m->buckets);
    nm_strmap_init(m);
}

nm_strmap_node_t *nm_strmap_find(const nm_strmap_t *m, const char *key)
{
    if (m->nbuckets == 0)
        return NULL;
    uint64_t h = hash_str(key);
    for (nm_strmap_node_t *n = m->buckets[h & (m->nbuckets - 1)]; n;
         n = n->next)
        if (n->hash == h && strcmp(n->key, key) == 0)
            return n;
    return NULL;
}

static int grow(nm_strmap_t *m)
{
    size_t nb = m->nbuckets ? m->nbuckets * 2 : 16;
    nm_strmap_node_t **b = calloc(nb, sizeof(*b));
    if (!b)
        return -1;
    for (size_t i = 0; i < m->nbuckets; i++) {
        nm_strmap_node_t *n = m->buckets[i];
        while (n) {
            nm_strmap_node_t *next = n->next;
            n->next = b[n->hash & (nb - 1)];
            b[n->hash & (nb - 1)] = n;
            n = next;
        }
    }
    free(m->buckets);
    m->buckets = b;
    m->nbuckets = nb;
    return 0;
}

nm_strmap_node_t *nm_strmap_upsert(nm_strmap_t *m, const char *key, int *is_new)
{
    nm_strmap_node_t *n = nm_strmap_find(m, key);
    if (is_new)
        *is_new = n == NULL;
    if (n)
        return n;
    if (m->count >= m->nbuckets && grow(m) < 0)
        return NULL;
    size_t klen = strlen(key);
    n = malloc(sizeof(*n) + klen + 1);
    if (!n)
        return NULL;
    n->hash = hash_str(key);
    n->value = NULL;
    memcpy(n->key, key, klen + 1);
    size_t b = n->hash & (m->nbuckets - 1);
    n->next = m->buckets[b];
    m->buckets[b] = n;
    m->count++;
    return n;
}

void *nm_strmap_remove(nm_strmap_t *m, const char *key)
{
    if (m->nbuckets == 0)
        return NULL;
    uint64_t h = hash_str(key);
    nm_strmap_node_t **pp = &m->buckets[h & (m->nbuckets - 1)];
    for (; *pp; pp = &(*pp)->next) {
        nm_strmap_node_t *n = *pp;
        if (n->hash == h && strcmp(n->key, key) == 0) {
            void *v = n->value;
            *pp = n->next;
            free(n);
            m->count--;
            return v;
        }
    }
    return NULL;
}

void nm_strmap_each(const nm_strmap_t *m,
                    void (*fn)(void *arg, nm_strmap_node_t *node), void *arg)
{
    for (size_t i = 0; i < m->nbuckets; i++)
        for (nm_strmap_node_t *n = m->buckets[i]; n; n = n->next)
            fn(arg, n);
}
