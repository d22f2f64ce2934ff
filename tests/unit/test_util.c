#include <string.h>

#include "coord.h"
#include "unit.h"

START_TEST(test_id_length_limits)
{
    char id[COORD_ID_MAX + 2];

    memset(id, 'x', COORD_ID_MAX);
    id[COORD_ID_MAX] = '\0';
    ck_assert(coord_id_valid(id));
    id[COORD_ID_MAX] = 'x';
    id[COORD_ID_MAX + 1] = '\0';
    ck_assert(!coord_id_valid(id));
    ck_assert(coord_id_valid("a"));
    ck_assert(!coord_id_valid(""));
    ck_assert(!coord_id_valid(NULL));
}
END_TEST

START_TEST(test_id_charset)
{
    const char *good[] = {"LAFD-1", "EMS_3", "job.2024-01-01", "A-Za-z0-9._-", "0", "...", "-"};
    const char *bad[] = {"a b",   "a/b",  "a\\b",
                         "a:b",   "a@b",  "caf\xc3\xa9",
                         "a\tb",  "a\nb", "'; DROP TABLE units; --",
                         "a%20b", "a+b",  "{}",
                         "a\x7f"};

    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        ck_assert_msg(coord_id_valid(good[i]), "%s", good[i]);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ck_assert_msg(!coord_id_valid(bad[i]), "%s", bad[i]);
}
END_TEST

START_TEST(test_id_every_byte)
{
    char id[2] = {0, 0};
    int ok = 0;

    for (int c = 1; c < 256; c++) {
        id[0] = (char)c;
        if (coord_id_valid(id))
            ok++;
    }
    /* Every letter, digit, '_' and '-'; '.' only with company. */
    ck_assert_int_eq(ok, 26 + 26 + 10 + 2);
}
END_TEST

/* "." and ".." are path segments every HTTP client rewrites away
 * (RFC 3986 remove_dot_segments): an incident or unit with such an id could
 * never be looked up, reported or cancelled. */
START_TEST(test_id_dot_segments)
{
    const char *bad[] = {".", ".."};
    const char *good[] = {"...", ".a", "a.", "..a", "a..", "._", "-.", ".-."};

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ck_assert_msg(!coord_id_valid(bad[i]), "'%s' accepted", bad[i]);
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        ck_assert_msg(coord_id_valid(good[i]), "'%s' refused", good[i]);
}
END_TEST

START_TEST(test_duration_ok)
{
    static const struct {
        const char *in;
        uint64_t ms;
    } cases[] = {
        {"500ms", 500},           {"3s", 3000},      {"1m", 60000},       {"2h", 7200000},
        {"250ms", 250},           {"24h", 86400000}, {"1440m", 86400000}, {"86400s", 86400000},
        {"86400000ms", 86400000}, {"007s", 7000},    {"1ms", 1},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        uint64_t out = 0;

        ck_assert_msg(coord_parse_duration_ms(cases[i].in, &out) == COORD_OK, "%s", cases[i].in);
        ck_assert_uint_eq(out, cases[i].ms);
    }
}
END_TEST

START_TEST(test_duration_garbage)
{
    const char *bad[] = {"", "-5s", "+5s", "5x", "5 s", " 5s", "5s ", "s", "5S", "1.5s", "5sec",
                         "ms", "5mss", "5hm", "0x10", "5e3", "five", "5ms5", NULL,
                         /* no unit: 3 ms and 3 s are both plausible readings */
                         "3", "250", "0", "86400001", "99999999999999999999999"};

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        uint64_t out = 12345;

        ck_assert_msg(coord_parse_duration_ms(bad[i], &out) == COORD_E_INVAL, "%s",
                      bad[i] ? bad[i] : "(null)");
        ck_assert_uint_eq(out, 12345);
    }
    ck_assert_int_eq(coord_parse_duration_ms("5s", NULL), COORD_E_INVAL);
}
END_TEST

START_TEST(test_duration_range)
{
    const char *bad[] = {"0ms",
                         "0s",
                         "0h",
                         "25h",
                         "86400001ms",
                         "1441m",
                         "86401s",
                         "4294967296h",
                         "99999999999999999999999ms",
                         "18446744073709551616ms"};

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        uint64_t out = 12345;

        ck_assert_msg(coord_parse_duration_ms(bad[i], &out) == COORD_E_RANGE, "%s", bad[i]);
        ck_assert_uint_eq(out, 12345);
    }
    /* Too big and garbage at once is garbage: the suffix decides first. */
    ck_assert_int_eq(coord_parse_duration_ms("99999999999999999999x", &(uint64_t){0}),
                     COORD_E_INVAL);
}
END_TEST

START_TEST(test_duration_flag_message)
{
    char err[200] = "";
    uint64_t out = 12345;

    ck_assert_int_eq(coord_parse_duration_flag("--failure-timeout", "3", &out, err, sizeof(err)),
                     -1);
    ck_assert_uint_eq(out, 12345);
    ck_assert_msg(strstr(err, "--failure-timeout") && strstr(err, "no unit") &&
                      strstr(err, "ms, s, m"),
                  "%s", err);
    ck_assert_int_eq(coord_parse_duration_flag("--poll-interval", "25h", &out, err, sizeof(err)),
                     -1);
    ck_assert_msg(strstr(err, "--poll-interval") && strstr(err, "out of range"), "%s", err);
    ck_assert_int_eq(coord_parse_duration_flag("--poll-interval", "5x", &out, err, sizeof(err)),
                     -1);
    ck_assert_msg(strstr(err, "--poll-interval") && strstr(err, "'5x'"), "%s", err);
    ck_assert_int_eq(coord_parse_duration_flag("--x", "3s", &out, err, sizeof(err)), 0);
    ck_assert_uint_eq(out, 3000);
}
END_TEST

START_TEST(test_digest_vectors)
{
    /* Published FNV-1a 64 test vectors. */
    ck_assert_uint_eq(coord_digest("", 0), 0xcbf29ce484222325ULL);
    ck_assert_uint_eq(coord_digest("a", 1), 0xaf63dc4c8601ec8cULL);
    ck_assert_uint_eq(coord_digest("foobar", 6), 0x85944171f73967e8ULL);
    ck_assert_uint_eq(coord_digest(NULL, 0), 0xcbf29ce484222325ULL);
    ck_assert_uint_ne(coord_digest("contained", 9), coord_digest("contained ", 10));
}
END_TEST

START_TEST(test_next_token)
{
    const char *list = ",a,,bc, d,", *cur = list, *tok = NULL;
    size_t len = 0;
    char got[8][8];
    size_t n = 0;

    while (coord_next_token(&cur, ", ", &tok, &len)) {
        ck_assert_uint_lt(n, 8);
        snprintf(got[n++], sizeof(got[0]), "%.*s", (int)len, tok);
    }
    ck_assert_uint_eq(n, 3);
    ck_assert_str_eq(got[0], "a");
    ck_assert_str_eq(got[1], "bc");
    ck_assert_str_eq(got[2], "d");
    ck_assert_str_eq(list, ",a,,bc, d,"); /* never written */
    /* At the end, and for an empty or all-delimiter list, the outputs stay. */
    tok = "x";
    len = 7;
    cur = ",,";
    ck_assert(!coord_next_token(&cur, ",", &tok, &len));
    ck_assert_str_eq(tok, "x");
    ck_assert_uint_eq(len, 7);
    cur = NULL;
    ck_assert(!coord_next_token(&cur, ",", &tok, &len));
}
END_TEST

START_TEST(test_clocks)
{
    uint64_t m1 = coord_now_mono_ms(), m2 = coord_now_mono_ms();

    ck_assert_uint_le(m1, m2);
    /* 2020-01-01 in ms: catches a seconds/ms mixup. */
    ck_assert_uint_gt(coord_now_wall_ms(), 1577836800000ULL);
}
END_TEST

Suite *unit_suite(void)
{
    Suite *s = suite_create("util");
    TCase *ids = unit_tcase("ids");
    TCase *dur = unit_tcase("durations");
    TCase *misc = unit_tcase("misc");

    tcase_add_test(ids, test_id_length_limits);
    tcase_add_test(ids, test_id_charset);
    tcase_add_test(ids, test_id_every_byte);
    tcase_add_test(ids, test_id_dot_segments);
    suite_add_tcase(s, ids);

    tcase_add_test(dur, test_duration_ok);
    tcase_add_test(dur, test_duration_garbage);
    tcase_add_test(dur, test_duration_range);
    tcase_add_test(dur, test_duration_flag_message);
    suite_add_tcase(s, dur);

    tcase_add_test(misc, test_digest_vectors);
    tcase_add_test(misc, test_next_token);
    tcase_add_test(misc, test_clocks);
    suite_add_tcase(s, misc);
    return s;
}
