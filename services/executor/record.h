/* One held assignment as plain data: what the table holds, the store keeps
 * on disk and the view shows. No lock and no executor in sight; whoever
 * holds a record says which lock guards it. */
#ifndef EXECUTOR_RECORD_H
#define EXECUTOR_RECORD_H

#include <jansson.h>
#include <stdint.h>

#include "config.h"
#include "coord.h"

/* The most assignments a terminal keeps (active, revoked and reported);
 * the oldest decided ones make room for new ones. */
#define EXEC_MAX_ASSIGNMENTS 1024

typedef struct assignment {
    char job_id[COORD_ID_MAX + 1];
    int64_t attempt;
    char owner[COORD_ID_MAX + 1];
    char owner_url[EXEC_URL_MAX + 1];
    json_t *job;                          /* owned reference, never modified */
    asg_state state;                      /* changed only by libcoord/assignment.c */
    uint64_t received_ms;                 /* wall clock */
    uint64_t seq;                         /* arrival order, for GET ordering and eviction */
    char revoke_reason[COORD_ID_MAX + 1]; /* "" unless revoked with a reason */
    json_t *report;                       /* owned, replaced whole; NULL until decided */
    /* simulate mode only, not persisted: when to try (next) */
    uint64_t sim_due_ms; /* wall clock; 0 = received_ms + simulate_after */
    uint64_t sim_backoff_ms;
    vclock vc; /* the clock the broker sent with the assignment; last, see asg_dup */
} assignment;

/* A zeroed record, state active; NULL when out of memory. */
assignment *asg_new(void);
/* A copy sharing job and report (references taken); NULL when out of
 * memory. */
assignment *asg_dup(const assignment *a);
void asg_free(assignment *a); /* accepts NULL */

#endif
