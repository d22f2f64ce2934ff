/* ergrid-broker, one per district: owns its units and the jobs submitted
 * to it; assigns, detects failures, redeploys, arbitrates results FCFS and
 * syncs with its peers. This is its lifecycle; core.h is what it is made
 * of. */
#ifndef BROKER_H
#define BROKER_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"

typedef struct broker broker;

/* Opens the data dir and recovers: the store (a damaged or foreign one is
 * refused), the clock, the district's state and the synced copies. NULL
 * with a message in err. */
broker *broker_new(const broker_config *cfg, char *err, size_t errlen);
/* Serves on cfg's address (*port: the one bound) and starts every thread.
 * 0, or -1 with everything started so far stopped again. */
int broker_start(broker *b, uint16_t *port);
/* The URL peers and units use to reach it (after start). */
const char *broker_url(const broker *b);
/* Stops serving and joins every thread. */
void broker_stop(broker *b);
/* Accepts NULL. Stop first when started. */
void broker_free(broker *b);

#endif
