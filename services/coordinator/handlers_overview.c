/* /v1/overview: every district at a glance, from the poller's figures. Never
 * waits on a broker: a district that does not answer shows its last figures
 * and how old they are. The city totals count every open job, shown or
 * not, and only reachable districts' units as available: a unit its broker
 * cannot be asked about cannot be sent. */
#include "handlers_overview.h"

#include <stdio.h>

#include "coord.h"
#include "context.h"
#include "emergency.h"
#include "journal.h"

static json_t *empty_view(void)
{
    return json_pack("{s:{s:i, s:i, s:i, s:i}, s:[], s:[], s:{s:i, s:i, s:i, s:i, s:i, s:i, s:i, "
                     "s:i}, s:[], s:[], s:n}",
                     "units_by_status", "available", 0, "busy", 0, "lost", 0, "out_of_service", 0,
                     "units", "open_jobs", "open_counts", "total", 0, "shown", 0, "queued", 0,
                     "assigned", 0, "critical", 0, "high", 0, "medium", 0, "low", 0,
                     "recent_results", "recent_cancelled", "peers");
}

void h_overview_get(api_request *req, api_response *res)
{
    coordinator *c = req->ctx;
    json_t *districts = json_array();
    json_int_t avail = 0, unreachable_avail = 0;
    json_int_t open[8] = {0};
    static const char *const open_keys[] = {"total", "shown",  "queued", "assigned",
                                            "critical", "high", "medium", "low"};
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
        json_t *by = json_object_get(d, "units_by_status"), *oc = json_object_get(d, "open_counts");
        json_int_t a = json_integer_value(json_object_get(by, "available"));
        if (b->reachable)
            avail += a;
        else
            unreachable_avail += a;
        for (int k = 0; k < 8; k++)
            open[k] += json_integer_value(json_object_get(oc, open_keys[k]));
        json_array_append_new(districts, d);
    }
    json_t *totals = json_pack("{s:I, s:I}", "units_available", avail,
                               "units_available_unreachable", unreachable_avail);
    for (int k = 0; totals && k < 8; k++) {
        char key[32];
        snprintf(key, sizeof(key), "open_%s", open_keys[k]);
        json_object_set_new(totals, key, json_integer(open[k]));
    }
    json_t *body = json_pack("{s:o, s:o, s:o, s:o}", "districts", districts, "totals", totals,
                             "emergency", emergency_json(c->level, c->level_set_ms), "vclock",
                             coordinator_clock_json(c));
    pthread_mutex_unlock(&c->mu);
    api_reply_json(res, 200, body);
}
