/* GET /v1/events (handlers_events.h): the city's recent events, merged
 * from every broker's log (as the poller last fetched it) and our own. */
#include "handlers_events.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "context.h"
#include "events.h"
#include "journal.h"

void h_events_get(api_request *req, api_response *res)
{
    coordinator *c = req->ctx;
    const char *ls = api_query(req, "limit"), *fmt = api_query(req, "format");
    unsigned long limit = 500;
    bool shiviz = false;
    if (ls) {
        char *end;
        limit = (*ls >= '0' && *ls <= '9') ? strtoul(ls, &end, 10) : 0;
        if (!(*ls >= '0' && *ls <= '9') || *end || limit < 1 || limit > COORD_EVENTS_LIMIT_MAX) {
            api_reply_error(res, API_E_BAD_REQUEST, "limit must be 1..%d", COORD_EVENTS_LIMIT_MAX);
            return;
        }
    }
    if (fmt) {
        if (strcmp(fmt, "shiviz") == 0) {
            shiviz = true;
        } else if (strcmp(fmt, "json") != 0) {
            api_reply_error(res, API_E_BAD_REQUEST, "format must be json or shiviz");
            return;
        }
    }
    /* Events are immutable once stored; with jansson's atomic reference
     * counts they are shared with the reply instead of copied. */
    json_t *all = json_array();
    pthread_mutex_lock(&c->mu);
    for (size_t b = 0; b <= c->nbrokers; b++) {
        const event_ring *r = b < c->nbrokers ? &c->brokers[b]->events : &c->events;
        for (size_t i = 0; i < r->n; i++)
            json_array_append(all, r->ev[(r->head + i) % COORD_EVENTS_PER_NODE]);
    }
    json_t *vc = coordinator_clock_json(c);
    pthread_mutex_unlock(&c->mu);
    events_sort(all);
    size_t n = json_array_size(all);
    json_t *tail = all;
    if (n > limit) {
        tail = json_array();
        for (size_t i = n - limit; i < n; i++)
            json_array_append(tail, json_array_get(all, i));
        json_decref(all);
    }
    if (shiviz) {
        size_t len = 0;
        char *text = shiviz_format(tail, &len);
        json_decref(tail);
        json_decref(vc);
        if (!text) {
            api_reply_error(res, API_E_UNAVAILABLE, "out of memory");
            return;
        }
        api_reply_text(res, 200, "text/plain; charset=utf-8", text, len);
        free(text);
        return;
    }
    api_reply_json(res, 200, json_pack("{s:o, s:o}", "events", tail, "vclock", vc));
}
