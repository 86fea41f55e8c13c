/* gen_seeds.c - writes the binary seeds that are easier to generate than to
 * keep in git: event records (nm_event_encode) and small snapshots (the
 * nm_snapshot_w_* writer, native layout), prefixed as fuzz_event.c and
 * fuzz_snapshot.c expect. Built and run by tools/fuzz.sh:
 * gen_seeds <dir> writes <dir>/event/ and <dir>/snapshot/. */
#include "event.h"
#include "snapshot.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static int write_file(const char *dir, const char *name, const void *a,
                      size_t alen, const void *b, size_t blen)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (f == NULL) {
        perror(path);
        return -1;
    }
    int rc = 0;
    if ((alen && fwrite(a, 1, alen, f) != alen) ||
        (blen && fwrite(b, 1, blen, f) != blen))
        rc = -1;
    if (fclose(f) != 0)
        rc = -1;
    return rc;
}

static nm_slice_t sl(const char *s)
{
    nm_slice_t r = {s, strlen(s)};
    return r;
}

static int event_seeds(const char *dir)
{
    static const struct {
        const char *name;
        uint8_t flags, outcome;
        uint16_t status, reason;
        const char *validator, *host, *path;
    } rows[] = {
        {"sub304", NM_EVENT_F_COND_INM, NM_OUTCOME_SUBSTITUTED_304, 200, 0,
         "\"abc123\"", "example.com", "/index.html?x=1"},
        {"token", NM_EVENT_F_TOKEN | NM_EVENT_F_SYNTH_TAG, NM_OUTCOME_TAG_ADDED,
         200, 0, "W/\"nm-1f2e\"", "localhost:8080", "/static/app.js"},
        {"not_handled", 0, NM_OUTCOME_NOT_HANDLED, 404, NM_REASON_STATUS, "",
         "", "/missing"},
        {"empty", 0, NM_OUTCOME_PASSED, 200, 0, "", "", ""},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        nm_event_t ev = {0};
        ev.pid = 4242;
        ev.flags = rows[i].flags;
        ev.method = NM_METHOD_GET;
        ev.outcome = rows[i].outcome;
        ev.status = rows[i].status;
        ev.reason = rows[i].reason;
        ev.body_len = 10240;
        ev.bytes_saved = 10240;
        ev.token = 0x0123456789abcdefull;
        ev.validator = sl(rows[i].validator);
        ev.host = sl(rows[i].host);
        ev.path = sl(rows[i].path);
        uint8_t buf[NM_EVENT_MAX_LEN];
        int n = nm_event_encode(buf, sizeof(buf), &ev);
        if (n < 0 || write_file(dir, rows[i].name, buf, (size_t)n, NULL, 0))
            return -1;
    }
    return 0;
}

/* host length, target length (2 bytes), host, target: the lookup key the
 * harness uses, followed by the region. */
static int snapshot_seed(const char *dir, const char *name, const void *map,
                         size_t len, const char *host, const char *target)
{
    uint8_t pre[3 + 255 + 1024];
    size_t hl = strlen(host), tl = strlen(target);
    pre[0] = (uint8_t)hl;
    pre[1] = (uint8_t)tl;
    pre[2] = (uint8_t)(tl >> 8);
    memcpy(pre + 3, host, hl);
    memcpy(pre + 3 + hl, target, tl);
    return write_file(dir, name, pre, 3 + hl + tl, map, len);
}

static int snapshot_seeds(const char *dir)
{
    size_t len = nm_snapshot_region_len(16);
    void *map = aligned_alloc(64, len);
    if (map == NULL)
        return -1;
    memset(map, 0, len);
    int rc = nm_snapshot_w_init(map, len, 16, 1);
    nm_snapshot_w_begin(map);
    rc |= nm_snapshot_w_put_url(map, len, sl("example.com"), sl("/index.html"),
                                sl("\"abc123\""), 1700000000, false);
    rc |= nm_snapshot_w_put_url(map, len, sl("Example.COM"), sl("/a/b?q=1"),
                                sl("W/\"weak-7\""), 1700000100, true);
    rc |= nm_snapshot_w_put_url(map, len, sl("localhost"), sl("/notag"), sl(""),
                                0, false);
    rc |= nm_snapshot_w_set_disabled(map, len, sl("example.com"), sl("/admin/"),
                                     true);
    rc |= nm_snapshot_w_set_disabled(map, len, sl(""), sl("/api"), true);
    rc |= nm_snapshot_w_set_fresh(map, len, sl(""), sl("/a"), true, 300);
    rc |= nm_snapshot_w_set_fresh(map, len, sl("example.com"), sl("/a/b"), true,
                                  -1);
    nm_snapshot_w_set_accelerate_origin(map, true);
    nm_snapshot_w_end(map, 1700000200);
    if (rc != 0) {
        free(map);
        return -1;
    }
    rc |= snapshot_seed(dir, "hit", map, len, "example.com", "/index.html");
    rc |= snapshot_seed(dir, "hit_pinned", map, len, "example.com", "/a/b?q=1");
    rc |= snapshot_seed(dir, "disabled", map, len, "example.com",
                        "/admin/users/1");
    rc |= snapshot_seed(dir, "disabled_any", map, len, "other", "/api/v1?x");
    rc |= snapshot_seed(dir, "miss", map, len, "example.com", "/nope");
    nm_snapshot_w_retire(map);
    rc |= snapshot_seed(dir, "retired", map, len, "localhost", "/notag");
    free(map);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: gen_seeds <dir>\n");
        return 2;
    }
    char ev_dir[4096], sn_dir[4096];
    snprintf(ev_dir, sizeof(ev_dir), "%s/event", argv[1]);
    snprintf(sn_dir, sizeof(sn_dir), "%s/snapshot", argv[1]);
    mkdir(argv[1], 0755);
    mkdir(ev_dir, 0755);
    mkdir(sn_dir, 0755);
    if (event_seeds(ev_dir) != 0 || snapshot_seeds(sn_dir) != 0) {
        fprintf(stderr, "gen_seeds: failed\n");
        return 1;
    }
    return 0;
}
