/* stats_interval.c - see stats_interval.h. */
#include "stats_interval.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "counters.h"
#include "fmt.h"
#include "notmodctl.h"

typedef struct interval_args {
    double interval_s;
    long count; /* 0: until interrupted */
    bool is_json;
} interval_args_t;

static int usage_error(const char *usage, const char *why)
{
    fprintf(stderr, "notmodctl: %s (usage: notmodctl %s)\n", why, usage);
    return EXIT_USAGE;
}

static int parse_args(int argc, char **argv, const char *usage,
                      interval_args_t *a)
{
    *a = (interval_args_t){0, 0, false};
    bool has_interval = false;
    for (int i = 1; i < argc; i++) {
        const char *opt = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        char *end = NULL;
        if (strcmp(opt, "--json") == 0) {
            a->is_json = true;
        } else if (strcmp(opt, "--interval") == 0) {
            errno = 0;
            a->interval_s = v ? strtod(v, &end) : 0;
            if (!v || !*v || *end || errno || !(a->interval_s >= 0.1) ||
                a->interval_s > 3600)
                return usage_error(usage,
                                   "--interval: N must be from 0.1 to 3600 "
                                   "seconds");
            has_interval = true;
            i++;
        } else if (strcmp(opt, "--count") == 0) {
            a->count = v ? strtol(v, &end, 10) : 0;
            if (!v || !*v || *end || a->count < 1 || a->count > 1000000)
                return usage_error(usage, "--count: C must be 1..1000000");
            i++;
        } else {
            char why[128];
            snprintf(why, sizeof(why), "unexpected argument '%.64s'", opt);
            return usage_error(usage, why);
        }
    }
    if (!has_interval)
        return usage_error(usage, "--count needs --interval");
    return EXIT_OK;
}

static void print_head(void)
{
    printf("%-8s %10s %10s %10s %7s %10s %14s %10s\n", "time", "requests/s",
           "reval/s", "hits/s", "hit%", "missed/s", "bytes_saved/s", "accel/s");
}

static void print_line(const nm_sample_t *cur, const nm_rates_t *r)
{
    char clock[16] = "", pct[16];
    time_t now = time(NULL);
    struct tm tm;
    if (localtime_r(&now, &tm))
        strftime(clock, sizeof(clock), "%H:%M:%S", &tm);
    nm_fmt_pct(pct, sizeof(pct), r->hit_rate);
    printf("%-8s %10.1f %10.1f %10.1f %7s %10.1f %14.1f %10.1f\n", clock,
           r->per_s[NM_CTR_REQUESTS], r->per_s[NM_CTR_REVALIDATIONS],
           r->per_s[NM_CTR_HITS], pct, r->per_s[NM_CTR_MISSED],
           r->per_s[NM_CTR_BYTES_SAVED], r->per_s[NM_CTR_ACCELERATED]);
    (void)cur;
}

static void print_json(const nm_sample_t *cur, const nm_rates_t *r, double dt_s)
{
    printf("{\"time\":%" PRId64 ",\"uptime_s\":%" PRId64
           ",\"interval_s\":%.3f,",
           (int64_t)time(NULL), cur->uptime_s, dt_s);
    nm_json_ctrs(stdout, "totals", &cur->totals);
    fputs(",\"hit_rate\":", stdout);
    nm_json_ratio(stdout, nm_ctrs_hit_rate(&cur->totals));
    fputc(',', stdout);
    nm_json_rates(stdout, "per_s", r);
    fputs("}\n", stdout);
}

int nm_ctl_stats_interval(const char *control, int argc, char **argv,
                          const char *usage)
{
    interval_args_t a;
    int rc = parse_args(argc, argv, usage, &a);
    if (rc != EXIT_OK)
        return rc;
    nm_sample_t prev, cur;
    rc = nm_sample_fetch(control, false, &prev);
    if (rc != EXIT_OK)
        return rc;
    if (!a.is_json)
        print_head();
    fflush(stdout);
    /* Absolute deadlines: the lines do not drift by the time each poll
     * takes. */
    double due = prev.t_s;
    for (long n = 0; a.count == 0 || n < a.count; n++) {
        due += a.interval_s;
        struct timespec ts = {(time_t)due,
                              (long)((due - (double)(time_t)due) * 1e9)};
        while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) ==
               EINTR)
            ;
        rc = nm_sample_fetch(control, false, &cur);
        if (rc != EXIT_OK)
            break;
        nm_rates_t r;
        double dt = cur.t_s - prev.t_s;
        if (nm_sample_restarted(&prev, &cur)) {
            /* The daemon restarted: its counters began again at zero. */
            static const nm_ctrs_t zero;
            dt = cur.uptime_s > 0 ? (double)cur.uptime_s : dt;
            nm_rates_between(&zero, &cur.totals, dt, &r);
        } else {
            nm_rates_between(&prev.totals, &cur.totals, dt, &r);
        }
        if (a.is_json)
            print_json(&cur, &r, dt);
        else
            print_line(&cur, &r);
        fflush(stdout);
        nm_sample_free(&prev);
        prev = cur;
    }
    nm_sample_free(&prev);
    return rc;
}
