/* The executor's route tables (routes.h); nothing else. */
#include "routes.h"

#include "faults.h"
#include "handlers_assignments.h"
#include "handlers_health.h"
#include "handlers_position.h"

#include "handlers_status.h"

/* Every terminal serves these; the fault-hook table adds its two routes
 * after them, so both tables index the same routes the same way. */
#define EXEC_SERVICE_ROUTES                                                                        \
    {"GET", "/v1/health", h_health, API_ACCESS_OPEN, API_BODY_NONE},                               \
        {"GET", "/metrics", h_metrics, API_ACCESS(API_ALL_ROLES), API_BODY_NONE},                  \
        {"POST", "/v1/assignments", h_assign, API_ACCESS(API_PEER | API_OPERATOR), API_BODY_JSON}, \
        {"GET", "/v1/assignments", h_list, API_ACCESS(API_ALL_ROLES), API_BODY_NONE},              \
        {"GET", "/v1/assignments/{job_id}", h_get, API_ACCESS(API_ALL_ROLES), API_BODY_NONE},      \
        {"DELETE", "/v1/assignments/{job_id}", h_revoke, API_ACCESS(API_PEER | API_OPERATOR),      \
         API_BODY_NONE},                                                                           \
        {"POST", "/v1/position", h_position, API_ACCESS_SELF(API_UNIT | API_OPERATOR),             \
         API_BODY_JSON},                                                                           \
        {"POST", "/v1/assignments/{job_id}/result", h_result,                                      \
         API_ACCESS_SELF(API_UNIT | API_DISPATCHER | API_OPERATOR), API_BODY_JSON},             \
        {"POST", "/v1/assignments/{job_id}/status", h_status,                                      \
         API_ACCESS_SELF(API_UNIT | API_DISPATCHER | API_OPERATOR), API_BODY_JSON}

const api_route exec_routes[] = {EXEC_SERVICE_ROUTES};
const size_t exec_nroutes = sizeof exec_routes / sizeof exec_routes[0];

const api_route exec_fault_routes[] = {
    EXEC_SERVICE_ROUTES,
    {"GET", "/v1/faults", h_faults_get, API_ACCESS(API_OPERATOR), API_BODY_NONE},
    {"POST", "/v1/faults", h_faults_post, API_ACCESS(API_OPERATOR), API_BODY_JSON},
};
const size_t exec_fault_nroutes = sizeof exec_fault_routes / sizeof exec_fault_routes[0];
