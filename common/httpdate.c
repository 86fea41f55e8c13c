/* httpdate.c - HTTP-date (RFC 9110 §5.6.7) parsing and formatting with a
 * pure days-from-civil calendar (no timegm/gmtime: common/ must not touch
 * the process's time zone state and must be thread-safe).
 *
 * Decisions, all on the conservative side of the comparisons in cond.c:
 * - Syntax is strict and case-sensitive as in the ABNF (%s"Sun", %s"Nov",
 *   %s"GMT"); only OWS around the whole value is allowed.
 * - The weekday must be a valid name for the form but is not checked
 *   against the date: a wrong weekday carries no information the numeric
 *   date lacks, and RFC 9110 does not ask recipients to check it.
 * - Second 60 (a leap second, allowed by the grammar) is read as 59: the
 *   earlier instant means fewer 304s for If-Modified-Since and more passes
 *   for If-Unmodified-Since, both safe.
 * - The day of month must exist in that month (Feb 29 only in leap years). */
#include "httpdate.h"

static const char *const wkday_short[7] = {"Mon", "Tue", "Wed", "Thu",
                                           "Fri", "Sat", "Sun"};
static const char *const wkday_long[7] = {"Monday",   "Tuesday", "Wednesday",
                                          "Thursday", "Friday",  "Saturday",
                                          "Sunday"};
static const char *const month_names[12] = {"Jan", "Feb", "Mar", "Apr",
                                            "May", "Jun", "Jul", "Aug",
                                            "Sep", "Oct", "Nov", "Dec"};

#define SECS_PER_DAY 86400

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
 * days_from_civil); m is 1..12. */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* The inverse: civil date of a day count. */
static void civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

static bool is_leap(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int days_in_month(int64_t y, int m)
{
    static const int mdays[12] = {31, 28, 31, 30, 31, 30,
                                  31, 31, 30, 31, 30, 31};
    return m == 2 && is_leap(y) ? 29 : mdays[m - 1];
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* n decimal digits at s, no sign, no spaces. */
static int digits(const char *s, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!is_digit(s[i]))
            return NM_E_PARSE;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return NM_OK;
}

static bool bytes_eq(const char *s, const char *lit, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] != lit[i])
            return false;
    return true;
}

/* s[0..n) equals the NUL-terminated name exactly. */
static bool name_eq(const char *s, size_t n, const char *name)
{
    for (size_t k = 0; k < n; k++)
        if (name[k] == '\0' || name[k] != s[k])
            return false;
    return name[n] == '\0';
}

/* Returns the index in names of the exactly-n-byte name at s, or -1. */
static int name_index(const char *s, size_t n, const char *const *names,
                      int count)
{
    for (int i = 0; i < count; i++)
        if (name_eq(s, n, names[i]))
            return i;
    return -1;
}

/* time-of-day = hour ":" minute ":" second, 8 bytes at s. */
static int parse_time(const char *s, int *hh, int *mm, int *ss)
{
    if (digits(s, 2, hh) || s[2] != ':' || digits(s + 3, 2, mm) ||
        s[5] != ':' || digits(s + 6, 2, ss))
        return NM_E_PARSE;
    if (*hh > 23 || *mm > 59 || *ss > 60)
        return NM_E_PARSE;
    if (*ss == 60)
        *ss = 59; /* leap second: see the top of the file */
    return NM_OK;
}

static int to_unix(int64_t y, int m, int d, int hh, int mm, int ss,
                   int64_t *out)
{
    if (m < 1 || m > 12 || d < 1 || d > days_in_month(y, m))
        return NM_E_PARSE;
    *out = days_from_civil(y, m, d) * SECS_PER_DAY + hh * 3600 + mm * 60 + ss;
    return NM_OK;
}

/* IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT" (29 bytes). */
static int parse_imf(const char *s, int64_t *out)
{
    int d, y, hh, mm, ss;
    int m = name_index(s + 8, 3, month_names, 12);

    if (name_index(s, 3, wkday_short, 7) < 0 || !bytes_eq(s + 3, ", ", 2) ||
        digits(s + 5, 2, &d) || s[7] != ' ' || m < 0 || s[11] != ' ' ||
        digits(s + 12, 4, &y) || s[16] != ' ' ||
        parse_time(s + 17, &hh, &mm, &ss) || !bytes_eq(s + 25, " GMT", 4))
        return NM_E_PARSE;
    return to_unix(y, m + 1, d, hh, mm, ss, out);
}

/* Current year (UTC) of a unix time. */
static int64_t year_of(int64_t t)
{
    int64_t days = t / SECS_PER_DAY - (t % SECS_PER_DAY < 0);
    int64_t y;
    int m, d;
    civil_from_days(days, &y, &m, &d);
    return y;
}

/* RFC 850: "Sunday, 06-Nov-94 08:49:37 GMT"; name_len bytes of weekday. */
static int parse_rfc850(const char *s, size_t name_len, int64_t now_unix,
                        int64_t *out)
{
    const char *p = s + name_len;
    int d, yy, hh, mm, ss;
    int m = name_index(p + 5, 3, month_names, 12);

    if (name_index(s, name_len, wkday_long, 7) < 0 || !bytes_eq(p, ", ", 2) ||
        digits(p + 2, 2, &d) || p[4] != '-' || m < 0 || p[8] != '-' ||
        digits(p + 9, 2, &yy) || p[11] != ' ' ||
        parse_time(p + 12, &hh, &mm, &ss) || !bytes_eq(p + 20, " GMT", 4))
        return NM_E_PARSE;

    /* RFC 9110 §5.6.7: a two-digit year that would be more than 50 years
     * in the future is the most recent past year with those digits.
     * Judged by calendar year against now's year, as a sliding window:
     * the one year with those digits in [now - 49, now + 50], so that
     * "00" read in 1970 is 2000 rather than 1900 (the rule then covers
     * every century, not only the first half of one). */
    int64_t now_year = year_of(now_unix);
    int64_t century = now_year - ((now_year % 100) + 100) % 100;
    int64_t y = century + yy;
    if (y > now_year + 50)
        y -= 100;
    else if (y <= now_year - 50)
        y += 100;
    /* Years 0000-9999 as the other two forms: an absurd now (a caller's
     * broken clock) must not overflow to_unix (found by fuzz_httpdate). */
    if (y < 0 || y > 9999)
        return NM_E_PARSE;
    return to_unix(y, m + 1, d, hh, mm, ss, out);
}

/* asctime: "Sun Nov  6 08:49:37 1994" (24 bytes); the day is 2DIGIT or
 * SP DIGIT (RFC 9110 date3). */
static int parse_asctime(const char *s, int64_t *out)
{
    int d, y, hh, mm, ss;
    int m = name_index(s + 4, 3, month_names, 12);

    if (name_index(s, 3, wkday_short, 7) < 0 || s[3] != ' ' || m < 0 ||
        s[7] != ' ')
        return NM_E_PARSE;
    if (s[8] == ' ') {
        if (!is_digit(s[9]))
            return NM_E_PARSE;
        d = s[9] - '0';
    } else if (digits(s + 8, 2, &d)) {
        return NM_E_PARSE;
    }
    if (s[10] != ' ' || parse_time(s + 11, &hh, &mm, &ss) || s[19] != ' ' ||
        digits(s + 20, 4, &y))
        return NM_E_PARSE;
    return to_unix(y, m + 1, d, hh, mm, ss, out);
}

int nm_httpdate_parse(const char *s, size_t len, int64_t now_unix,
                      int64_t *out_unix)
{
    if (s == NULL || out_unix == NULL)
        return NM_E_PARSE;
    while (len > 0 && (s[0] == ' ' || s[0] == '\t')) {
        s++;
        len--;
    }
    while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t'))
        len--;

    int64_t t;
    int rc = NM_E_PARSE;
    if (len == 29 && s[3] == ',') {
        rc = parse_imf(s, &t);
    } else if (len == 24 && s[3] == ' ') {
        rc = parse_asctime(s, &t);
    } else if (len >= 6 + 24 && len <= 9 + 24) {
        /* Weekday names are 6 to 9 bytes long. */
        rc = parse_rfc850(s, len - 24, now_unix, &t);
    }
    if (rc == NM_OK)
        *out_unix = t;
    return rc;
}

static void put2(char *p, int v)
{
    p[0] = (char)('0' + v / 10);
    p[1] = (char)('0' + v % 10);
}

int nm_httpdate_format(int64_t t_unix, char *out)
{
    /* 0000-01-01T00:00:00Z .. 9999-12-31T23:59:59Z */
    const int64_t min_t = -62167219200LL;
    const int64_t max_t = 253402300799LL;

    if (out == NULL || t_unix < min_t || t_unix > max_t)
        return NM_E_INVAL;

    int64_t days = t_unix / SECS_PER_DAY;
    int64_t secs = t_unix % SECS_PER_DAY;
    if (secs < 0) {
        secs += SECS_PER_DAY;
        days--;
    }
    int64_t y;
    int m, d;
    civil_from_days(days, &y, &m, &d);
    /* 1970-01-01 was a Thursday (index 3 with Monday = 0). */
    int wd = (int)(((days % 7) + 7 + 3) % 7);

    const char *wn = wkday_short[wd];
    const char *mn = month_names[m - 1];
    out[0] = wn[0];
    out[1] = wn[1];
    out[2] = wn[2];
    out[3] = ',';
    out[4] = ' ';
    put2(out + 5, d);
    out[7] = ' ';
    out[8] = mn[0];
    out[9] = mn[1];
    out[10] = mn[2];
    out[11] = ' ';
    put2(out + 12, (int)(y / 100));
    put2(out + 14, (int)(y % 100));
    out[16] = ' ';
    put2(out + 17, (int)(secs / 3600));
    out[19] = ':';
    put2(out + 20, (int)(secs / 60 % 60));
    out[22] = ':';
    put2(out + 23, (int)(secs % 60));
    out[25] = ' ';
    out[26] = 'G';
    out[27] = 'M';
    out[28] = 'T';
    out[29] = '\0';
    return NM_HTTPDATE_LEN;
}
