/* top.c - see top.h.
 *
 * Every interval it polls the daemon's counters ("counters routes") and
 * shows, beside each total, the rate since the previous poll, the way
 * varnishstat does; the header adds 10, 100 and 1000 second averages from
 * the totals kept in an nm_history_t. The daemon keeps no rates: two
 * clients, or none, cost it nothing beyond answering. */
#include "top.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "counters.h"
#include "fmt.h"
#include "notmodctl.h"
#include "term.h"

#define ROUTES_DEFAULT 10
#define ROUTES_MAX 1000
#define ROUTE_MIN_WIDTH 24
/* The route table's columns after the route, each " %7s". */
#define ROUTE_COLS 7
#define COL_WIDTH 7

enum sort_key { SORT_REVALIDATIONS, SORT_MISSES, SORT_BYTES, SORT_RATE };

static const struct {
    const char *name;
    int key; /* on the live screen */
} sorts[] = {
    {"revalidations", 'v'}, {"misses", 'm'}, {"bytes", 'b'}, {"rate", 'r'}};
#define NSORTS (int)(sizeof(sorts) / sizeof(sorts[0]))

typedef struct top_args {
    long routes;    /* -n; 0: as many as fit (screen) or ROUTES_DEFAULT */
    double delay_s; /* -d */
    int sort;
    bool is_once, is_json;
} top_args_t;

/* One route's line: totals, and rates when the previous poll allows. */
typedef struct row {
    const char *route;
    const nm_ctrs_t *c;
    nm_rates_t r;
    bool has_rates;
} row_t;

/* What one frame shows. */
typedef struct view {
    const nm_sample_t *cur;
    double interval_s; /* 0: no rates yet */
    nm_rates_t rates;
    nm_rates_t avg[3];
    bool has_avg[3];
    row_t *rows;
    size_t nrows;
    int sort;
} view_t;

static const double avg_windows_s[3] = {10, 100, 1000};

static int usage_error(const char *usage, const char *why)
{
    fprintf(stderr, "notmodctl: %s (usage: notmodctl %s)\n", why, usage);
    return EXIT_USAGE;
}

static int sort_of(const char *name)
{
    for (int i = 0; i < NSORTS; i++)
        if (strcmp(sorts[i].name, name) == 0)
            return i;
    return -1;
}

static int parse_args(int argc, char **argv, const char *usage, top_args_t *a)
{
    *a = (top_args_t){0, 1.0, SORT_REVALIDATIONS, false, false};
    for (int i = 1; i < argc; i++) {
        const char *opt = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        char *end = NULL;
        if (strcmp(opt, "--once") == 0) {
            a->is_once = true;
        } else if (strcmp(opt, "--json") == 0) {
            a->is_json = true;
        } else if (strcmp(opt, "-n") == 0) {
            a->routes = v ? strtol(v, &end, 10) : 0;
            if (!v || !*v || *end || a->routes < 1 || a->routes > ROUTES_MAX)
                return usage_error(usage, "-n: N must be 1..1000");
            i++;
        } else if (strcmp(opt, "-d") == 0) {
            errno = 0;
            a->delay_s = v ? strtod(v, &end) : 0;
            if (!v || !*v || *end || errno || !(a->delay_s >= 0.1) ||
                a->delay_s > 3600)
                return usage_error(usage,
                                   "-d: SECONDS must be from 0.1 to 3600");
            i++;
        } else if (strcmp(opt, "-s") == 0) {
            a->sort = v ? sort_of(v) : -1;
            if (a->sort < 0)
                return usage_error(
                    usage, "-s: KEY is revalidations, misses, bytes or rate");
            i++;
        } else {
            char why[128];
            snprintf(why, sizeof(why), "unexpected argument '%.64s'", opt);
            return usage_error(usage, why);
        }
    }
    return EXIT_OK;
}

static int sort_field(int sort)
{
    switch (sort) {
    case SORT_MISSES:
        return NM_CTR_MISSED;
    case SORT_BYTES:
        return NM_CTR_BYTES_SAVED;
    default:
        return NM_CTR_REVALIDATIONS;
    }
}

static int cmp_u64(uint64_t a, uint64_t b)
{
    return a < b ? 1 : a > b ? -1 : 0; /* larger first */
}

/* Larger first by the sort key, then by revalidations and requests, then
 * by name, so that equal rows do not swap places between frames. */
static int by_sort_key(const void *a_, const void *b_, void *sort_)
{
    const row_t *a = a_, *b = b_;
    int sort = *(const int *)sort_;
    int c = 0;
    if (sort == SORT_RATE) {
        double ra = a->has_rates ? a->r.per_s[NM_CTR_REQUESTS] : 0;
        double rb = b->has_rates ? b->r.per_s[NM_CTR_REQUESTS] : 0;
        c = ra < rb ? 1 : ra > rb ? -1 : 0;
    } else {
        int f = sort_field(sort);
        c = cmp_u64(a->c->v[f], b->c->v[f]);
    }
    if (!c)
        c = cmp_u64(a->c->v[NM_CTR_REVALIDATIONS],
                    b->c->v[NM_CTR_REVALIDATIONS]);
    if (!c)
        c = cmp_u64(a->c->v[NM_CTR_REQUESTS], b->c->v[NM_CTR_REQUESTS]);
    return c ? c : strcmp(a->route, b->route);
}

static void sort_rows(view_t *v)
{
    if (v->nrows > 1)
        qsort_r(v->rows, v->nrows, sizeof(*v->rows), by_sort_key, &v->sort);
}

/* Fills v from cur and, when it has one, the poll before (prev). */
static int build_view(view_t *v, const nm_sample_t *prev,
                      const nm_sample_t *cur, const nm_history_t *h, int sort)
{
    memset(v, 0, sizeof(*v));
    v->cur = cur;
    v->sort = sort;
    bool has_prev = prev && prev->t_s > 0 && cur->t_s > prev->t_s &&
                    !nm_sample_restarted(prev, cur);
    if (has_prev) {
        v->interval_s = cur->t_s - prev->t_s;
        nm_rates_between(&prev->totals, &cur->totals, v->interval_s, &v->rates);
        for (int i = 0; i < 3; i++)
            v->has_avg[i] =
                h && nm_history_rates(h, cur, avg_windows_s[i], &v->avg[i]);
    }
    v->rows = calloc(cur->nroutes ? cur->nroutes : 1, sizeof(*v->rows));
    if (!v->rows)
        return -1;
    static const nm_ctrs_t zero;
    for (size_t i = 0; i < cur->nroutes; i++) {
        row_t *r = &v->rows[v->nrows++];
        r->route = cur->routes[i].route;
        r->c = &cur->routes[i].c;
        if (has_prev) {
            /* Every route comes in every poll: one missing before is new
             * since, and all its counts fell in the interval. */
            const nm_ctrs_t *old = nm_sample_route(prev, r->route);
            nm_rates_between(old ? old : &zero, r->c, v->interval_s, &r->r);
            r->has_rates = true;
        }
    }
    sort_rows(v);
    return 0;
}

/* ---- text (the screen and plain lines) ---- */

/* Lines of a frame, each at most width columns on the screen. */
typedef struct frame {
    FILE *out;
    bool is_screen;
    int cols;
} frame_t;

static void line(frame_t *f, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void line(frame_t *f, const char *fmt, ...)
{
    char buf[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    if (f->is_screen) {
        /* Cut at the screen's width: a wrapped line would scroll the
         * frame. \033[K clears what the last frame left on the right. */
        if ((int)strlen(buf) > f->cols)
            buf[f->cols] = '\0';
        fprintf(f->out, "%s\033[K\n", buf);
    } else {
        fprintf(f->out, "%s\n", buf);
    }
}

static void fmt_uptime(char *buf, size_t cap, int64_t s)
{
    if (s < 0)
        s = 0;
    int64_t d = s / 86400;
    int hh = (int)(s / 3600 % 24), mm = (int)(s / 60 % 60), ss = (int)(s % 60);
    if (d)
        snprintf(buf, cap, "%" PRId64 "d %02d:%02d:%02d", d, hh, mm, ss);
    else
        snprintf(buf, cap, "%02d:%02d:%02d", hh, mm, ss);
}

static void header(frame_t *f, const view_t *v, double delay_s)
{
    char up[32], clock[16] = "";
    fmt_uptime(up, sizeof(up), v->cur->uptime_s);
    time_t now = time(NULL);
    struct tm tm;
    if (localtime_r(&now, &tm))
        strftime(clock, sizeof(clock), "%H:%M:%S", &tm);
    char left[160];
    snprintf(left, sizeof(left), "notmodd up %s   interval %.1f s   sort %s",
             up, v->interval_s > 0 ? v->interval_s : delay_s,
             sorts[v->sort].name);
    int pad = 79 - (int)strlen(left) - (int)strlen(clock);
    line(f, "%s%*s%s", left, pad > 1 ? pad : 1, "", clock);
    line(f, "%-22s %9s %9s %9s %9s %9s", "", "total", "per s", "avg 10",
         "avg 100", "avg 1000");
    /* The server time avoided is kept in microseconds and shown in
     * seconds: its rate is the share of a CPU the server did not spend. */
    static const struct {
        const char *label;
        int ctr;
        double scale;
    } rows[] = {
        {"requests", NM_CTR_REQUESTS, 1},
        {"revalidations", NM_CTR_REVALIDATIONS, 1},
        {"revalidation hits", NM_CTR_HITS, 1},
        {"  accelerated", NM_CTR_ACCELERATED, 1},
        {"missed revalidations", NM_CTR_MISSED, 1},
        {"bytes saved", NM_CTR_BYTES_SAVED, 1},
        {"server s avoided", NM_CTR_AVOIDED_US, 1e-6},
    };
    for (size_t k = 0; k < sizeof(rows) / sizeof(rows[0]); k++) {
        int i = rows[k].ctr;
        double scale = rows[k].scale;
        int decimals = scale < 1 ? 2 : 0; /* 0.01 s is a glance's worth */
        char cell[6][16];
        nm_fmt_num(cell[0], 16, (double)v->cur->totals.v[i] * scale, decimals,
                   9);
        if (v->interval_s > 0)
            nm_fmt_num(cell[1], 16, v->rates.per_s[i] * scale, 1 + decimals, 9);
        else
            snprintf(cell[1], 16, "-");
        for (int w = 0; w < 3; w++)
            if (v->has_avg[w])
                nm_fmt_num(cell[2 + w], 16, v->avg[w].per_s[i] * scale,
                           1 + decimals, 9);
            else
                snprintf(cell[2 + w], 16, "-");
        line(f, "%-22s %9s %9s %9s %9s %9s", rows[k].label, cell[0], cell[1],
             cell[2], cell[3], cell[4]);
    }
    char cell[5][16];
    nm_fmt_pct(cell[0], 16, nm_ctrs_hit_rate(&v->cur->totals));
    nm_fmt_pct(cell[1], 16, v->interval_s > 0 ? v->rates.hit_rate : -1);
    for (int w = 0; w < 3; w++)
        nm_fmt_pct(cell[2 + w], 16, v->has_avg[w] ? v->avg[w].hit_rate : -1);
    line(f, "%-22s %9s %9s %9s %9s %9s", "hit rate", cell[0], cell[1], cell[2],
         cell[3], cell[4]);
}

/* The route column's width: the screen's rest, or the longest route shown
 * when the lines go to a script (never cut there). */
static int route_width(const frame_t *f, const view_t *v, size_t n)
{
    if (f->is_screen) {
        int w = f->cols - 1 - ROUTE_COLS * (COL_WIDTH + 1);
        return w < ROUTE_MIN_WIDTH ? ROUTE_MIN_WIDTH : w;
    }
    int w = ROUTE_MIN_WIDTH;
    for (size_t i = 0; i < n; i++)
        if ((int)strlen(v->rows[i].route) > w)
            w = (int)strlen(v->rows[i].route);
    return w;
}

/* A route cut to width, keeping a third of it from the start (the host)
 * and the rest from the end, where paths differ: "www.exa~/reports/q3". */
static void fit_route(char *buf, size_t cap, const char *route, int width)
{
    int len = (int)strlen(route);
    if (len <= width) {
        snprintf(buf, cap, "%s", route);
        return;
    }
    int head = (width - 1) / 3, tail = width - 1 - head;
    snprintf(buf, cap, "%.*s~%s", head, route, route + len - tail);
}

static void routes(frame_t *f, const view_t *v, size_t n)
{
    int w = route_width(f, v, n);
    line(f, "%-*s %7s %7s %7s %7s %7s %7s %7s", w, "ROUTE", "REQ/S", "REVAL/S",
         "HIT%", "SAVED/S", "REVALS", "MISSES", "SAVED");
    for (size_t i = 0; i < n; i++) {
        const row_t *r = &v->rows[i];
        char name[4096], c[ROUTE_COLS][16];
        fit_route(name, sizeof(name), r->route, w);
        if (r->has_rates) {
            nm_fmt_num(c[0], 16, r->r.per_s[NM_CTR_REQUESTS], 1, COL_WIDTH);
            nm_fmt_num(c[1], 16, r->r.per_s[NM_CTR_REVALIDATIONS], 1,
                       COL_WIDTH);
            nm_fmt_pct(c[2], 16, r->r.hit_rate);
            nm_fmt_num(c[3], 16, r->r.per_s[NM_CTR_BYTES_SAVED], 1, COL_WIDTH);
        } else {
            for (int k = 0; k < 4; k++)
                snprintf(c[k], 16, "-");
        }
        nm_fmt_num(c[4], 16, (double)r->c->v[NM_CTR_REVALIDATIONS], 0,
                   COL_WIDTH);
        nm_fmt_num(c[5], 16, (double)r->c->v[NM_CTR_MISSED], 0, COL_WIDTH);
        nm_fmt_num(c[6], 16, (double)r->c->v[NM_CTR_BYTES_SAVED], 0, COL_WIDTH);
        line(f, "%-*s %7s %7s %7s %7s %7s %7s %7s", w, name, c[0], c[1], c[2],
             c[3], c[4], c[5], c[6]);
    }
}

/* Header lines, the blank line, the table head, the keys line. */
#define SCREEN_FIXED_LINES 13

static void render_text(FILE *out, bool is_screen, const view_t *v,
                        const top_args_t *a)
{
    frame_t f = {out, is_screen, 80};
    size_t n = v->nrows;
    if (is_screen) {
        int rows;
        nm_term_size(&f.cols, &rows);
        long fit = rows - SCREEN_FIXED_LINES;
        long want = a->routes ? a->routes : fit;
        if (want > fit)
            want = fit;
        if (want < 0)
            want = 0;
        if ((size_t)want < n)
            n = (size_t)want;
        fputs("\033[H", out);
    } else if ((size_t)(a->routes ? a->routes : ROUTES_DEFAULT) < n) {
        n = (size_t)(a->routes ? a->routes : ROUTES_DEFAULT);
    }
    header(&f, v, a->delay_s);
    line(&f, "%s", "");
    routes(&f, v, n);
    if (is_screen) {
        line(&f, "%s", "");
        line(&f, "keys: v revalidations  m misses  b bytes saved  r rate  "
                 "< > next  q quit");
        fputs("\033[J", out); /* clear what a longer frame left below */
    }
    fflush(out);
}

/* ---- JSON ---- */

static void render_json(FILE *out, const view_t *v, const top_args_t *a)
{
    const nm_sample_t *s = v->cur;
    fprintf(out, "{\"uptime_s\":%" PRId64 ",\"interval_s\":%.3f,\"sort\":",
            s->uptime_s, v->interval_s);
    nm_json_str(out, sorts[v->sort].name);
    fputc(',', out);
    nm_json_ctrs(out, "totals", &s->totals);
    fputs(",\"hit_rate\":", out);
    nm_json_ratio(out, nm_ctrs_hit_rate(&s->totals));
    fputc(',', out);
    nm_json_rates(out, "per_s", &v->rates);
    if (s->uptime_s > 0) {
        nm_rates_t since;
        static const nm_ctrs_t zero;
        nm_rates_between(&zero, &s->totals, (double)s->uptime_s, &since);
        fputc(',', out);
        nm_json_rates(out, "per_s_since_start", &since);
    }
    for (int w = 0; w < 3; w++) {
        char name[16];
        snprintf(name, sizeof(name), "avg_%d", (int)avg_windows_s[w]);
        fputc(',', out);
        nm_json_rates(out, name, v->has_avg[w] ? &v->avg[w] : &v->rates);
    }
    fputs(",\"routes\":[", out);
    size_t n = (size_t)(a->routes ? a->routes : ROUTES_DEFAULT);
    for (size_t i = 0; i < v->nrows && i < n; i++) {
        const row_t *r = &v->rows[i];
        fputs(i ? ",{\"route\":" : "{\"route\":", out);
        nm_json_str(out, r->route);
        fputc(',', out);
        nm_json_ctrs(out, "totals", r->c);
        fputs(",\"hit_rate\":", out);
        nm_json_ratio(out, nm_ctrs_hit_rate(r->c));
        fputc(',', out);
        nm_json_rates(out, "per_s", &r->r);
        fputc('}', out);
    }
    fputs("]}\n", out);
    fflush(out);
}

/* ---- the loop ---- */

/* Sleeps until the monotonic time t_s (a signal cuts it short). */
static void sleep_until(double t_s)
{
    struct timespec ts;
    ts.tv_sec = (time_t)t_s;
    ts.tv_nsec = (long)((t_s - (double)ts.tv_sec) * 1e9);
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
        ;
}

/* One report: two polls one interval apart, then the rates between. */
static int run_once(const char *control, const top_args_t *a)
{
    nm_sample_t prev, cur;
    int rc = nm_sample_fetch(control, true, &prev);
    if (rc != EXIT_OK)
        return rc;
    sleep_until(prev.t_s + a->delay_s);
    rc = nm_sample_fetch(control, true, &cur);
    if (rc == EXIT_OK) {
        view_t v;
        if (build_view(&v, &prev, &cur, NULL, a->sort) < 0) {
            fprintf(stderr, "notmodctl: out of memory\n");
            rc = EXIT_FAILED;
        } else {
            if (a->is_json)
                render_json(stdout, &v, a);
            else
                render_text(stdout, false, &v, a);
            free(v.rows);
        }
        nm_sample_free(&cur);
    }
    nm_sample_free(&prev);
    return rc;
}

/* Applies a key; true when the screen must be drawn again. */
static bool on_key(int key, top_args_t *a, bool *is_quit)
{
    if (key == 'q' || key == 'Q') {
        *is_quit = true;
        return false;
    }
    for (int i = 0; i < NSORTS; i++)
        if (key == sorts[i].key) {
            a->sort = i;
            return true;
        }
    if (key == '>' || key == '<') {
        a->sort = (a->sort + (key == '>' ? 1 : NSORTS - 1)) % NSORTS;
        return true;
    }
    return key == 0; /* a signal: maybe SIGWINCH; drawing again is cheap */
}

static int run_screen(const char *control, top_args_t *a)
{
    static nm_history_t history; /* 90 KiB: not on the stack */
    nm_sample_t prev = {0}, cur;
    int rc = nm_sample_fetch(control, true, &cur);
    if (rc != EXIT_OK)
        return rc;
    nm_history_add(&history, &cur);
    nm_term_enter();
    bool is_quit = false;
    while (!is_quit && rc == EXIT_OK) {
        view_t v;
        if (build_view(&v, &prev, &cur, &history, a->sort) < 0) {
            rc = EXIT_FAILED;
            break;
        }
        render_text(stdout, true, &v, a);
        /* Keys until the next poll is due; a sort change redraws now. */
        double due = cur.t_s + a->delay_s;
        for (double left; !is_quit && (left = due - nm_now_s()) > 0;) {
            int key = nm_term_key(left);
            if (nm_term_should_quit())
                is_quit = true;
            else if (key != -1 && on_key(key, a, &is_quit)) {
                v.sort = a->sort;
                sort_rows(&v);
                render_text(stdout, true, &v, a);
            }
        }
        free(v.rows);
        if (is_quit)
            break;
        nm_sample_free(&prev);
        prev = cur;
        rc = nm_sample_fetch(control, true, &cur);
        if (rc != EXIT_OK) {
            memset(&cur, 0, sizeof(cur));
            break;
        }
        if (nm_sample_restarted(&prev, &cur))
            memset(&history, 0, sizeof(history));
        nm_history_add(&history, &cur);
    }
    nm_term_leave();
    nm_sample_free(&prev);
    nm_sample_free(&cur);
    return rc;
}

int nm_ctl_top(const char *control, int argc, char **argv, const char *usage)
{
    top_args_t a;
    int rc = parse_args(argc, argv, usage, &a);
    if (rc != EXIT_OK)
        return rc;
    /* A script gets one report: it cannot press q. */
    if (a.is_once || a.is_json || !nm_term_is_screen())
        return run_once(control, &a);
    return run_screen(control, &a);
}
