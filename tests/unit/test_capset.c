/* strtab (interning with holders) and capset (the capability set type). */
#include <stdio.h>
#include <string.h>

#include "coord.h"
#include "unit.h"

START_TEST(test_strtab_shares_and_frees)
{
    strtab *t = strtab_new();
    char buf[16];
    const char *a, *b, *c;

    ck_assert_ptr_nonnull(t);
    snprintf(buf, sizeof(buf), "rescue");
    a = strtab_intern(t, buf);
    snprintf(buf, sizeof(buf), "rescue");
    b = strtab_intern(t, buf);
    ck_assert_ptr_nonnull(a);
    ck_assert_ptr_eq(a, b); /* one copy, whatever buffer it came from */
    ck_assert_ptr_ne(a, buf);
    ck_assert_str_eq(a, "rescue");
    ck_assert_uint_eq(strtab_size(t), 1);
    c = strtab_intern(t, "medical");
    ck_assert_ptr_ne(a, c);
    ck_assert_uint_eq(strtab_size(t), 2);
    strtab_release(t, a);
    ck_assert_uint_eq(strtab_size(t), 2); /* b still holds it */
    ck_assert_str_eq(b, "rescue");
    strtab_release(t, b);
    ck_assert_uint_eq(strtab_size(t), 1);
    strtab_release(t, "never-interned");
    strtab_release(t, NULL);
    ck_assert_uint_eq(strtab_size(t), 1);
    ck_assert_ptr_null(strtab_intern(t, NULL));
    ck_assert_ptr_null(strtab_intern(NULL, "x"));
    strtab_free(t);
    strtab_free(NULL);
}
END_TEST

/* Holders counted exactly: random interns and releases leave the table
 * holding precisely the strings somebody still holds. */
START_TEST(test_strtab_counts_property)
{
    enum { WORDS = 12, OPS = 20000 };
    strtab *t = strtab_new();
    unsigned held[WORDS] = {0};
    const char *ptr[WORDS] = {0};
    uint64_t rng = 7;
    char w[16];

    for (int op = 0; op < OPS; op++) {
        unsigned i = (unsigned)unit_below(&rng, WORDS);

        snprintf(w, sizeof(w), "cap-%u", i);
        if (held[i] == 0 || unit_below(&rng, 2) == 0) {
            const char *p = strtab_intern(t, w);

            ck_assert_ptr_nonnull(p);
            if (held[i])
                ck_assert_ptr_eq(p, ptr[i]);
            ptr[i] = p;
            held[i]++;
        } else {
            strtab_release(t, ptr[i]);
            held[i]--;
        }
        size_t live = 0;
        for (unsigned k = 0; k < WORDS; k++)
            live += held[k] > 0;
        ck_assert_uint_eq(strtab_size(t), live);
    }
    strtab_free(t);
}
END_TEST

START_TEST(test_capset_order_and_match)
{
    strtab *t = strtab_new();
    const char *const fire[] = {"rescue", "firefighting"};
    const char *const need[] = {"firefighting"};
    const char *const need_med[] = {"medical"};
    capset unit = {0}, job = {0}, med = {0}, none = {0};

    ck_assert_int_eq(capset_set(&unit, t, fire, 2), COORD_OK);
    ck_assert_uint_eq(unit.n, 2);
    ck_assert_str_eq(unit.v[0], "rescue"); /* the order given is kept */
    ck_assert_str_eq(unit.v[1], "firefighting");
    ck_assert_int_eq(capset_set(&job, t, need, 1), COORD_OK);
    ck_assert_ptr_eq(job.v[0], unit.v[1]); /* interned once */
    ck_assert_int_eq(capset_set(&med, t, need_med, 1), COORD_OK);
    ck_assert(capset_covers(&unit, &job));
    ck_assert(!capset_covers(&job, &unit));
    ck_assert(!capset_covers(&unit, &med));
    ck_assert(capset_covers(&unit, &none)); /* nothing required */
    ck_assert(capset_covers(&none, &none));
    ck_assert(!capset_covers(&none, &job));
    ck_assert(capset_has(&unit, "rescue"));
    ck_assert(!capset_has(&unit, "Rescue"));
    ck_assert(!capset_has(&unit, NULL));
    ck_assert_uint_eq(strtab_size(t), 3);
    capset_release(&unit, t);
    ck_assert_uint_eq(unit.n, 0);
    ck_assert_ptr_null(unit.v);
    ck_assert_uint_eq(strtab_size(t), 2);
    capset_release(&job, t);
    capset_release(&med, t);
    capset_release(NULL, t);
    ck_assert_uint_eq(strtab_size(t), 0);
    strtab_free(t);
}
END_TEST

START_TEST(test_capset_replace_and_refuse)
{
    strtab *t = strtab_new();
    const char *const a[] = {"x", "y"};
    const char *const b[] = {"y", "z"};
    const char *const bad[] = {"q", NULL};
    capset cs = {0}, cp = {0};

    ck_assert_int_eq(capset_set(&cs, t, a, 2), COORD_OK);
    ck_assert_int_eq(capset_set(&cs, t, b, 2), COORD_OK);
    ck_assert_str_eq(cs.v[0], "y");
    ck_assert_str_eq(cs.v[1], "z");
    ck_assert_uint_eq(strtab_size(t), 2); /* "x" went with the old set */
    /* A refused set leaves the old one as it was. */
    ck_assert_int_eq(capset_set(&cs, t, bad, 2), COORD_E_INVAL);
    ck_assert_uint_eq(cs.n, 2);
    ck_assert_str_eq(cs.v[1], "z");
    ck_assert_uint_eq(strtab_size(t), 2);
    ck_assert_int_eq(capset_copy(&cp, t, &cs), COORD_OK);
    ck_assert(capset_covers(&cp, &cs) && capset_covers(&cs, &cp));
    ck_assert_int_eq(capset_set(&cs, t, NULL, 0), COORD_OK);
    ck_assert_uint_eq(cs.n, 0);
    capset_release(&cp, t);
    ck_assert_uint_eq(strtab_size(t), 0);
    strtab_free(t);
}
END_TEST

/* capset_covers answers exactly what caps_match answers on the same
 * names: the set type adds no matching rule of its own. */
START_TEST(test_capset_is_caps_match_property)
{
    strtab *t = strtab_new();
    uint64_t rng = 99;
    char names[6][8];
    const char *pool[6];

    for (int i = 0; i < 6; i++) {
        snprintf(names[i], sizeof(names[i]), "c%d", i);
        pool[i] = names[i];
    }
    for (int round = 0; round < 3000; round++) {
        const char *off[6], *req[6];
        size_t noff = (size_t)unit_below(&rng, 5), nreq = (size_t)unit_below(&rng, 4);
        capset co = {0}, cr = {0};

        for (size_t i = 0; i < noff; i++)
            off[i] = pool[unit_below(&rng, 6)];
        for (size_t i = 0; i < nreq; i++)
            req[i] = pool[unit_below(&rng, 6)];
        ck_assert_int_eq(capset_set(&co, t, off, noff), COORD_OK);
        ck_assert_int_eq(capset_set(&cr, t, req, nreq), COORD_OK);
        ck_assert_int_eq(capset_covers(&co, &cr), caps_match(req, nreq, off, noff));
        for (size_t i = 0; i < nreq; i++)
            ck_assert_int_eq(capset_has(&co, req[i]), caps_match(&req[i], 1, off, noff));
        capset_release(&co, t);
        capset_release(&cr, t);
    }
    ck_assert_uint_eq(strtab_size(t), 0);
    strtab_free(t);
}
END_TEST

Suite *unit_suite(void)
{
    Suite *s = suite_create("capset");
    TCase *tab = unit_tcase("strtab");
    TCase *cs = unit_tcase("capset");

    tcase_add_test(tab, test_strtab_shares_and_frees);
    tcase_add_test(tab, test_strtab_counts_property);
    suite_add_tcase(s, tab);
    tcase_add_test(cs, test_capset_order_and_match);
    tcase_add_test(cs, test_capset_replace_and_refuse);
    tcase_add_test(cs, test_capset_is_caps_match_property);
    suite_add_tcase(s, cs);
    return s;
}
