/* api/eido_vocab: the type table both ways, the priority scale and its
 * folding, unit kind tokens, and the PIDF-LO point written and read. */
#include <check.h>
#include <string.h>

#include "check_main.h"
#include "eido_vocab.h"

START_TEST(test_types_both_ways)
{
    const eido_type *t = eido_type_by_name("building_fire");

    ck_assert_ptr_nonnull(t);
    ck_assert_str_eq(t->token, "Fire.Structure");
    ck_assert_str_eq(t->caps[0], "firefighting");
    ck_assert_ptr_null(t->caps[1]);
    ck_assert_ptr_eq(eido_type_by_token("Fire.Structure"), t);
    ck_assert_ptr_null(eido_type_by_name("chemical_spill"));
    ck_assert_ptr_null(eido_type_by_token("fire.structure")); /* tokens are exact */
    ck_assert_ptr_null(eido_type_by_token(NULL));
    ck_assert_str_eq(eido_resource_token("ems"), "Ambulance");
    ck_assert_str_eq(eido_resource_token("boat"), EIDO_TYPE_OTHER);
    ck_assert_str_eq(eido_resource_token(NULL), EIDO_TYPE_OTHER);
}
END_TEST

START_TEST(test_priority_round_trip_and_fold)
{
    severity s = SEV_LOW;

    for (int v = SEV_LOW; v <= SEV_CRITICAL; v++) {
        ck_assert_int_eq(eido_severity_of(eido_priority_of((severity)v), &s), 0);
        ck_assert_int_eq(s, v);
    }
    ck_assert_int_eq(eido_severity_of(9, &s), 0);
    ck_assert_int_eq(s, SEV_HIGH);
    ck_assert_int_eq(eido_severity_of(0, &s), 0);
    ck_assert_int_eq(s, SEV_LOW);
    ck_assert_int_eq(eido_severity_of(7, &s), 0);
    ck_assert_int_eq(s, SEV_MEDIUM);
    s = SEV_HIGH;
    ck_assert_int_eq(eido_severity_of(11, &s), -1);
    ck_assert_int_eq(eido_severity_of(-1, &s), -1);
    ck_assert_int_eq(s, SEV_HIGH); /* untouched on failure */
}
END_TEST

START_TEST(test_pidf_written_is_read_back)
{
    char xml[1024];
    geo_point p = {34.0522, -118.2437}, q = {0, 0};

    ck_assert_int_eq(eido_pidf_point(p, xml, sizeof(xml)), 0);
    ck_assert_ptr_nonnull(strstr(xml, "<gml:pos>34.0522000 -118.2437000</gml:pos>"));
    ck_assert_int_eq(eido_pidf_read(xml, &q), 1);
    ck_assert_double_eq_tol(q.lat, p.lat, 1e-9);
    ck_assert_double_eq_tol(q.lon, p.lon, 1e-9);
    ck_assert_int_eq(eido_pidf_point(p, xml, 40), -1); /* too small: refused, not cut */
}
END_TEST

START_TEST(test_pidf_read_edges)
{
    geo_point q = {1, 2};

    ck_assert_int_eq(eido_pidf_read("<gml:pos>\n  40.44 -80.00 34\n</gml:pos>", &q), 1);
    ck_assert_double_eq_tol(q.lat, 40.44, 1e-9);
    ck_assert_int_eq(eido_pidf_read("<presence/>", &q), 0);
    ck_assert_int_eq(eido_pidf_read(NULL, &q), 0);
    q.lat = 7;
    const char *bad[] = {
        "<gml:pos>91 0</gml:pos>",  "<gml:pos>0 181</gml:pos>",   "<gml:pos>34.05 east</gml:pos>",
        "<gml:pos>34.05</gml:pos>", "<gml:pos>nan 0</gml:pos>",   "<gml:pos>0x10 0</gml:pos>",
        "<gml:pos>1 inf</gml:pos>", "<gml:pos>1 2 3 4</gml:pos>", "<gml:pos>1 2",
        "<gml:pos></gml:pos>",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ck_assert_msg(eido_pidf_read(bad[i], &q) == -1, "%s was read", bad[i]);
    ck_assert_double_eq(q.lat, 7); /* untouched on failure */
}
END_TEST

Suite *api_suite(void)
{
    Suite *s = suite_create("api_eido_vocab");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, test_types_both_ways);
    tcase_add_test(tc, test_priority_round_trip_and_fold);
    tcase_add_test(tc, test_pidf_written_is_read_back);
    tcase_add_test(tc, test_pidf_read_edges);
    suite_add_tcase(s, tc);
    return s;
}
