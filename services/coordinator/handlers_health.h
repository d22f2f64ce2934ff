/* GET /v1/health and GET /metrics. */
#ifndef COORDINATOR_HANDLERS_HEALTH_H
#define COORDINATOR_HANDLERS_HEALTH_H

#include "api.h"

void h_health(api_request *req, api_response *res);
void h_metrics(api_request *req, api_response *res);

#endif
