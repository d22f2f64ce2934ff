/* GET /v1/events/stream: the city's events as a push stream (api/sse.h). */
#ifndef COORDINATOR_HANDLERS_STREAM_H
#define COORDINATOR_HANDLERS_STREAM_H

#include "api.h"

void h_events_stream(api_request *req, api_response *res);

#endif
