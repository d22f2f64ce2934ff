/* The executor's one route table (routes.h); nothing else. */
#include "routes.h"

#include "handlers_assignments.h"
#include "handlers_health.h"

const api_route exec_routes[] = {
    {"GET", "/v1/health", h_health, ROLE_ANY, API_BODY_NONE},
    {"GET", "/metrics", h_metrics, ROLE_ANY, API_BODY_NONE},
    {"POST", "/v1/assignments", h_assign, ROLE_PEER, API_BODY_JSON},
    {"GET", "/v1/assignments", h_list, ROLE_ANY, API_BODY_NONE},
    {"GET", "/v1/assignments/{job_id}", h_get, ROLE_ANY, API_BODY_NONE},
    {"DELETE", "/v1/assignments/{job_id}", h_revoke, ROLE_PEER, API_BODY_NONE},
    {"POST", "/v1/assignments/{job_id}/result", h_result, ROLE_CLIENT, API_BODY_JSON},
};
const size_t exec_nroutes = sizeof exec_routes / sizeof exec_routes[0];
