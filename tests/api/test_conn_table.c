/* api/conn_table.c: admission within the per-client and total limits, the
 * choice of the connection that gives way, read deadlines that only a
 * finished request moves, and the limit derived from RLIMIT_NOFILE. No
 * sockets: descriptors are plain numbers and time is passed in. */
#include <arpa/inet.h>
#include <check.h>
#include <stdlib.h>

#include "check_main.h"
#include "conn_table.h"

#define DEADLINE 1000

static conn_addr ip(unsigned last)
{
    conn_addr a;
    conn_addr_from_ipv4(&a, htonl(0x7f000000u | last));
    return a;
}

static conn_table *table(size_t total, size_t per_client, size_t slots)
{
    conn_limits lim = {
        .max_total = total, .max_per_client = per_client, .read_deadline_ms = DEADLINE};
    conn_table *t = conn_table_new(&lim, slots, 8192);
    ck_assert_ptr_nonnull(t);
    return t;
}

static void expect_stats(const conn_table *t, size_t open, size_t live, size_t clients)
{
    conn_stats st;
    conn_table_stats(t, &st);
    ck_assert_uint_eq(st.open, open);
    ck_assert_uint_eq(st.live, live);
    ck_assert_uint_eq(st.clients, clients);
    ck_assert_uint_eq(st.cut_pending, open - live);
}

/* Admitting fd from 127.0.0.last at now cuts victim_fd. */
static void expect_eviction(conn_table *t, int fd, unsigned last, int64_t now, int victim_fd)
{
    conn_addr a = ip(last);
    int victim = -1;
    ck_assert_int_eq(conn_table_admit(t, fd, &a, now, &victim), CONN_ADMIT_EVICTING);
    ck_assert_int_eq(victim, victim_fd);
}

/* Admits fd from 127.0.0.last and starts it; returns its id. */
static int open_started(conn_table *t, int fd, unsigned last, int64_t now)
{
    conn_addr a = ip(last);
    ck_assert_int_eq(conn_table_admit(t, fd, &a, now, NULL), CONN_ADMIT);
    int id = conn_table_started(t, fd, &a, now);
    ck_assert_int_ge(id, 0);
    return id;
}

START_TEST(test_limit_for_nofile)
{
    size_t slots;
    /* 1024: 64 + 128 kept back, 832 left, 1/8 of it room for cut ones */
    ck_assert_uint_eq(conn_limit_for_nofile(1024, 4096, &slots), 728);
    ck_assert_uint_eq(slots, 728 + 91 + 1);
    ck_assert_uint_le(slots, 1024 - 64 - 128);
    /* plenty of fds: the cap */
    ck_assert_uint_eq(conn_limit_for_nofile(20000, 4096, &slots), 4096);
    ck_assert_uint_eq(slots, 4096 + 512 + 1);
    ck_assert_uint_eq(conn_limit_for_nofile(0, 4096, NULL), 4096); /* unlimited */
    /* too few fds for anything: a floor of 4, but never above the cap */
    ck_assert_uint_eq(conn_limit_for_nofile(50, 4096, NULL), 4);
    ck_assert_uint_eq(conn_limit_for_nofile(20000, 2, NULL), 2);
    ck_assert_uint_eq(conn_limit_for_nofile(20000, 0, NULL), 1);
}
END_TEST

START_TEST(test_bad_arguments)
{
    conn_limits lim = {.max_total = 4, .max_per_client = 2, .read_deadline_ms = 1};
    ck_assert_ptr_null(conn_table_new(NULL, 8, 64));
    ck_assert_ptr_null(conn_table_new(&lim, 3, 64)); /* fewer slots than the limit */
    ck_assert_ptr_null(conn_table_new(&lim, 8, 0));
    lim.max_per_client = 0;
    ck_assert_ptr_null(conn_table_new(&lim, 8, 64));
    conn_table_free(NULL);
    conn_table_busy(NULL, 0);
    conn_table_idle(NULL, 0, 0);
    conn_table_closed(NULL, 0);
    conn_table_forget(NULL, 0);
    ck_assert_int_eq(conn_table_next_deadline(NULL, 0), -1);
}
END_TEST

START_TEST(test_per_client_limit)
{
    conn_table *t = table(100, 3, 120);
    conn_addr a = ip(2), b = ip(3);
    for (int fd = 10; fd < 13; fd++)
        ck_assert_int_eq(conn_table_admit(t, fd, &a, 0, NULL), CONN_ADMIT);
    ck_assert_int_eq(conn_table_admit(t, 13, &a, 0, NULL), CONN_REFUSE_CLIENT);
    ck_assert_uint_eq(conn_table_client_count(t, &a), 3);
    /* another address is not affected */
    ck_assert_int_eq(conn_table_admit(t, 14, &b, 0, NULL), CONN_ADMIT);
    /* one closes: room again */
    conn_table_forget(t, 11);
    ck_assert_int_eq(conn_table_admit(t, 15, &a, 0, NULL), CONN_ADMIT);
    expect_stats(t, 4, 4, 2);
    conn_table_free(t);
}
END_TEST

START_TEST(test_full_table_evicts_from_the_largest_client)
{
    conn_table *t = table(4, 10, 6);
    int victim = -1;
    /* 127.0.0.2 holds three (fd 10 oldest), 127.0.0.9 one */
    open_started(t, 10, 2, 0);
    open_started(t, 11, 2, 5);
    open_started(t, 12, 9, 1);
    open_started(t, 13, 2, 7);
    expect_eviction(t, 20, 1, 10, 10); /* the largest client's longest-waiting connection */
    expect_stats(t, 5, 4, 3);
    /* the next one takes 11 (127.0.0.2 still holds the most) */
    conn_addr other = ip(30);
    expect_eviction(t, 21, 30, 11, 11);
    /* no free slot left (two cut, not yet closed): refused */
    ck_assert_int_eq(conn_table_admit(t, 22, &other, 12, &victim), CONN_REFUSE_FULL);
    conn_table_closed(t, 0); /* fd 10's entry was the first slot */
    expect_stats(t, 5, 4, 4);
    /* now 127.0.0.2 and 127.0.0.9 hold one each: the older of the two goes */
    expect_eviction(t, 22, 30, 12, 12);
    conn_table_free(t);
}
END_TEST

START_TEST(test_busy_and_unstarted_are_never_evicted)
{
    conn_table *t = table(4, 10, 6); /* 2 entries of room, 1 of them kept for light clients */
    conn_addr heavy = ip(2), light = ip(1);
    int victim = -1;
    int id = open_started(t, 10, 2, 0);
    for (int fd = 11; fd < 14; fd++) /* admitted, not yet started by libmicrohttpd */
        ck_assert_int_eq(conn_table_admit(t, fd, &heavy, 0, NULL), CONN_ADMIT);
    conn_table_busy(t, id);
    /* one mid-request, three not started: nothing to cut, so the heavy
     * client is refused and a light one goes over the limit */
    ck_assert_int_eq(conn_table_admit(t, 14, &heavy, 1, &victim), CONN_REFUSE_FULL);
    ck_assert_int_eq(conn_table_admit(t, 15, &light, 1, &victim), CONN_ADMIT);
    expect_stats(t, 5, 5, 2);
    /* the last free entry is a light client's only */
    conn_table_idle(t, id, 2);
    ck_assert_int_eq(conn_table_admit(t, 16, &heavy, 3, &victim), CONN_REFUSE_FULL);
    expect_eviction(t, 16, 5, 3, 10);
    /* full: nobody gets in */
    ck_assert_int_eq(conn_table_admit(t, 17, &light, 4, &victim), CONN_REFUSE_FULL);
    conn_table_free(t);
}
END_TEST

START_TEST(test_heavy_clients_leave_the_reserve_to_light_ones)
{
    conn_table *t = table(4, 10, 8); /* 4 entries of room, 2 kept for light clients */
    conn_addr heavy = ip(2);
    for (int fd = 10; fd < 14; fd++)
        open_started(t, fd, 2, fd);
    /* the heavy client churns: each new connection cuts its own oldest */
    expect_eviction(t, 20, 2, 20, 10);
    expect_eviction(t, 21, 2, 21, 11);
    /* two cut connections not yet closed: the two free entries are the reserve */
    ck_assert_int_eq(conn_table_admit(t, 22, &heavy, 22, NULL), CONN_REFUSE_FULL);
    expect_eviction(t, 23, 1, 23, 12);
    expect_eviction(t, 24, 3, 24, 13);
    expect_stats(t, 8, 4, 3);
    conn_table_free(t);
}
END_TEST

START_TEST(test_deadline_is_not_moved_by_time_only_by_a_finished_request)
{
    conn_table *t = table(10, 10, 12);
    int fds[8];
    int slow = open_started(t, 10, 2, 0);
    int done = open_started(t, 11, 3, 0);
    ck_assert_int_eq(conn_table_next_deadline(t, 0), DEADLINE);
    ck_assert_int_eq(conn_table_next_deadline(t, 400), DEADLINE - 400);
    /* 11 finished a request at 600: its next one is due by 1600 */
    conn_table_busy(t, done);
    conn_table_idle(t, done, 600);
    ck_assert_uint_eq(conn_table_expire(t, DEADLINE - 1, fds, 8), 0);
    ck_assert_uint_eq(conn_table_expire(t, DEADLINE, fds, 8), 1);
    ck_assert_int_eq(fds[0], 10);
    ck_assert_int_eq(conn_table_next_deadline(t, DEADLINE), 600);
    /* a cut connection is not cut again, and a busy one never */
    conn_table_busy(t, done);
    ck_assert_uint_eq(conn_table_expire(t, 5000, fds, 8), 0);
    ck_assert_int_eq(conn_table_next_deadline(t, 5000), -1);
    conn_table_closed(t, slow);
    expect_stats(t, 1, 1, 1);
    conn_table_free(t);
}
END_TEST

START_TEST(test_expire_hands_out_in_batches)
{
    conn_table *t = table(20, 20, 24);
    int fds[4];
    for (int fd = 10; fd < 20; fd++)
        open_started(t, fd, 2, 0);
    size_t total = 0, n;
    while ((n = conn_table_expire(t, DEADLINE, fds, 4)) > 0)
        total += n;
    ck_assert_uint_eq(total, 10);
    conn_table_free(t);
}
END_TEST

START_TEST(test_unstarted_admissions_are_forgotten_not_cut)
{
    conn_table *t = table(10, 10, 12);
    conn_addr a = ip(2);
    int fds[4];
    ck_assert_int_eq(conn_table_admit(t, 10, &a, 0, NULL), CONN_ADMIT);
    /* never started within the deadline: dropped without a descriptor to shut */
    ck_assert_uint_eq(conn_table_expire(t, DEADLINE, fds, 4), 0);
    expect_stats(t, 0, 0, 0);
    /* ... and taken in again if libmicrohttpd starts it late */
    int id = conn_table_started(t, 10, &a, DEADLINE + 5);
    ck_assert_int_ge(id, 0);
    ck_assert_uint_eq(conn_table_client_count(t, &a), 1);
    ck_assert_int_eq(conn_table_next_deadline(t, DEADLINE + 5), DEADLINE);
    conn_table_free(t);
}
END_TEST

START_TEST(test_reused_descriptor_replaces_a_silent_close)
{
    conn_table *t = table(10, 2, 12);
    conn_addr a = ip(2), b = ip(3);
    ck_assert_int_eq(conn_table_admit(t, 10, &a, 0, NULL), CONN_ADMIT);
    ck_assert_int_eq(conn_table_admit(t, 11, &a, 0, NULL), CONN_ADMIT);
    /* libmicrohttpd dropped fd 10 without a word; the kernel hands it out again */
    ck_assert_int_eq(conn_table_admit(t, 10, &b, 1, NULL), CONN_ADMIT);
    ck_assert_uint_eq(conn_table_client_count(t, &a), 1);
    ck_assert_uint_eq(conn_table_client_count(t, &b), 1);
    /* out of range descriptors are refused, and never tracked */
    ck_assert_int_eq(conn_table_admit(t, 8192, &b, 1, NULL), CONN_REFUSE_FULL);
    ck_assert_int_eq(conn_table_admit(t, -1, &b, 1, NULL), CONN_REFUSE_FULL);
    ck_assert_int_eq(conn_table_started(t, 9000, &b, 1), -1);
    conn_table_free(t);
}
END_TEST

START_TEST(test_many_clients_hash_and_unhash)
{
    /* 3,000 addresses in and out, in an order that exercises the chains */
    conn_table *t = table(3000, 1, 3000);
    for (int i = 0; i < 3000; i++) {
        conn_addr a = ip((unsigned)i + 1);
        ck_assert_int_eq(conn_table_admit(t, i + 10, &a, 0, NULL), CONN_ADMIT);
    }
    expect_stats(t, 3000, 3000, 3000);
    for (int i = 0; i < 3000; i += 2)
        conn_table_forget(t, i + 10);
    for (int i = 1; i < 3000; i += 2) {
        conn_addr a = ip((unsigned)i + 1);
        ck_assert_uint_eq(conn_table_client_count(t, &a), 1);
        ck_assert_int_eq(conn_table_admit(t, 6000, &a, 0, NULL), CONN_REFUSE_CLIENT);
    }
    for (int i = 1; i < 3000; i += 2)
        conn_table_forget(t, i + 10);
    expect_stats(t, 0, 0, 0);
    conn_table_free(t);
}
END_TEST

Suite *api_suite(void)
{
    Suite *s = suite_create("api_conn_table");
    TCase *tc = tcase_create("conn_table");
    tcase_add_test(tc, test_limit_for_nofile);
    tcase_add_test(tc, test_bad_arguments);
    tcase_add_test(tc, test_per_client_limit);
    tcase_add_test(tc, test_full_table_evicts_from_the_largest_client);
    tcase_add_test(tc, test_busy_and_unstarted_are_never_evicted);
    tcase_add_test(tc, test_heavy_clients_leave_the_reserve_to_light_ones);
    tcase_add_test(tc, test_deadline_is_not_moved_by_time_only_by_a_finished_request);
    tcase_add_test(tc, test_expire_hands_out_in_batches);
    tcase_add_test(tc, test_unstarted_admissions_are_forgotten_not_cut);
    tcase_add_test(tc, test_reused_descriptor_replaces_a_silent_close);
    tcase_add_test(tc, test_many_clients_hash_and_unhash);
    suite_add_tcase(s, tc);
    return s;
}
