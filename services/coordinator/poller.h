/* The poller: every --poll-interval it fetches each broker's figures and
 * newest events, in parallel and without the coordinator lock, then swaps
 * them in under the lock. GET /v1/overview and GET /v1/events only read
 * what it stored. */
#ifndef COORDINATOR_POLLER_H
#define COORDINATOR_POLLER_H

#include <jansson.h>

#include "context.h"

#define COORD_RECENT_RESULTS 20 /* finished jobs shown per district */
#define COORD_OPEN_SHOWN 500 /* medium and low open jobs shown per district */

/* Starts the poller thread. 0, or -1 when the thread could not be made. */
int poller_start(coordinator *c);
/* Stops and joins it; a no-op when it never started. */
void poller_stop(coordinator *c);
/* Wakes it for an immediate round (e.g. after a registration). */
void poller_wake(coordinator *c);

/* Builds a district's view from the replies of one poll (pure; tested).
 * units/open_jobs/completed are the "units"/"jobs" arrays (may be NULL),
 * peers the GET /v1/peers body or NULL. New reference. */
json_t *district_view(const char *district, const json_t *units, const json_t *open_jobs,
                      const json_t *completed, const json_t *peers);

#endif
