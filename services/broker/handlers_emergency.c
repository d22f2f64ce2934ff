/* /v1/emergency: the city's emergency level as the coordinator pushes it
 * (POST) and as this broker holds it (GET). */
#include <stdlib.h>

#include "clock.h"
#include "core.h"
#include "emergency.h"
#include "handlers.h"
#include "txn.h"
#include "views.h"

static const char *const level_names[] = {"low", "medium", "high", "critical", NULL};

struct emergency_req {
    int level;
    int64_t set_ms;
    vclock clock;
    bool has_clock;
};

static const field_spec emergency_fields[] = {
    {"level", FT_ENUM, offsetof(struct emergency_req, level), true, 0, 0, level_names, 0},
    {"set_ms", FT_INT, offsetof(struct emergency_req, set_ms), false, 1, INT64_MAX, NULL, 0},
    {"vclock", FT_VCLOCK, offsetof(struct emergency_req, clock), false, 0, 0, NULL,
     offsetof(struct emergency_req, has_clock)},
    FIELD_END,
};

/* The level and the schedule it sets; caller holds mu. */
static json_t *emergency_reply(broker *b)
{
    return view_envelope(json_pack("{s:o, s:I}", "emergency",
                                   view_emergency(b->emergency, b->emergency_set_ms),
                                   "sync_interval_ms", (json_int_t)emergency_sync_interval(b)),
                         &b->clock);
}

void h_emergency_post(api_request *req, api_response *res)
{
    broker *b = req->ctx;
    struct emergency_req *r = calloc(1, sizeof(*r));
    txn t;

    if (!r) {
        api_reply_error(res, API_E_UNAVAILABLE, "out of memory");
        return;
    }
    if (!parse_body(req, res, emergency_fields, r)) {
        free(r);
        return;
    }
    pthread_mutex_lock(&b->mu);
    if (!store_ok_or_503(req, res)) {
        free(r);
        return;
    }
    txn_begin(b, &t);
    if (r->has_clock)
        clock_receive(b, &r->clock);
    emergency_from_coordinator(b, &t, (severity)r->level, (uint64_t)r->set_ms, true);
    /* Pull on the new schedule from now on. */
    emergency_reschedule_peers(b, coord_now_mono_ms());
    txn_signal_peers(&t);
    if (!commit_or_503(&t, req, res)) {
        free(r);
        return;
    }
    json_t *body = emergency_reply(b);
    txn_end(&t);
    free(r);
    api_reply_json(res, 200, body);
}

void h_emergency_get(api_request *req, api_response *res)
{
    broker *b = req->ctx;

    pthread_mutex_lock(&b->mu);
    json_t *body = emergency_reply(b);
    pthread_mutex_unlock(&b->mu);
    api_reply_json(res, 200, body);
}
