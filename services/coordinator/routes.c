/* The coordinator's one route table (routes.h); nothing else. */
#include "routes.h"

#include "dashboard.h"
#include "handlers_brokers.h"
#include "handlers_emergency.h"
#include "handlers_events.h"
#include "handlers_health.h"
#include "handlers_incidents.h"
#include "handlers_overview.h"

const api_route coordinator_routes[] = {
    {"GET", "/", h_dashboard, ROLE_ANY, API_BODY_NONE},
    {"GET", "/v1/health", h_health, ROLE_ANY, API_BODY_NONE},
    {"GET", "/metrics", h_metrics, ROLE_ANY, API_BODY_NONE},
    {"POST", "/v1/brokers", h_brokers_post, ROLE_PEER, API_BODY_JSON},
    {"GET", "/v1/brokers", h_brokers_list, ROLE_ANY, API_BODY_NONE},
    {"POST", "/v1/incidents", h_incidents_post, ROLE_CLIENT, API_BODY_JSON},
    {"GET", "/v1/overview", h_overview_get, ROLE_ANY, API_BODY_NONE},
    {"POST", "/v1/emergency", h_emergency_post, ROLE_ADMIN, API_BODY_JSON},
    {"GET", "/v1/emergency", h_emergency_get, ROLE_ANY, API_BODY_NONE},
    {"GET", "/v1/events", h_events_get, ROLE_ANY, API_BODY_NONE},
};
const size_t coordinator_nroutes = sizeof(coordinator_routes) / sizeof(coordinator_routes[0]);
