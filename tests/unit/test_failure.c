#include <stdio.h>
#include <string.h>

#include "coord.h"
#include "unit.h"

#define TIMEOUT 3000

typedef struct seen {
    int calls;
    char last[COORD_ID_MAX + 1];
} seen;

static void on_lost(const char *id, void *arg)
{
    seen *s = arg;

    s->calls++;
    snprintf(s->last, sizeof(s->last), "%s", id);
}

START_TEST(test_lost_after_timeout)
{
    failure_detector *fd = fd_new(TIMEOUT);
    seen s = {0};

    ck_assert_int_eq(fd_heartbeat(fd, "LAFD-2", 1000), 0);
    ck_assert(!fd_is_lost(fd, "LAFD-2"));
    ck_assert_uint_eq(fd_check(fd, 1000 + TIMEOUT + 1, on_lost, &s), 1);
    ck_assert(fd_is_lost(fd, "LAFD-2"));
    ck_assert_int_eq(s.calls, 1);
    ck_assert_str_eq(s.last, "LAFD-2");
    fd_free(fd);
}
END_TEST

START_TEST(test_not_lost_at_exact_timeout)
{
    failure_detector *fd = fd_new(TIMEOUT);

    fd_heartbeat(fd, "u", 500);
    ck_assert_uint_eq(fd_check(fd, 500 + TIMEOUT, NULL, NULL), 0);
    ck_assert(!fd_is_lost(fd, "u"));
    ck_assert_uint_eq(fd_check(fd, 500 + TIMEOUT + 1, NULL, NULL), 1);
    fd_free(fd);
}
END_TEST

/* Ten minutes of simulated time, checked every millisecond, with every unit
 * heartbeating at exactly the timeout or just inside it. */
START_TEST(test_no_false_loss_long_run)
{
    enum { UNITS = 8 };
    failure_detector *fd = fd_new(TIMEOUT);
    uint64_t next[UNITS], rng = 5;
    char ids[UNITS][16];
    seen s = {0};

    for (int i = 0; i < UNITS; i++) {
        snprintf(ids[i], sizeof(ids[i]), "unit-%d", i);
        ck_assert_int_eq(fd_heartbeat(fd, ids[i], 0), 0);
        next[i] = TIMEOUT - unit_below(&rng, 50);
    }
    for (uint64_t now = 1; now <= 10 * 60 * 1000; now++) {
        /* Check before this millisecond's heartbeats, so the check sees a
         * silence of exactly the timeout. */
        ck_assert_uint_eq(fd_check(fd, now, on_lost, &s), 0);
        for (int i = 0; i < UNITS; i++) {
            if (now == next[i]) {
                ck_assert_int_eq(fd_heartbeat(fd, ids[i], now), 0);
                /* Unit 0 always hits the boundary exactly. */
                next[i] = now + TIMEOUT - (i == 0 ? 0 : unit_below(&rng, 50));
            }
        }
    }
    ck_assert_int_eq(s.calls, 0);
    fd_free(fd);
}
END_TEST

START_TEST(test_back_on_heartbeat)
{
    failure_detector *fd = fd_new(TIMEOUT);

    fd_heartbeat(fd, "LAFD-2", 0);
    fd_check(fd, TIMEOUT + 10, NULL, NULL);
    ck_assert(fd_is_lost(fd, "LAFD-2"));
    ck_assert_int_eq(fd_heartbeat(fd, "LAFD-2", TIMEOUT + 20), 1);
    ck_assert(!fd_is_lost(fd, "LAFD-2"));
    ck_assert_int_eq(fd_heartbeat(fd, "LAFD-2", TIMEOUT + 30), 0);
    /* Alive again: judged from the new heartbeat. */
    ck_assert_uint_eq(fd_check(fd, 2 * TIMEOUT + 30, NULL, NULL), 0);
    ck_assert_uint_eq(fd_check(fd, 2 * TIMEOUT + 31, NULL, NULL), 1);
    fd_free(fd);
}
END_TEST

START_TEST(test_callback_once_per_loss)
{
    failure_detector *fd = fd_new(TIMEOUT);
    seen s = {0};

    fd_heartbeat(fd, "u", 0);
    for (uint64_t t = TIMEOUT + 1; t < 5 * TIMEOUT; t += 100)
        fd_check(fd, t, on_lost, &s);
    ck_assert_int_eq(s.calls, 1);
    /* A second loss after coming back is a new event. */
    ck_assert_int_eq(fd_heartbeat(fd, "u", 5 * TIMEOUT), 1);
    for (uint64_t t = 5 * TIMEOUT; t < 10 * TIMEOUT; t += 100)
        fd_check(fd, t, on_lost, &s);
    ck_assert_int_eq(s.calls, 2);
    fd_free(fd);
}
END_TEST

START_TEST(test_only_silent_units_lost)
{
    failure_detector *fd = fd_new(TIMEOUT);
    seen s = {0};

    fd_heartbeat(fd, "quiet", 0);
    fd_heartbeat(fd, "chatty", 0);
    fd_heartbeat(fd, "chatty", 2000);
    ck_assert_uint_eq(fd_check(fd, 4000, on_lost, &s), 1);
    ck_assert_str_eq(s.last, "quiet");
    ck_assert(!fd_is_lost(fd, "chatty"));
    ck_assert(!fd_is_lost(fd, "unknown"));
    ck_assert_uint_eq(fd_count(fd), 2);
    fd_free(fd);
}
END_TEST

START_TEST(test_remove_and_count)
{
    failure_detector *fd = fd_new(TIMEOUT);

    ck_assert_uint_eq(fd_count(fd), 0);
    fd_heartbeat(fd, "a", 0);
    fd_heartbeat(fd, "b", 0);
    fd_heartbeat(fd, "a", 1);
    ck_assert_uint_eq(fd_count(fd), 2);
    ck_assert_int_eq(fd_remove(fd, "a"), COORD_OK);
    ck_assert_int_eq(fd_remove(fd, "a"), COORD_E_NOTFOUND);
    ck_assert_int_eq(fd_remove(fd, NULL), COORD_E_NOTFOUND);
    ck_assert_uint_eq(fd_count(fd), 1);
    /* A forgotten unit is never reported. */
    ck_assert_uint_eq(fd_check(fd, 10 * TIMEOUT, NULL, NULL), 1);
    ck_assert(!fd_is_lost(fd, "a"));
    fd_free(fd);
    fd_free(NULL);
    ck_assert_uint_eq(fd_count(NULL), 0);
    ck_assert_uint_eq(fd_check(NULL, 1, NULL, NULL), 0);
}
END_TEST

START_TEST(test_bad_ids_and_clock_skew)
{
    failure_detector *fd = fd_new(TIMEOUT);

    ck_assert_int_eq(fd_heartbeat(fd, "bad id", 0), COORD_E_INVAL);
    ck_assert_int_eq(fd_heartbeat(fd, NULL, 0), COORD_E_INVAL);
    ck_assert_int_eq(fd_heartbeat(NULL, "a", 0), COORD_E_INVAL);
    ck_assert_uint_eq(fd_count(fd), 0);
    /* A stale heartbeat must not pull last_hb backwards... */
    fd_heartbeat(fd, "u", 10000);
    fd_heartbeat(fd, "u", 9000);
    ck_assert_uint_eq(fd_check(fd, 10000 + TIMEOUT, NULL, NULL), 0);
    /* ...and a check whose clock is behind the heartbeat must not wrap. */
    ck_assert_uint_eq(fd_check(fd, 5, NULL, NULL), 0);
    ck_assert(!fd_is_lost(fd, "u"));
    fd_free(fd);
}
END_TEST

Suite *unit_suite(void)
{
    Suite *s = suite_create("failure");
    TCase *tc = unit_tcase("detector");

    tcase_add_test(tc, test_lost_after_timeout);
    tcase_add_test(tc, test_not_lost_at_exact_timeout);
    tcase_add_test(tc, test_no_false_loss_long_run);
    tcase_add_test(tc, test_back_on_heartbeat);
    tcase_add_test(tc, test_callback_once_per_loss);
    tcase_add_test(tc, test_only_silent_units_lost);
    tcase_add_test(tc, test_remove_and_count);
    tcase_add_test(tc, test_bad_ids_and_clock_skew);
    suite_add_tcase(s, tc);
    return s;
}
