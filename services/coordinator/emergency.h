/* The city-wide emergency level: its values, their wire names and how the
 * level is shown. Pure; declaring and pushing it is handlers_emergency.c. */
#ifndef COORDINATOR_EMERGENCY_H
#define COORDINATOR_EMERGENCY_H

#include <jansson.h>
#include <stdint.h>

typedef enum emergency_level {
    EMERG_LOW = 0,
    EMERG_MEDIUM,
    EMERG_HIGH,
    EMERG_CRITICAL
} emergency_level;
extern const char *const emergency_level_names[]; /* NULL-terminated, by enum value */

/* 0 and *out, or -1 (out untouched) for a name that is not a level. */
int emergency_level_parse(const char *s, emergency_level *out);

/* {"level": name, "set_at": ISO time or null when never declared (set_ms
 * 0)}; new reference. */
json_t *emergency_json(emergency_level level, uint64_t set_ms);

#endif
