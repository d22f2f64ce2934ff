/* Whether a broker should call a unit's terminal now: the rule for a
 * terminal that fails at the transport level (refused, timed out, reset),
 * with time passed in (monotonic ms).
 *
 * A unit that answers (any HTTP status) is reachable. Each consecutive
 * transport failure demotes it: it is skipped until its backoff passes
 * (REACH_BACKOFF_MIN_MS doubling to REACH_BACKOFF_MAX_MS), and a failing
 * unit is called with a short timeout, so one that accepts connections and
 * never answers costs one short wait per backoff, not a full one per job.
 * A failing unit whose backoff has passed and that no job is sent to is
 * probed (a call that carries no work), so its standing is known whether
 * or not work waits for it. After REACH_UNREACHABLE_AFTER failures in a row
 * it is unreachable: no job is sent to it until a probe gets an answer, or
 * it registers again. */
#ifndef COORD_REACH_H
#define COORD_REACH_H

#include <stdbool.h>
#include <stdint.h>

#define REACH_BACKOFF_MIN_MS    250
#define REACH_BACKOFF_MAX_MS    8000
#define REACH_UNREACHABLE_AFTER 3

typedef struct reach {
    uint32_t failures;  /* consecutive transport failures; 0: reachable */
    uint64_t retry_at;  /* monotonic ms: not called before (failures > 0) */
} reach;

/* A transport failure at now. */
void reach_failed(reach *r, uint64_t now);
/* An answer (any status), a successful probe, or a new registration. */
void reach_answered(reach *r);

/* May a job be sent to it now: reachable, or demoted with its backoff
 * passed (never while unreachable). */
bool reach_may_assign(const reach *r, uint64_t now);
bool reach_unreachable(const reach *r);
/* Failing and its backoff passed: due for a probe. */
bool reach_probe_due(const reach *r, uint64_t now);
/* The call's timeout: normal_ms for a reachable unit, short_ms for a
 * failing one. */
long reach_timeout_ms(const reach *r, long normal_ms, long short_ms);
/* The backoff after n consecutive failures (n >= 1). */
uint64_t reach_backoff_ms(uint32_t n);

#endif
