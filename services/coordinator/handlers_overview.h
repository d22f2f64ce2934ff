/* GET /v1/overview: every district at a glance, from the poller's figures. */
#ifndef COORDINATOR_HANDLERS_OVERVIEW_H
#define COORDINATOR_HANDLERS_OVERVIEW_H

#include "api.h"

void h_overview_get(api_request *req, api_response *res);

#endif
