/* Synced copies of other districts' units and jobs, as typed records (the
 * shapes views print), bounded per peer; the requeue of our jobs whose
 * borrowed unit a peer shows lost; and the mutual-aid candidate, chosen by
 * libcoord's one ranking. A copy is a guide for finding units, never the
 * authority (DESIGN.md §3.2). Guarded by the broker's domain mutex. */
#ifndef BROKER_REMOTE_H
#define BROKER_REMOTE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bounds.h"
#include "peertab.h"
#include "state.h"

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
    uint64_t fetched_wall_ms;
    uint64_t gen; /* the peer's full-sync generation that last confirmed it */
} runit;

typedef struct rattempt {
    uint32_t n;
    char unit_id[COORD_ID_MAX + 1];
    char district[COORD_ID_MAX + 1];
    attempt_state state;
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
    int64_t created_ms, updated_ms; /* -1: not shown */
    uint64_t fetched_wall_ms;
    uint64_t gen;
} rjob;

typedef struct remote {
    strtab *strings;  /* the state's: names shared with our own records */
    hmap *units;      /* id -> runit* */
    hmap *jobs;       /* id -> rjob* */
    hmap *counts;     /* peer id -> copies held of it */
    uint64_t refused; /* copies refused past a per-peer cap */
} remote;

int remote_init(remote *r, strtab *strings);
void remote_release(remote *r);
void runit_release(runit *u, strtab *t);
void rjob_release(rjob *j, strtab *t);

const runit *remote_unit(const remote *r, const char *id);
const rjob *remote_job(const remote *r, const char *id);

/* Stores a copy, replacing any copy of the same id; the record's contents
 * move into the table (*copy is emptied). COORD_E_RANGE when its peer is at
 * its cap (refused and counted), COORD_E_NOMEM. */
int remote_put_unit(remote *r, runit *copy);
int remote_put_job(remote *r, rjob *copy);

/* Forgets the copies of peer from that no full sync of generation gen
 * confirmed. ids (malloc'd, *n of them; free() it) lists what went, for
 * the store. kind 'u' units, 'j' jobs. */
int remote_sweep(remote *r, char kind, const char *from, uint64_t gen,
                 char (**ids)[COORD_ID_MAX + 1], size_t *n);

/* A home broker's own answer about its unit (a claim reply): the freshest
 * copy there is. Keeps the copy's peer and generation. */
void remote_refresh_unit(remote *r, runit *fresh, uint64_t now_wall);
/* The home refused a claim: the unit is not free, whatever the copy said. */
void remote_mark_busy(remote *r, const char *id);

/* What applying one copy from a peer's page did. */
#define REMOTE_REQUEUE_MAX BROKER_MAX_CAPACITY
typedef struct copy_outcome {
    bool own;    /* the id is one of ours: never overwritten by a copy */
    bool stored; /* kept (not refused past the cap) */
    size_t nrequeued;
    job *requeued[REMOTE_REQUEUE_MAX]; /* our jobs on a unit the copy shows lost */
    bool may_aid;                      /* an available unit while jobs wait here */
} copy_outcome;

/* Applies a copy from a page (the contents move into the table, or are
 * released): our own ids are ignored; a unit shown lost sends back to the
 * queue our jobs borrowing it. */
void remote_apply_unit(remote *r, state *s, runit *copy, uint64_t now_wall, copy_outcome *out);
void remote_apply_job(remote *r, state *s, rjob *copy, copy_outcome *out);

/* Our jobs whose current attempt is on unit_id of district owner, which the
 * owner shows lost, go back to the queue (state_requeue). Up to max jobs
 * are written to out; returns how many. */
size_t remote_requeue_on_lost(state *s, const char *unit_id, const char *owner, uint64_t now_wall,
                              job **out, size_t max);

/* The mutual-aid candidate for j: the best available copy (unit_order)
 * that offers what j needs, not in tried, whose home is a known peer.
 * Fills unit_id and home. */
bool remote_pick_unit(const remote *r, const peertab *peers, const job *j,
                      const char (*tried)[COORD_ID_MAX + 1], size_t ntried, char *unit_id,
                      char *home);

/* Copies matching a listing's filters, sorted by id (malloc'd; free()). */
const runit **remote_list_units(const remote *r, const unit_status *status, const char *cap,
                                size_t *n);
const rjob **remote_list_jobs(const remote *r, const job_status *status, size_t *n);

#endif
