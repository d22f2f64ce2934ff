/* ergrid-coordinator's lifecycle: recovery from SQLite, the HTTP server,
 * the poller, and a clean stop. What the coordinator is and how its lock
 * works is in context.h. */
#ifndef COORDINATOR_H
#define COORDINATOR_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "context.h"

/* Prepares c from cfg and the database in cfg->data_dir. 0, or -1 with a
 * one-line reason in err; coordinator_release is due either way. */
int coordinator_init(coordinator *c, const coordinator_config *cfg, char *err, size_t errlen);
int coordinator_start(coordinator *c, uint16_t *port); /* HTTP server; 0 or -1 */
int coordinator_start_poller(coordinator *c);          /* 0 or -1 */
void coordinator_stop(coordinator *c);
void coordinator_release(coordinator *c);

#endif
