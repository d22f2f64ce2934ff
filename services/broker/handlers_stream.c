/* GET /v1/events/stream (api/sse.h): the district's event log as a push
 * stream. The SSE id is the event's seq, the same number GET /v1/events
 * pages by; the store keeps the whole log, so a reconnect resumes from any
 * Last-Event-ID the district has issued. */
#include <string.h>

#include "core.h"
#include "handlers.h"
#include "txn.h"
#include "views.h"

struct stream_ctx {
    api_sse_item *items;
    size_t max, n;
};

static void item_cb(void *arg, const store_event *ev)
{
    struct stream_ctx *c = arg;

    if (c->n < c->max) {
        c->items[c->n].id = ev->seq;
        c->items[c->n].data = view_event(ev);
        c->n++;
    }
}

/* The source the hub reads: a page of the log under a short hold of the
 * broker mutex, shown once durable like GET /v1/events (group commit). */
int broker_stream_read(void *cls, uint64_t after, api_sse_item *items, size_t max, size_t *n,
                       uint64_t *head, uint64_t *held_from)
{
    broker *b = cls;
    struct stream_ctx c = {items, max, 0};
    int rc = 0;

    pthread_mutex_lock(&b->mu);
    *head = b->event_seq;
    if (max)
        rc = b->store.list_events(b->store.cls, after, max, item_cb, &c);
    if (!txn_read_done(b))
        rc = -1;
    *held_from = 0;
    if (rc < 0) {
        for (size_t i = 0; i < c.n; i++)
            json_decref(items[i].data);
        c.n = 0;
    }
    *n = c.n;
    return rc < 0 ? -1 : 0;
}

void h_events_stream(api_request *req, api_response *res)
{
    broker *b = req->ctx;

    api_sse_serve(b->sse, req, res);
}
