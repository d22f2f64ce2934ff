/* api/json_scan.c: the members and elements of a JSON text as spans,
 * found whatever one part holds (too deep for jansson, not a value at
 * all inside a sound structure). */
#include "check_main.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"

static json_span span_of(const char *s)
{
    return (json_span){s, strlen(s)};
}

struct seen {
    char keys[16][32];
    char vals[16][256];
    size_t n;
    int stop_at; /* stop with -7 at this item (0: never) */
};

static void keep(struct seen *w, json_span k, json_span v)
{
    snprintf(w->keys[w->n], sizeof(w->keys[0]), "%.*s", (int)k.len, k.p);
    snprintf(w->vals[w->n], sizeof(w->vals[0]), "%.*s", (int)v.len, v.p);
    w->n++;
}

static int on_member(void *arg, json_span key, json_span value)
{
    struct seen *w = arg;

    keep(w, key, value);
    return w->stop_at && (int)w->n == w->stop_at ? -7 : 0;
}

static int on_element(void *arg, json_span value)
{
    struct seen *w = arg;

    keep(w, (json_span){"", 0}, value);
    return 0;
}

START_TEST(test_members_and_elements)
{
    const char *t = " {\"a\" : 1, \"b\":\"x,}\\\"]\",\"c\":[1,{\"d\":[]},\"]\"], \"e\":{}, "
                    "\"f\":null,\"g\":-2.5e3 }\n";
    struct seen w = {0};

    ck_assert_int_eq(json_scan_object(span_of(t), on_member, &w), 0);
    ck_assert_uint_eq(w.n, 6);
    ck_assert_str_eq(w.keys[0], "a");
    ck_assert_str_eq(w.vals[0], "1");
    ck_assert_str_eq(w.vals[1], "\"x,}\\\"]\"");
    ck_assert_str_eq(w.keys[2], "c");
    ck_assert_str_eq(w.vals[2], "[1,{\"d\":[]},\"]\"]");
    ck_assert_str_eq(w.vals[3], "{}");
    ck_assert_str_eq(w.vals[4], "null");
    ck_assert_str_eq(w.vals[5], "-2.5e3");
    ck_assert(json_span_is((json_span){t + 3, 1}, "a"));
    ck_assert(!json_span_is((json_span){t + 3, 1}, "ab"));

    struct seen e = {0};
    json_span arr = span_of("[ {\"id\":1} ,[2], \"s\",3 ]");
    ck_assert_int_eq(json_scan_array(arr, on_element, &e), 0);
    ck_assert_uint_eq(e.n, 4);
    ck_assert_str_eq(e.vals[0], "{\"id\":1}");
    ck_assert_str_eq(e.vals[1], "[2]");
    ck_assert_str_eq(e.vals[2], "\"s\"");
    ck_assert_str_eq(e.vals[3], "3");
    struct seen none = {0};
    ck_assert_int_eq(json_scan_array(span_of("[ ]"), on_element, &none), 0);
    ck_assert_uint_eq(none.n, 0);
    ck_assert_int_eq(json_scan_object(span_of("{}"), on_member, &none), 0);
    /* The callback stops the scan with its own value. */
    struct seen stop = {.stop_at = 2};
    ck_assert_int_eq(json_scan_object(span_of("{\"a\":1,\"b\":2,\"c\":3}"), on_member, &stop), -7);
    ck_assert_uint_eq(stop.n, 2);
}
END_TEST

/* One part nested past jansson's 2,048 levels: jansson refuses the whole
 * text; the scan finds every part, and the others parse. */
START_TEST(test_one_part_too_deep_for_jansson)
{
    size_t depth = 3000, n = 0;
    char *t = malloc(2 * depth + 64);
    struct seen e = {0};

    n += (size_t)snprintf(t + n, 16, "[{\"id\":1},");
    for (size_t i = 0; i < depth; i++)
        t[n++] = '[';
    for (size_t i = 0; i < depth; i++)
        t[n++] = ']';
    n += (size_t)snprintf(t + n, 16, ",{\"id\":2}]");
    ck_assert_ptr_null(json_loadb(t, n, 0, NULL));
    ck_assert_int_eq(json_scan_array((json_span){t, n}, on_element, &e), 0);
    ck_assert_uint_eq(e.n, 3);
    ck_assert_str_eq(e.vals[0], "{\"id\":1}");
    ck_assert_str_eq(e.vals[2], "{\"id\":2}");
    json_t *ok = json_loads(e.vals[2], 0, NULL);
    ck_assert_ptr_nonnull(ok);
    json_decref(ok);
    free(t);
}
END_TEST

START_TEST(test_not_the_structure)
{
    struct seen w = {0};
    const char *bad_objects[] = {
        "",
        "[]",
        "{",
        "{\"a\"}",
        "{\"a\":}",
        "{\"a\":1,}",
        "{\"a\":1 \"b\":2}",
        "{a:1}",
        "{\"a\":1} x",
        "{\"a\":\"unterminated}",
        "{\"a\":[1,2}",
        "{\"a\":\"x\ny\"}",
        "\"s\"",
    };

    for (size_t i = 0; i < sizeof(bad_objects) / sizeof(bad_objects[0]); i++)
        ck_assert_msg(json_scan_object(span_of(bad_objects[i]), on_member, &w) == -1, "%s",
                      bad_objects[i]);
    ck_assert_int_eq(json_scan_array(span_of("{}"), on_element, &w), -1);
    ck_assert_int_eq(json_scan_array(span_of("[1,]"), on_element, &w), -1);
    ck_assert_int_eq(json_scan_array(span_of("[1] "), on_element, &w), -1);
    ck_assert_int_eq(json_scan_array((json_span){NULL, 0}, on_element, &w), -1);
    /* A part that is no value inside a sound structure is the caller's to
     * refuse: the scan hands it on. */
    struct seen e = {0};
    ck_assert_int_eq(json_scan_array(span_of("[nope, {\"a\":1,}]"), on_element, &e), 0);
    ck_assert_str_eq(e.vals[0], "nope");
    ck_assert_str_eq(e.vals[1], "{\"a\":1,}");
}
END_TEST

Suite *api_suite(void)
{
    Suite *s = suite_create("api_json_scan");
    TCase *tc = tcase_create("scan");
    tcase_add_test(tc, test_members_and_elements);
    tcase_add_test(tc, test_one_part_too_deep_for_jansson);
    tcase_add_test(tc, test_not_the_structure);
    suite_add_tcase(s, tc);
    return s;
}
