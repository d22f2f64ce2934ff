/* The executor's one route table, and the per-request metrics hook. */
#include <string.h>

#include "handlers.h"

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

void exec_on_request(void *ctx, const char *method, const char *route_pattern, unsigned status,
                     double seconds)
{
    executor *e = ctx;
    const size_t slots = sizeof e->metrics.latency / sizeof e->metrics.latency[0];
    size_t idx = exec_nroutes < slots ? exec_nroutes : slots - 1; /* unmatched */
    for (size_t i = 0; route_pattern && method && i < exec_nroutes && i < slots - 1; i++) {
        if (strcmp(exec_routes[i].pattern, route_pattern) == 0 &&
            strcmp(exec_routes[i].method, method) == 0) {
            idx = i;
            break;
        }
    }
    pthread_mutex_lock(&e->metrics_mu);
    histogram_observe(&e->metrics.latency[idx], seconds);
    pthread_mutex_unlock(&e->metrics_mu);
}
