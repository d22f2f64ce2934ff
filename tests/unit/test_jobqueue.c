#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coord.h"
#include "unit.h"

static void expect_pop(jobqueue *q, const char *id)
{
    jobq_item it;

    ck_assert_int_eq(jobq_pop(q, &it), COORD_OK);
    ck_assert_str_eq(it.id, id);
}

START_TEST(test_empty)
{
    jobqueue *q = jobq_new();
    jobq_item it;

    memset(&it, 0x11, sizeof(it));
    ck_assert_uint_eq(jobq_size(q), 0);
    ck_assert_int_eq(jobq_peek(q, &it), COORD_E_NOTFOUND);
    ck_assert_int_eq(jobq_pop(q, &it), COORD_E_NOTFOUND);
    ck_assert_uint_eq((unsigned char)it.id[0], 0x11);
    ck_assert_uint_eq(jobq_snapshot(q, &it, 1), 0);
    jobq_free(q);
    jobq_free(NULL);
    ck_assert_uint_eq(jobq_size(NULL), 0);
    ck_assert(!jobq_contains(NULL, "x"));
}
END_TEST

START_TEST(test_severity_then_seq)
{
    jobqueue *q = jobq_new();

    ck_assert_int_eq(jobq_push(q, "low-1", SEV_LOW, 1), COORD_OK);
    ck_assert_int_eq(jobq_push(q, "crit-5", SEV_CRITICAL, 5), COORD_OK);
    ck_assert_int_eq(jobq_push(q, "high-2", SEV_HIGH, 2), COORD_OK);
    ck_assert_int_eq(jobq_push(q, "crit-3", SEV_CRITICAL, 3), COORD_OK);
    ck_assert_int_eq(jobq_push(q, "med-0", SEV_MEDIUM, 0), COORD_OK);
    ck_assert_int_eq(jobq_push(q, "high-1", SEV_HIGH, 1), COORD_OK);
    ck_assert_uint_eq(jobq_size(q), 6);
    jobq_item top;
    ck_assert_int_eq(jobq_peek(q, &top), COORD_OK);
    ck_assert_str_eq(top.id, "crit-3");
    ck_assert_int_eq(top.sev, SEV_CRITICAL);
    ck_assert_uint_eq(top.seq, 3);
    expect_pop(q, "crit-3");
    expect_pop(q, "crit-5");
    expect_pop(q, "high-1");
    expect_pop(q, "high-2");
    expect_pop(q, "med-0");
    expect_pop(q, "low-1");
    ck_assert_uint_eq(jobq_size(q), 0);
    jobq_free(q);
}
END_TEST

START_TEST(test_remove)
{
    jobqueue *q = jobq_new();
    char id[10][16]; /* the queue borrows them */

    for (int i = 0; i < 10; i++) {
        snprintf(id[i], sizeof(id[i]), "j%d", i);
        ck_assert_int_eq(jobq_push(q, id[i], (severity)(i % 4), (uint64_t)i), COORD_OK);
    }
    ck_assert_int_eq(jobq_remove(q, "j3"), COORD_OK); /* the top: critical, seq 3 */
    ck_assert_int_eq(jobq_remove(q, "j4"), COORD_OK);
    ck_assert_int_eq(jobq_remove(q, "j4"), COORD_E_NOTFOUND);
    ck_assert_int_eq(jobq_remove(q, "nope"), COORD_E_NOTFOUND);
    ck_assert_int_eq(jobq_remove(q, NULL), COORD_E_NOTFOUND);
    ck_assert(!jobq_contains(q, "j3"));
    ck_assert(jobq_contains(q, "j7"));
    ck_assert_uint_eq(jobq_size(q), 8);
    expect_pop(q, "j7");
    expect_pop(q, "j2");
    expect_pop(q, "j6");
    expect_pop(q, "j1");
    expect_pop(q, "j5");
    expect_pop(q, "j9");
    expect_pop(q, "j0");
    expect_pop(q, "j8");
    jobq_free(q);
}
END_TEST

START_TEST(test_duplicates_and_bad_input)
{
    jobqueue *q = jobq_new();

    ck_assert_int_eq(jobq_push(q, "fire-A", SEV_CRITICAL, 1), COORD_OK);
    ck_assert_int_eq(jobq_push(q, "fire-A", SEV_LOW, 2), COORD_E_EXISTS);
    ck_assert_int_eq(jobq_push(q, "bad id", SEV_LOW, 2), COORD_E_INVAL);
    ck_assert_int_eq(jobq_push(q, "", SEV_LOW, 2), COORD_E_INVAL);
    ck_assert_int_eq(jobq_push(q, NULL, SEV_LOW, 2), COORD_E_INVAL);
    ck_assert_int_eq(jobq_push(q, "x", (severity)7, 2), COORD_E_INVAL);
    ck_assert_int_eq(jobq_push(NULL, "x", SEV_LOW, 2), COORD_E_INVAL);
    ck_assert_uint_eq(jobq_size(q), 1);
    expect_pop(q, "fire-A");
    /* Once gone it may be queued again (e.g. its unit was lost). */
    ck_assert_int_eq(jobq_push(q, "fire-A", SEV_CRITICAL, 9), COORD_OK);
    jobq_free(q);
}
END_TEST

START_TEST(test_snapshot)
{
    jobqueue *q = jobq_new();
    jobq_item all[8], top[3];

    jobq_push(q, "a", SEV_LOW, 1);
    jobq_push(q, "b", SEV_HIGH, 2);
    jobq_push(q, "c", SEV_CRITICAL, 3);
    jobq_push(q, "d", SEV_HIGH, 4);
    jobq_push(q, "e", SEV_MEDIUM, 5);
    ck_assert_uint_eq(jobq_snapshot(q, all, 8), 5);
    ck_assert_str_eq(all[0].id, "c");
    ck_assert_str_eq(all[1].id, "b");
    ck_assert_str_eq(all[2].id, "d");
    ck_assert_str_eq(all[3].id, "e");
    ck_assert_str_eq(all[4].id, "a");
    ck_assert_uint_eq(jobq_snapshot(q, top, 3), 3);
    ck_assert_str_eq(top[0].id, "c");
    ck_assert_str_eq(top[1].id, "b");
    ck_assert_str_eq(top[2].id, "d");
    ck_assert_uint_eq(jobq_snapshot(q, top, 0), 0);
    ck_assert_uint_eq(jobq_size(q), 5); /* nothing popped */
    jobq_free(q);
}
END_TEST

static int ref_cmp(const void *pa, const void *pb)
{
    const jobq_item *a = pa, *b = pb;

    if (a->sev != b->sev)
        return a->sev > b->sev ? -1 : 1;
    return a->seq < b->seq ? -1 : (a->seq > b->seq ? 1 : 0);
}

/* Random pushes, removes and pops against a sorted reference array. */
START_TEST(test_random_against_reference)
{
    enum { N = 2000 };
    static jobq_item ref[N], snap[N];
    static char ids[20000][24]; /* the queue borrows them: one per push */
    jobqueue *q = jobq_new();
    uint64_t rng = 77, seq = 0;
    size_t nref = 0;

    for (int step = 0; step < 20000; step++) {
        uint64_t op = unit_below(&rng, 10);

        if (op < 5 && nref < N) {
            jobq_item it;

            memset(&it, 0, sizeof(it));
            snprintf(it.id, sizeof(it.id), "job-%llu", (unsigned long long)seq);
            memcpy(ids[seq], it.id, sizeof(ids[seq]));
            it.sev = (severity)unit_below(&rng, 4);
            it.seq = seq;
            ck_assert_int_eq(jobq_push(q, ids[seq++], it.sev, it.seq), COORD_OK);
            ref[nref++] = it;
        } else if (op < 7 && nref > 0) {
            size_t k = unit_below(&rng, nref);

            ck_assert_int_eq(jobq_remove(q, ref[k].id), COORD_OK);
            ref[k] = ref[--nref];
        } else if (nref > 0) {
            jobq_item got;

            qsort(ref, nref, sizeof(ref[0]), ref_cmp);
            ck_assert_int_eq(jobq_pop(q, &got), COORD_OK);
            ck_assert_str_eq(got.id, ref[0].id);
            memmove(&ref[0], &ref[1], (nref - 1) * sizeof(ref[0]));
            nref--;
        }
        ck_assert_uint_eq(jobq_size(q), nref);
    }
    qsort(ref, nref, sizeof(ref[0]), ref_cmp);
    ck_assert_uint_eq(jobq_snapshot(q, snap, N), nref);
    for (size_t i = 0; i < nref; i++)
        ck_assert_str_eq(snap[i].id, ref[i].id);
    if (nref > 10) {
        ck_assert_uint_eq(jobq_snapshot(q, snap, 10), 10);
        for (size_t i = 0; i < 10; i++)
            ck_assert_str_eq(snap[i].id, ref[i].id);
    }
    jobq_free(q);
}
END_TEST

/* The head of a long queue, for every window size, is exactly the first
 * items of the full priority order (the dispatcher's partial snapshot). */
START_TEST(test_partial_snapshot_matches_order)
{
    enum { N = 3000 };
    static jobq_item ref[N], snap[N];
    static char ids[N][16]; /* the queue borrows them */
    jobqueue *q = jobq_new();
    uint64_t rng = 4242;

    for (size_t i = 0; i < N; i++) {
        jobq_item it;

        memset(&it, 0, sizeof(it));
        snprintf(it.id, sizeof(it.id), "j%zu", i);
        memcpy(ids[i], it.id, sizeof(ids[i]));
        it.sev = (severity)unit_below(&rng, 4);
        it.seq = unit_below(&rng, 1000000) * N + i; /* unique, arrival not push order */
        ck_assert_int_eq(jobq_push(q, ids[i], it.sev, it.seq), COORD_OK);
        ref[i] = it;
    }
    qsort(ref, N, sizeof(ref[0]), ref_cmp);
    static const size_t windows[] = {1, 2, 3, 7, 64, 100, 1024, N - 1};
    for (size_t w = 0; w < sizeof(windows) / sizeof(windows[0]); w++) {
        size_t k = windows[w];
        ck_assert_uint_eq(jobq_snapshot(q, snap, k), k);
        for (size_t i = 0; i < k; i++)
            ck_assert_str_eq(snap[i].id, ref[i].id);
    }
    ck_assert_uint_eq(jobq_size(q), N); /* a snapshot never changes the queue */
    jobq_free(q);
}
END_TEST

/* The queue borrows ids: it reads an id only while it is queued. Each id
 * is its own allocation, freed the moment its item leaves, so the
 * sanitizer build catches any later read (the index shifting entries back
 * on removal, a sift comparing with a gone item). */
START_TEST(test_borrowed_ids_read_only_while_queued)
{
    enum { N = 3000 };
    static char *ids[N];
    jobqueue *q = jobq_new();
    uint64_t rng = 99;

    for (size_t i = 0; i < N; i++) {
        ids[i] = malloc(16);
        ck_assert_ptr_nonnull(ids[i]);
        snprintf(ids[i], 16, "b%zu", i);
        ck_assert_int_eq(jobq_push(q, ids[i], (severity)unit_below(&rng, 4), i), COORD_OK);
    }
    /* Removing in random order exercises every probe-run shape. */
    for (size_t i = 0; i < N; i++) {
        size_t k = (size_t)unit_below(&rng, N);

        if (!ids[k])
            continue;
        ck_assert_int_eq(jobq_remove(q, ids[k]), COORD_OK);
        free(ids[k]);
        ids[k] = NULL;
    }
    size_t left = 0;
    for (size_t i = 0; i < N; i++) {
        char probe[16];

        snprintf(probe, sizeof(probe), "b%zu", i); /* a different pointer: found by content */
        ck_assert(jobq_contains(q, probe) == (ids[i] != NULL));
        left += ids[i] != NULL;
    }
    ck_assert_uint_eq(jobq_size(q), left);
    jobq_item it;
    while (jobq_pop(q, &it) == COORD_OK) {
        size_t k = strtoul(it.id + 1, NULL, 10);

        ck_assert_ptr_nonnull(ids[k]);
        ck_assert_str_eq(it.id, ids[k]); /* a copy: good after the free below */
        free(ids[k]);
        ids[k] = NULL;
        left--;
    }
    ck_assert_uint_eq(left, 0);
    jobq_free(q);
}
END_TEST

Suite *unit_suite(void)
{
    Suite *s = suite_create("jobqueue");
    TCase *tc = unit_tcase("core");

    tcase_add_test(tc, test_empty);
    tcase_add_test(tc, test_severity_then_seq);
    tcase_add_test(tc, test_remove);
    tcase_add_test(tc, test_duplicates_and_bad_input);
    tcase_add_test(tc, test_snapshot);
    tcase_add_test(tc, test_partial_snapshot_matches_order);
    tcase_add_test(tc, test_random_against_reference);
    tcase_add_test(tc, test_borrowed_ids_read_only_while_queued);
    suite_add_tcase(s, tc);
    return s;
}
