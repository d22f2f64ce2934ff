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
} unit_reg;

/* Registers or updates a unit (a sign of life). *created and *back (it was
 * lost) are set. 0; 1 when registered but the capability index could not
 * take it (out of memory); COORD_E_NOMEM with the unit unchanged. */
int state_register_unit(state *s, const unit_reg *r, uint64_t now_wall, uint64_t now_mono,
                        unit **out, bool *created, bool *back);
/* A heartbeat: returns true when the unit was lost and is back. */
bool state_unit_heard(state *s, unit *u, uint64_t now_wall, uint64_t now_mono);

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

/* Revocations for a heartbeat reply: the unit's notices, then any job it
 * says it holds that we revoked or finished (marked notified). Entries
 * point into the state: use them before unlocking. */
typedef struct revoked_entry {
    const char *job_id;
    uint32_t attempt;
    const char *reason;
} revoked_entry;
size_t state_heartbeat_revoked(state *s, unit *u, const job_ref *held_jobs, size_t nheld,
                               revoked_entry *out, size_t max);

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
