/* Assignment: giving a queued job a unit. A dispatch reserves under the
 * domain mutex (a PENDING attempt counts toward the unit's load, so no
 * other dispatch can pick it), calls the executor, or claims a unit at its
 * home broker (mutual aid), with the mutex released, and settles under the
 * mutex again: ACTIVE and committed when the unit was taken, dropped when
 * it was refused or did not answer. Own district first, then mutual aid,
 * then, in an emergency, preemption of a low-severity job. The drain thread
 * runs the queue in priority order whenever a unit may have come free. */
#ifndef BROKER_DISPATCH_H
#define BROKER_DISPATCH_H

#include <stdbool.h>

#include "core.h"

typedef enum dispatch_outcome {
    DISPATCH_ASSIGNED,
    DISPATCH_QUEUED,
    DISPATCH_SKIPPED, /* not queued, or someone else is dispatching it */
} dispatch_outcome;

/* Tries to give job_id a unit; called without the domain mutex. owned: the
 * caller marked the job dispatching itself (a fresh submission), so the
 * drain and other dispatches leave it alone; the mark is cleared on
 * return. */
dispatch_outcome dispatch_job(broker *b, const char *job_id, bool owned);
/* Clears the dispatching mark of a job the caller marked (a submission
 * that will not be dispatched by its caller after all) and lets the drain
 * thread look at it. */
void dispatch_release(broker *b, const char *job_id);
/* Asks the drain thread to look at the queue. */
void dispatch_request_drain(broker *b);
void *dispatch_drain_main(void *arg);
/* The outbox's hook: a revocation reached its executor. */
void dispatch_revocation_delivered(void *arg, const outbox_msg *m);

#endif
