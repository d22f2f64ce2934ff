/* The broker registry: the sorted table of registered district brokers,
 * how a broker is shown, and filling the table from the database at start.
 * Every function runs with coordinator.mu held by the caller. */
#ifndef COORDINATOR_REGISTRY_H
#define COORDINATOR_REGISTRY_H

#include <jansson.h>
#include <stdint.h>

#include "context.h"

/* The broker called id, or NULL. */
broker_rec *coordinator_broker(coordinator *c, const char *id);
/* A new, empty record for id in its sorted place, or NULL when out of
 * memory. The caller checked that id is absent and the table not full. */
broker_rec *registry_insert(coordinator *c, const char *id);
/* Records that b registered under url (any URL: its origin is kept) at
 * now: a known one is refreshed; an unknown one is added (*added), the
 * least recently registered going past COORD_BROKER_URLS (its origin into
 * evicted, else ""). -1 when url has no origin we can call. */
int registry_note_url(broker_rec *b, const char *url, uint64_t now, bool *added, char *evicted,
                      size_t evsz);
/* Forgets what was polled from b (it moved: another process now). */
void registry_forget_figures(broker_rec *b);

json_t *broker_rec_json(const broker_rec *b, uint64_t now_wall, uint64_t now_mono);
json_t *coordinator_brokers_json(const coordinator *c); /* [broker, ...] */

/* Loads the registry from c->db into an empty table. 0, or -1 when the
 * rows cannot be read (or memory runs out). */
int registry_load(coordinator *c);
/* Frees every record. */
void registry_release(coordinator *c);

#endif
