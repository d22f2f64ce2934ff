/* Every change of the district's units, each condition change through
 * libcoord's unit_set_cond: registration, heartbeats, the failure
 * detector's verdict, the revocations a heartbeat reply carries, and the
 * claims other districts make on our units (DESIGN.md §3.2). As in jobs.h:
 * plain data back, no I/O, no upcalls; caller holds the domain mutex. */
#ifndef BROKER_UNITS_H
#define BROKER_UNITS_H

#include "state.h"

typedef struct unit_reg {
    const char *id, *kind, *url;
    const char *const *caps;
    size_t ncaps;
    uint32_t capacity;
    bool set_status; /* false: keep the out-of-service setting */
    bool out_of_service;
    bool has_station; /* none: the unit has no station (any old one goes) */
    geo_point station;
} unit_reg;

/* Registers or updates a unit (a sign of life). *created and *back (it was
 * lost) are set. 0; 1 when registered but the capability index could not
 * take it (out of memory); COORD_E_NOMEM with the unit unchanged. */
int state_register_unit(state *s, const unit_reg *r, uint64_t now_wall, uint64_t now_mono,
                        unit **out, bool *created, bool *back);
/* A heartbeat: returns true when the unit was lost and is back. */
bool state_unit_heard(state *s, unit *u, uint64_t now_wall, uint64_t now_mono);

/* A heartbeat's fix, fix_ms on our clock (an older one than the unit's
 * is ignored). Peers see it (the unit is touched) only when it moved at
 * least STATE_FIX_MOVE_M from the fix they last saw, or that one is half
 * of max_fix_age old: a unit re-fixing in place every second stays out of
 * the sync delta, yet no peer's copy of a live fix goes stale. True when
 * touched. */
#define STATE_FIX_MOVE_M 100
bool state_unit_fix(state *s, unit *u, geo_point at, uint64_t fix_ms);

/* What a lost unit held: our jobs went back to the queue (requeued), claims
 * of other districts were dropped (foreign: the claim record goes). */
typedef struct lost_item {
    char job_id[COORD_ID_MAX + 1];
    uint32_t attempt;
    bool foreign;
    char owner[COORD_ID_MAX + 1]; /* foreign: the district that claimed it */
    bool requeued;                /* own: the job is queued again */
} lost_item;

typedef struct lost_items {
    lost_item *v; /* malloc'd; free() it */
    size_t n;
    size_t moved; /* jobs back in the queue */
} lost_items;

/* The failure detector's verdict: the unit is lost, and each of its own
 * active jobs gets a new attempt later (state_requeue). Pending slots stay
 * (the dispatch in flight settles them). */
int state_unit_lost(state *s, unit *u, uint64_t now_wall, lost_items *out);

/* Dispatch's calls to u's terminal: any HTTP answer makes it reachable
 * again; a transport failure demotes it (libcoord reach.h); a 409 at
 * capacity keeps work away from it until its next heartbeat. */
void state_unit_answered(state *s, unit *u);
void state_unit_call_failed(state *s, unit *u, uint64_t now_mono);
void state_unit_refused(unit *u);

/* Heartbeat reconciliation, computed afresh from the records on every
 * heartbeat, so that a lost reply or a lost revocation is repaired by the
 * next one (DESIGN.md §3.7). Two ways:
 *
 * 1. What the terminal lists that this broker does not record as active
 *    or pending on the unit is revoked in the reply: for our own job, the
 *    attempt with that number on this unit; for another district's job,
 *    the unit's claim slot for it. A listed job that names no owner is
 *    taken as ours when we have a job of that id (older terminals).
 * 2. What this broker records active on the unit and the terminal does not
 *    list, although the heartbeat's "seen" entry for this broker has
 *    reached the slot's settle stamp (so the terminal wrote the list after
 *    it had taken the assignment), the terminal no longer holds: a DELETE
 *    there, or its state lost. Our job's attempt is revoked and the job
 *    requeued; a claim slot is dropped (state_claim_drop).
 * A heartbeat without a body lists nothing and has seen nothing: only the
 * notices are sent, as they always were. */

/* Way 1, and the unit's notices first. Entries point into the state (and
 * into held_jobs): use them before unlocking. owner NULL: this broker. */
typedef struct revoked_entry {
    const char *job_id;
    uint32_t attempt;
    const char *reason;
    const char *owner;
} revoked_entry;
size_t state_heartbeat_revoked(state *s, unit *u, const job_ref *held_jobs, size_t nheld,
                               revoked_entry *out, size_t max);
/* Way 2. seen_self: the heartbeat's "seen" entry for this broker (0: none
 * sent); clock_self: this broker's entry now, which stamps every settled
 * slot that has no stamp yet. *out lists what the terminal no longer holds
 * (free out->v): own jobs are already requeued (as for a lost unit); claims
 * are listed with foreign set and left in place for the caller to drop
 * (lend_drop_claim). */
int state_heartbeat_unheld(state *s, unit *u, const job_ref *held_jobs, size_t nheld,
                           uint64_t seen_self, uint64_t clock_self, uint64_t now_wall,
                           lost_items *out);

typedef enum claim_verdict {
    CLAIM_RESERVED = 0, /* a pending foreign slot now holds it */
    CLAIM_RETRY,        /* this claim succeeded before: same answer */
    CLAIM_HELD_OTHER,   /* the unit holds the job under another attempt */
    CLAIM_NOT_FREE,     /* not available, full, or cannot do the job */
    CLAIM_TAKEN,        /* no slot left */
} claim_verdict;

/* Checks and reserves u for attempt attempt_no of another district's job
 * in one step. A newer attempt of a job the unit holds for the same owner
 * supersedes the older claim (as at the executor). */
claim_verdict state_claim_reserve(state *s, unit *u, const char *job_id, uint32_t attempt_no,
                                  const char *owner, const char *const *req, size_t nreq);
/* The executor answered: true when the claim now stands (it took it, the
 * slot is still reserved and the unit not lost); otherwise the slot is
 * freed. */
bool state_claim_settle(state *s, unit *u, const char *job_id, uint32_t attempt_no, bool taken);
/* The claiming district is done with it: true when a claim was released. */
bool state_release_claim(state *s, unit *u, const char *job_id, uint32_t attempt_no);
/* The standing claim (job_id, attempt_no) on u ends without a word from
 * its owner: the unit's terminal no longer holds it, or the owner's copy
 * of the job shows the attempt over. The slot is freed and the unit
 * touched, so peers are signalled at once and the owner's next pull finds
 * the claim gone from the unit's "claims" (and moves its job). A pending
 * slot (a lend in flight) is left to its settle. True when a claim was
 * dropped; the caller removes the stored claim and logs the event. */
bool state_claim_drop(state *s, unit *u, const char *job_id, uint32_t attempt_no);

#endif
