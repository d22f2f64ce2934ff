/* Compact clocks: pack and unpack are exact inverses, and many clocks
 * share their node names. */
#include <stdio.h>
#include <string.h>

#include "coord.h"
#include "unit.h"

START_TEST(test_round_trip_property)
{
    static vclock vc, back;
    strtab *t = strtab_new();
    uint64_t rng = 2024;
    char name[32];

    for (int round = 0; round < 3000; round++) {
        cclock c = {0};

        vclock_init(&vc);
        for (unsigned i = 0, n = (unsigned)unit_below(&rng, VCLOCK_MAX_ENTRIES + 1); i < n; i++) {
            snprintf(name, sizeof(name), "node-%02u", (unsigned)unit_below(&rng, 80));
            (void)vclock_set(&vc, name, 1 + unit_below(&rng, VCLOCK_COUNTER_MAX));
        }
        ck_assert_int_eq(cclock_pack(&c, t, &vc), COORD_OK);
        ck_assert_uint_eq(c.n, vc.n);
        cclock_unpack(&c, &back);
        /* Equal as clocks means the same entries: both are sorted and
         * hold no zero counters. */
        ck_assert_uint_eq(back.n, vc.n);
        ck_assert_int_eq(vclock_compare(&vc, &back), VC_EQUAL);
        for (size_t i = 0; i < vc.n; i++)
            ck_assert_str_eq(back.e[i].node, vc.e[i].node);
        cclock_release(&c, t);
        ck_assert_uint_eq(strtab_size(t), 0);
    }
    strtab_free(t);
}
END_TEST

START_TEST(test_shared_names_and_repack)
{
    static vclock a, b, out;
    strtab *t = strtab_new();
    cclock ca = {0}, cb = {0};

    vclock_init(&a);
    vclock_set(&a, "Downtown", 3);
    vclock_set(&a, "Westside", 1);
    vclock_copy(&b, &a);
    vclock_tick(&b, "Downtown");
    ck_assert_int_eq(cclock_pack(&ca, t, &a), COORD_OK);
    ck_assert_int_eq(cclock_pack(&cb, t, &b), COORD_OK);
    ck_assert_ptr_eq(ca.e[0].node, cb.e[0].node);
    ck_assert_uint_eq(strtab_size(t), 2);
    /* Packing again replaces, and the names stay counted right. */
    vclock_set(&b, "Valley", 2);
    ck_assert_int_eq(cclock_pack(&cb, t, &b), COORD_OK);
    ck_assert_uint_eq(cb.n, 3);
    ck_assert_uint_eq(strtab_size(t), 3);
    cclock_unpack(&cb, &out);
    ck_assert_int_eq(vclock_compare(&a, &out), VC_BEFORE);
    ck_assert_uint_eq(vclock_get(&out, "Valley"), 2);
    cclock_release(&cb, t);
    ck_assert_uint_eq(strtab_size(t), 2);
    cclock_release(&ca, t);
    cclock_release(NULL, t);
    ck_assert_uint_eq(strtab_size(t), 0);
    /* The empty clock packs to nothing and unpacks to empty. */
    vclock_init(&a);
    ck_assert_int_eq(cclock_pack(&ca, t, &a), COORD_OK);
    ck_assert_uint_eq(ca.n, 0);
    ck_assert_ptr_null(ca.e);
    out.n = 5;
    cclock_unpack(&ca, &out);
    ck_assert_uint_eq(out.n, 0);
    cclock_unpack(NULL, &out);
    ck_assert_uint_eq(out.n, 0);
    ck_assert_int_eq(cclock_pack(&ca, t, NULL), COORD_E_INVAL);
    strtab_free(t);
}
END_TEST

Suite *unit_suite(void)
{
    Suite *s = suite_create("cclock");
    TCase *tc = unit_tcase("cclock");

    tcase_add_test(tc, test_round_trip_property);
    tcase_add_test(tc, test_shared_names_and_repack);
    suite_add_tcase(s, tc);
    return s;
}
