/* The broker's one route table: method, path, handler, who may call it
 * (roles and the subject rule of docs/SECURITY.md; the release's "the
 * claim's owner" is checked by its handler) and what body it takes. */
#include "routes.h"

#include "handlers.h"

const api_route broker_routes[] = {
    {"GET", "/v1/health", h_health, API_ACCESS_OPEN, API_BODY_NONE},
    {"GET", "/metrics", h_metrics, API_ACCESS(API_ALL_ROLES), API_BODY_NONE},
    {"POST", "/v1/units", h_units_post, API_ACCESS_BODY(API_UNIT | API_OPERATOR, "id"),
     API_BODY_JSON},
    {"GET", "/v1/units", h_units_list, API_ACCESS(API_ALL_ROLES), API_BODY_NONE},
    {"GET", "/v1/units/{id}", h_unit_get, API_ACCESS(API_ALL_ROLES), API_BODY_NONE},
    {"POST", "/v1/units/{id}/heartbeat", h_unit_heartbeat,
     API_ACCESS_PATH(API_UNIT | API_OPERATOR, 0), API_BODY_OPTIONAL},
    {"POST", "/v1/units/{id}/assignments/{job_id}/status", h_unit_status_post,
     API_ACCESS_PATH(API_UNIT | API_OPERATOR, 0), API_BODY_JSON},
    {"POST", "/v1/jobs", h_jobs_post, API_ACCESS(API_DISPATCHER | API_OPERATOR), API_BODY_JSON},
    {"GET", "/v1/jobs", h_jobs_list, API_ACCESS(API_ALL_ROLES), API_BODY_NONE},
    {"GET", "/v1/jobs/{id}", h_job_get, API_ACCESS(API_ALL_ROLES), API_BODY_NONE},
    {"POST", "/v1/jobs/{id}/results", h_job_results_post,
     API_ACCESS_BODY(API_UNIT | API_DISPATCHER | API_OPERATOR, "unit_id"), API_BODY_JSON},
    {"POST", "/v1/jobs/{id}/cancel", h_job_cancel, API_ACCESS(API_DISPATCHER | API_OPERATOR),
     API_BODY_OPTIONAL},
    {"POST", "/v1/units/{id}/claim", h_unit_claim,
     API_ACCESS_BODY(API_PEER | API_OPERATOR, "owner"), API_BODY_JSON},
    {"POST", "/v1/units/{id}/release", h_unit_release, API_ACCESS(API_PEER | API_OPERATOR),
     API_BODY_JSON},
    {"GET", "/v1/events", h_events_get, API_ACCESS(API_ALL_ROLES), API_BODY_NONE},
    {"GET", "/v1/events/stream", h_events_stream, API_ACCESS(API_ALL_ROLES), API_BODY_NONE},
    {"GET", "/v1/metadata", h_metadata_get, API_ACCESS(API_ALL_ROLES), API_BODY_NONE},
    {"GET", "/v1/peers", h_peers_get, API_ACCESS(API_ALL_ROLES), API_BODY_NONE},
    {"POST", "/v1/notify", h_notify_post, API_ACCESS_BODY(API_PEER | API_OPERATOR, "broker"),
     API_BODY_JSON},
    {"POST", "/v1/emergency", h_emergency_post, API_ACCESS(API_DISPATCHER | API_OPERATOR),
     API_BODY_JSON},
    {"GET", "/v1/emergency", h_emergency_get, API_ACCESS(API_ALL_ROLES), API_BODY_NONE},
};
const size_t broker_nroutes = sizeof(broker_routes) / sizeof(broker_routes[0]);
