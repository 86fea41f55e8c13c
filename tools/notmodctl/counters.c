/* counters.c - see counters.h. */
#include "counters.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ctlsock.h"
#include "notmodctl.h"

const char *const nm_ctr_names[NM_CTR_COUNT] = {
    "requests",    "revalidations",    "revalidation_hits",     "missed",
    "bytes_saved", "hits_accelerated", "server_time_avoided_us"};

#define FIELDS_MAX 64

/* Which figure a daemon field adds to, or -1 for one the views ignore.
 * Every hits_* field is a kind of revalidation hit (notmodd(8), FIGURES),
 * so a kind added later is counted without a change here. */
static int ctr_of_field(const char *name, size_t len)
{
    static const struct {
        const char *name;
        int ctr;
    } map[] = {{"requests", NM_CTR_REQUESTS},
               {"revalidations", NM_CTR_REVALIDATIONS},
               {"missed", NM_CTR_MISSED},
               {"bytes_saved", NM_CTR_BYTES_SAVED},
               {"server_time_avoided_us", NM_CTR_AVOIDED_US}};
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
        if (strlen(map[i].name) == len && memcmp(map[i].name, name, len) == 0)
            return map[i].ctr;
    if (len > 5 && memcmp(name, "hits_", 5) == 0)
        return NM_CTR_HITS;
    return -1;
}

/* A second figure a field adds to (its kind of hit), or -1. */
static int ctr2_of_field(const char *name, size_t len)
{
    return len == 16 && memcmp(name, "hits_accelerated", 16) == 0
               ? NM_CTR_ACCELERATED
               : -1;
}

/* Reads the values after a "totals" or "route" label; *p is left at the
 * byte after the last value. */
static int parse_values(const char **p, const int *ctr_of, const int *ctr2_of,
                        size_t nfields, nm_ctrs_t *out)
{
    memset(out, 0, sizeof(*out));
    for (size_t i = 0; i < nfields; i++) {
        if (**p != ' ')
            return -1;
        char *end;
        errno = 0;
        uint64_t v = strtoull(*p + 1, &end, 10);
        if (end == *p + 1 || errno)
            return -1;
        if (ctr_of[i] >= 0)
            out->v[ctr_of[i]] += v;
        if (ctr2_of[i] >= 0)
            out->v[ctr2_of[i]] += v;
        *p = end;
    }
    return 0;
}

static int by_route(const void *a, const void *b)
{
    return strcmp(((const nm_route_ctrs_t *)a)->route,
                  ((const nm_route_ctrs_t *)b)->route);
}

static int add_route(nm_sample_t *s, size_t *cap, const char *name, size_t len,
                     const nm_ctrs_t *c)
{
    if (s->nroutes == *cap) {
        size_t ncap = *cap ? *cap * 2 : 64;
        nm_route_ctrs_t *r = realloc(s->routes, ncap * sizeof(*r));
        if (!r)
            return -1;
        s->routes = r;
        *cap = ncap;
    }
    char *copy = strndup(name, len);
    if (!copy)
        return -1;
    s->routes[s->nroutes].route = copy;
    s->routes[s->nroutes].c = *c;
    s->nroutes++;
    return 0;
}

int nm_sample_parse(const char *payload, nm_sample_t *s)
{
    memset(s, 0, sizeof(*s));
    int ctr_of[FIELDS_MAX], ctr2_of[FIELDS_MAX];
    size_t nfields = 0, cap = 0;
    bool has_fields = false, has_totals = false;
    for (const char *p = payload; *p;) {
        const char *eol = strchr(p, '\n');
        if (!eol)
            goto bad; /* every line ends with a newline */
        if (strncmp(p, "uptime_s ", 9) == 0) {
            s->uptime_s = strtoll(p + 9, NULL, 10);
        } else if (strncmp(p, "fields", 6) == 0) {
            for (const char *f = p + 6; f < eol && *f == ' ';) {
                size_t len = strcspn(f + 1, " \n");
                if (nfields == FIELDS_MAX)
                    goto bad;
                ctr2_of[nfields] = ctr2_of_field(f + 1, len);
                ctr_of[nfields++] = ctr_of_field(f + 1, len);
                f += 1 + len;
            }
            has_fields = true;
        } else if (strncmp(p, "totals", 6) == 0 && has_fields) {
            const char *q = p + 6;
            if (parse_values(&q, ctr_of, ctr2_of, nfields, &s->totals) < 0 ||
                q != eol)
                goto bad;
            has_totals = true;
        } else if (strncmp(p, "route", 5) == 0 && has_fields) {
            const char *q = p + 5;
            nm_ctrs_t c;
            if (parse_values(&q, ctr_of, ctr2_of, nfields, &c) < 0 ||
                *q != ' ' || q + 1 >= eol ||
                add_route(s, &cap, q + 1, eol - q - 1, &c) < 0)
                goto bad;
        } /* other lines: added later, for other clients */
        p = eol + 1;
    }
    if (!has_totals)
        goto bad;
    if (s->nroutes > 1)
        qsort(s->routes, s->nroutes, sizeof(*s->routes), by_route);
    return 0;
bad:
    nm_sample_free(s);
    return -1;
}

int nm_sample_fetch(const char *control, bool with_routes, nm_sample_t *s)
{
    char *answer = NULL;
    int rc = nm_ctl_request(
        control, with_routes ? "counters routes\n" : "counters\n", &answer);
    if (rc != EXIT_OK)
        return rc;
    double t = nm_now_s();
    const char *payload = nm_ctl_payload(answer);
    if (!payload) {
        rc = EXIT_FAILED;
    } else if (nm_sample_parse(payload, s) < 0) {
        fprintf(stderr, "notmodctl: the daemon's counters could not be read "
                        "(is notmodd older than notmodctl?)\n");
        rc = EXIT_FAILED;
    } else {
        s->t_s = t;
    }
    free(answer);
    return rc;
}

void nm_sample_free(nm_sample_t *s)
{
    for (size_t i = 0; i < s->nroutes; i++)
        free(s->routes[i].route);
    free(s->routes);
    memset(s, 0, sizeof(*s));
}

const nm_ctrs_t *nm_sample_route(const nm_sample_t *s, const char *route)
{
    nm_route_ctrs_t key = {(char *)route, {{0}}};
    const nm_route_ctrs_t *r =
        s->nroutes
            ? bsearch(&key, s->routes, s->nroutes, sizeof(*s->routes), by_route)
            : NULL;
    return r ? &r->c : NULL;
}

bool nm_sample_restarted(const nm_sample_t *prev, const nm_sample_t *cur)
{
    if (cur->uptime_s < prev->uptime_s)
        return true;
    for (int i = 0; i < NM_CTR_COUNT; i++)
        if (cur->totals.v[i] < prev->totals.v[i])
            return true;
    return false;
}

static double hit_rate(uint64_t hits, uint64_t revalidations)
{
    return revalidations ? (double)hits / (double)revalidations : -1.0;
}

void nm_rates_between(const nm_ctrs_t *old, const nm_ctrs_t *now, double dt_s,
                      nm_rates_t *out)
{
    uint64_t d[NM_CTR_COUNT];
    for (int i = 0; i < NM_CTR_COUNT; i++) {
        /* A route folded into "(other)" can shrink: no negative rates. */
        d[i] = now->v[i] >= old->v[i] ? now->v[i] - old->v[i] : 0;
        out->per_s[i] = (double)d[i] / dt_s;
    }
    out->hit_rate = hit_rate(d[NM_CTR_HITS], d[NM_CTR_REVALIDATIONS]);
}

double nm_ctrs_hit_rate(const nm_ctrs_t *c)
{
    return hit_rate(c->v[NM_CTR_HITS], c->v[NM_CTR_REVALIDATIONS]);
}

double nm_now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void nm_history_add(nm_history_t *h, const nm_sample_t *s)
{
    if (h->count) {
        size_t last = (h->head + NM_HISTORY_LEN - 1) % NM_HISTORY_LEN;
        if (s->t_s - h->t_s[last] < 1.0)
            return;
    }
    h->t_s[h->head] = s->t_s;
    h->c[h->head] = s->totals;
    h->head = (h->head + 1) % NM_HISTORY_LEN;
    if (h->count < NM_HISTORY_LEN)
        h->count++;
}

bool nm_history_rates(const nm_history_t *h, const nm_sample_t *s,
                      double window_s, nm_rates_t *out)
{
    /* Walk from the newest kept sample back to the oldest. */
    size_t pick = NM_HISTORY_LEN;
    for (size_t k = 0; k < h->count; k++) {
        size_t i = (h->head + NM_HISTORY_LEN - 1 - k) % NM_HISTORY_LEN;
        if (h->t_s[i] >= s->t_s)
            continue;
        pick = i;
        if (s->t_s - h->t_s[i] >= window_s)
            break;
    }
    if (pick == NM_HISTORY_LEN)
        return false;
    nm_rates_between(&h->c[pick], &s->totals, s->t_s - h->t_s[pick], out);
    return true;
}
