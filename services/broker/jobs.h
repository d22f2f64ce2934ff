/* Every change of the district's jobs and their attempts, each state
 * assignment through libcoord's setters (job_set_status, attempt_set_state):
 * submission, the choice of a unit, reserve / confirm / drop of an attempt,
 * the one requeue, the accepted result, cancellation and preemption. Each
 * function changes the state (and the change list) and says what the
 * caller must do afterwards as plain data; it never does I/O and never
 * calls upward. A negative return (COORD_E_TRANSITION) means the caller
 * asked for an illegal change, which is a bug: the state was left as it
 * was, and the caller logs it. Caller holds the domain mutex. */
#ifndef BROKER_JOBS_H
#define BROKER_JOBS_H

#include "state.h"

/* A message to send after commit: a revocation at a unit's executor
 * (release false: DELETE {url}/v1/assignments/{job}), or the release of a
 * borrowed unit at its home broker (release true, district names it). */
typedef struct followup {
    bool release;
    char url[BROKER_URL_MAX];        /* revocation: the unit's executor */
    char district[COORD_ID_MAX + 1]; /* release: the unit's home */
    char unit_id[COORD_ID_MAX + 1];
    char job_id[COORD_ID_MAX + 1];
    uint32_t attempt;
    char reason[BROKER_REASON_MAX];
} followup;

/* At most one attempt of a job is active at a time, so one change rarely
 * asks for more than one message; the list grows when it does. */
typedef struct followups {
    followup *v;
    size_t n, cap;
} followups;
void followups_release(followups *f);
/* Appends a copy of *x; false when out of memory (as a dropped outbox
 * message: the repair from copies catches it). */
bool followups_push(followups *f, const followup *x);

/* One requirement line as a request or a response plan gives it. */
typedef struct line_spec {
    char caps[BROKER_MAX_CAPS][COORD_ID_MAX + 1];
    size_t ncaps;
    uint32_t count;
} line_spec;

typedef struct job_submission {
    const char *id; /* NULL: generate one */
    const char *type;
    severity sev;
    const char *const *caps; /* one line of one unit, when nlines is 0 */
    size_t ncaps;
    /* The requirement lines (`response` or a plan's), checked against the
     * bounds.h limits by the caller; plan names the plan or is NULL. */
    const line_spec *lines;
    size_t nlines;
    const char *plan;
    char *location, *payload; /* canonical texts; moved into the job on success */
    bool has_geo;             /* location's lat and lon, when it has both */
    geo_point geo;
    uint64_t digest;
} job_submission;

/* A new queued job, marked dispatching (its submitter dispatches it). */
int state_submit(state *s, job_submission *sub, uint64_t now_wall, job **out);

/* The best own unit for line of j not in tried that dispatch may offer
 * work now (unit_may_dispatch), or NULL: the closest by libcoord's
 * rank_closest (positions at now_wall, s->max_fix_age_ms), today's order
 * (unit_order) where positions are unknown. *why (may be NULL): the
 * reason. The caller puts the units already on j into tried: a unit is
 * never on two lines of one incident. */
unit *state_pick_line_unit(const state *s, const job *j, uint32_t line,
                           const char (*tried)[COORD_ID_MAX + 1], size_t ntried,
                           uint64_t now_mono, uint64_t now_wall, rank_reason *why);
/* The same for the first line of j. */
unit *state_pick_unit(const state *s, const job *j, const char (*tried)[COORD_ID_MAX + 1],
                      size_t ntried, uint64_t now_mono, uint64_t now_wall, rank_reason *why);
/* Appends to tried (room for max) the units holding a pending or active
 * attempt of j; returns the new count. */
size_t state_job_holders(const job *j, char (*tried)[COORD_ID_MAX + 1], size_t ntried,
                         size_t max);
/* Some own unit, in whatever status, offers what line of j asks for. */
bool state_line_capable(const state *s, const job *j, uint32_t line);
/* True when a job queued ahead of j could use u (policy_queue_yields). */
bool state_yields(const state *s, const job *j, const unit *u);

/* Adds a PENDING attempt of j on line for unit_id of district, with the
 * clock sent along, and marks j dispatching. For one of our units (u non-NULL) the
 * unit holds a pending slot too. COORD_E_RANGE / NOMEM, nothing changed. */
int state_reserve_line(state *s, job *j, uint32_t line, unit *u, const char *unit_id,
                       const char *district, const vclock *clock, uint64_t now_wall,
                       uint32_t *n_out);
/* The same on line 0 (a one-line job's only line). */
int state_reserve(state *s, job *j, unit *u, const char *unit_id, const char *district,
                  const vclock *clock, uint64_t now_wall, uint32_t *n_out);
/* The executor (or the home broker) took attempt n of a queued or partly
 * filled job: it is active and the job assigned, and out of the queue once
 * every line is full. */
int state_confirm(state *s, job *j, uint32_t n, uint64_t now_wall);
/* Attempt n did not happen (a definite refusal: the terminal stored
 * nothing): drop it and free the unit's slot. Its number may be used again. */
void state_drop_pending(state *s, job *j, uint32_t n);
/* Attempt n's call ended without a usable answer although it may have
 * landed (timeout, reset after sending, 5xx), or landed too late to use:
 * the attempt stays, revoked ("abandoned"), so its number is never sent
 * again with another clock; the unit's slot is freed and fu receives the
 * revocation (an own unit) or the release (a borrowed one) that makes sure
 * no terminal keeps it. COORD_E_TRANSITION when n is not pending. */
int state_abandon(state *s, job *j, uint32_t n, followups *fu);

/* The home's answer to our claim for borrowed attempt n: its change
 * version of the unit then, and the incarnation (peer.egen; 0 unknown).
 * Later copies of the unit are read against it (remote_claim_gone). */
void state_claim_answered(job *j, uint32_t n, uint64_t version, uint32_t egen);

/* Revokes active attempt a of j and puts j back in the queue when it was
 * assigned: the one way a job loses a unit (lost unit, lost borrowed
 * unit, preemption, a terminal that no longer holds it). Its line is open
 * again; the job stays assigned while another line still has a unit.
 * notice_reason: what an own unit is told in its next heartbeat (NULL:
 * nothing, it does not hold it). Returns 1 when the job waits in the queue
 * for a unit for that line, 0 when not, COORD_E_TRANSITION when a was not
 * active. */
int state_requeue(state *s, job *j, attempt *a, uint64_t now_wall, const char *notice_reason);

/* Records the accepted result rr (taking it): the job is completed, the
 * winner's attempt finished, every other holder revoked; fu receives a
 * revocation for each other own holder and a release for each borrowed
 * unit. */
int state_accept_result(state *s, job *j, result *rr, uint64_t now_wall, followups *fu);
/* Cancels a queued or assigned job; every holder is told to stop. */
int state_cancel(state *s, job *j, uint64_t now_wall, followups *fu);

/* Emergency preemption for critical job crit (policy_preempt_victim): the
 * victim goes back to the queue and its unit is told. */
typedef struct preemption {
    char unit_id[COORD_ID_MAX + 1];
    char unit_url[BROKER_URL_MAX];
    char job_id[COORD_ID_MAX + 1];
    uint32_t attempt;
} preemption;
/* 1 and *out filled when a job was preempted, 0 when none, <0 on error. */
int state_preempt(state *s, const job *crit, severity level, uint64_t now_wall, preemption *out);

/* A delivered revocation: the unit knows. */
void state_mark_notified(state *s, const char *job_id, uint32_t attempt_no);

#endif
