#include <string.h>

#include "coord.h"
#include "unit.h"

/* Strings that look almost right must still be refused. */
static const char *const junk[] = {"",     "LOW",     "Low",    " low",   "low ",           "lo",
                                   "lowx", "unknown", "QUEUED", "Active", "out-of-service", "null"};
#define NJUNK (sizeof(junk) / sizeof(junk[0]))

START_TEST(test_severity_round_trip)
{
    const char *names[] = {"low", "medium", "high", "critical"};

    for (int i = SEV_LOW; i <= SEV_CRITICAL; i++) {
        severity v = SEV_LOW;

        ck_assert_str_eq(severity_str((severity)i), names[i]);
        ck_assert_int_eq(severity_parse(names[i], &v), COORD_OK);
        ck_assert_int_eq(v, i);
    }
    ck_assert(SEV_CRITICAL > SEV_HIGH && SEV_HIGH > SEV_MEDIUM && SEV_MEDIUM > SEV_LOW);
}
END_TEST

START_TEST(test_job_status_round_trip)
{
    const char *names[] = {"queued", "assigned", "completed", "cancelled"};

    for (int i = JOB_QUEUED; i <= JOB_CANCELLED; i++) {
        job_status v = JOB_QUEUED;

        ck_assert_str_eq(job_status_str((job_status)i), names[i]);
        ck_assert_int_eq(job_status_parse(names[i], &v), COORD_OK);
        ck_assert_int_eq(v, i);
    }
}
END_TEST

START_TEST(test_attempt_state_round_trip)
{
    const char *names[] = {"pending", "active", "revoked", "finished"};

    for (int i = ATT_PENDING; i <= ATT_FINISHED; i++) {
        attempt_state v = ATT_PENDING;

        ck_assert_str_eq(attempt_state_str((attempt_state)i), names[i]);
        ck_assert_int_eq(attempt_state_parse(names[i], &v), COORD_OK);
        ck_assert_int_eq(v, i);
    }
}
END_TEST

START_TEST(test_unit_status_round_trip)
{
    const char *names[] = {"available", "busy", "lost", "out_of_service"};

    for (int i = UNIT_AVAILABLE; i <= UNIT_OUT_OF_SERVICE; i++) {
        unit_status v = UNIT_AVAILABLE;

        ck_assert_str_eq(unit_status_str((unit_status)i), names[i]);
        ck_assert_int_eq(unit_status_parse(names[i], &v), COORD_OK);
        ck_assert_int_eq(v, i);
    }
}
END_TEST

START_TEST(test_unknown_strings_refused)
{
    severity sv = SEV_HIGH;
    job_status js = JOB_COMPLETED;
    attempt_state as = ATT_REVOKED;
    unit_status us = UNIT_LOST;

    for (size_t i = 0; i < NJUNK; i++) {
        ck_assert_int_eq(severity_parse(junk[i], &sv), COORD_E_INVAL);
        ck_assert_int_eq(job_status_parse(junk[i], &js), COORD_E_INVAL);
        ck_assert_int_eq(attempt_state_parse(junk[i], &as), COORD_E_INVAL);
        ck_assert_int_eq(unit_status_parse(junk[i], &us), COORD_E_INVAL);
    }
    ck_assert_int_eq(severity_parse(NULL, &sv), COORD_E_INVAL);
    ck_assert_int_eq(job_status_parse(NULL, &js), COORD_E_INVAL);
    ck_assert_int_eq(attempt_state_parse(NULL, &as), COORD_E_INVAL);
    ck_assert_int_eq(unit_status_parse(NULL, &us), COORD_E_INVAL);
    ck_assert_int_eq(severity_parse("low", NULL), COORD_E_INVAL);
    /* Outputs untouched on failure. */
    ck_assert_int_eq(sv, SEV_HIGH);
    ck_assert_int_eq(js, JOB_COMPLETED);
    ck_assert_int_eq(as, ATT_REVOKED);
    ck_assert_int_eq(us, UNIT_LOST);
}
END_TEST

START_TEST(test_out_of_range_enum_str)
{
    ck_assert_ptr_nonnull(severity_str((severity)17));
    ck_assert_ptr_nonnull(job_status_str((job_status)-1));
    ck_assert_ptr_nonnull(attempt_state_str((attempt_state)4));
    ck_assert_ptr_nonnull(unit_status_str((unit_status)99));
}
END_TEST

START_TEST(test_job_transitions)
{
    /* legal[from][to], written out from the diagram in types.h. */
    static const int legal[4][4] = {
        [JOB_QUEUED] = {[JOB_ASSIGNED] = 1, [JOB_CANCELLED] = 1, [JOB_COMPLETED] = 1},
        [JOB_ASSIGNED] =
            {[JOB_QUEUED] = 1, [JOB_ASSIGNED] = 1, [JOB_COMPLETED] = 1, [JOB_CANCELLED] = 1},
    };

    for (int f = 0; f < 4; f++) {
        for (int t = 0; t < 4; t++) {
            int want = legal[f][t] ? COORD_OK : COORD_E_TRANSITION;

            ck_assert_msg(job_transition((job_status)f, (job_status)t) == want, "job %s -> %s",
                          job_status_str((job_status)f), job_status_str((job_status)t));
        }
    }
}
END_TEST

START_TEST(test_job_final_states)
{
    for (int t = 0; t < 4; t++) {
        ck_assert_int_eq(job_transition(JOB_COMPLETED, (job_status)t), COORD_E_TRANSITION);
        ck_assert_int_eq(job_transition(JOB_CANCELLED, (job_status)t), COORD_E_TRANSITION);
    }
    ck_assert_int_eq(job_transition((job_status)9, JOB_QUEUED), COORD_E_TRANSITION);
    ck_assert_int_eq(job_transition(JOB_QUEUED, (job_status)9), COORD_E_TRANSITION);
}
END_TEST

START_TEST(test_attempt_transitions)
{
    static const int legal[4][4] = {
        [ATT_PENDING] = {[ATT_ACTIVE] = 1, [ATT_REVOKED] = 1},
        [ATT_ACTIVE] = {[ATT_REVOKED] = 1, [ATT_FINISHED] = 1},
        [ATT_REVOKED] = {[ATT_FINISHED] = 1},
    };

    for (int f = 0; f < 4; f++) {
        for (int t = 0; t < 4; t++) {
            int want = legal[f][t] ? COORD_OK : COORD_E_TRANSITION;

            ck_assert_msg(attempt_transition((attempt_state)f, (attempt_state)t) == want,
                          "attempt %s -> %s", attempt_state_str((attempt_state)f),
                          attempt_state_str((attempt_state)t));
        }
    }
    ck_assert_int_eq(attempt_transition((attempt_state)-3, ATT_ACTIVE), COORD_E_TRANSITION);
}
END_TEST

START_TEST(test_unit_transitions)
{
    for (int f = 0; f < 4; f++)
        for (int t = 0; t < 4; t++)
            ck_assert_int_eq(unit_transition((unit_status)f, (unit_status)t), COORD_OK);
    ck_assert_int_eq(unit_transition(UNIT_LOST, (unit_status)4), COORD_E_TRANSITION);
    ck_assert_int_eq(unit_transition((unit_status)4, UNIT_LOST), COORD_E_TRANSITION);
}
END_TEST

/* The setters assign exactly when the table allows, and never otherwise. */
START_TEST(test_setters_follow_the_tables)
{
    for (int f = 0; f < 4; f++) {
        for (int t = 0; t < 4; t++) {
            job_status js = (job_status)f;
            attempt_state as = (attempt_state)f;
            int jr = job_set_status(&js, (job_status)t);
            int ar = attempt_set_state(&as, (attempt_state)t);

            ck_assert_int_eq(jr, job_transition((job_status)f, (job_status)t));
            ck_assert_int_eq(js, jr == COORD_OK ? t : f);
            ck_assert_int_eq(ar, attempt_transition((attempt_state)f, (attempt_state)t));
            ck_assert_int_eq(as, ar == COORD_OK ? t : f);
        }
    }
    ck_assert_int_eq(job_set_status(NULL, JOB_QUEUED), COORD_E_TRANSITION);
    ck_assert_int_eq(attempt_set_state(NULL, ATT_ACTIVE), COORD_E_TRANSITION);
}
END_TEST

START_TEST(test_unit_cond_machine)
{
    /* legal[from][to], from the diagram in types.h. */
    static const int legal[4][4] = {
        [UNIT_COND_SERVING] = {[UNIT_COND_SERVING] = 1, [UNIT_COND_LOST] = 1, [UNIT_COND_OFF] = 1},
        [UNIT_COND_LOST] = {[UNIT_COND_SERVING] = 1, [UNIT_COND_OFF] = 1},
        [UNIT_COND_OFF] = {[UNIT_COND_SERVING] = 1, [UNIT_COND_OFF] = 1, [UNIT_COND_OFF_LOST] = 1},
        [UNIT_COND_OFF_LOST] = {[UNIT_COND_SERVING] = 1, [UNIT_COND_OFF] = 1},
    };

    for (int f = 0; f < 4; f++) {
        for (int t = 0; t < 4; t++) {
            unit_cond c = (unit_cond)f;
            int rc = unit_set_cond(&c, (unit_cond)t);

            ck_assert_msg((rc == COORD_OK) == legal[f][t], "cond %d -> %d", f, t);
            ck_assert_int_eq(c, rc == COORD_OK ? t : f);
        }
        /* What the broker asks for is always legal from where it can be. */
        unit_cond c = (unit_cond)f;
        if (!unit_cond_lost(c)) {
            ck_assert_int_eq(unit_set_cond(&c, unit_cond_silent(c)), COORD_OK);
            ck_assert(unit_cond_lost(c));
            ck_assert_int_eq(unit_cond_off(c), f == UNIT_COND_OFF);
        } else {
            ck_assert_int_eq(unit_set_cond(&c, unit_cond_heard(c)), COORD_OK);
            ck_assert(!unit_cond_lost(c));
            ck_assert_int_eq(unit_cond_off(c), f == UNIT_COND_OFF_LOST);
        }
        for (int keep = 0; keep < 2; keep++) {
            for (int off = 0; off < 2; off++) {
                unit_cond r = (unit_cond)f;
                unit_cond to = unit_cond_registered(r, keep, off);
                ck_assert_int_eq(unit_set_cond(&r, to), COORD_OK);
                ck_assert(!unit_cond_lost(r));
                ck_assert_int_eq(unit_cond_off(r), keep ? unit_cond_off((unit_cond)f) : off);
            }
        }
    }
    unit_cond bad = (unit_cond)7;
    ck_assert_int_eq(unit_set_cond(&bad, UNIT_COND_SERVING), COORD_E_TRANSITION);
    ck_assert_int_eq(unit_set_cond(NULL, UNIT_COND_SERVING), COORD_E_TRANSITION);
}
END_TEST

START_TEST(test_unit_status_of)
{
    ck_assert_int_eq(unit_status_of(UNIT_COND_SERVING, 0, 1), UNIT_AVAILABLE);
    ck_assert_int_eq(unit_status_of(UNIT_COND_SERVING, 1, 2), UNIT_AVAILABLE);
    ck_assert_int_eq(unit_status_of(UNIT_COND_SERVING, 2, 2), UNIT_BUSY);
    ck_assert_int_eq(unit_status_of(UNIT_COND_LOST, 0, 1), UNIT_LOST);
    ck_assert_int_eq(unit_status_of(UNIT_COND_LOST, 1, 1), UNIT_LOST);
    ck_assert_int_eq(unit_status_of(UNIT_COND_OFF, 0, 1), UNIT_OUT_OF_SERVICE);
    ck_assert_int_eq(unit_status_of(UNIT_COND_OFF_LOST, 0, 1), UNIT_OUT_OF_SERVICE);
}
END_TEST

START_TEST(test_from_int_checked)
{
    severity sv = SEV_HIGH;
    job_status js = JOB_ASSIGNED;
    attempt_state as = ATT_REVOKED;

    for (int v = -2; v < 7; v++) {
        bool known = v >= 0 && v < 4;
        ck_assert_int_eq(severity_from_int(v, &sv) == COORD_OK, known);
        ck_assert_int_eq(job_status_from_int(v, &js) == COORD_OK, known);
        ck_assert_int_eq(attempt_state_from_int(v, &as) == COORD_OK, known);
        if (known) {
            ck_assert_int_eq(sv, v);
            ck_assert_int_eq(js, v);
            ck_assert_int_eq(as, v);
        }
    }
    /* The last known value stays after the refusals of 4, 5, 6. */
    ck_assert_int_eq(sv, 3);
    ck_assert_int_eq(severity_from_int(1, NULL), COORD_E_INVAL);
}
END_TEST

START_TEST(test_strerror_names)
{
    ck_assert_str_eq(coord_strerror(COORD_OK), "ok");
    ck_assert_str_eq(coord_strerror(COORD_E_INVAL), "invalid");
    ck_assert_str_eq(coord_strerror(COORD_E_RANGE), "out_of_range");
    ck_assert_str_eq(coord_strerror(COORD_E_NOMEM), "out_of_memory");
    ck_assert_str_eq(coord_strerror(COORD_E_TRANSITION), "illegal_transition");
    ck_assert_str_eq(coord_strerror(COORD_E_FORBIDDEN), "forbidden");
    ck_assert_str_eq(coord_strerror(COORD_E_DUPLICATE), "duplicate");
    ck_assert_str_eq(coord_strerror(COORD_E_CAUSALITY), "causality_violation");
    ck_assert_str_eq(coord_strerror(COORD_E_NOTFOUND), "not_found");
    ck_assert_str_eq(coord_strerror(COORD_E_EXISTS), "exists");
    ck_assert_str_eq(coord_strerror(COORD_E_ATTEMPT), "bad_attempt");
    ck_assert_ptr_nonnull(coord_strerror(-999));
    ck_assert_ptr_nonnull(coord_strerror(5));
}
END_TEST

Suite *unit_suite(void)
{
    Suite *s = suite_create("types");
    TCase *names = unit_tcase("names");
    TCase *sm = unit_tcase("state_machines");

    tcase_add_test(names, test_severity_round_trip);
    tcase_add_test(names, test_job_status_round_trip);
    tcase_add_test(names, test_attempt_state_round_trip);
    tcase_add_test(names, test_unit_status_round_trip);
    tcase_add_test(names, test_unknown_strings_refused);
    tcase_add_test(names, test_out_of_range_enum_str);
    tcase_add_test(names, test_strerror_names);
    suite_add_tcase(s, names);

    tcase_add_test(sm, test_job_transitions);
    tcase_add_test(sm, test_job_final_states);
    tcase_add_test(sm, test_attempt_transitions);
    tcase_add_test(sm, test_unit_transitions);
    tcase_add_test(sm, test_setters_follow_the_tables);
    tcase_add_test(sm, test_unit_cond_machine);
    tcase_add_test(sm, test_unit_status_of);
    tcase_add_test(names, test_from_int_checked);
    suite_add_tcase(s, sm);
    return s;
}
