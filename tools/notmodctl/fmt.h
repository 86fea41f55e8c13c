/* fmt.h - how notmodctl's rate views write numbers: scaled to fit a
 * column on the screen (k, M, G, T: powers of 1000), and exact in JSON.
 * Used by top and stats --interval. */
#ifndef NM_FMT_H
#define NM_FMT_H

#include <stdio.h>

#include "counters.h"

/* v in at most width (>= 6) characters: as it is when it fits (a rate
 * with decimals only below 10000), else scaled by powers of 1000 with one
 * decimal and a suffix (12.3k, 4.5G). */
void nm_fmt_num(char *buf, size_t cap, double v, int decimals, int width);

/* A ratio in [0, 1] as "62.5%", or "-" when negative (nothing to rate). */
void nm_fmt_pct(char *buf, size_t cap, double ratio);

/* s as a JSON string, quotes included. */
void nm_json_str(FILE *f, const char *s);

/* "name":{"requests":N,...} for the five figures. */
void nm_json_ctrs(FILE *f, const char *name, const nm_ctrs_t *c);

/* "name":{"requests":X,...,"hit_rate":R} (R null when negative). */
void nm_json_rates(FILE *f, const char *name, const nm_rates_t *r);

/* A ratio as a JSON number, or null when negative. */
void nm_json_ratio(FILE *f, double ratio);

#endif
