#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coord.h"
#include "unit.h"

START_TEST(test_put_get_replace)
{
    hmap *m = hmap_new();
    int a = 1, b = 2;
    void *old = &a;

    ck_assert_ptr_nonnull(m);
    ck_assert_ptr_null(hmap_get(m, "k"));
    ck_assert_int_eq(hmap_put(m, "k", &a, &old), COORD_OK);
    ck_assert_ptr_null(old);
    ck_assert_ptr_eq(hmap_get(m, "k"), &a);
    ck_assert_int_eq(hmap_put(m, "k", &b, &old), COORD_OK);
    ck_assert_ptr_eq(old, &a);
    ck_assert_ptr_eq(hmap_get(m, "k"), &b);
    ck_assert_uint_eq(hmap_size(m), 1);
    ck_assert_int_eq(hmap_put(m, "", &a, NULL), COORD_OK); /* any string is a key */
    ck_assert_ptr_eq(hmap_get(m, ""), &a);
    hmap_free(m, NULL);
}
END_TEST

START_TEST(test_del)
{
    hmap *m = hmap_new();
    int a = 1;

    hmap_put(m, "x", &a, NULL);
    ck_assert_ptr_eq(hmap_del(m, "x"), &a);
    ck_assert_ptr_null(hmap_del(m, "x"));
    ck_assert_ptr_null(hmap_get(m, "x"));
    ck_assert_uint_eq(hmap_size(m), 0);
    ck_assert_int_eq(hmap_put(m, "x", &a, NULL), COORD_OK);
    ck_assert_ptr_eq(hmap_get(m, "x"), &a);
    hmap_free(m, NULL);
}
END_TEST

START_TEST(test_keys_copied)
{
    hmap *m = hmap_new();
    char key[16] = "unit-1";
    int a = 1;

    hmap_put(m, key, &a, NULL);
    snprintf(key, sizeof(key), "unit-2");
    ck_assert_ptr_eq(hmap_get(m, "unit-1"), &a);
    ck_assert_ptr_null(hmap_get(m, "unit-2"));
    hmap_free(m, NULL);
}
END_TEST

START_TEST(test_grow)
{
    enum { N = 20000 };
    hmap *m = hmap_new();
    char key[32];

    for (uintptr_t i = 0; i < N; i++) {
        snprintf(key, sizeof(key), "job-%lu", (unsigned long)i);
        ck_assert_int_eq(hmap_put(m, key, (void *)(i + 1), NULL), COORD_OK);
    }
    ck_assert_uint_eq(hmap_size(m), N);
    for (uintptr_t i = 0; i < N; i++) {
        snprintf(key, sizeof(key), "job-%lu", (unsigned long)i);
        ck_assert_ptr_eq(hmap_get(m, key), (void *)(i + 1));
    }
    ck_assert_ptr_null(hmap_get(m, "job-x"));
    hmap_free(m, NULL);
}
END_TEST

/* Many put/del cycles over a small key set: tombstones must not pile up
 * or hide live keys. Checked against a plain array. */
START_TEST(test_churn_against_reference)
{
    enum { KEYS = 300 };
    static uintptr_t ref[KEYS]; /* 0: absent */
    hmap *m = hmap_new();
    uint64_t rng = 11;
    size_t live = 0;
    char key[32];

    for (int step = 0; step < 200000; step++) {
        size_t k = unit_below(&rng, KEYS);

        snprintf(key, sizeof(key), "k%zu", k);
        if (unit_below(&rng, 2)) {
            uintptr_t v = (uintptr_t)step + 1;

            ck_assert_int_eq(hmap_put(m, key, (void *)v, NULL), COORD_OK);
            live += ref[k] == 0;
            ref[k] = v;
        } else {
            ck_assert_ptr_eq(hmap_del(m, key), (void *)ref[k]);
            live -= ref[k] != 0;
            ref[k] = 0;
        }
        ck_assert_uint_eq(hmap_size(m), live);
    }
    for (size_t k = 0; k < KEYS; k++) {
        snprintf(key, sizeof(key), "k%zu", k);
        ck_assert_ptr_eq(hmap_get(m, key), (void *)ref[k]);
    }
    hmap_free(m, NULL);
}
END_TEST

START_TEST(test_iterate)
{
    enum { N = 500 };
    static int hits[N];
    hmap *m = hmap_new();
    const char *k;
    void *v;
    size_t it = 0, count = 0;
    char key[16];

    for (uintptr_t i = 0; i < N; i++) {
        snprintf(key, sizeof(key), "%lu", (unsigned long)i);
        hmap_put(m, key, (void *)i, NULL);
    }
    for (uintptr_t i = 0; i < N; i += 2) {
        snprintf(key, sizeof(key), "%lu", (unsigned long)i);
        hmap_del(m, key);
    }
    while (hmap_next(m, &it, &k, &v)) {
        uintptr_t i = (uintptr_t)v;

        ck_assert_uint_eq(i % 2, 1);
        ck_assert_uint_eq(strtoul(k, NULL, 10), i);
        hits[i]++;
        count++;
    }
    ck_assert_uint_eq(count, N / 2);
    for (int i = 1; i < N; i += 2)
        ck_assert_int_eq(hits[i], 1);
    ck_assert(!hmap_next(m, &it, &k, &v)); /* stays at the end */
    hmap_free(m, NULL);
}
END_TEST

static int freed;

static void count_free(void *p)
{
    freed++;
    free(p);
}

START_TEST(test_free_val)
{
    hmap *m = hmap_new();
    char key[16];

    for (int i = 0; i < 100; i++) {
        snprintf(key, sizeof(key), "%d", i);
        hmap_put(m, key, malloc(8), NULL);
    }
    free(hmap_del(m, "7"));
    freed = 0;
    hmap_free(m, count_free);
    ck_assert_int_eq(freed, 99);
}
END_TEST

START_TEST(test_null_args)
{
    hmap *m = hmap_new();
    size_t it = 0;

    ck_assert_int_eq(hmap_put(NULL, "k", NULL, NULL), COORD_E_INVAL);
    ck_assert_int_eq(hmap_put(m, NULL, NULL, NULL), COORD_E_INVAL);
    ck_assert_ptr_null(hmap_get(NULL, "k"));
    ck_assert_ptr_null(hmap_get(m, NULL));
    ck_assert_ptr_null(hmap_del(NULL, "k"));
    ck_assert_uint_eq(hmap_size(NULL), 0);
    ck_assert(!hmap_next(NULL, &it, NULL, NULL));
    ck_assert(!hmap_next(m, &it, NULL, NULL));
    hmap_free(m, NULL);
    hmap_free(NULL, free);
}
END_TEST

Suite *unit_suite(void)
{
    Suite *s = suite_create("hmap");
    TCase *tc = unit_tcase("core");

    tcase_add_test(tc, test_put_get_replace);
    tcase_add_test(tc, test_del);
    tcase_add_test(tc, test_keys_copied);
    tcase_add_test(tc, test_grow);
    tcase_add_test(tc, test_churn_against_reference);
    tcase_add_test(tc, test_iterate);
    tcase_add_test(tc, test_free_val);
    tcase_add_test(tc, test_null_args);
    suite_add_tcase(s, tc);
    return s;
}
