/* pcap_report.c - `notmodctl pcap-report`: runs a capture file through the
 * pcap observer (the one notmodd --pcap uses live) and prints the figures
 * in the vocabulary of notmodd(8) (FIGURES), as a table or as JSON. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "notmodctl.h"
#include "pcap_capture.h"

#define TOP_DEFAULT 10
#define TOP_MAX 1000

typedef struct report_args {
    const char *path;
    long port, top;
    bool is_json;
} report_args_t;

static double ratio(uint64_t a, uint64_t b)
{
    return b ? (double)a / (double)b : 0.0;
}

/* Reads a number in [lo, hi] from argv[*i + 1]; false if absent or bad. */
static bool num_arg(int argc, char **argv, int *i, long lo, long hi, long *out)
{
    if (*i + 1 >= argc)
        return false;
    char *end;
    long v = strtol(argv[++*i], &end, 10);
    *out = v;
    return *argv[*i] && !*end && v >= lo && v <= hi;
}

static int parse_args(int argc, char **argv, report_args_t *a,
                      const char *usage)
{
    *a = (report_args_t){NULL, 0, TOP_DEFAULT, false};
    for (int i = 1; i < argc; i++) {
        const char *why = NULL;
        if (strcmp(argv[i], "--json") == 0)
            a->is_json = true;
        else if (strcmp(argv[i], "--port") == 0)
            why = num_arg(argc, argv, &i, 1, 65535, &a->port)
                      ? NULL
                      : "--port needs a port from 1 to 65535";
        else if (strcmp(argv[i], "--top") == 0)
            why = num_arg(argc, argv, &i, 0, TOP_MAX, &a->top)
                      ? NULL
                      : "--top needs N from 0 to 1000";
        else if (argv[i][0] == '-' || a->path)
            why = "unexpected argument";
        else
            a->path = argv[i];
        if (why) {
            fprintf(stderr, "notmodctl: %s (usage: notmodctl %s)\n", why,
                    usage);
            return EXIT_USAGE;
        }
    }
    if (!a->path) {
        fprintf(stderr, "notmodctl: missing FILE.pcap (usage: notmodctl %s)\n",
                usage);
        return EXIT_USAGE;
    }
    return EXIT_OK;
}

static void json_str(const char *s)
{
    putchar('"');
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\')
            printf("\\%c", ch);
        else if (ch < 0x20)
            printf("\\u%04x", ch);
        else
            putchar(ch);
    }
    putchar('"');
}

static void print_json(const report_args_t *a, const nm_pcap_counts_t *c,
                       const nm_pcap_route_t *rows, size_t n, const char *err)
{
    printf("{\"file\":");
    json_str(a->path);
    printf(",\"error\":");
    if (err)
        json_str(err);
    else
        printf("null");
    const char *names[64];
    uint64_t values[64];
    size_t k = nm_pcap_counts_list(c, names, values, 64);
    for (size_t i = 0; i < k && i < 64; i++)
        printf(",\"%s\":%" PRIu64, names[i], values[i]);
    printf(",\"hit_rate\":%.6f,\"validator_coverage\":%.6f,\"routes\":[",
           ratio(c->hits, c->revalidations),
           ratio(c->get_200_validated, c->get_200));
    for (size_t i = 0; i < n; i++) {
        const nm_pcap_route_counts_t *r = &rows[i].c;
        printf("%s{\"route\":", i ? "," : "");
        json_str(rows[i].route);
        printf(",\"requests\":%" PRIu64 ",\"revalidations\":%" PRIu64
               ",\"hits\":%" PRIu64 ",\"revalidations_200\":%" PRIu64
               ",\"missed\":%" PRIu64 ",\"missed_bytes\":%" PRIu64
               ",\"body_bytes\":%" PRIu64 "}",
               r->requests, r->revalidations, r->hits, r->revalidations_200,
               r->missed, r->missed_bytes, r->body_bytes);
    }
    printf("]}\n");
}

static void print_totals(const nm_pcap_counts_t *c)
{
    printf("requests                 %" PRIu64 " (GET %" PRIu64
           ", HEAD %" PRIu64 ")\n"
           "revalidations            %" PRIu64 " (If-None-Match %" PRIu64
           ", If-Modified-Since %" PRIu64 ")\n"
           "revalidation hits        %" PRIu64 " (304s in all: %" PRIu64 ")\n"
           "hit rate                 %.1f%%\n"
           "revalidations with 200   %" PRIu64 "\n"
           "missed revalidations     %" PRIu64
           " (body identical to the previous 200)\n"
           "bytes notmod would save  %" PRIu64 "\n"
           "validator coverage       %.1f%% (%" PRIu64 " of %" PRIu64
           " 200s to GET)\n",
           c->requests, c->get, c->head, c->revalidations, c->revalidations_inm,
           c->revalidations_ims, c->hits, c->responses_304,
           100 * ratio(c->hits, c->revalidations), c->revalidations_200,
           c->missed, c->missed_bytes,
           100 * ratio(c->get_200_validated, c->get_200), c->get_200_validated,
           c->get_200);
    printf("bytes on the wire        %" PRIu64 " (payload: requests %" PRIu64
           ", responses %" PRIu64 ")\n"
           "packets                  %" PRIu64 " (skipped %" PRIu64
           ", malformed %" PRIu64 ")\n"
           "connections              %" PRIu64 " (not HTTP %" PRIu64
           ", evicted %" PRIu64 ")\n"
           "capture gaps             %" PRIu64 " bytes lost, %" PRIu64
           " retransmitted, %" PRIu64 " segments truncated\n"
           "incomplete               %" PRIu64 " responses cut, %" PRIu64
           " requests unanswered, %" PRIu64 " parse errors\n",
           c->wire_bytes, c->request_bytes, c->response_bytes, c->packets,
           c->packets_skipped, c->packets_malformed, c->flows,
           c->flows_not_http, c->flows_evicted, c->bytes_lost,
           c->bytes_retransmitted, c->segments_truncated, c->responses_cut,
           c->requests_unanswered, c->parse_errors);
}

static void print_table(const nm_pcap_counts_t *c, const nm_pcap_route_t *rows,
                        size_t n)
{
    print_totals(c);
    if (n == 0)
        return;
    printf("\n%-40s %8s %13s %6s %7s %6s %12s\n", "route", "requests",
           "revalidations", "hits", "200s", "missed", "missed_bytes");
    for (size_t i = 0; i < n; i++) {
        const nm_pcap_route_counts_t *r = &rows[i].c;
        printf("%-40s %8" PRIu64 " %13" PRIu64 " %6" PRIu64 " %7" PRIu64
               " %6" PRIu64 " %12" PRIu64 "\n",
               rows[i].route, r->requests, r->revalidations, r->hits,
               r->revalidations_200, r->missed, r->missed_bytes);
    }
}

int nm_ctl_pcap_report(int argc, char **argv, const char *usage)
{
    report_args_t a;
    int rc = parse_args(argc, argv, &a, usage);
    if (rc != EXIT_OK)
        return rc;
    nm_pcap_opts_t opts = {0};
    opts.port = (uint16_t)a.port;
    nm_pcap_obs_t *o = nm_pcap_obs_new(&opts);
    nm_pcap_route_t *rows = calloc((size_t)a.top + 1, sizeof(*rows));
    if (!o || !rows) {
        fprintf(stderr, "notmodctl: out of memory\n");
        nm_pcap_obs_free(o);
        free(rows);
        return EXIT_FAILED;
    }
    char err[512];
    bool is_ok = nm_pcap_read_file(o, a.path, err, sizeof(err)) == 0;
    const nm_pcap_counts_t *c = nm_pcap_obs_counts(o);
    /* The figures up to a failure are still worth printing. */
    if (!is_ok)
        fprintf(stderr,
                "notmodctl: %s: %s (figures up to packet %" PRIu64 ")\n",
                a.path, err, c->packets);
    if (is_ok || c->packets > 0) {
        size_t n = nm_pcap_obs_top(o, rows, (size_t)a.top);
        if (a.is_json)
            print_json(&a, c, rows, n, is_ok ? NULL : err);
        else
            print_table(c, rows, n);
    }
    free(rows);
    nm_pcap_obs_free(o);
    return is_ok ? EXIT_OK : EXIT_FAILED;
}
