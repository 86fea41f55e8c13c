/* fmt.c - see fmt.h. */
#include "fmt.h"

#include <inttypes.h>
#include <string.h>

void nm_fmt_num(char *buf, size_t cap, double v, int decimals, int width)
{
    static const char suffix[] = "kMGTPE";
    /* A rate keeps its decimal below 10000/s; past that (bytes per second
     * soon are) the digits after the third say nothing at a glance. */
    int n = snprintf(buf, cap, "%.*f", decimals, v);
    if (n <= width && (decimals == 0 || v < 1e4))
        return;
    for (int i = 0; suffix[i]; i++) {
        v /= 1000.0;
        if (v < 999.95 || !suffix[i + 1]) {
            snprintf(buf, cap, "%.1f%c", v, suffix[i]);
            return;
        }
    }
}

void nm_fmt_pct(char *buf, size_t cap, double ratio)
{
    if (ratio < 0)
        snprintf(buf, cap, "-");
    else
        snprintf(buf, cap, "%.1f%%", 100.0 * ratio);
}

void nm_json_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(f, "\\%c", *p);
        else if (*p < 0x20)
            fprintf(f, "\\u%04x", *p);
        else
            fputc(*p, f);
    }
    fputc('"', f);
}

void nm_json_ratio(FILE *f, double ratio)
{
    if (ratio < 0)
        fputs("null", f);
    else
        fprintf(f, "%.6f", ratio);
}

void nm_json_ctrs(FILE *f, const char *name, const nm_ctrs_t *c)
{
    fprintf(f, "\"%s\":{", name);
    for (int i = 0; i < NM_CTR_COUNT; i++)
        fprintf(f, "%s\"%s\":%" PRIu64, i ? "," : "", nm_ctr_names[i], c->v[i]);
    fputc('}', f);
}

void nm_json_rates(FILE *f, const char *name, const nm_rates_t *r)
{
    fprintf(f, "\"%s\":{", name);
    for (int i = 0; i < NM_CTR_COUNT; i++)
        fprintf(f, "%s\"%s\":%.3f", i ? "," : "", nm_ctr_names[i], r->per_s[i]);
    fputs(",\"hit_rate\":", f);
    nm_json_ratio(f, r->hit_rate);
    fputc('}', f);
}
