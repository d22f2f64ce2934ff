/* The unit's position (see position.h). */
#include "position.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

/* Digits [p, p+n) as a number; -1 when one is not a digit. */
static int digits(const char *p, int n)
{
    int v = 0;

    for (int i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return -1;
        v = v * 10 + (p[i] - '0');
    }
    return v;
}

int exec_parse_rfc3339_ms(const char *s, uint64_t *ms)
{
    /* YYYY-MM-DDTHH:MM:SS: a fixed layout, read by position. */
    if (!s || strlen(s) < 20 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't') ||
        s[13] != ':' || s[16] != ':')
        return -1;
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    int y = digits(s, 4), mo = digits(s + 5, 2), d = digits(s + 8, 2);
    int h = digits(s + 11, 2), mi = digits(s + 14, 2), se = digits(s + 17, 2);
    if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > 31 || h < 0 || h > 23 || mi < 0 || mi > 59 ||
        se < 0 || se > 60)
        return -1;
    const char *p = s + 19;
    unsigned frac = 0;
    if (*p == '.') {
        int n = 0;
        for (p++; *p >= '0' && *p <= '9'; p++, n++)
            if (n < 3)
                frac = frac * 10 + (unsigned)(*p - '0');
        if (n == 0)
            return -1;
        for (; n < 3; n++)
            frac *= 10;
    }
    long offset_s = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int oh = digits(p + 1, 2), om = p[3] == ':' ? digits(p + 4, 2) : -1;
        if (oh < 0 || oh > 23 || om < 0 || om > 59)
            return -1;
        offset_s = (*p == '+' ? 1 : -1) * (long)(oh * 3600 + om * 60);
        p += 6;
    } else {
        return -1;
    }
    if (*p != '\0')
        return -1;
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = se;
    time_t t = timegm(&tm);
    /* timegm normalises 31 February into March: refuse what it moved. */
    if (t == (time_t)-1 || tm.tm_mday != d || tm.tm_mon != mo - 1)
        return -1;
    long long utc = (long long)t - offset_s;
    if (utc < 0)
        return -1;
    *ms = (uint64_t)utc * 1000 + frac;
    return 0;
}

bool exec_position_set(executor *e, geo_point at, uint64_t fix_ms)
{
    pthread_mutex_lock(&e->mu);
    /* Feeds may deliver out of order: the newest fix is where it is. */
    bool take = !e->has_fix || fix_ms >= e->fix_ms;
    if (take) {
        e->has_fix = true;
        e->fix = at;
        e->fix_ms = fix_ms;
    }
    pthread_mutex_unlock(&e->mu);
    return take;
}

/* RFC 3339 UTC with milliseconds, as fixed_at is accepted. */
static void fix_time(uint64_t ms, char *buf, size_t len)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    size_t n = gmtime_r(&t, &tm) ? strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm) : 0;
    snprintf(buf + n, len - n, ".%03uZ", (unsigned)(ms % 1000));
}

static json_t *fix_json(geo_point at, uint64_t fix_ms, uint64_t now_ms)
{
    json_t *f = geo_to_json(at);

    if (f)
        json_object_set_new(f, "age_ms",
                            json_integer((json_int_t)(now_ms > fix_ms ? now_ms - fix_ms : 0)));
    return f;
}

json_t *exec_position_fix_json(executor *e, uint64_t now_ms)
{
    pthread_mutex_lock(&e->mu);
    bool has = e->has_fix;
    geo_point at = e->fix;
    uint64_t fix_ms = e->fix_ms;
    pthread_mutex_unlock(&e->mu);
    if (!has || (now_ms > fix_ms && now_ms - fix_ms > EXEC_FIX_MAX_AGE_MS))
        return NULL;
    return fix_json(at, fix_ms, now_ms);
}

json_t *exec_position_view(executor *e, bool applied, uint64_t now_ms)
{
    pthread_mutex_lock(&e->mu);
    bool has = e->has_fix;
    geo_point at = e->fix;
    uint64_t fix_ms = e->fix_ms;
    pthread_mutex_unlock(&e->mu);
    json_t *fix = has ? fix_json(at, fix_ms, now_ms) : json_null();
    if (has && fix) {
        char ts[40];
        fix_time(fix_ms, ts, sizeof ts);
        json_object_set_new(fix, "fixed_at", json_string(ts));
    }
    return json_pack("{s:b, s:o, s:o}", "applied", applied, "fix", fix ? fix : json_null(),
                     "station", e->cfg.has_station ? geo_to_json(e->cfg.station) : json_null());
}
