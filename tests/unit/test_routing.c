/* Check suite of incident routing (libcoord/routing.c): a named district,
 * most free capable units, ties by id, the least-loaded fallback, brokers
 * that did not answer, and an empty city. */
#include <string.h>

#include "coord.h"
#include "unit.h"

START_TEST(test_named_district)
{
    route_kind k = ROUTE_LEAST_LOADED;
    route_candidate c[] = {
        {"Westside", true, 2, true, 0},
        {"Downtown", false, 0, false, 0}, /* unreachable: named still wins */
    };

    ck_assert_int_eq(route_choose(c, 2, "Downtown", &k), 1);
    ck_assert_int_eq(k, ROUTE_NAMED);
    k = ROUTE_FREE_UNIT;
    ck_assert_int_eq(route_choose(c, 2, "Valley", &k), -1);   /* not registered */
    ck_assert_int_eq(k, ROUTE_FREE_UNIT);                     /* untouched */
    ck_assert_int_eq(route_choose(c, 2, "downtown", &k), -1); /* exact ids */
    ck_assert_int_eq(route_find(c, 2, "Westside"), 0);
    ck_assert_int_eq(route_find(c, 2, NULL), -1);
    ck_assert_int_eq(route_find(c, 0, "Westside"), -1);
}
END_TEST

START_TEST(test_most_free_units_ties_by_id)
{
    route_kind k = ROUTE_NAMED;
    route_candidate c[] = {
        {"Westside", true, 2, true, 0},
        {"Downtown", true, 1, true, 0},
        {"Valley", true, 2, true, 9},
        {"Airport", false, 5, false, 0}, /* did not answer: its count means nothing */
    };

    ck_assert_int_eq(route_choose(c, 4, NULL, &k), 2); /* Valley < Westside, both 2 */
    ck_assert_int_eq(k, ROUTE_FREE_UNIT);
    c[1].free_capable = 3;
    ck_assert_int_eq(route_choose(c, 4, NULL, &k), 1);
    ck_assert_str_eq(route_kind_str(k), "free_unit");
}
END_TEST

START_TEST(test_order_does_not_matter)
{
    route_candidate c[] = {
        {"B", true, 2, true, 1},
        {"A", true, 2, true, 1},
        {"C", true, 1, true, 0},
    };
    route_candidate r[] = {c[2], c[0], c[1]};
    route_kind k = ROUTE_NAMED;

    ck_assert_str_eq(c[route_choose(c, 3, NULL, &k)].id, "A");
    ck_assert_str_eq(r[route_choose(r, 3, NULL, &k)].id, "A");
}
END_TEST

START_TEST(test_free_units_beat_load)
{
    route_kind k = ROUTE_NAMED;
    route_candidate c[] = {
        {"Quiet", true, 0, true, 0}, /* idle broker, but nothing that fits */
        {"Busy", true, 1, true, 50}, /* one free capable unit */
    };

    ck_assert_int_eq(route_choose(c, 2, NULL, &k), 1);
    ck_assert_int_eq(k, ROUTE_FREE_UNIT);
}
END_TEST

START_TEST(test_least_loaded_and_none)
{
    route_kind k = ROUTE_NAMED;
    route_candidate c[] = {
        {"Westside", true, 0, true, 4},
        {"Downtown", true, 0, true, 7},
        {"Valley", true, 0, true, 4},
        {"Airport", false, 0, false, 0}, /* unreachable: never least loaded */
    };

    ck_assert_int_eq(route_choose(c, 4, NULL, &k), 2); /* 4 queued, Valley < Westside */
    ck_assert_int_eq(k, ROUTE_LEAST_LOADED);
    ck_assert_str_eq(route_kind_str(k), "least_loaded");
    for (int i = 0; i < 4; i++)
        c[i].health_ok = false;
    k = ROUTE_NAMED;
    ck_assert_int_eq(route_choose(c, 4, NULL, &k), -1);
    ck_assert_int_eq(k, ROUTE_NAMED); /* untouched */
    ck_assert_int_eq(route_choose(c, 0, NULL, &k), -1);
    ck_assert_str_eq(route_kind_str(ROUTE_NAMED), "named");
}
END_TEST

START_TEST(test_unreachable_skipped)
{
    route_kind k = ROUTE_NAMED;
    route_candidate c[] = {
        {"A", false, 9, false, 0}, /* nothing answered: figures are leftovers */
        {"B", false, 0, true, 3},  /* units did not answer, health did */
        {"C", true, 0, false, 0},  /* units answered (none free), health did not */
    };

    ck_assert_int_eq(route_choose(c, 3, NULL, &k), 1);
    ck_assert_int_eq(k, ROUTE_LEAST_LOADED);
    c[1].health_ok = false;
    ck_assert_int_eq(route_choose(c, 3, NULL, &k), -1);
}
END_TEST

START_TEST(test_empty_city)
{
    route_kind k = ROUTE_FREE_UNIT;

    ck_assert_int_eq(route_choose(NULL, 0, NULL, &k), -1);
    ck_assert_int_eq(route_choose(NULL, 0, "Downtown", &k), -1);
    ck_assert_int_eq(k, ROUTE_FREE_UNIT);
}
END_TEST

START_TEST(test_kind_names)
{
    const char *names[] = {"named", "free_unit", "least_loaded"};

    for (int i = ROUTE_NAMED; i <= ROUTE_LEAST_LOADED; i++) {
        route_kind k = ROUTE_NAMED;

        ck_assert_str_eq(route_kind_str((route_kind)i), names[i]);
        ck_assert_int_eq(route_kind_parse(names[i], &k), COORD_OK);
        ck_assert_int_eq(k, i);
    }
    route_kind k = ROUTE_FREE_UNIT;
    ck_assert_int_eq(route_kind_parse("Named", &k), COORD_E_INVAL);
    ck_assert_int_eq(route_kind_parse("", &k), COORD_E_INVAL);
    ck_assert_int_eq(route_kind_parse(NULL, &k), COORD_E_INVAL);
    ck_assert_int_eq(k, ROUTE_FREE_UNIT);
    ck_assert_str_eq(route_kind_str((route_kind)9), "named");
}
END_TEST

Suite *unit_suite(void)
{
    Suite *s = suite_create("routing");
    TCase *tc = unit_tcase("choose");

    tcase_add_test(tc, test_named_district);
    tcase_add_test(tc, test_most_free_units_ties_by_id);
    tcase_add_test(tc, test_order_does_not_matter);
    tcase_add_test(tc, test_free_units_beat_load);
    tcase_add_test(tc, test_least_loaded_and_none);
    tcase_add_test(tc, test_unreachable_skipped);
    tcase_add_test(tc, test_empty_city);
    tcase_add_test(tc, test_kind_names);
    suite_add_tcase(s, tc);
    return s;
}
