/* The closest capable unit (see rank.h). */
#include "rank.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEG_TO_RAD (3.14159265358979323846 / 180.0)

bool geo_valid(double lat, double lon)
{
    return isfinite(lat) && isfinite(lon) && lat >= -90.0 && lat <= 90.0 && lon >= -180.0 &&
           lon <= 180.0;
}

double geo_distance_km(geo_point a, geo_point b)
{
    double dlat = (b.lat - a.lat) * DEG_TO_RAD, dlon = (b.lon - a.lon) * DEG_TO_RAD;
    double s1 = sin(dlat / 2), s2 = sin(dlon / 2);
    double h = s1 * s1 + cos(a.lat * DEG_TO_RAD) * cos(b.lat * DEG_TO_RAD) * s2 * s2;

    /* Rounding can push h a hair past 1 for antipodal points. */
    if (h > 1.0)
        h = 1.0;
    return 2.0 * GEO_EARTH_RADIUS_KM * asin(sqrt(h));
}

rank_basis rank_where(const rank_position *p, uint64_t now_ms, uint64_t max_fix_age_ms,
                      geo_point *at, uint64_t *age_ms)
{
    *age_ms = 0;
    if (!p)
        return RANK_UNKNOWN;
    if (p->has_fix) {
        uint64_t age = now_ms > p->fix_ms ? now_ms - p->fix_ms : 0;

        if (age <= max_fix_age_ms) {
            *at = p->fix;
            *age_ms = age;
            return RANK_FIX;
        }
    }
    if (p->has_station) {
        *at = p->station;
        return RANK_STATION;
    }
    return RANK_UNKNOWN;
}

/* A candidate's sort key besides today's order. */
typedef struct key {
    rank_basis basis;
    uint64_t metres;
    uint64_t age_ms;
} key;

static key key_of(const geo_point *loc, const rank_candidate *c, uint64_t now_ms, uint64_t max_age)
{
    key k = {RANK_UNKNOWN, 0, 0};
    geo_point at;

    if (!loc)
        return k;
    k.basis = rank_where(&c->pos, now_ms, max_age, &at, &k.age_ms);
    if (k.basis != RANK_UNKNOWN) {
        k.metres = (uint64_t)llround(geo_distance_km(*loc, at) * 1000.0);
    }
    return k;
}

static bool is_own(const unit_candidate *u, const char *own)
{
    return own && u->district && strcmp(u->district, own) == 0;
}

/* Negative when a (key ka) comes before b. */
static int order(const rank_candidate *a, const key *ka, const rank_candidate *b, const key *kb,
                 const char *own)
{
    bool oa = is_own(&a->c, own), ob = is_own(&b->c, own);
    bool knowa = ka->basis != RANK_UNKNOWN, knowb = kb->basis != RANK_UNKNOWN;

    if (oa != ob)
        return oa ? -1 : 1;
    if (knowa != knowb)
        return knowa ? -1 : 1;
    if (knowa && ka->metres != kb->metres)
        return ka->metres < kb->metres ? -1 : 1;
    return unit_order(&a->c, &b->c, own);
}

const char *rank_reason_text(const rank_reason *r, char *buf, size_t len)
{
    switch (r ? r->why : RANK_WHY_NONE) {
    case RANK_WHY_NO_LOCATION:
        snprintf(buf, len, "no job location: fewest jobs");
        break;
    case RANK_WHY_NO_POSITION:
        snprintf(buf, len, "no position: fewest jobs");
        break;
    case RANK_WHY_FIX:
        snprintf(buf, len, "closest: %.1f km, fix %u s old", r->metres / 1000.0, r->age_s);
        break;
    case RANK_WHY_STATION:
        snprintf(buf, len, "closest: %.1f km, station", r->metres / 1000.0);
        break;
    default:
        snprintf(buf, len, "%s", "");
    }
    return buf;
}

/* "W.T km" at p: metres; the rest after it in *rest. -1 when not that. */
static int parse_km(const char *p, uint32_t *metres, const char **rest)
{
    char *end;
    unsigned long whole;

    if (*p < '0' || *p > '9')
        return -1;
    whole = strtoul(p, &end, 10);
    if (*end != '.' || end[1] < '0' || end[1] > '9' || whole > UINT32_MAX / 1000 - 1)
        return -1;
    *metres = (uint32_t)whole * 1000 + (uint32_t)(end[1] - '0') * 100;
    *rest = end + 2;
    return 0;
}

int rank_reason_parse(const char *text, rank_reason *out)
{
    rank_reason r = {RANK_WHY_NONE, 0, 0};
    char again[RANK_REASON_MAX];
    const char *p;

    if (!text)
        return -1;
    if (strcmp(text, "no job location: fewest jobs") == 0) {
        r.why = RANK_WHY_NO_LOCATION;
    } else if (strcmp(text, "no position: fewest jobs") == 0) {
        r.why = RANK_WHY_NO_POSITION;
    } else if (strncmp(text, "closest: ", 9) == 0 && parse_km(text + 9, &r.metres, &p) == 0) {
        if (strcmp(p, " km, station") == 0) {
            r.why = RANK_WHY_STATION;
        } else if (strncmp(p, " km, fix ", 9) == 0 && p[9] >= '0' && p[9] <= '9') {
            char *end;
            unsigned long age = strtoul(p + 9, &end, 10);

            if (age > UINT32_MAX)
                return -1;
            r.why = RANK_WHY_FIX;
            r.age_s = (uint32_t)age;
        }
    }
    /* Exactly what this build writes (no "+1.3", "01.3", trailing text). */
    if (r.why == RANK_WHY_NONE || strcmp(rank_reason_text(&r, again, sizeof(again)), text) != 0)
        return -1;
    *out = r;
    return 0;
}

static rank_reason reason_of(const geo_point *loc, const key *k)
{
    rank_reason r = {RANK_WHY_NO_LOCATION, 0, 0};

    if (loc && k->basis == RANK_UNKNOWN)
        r.why = RANK_WHY_NO_POSITION;
    else if (loc) {
        r.why = k->basis == RANK_FIX ? RANK_WHY_FIX : RANK_WHY_STATION;
        r.metres = k->metres > UINT32_MAX ? UINT32_MAX : (uint32_t)k->metres;
        r.age_s = k->age_ms / 1000 > UINT32_MAX ? UINT32_MAX : (uint32_t)(k->age_ms / 1000);
    }
    return r;
}

long rank_closest(const geo_point *loc, const rank_candidate *c, size_t n, uint64_t now_ms,
                  uint64_t max_fix_age_ms, const char *own_district, const char *const *req,
                  size_t nreq, rank_choice *out)
{
    long best = -1;
    key bk = {RANK_UNKNOWN, 0, 0};

    memset(out, 0, sizeof(*out));
    out->index = -1;
    if (!c)
        return -1;
    for (size_t i = 0; i < n; i++) {
        key k;

        if (!unit_eligible(&c[i].c, req, nreq))
            continue;
        k = key_of(loc, &c[i], now_ms, max_fix_age_ms);
        /* Strictly before: an equal key keeps the lower index. */
        if (best >= 0 && order(&c[i], &k, &c[best], &bk, own_district) >= 0)
            continue;
        best = (long)i;
        bk = k;
    }
    if (best < 0)
        return -1;
    out->index = best;
    out->why = reason_of(loc, &bk);
    rank_reason_text(&out->why, out->reason, sizeof(out->reason));
    return best;
}
