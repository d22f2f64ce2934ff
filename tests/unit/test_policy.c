/* Dispatch policies: queue yield and the preemption victim. */
#include <stdio.h>
#include <string.h>

#include "coord.h"
#include "unit.h"

static jobq_item item(const char *id, severity sev, uint64_t seq)
{
    jobq_item it;

    memset(&it, 0, sizeof(it));
    snprintf(it.id, sizeof(it.id), "%s", id);
    it.sev = sev;
    it.seq = seq;
    return it;
}

/* takes(): the ids listed in arg (a NULL-terminated array) take the unit. */
static bool takes_listed(const char *job_id, void *arg)
{
    for (const char *const *p = arg; *p; p++)
        if (strcmp(*p, job_id) == 0)
            return true;
    return false;
}

static int calls;
static bool count_takes(const char *job_id, void *arg)
{
    calls++;
    return takes_listed(job_id, arg);
}

START_TEST(test_yield_to_earlier_job)
{
    jobq_item q[] = {item("crit", SEV_CRITICAL, 5), item("high", SEV_HIGH, 1),
                     item("low-1", SEV_LOW, 2), item("low-2", SEV_LOW, 3)};
    const char *none[] = {NULL};
    const char *crit_takes[] = {"crit", NULL};
    const char *high_takes[] = {"high", NULL};
    jobq_item self = q[3];

    ck_assert(!policy_queue_yields(q, 4, &self, takes_listed, none));
    ck_assert(policy_queue_yields(q, 4, &self, takes_listed, crit_takes));
    ck_assert(policy_queue_yields(q, 4, &self, takes_listed, high_takes));
    /* The first in line never yields. */
    self = q[0];
    ck_assert(!policy_queue_yields(q, 4, &self, takes_listed, crit_takes));
    /* Not yet queued (a fresh submission): everything ahead is asked. */
    self = item("fresh", SEV_LOW, 9);
    ck_assert(policy_queue_yields(q, 4, &self, takes_listed, high_takes));
    /* A fresh critical job is ahead of everything but an older critical. */
    self = item("fresh", SEV_CRITICAL, 9);
    ck_assert(policy_queue_yields(q, 4, &self, takes_listed, crit_takes));
    ck_assert(!policy_queue_yields(q, 4, &self, takes_listed, high_takes));
    ck_assert(!policy_queue_yields(NULL, 0, &self, takes_listed, high_takes));
}
END_TEST

START_TEST(test_yield_stops_at_self)
{
    jobq_item q[] = {item("a", SEV_HIGH, 1), item("b", SEV_HIGH, 2), item("c", SEV_HIGH, 3)};
    const char *c_takes[] = {"c", NULL};
    jobq_item self = q[1];

    calls = 0;
    /* "c" could use the unit but is behind "b": never even asked. */
    ck_assert(!policy_queue_yields(q, 3, &self, count_takes, c_takes));
    ck_assert_int_eq(calls, 1);
}
END_TEST

/* Against a brute-force statement of the rule over random queues. */
START_TEST(test_yield_property)
{
    uint64_t rng = 11;

    for (int round = 0; round < 2000; round++) {
        jobqueue *jq = jobq_new();
        jobq_item head[32], self;
        const char *takers[33];
        size_t nt = 0, n;
        char ids[32][16];
        unsigned count = 1 + (unsigned)unit_below(&rng, 30);

        for (unsigned i = 0; i < count; i++) {
            snprintf(ids[i], sizeof(ids[i]), "j%u", i);
            jobq_push(jq, ids[i], (severity)unit_below(&rng, 4), i + 1);
            if (unit_below(&rng, 4) == 0)
                takers[nt++] = ids[i];
        }
        takers[nt] = NULL;
        n = jobq_snapshot(jq, head, 32);
        self = head[unit_below(&rng, n)];
        bool want = false;
        for (size_t i = 0; i < n; i++) {
            bool ahead =
                head[i].sev > self.sev || (head[i].sev == self.sev && head[i].seq < self.seq);
            if (ahead && takes_listed(head[i].id, takers))
                want = true;
        }
        ck_assert_int_eq(policy_queue_yields(head, n, &self, takes_listed, takers), want);
        jobq_free(jq);
    }
}
END_TEST

static const char *const FIRE[] = {"firefighting", "rescue"};
static const char *const EMS[] = {"medical"};
static const char *const NEED_FIRE[] = {"firefighting"};

static preempt_candidate pc(const char *unit, const char *job, severity sev, bool own, bool usable,
                            const char *const *caps, size_t ncaps)
{
    preempt_candidate c = {unit, job, 1, sev, own, usable, caps, ncaps};

    return c;
}

START_TEST(test_preempt_only_in_emergency)
{
    preempt_candidate c[] = {pc("LAFD-1", "J-low", SEV_LOW, true, true, FIRE, 2)};

    ck_assert(!policy_may_preempt(SEV_LOW, SEV_CRITICAL));
    ck_assert(!policy_may_preempt(SEV_MEDIUM, SEV_CRITICAL));
    ck_assert(policy_may_preempt(SEV_HIGH, SEV_CRITICAL));
    ck_assert(policy_may_preempt(SEV_CRITICAL, SEV_CRITICAL));
    ck_assert(!policy_may_preempt(SEV_CRITICAL, SEV_HIGH));
    ck_assert_int_eq(policy_preempt_victim(c, 1, SEV_MEDIUM, SEV_CRITICAL, NEED_FIRE, 1), -1);
    ck_assert_int_eq(policy_preempt_victim(c, 1, SEV_HIGH, SEV_HIGH, NEED_FIRE, 1), -1);
    ck_assert_int_eq(policy_preempt_victim(c, 1, SEV_HIGH, SEV_CRITICAL, NEED_FIRE, 1), 0);
}
END_TEST

START_TEST(test_preempt_victim_rules)
{
    preempt_candidate c[] = {
        pc("LAFD-3", "J-med", SEV_MEDIUM, true, true, FIRE, 2), /* not low */
        pc("EMS-1", "J-low-ems", SEV_LOW, true, true, EMS, 1),  /* cannot fight fire */
        pc("LAFD-0", "J-lent", SEV_LOW, false, true, FIRE, 2),  /* a claim, not ours */
        pc("LAFD-00", "J-lost", SEV_LOW, true, false, FIRE, 2), /* unit lost */
        pc("LAFD-7", "J-b", SEV_LOW, true, true, FIRE, 2),
        pc("LAFD-5", "J-z", SEV_LOW, true, true, FIRE, 2),
        pc("LAFD-5", "J-a", SEV_LOW, true, true, FIRE, 2), /* lowest unit, lowest job */
    };

    ck_assert_int_eq(policy_preempt_victim(c, 7, SEV_CRITICAL, SEV_CRITICAL, NEED_FIRE, 1), 6);
    ck_assert_int_eq(policy_preempt_victim(c, 4, SEV_CRITICAL, SEV_CRITICAL, NEED_FIRE, 1), -1);
    ck_assert_int_eq(policy_preempt_victim(NULL, 0, SEV_CRITICAL, SEV_CRITICAL, NEED_FIRE, 1), -1);
}
END_TEST

/* The victim is the same whatever order the holds are listed in. */
START_TEST(test_preempt_order_independent)
{
    uint64_t rng = 5;
    char units[40][16], jobs[40][16];

    for (int round = 0; round < 500; round++) {
        preempt_candidate c[40], s[40];
        size_t n = 1 + (size_t)unit_below(&rng, 40);

        for (size_t i = 0; i < n; i++) {
            snprintf(units[i], sizeof(units[i]), "U%02u", (unsigned)unit_below(&rng, 10));
            snprintf(jobs[i], sizeof(jobs[i]), "J%02u", (unsigned)i);
            bool fire = unit_below(&rng, 3) != 0;

            c[i] = pc(units[i], jobs[i], (severity)unit_below(&rng, 2), unit_below(&rng, 4) != 0,
                      unit_below(&rng, 4) != 0, fire ? FIRE : EMS, fire ? 2 : 1);
        }
        long v = policy_preempt_victim(c, n, SEV_HIGH, SEV_CRITICAL, NEED_FIRE, 1);
        for (size_t i = 0; i < n; i++)
            s[i] = c[n - 1 - i];
        long w = policy_preempt_victim(s, n, SEV_HIGH, SEV_CRITICAL, NEED_FIRE, 1);
        ck_assert_int_eq(v < 0, w < 0);
        if (v >= 0) {
            ck_assert_str_eq(c[v].job_id, s[w].job_id);
            for (size_t i = 0; i < n; i++) {
                bool ok = c[i].own_active && c[i].unit_usable && c[i].sev == SEV_LOW &&
                          caps_match(NEED_FIRE, 1, c[i].unit_caps, c[i].nunit_caps);
                if (ok)
                    ck_assert_int_le(strcmp(c[v].unit_id, c[i].unit_id), 0);
            }
        }
    }
}
END_TEST

Suite *unit_suite(void)
{
    Suite *s = suite_create("policy");
    TCase *y = unit_tcase("queue_yield");
    TCase *p = unit_tcase("preempt");

    tcase_add_test(y, test_yield_to_earlier_job);
    tcase_add_test(y, test_yield_stops_at_self);
    tcase_add_test(y, test_yield_property);
    suite_add_tcase(s, y);
    tcase_add_test(p, test_preempt_only_in_emergency);
    tcase_add_test(p, test_preempt_victim_rules);
    tcase_add_test(p, test_preempt_order_independent);
    suite_add_tcase(s, p);
    return s;
}
