/* httpdate.c - HTTP-date parsing and formatting (see httpdate.h). Pure
 * integer arithmetic (days-from-civil), no libc time functions: thread-safe
 * and independent of the process's TZ. */
#include "httpdate.h"

#include <string.h>

static const char *const month_names[12] = {"Jan", "Feb", "Mar", "Apr",
                                            "May", "Jun", "Jul", "Aug",
                                            "Sep", "Oct", "Nov", "Dec"};
static const char *const day_names[7] = {"Sun", "Mon", "Tue", "Wed",
                                         "Thu", "Fri", "Sat"};
static const char *const day_long[7] = {"Sunday",   "Monday", "Tuesday",
                                        "Wednesday", "Thursday", "Friday",
                                        "Saturday"};

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static bool is_leap(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int days_in_month(int64_t y, int m)
{
    static const int dim[12] = {31, 28, 31, 30, 31, 30,
                                31, 31, 30, 31, 30, 31};
    return m == 2 && is_leap(y) ? 29 : dim[m - 1];
}

/* A cursor over the date text. */
struct scan {
    const char *s;
    size_t len, i;
};

static bool lit(struct scan *c, const char *want)
{
    size_t n = strlen(want);
    if (c->len - c->i < n || memcmp(c->s + c->i, want, n) != 0)
        return false;
    c->i += n;
    return true;
}

/* Exactly n digits. */
static bool digits(struct scan *c, int n, int *out)
{
    int v = 0;
    for (int k = 0; k < n; k++) {
        if (c->i >= c->len || c->s[c->i] < '0' || c->s[c->i] > '9')
            return false;
        v = v * 10 + (c->s[c->i++] - '0');
    }
    *out = v;
    return true;
}

static int month(struct scan *c)
{
    for (int m = 0; m < 12; m++)
        if (lit(c, month_names[m]))
            return m + 1;
    return 0;
}

/* "HH:MM:SS" */
static bool clock(struct scan *c, int *h, int *mi, int *s)
{
    return digits(c, 2, h) && lit(c, ":") && digits(c, 2, mi) &&
           lit(c, ":") && digits(c, 2, s);
}

static bool to_unix(int64_t y, int m, int d, int h, int mi, int s,
                    int64_t *out)
{
    if (m < 1 || d < 1 || d > days_in_month(y, m) || h > 23 || mi > 59 ||
        s > 60)
        return false;
    if (s == 60) /* a leap second: one-second resolution, clamp */
        s = 59;
    *out = days_from_civil(y, m, d) * 86400 + h * 3600 + mi * 60 + s;
    return true;
}

/* IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT" (after the day name). */
static bool imf(struct scan *c, int64_t *out)
{
    int d, y, h, mi, s;
    if (!lit(c, ", ") || !digits(c, 2, &d) || !lit(c, " "))
        return false;
    int m = month(c);
    return m && lit(c, " ") && digits(c, 4, &y) && lit(c, " ") &&
           clock(c, &h, &mi, &s) && lit(c, " GMT") &&
           to_unix(y, m, d, h, mi, s, out);
}

/* RFC 850: "Sunday, 06-Nov-94 08:49:37 GMT" (after the day name). A year
 * more than 50 years in the future is the most recent past one with those
 * digits (RFC 9110 §5.6.7). */
static bool rfc850(struct scan *c, int64_t now, int64_t *out)
{
    int d, yy, h, mi, s;
    if (!lit(c, ", ") || !digits(c, 2, &d) || !lit(c, "-"))
        return false;
    int m = month(c);
    if (!m || !lit(c, "-") || !digits(c, 2, &yy) || !lit(c, " ") ||
        !clock(c, &h, &mi, &s) || !lit(c, " GMT"))
        return false;
    int64_t now_year = 1970 + now / 31556952; /* close enough for a century */
    int64_t y = now_year - now_year % 100 + yy;
    if (y > now_year + 50)
        y -= 100;
    else if (y <= now_year - 50)
        y += 100;
    return to_unix(y, m, d, h, mi, s, out);
}

/* asctime: "Sun Nov  6 08:49:37 1994" (after the day name). */
static bool asctime_form(struct scan *c, int64_t *out)
{
    int d, y, h, mi, s;
    if (!lit(c, " "))
        return false;
    int m = month(c);
    if (!m || !lit(c, " "))
        return false;
    if (lit(c, " ")) {
        if (!digits(c, 1, &d))
            return false;
    } else if (!digits(c, 2, &d)) {
        return false;
    }
    return lit(c, " ") && clock(c, &h, &mi, &s) && lit(c, " ") &&
           digits(c, 4, &y) && to_unix(y, m, d, h, mi, s, out);
}

int nm_httpdate_parse(const char *s, size_t len, int64_t now_unix,
                      int64_t *out_unix)
{
    if (s == NULL || out_unix == NULL)
        return NM_E_INVAL;
    while (len > 0 && (*s == ' ' || *s == '\t'))
        s++, len--;
    while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t'))
        len--;
    /* The weekday is checked for spelling, not against the date: RFC 9110
     * asks recipients to be lenient there, and a wrong weekday does not
     * make the instant ambiguous. */
    for (int w = 0; w < 7; w++) {
        struct scan c = {s, len, 0};
        int64_t t;
        bool is_ok = false;
        if (lit(&c, day_long[w]))
            is_ok = rfc850(&c, now_unix, &t);
        else if (lit(&c, day_names[w])) {
            struct scan c2 = c;
            is_ok = imf(&c, &t);
            if (!is_ok) {
                c = c2;
                is_ok = asctime_form(&c, &t);
            }
        } else {
            continue;
        }
        if (is_ok && c.i == len) {
            *out_unix = t;
            return NM_OK;
        }
        return NM_E_PARSE;
    }
    return NM_E_PARSE;
}

int nm_httpdate_format(int64_t t, char *out)
{
    if (out == NULL || t < -62167219200LL || t > 253402300799LL)
        return NM_E_INVAL;
    int64_t days = t >= 0 ? t / 86400 : (t - 86399) / 86400;
    int64_t secs = t - days * 86400;
    /* civil_from_days (H. Hinnant) */
    int64_t z = days + 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    int d = (int)(doy - (153 * mp + 2) / 5 + 1);
    int m = (int)(mp < 10 ? mp + 3 : mp - 9);
    int64_t y = yoe + era * 400 + (m <= 2);
    int wday = (int)((days % 7 + 11) % 7); /* 1970-01-01 was a Thursday */
    int h = (int)(secs / 3600), mi = (int)(secs / 60 % 60), s = (int)(secs % 60);
    char *p = out;
    memcpy(p, day_names[wday], 3);
    p += 3;
    *p++ = ',';
    *p++ = ' ';
    *p++ = (char)('0' + d / 10);
    *p++ = (char)('0' + d % 10);
    *p++ = ' ';
    memcpy(p, month_names[m - 1], 3);
    p += 3;
    *p++ = ' ';
    *p++ = (char)('0' + y / 1000);
    *p++ = (char)('0' + y / 100 % 10);
    *p++ = (char)('0' + y / 10 % 10);
    *p++ = (char)('0' + y % 10);
    *p++ = ' ';
    *p++ = (char)('0' + h / 10);
    *p++ = (char)('0' + h % 10);
    *p++ = ':';
    *p++ = (char)('0' + mi / 10);
    *p++ = (char)('0' + mi % 10);
    *p++ = ':';
    *p++ = (char)('0' + s / 10);
    *p++ = (char)('0' + s % 10);
    memcpy(p, " GMT", 5);
    return NM_HTTPDATE_LEN;
}
