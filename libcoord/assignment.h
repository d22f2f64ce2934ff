/* The terminal's assignment state machine: what a unit's executor holds
 * for one job (one attempt of it), which work it takes, and how a holding
 * moves between active, revoked and reported. Pure: the executor keeps the
 * table, the clock and the disk; every state change goes through here. */
#ifndef COORD_ASSIGNMENT_H
#define COORD_ASSIGNMENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ACTIVE is the zero value on purpose: a new holding starts active.
 *   active   the crew works on it; counts toward the unit's capacity.
 *   revoked  the broker moved or cancelled it; kept, because the crew may
 *            still report what it did (DESIGN.md §3.3).
 *   reported the owner broker decided on the crew's report. */
typedef enum asg_state { ASG_ACTIVE = 0, ASG_REVOKED, ASG_REPORTED } asg_state;
#define ASG_NSTATES 3

/* Wire names "active", "revoked", "reported". asg_state_str never returns
 * NULL; asg_state_parse returns 0 or COORD_E_INVAL (out untouched). */
const char *asg_state_str(asg_state s);
int asg_state_parse(const char *s, asg_state *out);

/* Legal moves: active->revoked, active->reported, revoked->reported (a
 * revoked crew's report is still forwarded) and reported->reported (a later
 * decision on the same attempt, e.g. the winner's retry, replaces the
 * record). Nothing returns to active, and revoking twice is not a move.
 * asg_transition_check returns 0 or COORD_E_TRANSITION; asg_transition
 * checks and assigns in one step (*state untouched when refused). */
int asg_transition_check(asg_state from, asg_state to);
int asg_transition(asg_state *state, asg_state to);

/* What a terminal does with an offered attempt of a job.
 * held_attempt: the attempt of that job it holds, 0 when none;
 * active: its active holdings, including that one if it is active. */
typedef enum asg_admission {
    ASG_ADMIT_NEW = 0, /* take it; it replaces the older attempt, if held */
    ASG_ADMIT_HELD,    /* exactly this attempt is held: answer as before */
    ASG_ADMIT_STALE,   /* a newer attempt is held: refuse */
    ASG_ADMIT_FULL,    /* capacity reached, not counting what it replaces */
} asg_admission;
asg_admission asg_admit(int64_t held_attempt, asg_state held_state, int64_t attempt, size_t active,
                        size_t capacity);

/* A broker revoking attempt `upto` revokes every attempt up to it; upto 0
 * means whichever is held. Moves *state active->revoked and returns 0;
 * COORD_E_ATTEMPT when the held attempt is newer than upto, and
 * COORD_E_TRANSITION when the holding is not active (both leave it). */
int asg_revoke(asg_state *state, int64_t held_attempt, int64_t upto);

/* Records the owner broker's decision on a report: *state becomes
 * reported and 0 is returned, unless a decision that accepted the report
 * (had_won) would be replaced by one that did not (won false): a later,
 * different report the broker rejects must not make the record look lost
 * (COORD_E_DUPLICATE, *state untouched). */
int asg_report(asg_state *state, bool had_won, bool won);

#endif
