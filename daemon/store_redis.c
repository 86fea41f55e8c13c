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

#include <hiredis/adapters/libevent.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "fresh.h"
#include "log.h"
#include "strmap.h"

#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 2000
#define STALL_MS 3000       /* no reply for this long: drop the connection */
#define PREFIX_SYNC_TICKS 5 /* re-read notmod:disabled, :fresh every 5 s */
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
    struct event_base *base;
    nm_store_t *store;
    char *desc, *host, *unix_path, *password;
    int port, db;
    redisAsyncContext *ac;
    bool is_ready, has_warmed;
    int backoff_ms;
    struct event *retry_ev, *tick_ev;
    unsigned ticks;
    int64_t inflight, last_progress_ms, connect_started_ms;
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
    struct event *drop_ev;   /* drops the connection, outside hiredis */
    char drop_why[160];      /* why drop_ev will drop it */
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
    K_SCAN,      /* warm: SCAN notmod:url:* */
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

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

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

static void on_reply(redisAsyncContext *c, void *reply, void *priv);

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

/* After hiredis took (rc REDIS_OK) or refused c: on a refused send the
 * failure path runs at once. */
static void cmd_sent(redis_be_t *r, cmd_t *c, int rc)
{
    if (rc != REDIS_OK) {
        on_reply(NULL, NULL, c);
        return;
    }
    if (r->inflight++ == 0)
        r->last_progress_ms = now_ms();
}

/* Sends one command (hiredis format) with a callback context. */
static void send_cmd(redis_be_t *r, kind_t kind, const char *a, int64_t n,
                     const char *fmt, ...)
{
    cmd_t *c = cmd_new(r, kind, a, n);
    if (!c)
        return;
    va_list ap;
    va_start(ap, fmt);
    int rc =
        r->ac ? redisvAsyncCommand(r->ac, on_reply, c, fmt, ap) : REDIS_ERR;
    va_end(ap);
    cmd_sent(r, c, rc);
}

/* The same with an argument vector. */
static void send_argv(redis_be_t *r, kind_t kind, const char *a, int64_t n,
                      int argc, const char **argv, const size_t *lens)
{
    cmd_t *c = cmd_new(r, kind, a, n);
    if (!c)
        return;
    int rc = r->ac ? redisAsyncCommandArgv(r->ac, on_reply, c, argc, argv, lens)
                   : REDIS_ERR;
    cmd_sent(r, c, rc);
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
 * replicate_commands: before Redis 5 a script may write after TIME only
 * once it asked for its effects, not its body, to be replicated. EVAL, not
 * EVALSHA: one per change, and no NOSCRIPT to handle. */
static const char EPOCH_SCRIPT[] =
    "if redis.replicate_commands then redis.replicate_commands() end\n"
    "local f = ARGV[1]\n"
    "local lmf = f == 'pin' and 'pin_lm' or 'lm'\n"
    "local h = redis.call('HMGET', KEYS[1], f, lmf, 'hwm',\n"
    "                     'tag', 'lm', 'pin')\n"
    "if h[1] == ARGV[2] and h[2] then return tonumber(h[2]) end\n"
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
    send_cmd(r, is_pin ? K_PIN_EPOCH : K_TAG_EPOCH, rec->url,
             (int64_t)(is_pin ? rec->pin_seq : rec->tag_seq),
             "EVAL %s 1 notmod:url:%s %s %s %" PRId64, EPOCH_SCRIPT, rec->url,
             is_pin ? "pin" : "tag", tag, rec->hwm_unix);
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
    send_cmd(r, K_PURGE, url, 0, "HDEL notmod:url:%s tag lm pin pin_lm", url);
}

static void write_prefix(redis_be_t *r, const char *prefix, bool is_disabled)
{
    send_cmd(r, K_PREFIX, prefix, is_disabled,
             is_disabled ? "SADD notmod:disabled %s"
                         : "SREM notmod:disabled %s",
             prefix);
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
        send_cmd(r, K_FRESH, prefix, FRESH_REMOVED, "HDEL notmod:fresh %s",
                 prefix);
    else
        send_cmd(r, K_FRESH, prefix, fresh_s, "HSET notmod:fresh %s %s", prefix,
                 v);
}

static void read_fresh(redis_be_t *r)
{
    send_cmd(r, K_FRESH_ALL, NULL, (int64_t)r->fresh_writes,
             "HGETALL notmod:fresh");
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
    "if tonumber(ARGV[1]) <= last then return 0 end\n"
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
        send_argv(r, K_COUNT, key, (int64_t)c->seq, (int)argc, argv, lens);
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
        nm_log(LOG_INFO,
               "redis %s: batch %" PRIu64 " of %s was applied already", r->desc,
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

static void scan(redis_be_t *r, const char *cursor)
{
    send_cmd(r, K_SCAN, NULL, 0, "SCAN %s MATCH notmod:url:* COUNT 1000",
             cursor);
}

static void warm(redis_be_t *r)
{
    r->has_warmed = true;
    scan(r, "0");
    send_cmd(r, K_MEMBERS, NULL, 0, "SMEMBERS notmod:disabled");
    read_fresh(r);
}

static void on_scan(redis_be_t *r, const redisReply *rep)
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
        send_cmd(r, K_WARM_URL, k->str + plen, 0,
                 "HMGET %s tag lm pin pin_lm hwm", k->str);
    }
    if (strcmp(rep->element[0]->str, "0") != 0)
        scan(r, rep->element[0]->str);
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
        on_scan(r, rep);
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
    case K_MEMBERS:
    case K_FRESH_ALL:
        r->has_warmed = false; /* try the whole warm-up again */
        break;
    default:
        break;
    }
}

/* Errors that say "not now" rather than "never": a Redis loading its
 * dataset after a restart, one stuck in a script, a replica without its
 * primary. The command would succeed later. */
static bool is_transient(const redisReply *rep)
{
    static const char *const kinds[] = {"LOADING ", "BUSY ", "TRYAGAIN ",
                                        "MASTERDOWN "};
    if (rep->type != REDIS_REPLY_ERROR || rep->str == NULL)
        return false;
    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
        if (strncmp(rep->str, kinds[i], strlen(kinds[i])) == 0)
            return true;
    return false;
}

/* Drops the connection from the event loop, soon: never from inside a
 * hiredis callback, where freeing the context would run the remaining
 * callbacks under our feet. */
static void drop_soon(redis_be_t *r, const char *why)
{
    static const struct timeval now = {0, 0};
    if (evtimer_pending(r->drop_ev, NULL))
        return;
    snprintf(r->drop_why, sizeof(r->drop_why), "%s", why);
    evtimer_add(r->drop_ev, &now);
}

static void on_reply(redisAsyncContext *ac, void *reply, void *priv)
{
    (void)ac;
    cmd_t *c = priv;
    redis_be_t *r = c->r;
    const redisReply *rep = reply;
    if (ac) {
        r->inflight--;
        r->last_progress_ms = now_ms();
    }
    if (rep && is_transient(rep)) {
        /* As if the connection had failed: everything is sent again once
         * it is back (counter batches too: numbered, they count once). */
        snprintf(r->last_error, sizeof(r->last_error), "%s", rep->str);
        on_failure(r, c);
        drop_soon(r, rep->str);
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

/* --- connection --- */

static void schedule_retry(redis_be_t *r)
{
    if (evtimer_pending(r->retry_ev, NULL))
        return;
    struct timeval tv = {r->backoff_ms / 1000, (r->backoff_ms % 1000) * 1000};
    evtimer_add(r->retry_ev, &tv);
    r->backoff_ms =
        r->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : r->backoff_ms * 2;
}

static void set_error(redis_be_t *r, const char *what)
{
    if (strcmp(r->last_error, what) != 0)
        nm_log(LOG_WARNING, "redis %s: %s (serving from memory, retrying)",
               r->desc, what);
    snprintf(r->last_error, sizeof(r->last_error), "%s", what);
}

/* Drops the connection: pending callbacks run with NULL and re-queue. */
static void drop(redis_be_t *r, const char *why)
{
    redisAsyncContext *ac = r->ac;
    r->ac = NULL;
    r->is_ready = false;
    set_error(r, why);
    if (ac)
        redisAsyncFree(ac);
    r->inflight = 0;
    schedule_retry(r);
}

static void on_connect(const redisAsyncContext *ac, int status)
{
    redis_be_t *r = ac->data;
    if (r->ac != ac)
        return;
    if (status != REDIS_OK) {
        r->ac = NULL; /* hiredis frees it after this callback */
        r->is_ready = false;
        r->inflight = 0;
        set_error(r, ac->errstr);
        schedule_retry(r);
        return;
    }
    r->is_ready = true;
    r->backoff_ms = BACKOFF_MIN_MS;
    nm_log(LOG_INFO, "redis %s: connected", r->desc);
    r->last_error[0] = '\0';
    replay_pending(r);
    if (!r->has_warmed)
        warm(r);
}

static void on_disconnect(const redisAsyncContext *ac, int status)
{
    redis_be_t *r = ac->data;
    if (r->ac != ac)
        return; /* we dropped it ourselves */
    r->ac = NULL;
    r->is_ready = false;
    r->inflight = 0;
    set_error(r, status == REDIS_OK ? "disconnected" : ac->errstr);
    schedule_retry(r);
}

static void connect_now(redis_be_t *r)
{
    redisAsyncContext *ac = r->unix_path ? redisAsyncConnectUnix(r->unix_path)
                                         : redisAsyncConnect(r->host, r->port);
    if (!ac || ac->err) {
        set_error(r, ac ? ac->errstr : "out of memory");
        if (ac)
            redisAsyncFree(ac);
        schedule_retry(r);
        return;
    }
    ac->data = r;
    redisLibeventAttach(ac, r->base);
    redisAsyncSetConnectCallback(ac, on_connect);
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
    r->ac = ac;
    r->inflight = 0;
    r->connect_started_ms = now_ms();
    /* Queued ahead of everything else, so they run first on connect. */
    if (r->password)
        send_cmd(r, K_PLAIN, NULL, 0, "AUTH %s", r->password);
    if (r->db)
        send_cmd(r, K_PLAIN, NULL, 0, "SELECT %d", r->db);
}

static void on_drop_ev(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    redis_be_t *r = arg;
    if (r->ac)
        drop(r, r->drop_why);
}

static void on_retry(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    connect_now(arg);
}

/* Once a second: notice a stalled Redis (SIGSTOP, network black hole) and
 * re-read the disabled prefixes other daemons may have changed. */
static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    redis_be_t *r = arg;
    int64_t t = now_ms();
    if (r->ac && !r->is_ready && t - r->connect_started_ms > STALL_MS)
        drop(r, "connect timed out");
    else if (r->ac && r->inflight > 0 && t - r->last_progress_ms > STALL_MS)
        drop(r, "no reply for 3 s");
    if (r->is_ready && ++r->ticks % PREFIX_SYNC_TICKS == 0) {
        send_cmd(r, K_MEMBERS, NULL, 0, "SMEMBERS notmod:disabled");
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
    snprintf(out, cap, "redis %s %s, %" PRId64 " in flight, %zu queued%s%s",
             r->desc, r->is_ready ? "connected" : "disconnected", r->inflight,
             pending, r->last_error[0] ? ", last error: " : "", r->last_error);
}

static bool be_is_idle(void *self)
{
    redis_be_t *r = self;
    return !r->is_ready ||
           (r->inflight == 0 && r->open_counts.count == 0 &&
            r->sent_counts.count == 0 && r->pending_urls.count == 0);
}

static void be_close(void *self)
{
    redis_be_t *r = self;
    if (r->ac) {
        redisAsyncContext *ac = r->ac;
        r->ac = NULL;
        r->is_ready = false;
        redisAsyncFree(ac);
    }
    if (r->retry_ev)
        event_free(r->retry_ev);
    if (r->tick_ev)
        event_free(r->tick_ev);
    if (r->batch_ev)
        event_free(r->batch_ev);
    if (r->drop_ev)
        event_free(r->drop_ev);
    nm_strmap_free(&r->pending_urls, NULL);
    nm_strmap_free(&r->pending_purges, NULL);
    nm_strmap_free(&r->pending_prefixes, NULL);
    nm_strmap_free(&r->pending_fresh, free);
    nm_strmap_free(&r->open_counts, counts_free);
    nm_strmap_free(&r->sent_counts, counts_free);
    free(r->desc);
    free(r->host);
    free(r->unix_path);
    free(r->password);
    free(r);
}

/* --- URL --- */

static int parse_unix(redis_be_t *r, const char *rest)
{
    const char *q = strchr(rest, '?');
    size_t n = q ? (size_t)(q - rest) : strlen(rest);
    if (n == 0 || rest[0] != '/')
        return -1;
    r->unix_path = strndup(rest, n);
    while (q && *q) {
        q++;
        size_t len = strcspn(q, "&");
        if (strncmp(q, "db=", 3) == 0)
            r->db = atoi(q + 3);
        else if (strncmp(q, "password=", 9) == 0)
            r->password = strndup(q + 9, len - 9);
        else
            return -1;
        q += len;
    }
    return 0;
}

static int parse_tcp(redis_be_t *r, const char *rest)
{
    const char *at = strrchr(rest, '@');
    if (at) {
        const char *colon = memchr(rest, ':', (size_t)(at - rest));
        /* redis://user:password@ or redis://:password@; a bare user alone
         * is ignored (Redis 6 ACL users need the password too). */
        if (colon)
            r->password = strndup(colon + 1, (size_t)(at - colon - 1));
        rest = at + 1;
    }
    size_t hlen = strcspn(rest, ":/");
    r->host = hlen ? strndup(rest, hlen) : strdup("127.0.0.1");
    r->port = 6379;
    rest += hlen;
    if (*rest == ':') {
        char *end;
        long port = strtol(rest + 1, &end, 10);
        if (end == rest + 1 || port <= 0 || port > 65535)
            return -1;
        r->port = (int)port;
        rest = end;
    }
    if (*rest == '/' && rest[1]) {
        char *end;
        r->db = (int)strtol(rest + 1, &end, 10);
        if (*end || r->db < 0)
            return -1;
    } else if (*rest && strcmp(rest, "/") != 0) {
        return -1;
    }
    return 0;
}

int nm_redis_attach(nm_store_t *store, struct event_base *base, const char *url,
                    const char **why)
{
    redis_be_t *r = calloc(1, sizeof(*r));
    if (!r)
        return -1;
    r->base = base;
    r->store = store;
    r->backoff_ms = BACKOFF_MIN_MS;
    nm_strmap_init(&r->pending_urls);
    nm_strmap_init(&r->pending_purges);
    nm_strmap_init(&r->pending_prefixes);
    nm_strmap_init(&r->pending_fresh);
    nm_strmap_init(&r->open_counts);
    nm_strmap_init(&r->sent_counts);
    uint64_t id;
    if (getrandom(&id, sizeof(id), 0) != (ssize_t)sizeof(id))
        id = (uint64_t)now_ms() ^ (uint64_t)time(NULL) << 20 ^
             (uint64_t)getpid() << 44;
    snprintf(r->id, sizeof(r->id), "%016" PRIx64, id);
    int rc = -1;
    if (strncmp(url, "unix://", 7) == 0)
        rc = parse_unix(r, url + 7);
    else if (strncmp(url, "redis://", 8) == 0)
        rc = parse_tcp(r, url + 8);
    /* The description never shows the password. */
    char desc[512];
    if (r->unix_path)
        snprintf(desc, sizeof(desc), "unix://%s db %d", r->unix_path, r->db);
    else
        snprintf(desc, sizeof(desc), "%s:%d db %d", r->host ? r->host : "?",
                 r->port, r->db);
    r->desc = strdup(desc);
    r->retry_ev = evtimer_new(base, on_retry, r);
    r->tick_ev = event_new(base, -1, EV_PERSIST, on_tick, r);
    r->batch_ev = evtimer_new(base, on_batch_ev, r);
    r->drop_ev = evtimer_new(base, on_drop_ev, r);
    if (rc < 0 || !r->desc || !r->retry_ev || !r->tick_ev || !r->batch_ev ||
        !r->drop_ev) {
        *why = "expected redis://[[user]:password@]host[:port][/db] or "
               "unix:///path[?db=N&password=P]";
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
    connect_now(r);
    return 0;
}
