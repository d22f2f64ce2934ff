/* The crew's status steps at the terminal: where the unit stands on each
 * job it holds (dispatched .. cleared, libcoord/unitstatus.h has the legal
 * moves), kept durably in DIR/unit_status.json next to the assignments,
 * and an outbox that forwards every step to the home broker in the order
 * the crew took them. A step is acknowledged once it is on disk; one that
 * cannot be delivered is retried (with backoff, across restarts) and never
 * overtaken by a later one. The home refusing a step for good (an attempt
 * it no longer knows, an illegal step) drops it with a log line, so one
 * refusal cannot hold the steps behind it. Its own mutex, never held with
 * executor.mu and never during HTTP; held while the small file is written,
 * so the file's order is the outbox's. */
#ifndef EXECUTOR_STEPS_H
#define EXECUTOR_STEPS_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "context.h"
#include "coord.h"

#define EXEC_STEPS_FILE "unit_status.json"
/* The file this build writes; another format is refused at start. */
#define EXEC_STEPS_FORMAT 1
/* Steps waiting for the home broker: past this a new step is refused
 * (503) rather than grow without bound while the broker is away. */
#define EXEC_STEPS_OUTBOX_MAX 4096

typedef struct exec_steps exec_steps; /* steps.c: records, outbox, their lock */

/* Reads DIR/unit_status.json (none yet: empty) before any thread runs.
 * 0, or -1 with a reason in err: a file that cannot be read stops the
 * terminal rather than forget steps. */
int exec_steps_open(executor *e, char *err, size_t errlen);
/* The forwarding thread. 0 or -1. */
int exec_steps_start(executor *e);
/* Stops and joins it; false when it was stuck in a network call (then
 * do not free). */
bool exec_steps_stop(executor *e);
void exec_steps_free(executor *e); /* accepts a state never opened */

/* The crew's step `to` at at_ms (wall clock) on the job it holds.
 *   EXEC_CREATED     recorded, on disk, queued for the home broker
 *   EXEC_OK          the current step again: nothing changed
 *   EXEC_E_NOTFOUND  no assignment for job_id
 *   EXEC_E_INVAL     illegal after *cur (*ended: the assignment was
 *                    revoked or reported, only cleared may follow)
 *   EXEC_E_CAPACITY  the outbox is full
 *   EXEC_E_STORAGE   could not persist; nothing changed
 * *view (may be NULL) receives the job's status as shown (new reference). */
int exec_step(executor *e, const char *job_id, unit_step to, uint64_t at_ms, json_t **view,
              unit_step *cur, bool *ended);

/* Steps waiting for the home broker, and those delivered / dropped since
 * start (for /metrics). */
void exec_steps_counts(executor *e, size_t *queued, uint64_t *delivered, uint64_t *dropped);

#endif
