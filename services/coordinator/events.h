/* Event objects as the coordinator keeps and shows them: the bounded ring
 * each node's recent events live in, the clean copy of an event a broker
 * sent, the city-wide order, and the time format events and replies carry.
 * Pure: no lock, no I/O. */
#ifndef COORDINATOR_EVENTS_H
#define COORDINATOR_EVENTS_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#define COORD_EVENTS_PER_NODE 500 /* events kept per broker (and our own) */
#define COORD_STREAM_KEEP     4096 /* city-wide events the stream can replay */

/* One bounded ring of events (JSON objects, owned). */
typedef struct event_ring {
    json_t *ev[COORD_EVENTS_PER_NODE];
    size_t head, n; /* oldest at head */
} event_ring;
void event_ring_push(event_ring *r, json_t *ev); /* steals ev; drops the oldest when full */
void event_ring_clear(event_ring *r);

/* A clean copy of an event a broker sent (only known fields, bounded), or
 * NULL when it is malformed. New reference. */
json_t *event_sanitize(const json_t *ev);
/* Sorts an array of event objects by time, then node, then seq. */
void events_sort(json_t *events);

/* Time as "2026-11-26T10:00:00.000Z". */
void iso_time(uint64_t ms, char *buf, size_t len);

#endif
