/* Server-Sent Events push streams (GET /v1/events/stream): a hub per
 * service that owns the open streams (their cap, heartbeats, who is parked
 * waiting for events, shutdown), the query and Last-Event-ID rules, the
 * filters and the record format. Where events come from is the service's:
 * a read callback over its own log (the broker's store), or the hub's own
 * bounded ring that the service publishes into (the coordinator's city
 * order). Streams pull from the source only when their socket takes more,
 * so a slow reader holds nothing but its place in the log. */
#ifndef API_SSE_H
#define API_SSE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "http_server.h"

#define API_SSE_DEFAULT_MAX_STREAMS  64
#define API_SSE_DEFAULT_HEARTBEAT_MS 15000
/* A stream more events than this behind its source's newest is cut with
 * a final `event: overflow` (it reconnects with Last-Event-ID). */
#define API_SSE_LAG_MAX 10000
/* Records formatted ahead of the socket, per stream. */
#define API_SSE_BACKLOG_BYTES 65536
/* Bytes the kernel holds unsent for a client that is not reading: beyond
 * it the stream is cut (the client reconnects with Last-Event-ID). */
#define API_SSE_UNSENT_MAX (256 * 1024)
#define API_SSE_READ_BATCH    64 /* events asked of the source per read */

/* One event a source hands over: its stream id and its JSON (a new
 * reference the hub takes). type/job_id/unit_id for the filters are read
 * from the JSON's "type", "job_id" and "unit_id". */
typedef struct api_sse_item {
    uint64_t id;
    json_t *data;
} api_sse_item;

/* Up to max events with id > after, in id order, into items; *n their
 * count. *head: the newest id the source holds; *held_from: every event
 * with an id above it is still held (an after below it has lost some).
 * Returns 0, or -1 when the log cannot be read (the stream ends). Called
 * on a stream's worker thread, never with the hub's lock held. */
typedef int (*api_sse_read_fn)(void *cls, uint64_t after, api_sse_item *items, size_t max,
                               size_t *n, uint64_t *head, uint64_t *held_from);

typedef struct api_sse_config {
    size_t max_streams;    /* 0: API_SSE_DEFAULT_MAX_STREAMS */
    unsigned heartbeat_ms; /* 0: API_SSE_DEFAULT_HEARTBEAT_MS */
    /* NULL: the hub's own ring of ring_keep events (api_sse_publish), ids
     * from ring_first_id + 1 on. */
    api_sse_read_fn read;
    void *read_cls;
    size_t ring_keep;
    uint64_t ring_first_id;
} api_sse_config;

typedef struct api_sse_hub api_sse_hub;

api_sse_hub *api_sse_hub_new(const api_sse_config *cfg);
/* Ends every stream (each gets its end of body) and waits, up to about
 * two seconds, for libmicrohttpd to let go of them: call before
 * api_server_stop. Idempotent. */
void api_sse_hub_close(api_sse_hub *h);
/* Closes, stops the hub's thread, frees. Accepts NULL. */
void api_sse_hub_free(api_sse_hub *h);

/* New events may be readable: wakes the parked streams. Cheap and
 * non-blocking (a mutex held for a flag), so a writer may call it under its
 * own lock. Accepts NULL. */
void api_sse_notify(api_sse_hub *h);
/* Appends ev (stolen) to the hub's own ring with the next id, and
 * notifies. Returns that id (0 when the hub reads a source instead). */
uint64_t api_sse_publish(api_sse_hub *h, json_t *ev);

/* The handler of GET .../stream: 400 for a bad Last-Event-ID or filter,
 * 503 with Retry-After at the cap or while closing, else the stream. */
void api_sse_serve(api_sse_hub *h, api_request *req, api_response *res);

/* ergrid_sse_* (open streams, the cap, opened / refused / cut). */
void api_sse_metrics(api_sse_hub *h, strbuf *sb);

#endif
