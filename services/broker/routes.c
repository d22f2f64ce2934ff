/* The broker's one route table: method, path, handler, who may call it and
 * what body it takes. */
#include "routes.h"

#include "handlers.h"

const api_route broker_routes[] = {
    {"GET", "/v1/health", h_health, ROLE_ANY, API_BODY_NONE},
    {"GET", "/metrics", h_metrics, ROLE_ANY, API_BODY_NONE},
    {"POST", "/v1/units", h_units_post, ROLE_UNIT, API_BODY_JSON},
    {"GET", "/v1/units", h_units_list, ROLE_ANY, API_BODY_NONE},
    {"GET", "/v1/units/{id}", h_unit_get, ROLE_ANY, API_BODY_NONE},
    {"POST", "/v1/units/{id}/heartbeat", h_unit_heartbeat, ROLE_UNIT, API_BODY_OPTIONAL},
    {"POST", "/v1/jobs", h_jobs_post, ROLE_CLIENT, API_BODY_JSON},
    {"GET", "/v1/jobs", h_jobs_list, ROLE_ANY, API_BODY_NONE},
    {"GET", "/v1/jobs/{id}", h_job_get, ROLE_ANY, API_BODY_NONE},
    {"POST", "/v1/jobs/{id}/results", h_job_results_post, ROLE_UNIT, API_BODY_JSON},
    {"POST", "/v1/jobs/{id}/cancel", h_job_cancel, ROLE_CLIENT, API_BODY_OPTIONAL},
    {"POST", "/v1/units/{id}/claim", h_unit_claim, ROLE_PEER, API_BODY_JSON},
    {"POST", "/v1/units/{id}/release", h_unit_release, ROLE_PEER, API_BODY_JSON},
    {"GET", "/v1/events", h_events_get, ROLE_ANY, API_BODY_NONE},
    {"GET", "/v1/metadata", h_metadata_get, ROLE_PEER, API_BODY_NONE},
    {"GET", "/v1/peers", h_peers_get, ROLE_ANY, API_BODY_NONE},
    {"POST", "/v1/notify", h_notify_post, ROLE_PEER, API_BODY_JSON},
    {"POST", "/v1/emergency", h_emergency_post, ROLE_ADMIN, API_BODY_JSON},
    {"GET", "/v1/emergency", h_emergency_get, ROLE_ANY, API_BODY_NONE},
};
const size_t broker_nroutes = sizeof(broker_routes) / sizeof(broker_routes[0]);
