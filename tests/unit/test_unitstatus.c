/* Check suite of the crew's status state machine (libcoord/unitstatus.c):
 * names, every (from, to) pair against the table written out here, and
 * random walks that must only ever move forward and end at cleared. */
#include <string.h>

#include "coord.h"
#include "unit.h"

static const char *const names[UST_NSTEPS] = {
    "dispatched", "acknowledged", "en_route", "on_scene", "transporting", "at_hospital", "cleared",
};

START_TEST(test_names_round_trip)
{
    for (int i = 0; i < UST_NSTEPS; i++) {
        unit_step s = UST_CLEARED;

        ck_assert_str_eq(unit_step_str((unit_step)i), names[i]);
        ck_assert_str_eq(unit_step_names[i], names[i]);
        ck_assert_int_eq(unit_step_parse(names[i], &s), COORD_OK);
        ck_assert_int_eq(s, i);
    }
    ck_assert_ptr_null(unit_step_names[UST_NSTEPS]); /* a request parser's enum list */
    ck_assert_int_eq(UST_DISPATCHED, 0);             /* a zeroed attempt starts dispatched */
    ck_assert_str_eq(unit_step_str((unit_step)UST_NSTEPS), "unknown");
    ck_assert_str_eq(unit_step_str((unit_step)-1), "unknown");
}
END_TEST

START_TEST(test_unknown_names_refused)
{
    const char *junk[] = {"",          "En_route",  "EN_ROUTE",  "en-route",
                          " on_scene", "enroute",   "available", "busy",
                          "clear",     "on_scene ", "arrived",   "cleared\n"};
    unit_step s = UST_ON_SCENE;

    for (size_t i = 0; i < sizeof(junk) / sizeof(junk[0]); i++) {
        ck_assert_int_eq(unit_step_parse(junk[i], &s), COORD_E_INVAL);
        ck_assert_int_eq(s, UST_ON_SCENE); /* untouched */
    }
    ck_assert_int_eq(unit_step_parse(NULL, &s), COORD_E_INVAL);
    ck_assert_int_eq(unit_step_parse("cleared", NULL), COORD_E_INVAL);
}
END_TEST

/* The whole table, written independently of the implementation's, so a
 * new edge cannot slip in unnoticed. */
static bool expected_legal(int f, int t)
{
    if (f == UST_CLEARED)
        return false; /* nothing follows cleared */
    if (t == UST_CLEARED)
        return true; /* any other state may be released */
    if (f <= UST_ON_SCENE && t <= UST_ON_SCENE)
        return t > f; /* forward on the main line, skips allowed */
    if (f == UST_ON_SCENE && t == UST_TRANSPORTING)
        return true;
    if (f == UST_TRANSPORTING && t == UST_AT_HOSPITAL)
        return true;
    return false;
}

START_TEST(test_every_pair)
{
    int nlegal = 0;

    for (int f = 0; f < UST_NSTEPS; f++) {
        for (int t = 0; t < UST_NSTEPS; t++) {
            unit_step s = (unit_step)f;
            int want = expected_legal(f, t) ? COORD_OK : COORD_E_TRANSITION;

            ck_assert_msg(unit_step_check((unit_step)f, (unit_step)t) == want, "%s -> %s", names[f],
                          names[t]);
            ck_assert_int_eq(unit_step_move(&s, (unit_step)t), want);
            ck_assert_int_eq(s, want == COORD_OK ? t : f); /* refused: untouched */
            nlegal += want == COORD_OK;
        }
    }
    /* 3+2+1 on the main line, 2 on the transport branch, 6 to cleared. */
    ck_assert_int_eq(nlegal, 14);
}
END_TEST

START_TEST(test_examples)
{
    /* The documented skips, and the backward steps that are refused. */
    ck_assert_int_eq(unit_step_check(UST_DISPATCHED, UST_EN_ROUTE), COORD_OK);
    ck_assert_int_eq(unit_step_check(UST_ON_SCENE, UST_CLEARED), COORD_OK);
    ck_assert_int_eq(unit_step_check(UST_DISPATCHED, UST_CLEARED), COORD_OK);
    ck_assert_int_eq(unit_step_check(UST_EN_ROUTE, UST_ACKNOWLEDGED), COORD_E_TRANSITION);
    ck_assert_int_eq(unit_step_check(UST_ON_SCENE, UST_EN_ROUTE), COORD_E_TRANSITION);
    ck_assert_int_eq(unit_step_check(UST_EN_ROUTE, UST_TRANSPORTING), COORD_E_TRANSITION);
    ck_assert_int_eq(unit_step_check(UST_ON_SCENE, UST_AT_HOSPITAL), COORD_E_TRANSITION);
    ck_assert_int_eq(unit_step_check(UST_AT_HOSPITAL, UST_ON_SCENE), COORD_E_TRANSITION);
    ck_assert_int_eq(unit_step_check(UST_EN_ROUTE, UST_EN_ROUTE), COORD_E_TRANSITION);
    ck_assert_int_eq(unit_step_check(UST_CLEARED, UST_DISPATCHED), COORD_E_TRANSITION);
    ck_assert_int_eq(unit_step_check((unit_step)UST_NSTEPS, UST_CLEARED), COORD_E_TRANSITION);
    ck_assert_int_eq(unit_step_check(UST_DISPATCHED, (unit_step)-1), COORD_E_TRANSITION);
    ck_assert_int_eq(unit_step_move(NULL, UST_CLEARED), COORD_E_TRANSITION);
}
END_TEST

START_TEST(test_frees_only_cleared)
{
    for (int i = 0; i < UST_NSTEPS; i++)
        ck_assert(unit_step_frees((unit_step)i) == (i == UST_CLEARED));
}
END_TEST

START_TEST(test_random_walks)
{
    uint64_t rng = 12;

    for (int walk = 0; walk < 2000; walk++) {
        unit_step s = UST_DISPATCHED;
        bool transported = false;

        for (int k = 0; k < 20; k++) {
            unit_step before = s, to = (unit_step)(unit_rand(&rng) % UST_NSTEPS);
            int rc = unit_step_move(&s, to);

            if (rc != COORD_OK) {
                ck_assert_int_eq(s, before);
                continue;
            }
            /* Only forward, and a hospital only after a transport. */
            ck_assert_int_gt(s, before);
            transported = transported || s == UST_TRANSPORTING;
            ck_assert(s != UST_AT_HOSPITAL || transported);
        }
        /* Whatever happened, the unit can still be released, once. */
        if (s != UST_CLEARED)
            ck_assert_int_eq(unit_step_move(&s, UST_CLEARED), COORD_OK);
        ck_assert_int_eq(unit_step_move(&s, UST_CLEARED), COORD_E_TRANSITION);
    }
}
END_TEST

Suite *unit_suite(void)
{
    Suite *s = suite_create("unitstatus");
    TCase *names_tc = unit_tcase("names");
    TCase *sm = unit_tcase("state_machine");

    tcase_add_test(names_tc, test_names_round_trip);
    tcase_add_test(names_tc, test_unknown_names_refused);
    suite_add_tcase(s, names_tc);

    tcase_add_test(sm, test_every_pair);
    tcase_add_test(sm, test_examples);
    tcase_add_test(sm, test_frees_only_cleared);
    tcase_add_test(sm, test_random_walks);
    suite_add_tcase(s, sm);
    return s;
}
