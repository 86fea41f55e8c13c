/* store_redis.c - see store_redis.h. The memory store stays the working
 * set; this file writes its changes through to Redis and reads back what
 * the fleet knows (the dates of epochs, which only Redis assigns; tags and
 * pins at start-up; disabled prefixes and route freshness). While Redis is
 * unreachable, changes queue in pending maps and are written back on
 * reconnect. Those writes are idempotent (the epoch script, HDEL, SADD,
 * HSET); counters are made so by
 * numbered batches ("counters" below), so totals in Redis catch up exactly
 * even when a command we gave up on did run. */
#include "store_redis.h"

#include <hiredis/hiredis.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "fresh.h"
#include "log.h"
#include "redis_addr.h"
#include "redis_link.h"
#include "strmap.h"
#include "url.h"

#define PREFIX_SYNC_TICKS 5     /* re-read notmod:disabled, :fresh every 5 s */
#define FRESH_REMOVED INT64_MIN /* pending_fresh: HDEL */
#define MARKER_TTL_S 86400      /* batch markers, see "counters" */

typedef struct delta {
    char *field;
    int64_t delta;
} delta_t;

/* Counter deltas of one hash key: open (seq 0) while they still grow, a
 * batch once numbered and sent (see "counters"). */
typedef struct counts {
    uint64_t seq;
    size_t n, cap;
    delta_t *d;
} counts_t;

typedef struct redis_be {
    nm_store_t *store;
    nm_redis_link_t *link; /* the server, Sentinel's master or the Cluster */
    bool is_ready, has_warmed;
    struct event *tick_ev;
    unsigned ticks;
    nm_strmap_t pending_urls;     /* url -> NULL */
    nm_strmap_t pending_purges;   /* url -> NULL */
    nm_strmap_t pending_prefixes; /* prefix -> (void *)1 on, (void *)2 off */
    nm_strmap_t pending_fresh;    /* prefix -> int64_t* (or FRESH_REMOVED) */
    /* Freshness writes sent or queued so far: a re-read of notmod:fresh
     * sent before the latest one is older than this daemon's own state. */
    uint64_t fresh_writes;
    nm_strmap_t open_counts; /* key -> counts_t*, not yet a batch */
    nm_strmap_t sent_counts; /* key -> counts_t*, its one batch out */
    struct event *batch_ev;  /* numbers and sends open counts */
    char id[17];             /* this process, in batch marker keys */
    uint64_t last_seq;       /* of the newest batch */
    char last_error[160];
} redis_be_t;

/* What a command's reply (or failure) means to us. */
typedef enum {
    K_PLAIN,     /* nothing to do on success; log errors */
    K_TAG_EPOCH, /* epoch script for the tag: learn its date */
    K_PIN_EPOCH, /* epoch script for the pin: learn its date */
    K_PURGE,     /* re-queue purge on failure */
    K_PREFIX,    /* re-queue prefix on failure */
    K_COUNT,     /* counter batch: done on a reply, resent on reconnect */
    K_SCAN,      /* warm: SCAN notmod:url:* on one master (a: its name) */
    K_WARM_URL,  /* warm: HMGET notmod:url:<url>, learn tag and pin */
    K_MEMBERS,   /* SMEMBERS notmod:disabled */
    K_FRESH,     /* HSET / HDEL notmod:fresh: re-queue on failure */
    K_FRESH_ALL, /* HGETALL notmod:fresh: learn the fleet's rules */
} kind_t;

typedef struct cmd {
    redis_be_t *r;
    kind_t kind;
    char *a;   /* url, prefix or counter key */
    int64_t n; /* change number (epochs), on/off (prefixes), batch number */
} cmd_t;

static void cmd_free(cmd_t *c)
{
    free(c->a);
    free(c);
}

static void queue_url(redis_be_t *r, const char *url)
{
    nm_strmap_upsert(&r->pending_urls, url, NULL);
}

static void queue_purge(redis_be_t *r, const char *url)
{
    nm_strmap_upsert(&r->pending_purges, url, NULL);
}

/* Moves a pending map out so that what the replay queues again goes into
 * a fresh one. */
static nm_strmap_t take(nm_strmap_t *m)
{
    nm_strmap_t out = *m;
    nm_strmap_init(m);
    return out;
}

static void on_reply(void *priv, const redisReply *rep);

static cmd_t *cmd_new(redis_be_t *r, kind_t kind, const char *a, int64_t n)
{
    cmd_t *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->r = r;
    c->kind = kind;
    c->a = a ? strdup(a) : NULL;
    c->n = n;
    return c;
}

/* Sends argv (lens NULL: C strings, as hiredis takes them) to the master
 * of key's slot, or to the master named node when key is NULL, with a
 * callback context. */
static void send_argv(redis_be_t *r, kind_t kind, const char *a, int64_t n,
                      const char *key, const char *node, int flags, int argc,
                      const char **argv, const size_t *lens)
{
    cmd_t *c = cmd_new(r, kind, a, n);
    if (!c)
        return;
    if (key)
        nm_redis_link_send(r->link, key, flags, on_reply, c, argc, argv, lens);
    else
        nm_redis_link_send_node(r->link, node, flags, on_reply, c, argc, argv,
                                lens);
}

/* A command of C strings to the master of key's slot. */
#define SEND(r, kind, a, n, key, flags, ...)                                   \
    do {                                                                       \
        const char *argv_[] = {__VA_ARGS__};                                   \
        send_argv(r, kind, a, n, key, NULL, flags,                             \
                  (int)(sizeof(argv_) / sizeof(argv_[0])), argv_, NULL);       \
    } while (0)

/* "notmod:url:<url>" */
static void url_key(char *out, size_t cap, const char *url)
{
    snprintf(out, cap, "notmod:url:%s", url);
}

/* --- write-back: epochs ---
 *
 * Redis is the fleet's one clock for Last-Modified dates (store.h, epochs).
 * EPOCH_SCRIPT runs once per change, atomically on the URL's one hash, so
 * daemons changing a URL at the same moment still get different dates,
 * each later than every one before: KEYS[1] notmod:url:<url>, ARGV[1]
 * "tag" or "pin", ARGV[2] the tag, ARGV[3] the record's hwm here (the
 * largest date this daemon knows for the URL, or its store's floor). It
 * returns the stored date while ARGV[2] is still the current tag (or pin),
 * else starts a new epoch at max(TIME + 1, hwm + 1, ARGV[3] + 1): the last
 * term keeps dates rising even after a Redis without persistence lost the
 * hash. A pin on the current tag where there
 * was no pin keeps that epoch: nothing a client sees changes. Running it
 * twice gives the same date, so a change whose reply was lost is simply
 * sent again.
 * A stored date is written again before it is returned: the date may come
 * from another daemon's write that no replica has yet, and WAIT (before
 * our reply is given, redis_link.c) covers only what this connection
 * wrote; writing moves this connection past it, so its WAIT covers it too.
 * Otherwise a failover right then would leave two dates for one epoch.
 * replicate_commands: before Redis 5 a script may write after TIME only
 * once it asked for its effects, not its body, to be replicated. EVAL, not
 * EVALSHA: one per change, and no NOSCRIPT to handle. */
static const char EPOCH_SCRIPT[] =
    "if redis.replicate_commands then redis.replicate_commands() end\n"
    "local f = ARGV[1]\n"
    "local lmf = f == 'pin' and 'pin_lm' or 'lm'\n"
    "local h = redis.call('HMGET', KEYS[1], f, lmf, 'hwm',\n"
    "                     'tag', 'lm', 'pin')\n"
    "if h[1] == ARGV[2] and h[2] then\n"
    "  redis.call('HSET', KEYS[1], lmf, h[2])\n"
    "  return tonumber(h[2])\n"
    "end\n"
    "if f == 'pin' and not h[6] and h[4] == ARGV[2] and h[5] then\n"
    "  redis.call('HSET', KEYS[1], 'pin', ARGV[2], 'pin_lm', h[5])\n"
    "  return tonumber(h[5])\n"
    "end\n"
    "local now = tonumber(redis.call('TIME')[1])\n"
    "local lm = math.max(now, tonumber(h[3] or 0), tonumber(ARGV[3])) + 1\n"
    "redis.call('HSET', KEYS[1], f, ARGV[2], lmf, lm, 'hwm', lm)\n"
    "return lm\n";

/* Sends the epoch script for rec's tag, or pin, as the store has it now;
 * the reply's date is learned only if no later change came meanwhile. */
static void write_epoch(redis_be_t *r, const nm_store_rec_t *rec, bool is_pin)
{
    const char *tag = is_pin ? rec->pin_tag : rec->tag;
    if (!tag)
        return;
    char key[NM_URL_MAX + 16], hwm[24];
    url_key(key, sizeof(key), rec->url);
    snprintf(hwm, sizeof(hwm), "%" PRId64, rec->hwm_unix);
    SEND(r, is_pin ? K_PIN_EPOCH : K_TAG_EPOCH, rec->url,
         (int64_t)(is_pin ? rec->pin_seq : rec->tag_seq), key, NM_REDIS_WRITE,
         "EVAL", EPOCH_SCRIPT, "1", key, is_pin ? "pin" : "tag", tag, hwm);
}

/* Write-back of a queued URL: its tag and pin as they are now. */
static void write_url(redis_be_t *r, const char *url)
{
    const nm_store_rec_t *rec = nm_store_get(r->store, url);
    if (!rec)
        return; /* purged since it was queued */
    write_epoch(r, rec, false);
    write_epoch(r, rec, true);
}

/* Purge keeps hwm: the URL's next epoch must still be later than every
 * date it ever had. */
static void write_purge(redis_be_t *r, const char *url)
{
    char key[NM_URL_MAX + 16];
    url_key(key, sizeof(key), url);
    SEND(r, K_PURGE, url, 0, key, NM_REDIS_WRITE, "HDEL", key, "tag", "lm",
         "pin", "pin_lm");
}

static void write_prefix(redis_be_t *r, const char *prefix, bool is_disabled)
{
    SEND(r, K_PREFIX, prefix, is_disabled, "notmod:disabled", NM_REDIS_WRITE,
         is_disabled ? "SADD" : "SREM", "notmod:disabled", prefix);
}

static void queue_fresh(redis_be_t *r, const char *prefix, int64_t fresh_s)
{
    nm_strmap_node_t *n = nm_strmap_upsert(&r->pending_fresh, prefix, NULL);
    if (n && !n->value)
        n->value = malloc(sizeof(int64_t));
    if (n && n->value)
        *(int64_t *)n->value = fresh_s;
    r->fresh_writes++;
}

/* notmod:fresh holds prefix -> SECONDS, "origin" or "never". */
static void write_fresh(redis_be_t *r, const char *prefix, int64_t fresh_s)
{
    char v[24];
    r->fresh_writes++;
    if (fresh_s == FRESH_REMOVED ||
        nm_fresh_setting_format(fresh_s, v, sizeof(v)) < 0)
        SEND(r, K_FRESH, prefix, FRESH_REMOVED, "notmod:fresh", NM_REDIS_WRITE,
             "HDEL", "notmod:fresh", prefix);
    else
        SEND(r, K_FRESH, prefix, fresh_s, "notmod:fresh", NM_REDIS_WRITE,
             "HSET", "notmod:fresh", prefix, v);
}

static void read_fresh(redis_be_t *r)
{
    SEND(r, K_FRESH_ALL, NULL, (int64_t)r->fresh_writes, "notmod:fresh", 0,
         "HGETALL", "notmod:fresh");
}

/* HGETALL's reply becomes the store's rules, unless this daemon changed
 * one since it asked (its write is behind the read in Redis's queue, or
 * not sent yet): the next re-read will have it. */
static void on_fresh_all(redis_be_t *r, const cmd_t *c, const redisReply *rep)
{
    if (rep->type != REDIS_REPLY_ARRAY || rep->elements % 2 ||
        (uint64_t)c->n != r->fresh_writes || r->pending_fresh.count > 0)
        return;
    size_t n = rep->elements / 2, k = 0;
    const char **prefixes = calloc(n ? n : 1, sizeof(*prefixes));
    int64_t *values = calloc(n ? n : 1, sizeof(*values));
    for (size_t i = 0; prefixes && values && i < n; i++) {
        const redisReply *p = rep->element[2 * i], *v = rep->element[2 * i + 1];
        if (p->type == REDIS_REPLY_STRING && v->type == REDIS_REPLY_STRING &&
            nm_fresh_setting_parse(v->str, &values[k]) == 0)
            prefixes[k++] = p->str;
    }
    if (prefixes && values)
        nm_store_learn_fresh(r->store, prefixes, values, k);
    free(prefixes);
    free(values);
}

/* --- counters ---
 *
 * A command whose reply never came may or may not have run. Redis may have
 * applied it and the reply got lost; or Redis was stalled (SIGSTOP, a long
 * fork, a network black hole) with the command in its socket buffer and
 * applies it after we gave the connection up, even after we closed it.
 * HINCRBY is not idempotent: adding its delta back for the next connection
 * counted it twice in that case (the outage test saw 480 for 280), and not
 * adding it back would lose it in the other. So counter writes are made
 * idempotent, and are simply sent again until a reply says they are done:
 *
 * - The deltas of one hash key go out as one batch, numbered from a
 *   sequence of this daemon process (random id r->id, so no two daemons or
 *   two runs share one).
 * - COUNT_SCRIPT applies a batch only when its number is above the last one
 *   applied for (key, daemon), kept in the marker key
 *   notmod:batch:<id>:{<key>}, and raises the marker, all atomically (one
 *   script; AOF and replicas get it as one MULTI/EXEC).
 * - A key has at most one batch out. It stays out, and is sent again
 *   unchanged on each reconnect, until some reply comes; new deltas grow the
 *   key's open counts meanwhile, which become its next batch. So when batch
 *   n of a key runs, all its earlier batches have run, and any copy of n or
 *   of an earlier one that Redis finds later in an abandoned connection is
 *   skipped: each batch counts exactly once.
 * - With replicas (Sentinel, Cluster), a reply counts only once a replica
 *   has the batch (WAIT, redis_link.c): a batch a failover lost is sent
 *   again to the new master. A skipped batch refreshes its marker's expiry,
 *   a write, so that WAIT covers the copy that did run, too.
 *
 * Redis Cluster: the script touches two keys, which the hash tag {<key>}
 * puts into one slot, as long as the counter key hashes whole, i.e. has no
 * braces (store.h; stats.c encodes them in routes). Limits: a marker lives
 * MARKER_TTL_S after its key's last batch, so a batch left unanswered for
 * longer (a day-long outage right after Redis applied it) may count twice;
 * markers cost one small key per counter key and daemon process. EVAL, not
 * EVALSHA: the body costs about what the HINCRBYs it replaces did, and
 * needs no NOSCRIPT handling. */
static const char COUNT_SCRIPT[] =
    "local last = tonumber(redis.call('GET', KEYS[2]) or '0')\n"
    "if tonumber(ARGV[1]) <= last then\n"
    "  redis.call('EXPIRE', KEYS[2], ARGV[2])\n"
    "  return 0\n"
    "end\n"
    "for i = 3, #ARGV, 2 do\n"
    "  redis.call('HINCRBY', KEYS[1], ARGV[i], ARGV[i + 1])\n"
    "end\n"
    "redis.call('SET', KEYS[2], ARGV[1], 'EX', ARGV[2])\n"
    "return 1\n";

static void counts_free(void *p)
{
    counts_t *c = p;
    if (!c)
        return;
    for (size_t i = 0; i < c->n; i++)
        free(c->d[i].field);
    free(c->d);
    free(c);
}

static int counts_add(counts_t *c, const char *field, int64_t delta)
{
    for (size_t i = 0; i < c->n; i++)
        if (strcmp(c->d[i].field, field) == 0) {
            c->d[i].delta += delta;
            return 0;
        }
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 16;
        delta_t *d = realloc(c->d, cap * sizeof(*d));
        if (!d)
            return -1;
        c->d = d;
        c->cap = cap;
    }
    if (!(c->d[c->n].field = strdup(field)))
        return -1;
    c->d[c->n++].delta = delta;
    return 0;
}

static void send_batch(redis_be_t *r, const char *key, const counts_t *c)
{
    char marker[2700], seq[24], ttl[16];
    snprintf(marker, sizeof(marker), "notmod:batch:%s:{%s}", r->id, key);
    snprintf(seq, sizeof(seq), "%" PRIu64, c->seq);
    snprintf(ttl, sizeof(ttl), "%d", MARKER_TTL_S);
    size_t argc = 7 + 2 * c->n;
    const char **argv = calloc(argc, sizeof(*argv));
    size_t *lens = calloc(argc, sizeof(*lens));
    char(*deltas)[24] = calloc(c->n ? c->n : 1, sizeof(*deltas));
    if (argv && lens && deltas) {
        const char *head[] = {"EVAL", COUNT_SCRIPT, "2", key, marker, seq, ttl};
        memcpy(argv, head, sizeof(head));
        for (size_t i = 0; i < c->n; i++) {
            snprintf(deltas[i], sizeof(deltas[i]), "%" PRId64, c->d[i].delta);
            argv[7 + 2 * i] = c->d[i].field;
            argv[8 + 2 * i] = deltas[i];
        }
        for (size_t i = 0; i < argc; i++)
            lens[i] = strlen(argv[i]);
        /* The batch stays in sent_counts whatever happens here: out of
         * memory or a refused send only delay it to the next connection. */
        send_argv(r, K_COUNT, key, (int64_t)c->seq, key, NULL, NM_REDIS_WRITE,
                  (int)argc, argv, lens);
    }
    free(argv);
    free(lens);
    free(deltas);
}

/* Numbers c as key's next batch and sends it. False (c not taken) when the
 * key still has a batch out, or out of memory. */
static bool start_batch(redis_be_t *r, const char *key, counts_t *c)
{
    if (nm_strmap_find(&r->sent_counts, key))
        return false;
    nm_strmap_node_t *n = nm_strmap_upsert(&r->sent_counts, key, NULL);
    if (!n)
        return false;
    c->seq = ++r->last_seq;
    n->value = c;
    send_batch(r, key, c);
    return true;
}

static void start_or_keep_open(redis_be_t *r, const char *key, counts_t *c)
{
    if (start_batch(r, key, c))
        return;
    nm_strmap_node_t *n = nm_strmap_upsert(&r->open_counts, key, NULL);
    if (n)
        n->value = c;
    else
        counts_free(c);
}

static void start_one(void *r, nm_strmap_node_t *n)
{
    start_or_keep_open(r, n->key, n->value);
    n->value = NULL;
}

/* Every key's open counts that can become a batch now does. */
static void start_batches(redis_be_t *r)
{
    if (!r->is_ready)
        return; /* stay open (and merge) until there is a connection */
    nm_strmap_t open = take(&r->open_counts);
    nm_strmap_each(&open, start_one, r);
    nm_strmap_free(&open, counts_free);
}

static void on_batch_ev(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    start_batches(arg);
}

static void queue_count(redis_be_t *r, const char *key, const char *field,
                        int64_t delta)
{
    nm_strmap_node_t *n = nm_strmap_upsert(&r->open_counts, key, NULL);
    if (!n)
        return;
    if (!n->value && !(n->value = calloc(1, sizeof(counts_t)))) {
        nm_strmap_remove(&r->open_counts, key);
        return;
    }
    if (counts_add(n->value, field, delta) < 0)
        nm_log(LOG_ERR, "redis: out of memory, %s %s lost", key, field);
    /* Once the stats flush that calls us is over: one batch per key. */
    static const struct timeval now = {0, 0};
    if (r->is_ready && !evtimer_pending(r->batch_ev, NULL))
        evtimer_add(r->batch_ev, &now);
}

/* Any reply to batch seq of key ends it: 1 applied now, 0 applied before (a
 * copy from an abandoned connection ran first), or an error that would
 * come again (WRONGTYPE...). The key's open counts become its next batch. */
static void batch_done(redis_be_t *r, const char *key, uint64_t seq,
                       const redisReply *rep)
{
    nm_strmap_node_t *n = nm_strmap_find(&r->sent_counts, key);
    if (!n || ((counts_t *)n->value)->seq != seq)
        return;
    if (rep->type == REDIS_REPLY_INTEGER && rep->integer == 0)
        nm_log(LOG_INFO, "redis: batch %" PRIu64 " of %s was applied already",
               seq, key);
    counts_free(nm_strmap_remove(&r->sent_counts, key));
    counts_t *c = nm_strmap_remove(&r->open_counts, key);
    if (c)
        start_or_keep_open(r, key, c);
}

static void resend_one(void *r, nm_strmap_node_t *n)
{
    send_batch(r, n->key, n->value);
}

static void replay_purge(void *r, nm_strmap_node_t *n)
{
    write_purge(r, n->key);
}

static void replay_url(void *r, nm_strmap_node_t *n)
{
    write_url(r, n->key);
}

static void replay_prefix(void *r, nm_strmap_node_t *n)
{
    write_prefix(r, n->key, n->value == (void *)1);
}

static void replay_fresh(void *r, nm_strmap_node_t *n)
{
    if (n->value)
        write_fresh(r, n->key, *(int64_t *)n->value);
}

/* Write-back after an outage: purges first, so a URL purged and seen
 * again while Redis was away ends up with its new tag. The URLs go through
 * the epoch script like any change, so what changed meanwhile gets dates
 * later than all Redis ever gave (and had none until then). Counter batches
 * still out go again unchanged (numbered: they count once), before any
 * new one. */
static void replay_pending(redis_be_t *r)
{
    nm_strmap_t purges = take(&r->pending_purges);
    nm_strmap_t urls = take(&r->pending_urls);
    nm_strmap_t prefixes = take(&r->pending_prefixes);
    nm_strmap_t fresh = take(&r->pending_fresh);
    nm_strmap_each(&purges, replay_purge, r);
    nm_strmap_each(&urls, replay_url, r);
    nm_strmap_each(&prefixes, replay_prefix, r);
    nm_strmap_each(&fresh, replay_fresh, r);
    nm_strmap_each(&r->sent_counts, resend_one, r);
    start_batches(r);
    nm_strmap_free(&purges, NULL);
    nm_strmap_free(&urls, NULL);
    nm_strmap_free(&prefixes, NULL);
    nm_strmap_free(&fresh, free);
}

/* --- warm start: read what the fleet knows --- */

/* SCAN runs on one master at a time: with a Cluster, on each of them. */
static void scan(redis_be_t *r, const char *node, const char *cursor)
{
    const char *argv[] = {"SCAN",         cursor,  "MATCH",
                          "notmod:url:*", "COUNT", "1000"};
    send_argv(r, K_SCAN, node, 0, NULL, node, 0, 6, argv, NULL);
}

static void scan_master(void *r, const char *node)
{
    scan(r, node, "0");
}

static void warm(redis_be_t *r)
{
    r->has_warmed = true;
    nm_redis_link_each_master(r->link, scan_master, r);
    SEND(r, K_MEMBERS, NULL, 0, "notmod:disabled", 0, "SMEMBERS",
         "notmod:disabled");
    read_fresh(r);
}

static void on_scan(redis_be_t *r, const char *node, const redisReply *rep)
{
    if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 2 ||
        rep->element[0]->type != REDIS_REPLY_STRING ||
        rep->element[1]->type != REDIS_REPLY_ARRAY)
        return;
    static const char prefix[] = "notmod:url:";
    size_t plen = sizeof(prefix) - 1;
    const redisReply *keys = rep->element[1];
    for (size_t i = 0; i < keys->elements; i++) {
        const redisReply *k = keys->element[i];
        if (k->type != REDIS_REPLY_STRING || (size_t)k->len <= plen)
            continue;
        SEND(r, K_WARM_URL, k->str + plen, 0, k->str, 0, "HMGET", k->str, "tag",
             "lm", "pin", "pin_lm", "hwm");
    }
    if (strcmp(rep->element[0]->str, "0") != 0)
        scan(r, node, rep->element[0]->str);
}

/* Element i of an array reply: its string, or NULL (nil, or no array). */
static const char *element_str(const redisReply *rep, size_t i)
{
    if (rep->type != REDIS_REPLY_ARRAY || i >= rep->elements ||
        rep->element[i]->type != REDIS_REPLY_STRING)
        return NULL;
    return rep->element[i]->str;
}

static int64_t element_int(const redisReply *rep, size_t i)
{
    const char *s = element_str(rep, i);
    return s ? strtoll(s, NULL, 10) : 0;
}

/* HMGET tag lm pin pin_lm hwm of a URL: a hash left with hwm alone is a
 * purged URL, nothing to learn. */
static void on_warm_url(redis_be_t *r, const char *url, const redisReply *rep)
{
    const char *tag = element_str(rep, 0), *pin = element_str(rep, 2);
    if (tag)
        nm_store_learn_url(r->store, url, tag, element_int(rep, 1),
                           element_int(rep, 4));
    if (pin)
        nm_store_learn_pin(r->store, url, pin, element_int(rep, 3));
}

/* Success path of each command kind. */
static void on_success(redis_be_t *r, cmd_t *c, const redisReply *rep)
{
    switch (c->kind) {
    case K_TAG_EPOCH:
    case K_PIN_EPOCH:
        if (rep->type == REDIS_REPLY_INTEGER)
            nm_store_learn_date(r->store, c->a, c->kind == K_PIN_EPOCH,
                                (uint64_t)c->n, rep->integer);
        break;
    case K_SCAN:
        on_scan(r, c->a, rep);
        break;
    case K_WARM_URL:
        on_warm_url(r, c->a, rep);
        break;
    case K_MEMBERS:
        for (size_t i = 0; rep->type == REDIS_REPLY_ARRAY && i < rep->elements;
             i++)
            if (rep->element[i]->type == REDIS_REPLY_STRING)
                nm_store_learn_disabled(r->store, rep->element[i]->str);
        break;
    case K_FRESH_ALL:
        on_fresh_all(r, c, rep);
        break;
    default:
        break;
    }
}

/* Failure path: the command may not have run; queue it again. */
static void on_failure(redis_be_t *r, cmd_t *c)
{
    switch (c->kind) {
    case K_TAG_EPOCH:
    case K_PIN_EPOCH:
        queue_url(r, c->a);
        break;
    case K_PURGE:
        queue_purge(r, c->a);
        break;
    case K_PREFIX: {
        nm_strmap_node_t *n =
            nm_strmap_upsert(&r->pending_prefixes, c->a, NULL);
        if (n)
            n->value = c->n ? (void *)1 : (void *)2;
        break;
    }
    case K_FRESH:
        /* Unless a newer change of the prefix is queued already. */
        if (!nm_strmap_find(&r->pending_fresh, c->a))
            queue_fresh(r, c->a, c->n);
        break;
    case K_COUNT:
        break; /* still out: sent again on reconnect */
    case K_SCAN:
    case K_WARM_URL:
        r->has_warmed = false; /* try the whole warm-up again */
        break;
    case K_MEMBERS:
    case K_FRESH_ALL:
        break; /* read again every PREFIX_SYNC_TICKS */
    default:
        break;
    }
}

/* Errors that say "not now" rather than "never": a Redis loading its
 * dataset after a restart, one stuck in a script, a replica without its
 * primary. The command would succeed later. */
static bool is_transient(const redisReply *rep)
{
    static const char *const kinds[] = {
        "LOADING ", "BUSY ", "TRYAGAIN ", "MASTERDOWN ", "NOREPLICAS ",
        /* a master demoted under us, a cluster that lost a master */
        "READONLY ", "CLUSTERDOWN "};
    if (rep->type != REDIS_REPLY_ERROR || rep->str == NULL)
        return false;
    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
        if (strncmp(rep->str, kinds[i], strlen(kinds[i])) == 0)
            return true;
    return false;
}

/* Every command's reply, or NULL when it failed (redis_link.h). */
static void on_reply(void *priv, const redisReply *rep)
{
    cmd_t *c = priv;
    redis_be_t *r = c->r;
    if (rep && is_transient(rep)) {
        /* As if the connection had failed: everything is sent again once
         * it is back (counter batches too: numbered, they count once). The
         * link drops it from the loop, never inside hiredis. */
        snprintf(r->last_error, sizeof(r->last_error), "%s", rep->str);
        on_failure(r, c);
        nm_redis_link_reset(r->link, rep->str);
        cmd_free(c);
        return;
    }
    if (rep && c->kind == K_COUNT)
        batch_done(r, c->a, (uint64_t)c->n, rep);
    if (!rep) {
        on_failure(r, c);
    } else if (rep->type == REDIS_REPLY_ERROR) {
        /* Not retried: the same command would fail again (WRONGTYPE...). */
        snprintf(r->last_error, sizeof(r->last_error), "%s", rep->str);
        nm_log(LOG_WARNING, "redis: %s", rep->str);
    } else {
        on_success(r, c, rep);
    }
    cmd_free(c);
}

/* --- connection (redis_link.c) --- */

static void on_up(void *arg)
{
    redis_be_t *r = arg;
    r->is_ready = true;
    r->last_error[0] = '\0';
    replay_pending(r);
    if (!r->has_warmed)
        warm(r);
}

/* Before the NULL replies of what was in flight: they queue, not send. */
static void on_down(void *arg, const char *why)
{
    redis_be_t *r = arg;
    r->is_ready = false;
    snprintf(r->last_error, sizeof(r->last_error), "%s", why);
}

/* Once a second: re-read the disabled prefixes other daemons may have
 * changed, and warm up again if a failover cut the warm-up short. */
static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    redis_be_t *r = arg;
    if (!r->is_ready)
        return;
    if (!r->has_warmed) {
        warm(r);
    } else if (++r->ticks % PREFIX_SYNC_TICKS == 0) {
        SEND(r, K_MEMBERS, NULL, 0, "notmod:disabled", 0, "SMEMBERS",
             "notmod:disabled");
        read_fresh(r);
    }
}

/* --- backend hooks --- */

static void be_url_changed(void *self, const nm_store_rec_t *rec, bool is_pin)
{
    redis_be_t *r = self;
    if (r->is_ready)
        write_epoch(r, rec, is_pin);
    else
        queue_url(r, rec->url);
}

static void be_url_purged(void *self, const nm_store_rec_t *rec)
{
    redis_be_t *r = self;
    nm_strmap_remove(&r->pending_urls, rec->url);
    if (r->is_ready)
        write_purge(r, rec->url);
    else
        queue_purge(r, rec->url);
}

static void be_prefix_changed(void *self, const char *prefix, bool is_disabled)
{
    redis_be_t *r = self;
    if (r->is_ready) {
        write_prefix(r, prefix, is_disabled);
        return;
    }
    nm_strmap_node_t *n = nm_strmap_upsert(&r->pending_prefixes, prefix, NULL);
    if (n)
        n->value = is_disabled ? (void *)1 : (void *)2;
}

static void be_fresh_changed(void *self, const char *prefix, bool is_set,
                             int64_t fresh_s)
{
    redis_be_t *r = self;
    int64_t v = is_set ? fresh_s : FRESH_REMOVED;
    if (r->is_ready)
        write_fresh(r, prefix, v);
    else
        queue_fresh(r, prefix, v);
}

static void be_count(void *self, const char *key, const char *field,
                     int64_t delta)
{
    queue_count(self, key, field, delta);
}

static void be_describe(void *self, char *out, size_t cap)
{
    redis_be_t *r = self;
    size_t pending = r->pending_urls.count + r->pending_purges.count +
                     r->pending_prefixes.count + r->pending_fresh.count +
                     r->open_counts.count +
                     (r->is_ready ? 0 : r->sent_counts.count);
    char desc[512];
    nm_redis_link_describe(r->link, desc, sizeof(desc));
    snprintf(out, cap, "redis %s %s, %zu in flight, %zu queued%s%s", desc,
             r->is_ready ? "connected" : "disconnected",
             nm_redis_link_inflight(r->link), pending,
             r->last_error[0] ? ", last error: " : "", r->last_error);
}

static bool be_is_idle(void *self)
{
    redis_be_t *r = self;
    return !r->is_ready ||
           (nm_redis_link_inflight(r->link) == 0 && r->open_counts.count == 0 &&
            r->sent_counts.count == 0 && r->pending_urls.count == 0);
}

/* The link first: its NULL replies still queue into the maps. */
static void be_close(void *self)
{
    redis_be_t *r = self;
    r->is_ready = false;
    nm_redis_link_free(r->link);
    if (r->tick_ev)
        event_free(r->tick_ev);
    if (r->batch_ev)
        event_free(r->batch_ev);
    nm_strmap_free(&r->pending_urls, NULL);
    nm_strmap_free(&r->pending_purges, NULL);
    nm_strmap_free(&r->pending_prefixes, NULL);
    nm_strmap_free(&r->pending_fresh, free);
    nm_strmap_free(&r->open_counts, counts_free);
    nm_strmap_free(&r->sent_counts, counts_free);
    free(r);
}

int nm_redis_attach(nm_store_t *store, struct event_base *base, const char *url,
                    const char **why)
{
    nm_redis_addr_t addr;
    if (nm_redis_addr_parse(&addr, url, why) < 0)
        return -1;
    redis_be_t *r = calloc(1, sizeof(*r));
    if (!r) {
        nm_redis_addr_free(&addr);
        *why = "out of memory";
        return -1;
    }
    r->store = store;
    nm_strmap_init(&r->pending_urls);
    nm_strmap_init(&r->pending_purges);
    nm_strmap_init(&r->pending_prefixes);
    nm_strmap_init(&r->pending_fresh);
    nm_strmap_init(&r->open_counts);
    nm_strmap_init(&r->sent_counts);
    uint64_t id;
    if (getrandom(&id, sizeof(id), 0) != (ssize_t)sizeof(id))
        id = (uint64_t)time(NULL) << 20 ^ (uint64_t)getpid() << 44 ^
             (uint64_t)clock();
    snprintf(r->id, sizeof(r->id), "%016" PRIx64, id);
    static const nm_redis_link_cbs_t cbs = {.on_up = on_up, .on_down = on_down};
    r->link = nm_redis_link_new(base, &addr, &cbs, r);
    r->tick_ev = event_new(base, -1, EV_PERSIST, on_tick, r);
    r->batch_ev = evtimer_new(base, on_batch_ev, r);
    if (!r->link || !r->tick_ev || !r->batch_ev) {
        *why = "out of memory";
        be_close(r);
        return -1;
    }
    struct timeval sec = {1, 0};
    event_add(r->tick_ev, &sec);
    nm_store_backend_t be = {
        .self = r,
        .url_changed = be_url_changed,
        .url_purged = be_url_purged,
        .prefix_changed = be_prefix_changed,
        .fresh_changed = be_fresh_changed,
        .count = be_count,
        .describe = be_describe,
        .is_idle = be_is_idle,
        .close = be_close,
    };
    nm_store_set_backend(store, &be);
    return 0;
}
