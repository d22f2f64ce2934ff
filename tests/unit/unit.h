/* Shared scaffolding for the libcoord Check suites. Each test_*.c defines
 * unit_suite(); runner.c runs it, so every suite is its own executable and
 * meson test runs them in parallel. */
#ifndef UNIT_H
#define UNIT_H

#include <check.h>
#include <stdint.h>

/* Generous: the suites also run under ASan+UBSan on slow CI machines. */
#define UNIT_TIMEOUT_S 120

Suite *unit_suite(void);

static inline TCase *unit_tcase(const char *name)
{
    TCase *tc = tcase_create(name);

    tcase_set_timeout(tc, UNIT_TIMEOUT_S);
    return tc;
}

/* splitmix64: tiny, seedable and good enough for property tests; a fixed
 * seed makes every failure reproducible. */
static inline uint64_t unit_rand(uint64_t *rng)
{
    uint64_t z = (*rng += 0x9e3779b97f4a7c15ULL);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* Uniform enough in [0, n) for test data. */
static inline uint64_t unit_below(uint64_t *rng, uint64_t n)
{
    return unit_rand(rng) % n;
}

#endif
