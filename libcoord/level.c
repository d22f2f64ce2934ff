/* The emergency level's adoption rule (level.h). */
#include "level.h"

#include <stddef.h>

/* a is within the skew window around now. */
static bool recent(uint64_t a, uint64_t now)
{
    return a <= now + LEVEL_MAX_SKEW_MS && a + LEVEL_MAX_SKEW_MS >= now;
}

bool level_adopt(level_source src, uint64_t set_ms, const level_view *v)
{
    if (!v)
        return false;
    switch (src) {
    case LEVEL_PUSH:
        return true;
    case LEVEL_REPLY:
        return set_ms && !(set_ms < v->held_ms && recent(v->held_ms, v->now_ms));
    case LEVEL_RELAY:
        return set_ms > v->held_ms && set_ms <= v->now_ms + LEVEL_MAX_SKEW_MS &&
               set_ms + LEVEL_MAX_SKEW_MS >= v->heard_ms;
    }
    return false;
}
