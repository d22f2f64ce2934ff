/* Where the unit is: its station (--station) and the last fix an AVL feed
 * pushed (POST /v1/position), as the broker is told them -- the station
 * when the unit registers, the fix with each heartbeat -- so that its home
 * broker can send the closest capable unit (libcoord rank.h). */
#ifndef EXECUTOR_POSITION_H
#define EXECUTOR_POSITION_H

#include <stdbool.h>
#include <stdint.h>

#include "api.h"
#include "context.h"

/* A fix more than this far in the future (by this terminal's clock) is
 * refused: a feed's clock may run a little ahead, not minutes. */
#define EXEC_FIX_MAX_SKEW_MS 5000
/* A fix older than a day says nothing of where the unit is: refused at
 * intake, and no longer sent once the held one is that old (the broker
 * refuses a heartbeat whose fix is absurdly old). */
#define EXEC_FIX_MAX_AGE_MS (24ULL * 3600 * 1000)

/* Parses fixed_at: RFC 3339 with a Z or +hh:mm / -hh:mm offset and
 * optional fractions of a second ("2026-12-01T15:30:04.250Z"). 0 and *ms,
 * or -1. */
int exec_parse_rfc3339_ms(const char *s, uint64_t *ms);

/* Takes a fix taken at fix_ms unless the one held is newer: true when it
 * became the unit's fix. */
bool exec_position_set(executor *e, geo_point at, uint64_t fix_ms);

/* {"lat","lon","age_ms"} of the held fix at now_ms, or NULL when there is
 * none or it is past EXEC_FIX_MAX_AGE_MS: the heartbeat's "fix" (the age,
 * not the time, so the broker's clock need not agree with ours). */
json_t *exec_position_fix_json(executor *e, uint64_t now_ms);

/* The reply of POST /v1/position: {"applied", "fix", "station"}. */
json_t *exec_position_view(executor *e, bool applied, uint64_t now_ms);

#endif
