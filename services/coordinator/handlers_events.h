/* GET /v1/events: the city's recent events, as JSON or for ShiViz. */
#ifndef COORDINATOR_HANDLERS_EVENTS_H
#define COORDINATOR_HANDLERS_EVENTS_H

#include "api.h"

#define COORD_EVENTS_LIMIT_MAX 5000 /* cap of GET /v1/events?limit */

void h_events_get(api_request *req, api_response *res);

#endif
