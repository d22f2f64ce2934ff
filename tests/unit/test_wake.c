/* The broker's wake-up channel (services/broker/wake.c): signals coalesce
 * into one wake until a wait takes it, and none is lost. */
#include <pthread.h>

#include "unit.h"
#include "wake.h"

START_TEST(test_burst_coalesces_into_one_wake)
{
    wake w;
    wake_stats st;
    uint64_t seen;

    ck_assert_int_eq(wake_init(&w), 0);
    seen = wake_gen(&w);
    for (int i = 0; i < 1000; i++)
        wake_signal(&w);
    wake_get_stats(&w, &st);
    ck_assert_uint_eq(st.signals, 1000);
    ck_assert_uint_eq(st.wakeups, 1);
    uint64_t before = seen;
    ck_assert(wake_wait(&w, &seen, 0));
    ck_assert_uint_eq(seen, before + 1); /* the whole burst: one generation */
    before = seen;
    ck_assert(wake_wait(&w, &seen, 0));
    ck_assert_uint_eq(seen, before); /* nothing new */
    /* Taken: the next signal is a wake of its own. */
    wake_signal(&w);
    wake_signal(&w);
    wake_get_stats(&w, &st);
    ck_assert_uint_eq(st.signals, 1002);
    ck_assert_uint_eq(st.wakeups, 2);
    ck_assert(wake_wait(&w, &seen, 0));
    ck_assert_uint_eq(seen, before + 1);
    wake_destroy(&w);
}
END_TEST

struct waiter {
    wake *w;
    uint64_t seen;
    int rounds;
    bool stopped;
};

static void *wait_rounds(void *arg)
{
    struct waiter *x = arg;

    while (wake_wait(x->w, &x->seen, WAKE_FOREVER))
        x->rounds++;
    x->stopped = true;
    return NULL;
}

START_TEST(test_a_sleeping_waiter_is_woken_and_stopped)
{
    wake w;
    wake_stats st;
    pthread_t thr;

    ck_assert_int_eq(wake_init(&w), 0);
    struct waiter x = {.w = &w, .seen = wake_gen(&w)};
    ck_assert_int_eq(pthread_create(&thr, NULL, wait_rounds, &x), 0);
    /* Each signal sent after the waiter took the one before is a wake
     * (the waiter may have taken it already, or not yet: both count). */
    for (int i = 0; i < 200; i++)
        wake_signal(&w);
    wake_stop(&w);
    pthread_join(thr, NULL);
    wake_get_stats(&w, &st);
    ck_assert(x.stopped);
    ck_assert_uint_eq(st.signals, 200);
    ck_assert_uint_ge(st.wakeups, 1);
    ck_assert_uint_le(st.wakeups, 200);
    ck_assert_uint_le((uint64_t)x.rounds, st.wakeups);
    ck_assert(!wake_wait(&w, &x.seen, WAKE_FOREVER)); /* stopped for good */
    wake_destroy(&w);
}
END_TEST

Suite *unit_suite(void)
{
    Suite *s = suite_create("wake");
    TCase *tc = unit_tcase("wake");

    tcase_add_test(tc, test_burst_coalesces_into_one_wake);
    tcase_add_test(tc, test_a_sleeping_waiter_is_woken_and_stopped);
    suite_add_tcase(s, tc);
    return s;
}
