/* The emergency level's adoption rule: the coordinator's word wins, a
 * peer's relay spreads a level but can never pin it (issue 9 item 7). */
#include "coord.h"
#include "unit.h"

#define NOW  1800000000000ULL /* a wall clock in ms */
#define SKEW LEVEL_MAX_SKEW_MS

static level_view view(uint64_t held, uint64_t heard)
{
    level_view v = {held, heard, NOW};
    return v;
}

START_TEST(test_push_always_applies)
{
    level_view v = view(NOW + 10 * SKEW, NOW);

    ck_assert(level_adopt(LEVEL_PUSH, NOW - 1000, &v));
    ck_assert(level_adopt(LEVEL_PUSH, 0, &v));
    v = view(0, 0);
    ck_assert(level_adopt(LEVEL_PUSH, NOW, &v));
    ck_assert(!level_adopt(LEVEL_PUSH, NOW, NULL));
}
END_TEST

START_TEST(test_reply_is_authoritative)
{
    level_view v = view(NOW - 60000, NOW - 2000);

    /* Newer or equal: taken. */
    ck_assert(level_adopt(LEVEL_REPLY, NOW - 60000, &v));
    ck_assert(level_adopt(LEVEL_REPLY, NOW - 1000, &v));
    /* Older than a declaration held for a minute: the coordinator does not
     * know it (a relay it never made, or a lost database): its word wins. */
    ck_assert(level_adopt(LEVEL_REPLY, NOW - 90000, &v));
    /* Older than one held for a second: perhaps a push this reply predates. */
    v = view(NOW - 1000, NOW - 1000);
    ck_assert(!level_adopt(LEVEL_REPLY, NOW - 90000, &v));
    ck_assert(level_adopt(LEVEL_REPLY, NOW - 1000, &v));
    /* A stamp held from the future is refuted at once. */
    v = view(NOW + 10 * 365 * 86400000ULL, NOW);
    ck_assert(level_adopt(LEVEL_REPLY, NOW - 90000, &v));
    /* The coordinator has declared nothing yet. */
    ck_assert(!level_adopt(LEVEL_REPLY, 0, &v));
}
END_TEST

START_TEST(test_relay_spreads_newer_levels)
{
    level_view v = view(NOW - 60000, 0);

    ck_assert(level_adopt(LEVEL_RELAY, NOW - 1000, &v));
    ck_assert(level_adopt(LEVEL_RELAY, NOW + SKEW, &v));
    ck_assert(!level_adopt(LEVEL_RELAY, NOW - 60000, &v)); /* the one held */
    ck_assert(!level_adopt(LEVEL_RELAY, NOW - 90000, &v)); /* older */
    ck_assert(!level_adopt(LEVEL_RELAY, 0, &v));
}
END_TEST

START_TEST(test_relay_cannot_pin_the_level)
{
    level_view v = view(NOW - 60000, 0);

    /* From the future: it would beat every later declaration. */
    ck_assert(!level_adopt(LEVEL_RELAY, NOW + SKEW + 1, &v));
    ck_assert(!level_adopt(LEVEL_RELAY, NOW + 10 * 365 * 86400000ULL, &v));
    ck_assert(!level_adopt(LEVEL_RELAY, UINT64_MAX - 1, &v));
    /* Declared before the coordinator last spoke, yet not what it said. */
    v = view(NOW - 60000, NOW - 1000);
    ck_assert(!level_adopt(LEVEL_RELAY, NOW - 1000 - SKEW - 1, &v));
    ck_assert(level_adopt(LEVEL_RELAY, NOW - 1000 - SKEW, &v));
}
END_TEST

/* Whatever a peer relays, two words from the coordinator more than twice
 * the skew apart leave its declaration held, and the relay is not taken
 * again: no stamp pins the level. */
START_TEST(prop_coordinator_word_returns)
{
    uint64_t rng = 0x1e7e1;

    for (int r = 0; r < 5000; r++) {
        uint64_t word = NOW - unit_below(&rng, 600000);
        uint64_t forged = NOW - 600000 + unit_below(&rng, 20 * 60000);
        level_view v = {word, NOW - unit_below(&rng, 4000), NOW};

        if (level_adopt(LEVEL_RELAY, forged, &v))
            v.held_ms = forged;
        v.heard_ms = NOW;
        if (level_adopt(LEVEL_REPLY, word, &v))
            v.held_ms = word;
        v.heard_ms = v.now_ms = NOW + 2 * SKEW + 1;
        if (level_adopt(LEVEL_REPLY, word, &v))
            v.held_ms = word;
        ck_assert_msg(v.held_ms == word, "relayed %llu still held over the coordinator's %llu",
                      (unsigned long long)forged, (unsigned long long)word);
        ck_assert(!level_adopt(LEVEL_RELAY, forged, &v) || forged > NOW + SKEW + 1);
    }
}
END_TEST

Suite *unit_suite(void)
{
    Suite *s = suite_create("level");
    TCase *tc = unit_tcase("rule");

    tcase_add_test(tc, test_push_always_applies);
    tcase_add_test(tc, test_reply_is_authoritative);
    tcase_add_test(tc, test_relay_spreads_newer_levels);
    tcase_add_test(tc, test_relay_cannot_pin_the_level);
    tcase_add_test(tc, prop_coordinator_word_returns);
    suite_add_tcase(s, tc);
    return s;
}
