#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "coord.h"
#include "unit.h"

static arb_attempt att(const char *unit, uint32_t n, attempt_state st, const vclock *clk)
{
    arb_attempt a;

    memset(&a, 0, sizeof(a));
    snprintf(a.unit_id, sizeof(a.unit_id), "%s", unit);
    a.attempt = n;
    a.state = st;
    a.assign_clock = clk;
    return a;
}

static arb_submission sub_of(const char *unit, uint32_t n, uint64_t digest, const vclock *clk)
{
    arb_submission s;

    memset(&s, 0, sizeof(s));
    snprintf(s.r.unit_id, sizeof(s.r.unit_id), "%s", unit);
    s.r.attempt = n;
    s.r.digest = digest;
    s.clock = clk;
    return s;
}

/* The Building C story: LAFD-2 held attempt 1 and was revoked when it went
 * silent, LAFD-9 got attempt 2. */
static void two_attempts(arb_attempt out[2], const vclock *c1, const vclock *c2)
{
    out[0] = att("LAFD-2", 1, ATT_REVOKED, c1);
    out[1] = att("LAFD-9", 2, ATT_ACTIVE, c2);
}

START_TEST(test_accept_first)
{
    arb_attempt a[2];
    arb_submission s = sub_of("LAFD-9", 2, 111, NULL);

    two_attempts(a, NULL, NULL);
    ck_assert_int_eq(arbiter_decide(a, 2, NULL, &s), ARB_ACCEPT);
}
END_TEST

START_TEST(test_reject_later)
{
    arb_attempt a[2];
    arb_submission first = sub_of("LAFD-9", 2, 111, NULL);
    arb_submission late = sub_of("LAFD-2", 1, 222, NULL);

    two_attempts(a, NULL, NULL);
    ck_assert_int_eq(arbiter_decide(a, 2, &first.r, &late), ARB_REJECT);
}
END_TEST

START_TEST(test_exact_retry)
{
    arb_attempt a[2];
    arb_submission first = sub_of("LAFD-9", 2, 111, NULL);
    arb_submission again = sub_of("LAFD-9", 2, 111, NULL);

    two_attempts(a, NULL, NULL);
    ck_assert_int_eq(arbiter_decide(a, 2, &first.r, &again), ARB_RETRY);
}
END_TEST

START_TEST(test_same_unit_attempt_other_content)
{
    arb_attempt a[2];
    arb_submission first = sub_of("LAFD-9", 2, 111, NULL);
    arb_submission changed = sub_of("LAFD-9", 2, 112, NULL);

    two_attempts(a, NULL, NULL);
    ck_assert_int_eq(arbiter_decide(a, 2, &first.r, &changed), ARB_REJECT);
}
END_TEST

START_TEST(test_stranger_forbidden)
{
    arb_attempt a[2];
    arb_submission first = sub_of("LAFD-9", 2, 111, NULL);
    arb_submission stranger = sub_of("EMS-3", 1, 111, NULL);

    two_attempts(a, NULL, NULL);
    ck_assert_int_eq(arbiter_decide(a, 2, NULL, &stranger), ARB_FORBIDDEN);
    /* Even with a winner: a stranger learns nothing about the outcome, and
     * even when it copies the winner's attempt and digest. */
    ck_assert_int_eq(arbiter_decide(a, 2, &first.r, &stranger), ARB_FORBIDDEN);
    stranger.r.attempt = 2;
    ck_assert_int_eq(arbiter_decide(a, 2, &first.r, &stranger), ARB_FORBIDDEN);
    ck_assert_int_eq(arbiter_decide(NULL, 0, NULL, &stranger), ARB_FORBIDDEN);
    ck_assert_int_eq(arbiter_decide(a, 2, NULL, NULL), ARB_FORBIDDEN);
}
END_TEST

START_TEST(test_wrong_attempt)
{
    arb_attempt a[3];
    arb_submission s = sub_of("LAFD-2", 7, 1, NULL);

    two_attempts(a, NULL, NULL);
    ck_assert_int_eq(arbiter_decide(a, 2, NULL, &s), ARB_BAD_ATTEMPT);
    /* Attempt 2 exists, but LAFD-2 never held it. */
    s.r.attempt = 2;
    ck_assert_int_eq(arbiter_decide(a, 2, NULL, &s), ARB_BAD_ATTEMPT);
    /* Unconfirmed attempts cannot report. */
    a[2] = att("LAFD-2", 3, ATT_PENDING, NULL);
    s.r.attempt = 3;
    ck_assert_int_eq(arbiter_decide(a, 3, NULL, &s), ARB_BAD_ATTEMPT);
}
END_TEST

START_TEST(test_bad_attempt_after_winner_is_reject)
{
    arb_attempt a[2];
    arb_submission first = sub_of("LAFD-9", 2, 111, NULL);
    arb_submission s = sub_of("LAFD-2", 9, 1, NULL);

    two_attempts(a, NULL, NULL);
    ck_assert_int_eq(arbiter_decide(a, 2, &first.r, &s), ARB_REJECT);
}
END_TEST

START_TEST(test_causality)
{
    vclock assign, before, concurrent, equal, after;
    arb_attempt a[2];
    arb_submission s;

    vclock_init(&assign);
    vclock_set(&assign, "downtown", 5);
    vclock_set(&assign, "westside", 2);
    vclock_init(&before);
    vclock_set(&before, "downtown", 4);
    vclock_set(&before, "westside", 2);
    vclock_init(&concurrent);
    vclock_set(&concurrent, "downtown", 6);
    vclock_set(&concurrent, "westside", 1);
    vclock_copy(&equal, &assign);
    vclock_copy(&after, &assign);
    vclock_tick(&after, "LAFD-9"); /* the unit's dot on its report */
    two_attempts(a, &assign, &assign);

    s = sub_of("LAFD-9", 2, 1, &before);
    ck_assert_int_eq(arbiter_decide(a, 2, NULL, &s), ARB_CAUSALITY);
    s.clock = &concurrent;
    ck_assert_int_eq(arbiter_decide(a, 2, NULL, &s), ARB_CAUSALITY);
    s.clock = &equal;
    ck_assert_int_eq(arbiter_decide(a, 2, NULL, &s), ARB_ACCEPT);
    s.clock = &after;
    ck_assert_int_eq(arbiter_decide(a, 2, NULL, &s), ARB_ACCEPT);
}
END_TEST

START_TEST(test_no_clock_skips_check)
{
    vclock assign, old;
    arb_attempt a[2];
    arb_submission s;

    vclock_init(&assign);
    vclock_set(&assign, "downtown", 5);
    vclock_init(&old);
    vclock_set(&old, "downtown", 1);
    two_attempts(a, &assign, &assign);
    s = sub_of("LAFD-9", 2, 1, NULL);
    ck_assert_int_eq(arbiter_decide(a, 2, NULL, &s), ARB_ACCEPT);
    /* No assignment clock recorded: nothing to compare against either. */
    two_attempts(a, NULL, NULL);
    s.clock = &old;
    ck_assert_int_eq(arbiter_decide(a, 2, NULL, &s), ARB_ACCEPT);
}
END_TEST

START_TEST(test_retry_wins_over_causality)
{
    vclock assign, stale;
    arb_attempt a[2];
    arb_submission first, again;

    vclock_init(&assign);
    vclock_set(&assign, "downtown", 5);
    vclock_init(&stale);
    vclock_set(&stale, "downtown", 1);
    two_attempts(a, &assign, &assign);
    first = sub_of("LAFD-9", 2, 7, NULL);
    again = sub_of("LAFD-9", 2, 7, &stale);
    ck_assert_int_eq(arbiter_decide(a, 2, &first.r, &again), ARB_RETRY);
}
END_TEST

START_TEST(test_revoked_can_win)
{
    arb_attempt a[2];
    arb_submission late_crew = sub_of("LAFD-2", 1, 333, NULL);

    two_attempts(a, NULL, NULL);
    ck_assert_int_eq(a[0].state, ATT_REVOKED);
    ck_assert_int_eq(arbiter_decide(a, 2, NULL, &late_crew), ARB_ACCEPT);
}
END_TEST

START_TEST(test_verdict_str)
{
    ck_assert_str_eq(arb_verdict_str(ARB_ACCEPT), "accept");
    ck_assert_str_eq(arb_verdict_str(ARB_RETRY), "retry");
    ck_assert_str_eq(arb_verdict_str(ARB_REJECT), "reject");
    ck_assert_str_eq(arb_verdict_str(ARB_FORBIDDEN), "forbidden");
    ck_assert_str_eq(arb_verdict_str(ARB_BAD_ATTEMPT), "bad_attempt");
    ck_assert_str_eq(arb_verdict_str(ARB_CAUSALITY), "causality");
    ck_assert_ptr_nonnull(arb_verdict_str((arb_verdict)42));
}
END_TEST

START_TEST(test_table_flow)
{
    arbiter_t *a = arbiter_new();
    arb_submission s;
    arb_result w;

    ck_assert_ptr_nonnull(a);
    ck_assert_int_eq(arbiter_add_attempt(a, "fire-C", "LAFD-2", 1, NULL), COORD_OK);
    ck_assert_int_eq(arbiter_add_attempt(a, "fire-C", "LAFD-9", 2, NULL), COORD_OK);

    /* LAFD-2 was revoked in the story, but reports first: it wins. */
    s = sub_of("LAFD-2", 1, 0xc0ffee, NULL);
    memset(&w, 0, sizeof(w));
    ck_assert_int_eq(arbiter_submit(a, "fire-C", &s, &w), ARB_ACCEPT);
    ck_assert_str_eq(w.unit_id, "LAFD-2");
    ck_assert_uint_eq(w.digest, 0xc0ffee);

    s = sub_of("LAFD-9", 2, 0xbeef, NULL);
    memset(&w, 0, sizeof(w));
    ck_assert_int_eq(arbiter_submit(a, "fire-C", &s, &w), ARB_REJECT);
    ck_assert_str_eq(w.unit_id, "LAFD-2");
    ck_assert_uint_eq(w.attempt, 1);

    s = sub_of("LAFD-2", 1, 0xc0ffee, NULL);
    ck_assert_int_eq(arbiter_submit(a, "fire-C", &s, NULL), ARB_RETRY);

    s = sub_of("EMS-3", 1, 0xc0ffee, NULL);
    memset(&w, 0x5a, sizeof(w));
    ck_assert_int_eq(arbiter_submit(a, "fire-C", &s, &w), ARB_FORBIDDEN);
    ck_assert_uint_eq((unsigned char)w.unit_id[0], 0x5a); /* untouched */

    ck_assert_int_eq(arbiter_submit(a, "no-such-job", &s, &w), COORD_E_NOTFOUND);
    arbiter_free(a);
}
END_TEST

START_TEST(test_table_bad_args)
{
    arbiter_t *a = arbiter_new();
    arb_submission s = sub_of("u1", 1, 1, NULL);

    ck_assert_int_eq(arbiter_add_attempt(a, "bad id", "u1", 1, NULL), COORD_E_INVAL);
    ck_assert_int_eq(arbiter_add_attempt(a, "j", "", 1, NULL), COORD_E_INVAL);
    ck_assert_int_eq(arbiter_add_attempt(a, "j", "u1", 0, NULL), COORD_E_INVAL);
    ck_assert_int_eq(arbiter_add_attempt(NULL, "j", "u1", 1, NULL), COORD_E_INVAL);
    ck_assert_int_eq(arbiter_add_attempt(a, "j", "u1", 1, NULL), COORD_OK);
    ck_assert_int_eq(arbiter_add_attempt(a, "j", "u2", 1, NULL), COORD_E_EXISTS);
    ck_assert_int_eq(arbiter_submit(a, "j", NULL, NULL), COORD_E_INVAL);
    ck_assert_int_eq(arbiter_submit(NULL, "j", &s, NULL), COORD_E_INVAL);
    s.r.unit_id[0] = '\0';
    ck_assert_int_eq(arbiter_submit(a, "j", &s, NULL), COORD_E_INVAL);
    arbiter_free(a);
    arbiter_free(NULL);
}
END_TEST

START_TEST(test_table_copies_clock)
{
    arbiter_t *a = arbiter_new();
    vclock assign, report;
    arb_submission s;

    vclock_init(&assign);
    vclock_set(&assign, "downtown", 3);
    ck_assert_int_eq(arbiter_add_attempt(a, "j", "u1", 1, &assign), COORD_OK);
    /* Later changes to the caller's clock must not move the stored one. */
    vclock_set(&assign, "downtown", 100);
    vclock_init(&report);
    vclock_set(&report, "downtown", 3);
    vclock_set(&report, "u1", 1);
    s = sub_of("u1", 1, 9, &report);
    ck_assert_int_eq(arbiter_submit(a, "j", &s, NULL), ARB_ACCEPT);
    arbiter_free(a);
}
END_TEST

START_TEST(test_table_causality_then_accept)
{
    arbiter_t *a = arbiter_new();
    vclock assign, stale;
    arb_submission s;

    vclock_init(&assign);
    vclock_set(&assign, "downtown", 3);
    vclock_init(&stale);
    vclock_set(&stale, "downtown", 2);
    arbiter_add_attempt(a, "j", "u1", 1, &assign);
    s = sub_of("u1", 1, 9, &stale);
    ck_assert_int_eq(arbiter_submit(a, "j", &s, NULL), ARB_CAUSALITY);
    /* A refused submission records nothing, so a proper one still wins. */
    s.clock = &assign;
    ck_assert_int_eq(arbiter_submit(a, "j", &s, NULL), ARB_ACCEPT);
    arbiter_free(a);
}
END_TEST

START_TEST(test_table_many_attempts)
{
    arbiter_t *a = arbiter_new();
    char unit[16];
    vclock clk;

    vclock_init(&clk);
    vclock_set(&clk, "b", 1);
    /* Enough attempts to grow the internal arrays several times. */
    for (uint32_t i = 1; i <= 100; i++) {
        snprintf(unit, sizeof(unit), "u%u", (unsigned)(i % 7));
        vclock_set(&clk, "b", i);
        ck_assert_int_eq(arbiter_add_attempt(a, "j", unit, i, &clk), COORD_OK);
    }
    /* u3 held attempt 10; its stored clock says b=10. */
    vclock_set(&clk, "b", 10);
    arb_submission s = sub_of("u3", 10, 1, &clk);
    ck_assert_int_eq(arbiter_submit(a, "j", &s, NULL), ARB_ACCEPT);
    arbiter_free(a);
}
END_TEST

/* ---- contention ---- */

#define RACE_THREADS 32
#define RACE_ROUNDS  200

typedef struct race {
    arbiter_t *arb;
    pthread_barrier_t start, done;
    char job[32];
    int verdict[RACE_THREADS];
    arb_result winner[RACE_THREADS];
} race;

typedef struct racer {
    race *r;
    int idx;
} racer;

static void *racer_main(void *p)
{
    racer *me = p;
    race *r = me->r;

    for (int round = 0; round < RACE_ROUNDS; round++) {
        char unit[16];
        arb_submission s;

        pthread_barrier_wait(&r->start);
        snprintf(unit, sizeof(unit), "unit-%d", me->idx);
        s = sub_of(unit, (uint32_t)me->idx + 1, (uint64_t)(round * 1000 + me->idx), NULL);
        r->verdict[me->idx] = arbiter_submit(r->arb, r->job, &s, &r->winner[me->idx]);
        pthread_barrier_wait(&r->done);
    }
    return NULL;
}

START_TEST(test_race_single_winner)
{
    static race r;
    racer who[RACE_THREADS];
    pthread_t th[RACE_THREADS];

    memset(&r, 0, sizeof(r));
    r.arb = arbiter_new();
    ck_assert_ptr_nonnull(r.arb);
    pthread_barrier_init(&r.start, NULL, RACE_THREADS + 1);
    pthread_barrier_init(&r.done, NULL, RACE_THREADS + 1);
    for (int i = 0; i < RACE_THREADS; i++) {
        who[i].r = &r;
        who[i].idx = i;
        ck_assert_int_eq(pthread_create(&th[i], NULL, racer_main, &who[i]), 0);
    }
    for (int round = 0; round < RACE_ROUNDS; round++) {
        int accepts = 0, rejects = 0, w = -1;

        /* Racers only read job between the barriers, so this is safe. */
        snprintf(r.job, sizeof(r.job), "job-%d", round);
        for (int i = 0; i < RACE_THREADS; i++) {
            char unit[16];

            snprintf(unit, sizeof(unit), "unit-%d", i);
            ck_assert_int_eq(arbiter_add_attempt(r.arb, r.job, unit, (uint32_t)i + 1, NULL),
                             COORD_OK);
        }
        pthread_barrier_wait(&r.start);
        pthread_barrier_wait(&r.done);
        for (int i = 0; i < RACE_THREADS; i++) {
            if (r.verdict[i] == ARB_ACCEPT) {
                accepts++;
                w = i;
            } else if (r.verdict[i] == ARB_REJECT) {
                rejects++;
            }
        }
        ck_assert_int_eq(accepts, 1);
        ck_assert_int_eq(rejects, RACE_THREADS - 1);
        /* Everyone was told the same winner. */
        for (int i = 0; i < RACE_THREADS; i++) {
            ck_assert_str_eq(r.winner[i].unit_id, r.winner[w].unit_id);
            ck_assert_uint_eq(r.winner[i].attempt, (uint32_t)w + 1);
            ck_assert_uint_eq(r.winner[i].digest, r.winner[w].digest);
        }
    }
    for (int i = 0; i < RACE_THREADS; i++)
        pthread_join(th[i], NULL);
    pthread_barrier_destroy(&r.start);
    pthread_barrier_destroy(&r.done);
    arbiter_free(r.arb);
}
END_TEST

/* arb_attempt_init fills what arbiter_decide reads, and cuts a too long id
 * at the id cap instead of overrunning. */
START_TEST(test_attempt_init)
{
    static vclock assign;
    arb_attempt a;
    char long_id[100];
    arb_submission sub = {0};

    vclock_init(&assign);
    vclock_set(&assign, "Downtown", 4);
    arb_attempt_init(&a, "LAFD-1", 2, ATT_REVOKED, &assign);
    ck_assert_str_eq(a.unit_id, "LAFD-1");
    ck_assert_uint_eq(a.attempt, 2);
    ck_assert_int_eq(a.state, ATT_REVOKED);
    ck_assert_ptr_eq(a.assign_clock, &assign);
    snprintf(sub.r.unit_id, sizeof(sub.r.unit_id), "LAFD-1");
    sub.r.attempt = 2;
    ck_assert_int_eq(arbiter_decide(&a, 1, NULL, &sub), ARB_ACCEPT); /* revoked may win */
    memset(long_id, 'x', sizeof(long_id) - 1);
    long_id[sizeof(long_id) - 1] = '\0';
    arb_attempt_init(&a, long_id, 1, ATT_ACTIVE, NULL);
    ck_assert_uint_eq(strlen(a.unit_id), COORD_ID_MAX);
    ck_assert_ptr_null(a.assign_clock);
    arb_attempt_init(&a, NULL, 1, ATT_ACTIVE, NULL);
    ck_assert_str_eq(a.unit_id, "");
}
END_TEST

Suite *unit_suite(void)
{
    Suite *s = suite_create("arbiter");
    TCase *rule = unit_tcase("decide");
    TCase *table = unit_tcase("table");
    TCase *race_tc = unit_tcase("contention");

    tcase_add_test(rule, test_accept_first);
    tcase_add_test(rule, test_attempt_init);
    tcase_add_test(rule, test_reject_later);
    tcase_add_test(rule, test_exact_retry);
    tcase_add_test(rule, test_same_unit_attempt_other_content);
    tcase_add_test(rule, test_stranger_forbidden);
    tcase_add_test(rule, test_wrong_attempt);
    tcase_add_test(rule, test_bad_attempt_after_winner_is_reject);
    tcase_add_test(rule, test_causality);
    tcase_add_test(rule, test_no_clock_skips_check);
    tcase_add_test(rule, test_retry_wins_over_causality);
    tcase_add_test(rule, test_revoked_can_win);
    tcase_add_test(rule, test_verdict_str);
    suite_add_tcase(s, rule);

    tcase_add_test(table, test_table_flow);
    tcase_add_test(table, test_table_bad_args);
    tcase_add_test(table, test_table_copies_clock);
    tcase_add_test(table, test_table_causality_then_accept);
    tcase_add_test(table, test_table_many_attempts);
    suite_add_tcase(s, table);

    tcase_add_test(race_tc, test_race_single_winner);
    suite_add_tcase(s, race_tc);
    return s;
}
