/* The closest capable unit (libcoord rank.h): distances, where a unit is
 * taken to be, the order and the reason text. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "coord.h"
#include "unit.h"

static const char *const FIRE[] = {"firefighting"};
static const char *const FIRE_RESCUE[] = {"firefighting", "rescue"};
static const char *const EMS[] = {"medical"};

#define NOW    1000000000ULL
#define MAXAGE 300000ULL /* 5 min */

/* A free fire unit of district "D" with no position. */
static rank_candidate cand(const char *id, uint32_t jobs)
{
    rank_candidate r;

    memset(&r, 0, sizeof(r));
    r.c = unit_candidate_of(id, "D", UNIT_AVAILABLE, jobs, 4, FIRE_RESCUE, 2);
    return r;
}

static rank_candidate with_station(rank_candidate r, double lat, double lon)
{
    r.pos.has_station = true;
    r.pos.station = (geo_point){lat, lon};
    return r;
}

static rank_candidate with_fix(rank_candidate r, double lat, double lon, uint64_t age_ms)
{
    r.pos.has_fix = true;
    r.pos.fix = (geo_point){lat, lon};
    r.pos.fix_ms = NOW - age_ms;
    return r;
}

static long pick(const geo_point *loc, const rank_candidate *c, size_t n, rank_choice *out)
{
    return rank_closest(loc, c, n, NOW, MAXAGE, "D", FIRE, 1, out);
}

START_TEST(test_distance_known_values)
{
    /* One degree of latitude is 111.2 km on the mean sphere. */
    ck_assert_double_eq_tol(geo_distance_km((geo_point){0, 0}, (geo_point){1, 0}), 111.195, 0.01);
    /* Los Angeles City Hall to Santa Monica Pier: about 23.7 km. */
    double d = geo_distance_km((geo_point){34.0537, -118.2428}, (geo_point){34.0100, -118.4962});
    ck_assert_double_eq_tol(d, 23.75, 0.3);
    ck_assert_double_eq_tol(geo_distance_km((geo_point){5, 5}, (geo_point){5, 5}), 0.0, 1e-9);
    /* Symmetric. */
    ck_assert_double_eq_tol(
        d, geo_distance_km((geo_point){34.0100, -118.4962}, (geo_point){34.0537, -118.2428}), 1e-9);
}
END_TEST

START_TEST(test_distance_antimeridian_and_poles)
{
    /* 179.9 E and 179.9 W are 0.2 degrees apart, not 359.8. */
    double d = geo_distance_km((geo_point){0, 179.9}, (geo_point){0, -179.9});
    ck_assert_double_eq_tol(d, 22.24, 0.05);
    /* At a pole every longitude is the same point. */
    ck_assert_double_lt(geo_distance_km((geo_point){90, 0}, (geo_point){90, 123}), 1e-6);
    ck_assert_double_eq_tol(geo_distance_km((geo_point){90, 0}, (geo_point){-90, 0}),
                            M_PI * GEO_EARTH_RADIUS_KM, 0.01);
    /* Antipodes: never NaN. */
    d = geo_distance_km((geo_point){0, 0}, (geo_point){0, 180});
    ck_assert(isfinite(d));
    ck_assert_double_eq_tol(d, M_PI * GEO_EARTH_RADIUS_KM, 0.01);
}
END_TEST

START_TEST(test_geo_valid)
{
    ck_assert(geo_valid(90, 180));
    ck_assert(geo_valid(-90, -180));
    ck_assert(!geo_valid(91, 0));
    ck_assert(!geo_valid(-90.0001, 0));
    ck_assert(!geo_valid(0, 180.5));
    ck_assert(!geo_valid(NAN, 0));
    ck_assert(!geo_valid(0, INFINITY));
}
END_TEST

START_TEST(test_fresh_fix_beats_station)
{
    geo_point job = {34.05, -118.25};
    rank_choice ch;
    /* A's station is next door, but its fresh fix says it is 10 km out;
     * B's station is 5 km away. */
    rank_candidate c[] = {
        with_fix(with_station(cand("A", 0), 34.05, -118.25), 34.14, -118.25, 4000),
        with_station(cand("B", 0), 34.095, -118.25),
    };

    ck_assert_int_eq(pick(&job, c, 2, &ch), 1);
    ck_assert_int_eq(ch.why.why, RANK_WHY_STATION);
    ck_assert_str_eq(ch.reason, "closest: 5.0 km, station");
    /* Now A's fix is near: the fix is what counts. */
    c[0] = with_fix(with_station(cand("A", 0), 34.5, -118.25), 34.0617, -118.25, 4200);
    ck_assert_int_eq(pick(&job, c, 2, &ch), 0);
    ck_assert_int_eq(ch.why.why, RANK_WHY_FIX);
    ck_assert_uint_eq(ch.why.age_s, 4);
    ck_assert_uint_eq(ch.why.metres, 1301);
    ck_assert_str_eq(ch.reason, "closest: 1.3 km, fix 4 s old");
}
END_TEST

START_TEST(test_stale_fix_falls_back_to_station)
{
    geo_point job = {34.05, -118.25}, at;
    uint64_t age;
    rank_choice ch;
    /* A's fix is near but 5 min 1 s old: its station (20 km) counts. */
    rank_candidate c[] = {
        with_fix(with_station(cand("A", 0), 34.23, -118.25), 34.051, -118.25, MAXAGE + 1000),
        with_station(cand("B", 0), 34.14, -118.25),
    };

    ck_assert_int_eq(pick(&job, c, 2, &ch), 1);
    ck_assert_str_eq(ch.reason, "closest: 10.0 km, station");
    /* Exactly max_fix_age old is still fresh. */
    rank_candidate x = with_fix(cand("X", 0), 1, 1, MAXAGE);
    ck_assert_int_eq(rank_where(&x.pos, NOW, MAXAGE, &at, &age), RANK_FIX);
    ck_assert_uint_eq(age, MAXAGE);
    /* A stale fix with no station: unknown. */
    x = with_fix(cand("X", 0), 1, 1, MAXAGE + 1);
    ck_assert_int_eq(rank_where(&x.pos, NOW, MAXAGE, &at, &age), RANK_UNKNOWN);
    /* A fix from the future (clock skew) is 0 s old. */
    rank_candidate f = with_fix(cand("X", 0), 1, 1, 0);
    f.pos.fix_ms = NOW + 3000;
    ck_assert_int_eq(rank_where(&f.pos, NOW, MAXAGE, &at, &age), RANK_FIX);
    ck_assert_uint_eq(age, 0);
}
END_TEST

START_TEST(test_unknown_positions_rank_after_known)
{
    geo_point job = {34.05, -118.25};
    rank_choice ch;
    /* A has no position and no jobs; B is 50 km away with 2 jobs: known first. */
    rank_candidate c[] = {cand("A", 0), with_station(cand("B", 2), 34.5, -118.25)};

    ck_assert_int_eq(pick(&job, c, 2, &ch), 1);
    ck_assert_int_eq(ch.why.why, RANK_WHY_STATION);
}
END_TEST

START_TEST(test_missing_positions_fall_back_to_todays_order)
{
    geo_point job = {34.05, -118.25};
    rank_choice ch;
    rank_candidate c[] = {cand("C", 1), cand("B", 0), cand("A", 0)};

    /* Nobody has a position: fewest jobs, then id. */
    ck_assert_int_eq(pick(&job, c, 3, &ch), 2);
    ck_assert_int_eq(ch.why.why, RANK_WHY_NO_POSITION);
    ck_assert_str_eq(ch.reason, "no position: fewest jobs");
    /* The job has no location: positions do not matter. */
    c[0] = with_station(cand("C", 1), 34.05, -118.25);
    ck_assert_int_eq(pick(NULL, c, 3, &ch), 2);
    ck_assert_str_eq(ch.reason, "no job location: fewest jobs");
}
END_TEST

START_TEST(test_ties_by_todays_order)
{
    geo_point job = {34.05, -118.25};
    rank_choice ch;
    /* Three units at one station: fewest jobs, then id. */
    rank_candidate c[] = {
        with_station(cand("B", 0), 34.06, -118.25),
        with_station(cand("A", 1), 34.06, -118.25),
        with_station(cand("C", 0), 34.06, -118.25),
    };

    ck_assert_int_eq(pick(&job, c, 3, &ch), 0);
    /* Sub-metre differences are ties too. */
    c[2] = with_station(cand("AA", 0), 34.0600001, -118.25);
    ck_assert_int_eq(pick(&job, c, 3, &ch), 2);
    /* Same id twice (cannot happen, but deterministic): the lower index. */
    c[1] = with_station(cand("AA", 0), 34.06, -118.25);
    ck_assert_int_eq(pick(&job, c, 3, &ch), 1);
}
END_TEST

START_TEST(test_only_eligible_and_own_first)
{
    geo_point job = {0, 0};
    rank_choice ch;
    rank_candidate c[] = {
        with_station(cand("near-busy", 4), 0, 0.001), /* at capacity */
        with_station(cand("near-ems", 0), 0, 0.001),  /* cannot fight fire */
        with_station(cand("far-other", 0), 0, 0.01),  /* another district */
        with_station(cand("farther-own", 0), 0, 0.1),
    };

    c[1].c = unit_candidate_of("near-ems", "D", UNIT_AVAILABLE, 0, 1, EMS, 1);
    c[2].c.district = "E";
    ck_assert_int_eq(pick(&job, c, 4, &ch), 3);
    /* Without an own district the nearer one of E wins. */
    ck_assert_int_eq(rank_closest(&job, c, 4, NOW, MAXAGE, NULL, FIRE, 1, &ch), 2);
    /* Nothing eligible. */
    ck_assert_int_eq(rank_closest(&job, c, 2, NOW, MAXAGE, "D", FIRE, 1, &ch), -1);
    ck_assert_int_eq(ch.index, -1);
    ck_assert_int_eq(rank_closest(&job, NULL, 0, NOW, MAXAGE, "D", FIRE, 1, &ch), -1);
}
END_TEST

START_TEST(test_near_the_antimeridian)
{
    /* A job at 179.95 E: the unit at 179.95 W (11 km across the line)
     * beats one at 179.5 E (50 km). */
    geo_point job = {0, 179.95};
    rank_choice ch;
    rank_candidate c[] = {with_station(cand("A", 0), 0, 179.5),
                          with_station(cand("B", 0), 0, -179.95)};

    ck_assert_int_eq(pick(&job, c, 2, &ch), 1);
    ck_assert_str_eq(ch.reason, "closest: 11.1 km, station");
}
END_TEST

START_TEST(test_reason_text_round_trip)
{
    static const char *const good[] = {
        "closest: 1.3 km, fix 4 s old", "closest: 0.0 km, fix 0 s old",
        "closest: 2.0 km, station",     "closest: 20015.1 km, station",
        "no position: fewest jobs",     "no job location: fewest jobs",
    };
    static const char *const bad[] = {
        "",
        "closest: 1.3 km",
        "closest: 1.35 km, station",
        "closest: +1.3 km, station",
        "closest: 01.3 km, station",
        "closest: 1 km, station",
        "closest: 1.3 km, fix -4 s old",
        "closest: 1.3 km, fix 4 s old!",
        "closest: 99999999999.0 km, station",
        "closest: 1.3 km, fix 99999999999 s old",
        "nearest: 1.3 km, station",
        "no position",
    };
    rank_reason r;
    char buf[RANK_REASON_MAX];

    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        ck_assert_msg(rank_reason_parse(good[i], &r) == 0, "%s", good[i]);
        ck_assert_str_eq(rank_reason_text(&r, buf, sizeof(buf)), good[i]);
    }
    ck_assert_int_eq(rank_reason_parse("closest: 1.3 km, fix 4 s old", &r), 0);
    ck_assert(r.why == RANK_WHY_FIX && r.metres == 1300 && r.age_s == 4);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ck_assert_msg(rank_reason_parse(bad[i], &r) < 0, "%s", bad[i]);
    ck_assert_int_eq(rank_reason_parse(NULL, &r), -1);
    /* None: no text. */
    r.why = RANK_WHY_NONE;
    ck_assert_str_eq(rank_reason_text(&r, buf, sizeof(buf)), "");
}
END_TEST

Suite *unit_suite(void)
{
    Suite *s = suite_create("rank");
    TCase *tc = unit_tcase("rank");

    tcase_add_test(tc, test_distance_known_values);
    tcase_add_test(tc, test_distance_antimeridian_and_poles);
    tcase_add_test(tc, test_geo_valid);
    tcase_add_test(tc, test_fresh_fix_beats_station);
    tcase_add_test(tc, test_stale_fix_falls_back_to_station);
    tcase_add_test(tc, test_unknown_positions_rank_after_known);
    tcase_add_test(tc, test_missing_positions_fall_back_to_todays_order);
    tcase_add_test(tc, test_ties_by_todays_order);
    tcase_add_test(tc, test_only_eligible_and_own_first);
    tcase_add_test(tc, test_near_the_antimeridian);
    tcase_add_test(tc, test_reason_text_round_trip);
    suite_add_tcase(s, tc);
    return s;
}
