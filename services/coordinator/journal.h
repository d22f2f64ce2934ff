/* The coordinator's own clock and event log: merging the clocks brokers
 * send, ticking and recording an event of ours, committing both with the
 * change they belong to, and reading them back at start. Every function
 * runs with coordinator.mu held by the caller. */
#ifndef COORDINATOR_JOURNAL_H
#define COORDINATOR_JOURNAL_H

#include <jansson.h>
#include <stddef.h>

#include "context.h"
#include "coord.h"

#define COORD_NODE "coordinator" /* our vector-clock node name */

json_t *coordinator_clock_json(const coordinator *c);
/* Merges a clock a broker sent. Skipped when invalid, when the union would
 * exceed the cap, or when it would leave no room for our own entry. */
void coordinator_merge_clock(coordinator *c, const json_t *vc);
void coordinator_merge_vclock(coordinator *c, const vclock *in);
/* Ticks the clock and records an event of ours (persisted in the open
 * transaction when inside one). job_id may be NULL. */
void coordinator_event(coordinator *c, const char *type, const char *job_id, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Saves the clock and commits; logs and rolls back on failure. 0 or -1. */
int coordinator_commit(coordinator *c);

/* Reads the clock and our newest events from c->db. 0, or -1 when the
 * events cannot be read. */
int journal_load(coordinator *c);

#endif
