/* The closest capable unit: great-circle distance, where a unit is (its
 * last fix while fresh, else its home station), and the one ranking of
 * candidates for a job that has a location, with the reason it gives for
 * its choice. Pure: time is passed in. */
#ifndef COORD_RANK_H
#define COORD_RANK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "match.h"

/* Degrees; lat -90..90, lon -180..180 (geo_valid). */
typedef struct geo_point {
    double lat, lon;
} geo_point;

#define GEO_EARTH_RADIUS_KM 6371.0088 /* the IUGG mean radius */

/* Finite and in range. */
bool geo_valid(double lat, double lon);
/* Haversine distance in km: well-conditioned for the short distances that
 * decide a dispatch, and symmetric across the antimeridian and the poles. */
double geo_distance_km(geo_point a, geo_point b);

/* What a unit knows of where it is. fix_ms is the wall time of the fix. */
typedef struct rank_position {
    bool has_station, has_fix;
    geo_point station, fix;
    uint64_t fix_ms;
} rank_position;

typedef enum rank_basis {
    RANK_UNKNOWN = 0, /* no usable position (or the job has none) */
    RANK_FIX,         /* its last fix, at most max_fix_age old */
    RANK_STATION,     /* its home station: no fix, or a stale one */
} rank_basis;

/* Where a unit is taken to be at now_ms: the fix while it is at most
 * max_fix_age_ms old (a fix from the future, clock skew, counts as 0 s
 * old), else the station, else unknown. *age_ms: the fix's age (0 unless
 * RANK_FIX). */
rank_basis rank_where(const rank_position *p, uint64_t now_ms, uint64_t max_fix_age_ms,
                      geo_point *at, uint64_t *age_ms);

/* One candidate: today's order fields (match.h) and its position. */
typedef struct rank_candidate {
    unit_candidate c;
    rank_position pos;
} rank_candidate;

/* Why a unit was chosen, small enough to keep with every attempt (the
 * text is made when shown: rank_reason_text). */
typedef enum rank_why {
    RANK_WHY_NONE = 0,    /* not recorded (an attempt from before reasons) */
    RANK_WHY_NO_LOCATION, /* the job has no location */
    RANK_WHY_NO_POSITION, /* the chosen unit's position is unknown */
    RANK_WHY_FIX,         /* closest by its fresh fix */
    RANK_WHY_STATION,     /* closest by its station */
    RANK_WHY__COUNT
} rank_why;

typedef struct rank_reason {
    uint8_t why;     /* rank_why */
    uint32_t metres; /* RANK_WHY_FIX / STATION: the distance */
    uint32_t age_s;  /* RANK_WHY_FIX: the fix's age */
} rank_reason;

#define RANK_REASON_MAX 64

/* "closest: 1.3 km, fix 4 s old", "closest: 2.0 km, station",
 * "no position: fewest jobs", "no job location: fewest jobs"; "" for
 * RANK_WHY_NONE. Returns buf. */
const char *rank_reason_text(const rank_reason *r, char *buf, size_t len);
/* The reason a text of rank_reason_text names, exactly (a synced copy's
 * attempt carries the text): 0 and *out, or -1 (*out untouched). */
int rank_reason_parse(const char *text, rank_reason *out);

typedef struct rank_choice {
    long index; /* into the candidates; -1: none eligible */
    rank_reason why;
    char reason[RANK_REASON_MAX]; /* rank_reason_text(&why) */
} rank_choice;

/* The best eligible candidate (unit_eligible with req) for a job at loc
 * (NULL: the job has no location). The order: own district first; then
 * units whose position is known (rank_where) before those whose is not;
 * among known ones the shorter distance, compared in whole metres so that
 * two units at one station tie; every tie, and every unit when loc is
 * NULL, by today's order (unit_order: fewest jobs, then id), then by
 * index. Returns out->index. */
long rank_closest(const geo_point *loc, const rank_candidate *c, size_t n, uint64_t now_ms,
                  uint64_t max_fix_age_ms, const char *own_district, const char *const *req,
                  size_t nreq, rank_choice *out);

#endif
