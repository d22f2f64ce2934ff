/* The emergency level's names and view (emergency.h). */
#include "emergency.h"

#include <string.h>

#include "events.h"

const char *const emergency_level_names[] = {"low", "medium", "high", "critical", NULL};

int emergency_level_parse(const char *s, emergency_level *out)
{
    for (int i = 0; s && emergency_level_names[i]; i++) {
        if (strcmp(s, emergency_level_names[i]) == 0) {
            *out = (emergency_level)i;
            return 0;
        }
    }
    return -1;
}

json_t *emergency_json(emergency_level level, uint64_t set_ms)
{
    char ts[40];
    if (set_ms)
        iso_time(set_ms, ts, sizeof(ts));
    return json_pack("{s:s, s:o}", "level", emergency_level_names[level], "set_at",
                     set_ms ? json_string(ts) : json_null());
}
