/* /v1/emergency: declaring the city-wide level and pushing it to every broker. */
#ifndef COORDINATOR_HANDLERS_EMERGENCY_H
#define COORDINATOR_HANDLERS_EMERGENCY_H

#include "api.h"

void h_emergency_post(api_request *req, api_response *res);
void h_emergency_get(api_request *req, api_response *res);

#endif
