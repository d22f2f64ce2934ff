/* Synced copies of other districts' units and jobs, as typed records (the
 * shapes views print), bounded per peer in count and bytes; what a copy may
 * not do (a peer writes only its own district's records: copies of our
 * ids or naming another district are ignored and counted); the repair of
 * claims from copies, both ways (our jobs whose borrowed unit's home no
 * longer lends it go back to the queue; our units' claims that the
 * owner's copy of the job shows over are dropped); and the mutual-aid
 * candidate, chosen by libcoord's one ranking. A copy is a guide for
 * finding units, never the authority (DESIGN.md §3.2). Guarded by the
 * broker's domain mutex. */
#ifndef BROKER_REMOTE_H
#define BROKER_REMOTE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bounds.h"
#include "peertab.h"
#include "state.h"

/* A claim a unit's home shows it holding for another district's job. */
typedef struct rclaim {
    char job_id[COORD_ID_MAX + 1];
    char owner[COORD_ID_MAX + 1];
    uint32_t attempt;
} rclaim;

typedef struct runit {
    char id[COORD_ID_MAX + 1];
    char kind[COORD_ID_MAX + 1];
    char district[COORD_ID_MAX + 1]; /* its home, as the copy says */
    char from[COORD_ID_MAX + 1];     /* the peer we copied it from */
    capset caps;
    unit_status shown; /* the status its home showed */
    uint32_t capacity;
    uint32_t njobs;
    char (*jobs)[COORD_ID_MAX + 1]; /* ids of the jobs it holds */
    char url[BROKER_URL_MAX];
    int64_t last_hb_ago; /* as its home showed it; -1: not shown */
    bool has_claims;     /* its home lists claims (a home before that: no) */
    uint32_t nclaims;
    rclaim *claims;
    uint64_t version; /* its change version at its home; 0: not shown */
    uint32_t egen;    /* the home's incarnation it was read in (peer.egen) */
    char *crew_status; /* its home's crew status (steps.h) as canonical JSON, or NULL */
    uint64_t fetched_wall_ms;
    uint64_t gen; /* the peer's full-sync generation that last confirmed it */
    /* Its station and last fix as its home showed them; pos.fix_ms is not
     * used: the fix was fix_age_ms old when fetched (runit_position). */
    rank_position pos;
    uint64_t fix_age_ms;
} runit;

/* Where the copy says the unit is, the fix dated on our clock. */
rank_position runit_position(const runit *u);

typedef struct rattempt {
    uint32_t n;
    char unit_id[COORD_ID_MAX + 1];
    char district[COORD_ID_MAX + 1];
    attempt_state state;
    rank_reason why; /* as its owner showed it (none when it showed none) */
} rattempt;

typedef struct rresult {
    char unit_id[COORD_ID_MAX + 1];
    uint32_t attempt;
    char outcome[COORD_ID_MAX + 1];
    char *data; /* canonical JSON text */
} rresult;

typedef struct rjob {
    char id[COORD_ID_MAX + 1];
    char type[COORD_ID_MAX + 1];
    char owner[COORD_ID_MAX + 1]; /* its owner district, as the copy says */
    char from[COORD_ID_MAX + 1];
    severity sev;
    capset caps;
    job_status shown; /* the status its owner showed */
    uint32_t nattempts;
    rattempt *attempts;
    rresult *res;   /* NULL: no accepted result */
    char *location; /* canonical JSON texts or NULL */
    char *payload;
    char *response;               /* a multi-unit incident's lines as shown, or NULL */
    char *plan;                   /* the plan its owner applied, or NULL */
    int64_t created_ms, updated_ms; /* -1: not shown */
    uint64_t version;               /* its change version at its owner; 0: not shown */
    uint64_t fetched_wall_ms;
    uint64_t gen;
} rjob;

/* Why a copy was not kept although it read well. */
typedef enum copy_ignored {
    COPY_KEPT = 0,
    COPY_OWN_ID,          /* the id is one of our own records */
    COPY_OWN_DISTRICT,    /* it says it is ours: a peer cannot write our records */
    COPY_NOT_THE_SENDERS, /* it names a third district: only its home speaks for it */
    COPY_IGNORED_KINDS,
} copy_ignored;

typedef struct remote {
    strtab *strings;                      /* the state's: names shared with our own records */
    hmap *units;                          /* id -> runit* */
    hmap *jobs;                           /* id -> rjob* */
    hmap *counts;                         /* peer id -> copies held of it, and their bytes */
    uint64_t refused;                     /* copies refused past a per-peer cap */
    uint64_t ignored[COPY_IGNORED_KINDS]; /* copies ignored, by reason */
    uint64_t skipped;                     /* objects of a page that could not be read (peers.c) */
} remote;

int remote_init(remote *r, strtab *strings);
void remote_release(remote *r);
void runit_release(runit *u, strtab *t);
void rjob_release(rjob *j, strtab *t);

const runit *remote_unit(const remote *r, const char *id);
const rjob *remote_job(const remote *r, const char *id);

/* Stores a copy, replacing any copy of the same id; the record's contents
 * move into the table (*copy is emptied). COORD_E_RANGE when its peer is at
 * a cap, of count or of bytes (refused and counted), COORD_E_NOMEM. */
int remote_put_unit(remote *r, runit *copy);
int remote_put_job(remote *r, rjob *copy);
/* The bytes the copies of peer from hold (what REMOTE_MAX_BYTES_PER_PEER
 * caps). */
size_t remote_bytes_of(const remote *r, const char *from);

/* Forgets the copies of peer from that no full sync of generation gen
 * confirmed. ids (malloc'd, *n of them; free() it) lists what went, for
 * the store. kind 'u' units, 'j' jobs. */
int remote_sweep(remote *r, char kind, const char *from, uint64_t gen,
                 char (**ids)[COORD_ID_MAX + 1], size_t *n);

/* A home broker's own answer about its unit (a claim reply): kept when it
 * is newer than the copy (same incarnation, higher version), so a late
 * answer never overwrites what a pull already showed. Keeps the copy's
 * peer and generation. */
void remote_refresh_unit(remote *r, runit *fresh, uint64_t now_wall);
/* The home refused a claim: the unit is not free, whatever the copy said. */
void remote_mark_busy(remote *r, const char *id);

/* What applying one copy from a peer's page did. */
#define REMOTE_REQUEUE_MAX BROKER_MAX_CAPACITY
typedef struct ended_claim {
    unit *u;
    char job_id[COORD_ID_MAX + 1];
    uint32_t attempt;
    bool finished; /* the owner shows the attempt finished: its crew reported */
} ended_claim;

typedef struct copy_outcome {
    copy_ignored ignored; /* not kept, and why (COPY_KEPT: it was looked at) */
    bool stored;          /* kept (not refused past a cap) */
    size_t nrequeued;
    job *requeued[REMOTE_REQUEUE_MAX]; /* our jobs on a unit whose home no longer lends it */
    bool may_aid;                      /* an available unit while jobs wait here */
    size_t nended;
    ended_claim ended[REMOTE_REQUEUE_MAX]; /* claims on our units the owner's copy ends */
    size_t nstale;
    ended_claim stale[REMOTE_REQUEUE_MAX]; /* claims of ours the unit's home holds, we do not:
                                              release them there (u is NULL) */
} copy_outcome;

/* Applies a copy from a page (the contents move into the table, or are
 * released): ignored when it is not the sender's to write (counted); a unit
 * whose home no longer lends it sends our jobs on it back to the queue, and
 * a claim of ours it lists that we no longer stand on is to be released
 * there (model rule F3b: a release lost, or never sent because its answer
 * never came); a job's copy from its owner ends the claims on our units it
 * shows over. */
void remote_apply_unit(remote *r, state *s, runit *copy, uint64_t now_wall, copy_outcome *out);
void remote_apply_job(remote *r, state *s, rjob *copy, copy_outcome *out);

/* The claim borrowed attempt a of job_id stands on is gone at the unit's
 * home, as copy c (from that home) shows it: c is newer than the claim's
 * answer -- another incarnation of the home, or a higher version of the
 * unit (the claim's version unknown, after our restart: any copy pulled
 * since) -- and it shows the unit lost or does not list the claim. An older
 * copy says nothing: the claim may postdate it. */
bool remote_claim_gone(const runit *c, const char *self, const char *job_id, const attempt *a);

/* Our jobs whose current attempt is on the unit of copy c and whose claim
 * c shows gone go back to the queue (state_requeue). Up to max jobs are
 * written to out; returns how many. */
size_t remote_requeue_gone(state *s, const runit *c, uint64_t now_wall, job **out, size_t max);

/* Whether the owner's copy c of a job ends the claim (attempt_no, on our
 * unit unit_id) we hold for it: the job completed or cancelled, attempt
 * attempt_no shown not active on that unit, or a later attempt shown. A
 * copy that does not show the attempt yet (its answer is still on the way)
 * leaves it standing. *finished: the owner shows it finished. */
bool remote_copy_ends_claim(const rjob *c, const char *self, const char *unit_id,
                            uint32_t attempt_no, bool *finished);

/* The mutual-aid candidate for j: the best available copy that offers
 * what j needs, not in tried, whose home is a known peer, ranked as our
 * own units are (rank_closest at now_wall with max_fix_age_ms, from the
 * copies' positions). Fills unit_id, home and *why (may be NULL). */
bool remote_pick_unit(const remote *r, const peertab *peers, const job *j,
                      const char (*tried)[COORD_ID_MAX + 1], size_t ntried, uint64_t now_wall,
                      uint64_t max_fix_age_ms, char *unit_id, char *home, rank_reason *why);
/* The same for one requirement line of j: what caps asks for, ranked from
 * j's location. */
bool remote_pick_for(const remote *r, const peertab *peers, const job *j, const capset *caps,
                     const char (*tried)[COORD_ID_MAX + 1], size_t ntried, uint64_t now_wall,
                     uint64_t max_fix_age_ms, char *unit_id, char *home, rank_reason *why);
/* Some copy of another district's unit, in whatever status, offers caps. */
bool remote_any_capable(const remote *r, const capset *caps);

/* Copies matching a listing's filters, sorted by id (malloc'd; free()). */
const runit **remote_list_units(const remote *r, const unit_status *status, const char *cap,
                                size_t *n);
const rjob **remote_list_jobs(const remote *r, const job_status *status, size_t *n);

#endif
