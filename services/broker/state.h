/* The in-memory district: its units, its jobs and their attempts, the slots
 * units hold, the capability index, the job queue and the change list that
 * peers pull from. Pure data and bookkeeping: no I/O, no JSON, no locks, no
 * logging; time is passed in. The caller holds the broker's domain mutex
 * around every call. The rules that change jobs, attempts and units live in
 * jobs.h and units.h; this file is what they change. */
#ifndef BROKER_STATE_H
#define BROKER_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bounds.h"
#include "coord.h"

/* Intrusive node of the change list: every unit and job sits in it ordered
 * by the metadata version of its last change, so a peer's pull "since V"
 * walks only what changed (DESIGN.md §6: cost grows with change). */
typedef struct change_node {
    struct change_node *prev, *next;
    uint64_t version;
    bool is_job;
} change_node;

typedef struct attempt {
    uint32_t n;
    uint32_t line; /* the requirement line it fills (0 for a one-line job) */
    char unit_id[COORD_ID_MAX + 1];
    char unit_district[COORD_ID_MAX + 1]; /* home broker of the unit */
    attempt_state state;
    bool notified;  /* revocation delivered to the unit */
    cclock clock;   /* the clock sent with the assignment */
    uint64_t at_ms; /* wall time of the assignment */
    /* A borrowed attempt: the home's change version of the unit in the
     * claim's answer, and the generation of the home's incarnation it
     * belongs to (peer.egen; 0: unknown, as after our restart). A copy of
     * the unit newer than that must still list the claim. */
    uint64_t claim_version;
    uint32_t claim_egen;
    rank_reason why; /* why this unit (libcoord rank.h); stored with the attempt */
} attempt;

typedef struct result {
    char unit_id[COORD_ID_MAX + 1];
    uint32_t attempt;
    char outcome[COORD_ID_MAX + 1];
    char *data; /* canonical JSON text, "{}" when none */
    uint64_t digest;
    uint64_t at_ms;
} result;

/* Why a line of a multi-unit incident is short of units, as the last
 * dispatch found it (not stored: after a restart it is "queued" until the
 * drain looks again). */
typedef enum line_why { LINE_QUEUED = 0, LINE_NO_CAPABLE_UNIT, LINE_ALL_BUSY } line_why;

/* One requirement line of an incident: count units, each with caps. */
typedef struct job_line {
    capset caps;
    uint32_t count;
    line_why why;
} job_line;

typedef struct job {
    change_node chg;  /* first member: a change_node of a job is the job */
    const char *type; /* interned in state.strings */
    capset caps;      /* required capabilities (a multi-line job: of all lines) */
    /* The requirement lines when the job was given `response` or a plan
     * matched (nlines 0: one line of one unit with caps, as before). */
    job_line *lines;
    char *plan;              /* the response plan applied (heap), NULL none */
    char *location;          /* canonical JSON text or NULL */
    char *payload;           /* canonical JSON text or NULL */
    geo_point geo;           /* with has_geo: location's lat and lon, for the ranking */
    uint64_t request_digest; /* idempotency: digest of the canonical submission */
    uint64_t seq;            /* arrival order (queue tie-break) */
    uint64_t created_ms, updated_ms;
    size_t nattempts, aattempts;
    attempt *attempts;
    result *res; /* accepted result or NULL */
    /* The small members together, so 100,000 queued jobs pay no padding
     * between them (bench memory). */
    severity sev;
    job_status status;
    uint32_t nlines;
    bool has_geo;     /* location carries lat and lon: geo */
    bool dispatching; /* a thread is calling an executor for it */
    /* Last, sized to fit (at most COORD_ID_MAX): a job is allocated with
     * its id, which the jobs map and the queue borrow. */
    char id[];
} job;

/* One assignment slot a unit holds: an attempt of one of our jobs, or a
 * claim another district made on it (foreign). */
typedef struct held {
    char job_id[COORD_ID_MAX + 1];
    uint32_t attempt;
    bool pending; /* reserved; the executor has not confirmed yet */
    bool foreign;
    char owner[COORD_ID_MAX + 1]; /* foreign: the claiming district */
    /* This broker's clock entry at or after the settle (0: not known yet).
     * The terminal took the assignment before it answered, so a heartbeat
     * whose "seen" entry has reached this value was written after it had
     * it (units.h, the heartbeat's second way). Not stored: stamped anew
     * from the clock at the first heartbeat after a restart. */
    uint64_t settled_clock;
} held;

/* A revocation the unit has not yet been told in a heartbeat reply. */
typedef struct notice {
    char job_id[COORD_ID_MAX + 1];
    uint32_t attempt;
    char reason[BROKER_REASON_MAX];
    char owner[COORD_ID_MAX + 1]; /* a lent unit's job: its district; "" ours */
} notice;

typedef struct unit {
    change_node chg; /* first member: a change_node of a unit is the unit */
    char id[COORD_ID_MAX + 1];
    const char *kind; /* interned in state.strings */
    capset caps;
    char *url; /* its terminal, shorter than BROKER_URL_MAX; set at registration */
    uint32_t capacity;
    unit_cond cond;
    uint32_t load; /* slots held (pending + active) */
    held *held;    /* capacity entries, allocated on first use */
    notice *notices;
    size_t nnotices;
    uint64_t registered_ms, last_hb_wall_ms;
    /* Dispatch's view of its terminal (not stored: a restart trusts every
     * unit again). reach: transport failures and their backoff (libcoord
     * reach.h); calls: dispatch calls or probes to it in flight, so that
     * no second one waits on a failing address; refused: it answered a 4xx
     * (409 at capacity), and is not offered work again before its next
     * heartbeat (which reconciles what it holds). */
    reach reach;
    uint32_t calls;
    bool refused;
    /* Where it is (libcoord rank.h): its station as it registered (stored)
     * and its last fix from a heartbeat (memory only: after a restart the
     * next heartbeat brings it), pos.fix_ms on our clock. shown_fix*: the
     * fix peers last pulled (state_unit_fix). */
    rank_position pos;
    geo_point shown_fix;
    uint64_t shown_fix_ms;
} unit;

typedef struct state {
    char self[COORD_ID_MAX + 1]; /* this district */
    strtab *strings;             /* capability, kind, type and clock node names */
    hmap *units;                 /* id -> unit* */
    hmap *jobs;                  /* id -> job* */
    hmap *cap_index;             /* capability -> unit_list*: who can do what */
    hmap *borrowed;              /* job id -> job*: current attempt on another district's unit */
    hmap *lent;                  /* job id -> unit_list*: our units that took a claim for it */
    hmap *steps;                 /* "unit/job/attempt" -> step_rec*: crews' status (steps.h) */
    jobqueue *queue;
    failure_detector *fd;
    change_node changes; /* sentinel of the change list */
    uint64_t meta_version;
    /* The version of the last change peers are signalled for at once.
     * Touches made while quiet is set (a unit's loss or return that no
     * other district stands on) move the record in the change list but not
     * this: they travel with the next pull, so a city whose heartbeats run
     * late does not turn each late unit into a signal to every peer. */
    uint64_t urgent_version;
    bool quiet;
    uint64_t next_seq;    /* job arrival counter */
    size_t units_failing; /* units whose reach shows failures */
    uint64_t max_fix_age_ms; /* --max-fix-age: a fix older than this ranks by station */
} state;

/* A list of units: those offering one capability (the capability index),
 * or those of ours that took another district's claim for one job id (a
 * superset: an entry may outlive its slot, readers check the slot), so the
 * owner's copy of the job finds the claims it ends without a scan of the
 * district. */
typedef struct unit_list {
    unit **v;
    size_t n, cap;
} unit_list;

/* A (job, attempt, owner) as a unit names it in a heartbeat (owner "":
 * not given, as older terminals send it). */
typedef struct job_ref {
    char job_id[COORD_ID_MAX + 1];
    int64_t attempt;
    char owner[COORD_ID_MAX + 1];
} job_ref;

#define STATE_MAX_FIX_AGE_MS 300000 /* the --max-fix-age default */

/* max_fix_age_ms starts at STATE_MAX_FIX_AGE_MS; state_reset keeps it. */
int state_init(state *s, const char *self, uint64_t failure_timeout_ms);
void state_release(state *s);
/* Empties the district for a reload from the store (restore.h): every
 * unit, job, slot, index, the queue and the failure windows go. The string
 * table stays (synced copies share its names) and so does the change
 * list's version, so what is loaded next is news to every peer. */
int state_reset(state *s, uint64_t failure_timeout_ms);
/* A reload that may fail (etcd without quorum): state_stash moves the
 * records of s into *saved and leaves s as state_reset does (the string
 * table, the change list's version and the fix age kept, shared with
 * *saved). Then exactly one of: state_unstash puts *saved back into s,
 * dropping what s holds now (the reload failed: the copy is kept);
 * state_drop_stash frees *saved (the reload succeeded). */
int state_stash(state *s, state *saved, uint64_t failure_timeout_ms);
void state_unstash(state *s, state *saved);
void state_drop_stash(state *saved);

job *state_job(const state *s, const char *id);
unit *state_unit(const state *s, const char *id);
/* A new, empty record under id, in the maps but not yet indexed or in the
 * change list. NULL when out of memory. */
unit *state_add_unit(state *s, const char *id);
job *state_add_job(state *s, const char *id);
/* Makes *slot (a unit's kind, a job's type) hold name interned, letting go
 * of what it held. COORD_E_INVAL for a bad name, COORD_E_NOMEM with *slot
 * untouched. */
int state_set_name(state *s, const char **slot, const char *name);
/* Makes u->url a copy of url (cut at BROKER_URL_MAX - 1). COORD_E_NOMEM
 * with u->url untouched. */
int unit_set_url(unit *u, const char *url);
/* Takes it out of the maps (and queue) and frees it. */
void state_drop_job(state *s, job *j);
void unit_free(state *s, unit *u);
void job_free(state *s, job *j);
void result_free(result *r);

/* Rebuilds what is not stored after a load: the capability index, the
 * queue, unit loads, borrowed jobs, the change list and a fresh failure
 * window for every unit (a restart must not declare the city lost). */
int state_recover(state *s, uint64_t now_mono);
/* u took a claim for job_id (see unit_list). COORD_E_NOMEM: only the
 * repair from the owner's copy misses it. */
int state_lent_add(state *s, const char *job_id, unit *u);
const unit_list *state_lent(const state *s, const char *job_id);
/* u no longer holds any claim for job_id: forget it there. */
void state_lent_prune(state *s, const char *job_id, const unit *u);
/* A claim another district holds on one of our units, as stored. */
int state_restore_claim(state *s, const char *unit_id, const char *job_id, uint32_t attempt_no,
                        const char *owner);

/* The status a unit shows. */
static inline unit_status unit_shown_status(const unit *u)
{
    return unit_status_of(u->cond, u->load, u->capacity);
}
/* May dispatch offer u a job now (besides its status and room): its
 * terminal is not in its backoff (reach.h), no call to it is already in
 * flight while it fails, and it has not refused since its last heartbeat. */
static inline bool unit_may_dispatch(const unit *u, uint64_t now_mono)
{
    return !u->refused && !(u->calls && u->reach.failures) &&
           reach_may_assign(&u->reach, now_mono);
}
/* The requirement lines of j: a job without lines is one line of one
 * unit with j->caps. */
static inline uint32_t job_nlines(const job *j)
{
    return j->nlines ? j->nlines : 1;
}
static inline const capset *job_line_caps(const job *j, uint32_t line)
{
    return j->nlines ? &j->lines[line].caps : &j->caps;
}
static inline uint32_t job_line_count(const job *j, uint32_t line)
{
    return j->nlines ? j->lines[line].count : 1;
}
/* Units on line now: its pending and active attempts. */
uint32_t job_line_held(const job *j, uint32_t line);
/* The first line short of units, or -1 when every line is full. */
int job_open_line(const job *j);
/* j is queued or assigned and some line is short of units: dispatch
 * looks for one (a job in the queue is one that wants units). */
bool job_wants_units(const job *j);
/* j may still take a unit it reserved: it is queued or assigned. */
static inline bool job_takes_units(const job *j)
{
    return j->status == JOB_QUEUED || j->status == JOB_ASSIGNED;
}
/* j has an active attempt on a unit of another district. */
bool job_has_borrowed(const state *s, const job *j);
/* The latest attempt the executor confirmed, or NULL. */
attempt *job_current_attempt(const job *j);
attempt *job_attempt(const job *j, uint32_t n);
uint32_t job_next_attempt_no(const job *j);
/* Appends a copy of *a (its clock moves into the job). */
int job_add_attempt(job *j, const attempt *a);
/* Removes attempt n (a pending one that did not happen). */
void job_drop_attempt(state *s, job *j, uint32_t n);
bool attempt_is_local(const state *s, const attempt *a);
/* id is one of ids[0..n) (the units a dispatch tried already). */
bool ids_contain(const char (*ids)[COORD_ID_MAX + 1], size_t n, const char *id);

/* Slots. hold fails with COORD_E_RANGE at capacity. attempt_no 0 below
 * means any attempt of the job. */
int unit_hold(unit *u, const char *job_id, uint32_t attempt_no, bool pending);
held *unit_find_held(unit *u, const char *job_id, uint32_t attempt_no);
void unit_release_attempt(unit *u, const char *job_id, uint32_t attempt_no);
void unit_confirm(unit *u, const char *job_id);
/* Records the clock entry after the settle of (job_id, attempt_no). */
void unit_stamp_settled(unit *u, const char *job_id, uint32_t attempt_no, uint64_t clock_self);
/* Remembers a revocation for the unit's next heartbeat reply (oldest
 * dropped past UNIT_MAX_NOTICES: the executor's job list in the heartbeat
 * catches those). */
void unit_add_notice(unit *u, const char *job_id, uint32_t attempt_no, const char *reason);
/* The same for another district's job held by a lent unit (owner NULL or
 * "": ours). */
void unit_add_notice_for(unit *u, const char *job_id, uint32_t attempt_no, const char *reason,
                         const char *owner);
/* Makes room for capacity slots. */
int unit_reserve_slots(unit *u, uint32_t capacity);

/* The capability index: a unit is under each of its capabilities. Take it
 * out before its capabilities change. */
int state_index_unit(state *s, unit *u);
void state_unindex_unit(state *s, const unit *u);
/* Units offering cap (not to be kept past a change of the index). */
unit *const *state_units_with(const state *s, const char *cap, size_t *n);

/* The change list: a touched record moves to the end with a new version
 * (urgent unless s->quiet). */
void state_touch_unit(state *s, unit *u);
void state_touch_job(state *s, job *j);
/* The oldest change after version since, then the next ones; NULL at the
 * end. */
const change_node *state_changes_after(const state *s, uint64_t since);
const change_node *state_change_next(const state *s, const change_node *n);

#endif
