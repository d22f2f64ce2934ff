/* /v1/overview: every district at a glance, from the poller's figures. Never
 * waits on a broker: a district that does not answer shows its last figures
 * and how old they are. */
#include "handlers_overview.h"

#include "coord.h"
#include "context.h"
#include "emergency.h"
#include "journal.h"

static json_t *empty_view(void)
{
    return json_pack("{s:{s:i, s:i, s:i, s:i}, s:[], s:[], s:[], s:n}", "units_by_status",
                     "available", 0, "busy", 0, "lost", 0, "out_of_service", 0, "units",
                     "open_jobs", "recent_results", "peers");
}

void h_overview_get(api_request *req, api_response *res)
{
    coordinator *c = req->ctx;
    json_t *districts = json_array();
    pthread_mutex_lock(&c->mu);
    uint64_t mono = coord_now_mono_ms(), wall = coord_now_wall_ms();
    for (size_t i = 0; i < c->nbrokers; i++) {
        const broker_rec *b = c->brokers[i];
        json_t *d = json_pack(
            "{s:s, s:s, s:b, s:o, s:I}", "id", b->id, "url", b->url, "reachable", b->reachable,
            "age_ms",
            b->figures_mono_ms ? json_integer((json_int_t)(mono - b->figures_mono_ms))
                               : json_null(),
            "last_seen_ms_ago", (json_int_t)(wall > b->last_seen_ms ? wall - b->last_seen_ms : 0));
        /* The view is immutable once the poller stored it: its members are
         * shared (atomic reference counts), never modified. */
        json_t *view = b->view ? json_incref(b->view) : empty_view();
        json_object_update(d, view);
        json_decref(view);
        json_array_append_new(districts, d);
    }
    json_t *body =
        json_pack("{s:o, s:o, s:o}", "districts", districts, "emergency",
                  emergency_json(c->level, c->level_set_ms), "vclock", coordinator_clock_json(c));
    pthread_mutex_unlock(&c->mu);
    api_reply_json(res, 200, body);
}
