/* The coordinator's one route table (routes.h); nothing else. */
#include "routes.h"

#include "dashboard.h"
#include "handlers_brokers.h"
#include "handlers_emergency.h"
#include "handlers_events.h"
#include "handlers_health.h"
#include "handlers_incidents.h"
#include "handlers_overview.h"
#include "handlers_stream.h"

const api_route coordinator_routes[] = {
    {"GET", "/", h_dashboard, API_ACCESS_OPEN, API_BODY_NONE},
    {"GET", "/v1/health", h_health, API_ACCESS_OPEN, API_BODY_NONE},
    {"GET", "/metrics", h_metrics, API_ACCESS(API_ALL_ROLES), API_BODY_NONE},
    {"POST", "/v1/brokers", h_brokers_post, API_ACCESS_BODY(API_PEER | API_OPERATOR, "id"),
     API_BODY_JSON},
    {"GET", "/v1/brokers", h_brokers_list, API_ACCESS(API_ALL_ROLES), API_BODY_NONE},
    {"POST", "/v1/incidents", h_incidents_post, API_ACCESS(API_DISPATCHER | API_OPERATOR),
     API_BODY_JSON},
    {"GET", "/v1/overview", h_overview_get, API_ACCESS(API_ALL_ROLES), API_BODY_NONE},
    {"POST", "/v1/emergency", h_emergency_post, API_ACCESS(API_DISPATCHER | API_OPERATOR),
     API_BODY_JSON},
    {"GET", "/v1/emergency", h_emergency_get, API_ACCESS(API_ALL_ROLES), API_BODY_NONE},
    {"GET", "/v1/events", h_events_get, API_ACCESS(API_ALL_ROLES), API_BODY_NONE},
    {"GET", "/v1/events/stream", h_events_stream, API_ACCESS(API_ALL_ROLES), API_BODY_NONE},
};
const size_t coordinator_nroutes = sizeof(coordinator_routes) / sizeof(coordinator_routes[0]);
