/* Check suite of the terminal's assignment state machine (libcoord/
 * assignment.c): names, every transition pair, admission of offered
 * attempts, revocation by attempt and the kept-win rule for decisions. */
#include <string.h>

#include "coord.h"
#include "unit.h"

START_TEST(test_names_round_trip)
{
    const char *names[] = {"active", "revoked", "reported"};

    for (int i = 0; i < ASG_NSTATES; i++) {
        asg_state s = ASG_REPORTED;

        ck_assert_str_eq(asg_state_str((asg_state)i), names[i]);
        ck_assert_int_eq(asg_state_parse(names[i], &s), COORD_OK);
        ck_assert_int_eq(s, i);
    }
    ck_assert_int_eq(ASG_ACTIVE, 0); /* a zeroed holding is a new, active one */
    ck_assert_str_eq(asg_state_str((asg_state)7), "unknown");
    ck_assert_str_eq(asg_state_str((asg_state)-1), "unknown");
}
END_TEST

START_TEST(test_unknown_names_refused)
{
    const char *junk[] = {"", "Active", "ACTIVE", " active", "revoke", "finished", "pending"};
    asg_state s = ASG_REVOKED;

    for (size_t i = 0; i < sizeof(junk) / sizeof(junk[0]); i++) {
        ck_assert_int_eq(asg_state_parse(junk[i], &s), COORD_E_INVAL);
        ck_assert_int_eq(s, ASG_REVOKED); /* untouched */
    }
    ck_assert_int_eq(asg_state_parse(NULL, &s), COORD_E_INVAL);
    ck_assert_int_eq(asg_state_parse("active", NULL), COORD_E_INVAL);
}
END_TEST

START_TEST(test_every_pair)
{
    /* legal[from][to]: the whole table, so a new edge cannot slip in. */
    const bool legal[ASG_NSTATES][ASG_NSTATES] = {
        [ASG_ACTIVE] = {false, true, true},
        [ASG_REVOKED] = {false, false, true},
        [ASG_REPORTED] = {false, false, true},
    };

    for (int f = 0; f < ASG_NSTATES; f++) {
        for (int t = 0; t < ASG_NSTATES; t++) {
            asg_state s = (asg_state)f;
            int want = legal[f][t] ? COORD_OK : COORD_E_TRANSITION;

            ck_assert_int_eq(asg_transition_check((asg_state)f, (asg_state)t), want);
            ck_assert_int_eq(asg_transition(&s, (asg_state)t), want);
            ck_assert_int_eq(s, legal[f][t] ? t : f); /* refused: untouched */
        }
    }
    ck_assert_int_eq(asg_transition_check((asg_state)3, ASG_ACTIVE), COORD_E_TRANSITION);
    ck_assert_int_eq(asg_transition_check(ASG_ACTIVE, (asg_state)-1), COORD_E_TRANSITION);
    ck_assert_int_eq(asg_transition(NULL, ASG_REVOKED), COORD_E_TRANSITION);
}
END_TEST

START_TEST(test_admit)
{
    /* Nothing held. */
    ck_assert_int_eq(asg_admit(0, ASG_ACTIVE, 1, 0, 1), ASG_ADMIT_NEW);
    ck_assert_int_eq(asg_admit(0, ASG_ACTIVE, 1, 1, 1), ASG_ADMIT_FULL);
    ck_assert_int_eq(asg_admit(0, ASG_ACTIVE, 1, 2, 3), ASG_ADMIT_NEW);
    ck_assert_int_eq(asg_admit(0, ASG_ACTIVE, 1, 3, 3), ASG_ADMIT_FULL);
    /* The same attempt again is idempotent, whatever its state or the load. */
    ck_assert_int_eq(asg_admit(2, ASG_ACTIVE, 2, 1, 1), ASG_ADMIT_HELD);
    ck_assert_int_eq(asg_admit(2, ASG_REVOKED, 2, 5, 1), ASG_ADMIT_HELD);
    ck_assert_int_eq(asg_admit(2, ASG_REPORTED, 2, 0, 1), ASG_ADMIT_HELD);
    /* An older attempt is stale, even with room. */
    ck_assert_int_eq(asg_admit(3, ASG_ACTIVE, 2, 0, 8), ASG_ADMIT_STALE);
    ck_assert_int_eq(asg_admit(3, ASG_REVOKED, 1, 0, 8), ASG_ADMIT_STALE);
    /* A newer attempt takes the slot of the active one it replaces... */
    ck_assert_int_eq(asg_admit(1, ASG_ACTIVE, 2, 1, 1), ASG_ADMIT_NEW);
    ck_assert_int_eq(asg_admit(1, ASG_ACTIVE, 5, 3, 3), ASG_ADMIT_NEW);
    /* ...but a revoked or reported one held no slot. */
    ck_assert_int_eq(asg_admit(1, ASG_REVOKED, 2, 1, 1), ASG_ADMIT_FULL);
    ck_assert_int_eq(asg_admit(1, ASG_REPORTED, 2, 1, 1), ASG_ADMIT_FULL);
    ck_assert_int_eq(asg_admit(1, ASG_REVOKED, 2, 0, 1), ASG_ADMIT_NEW);
}
END_TEST

START_TEST(test_revoke_by_attempt)
{
    asg_state s = ASG_ACTIVE;

    /* An older attempt's revocation leaves the newer holding alone. */
    ck_assert_int_eq(asg_revoke(&s, 2, 1), COORD_E_ATTEMPT);
    ck_assert_int_eq(s, ASG_ACTIVE);
    ck_assert_int_eq(asg_revoke(&s, 2, 2), COORD_OK);
    ck_assert_int_eq(s, ASG_REVOKED);
    /* Revoking twice is not a move; it stays revoked. */
    ck_assert_int_eq(asg_revoke(&s, 2, 2), COORD_E_TRANSITION);
    ck_assert_int_eq(s, ASG_REVOKED);
    s = ASG_ACTIVE;
    ck_assert_int_eq(asg_revoke(&s, 3, 9), COORD_OK); /* newer revokes: "up to 9" */
    s = ASG_ACTIVE;
    ck_assert_int_eq(asg_revoke(&s, 4, 0), COORD_OK); /* 0: whichever is held */
    s = ASG_REPORTED;
    ck_assert_int_eq(asg_revoke(&s, 1, 0), COORD_E_TRANSITION); /* decided: kept */
    ck_assert_int_eq(s, ASG_REPORTED);
    ck_assert_int_eq(asg_revoke(NULL, 1, 0), COORD_E_TRANSITION);
}
END_TEST

START_TEST(test_report_keeps_a_win)
{
    asg_state s = ASG_ACTIVE;

    ck_assert_int_eq(asg_report(&s, false, false), COORD_OK); /* rejected: still decided */
    ck_assert_int_eq(s, ASG_REPORTED);
    ck_assert_int_eq(asg_report(&s, false, true), COORD_OK); /* a retry that won */
    ck_assert_int_eq(asg_report(&s, true, true), COORD_OK);  /* the winner's retry */
    ck_assert_int_eq(asg_report(&s, true, false), COORD_E_DUPLICATE);
    ck_assert_int_eq(s, ASG_REPORTED);
    s = ASG_REVOKED; /* the revoked crew's report */
    ck_assert_int_eq(asg_report(&s, false, true), COORD_OK);
    ck_assert_int_eq(s, ASG_REPORTED);
    s = ASG_REVOKED;
    ck_assert_int_eq(asg_report(&s, true, false), COORD_E_DUPLICATE);
    ck_assert_int_eq(s, ASG_REVOKED);
}
END_TEST

/* Random walks through the public moves never reach a state the table
 * forbids: once revoked, never active; once reported, always reported. */
START_TEST(test_random_walks)
{
    uint64_t seed = 0x5eed8;

    for (int walk = 0; walk < 2000; walk++) {
        asg_state s = ASG_ACTIVE;
        bool left_active = false, reported = false;

        for (int step = 0; step < 12; step++) {
            asg_state before = s;
            int rc;

            switch (unit_below(&seed, 3)) {
            case 0:
                rc = asg_revoke(&s, (int64_t)unit_below(&seed, 4) + 1,
                                (int64_t)unit_below(&seed, 5));
                break;
            case 1:
                rc = asg_report(&s, unit_below(&seed, 2), unit_below(&seed, 2));
                break;
            default:
                rc = asg_transition(&s, (asg_state)unit_below(&seed, ASG_NSTATES));
                break;
            }
            if (rc != COORD_OK)
                ck_assert_int_eq(s, before);
            else
                ck_assert_int_eq(asg_transition_check(before, s), COORD_OK);
            left_active = left_active || s != ASG_ACTIVE;
            reported = reported || s == ASG_REPORTED;
            ck_assert(!(left_active && s == ASG_ACTIVE));
            ck_assert(!(reported && s != ASG_REPORTED));
        }
    }
}
END_TEST

Suite *unit_suite(void)
{
    Suite *s = suite_create("assignment");
    TCase *names = unit_tcase("names");
    TCase *sm = unit_tcase("state_machine");

    tcase_add_test(names, test_names_round_trip);
    tcase_add_test(names, test_unknown_names_refused);
    suite_add_tcase(s, names);

    tcase_add_test(sm, test_every_pair);
    tcase_add_test(sm, test_admit);
    tcase_add_test(sm, test_revoke_by_attempt);
    tcase_add_test(sm, test_report_keeps_a_win);
    tcase_add_test(sm, test_random_walks);
    suite_add_tcase(s, sm);
    return s;
}
