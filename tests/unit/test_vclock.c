#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "coord.h"
#include "unit.h"

#define PROP_ROUNDS 5000

static bool clock_eq(const vclock *a, const vclock *b)
{
    if (a->n != b->n)
        return false;
    for (size_t i = 0; i < a->n; i++) {
        if (strcmp(a->e[i].node, b->e[i].node) != 0 || a->e[i].counter != b->e[i].counter)
            return false;
    }
    return true;
}

static bool sorted_and_positive(const vclock *vc)
{
    for (size_t i = 0; i < vc->n; i++) {
        if (vc->e[i].counter == 0 || vc->e[i].counter > VCLOCK_COUNTER_MAX)
            return false;
        if (i > 0 && strcmp(vc->e[i - 1].node, vc->e[i].node) >= 0)
            return false;
    }
    return true;
}

static void node_name(char *buf, size_t len, uint64_t i)
{
    snprintf(buf, len, "broker-%02u", (unsigned)i);
}

/* Few nodes and small counters, so that random pairs are often ordered or
 * equal rather than almost always concurrent. */
static void rand_clock(uint64_t *rng, vclock *vc, unsigned nodes, uint64_t maxc)
{
    char name[32];

    vclock_init(vc);
    for (unsigned i = 0; i < nodes; i++) {
        if (unit_below(rng, 2) == 0)
            continue;
        node_name(name, sizeof(name), i);
        ck_assert_int_eq(vclock_set(vc, name, 1 + unit_below(rng, maxc)), COORD_OK);
    }
}

/* A clock that is >= base everywhere (often strictly). */
static void rand_successor(uint64_t *rng, const vclock *base, vclock *out, unsigned nodes)
{
    char name[32];

    vclock_copy(out, base);
    for (unsigned i = 0; i < nodes; i++) {
        if (unit_below(rng, 3) != 0)
            continue;
        node_name(name, sizeof(name), i);
        ck_assert_int_eq(vclock_set(out, name, vclock_get(out, name) + 1 + unit_below(rng, 2)),
                         COORD_OK);
    }
}

static vc_order flip(vc_order o)
{
    if (o == VC_BEFORE)
        return VC_AFTER;
    if (o == VC_AFTER)
        return VC_BEFORE;
    return o;
}

START_TEST(test_init_empty)
{
    vclock a, b;

    vclock_init(&a);
    vclock_init(&b);
    ck_assert_uint_eq(a.n, 0);
    ck_assert_uint_eq(vclock_get(&a, "x"), 0);
    ck_assert_int_eq(vclock_compare(&a, &b), VC_EQUAL);
    ck_assert_int_eq(vclock_compare(NULL, &a), VC_EQUAL);
    vclock_init(NULL);
    ck_assert_uint_eq(vclock_get(NULL, "x"), 0);
}
END_TEST

START_TEST(test_set_get_sorted)
{
    const char *names[] = {"m", "b", "z", "a", "k", "c"};
    vclock vc;

    vclock_init(&vc);
    for (size_t i = 0; i < 6; i++)
        ck_assert_int_eq(vclock_set(&vc, names[i], i + 1), COORD_OK);
    ck_assert_uint_eq(vc.n, 6);
    ck_assert(sorted_and_positive(&vc));
    for (size_t i = 0; i < 6; i++)
        ck_assert_uint_eq(vclock_get(&vc, names[i]), i + 1);
    ck_assert_int_eq(vclock_set(&vc, "m", 42), COORD_OK);
    ck_assert_uint_eq(vclock_get(&vc, "m"), 42);
    ck_assert_uint_eq(vc.n, 6);
}
END_TEST

START_TEST(test_set_zero_removes)
{
    vclock vc;

    vclock_init(&vc);
    ck_assert_int_eq(vclock_set(&vc, "a", 3), COORD_OK);
    ck_assert_int_eq(vclock_set(&vc, "b", 4), COORD_OK);
    ck_assert_int_eq(vclock_set(&vc, "a", 0), COORD_OK);
    ck_assert_uint_eq(vc.n, 1);
    ck_assert_uint_eq(vclock_get(&vc, "a"), 0);
    ck_assert_uint_eq(vclock_get(&vc, "b"), 4);
    ck_assert_int_eq(vclock_set(&vc, "never", 0), COORD_OK);
    ck_assert_uint_eq(vc.n, 1);
}
END_TEST

START_TEST(test_set_refuses_bad_input)
{
    char longid[COORD_ID_MAX + 2];
    vclock vc, before;

    memset(longid, 'a', sizeof(longid) - 1);
    longid[sizeof(longid) - 1] = '\0';
    vclock_init(&vc);
    ck_assert_int_eq(vclock_set(&vc, "a", 1), COORD_OK);
    vclock_copy(&before, &vc);
    ck_assert_int_eq(vclock_set(&vc, NULL, 1), COORD_E_INVAL);
    ck_assert_int_eq(vclock_set(&vc, "", 1), COORD_E_INVAL);
    ck_assert_int_eq(vclock_set(&vc, "a b", 1), COORD_E_INVAL);
    ck_assert_int_eq(vclock_set(&vc, longid, 1), COORD_E_INVAL);
    ck_assert_int_eq(vclock_set(&vc, "a", VCLOCK_COUNTER_MAX + 1), COORD_E_INVAL);
    ck_assert_int_eq(vclock_set(&vc, "b", UINT64_MAX), COORD_E_INVAL);
    ck_assert_int_eq(vclock_set(NULL, "a", 1), COORD_E_INVAL);
    ck_assert(clock_eq(&vc, &before));
    ck_assert_int_eq(vclock_set(&vc, "a", VCLOCK_COUNTER_MAX), COORD_OK);
}
END_TEST

START_TEST(test_cap_enforced)
{
    char name[32];
    vclock vc, before;

    vclock_init(&vc);
    for (unsigned i = 0; i < VCLOCK_MAX_ENTRIES; i++) {
        node_name(name, sizeof(name), i);
        ck_assert_int_eq(vclock_set(&vc, name, 1), COORD_OK);
    }
    vclock_copy(&before, &vc);
    ck_assert_int_eq(vclock_set(&vc, "one-too-many", 1), COORD_E_RANGE);
    ck_assert_int_eq(vclock_tick(&vc, "one-too-many"), COORD_E_RANGE);
    ck_assert(clock_eq(&vc, &before));
    /* Existing entries can still move and absent zeros are no-ops. */
    ck_assert_int_eq(vclock_tick(&vc, "broker-00"), COORD_OK);
    ck_assert_int_eq(vclock_set(&vc, "one-too-many", 0), COORD_OK);
    ck_assert_uint_eq(vc.n, VCLOCK_MAX_ENTRIES);
    /* Freeing an entry makes room again. */
    ck_assert_int_eq(vclock_set(&vc, "broker-01", 0), COORD_OK);
    ck_assert_int_eq(vclock_set(&vc, "one-too-many", 1), COORD_OK);
}
END_TEST

START_TEST(test_tick)
{
    vclock vc, before;

    vclock_init(&vc);
    ck_assert_int_eq(vclock_tick(&vc, "a"), COORD_OK);
    ck_assert_int_eq(vclock_tick(&vc, "a"), COORD_OK);
    ck_assert_uint_eq(vclock_get(&vc, "a"), 2);
    ck_assert_int_eq(vclock_set(&vc, "b", VCLOCK_COUNTER_MAX), COORD_OK);
    vclock_copy(&before, &vc);
    ck_assert_int_eq(vclock_tick(&vc, "b"), COORD_E_INVAL);
    ck_assert_int_eq(vclock_tick(&vc, "bad id"), COORD_E_INVAL);
    ck_assert_int_eq(vclock_tick(NULL, "a"), COORD_E_INVAL);
    ck_assert(clock_eq(&vc, &before));
}
END_TEST

START_TEST(test_merge_elementwise_max)
{
    vclock a, b;

    vclock_init(&a);
    vclock_init(&b);
    vclock_set(&a, "x", 5);
    vclock_set(&a, "y", 1);
    vclock_set(&b, "y", 7);
    vclock_set(&b, "z", 2);
    ck_assert_int_eq(vclock_merge(&a, &b), COORD_OK);
    ck_assert_uint_eq(a.n, 3);
    ck_assert_uint_eq(vclock_get(&a, "x"), 5);
    ck_assert_uint_eq(vclock_get(&a, "y"), 7);
    ck_assert_uint_eq(vclock_get(&a, "z"), 2);
    ck_assert(sorted_and_positive(&a));
    ck_assert_int_eq(vclock_merge(&a, &a), COORD_OK);
    ck_assert_int_eq(vclock_merge(&a, NULL), COORD_OK);
    ck_assert_uint_eq(a.n, 3);
    ck_assert_int_eq(vclock_merge(NULL, &a), COORD_E_INVAL);
}
END_TEST

START_TEST(test_merge_cap_atomic)
{
    char name[32];
    vclock a, b, before;

    vclock_init(&a);
    vclock_init(&b);
    for (unsigned i = 0; i < 40; i++) {
        node_name(name, sizeof(name), i);
        vclock_set(&a, name, 1);
        node_name(name, sizeof(name), 30 + i); /* 10 shared: union is 70 */
        vclock_set(&b, name, 9);
    }
    vclock_copy(&before, &a);
    ck_assert_int_eq(vclock_merge(&a, &b), COORD_E_RANGE);
    ck_assert(clock_eq(&a, &before));
    /* Exactly at the cap is fine. */
    vclock_init(&b);
    for (unsigned i = 16; i < 64; i++) {
        node_name(name, sizeof(name), i);
        vclock_set(&b, name, 2);
    }
    ck_assert_int_eq(vclock_merge(&a, &b), COORD_OK);
    ck_assert_uint_eq(a.n, 64);
}
END_TEST

/* A received clock never sets the receiver's own entry, and raises any
 * other entry by at most VCLOCK_MAX_STEP (issue 9 item 7). */
START_TEST(test_receive_ignores_own_entry)
{
    vclock mine, in;
    size_t refused = 99;

    vclock_init(&mine);
    vclock_init(&in);
    vclock_set(&mine, "Downtown", 10);
    vclock_set(&mine, "Westside", 4);
    vclock_set(&in, "Downtown", 1000000);
    vclock_set(&in, "Westside", 9);
    vclock_set(&in, "Valley", 3);
    ck_assert_int_eq(vclock_receive(&mine, &in, "Downtown", &refused), COORD_OK);
    ck_assert_uint_eq(vclock_get(&mine, "Downtown"), 10);
    ck_assert_uint_eq(vclock_get(&mine, "Westside"), 9);
    ck_assert_uint_eq(vclock_get(&mine, "Valley"), 3);
    ck_assert_uint_eq(refused, 1);
    ck_assert(sorted_and_positive(&mine));
    /* Our own entry echoed back at or below what we know is no refusal. */
    vclock_set(&in, "Downtown", 10);
    ck_assert_int_eq(vclock_receive(&mine, &in, "Downtown", &refused), COORD_OK);
    ck_assert_uint_eq(refused, 0);
    /* Nor does it create our entry when we have none yet. */
    vclock_init(&mine);
    ck_assert_int_eq(vclock_receive(&mine, &in, "Downtown", NULL), COORD_OK);
    ck_assert_uint_eq(vclock_get(&mine, "Downtown"), 0);
    ck_assert_int_eq(vclock_receive(NULL, &in, "Downtown", NULL), COORD_E_INVAL);
    ck_assert_int_eq(vclock_receive(&mine, &in, NULL, NULL), COORD_E_INVAL);
    ck_assert_int_eq(vclock_receive(&mine, NULL, "Downtown", NULL), COORD_OK);
}
END_TEST

START_TEST(test_receive_bounds_the_step)
{
    vclock mine, in;
    size_t refused = 0;

    vclock_init(&mine);
    vclock_init(&in);
    vclock_set(&mine, "Westside", 100);
    vclock_set(&in, "Westside", 100 + VCLOCK_MAX_STEP); /* exactly the step: kept */
    vclock_set(&in, "Valley", VCLOCK_MAX_STEP + 1);     /* one past: clamped */
    vclock_set(&in, "coordinator", VCLOCK_COUNTER_MAX); /* absurd: clamped */
    ck_assert_int_eq(vclock_receive(&mine, &in, "Downtown", &refused), COORD_OK);
    ck_assert_uint_eq(vclock_get(&mine, "Westside"), 100 + VCLOCK_MAX_STEP);
    ck_assert_uint_eq(vclock_get(&mine, "Valley"), VCLOCK_MAX_STEP);
    ck_assert_uint_eq(vclock_get(&mine, "coordinator"), VCLOCK_MAX_STEP);
    ck_assert_uint_eq(refused, 2);
    /* Lower entries never lower ours. */
    vclock_init(&in);
    vclock_set(&in, "Westside", 1);
    ck_assert_int_eq(vclock_receive(&mine, &in, "Downtown", &refused), COORD_OK);
    ck_assert_uint_eq(vclock_get(&mine, "Westside"), 100 + VCLOCK_MAX_STEP);
    ck_assert_uint_eq(refused, 0);
    /* Near the top the step stops at VCLOCK_COUNTER_MAX. */
    vclock_set(&mine, "Valley", VCLOCK_COUNTER_MAX - 5);
    vclock_set(&in, "Valley", VCLOCK_COUNTER_MAX);
    ck_assert_int_eq(vclock_receive(&mine, &in, "Downtown", &refused), COORD_OK);
    ck_assert_uint_eq(vclock_get(&mine, "Valley"), VCLOCK_COUNTER_MAX);
    ck_assert_uint_eq(refused, 0);
}
END_TEST

START_TEST(test_receive_cap_atomic)
{
    char name[32];
    vclock a, b, before;
    size_t refused = 7;

    vclock_init(&a);
    vclock_init(&b);
    for (unsigned i = 0; i < 40; i++) {
        node_name(name, sizeof(name), i);
        vclock_set(&a, name, 1);
        node_name(name, sizeof(name), 30 + i);
        vclock_set(&b, name, VCLOCK_COUNTER_MAX);
    }
    vclock_copy(&before, &a);
    ck_assert_int_eq(vclock_receive(&a, &b, "broker-00", &refused), COORD_E_RANGE);
    ck_assert(clock_eq(&a, &before));
    ck_assert_uint_eq(refused, 7);
}
END_TEST

/* Received within the step, the receive is the plain merge minus our own
 * entry: happened-before is kept for every honest message. */
START_TEST(prop_receive_is_merge_within_the_step)
{
    uint64_t rng = 0x5eed0007;

    for (int r = 0; r < PROP_ROUNDS; r++) {
        vclock a, b, merged, got;
        size_t refused = 1;

        rand_clock(&rng, &a, 6, 50);
        rand_clock(&rng, &b, 6, 50);
        vclock_copy(&merged, &a);
        ck_assert_int_eq(vclock_merge(&merged, &b), COORD_OK);
        vclock_set(&merged, "broker-00", vclock_get(&a, "broker-00"));
        vclock_copy(&got, &a);
        ck_assert_int_eq(vclock_receive(&got, &b, "broker-00", &refused), COORD_OK);
        ck_assert(clock_eq(&got, &merged));
        ck_assert_uint_eq(refused, vclock_get(&b, "broker-00") > vclock_get(&a, "broker-00"));
    }
}
END_TEST

START_TEST(test_compare_cases)
{
    vclock a, b;

    vclock_init(&a);
    vclock_init(&b);
    vclock_set(&a, "x", 1);
    ck_assert_int_eq(vclock_compare(&a, &b), VC_AFTER);
    ck_assert_int_eq(vclock_compare(&b, &a), VC_BEFORE);
    ck_assert_int_eq(vclock_compare(&a, NULL), VC_AFTER);
    vclock_set(&b, "x", 1);
    ck_assert_int_eq(vclock_compare(&a, &b), VC_EQUAL);
    vclock_set(&b, "y", 1);
    ck_assert_int_eq(vclock_compare(&a, &b), VC_BEFORE);
    vclock_set(&a, "x", 2);
    ck_assert_int_eq(vclock_compare(&a, &b), VC_CONCURRENT);
    ck_assert_int_eq(vclock_compare(&b, &a), VC_CONCURRENT);
    /* Disjoint node sets are concurrent. */
    vclock_init(&a);
    vclock_init(&b);
    vclock_set(&a, "p", 1);
    vclock_set(&b, "q", 1);
    ck_assert_int_eq(vclock_compare(&a, &b), VC_CONCURRENT);
}
END_TEST

START_TEST(test_order_str)
{
    ck_assert_str_eq(vc_order_str(VC_EQUAL), "equal");
    ck_assert_str_eq(vc_order_str(VC_BEFORE), "before");
    ck_assert_str_eq(vc_order_str(VC_AFTER), "after");
    ck_assert_str_eq(vc_order_str(VC_CONCURRENT), "concurrent");
    ck_assert_ptr_nonnull(vc_order_str((vc_order)99));
}
END_TEST

START_TEST(test_copy)
{
    vclock a, b;

    vclock_init(&a);
    vclock_set(&a, "x", 3);
    vclock_set(&a, "y", 4);
    memset(&b, 0xa5, sizeof(b));
    vclock_copy(&b, &a);
    ck_assert(clock_eq(&a, &b));
    vclock_copy(&b, NULL);
    ck_assert_uint_eq(b.n, 0);
    vclock_copy(NULL, &a);
}
END_TEST

START_TEST(prop_reflexive)
{
    uint64_t rng = 1;
    vclock a, b;

    for (int i = 0; i < PROP_ROUNDS; i++) {
        rand_clock(&rng, &a, 8, 4);
        vclock_copy(&b, &a);
        ck_assert_int_eq(vclock_compare(&a, &a), VC_EQUAL);
        ck_assert_int_eq(vclock_compare(&a, &b), VC_EQUAL);
    }
}
END_TEST

START_TEST(prop_antisymmetric)
{
    uint64_t rng = 2;
    int ordered = 0;
    vclock a, b;

    for (int i = 0; i < PROP_ROUNDS; i++) {
        rand_clock(&rng, &a, 6, 3);
        if (i % 2)
            rand_successor(&rng, &a, &b, 6);
        else
            rand_clock(&rng, &b, 6, 3);
        vc_order ab = vclock_compare(&a, &b), ba = vclock_compare(&b, &a);

        /* flip() is a bijection, so this also rules out "both BEFORE". */
        ck_assert_int_eq(ba, flip(ab));
        if (ab == VC_EQUAL)
            ck_assert(clock_eq(&a, &b));
        if (ab == VC_BEFORE || ab == VC_AFTER)
            ordered++;
    }
    ck_assert_int_gt(ordered, PROP_ROUNDS / 4);
}
END_TEST

START_TEST(prop_transitive)
{
    uint64_t rng = 3;
    int chains = 0;
    vclock a, b, c;

    for (int i = 0; i < PROP_ROUNDS; i++) {
        rand_clock(&rng, &a, 6, 3);
        if (i % 3 == 0) {
            rand_clock(&rng, &b, 6, 3);
            rand_clock(&rng, &c, 6, 3);
        } else {
            rand_successor(&rng, &a, &b, 6);
            rand_successor(&rng, &b, &c, 6);
        }
        if (vclock_compare(&a, &b) == VC_BEFORE && vclock_compare(&b, &c) == VC_BEFORE) {
            chains++;
            ck_assert_int_eq(vclock_compare(&a, &c), VC_BEFORE);
            ck_assert_int_eq(vclock_compare(&c, &a), VC_AFTER);
        }
    }
    ck_assert_int_gt(chains, PROP_ROUNDS / 4);
}
END_TEST

START_TEST(prop_merge_commutative)
{
    uint64_t rng = 4;
    vclock a, b, ab, ba;

    for (int i = 0; i < PROP_ROUNDS; i++) {
        rand_clock(&rng, &a, 10, 5);
        rand_clock(&rng, &b, 10, 5);
        vclock_copy(&ab, &a);
        vclock_copy(&ba, &b);
        ck_assert_int_eq(vclock_merge(&ab, &b), COORD_OK);
        ck_assert_int_eq(vclock_merge(&ba, &a), COORD_OK);
        ck_assert(clock_eq(&ab, &ba));
        ck_assert(sorted_and_positive(&ab));
    }
}
END_TEST

START_TEST(prop_merge_associative)
{
    uint64_t rng = 5;
    vclock a, b, c, left, right, bc;

    for (int i = 0; i < PROP_ROUNDS; i++) {
        rand_clock(&rng, &a, 10, 5);
        rand_clock(&rng, &b, 10, 5);
        rand_clock(&rng, &c, 10, 5);
        vclock_copy(&left, &a);
        ck_assert_int_eq(vclock_merge(&left, &b), COORD_OK);
        ck_assert_int_eq(vclock_merge(&left, &c), COORD_OK);
        vclock_copy(&bc, &b);
        ck_assert_int_eq(vclock_merge(&bc, &c), COORD_OK);
        vclock_copy(&right, &a);
        ck_assert_int_eq(vclock_merge(&right, &bc), COORD_OK);
        ck_assert(clock_eq(&left, &right));
    }
}
END_TEST

START_TEST(prop_merge_idempotent)
{
    uint64_t rng = 6;
    vclock a, b, once;

    for (int i = 0; i < PROP_ROUNDS; i++) {
        rand_clock(&rng, &a, 10, 5);
        rand_clock(&rng, &b, 10, 5);
        vclock_copy(&once, &a);
        ck_assert_int_eq(vclock_merge(&once, &b), COORD_OK);
        vclock_copy(&a, &once);
        ck_assert_int_eq(vclock_merge(&a, &b), COORD_OK);
        ck_assert(clock_eq(&a, &once));
        ck_assert_int_eq(vclock_merge(&a, &a), COORD_OK);
        ck_assert(clock_eq(&a, &once));
    }
}
END_TEST

START_TEST(prop_merge_upper_bound)
{
    uint64_t rng = 7;
    vclock a, b, m;

    for (int i = 0; i < PROP_ROUNDS; i++) {
        rand_clock(&rng, &a, 8, 4);
        rand_clock(&rng, &b, 8, 4);
        vclock_copy(&m, &a);
        ck_assert_int_eq(vclock_merge(&m, &b), COORD_OK);
        vc_order oa = vclock_compare(&m, &a), ob = vclock_compare(&m, &b);

        ck_assert(oa == VC_AFTER || oa == VC_EQUAL);
        ck_assert(ob == VC_AFTER || ob == VC_EQUAL);
        /* Least upper bound: nothing bigger than needed. */
        for (size_t k = 0; k < m.n; k++) {
            uint64_t ca = vclock_get(&a, m.e[k].node), cb = vclock_get(&b, m.e[k].node);

            ck_assert_uint_eq(m.e[k].counter, ca > cb ? ca : cb);
        }
    }
}
END_TEST

START_TEST(prop_tick_strictly_after)
{
    uint64_t rng = 8;
    char name[32];
    vclock a, old;

    for (int i = 0; i < PROP_ROUNDS; i++) {
        rand_clock(&rng, &a, 8, 1000);
        vclock_copy(&old, &a);
        node_name(name, sizeof(name), unit_below(&rng, 10));
        ck_assert_int_eq(vclock_tick(&a, name), COORD_OK);
        ck_assert_int_eq(vclock_compare(&a, &old), VC_AFTER);
        ck_assert_int_eq(vclock_compare(&old, &a), VC_BEFORE);
        ck_assert_uint_eq(vclock_get(&a, name), vclock_get(&old, name) + 1);
    }
}
END_TEST

START_TEST(prop_merge_cap)
{
    uint64_t rng = 9;
    char name[32];
    int refused = 0, accepted = 0;
    vclock a, b, before;

    for (int i = 0; i < 2000; i++) {
        size_t uni;

        vclock_init(&a);
        vclock_init(&b);
        /* Draw from 100 nodes so unions straddle the cap of 64. */
        for (unsigned k = 0; k < 100; k++) {
            node_name(name, sizeof(name), k);
            if (unit_below(&rng, 100) < 35 && a.n < VCLOCK_MAX_ENTRIES)
                ck_assert_int_eq(vclock_set(&a, name, 1 + unit_below(&rng, 9)), COORD_OK);
            if (unit_below(&rng, 100) < 35 && b.n < VCLOCK_MAX_ENTRIES)
                ck_assert_int_eq(vclock_set(&b, name, 1 + unit_below(&rng, 9)), COORD_OK);
        }
        uni = a.n;
        for (size_t k = 0; k < b.n; k++)
            uni += vclock_get(&a, b.e[k].node) == 0;
        vclock_copy(&before, &a);
        if (uni > VCLOCK_MAX_ENTRIES) {
            ck_assert_int_eq(vclock_merge(&a, &b), COORD_E_RANGE);
            ck_assert(clock_eq(&a, &before));
            refused++;
        } else {
            ck_assert_int_eq(vclock_merge(&a, &b), COORD_OK);
            ck_assert_uint_eq(a.n, uni);
            accepted++;
        }
        ck_assert_uint_le(a.n, VCLOCK_MAX_ENTRIES);
    }
    ck_assert_int_gt(refused, 100);
    ck_assert_int_gt(accepted, 100);
}
END_TEST

Suite *unit_suite(void)
{
    Suite *s = suite_create("vclock");
    TCase *tc = unit_tcase("basics");
    TCase *prop = unit_tcase("properties");

    tcase_add_test(tc, test_init_empty);
    tcase_add_test(tc, test_set_get_sorted);
    tcase_add_test(tc, test_set_zero_removes);
    tcase_add_test(tc, test_set_refuses_bad_input);
    tcase_add_test(tc, test_cap_enforced);
    tcase_add_test(tc, test_tick);
    tcase_add_test(tc, test_merge_elementwise_max);
    tcase_add_test(tc, test_merge_cap_atomic);
    tcase_add_test(tc, test_receive_ignores_own_entry);
    tcase_add_test(tc, test_receive_bounds_the_step);
    tcase_add_test(tc, test_receive_cap_atomic);
    tcase_add_test(tc, test_compare_cases);
    tcase_add_test(tc, test_order_str);
    tcase_add_test(tc, test_copy);
    suite_add_tcase(s, tc);

    tcase_add_test(prop, prop_reflexive);
    tcase_add_test(prop, prop_antisymmetric);
    tcase_add_test(prop, prop_transitive);
    tcase_add_test(prop, prop_merge_commutative);
    tcase_add_test(prop, prop_merge_associative);
    tcase_add_test(prop, prop_merge_idempotent);
    tcase_add_test(prop, prop_merge_upper_bound);
    tcase_add_test(prop, prop_tick_strictly_after);
    tcase_add_test(prop, prop_merge_cap);
    tcase_add_test(prop, prop_receive_is_merge_within_the_step);
    suite_add_tcase(s, prop);
    return s;
}
