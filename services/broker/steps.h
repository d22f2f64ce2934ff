/* The crews' status steps at a unit's home broker: for every (unit, job,
 * attempt) the time of each step the crew reported, from dispatched to
 * cleared (libcoord/unitstatus.h has the legal moves), and what a step
 * does to the unit's slot. The home keeps them for its own units whether
 * the job is its own or another district's (a borrowed unit reports to
 * its home like everything else it does). Pure, like jobs.h: no I/O, no
 * JSON, no locks; the caller holds the domain mutex. */
#ifndef BROKER_STEPS_H
#define BROKER_STEPS_H

#include "jobs.h"
#include "state.h"

/* One attempt's steps. Times are the terminal's wall clock, ms; 0: not
 * reported. Steps only move forward in the enum's order, so the current
 * one is the latest recorded. */
typedef struct step_rec {
    unit_step cur;
    uint64_t at[UST_NSTEPS];
} step_rec;

/* The steps of (unit_id, job_id, attempt_no), or NULL when none. */
const step_rec *state_steps(const state *s, const char *unit_id, const char *job_id,
                            uint32_t attempt_no);

/* What a step request found and did. */
typedef struct step_outcome {
    unit_step from; /* the step before (the current one when refused) */
    bool retry;     /* exactly this step at this time was recorded: nothing changed */
    bool ended;     /* refused: the attempt ended here, only cleared may follow */
    bool freed;     /* cleared released the unit's slot of an own job's attempt */
    bool foreign;   /* the job is another district's (a claim on the unit) */
    int64_t turnout_ms, travel_ms; /* dispatched -> en_route, en_route -> on_scene; -1: none */
} step_outcome;

/* Records step `to` at at_ms for unit u on attempt n of job_id.
 * dispatched_ms: when the terminal took the assignment (0: unknown; the
 * attempt's assignment time then, or now_wall).
 *   COORD_OK           recorded (or out->retry): see *out
 *   COORD_E_TRANSITION illegal after out->from (out->ended: the attempt was
 *                      revoked or finished, only cleared is taken)
 *   COORD_E_ATTEMPT    u holds no such attempt, and never reported on it
 *   COORD_E_RANGE      the attempt is still pending (its dispatch has not
 *                      settled): the caller retries shortly
 *   COORD_E_NOMEM      nothing changed
 * Cleared on an own job's active attempt ends it (revoked, not requeued:
 * the crew released it), frees the slot and puts a revocation with reason
 * "cleared" into fu; on a claim it only records the time, because the
 * claiming district releases its claims (DESIGN.md §3.2). Every other
 * step keeps the unit busy. *j_out receives the own job touched (or NULL). */
int state_record_step(state *s, unit *u, const char *job_id, uint32_t n, unit_step to,
                      uint64_t at_ms, uint64_t dispatched_ms, uint64_t now_wall, step_outcome *out,
                      followups *fu, job **j_out);

/* A step as stored, at a load. COORD_OK or COORD_E_NOMEM. */
int state_restore_step(state *s, const char *unit_id, const char *job_id, uint32_t n,
                       unit_step step, uint64_t at_ms);

/* Prometheus histogram of step durations in seconds; its buckets suit
 * NFPA 1710's marks (turnout 60-80 s, travel 240 s, first alarm 480 s). */
#define STEP_HIST_N 12
extern const double step_hist_bounds[STEP_HIST_N];
typedef struct step_hist {
    uint64_t buckets[STEP_HIST_N]; /* per bucket, made cumulative at export */
    uint64_t count;
    double sum;
} step_hist;
void step_hist_observe(step_hist *h, double seconds);

#endif
