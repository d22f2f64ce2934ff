#include <stdio.h>
#include <string.h>

#include "coord.h"
#include "unit.h"

static const char *const FIRE[] = {"firefighting", "rescue"};
static const char *const POLICE[] = {"law_enforcement"};
static const char *const EMS[] = {"medical", "transport"};
static const char *const NEED_FIRE[] = {"firefighting"};

static unit_candidate cand(const char *id, const char *district, unit_status st, uint32_t active,
                           uint32_t cap, const char *const *caps, size_t ncaps)
{
    unit_candidate u = {
        .id = id,
        .district = district,
        .status = st,
        .active_jobs = active,
        .capacity = cap,
        .caps = caps,
        .ncaps = ncaps,
    };

    return u;
}

START_TEST(test_caps_match_basic)
{
    const char *const need2[] = {"rescue", "firefighting"};
    const char *const need_med[] = {"medical"};

    ck_assert(caps_match(NULL, 0, NULL, 0));
    ck_assert(caps_match(NULL, 0, FIRE, 2));
    ck_assert(caps_match(NEED_FIRE, 1, FIRE, 2));
    ck_assert(caps_match(need2, 2, FIRE, 2));
    ck_assert(!caps_match(need_med, 1, FIRE, 2));
    ck_assert(!caps_match(NEED_FIRE, 1, NULL, 0));
    ck_assert(!caps_match(NEED_FIRE, 1, EMS, 2));
}
END_TEST

START_TEST(test_caps_match_exact_strings)
{
    const char *const upper[] = {"Firefighting"};
    const char *const prefix[] = {"fire"};
    const char *const dup[] = {"rescue", "rescue"};
    const char *const with_null[] = {"rescue", NULL};
    const char *const offered_null[] = {NULL, "rescue"};

    ck_assert(!caps_match(upper, 1, FIRE, 2));
    ck_assert(!caps_match(prefix, 1, FIRE, 2));
    ck_assert(caps_match(dup, 2, FIRE, 2));
    ck_assert(!caps_match(with_null, 2, FIRE, 2));
    ck_assert(caps_match(dup, 1, offered_null, 2));
}
END_TEST

START_TEST(test_candidate_of)
{
    unit_candidate a = unit_candidate_of("LAFD-1", "downtown", UNIT_BUSY, 1, 2, FIRE, 2);
    unit_candidate b = cand("LAFD-1", "downtown", UNIT_BUSY, 1, 2, FIRE, 2);

    ck_assert_str_eq(a.id, b.id);
    ck_assert_str_eq(a.district, b.district);
    ck_assert_int_eq(a.status, b.status);
    ck_assert_uint_eq(a.active_jobs, b.active_jobs);
    ck_assert_uint_eq(a.capacity, b.capacity);
    ck_assert_ptr_eq(a.caps, b.caps);
    ck_assert_uint_eq(a.ncaps, b.ncaps);
    ck_assert(unit_eligible(&a, NEED_FIRE, 1));
    /* Room is the capacity half of eligibility, whatever the capabilities. */
    ck_assert(unit_has_room(&a));
    a.active_jobs = 2;
    ck_assert(!unit_has_room(&a) && !unit_eligible(&a, NEED_FIRE, 1));
    a.active_jobs = 0;
    a.status = UNIT_LOST;
    ck_assert(!unit_has_room(&a));
    ck_assert(!unit_has_room(NULL));
}
END_TEST

START_TEST(test_eligible)
{
    unit_candidate u = cand("LAFD-1", "downtown", UNIT_AVAILABLE, 0, 1, FIRE, 2);

    ck_assert(unit_eligible(&u, NEED_FIRE, 1));
    u.status = UNIT_BUSY;
    u.capacity = 2;
    u.active_jobs = 1;
    ck_assert(unit_eligible(&u, NEED_FIRE, 1));
    u.active_jobs = 2;
    ck_assert(!unit_eligible(&u, NEED_FIRE, 1)); /* at capacity */
    u.active_jobs = 0;
    u.status = UNIT_LOST;
    ck_assert(!unit_eligible(&u, NEED_FIRE, 1));
    u.status = UNIT_OUT_OF_SERVICE;
    ck_assert(!unit_eligible(&u, NEED_FIRE, 1));
    u.status = UNIT_AVAILABLE;
    u.capacity = 0;
    ck_assert(!unit_eligible(&u, NEED_FIRE, 1));
    ck_assert(!unit_eligible(NULL, NEED_FIRE, 1));
}
END_TEST

START_TEST(test_never_an_ambulance)
{
    unit_candidate c[] = {
        cand("EMS-3", "downtown", UNIT_AVAILABLE, 0, 1, EMS, 2),
        cand("LAPD-7", "downtown", UNIT_AVAILABLE, 0, 1, POLICE, 1),
        cand("LAFD-2", "downtown", UNIT_LOST, 0, 1, FIRE, 2),
    };
    size_t idx[3];

    ck_assert_uint_eq(rank_units(c, 3, "downtown", NEED_FIRE, 1, idx), 0);
    ck_assert_int_eq(select_unit(c, 3, "downtown", NEED_FIRE, 1), -1);
}
END_TEST

START_TEST(test_rank_order)
{
    /* Deliberately listed out of preference order. */
    unit_candidate c[] = {
        cand("LAFD-9", "valley", UNIT_AVAILABLE, 0, 2, FIRE, 2),   /* 0: other, 0 active */
        cand("LAFD-5", "westside", UNIT_BUSY, 1, 2, FIRE, 2),      /* 1: own, 1 active */
        cand("LAFD-6", "westside", UNIT_AVAILABLE, 0, 2, FIRE, 2), /* 2: own, 0 active */
        cand("LAFD-4", "westside", UNIT_AVAILABLE, 0, 2, FIRE, 2), /* 3: own, 0, lower id */
        cand("LAFD-1", "downtown", UNIT_BUSY, 1, 2, FIRE, 2),      /* 4: other, 1 active */
        cand("LAFD-8", "valley", UNIT_AVAILABLE, 0, 2, FIRE, 2),   /* 5: other, 0, lower id */
    };
    const size_t want[] = {3, 2, 1, 5, 0, 4};
    size_t idx[6];

    ck_assert_uint_eq(rank_units(c, 6, "westside", NEED_FIRE, 1, idx), 6);
    for (size_t i = 0; i < 6; i++)
        ck_assert_uint_eq(idx[i], want[i]);
    ck_assert_int_eq(select_unit(c, 6, "westside", NEED_FIRE, 1), 3);
}
END_TEST

START_TEST(test_rank_excludes_ineligible)
{
    const char *const only_rescue[] = {"rescue"};
    unit_candidate c[] = {
        cand("A", "d", UNIT_LOST, 0, 1, FIRE, 2),
        cand("B", "d", UNIT_OUT_OF_SERVICE, 0, 1, FIRE, 2),
        cand("C", "d", UNIT_BUSY, 3, 3, FIRE, 2),
        cand("D", "d", UNIT_AVAILABLE, 0, 1, only_rescue, 1),
        cand("E", "x", UNIT_AVAILABLE, 0, 1, FIRE, 2),
    };
    size_t idx[5];

    ck_assert_uint_eq(rank_units(c, 5, "d", NEED_FIRE, 1, idx), 1);
    ck_assert_uint_eq(idx[0], 4);
    ck_assert_int_eq(select_unit(c, 5, "d", NEED_FIRE, 1), 4);
}
END_TEST

START_TEST(test_rank_no_own_district)
{
    unit_candidate c[] = {
        cand("b", "x", UNIT_AVAILABLE, 0, 1, NULL, 0),
        cand("a", "y", UNIT_AVAILABLE, 0, 1, NULL, 0),
        cand("c", NULL, UNIT_AVAILABLE, 0, 1, NULL, 0),
    };
    size_t idx[3];

    /* No district given (or unknown district): fewest active, then id. */
    ck_assert_uint_eq(rank_units(c, 3, NULL, NULL, 0, idx), 3);
    ck_assert_uint_eq(idx[0], 1);
    ck_assert_uint_eq(idx[1], 0);
    ck_assert_uint_eq(idx[2], 2);
    ck_assert_uint_eq(rank_units(c, 3, "z", NULL, 0, idx), 3);
    ck_assert_uint_eq(idx[0], 1);
    ck_assert_uint_eq(rank_units(NULL, 3, "z", NULL, 0, idx), 0);
    ck_assert_int_eq(select_unit(NULL, 3, "z", NULL, 0), -1);
}
END_TEST

/* The order must not depend on input order: shuffle and rank again. */
START_TEST(test_rank_deterministic)
{
    enum { N = 200 };
    static unit_candidate c[N], shuf[N];
    static char ids[N][16];
    static const char *const districts[] = {"downtown", "westside", "valley"};
    static size_t first[N], second[N];
    uint64_t rng = 42;
    size_t k1, k2;

    for (int i = 0; i < N; i++) {
        snprintf(ids[i], sizeof(ids[i]), "U-%03d", i);
        c[i] = cand(ids[i], districts[unit_below(&rng, 3)], (unit_status)unit_below(&rng, 4),
                    (uint32_t)unit_below(&rng, 4), 1 + (uint32_t)unit_below(&rng, 3),
                    unit_below(&rng, 2) ? FIRE : EMS, 2);
    }
    k1 = rank_units(c, N, "westside", NEED_FIRE, 1, first);
    ck_assert_uint_gt(k1, 5);
    /* Sorted by the documented key. */
    for (size_t i = 1; i < k1; i++) {
        const unit_candidate *a = &c[first[i - 1]], *b = &c[first[i]];
        int oa = strcmp(a->district, "westside") == 0, ob = strcmp(b->district, "westside") == 0;

        ck_assert(oa >= ob);
        if (oa == ob) {
            ck_assert_uint_le(a->active_jobs, b->active_jobs);
            if (a->active_jobs == b->active_jobs)
                ck_assert_int_lt(strcmp(a->id, b->id), 0);
        }
    }
    for (int round = 0; round < 20; round++) {
        size_t map[N];

        for (int i = 0; i < N; i++)
            map[i] = (size_t)i;
        for (int i = N - 1; i > 0; i--) {
            size_t j = unit_below(&rng, (uint64_t)i + 1), t = map[i];

            map[i] = map[j];
            map[j] = t;
        }
        for (int i = 0; i < N; i++)
            shuf[i] = c[map[i]];
        k2 = rank_units(shuf, N, "westside", NEED_FIRE, 1, second);
        ck_assert_uint_eq(k1, k2);
        for (size_t i = 0; i < k1; i++)
            ck_assert_str_eq(shuf[second[i]].id, c[first[i]].id);
        ck_assert_str_eq(shuf[select_unit(shuf, N, "westside", NEED_FIRE, 1)].id, c[first[0]].id);
    }
}
END_TEST

/* unit_order is the order rank_units sorts by: any two ranked neighbours
 * are in unit_order, and select_unit agrees with a scan by unit_order. */
START_TEST(test_unit_order_is_the_ranking)
{
    enum { N = 60 };
    static unit_candidate c[N];
    static char ids[N][16];
    static const char *const districts[] = {"downtown", "westside", "valley"};
    size_t idx[N];
    uint64_t rng = 77;

    for (int round = 0; round < 200; round++) {
        long best = -1;

        for (int i = 0; i < N; i++) {
            snprintf(ids[i], sizeof(ids[i]), "U-%02u", (unsigned)unit_below(&rng, 90));
            c[i] = cand(ids[i], districts[unit_below(&rng, 3)], (unit_status)unit_below(&rng, 4),
                        (uint32_t)unit_below(&rng, 3), 1 + (uint32_t)unit_below(&rng, 3),
                        unit_below(&rng, 2) ? FIRE : EMS, 2);
        }
        size_t k = rank_units(c, N, "valley", NEED_FIRE, 1, idx);
        for (size_t i = 1; i < k; i++)
            ck_assert_int_le(unit_order(&c[idx[i - 1]], &c[idx[i]], "valley"), 0);
        for (int i = 0; i < N; i++)
            if (unit_eligible(&c[i], NEED_FIRE, 1) &&
                (best < 0 || unit_order(&c[i], &c[best], "valley") < 0))
                best = i;
        ck_assert_int_eq(select_unit(c, N, "valley", NEED_FIRE, 1), best);
        if (k)
            ck_assert_int_eq(unit_order(&c[idx[0]], &c[best], "valley"), 0);
    }
    ck_assert_int_eq(unit_order(&c[0], &c[0], "valley"), 0);
}
END_TEST

Suite *unit_suite(void)
{
    Suite *s = suite_create("match");
    TCase *caps = unit_tcase("caps");
    TCase *rank = unit_tcase("rank");

    tcase_add_test(caps, test_caps_match_basic);
    tcase_add_test(caps, test_caps_match_exact_strings);
    tcase_add_test(caps, test_eligible);
    tcase_add_test(caps, test_candidate_of);
    suite_add_tcase(s, caps);

    tcase_add_test(rank, test_never_an_ambulance);
    tcase_add_test(rank, test_rank_order);
    tcase_add_test(rank, test_rank_excludes_ineligible);
    tcase_add_test(rank, test_rank_no_own_district);
    tcase_add_test(rank, test_rank_deterministic);
    tcase_add_test(rank, test_unit_order_is_the_ranking);
    suite_add_tcase(s, rank);
    return s;
}
