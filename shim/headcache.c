/* headcache.c - see headcache.h.
 *
 * A direct-mapped table of SLOTS entries in a MAP_SHARED anonymous mapping
 * made before the server forks (about 300 KiB of address space, pages
 * touched only when used). Each slot has its own try-lock, as in
 * tagwatch.c: a process killed inside one leaves only that slot locked,
 * which makes its URLs misses (no tag), never wrong ones. */
#include "headcache.h"

#include "clock.h"
#include "config.h"
#include "shared_map.h"
#include "symbols.h"

#include "bodyhash.h"
#include "http_hdr.h"
#include "httpdate.h"

#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define SLOTS 1024
#define PATH_CAP 256 /* longer paths are not remembered */
#define RECENT 4     /* files a thread opened that a body may be */
#define MEMOS 16     /* held 200s a thread recorded lately */
#define RECHECK_MS 1000

/* What a slot remembers of one URL's 200. */
struct rec {
    uint64_t url_hash;  /* 0: empty */
    uint64_t meta_hash; /* Content-Length, Last-Modified, encoding */
    int64_t lm_unix;    /* the 200's Last-Modified, -1: none */
    bool has_encoding;
    nm_file_id_t id;
    char path[PATH_CAP];
    char tag[NM_BODYHASH_TAG_LEN + 1];
};

struct entry {
    atomic_flag busy;
    struct rec r;
};

/* A file this thread opened read-only since its last held 200: its fd,
 * and the path it was opened by when that was absolute ("" otherwise). */
struct opened {
    int fd; /* -1: none */
    char path[PATH_CAP];
};

static _Atomic(void *) table;

/* The shared table, or NULL before (or without) nm_headcache_init. */
static struct entry *entries(void)
{
    return nm_shared_map_get(&table);
}

static __thread struct opened recent[RECENT] = {
    {-1, ""}, {-1, ""}, {-1, ""}, {-1, ""}};
static __thread unsigned recent_next;

/* A held 200 this thread recorded from its file (nm_headcache_put_held). */
struct memo {
    uint64_t url_hash, meta_hash;
    uint64_t at_ms;
    char tag[NM_BODYHASH_TAG_LEN + 1];
};
static __thread struct memo memos[MEMOS];

void nm_headcache_init(void)
{
    nm_shared_map_once(&table, SLOTS * sizeof(struct entry));
}

/* Content-Length (below 2^63: the parser's limit), whether there is a
 * Content-Encoding (bit 63) and Last-Modified. Without Last-Modified the
 * hash is one-to-one (an odd multiplier); with it, XXH3 of the date seeded
 * by that. The table lives no longer than the process image: the hash
 * only has to be the same everywhere in it. */
static uint64_t meta_hash(const nm_resp_t *p)
{
    uint64_t cl = (p->flags & NM_RESP_HAS_CL) ? p->content_length : ~0ull;
    if (p->flags & NM_RESP_HAS_CONTENT_ENCODING)
        cl ^= 1ull << 63;
    uint64_t h = cl * 0x9e3779b97f4a7c15ull;
    if (p->flags & NM_RESP_HAS_LAST_MODIFIED)
        h = XXH3_64bits_withSeed(p->last_modified, p->last_modified_len, h);
    return h;
}

static int64_t lm_of(const nm_resp_t *resp)
{
    int64_t lm;
    if (!(resp->flags & NM_RESP_HAS_LAST_MODIFIED) ||
        nm_httpdate_parse(resp->last_modified, resp->last_modified_len,
                          INT64_MAX / 2, &lm) != 0)
        return -1;
    return lm;
}

void nm_headcache_note_open(int fd, const char *path)
{
    struct opened *o = &recent[recent_next++ % RECENT];
    o->fd = fd;
    size_t n = path != NULL && path[0] == '/' ? strnlen(path, PATH_CAP) : 0;
    n = n < PATH_CAP ? n : 0;
    memcpy(o->path, path, n);
    o->path[n] = '\0';
}

/* The path of the file open as fd, of identity id, into out (PATH_CAP
 * bytes). /proc/self/fd says it, unless the server changed its uid and
 * the kernel hides its fds from it (h2o as www-data); then the path the
 * thread opened it by, if that still names this very file. */
static bool path_of(int fd, const nm_file_id_t *id, char *out)
{
    char proc[32];
    snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
    ssize_t len = readlink(proc, out, PATH_CAP - 1);
    if (len > 0 && (size_t)len < PATH_CAP - 1 && out[0] == '/') {
        out[len] = '\0';
        return true;
    }
    for (unsigned i = 0; i < RECENT; i++) {
        struct stat st;
        nm_file_id_t now;
        if (recent[i].fd != fd || recent[i].path[0] != '/' ||
            stat(recent[i].path, &st) != 0)
            continue;
        nm_file_id_of(&st, &now);
        if (nm_file_id_equal(id, &now)) {
            memcpy(out, recent[i].path, PATH_CAP);
            return true;
        }
    }
    return false;
}

/* Does the head carry Vary? A negotiated body is one of several a URL
 * has, and a HEAD or a 304 cannot tell which: such a 200 leaves no entry.
 * The parser kept where each field line starts, so this is a glance at
 * their first bytes (nm_hdr_find otherwise). */
static bool has_vary(const nm_resp_t *resp, const char *head, size_t head_len)
{
    nm_slice_t vary;
    if (resp->line_count > NM_RESP_LINES_MAX || resp->head_len != head_len)
        return nm_hdr_find(head, head_len, "vary", &vary) != 0;
    for (unsigned i = 0; i < resp->line_count; i++) {
        const char *p = head + resp->line_start[i];
        if ((p[0] | 0x20) == 'v' && head + head_len - p > 5 &&
            strncasecmp(p, "vary:", 5) == 0)
            return true;
    }
    return false;
}

/* Is slot e already this URL's record (path aside)? The steady state: no
 * syscall, no record built. */
static bool is_known(struct entry *e, uint64_t url_hash, uint64_t meta,
                     const nm_file_id_t *id, const char *tag)
{
    if (!nm_shared_try_lock(&e->busy))
        return true; /* busy: leave it to the other writer */
    bool same = e->r.url_hash == url_hash && e->r.meta_hash == meta &&
                nm_file_id_equal(&e->r.id, id) &&
                memcmp(e->r.tag, tag, sizeof(e->r.tag)) == 0;
    nm_shared_unlock(&e->busy);
    return same;
}

void nm_headcache_put_file(uint64_t url_key, const nm_resp_t *resp,
                           const char *head, size_t head_len, const char *tag,
                           int fd, const nm_file_id_t *id)
{
    /* The URL's store key names its entry: made once per request. */
    if (entries() == NULL || url_key == 0 || !(resp->flags & NM_RESP_HAS_CL) ||
        resp->content_length != (uint64_t)id->size)
        return;
    uint64_t meta = meta_hash(resp);
    struct entry *e = &entries()[url_key % SLOTS];
    /* Known already (the steady state), or a negotiated body: no write.
     * Either way the entry stays as it was, so the cheaper test first. */
    if (is_known(e, url_key, meta, id, tag) || has_vary(resp, head, head_len))
        return;
    struct rec n;
    n.url_hash = url_key;
    n.meta_hash = meta;
    n.id = *id;
    memcpy(n.tag, tag, sizeof(n.tag));
    n.lm_unix = lm_of(resp);
    n.has_encoding = (resp->flags & NM_RESP_HAS_CONTENT_ENCODING) != 0;
    /* The path is what a HEAD or a 304 will stat; the fd is gone by
     * then. */
    if (!path_of(fd, id, n.path) || !nm_shared_try_lock(&e->busy))
        return;
    e->r = n;
    nm_shared_unlock(&e->busy);
}

/* Records the URL's file when fd holds exactly the body: body_len bytes
 * whose hash is tag. Only a file of that very length is hashed (once per
 * identity, filehash.c), and only an equal hash names it. One fstat per
 * response, as for a body sent with sendfile. */
static bool put_if_body(uint64_t url_key, const nm_resp_t *resp,
                        const char *head, size_t head_len, const char *tag,
                        uint64_t body_len, int fd)
{
    char file_tag[NM_BODYHASH_TAG_LEN + 1];
    nm_file_id_t id;
    if (!nm_filehash_tag_whole(fd, body_len, nm_cfg.seed, file_tag, &id) ||
        strcmp(file_tag, tag) != 0)
        return false;
    nm_headcache_put_file(url_key, resp, head, head_len, tag, fd, &id);
    return true;
}

/* Did this thread record the 200 of url_key, with these head facts and
 * this tag, less than RECHECK_MS ago? Then it is not looked at again: a
 * record is a hint that a HEAD or a 304 checks against the file by path
 * first (file_unchanged), so a refresh skipped can cost a tag for a while,
 * never give a wrong one; and what it skips (an fstat, the file's tag) is
 * most of what recording costs a held response. */
static bool is_recorded_lately(uint64_t url_key, uint64_t meta, const char *tag)
{
    const struct memo *e = &memos[url_key % MEMOS];
    return url_key != 0 && e->url_hash == url_key && e->meta_hash == meta &&
           nm_now_ms() - e->at_ms < RECHECK_MS && strcmp(e->tag, tag) == 0;
}

static void note_recorded(uint64_t url_key, uint64_t meta, const char *tag)
{
    struct memo *e = &memos[url_key % MEMOS];
    e->url_hash = url_key;
    e->meta_hash = meta;
    e->at_ms = nm_now_ms();
    memcpy(e->tag, tag, sizeof(e->tag));
}

void nm_headcache_put_held(uint64_t url_key, const nm_resp_t *resp,
                           const char *head, size_t head_len, const char *tag,
                           uint64_t body_len)
{
    uint64_t meta = meta_hash(resp);
    bool is_recorded = body_len == 0 || is_recorded_lately(url_key, meta, tag);
    bool is_new = false;
    for (unsigned i = 0; i < RECENT && !is_recorded; i++) {
        const struct opened *o = &recent[i];
        struct stat st;
        if (o->fd < 0)
            continue;
        is_recorded =
            put_if_body(url_key, resp, head, head_len, tag, body_len, o->fd);
        is_new = is_recorded;
        /* Closed already (python reads a file whole, closes it, then
         * writes): the path it was opened by, if it holds those bytes. */
        if (is_recorded || o->path[0] != '/' || stat(o->path, &st) != 0 ||
            (uint64_t)st.st_size != body_len)
            continue;
        int fd = nm_real_open(o->path, O_RDONLY | O_CLOEXEC, 0);
        if (fd < 0)
            continue;
        is_recorded = is_new =
            put_if_body(url_key, resp, head, head_len, tag, body_len, fd);
        nm_real_close(fd);
    }
    if (is_new)
        note_recorded(url_key, meta, tag);
    for (unsigned i = 0; i < RECENT; i++)
        recent[i].fd = -1;
}

/* A copy of the URL's entry; false when there is none (or it is busy). */
static bool find(uint64_t u, struct rec *copy)
{
    if (entries() == NULL || u == 0)
        return false;
    struct entry *e = &entries()[u % SLOTS];
    if (!nm_shared_try_lock(&e->busy))
        return false;
    bool is_hit = e->r.url_hash == u;
    if (is_hit)
        *copy = e->r;
    nm_shared_unlock(&e->busy);
    return is_hit;
}

/* The file must still be the one hashed: same inode, size, mtime and
 * ctime. A file replaced or rewritten since names other bytes. */
static bool file_unchanged(const struct rec *e)
{
    struct stat st;
    nm_file_id_t now;
    if (stat(e->path, &st) != 0 || !S_ISREG(st.st_mode))
        return false;
    nm_file_id_of(&st, &now);
    return nm_file_id_equal(&e->id, &now);
}

bool nm_headcache_get(uint64_t url_key, const nm_resp_t *resp, char *tag)
{
    struct rec copy;
    if (!(resp->flags & NM_RESP_HAS_CL) || !find(url_key, &copy) ||
        copy.meta_hash != meta_hash(resp) || !file_unchanged(&copy))
        return false;
    memcpy(tag, copy.tag, sizeof(copy.tag));
    return true;
}

bool nm_headcache_get_for_304(uint64_t url_key, char *tag, int64_t *lm_unix)
{
    struct rec copy;
    if (!find(url_key, &copy) || copy.has_encoding || copy.lm_unix < 0 ||
        !file_unchanged(&copy))
        return false;
    memcpy(tag, copy.tag, sizeof(copy.tag));
    *lm_unix = copy.lm_unix;
    return true;
}
