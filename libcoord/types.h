/* Domain enums and the job / attempt / unit state machines. */
#ifndef COORD_TYPES_H
#define COORD_TYPES_H

#include <stdbool.h>

typedef enum severity { SEV_LOW = 0, SEV_MEDIUM, SEV_HIGH, SEV_CRITICAL } severity;
typedef enum job_status { JOB_QUEUED = 0, JOB_ASSIGNED, JOB_COMPLETED, JOB_CANCELLED } job_status;
/* PENDING: recorded before the executor confirmed; never shown to clients as
 * held (it becomes ACTIVE or is dropped). */
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
 * attempt: pending->active, active->revoked, active->finished,
 *          revoked->finished (a revoked holder's result accepted FCFS).
 * unit:    any of available/busy/lost/out_of_service -> any other, except
 *          that nothing but a heartbeat/registration leaves lost:
 *          lost->available and lost->busy are legal, lost->out_of_service
 *          too; same-state "transitions" are legal no-ops. */
int job_transition(job_status from, job_status to);
int attempt_transition(attempt_state from, attempt_state to);
int unit_transition(unit_status from, unit_status to);

#endif
