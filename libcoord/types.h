/* Domain enums and the job / attempt / unit state machines. */
#ifndef COORD_TYPES_H
#define COORD_TYPES_H

#include <stdbool.h>
#include <stdint.h>

typedef enum severity { SEV_LOW = 0, SEV_MEDIUM, SEV_HIGH, SEV_CRITICAL } severity;
typedef enum job_status { JOB_QUEUED = 0, JOB_ASSIGNED, JOB_COMPLETED, JOB_CANCELLED } job_status;
/* PENDING: recorded before the executor confirmed; never shown to clients as
 * held (it becomes ACTIVE, is dropped after a definite refusal, or is kept
 * REVOKED when the call's outcome is unknown). */
typedef enum attempt_state { ATT_PENDING = 0, ATT_ACTIVE, ATT_REVOKED, ATT_FINISHED } attempt_state;
typedef enum unit_status {
    UNIT_AVAILABLE = 0,
    UNIT_BUSY,
    UNIT_LOST,
    UNIT_OUT_OF_SERVICE,
} unit_status;

/* String <-> enum. *_str never returns NULL; *_parse returns 0 or
 * COORD_E_INVAL (out untouched) for unknown strings (exact, case-sensitive). */
const char *severity_str(severity s);
int severity_parse(const char *s, severity *out);
const char *job_status_str(job_status s);
int job_status_parse(const char *s, job_status *out);
const char *attempt_state_str(attempt_state s);
int attempt_state_parse(const char *s, attempt_state *out);
const char *unit_status_str(unit_status s);
int unit_status_parse(const char *s, unit_status *out);

/* State machines: return 0 when from -> to is legal, COORD_E_TRANSITION
 * otherwise.
 * job:     queued->assigned, queued->cancelled, assigned->queued (its unit
 *          was lost with no replacement, or preempted), assigned->assigned
 *          (redeployed as a new attempt), assigned->completed,
 *          assigned->cancelled, queued->completed (a late result from a
 *          revoked attempt wins while the job waits). completed and
 *          cancelled are final.
 * attempt: pending->active, pending->revoked (abandoned: the call's
 *          outcome is unknown, the unit may hold it, so the number stays
 *          taken), active->revoked, active->finished, revoked->finished (a
 *          revoked holder's result accepted FCFS).
 * unit:    any of available/busy/lost/out_of_service -> any other, except
 *          that nothing but a heartbeat/registration leaves lost:
 *          lost->available and lost->busy are legal, lost->out_of_service
 *          too; same-state "transitions" are legal no-ops. */
int job_transition(job_status from, job_status to);
int attempt_transition(attempt_state from, attempt_state to);
int unit_transition(unit_status from, unit_status to);

/* The setters every state change goes through: *st becomes to when the
 * transition is legal (0), and stays as it was otherwise
 * (COORD_E_TRANSITION). A service treats an illegal request as its own bug:
 * it logs it and keeps the state. */
int job_set_status(job_status *st, job_status to);
int attempt_set_state(attempt_state *st, attempt_state to);

/* What a unit's home broker keeps about it besides its load: whether an
 * operator took it out of service (OFF) and whether the failure detector
 * declared it lost. Its shown status follows from this and its load
 * (unit_status_of). Transitions:
 *   SERVING -> LOST        silent past the failure timeout
 *   SERVING -> OFF         an operator takes it out of service
 *   LOST    -> SERVING     heard again (heartbeat or registration)
 *   LOST    -> OFF         registers again, out of service
 *   OFF     -> SERVING     an operator puts it back
 *   OFF     -> OFF_LOST    silent while out of service
 *   OFF_LOST -> OFF        heard again
 *   OFF_LOST -> SERVING    registers again, in service
 * and SERVING or OFF to itself (a registration that changes nothing).
 * Everything else is illegal: lost again (the detector judges only units
 * still heard), or lost and out of service at once by a registration
 * (registering proves the unit is alive). */
typedef enum unit_cond {
    UNIT_COND_SERVING = 0,
    UNIT_COND_LOST,
    UNIT_COND_OFF,
    UNIT_COND_OFF_LOST,
} unit_cond;

int unit_set_cond(unit_cond *c, unit_cond to);
/* Inline: dispatch asks these of every unit that could serve a job. */
static inline bool unit_cond_lost(unit_cond c)
{
    return c == UNIT_COND_LOST || c == UNIT_COND_OFF_LOST;
}

static inline bool unit_cond_off(unit_cond c)
{
    return c == UNIT_COND_OFF || c == UNIT_COND_OFF_LOST;
}

/* The same out-of-service setting, lost or heard. */
unit_cond unit_cond_silent(unit_cond c);
unit_cond unit_cond_heard(unit_cond c);
/* The condition after a registration that sets (or, when keep, keeps) the
 * out-of-service setting: registering is a sign of life. */
unit_cond unit_cond_registered(unit_cond c, bool keep, bool off);
/* Shown status: out_of_service over lost over busy (load >= capacity) over
 * available. */
static inline unit_status unit_status_of(unit_cond c, uint32_t load, uint32_t capacity)
{
    if (unit_cond_off(c))
        return UNIT_OUT_OF_SERVICE;
    if (unit_cond_lost(c))
        return UNIT_LOST;
    return load >= capacity ? UNIT_BUSY : UNIT_AVAILABLE;
}

/* Values read back from storage, checked: 0 and *out set for a known
 * value, COORD_E_INVAL (out untouched) otherwise, so a damaged record is
 * refused rather than loaded as some other state. */
int severity_from_int(int v, severity *out);
int job_status_from_int(int v, job_status *out);
int attempt_state_from_int(int v, attempt_state *out);

#endif
