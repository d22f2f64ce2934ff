/* The reachability rule: demotion with backoff, unreachable after a run of
 * failures, back at the first answer. */
#include "coord.h"
#include "unit.h"

START_TEST(test_reachable_until_it_fails)
{
    reach r = {0};

    ck_assert(reach_may_assign(&r, 0));
    ck_assert(!reach_unreachable(&r));
    ck_assert(!reach_probe_due(&r, 1u << 30));
    ck_assert_int_eq(reach_timeout_ms(&r, 2000, 300), 2000);
}
END_TEST

START_TEST(test_demoted_until_backoff_passes)
{
    reach r = {0};

    reach_failed(&r, 1000);
    ck_assert_uint_eq(r.failures, 1);
    ck_assert(!reach_may_assign(&r, 1000));
    ck_assert(!reach_may_assign(&r, 1000 + REACH_BACKOFF_MIN_MS - 1));
    ck_assert(reach_may_assign(&r, 1000 + REACH_BACKOFF_MIN_MS));
    ck_assert(!reach_probe_due(&r, 1000 + REACH_BACKOFF_MIN_MS - 1));
    ck_assert(reach_probe_due(&r, 1000 + REACH_BACKOFF_MIN_MS)); /* no job: a probe */
    ck_assert(!reach_unreachable(&r));
    ck_assert_int_eq(reach_timeout_ms(&r, 2000, 300), 300);
    reach_failed(&r, 5000);
    ck_assert(!reach_may_assign(&r, 5000 + REACH_BACKOFF_MIN_MS));
    ck_assert(reach_may_assign(&r, 5000 + 2 * REACH_BACKOFF_MIN_MS));
}
END_TEST

START_TEST(test_unreachable_takes_no_job_only_probes)
{
    reach r = {0};
    uint64_t t = 0;

    for (int i = 0; i < REACH_UNREACHABLE_AFTER; i++)
        reach_failed(&r, t += 10);
    ck_assert(reach_unreachable(&r));
    /* However long it waits, no job goes to it before a probe answers. */
    ck_assert(!reach_may_assign(&r, t + 1000000));
    ck_assert(!reach_probe_due(&r, t));
    ck_assert(reach_probe_due(&r, t + reach_backoff_ms(REACH_UNREACHABLE_AFTER)));
    reach_failed(&r, t); /* the probe failed too: a longer wait */
    ck_assert(!reach_probe_due(&r, t + reach_backoff_ms(REACH_UNREACHABLE_AFTER)));
    reach_answered(&r);
    ck_assert(!reach_unreachable(&r));
    ck_assert(reach_may_assign(&r, t));
}
END_TEST

START_TEST(test_backoff_doubles_to_a_cap)
{
    ck_assert_uint_eq(reach_backoff_ms(1), REACH_BACKOFF_MIN_MS);
    ck_assert_uint_eq(reach_backoff_ms(2), 2 * REACH_BACKOFF_MIN_MS);
    ck_assert_uint_eq(reach_backoff_ms(3), 4 * REACH_BACKOFF_MIN_MS);
    ck_assert_uint_eq(reach_backoff_ms(64), REACH_BACKOFF_MAX_MS);
    ck_assert_uint_eq(reach_backoff_ms(UINT32_MAX), REACH_BACKOFF_MAX_MS);
    for (uint32_t n = 1; n < 100; n++)
        ck_assert(reach_backoff_ms(n) <= reach_backoff_ms(n + 1));
    reach r = {.failures = UINT32_MAX};
    reach_failed(&r, 0); /* no wrap back to "reachable" */
    ck_assert(reach_unreachable(&r));
}
END_TEST

Suite *unit_suite(void)
{
    Suite *s = suite_create("reach");
    TCase *tc = unit_tcase("reach");

    tcase_add_test(tc, test_reachable_until_it_fails);
    tcase_add_test(tc, test_demoted_until_backoff_passes);
    tcase_add_test(tc, test_unreachable_takes_no_job_only_probes);
    tcase_add_test(tc, test_backoff_doubles_to_a_cap);
    suite_add_tcase(s, tc);
    return s;
}
