/* /v1/brokers: the district registry over HTTP. */
#ifndef COORDINATOR_HANDLERS_BROKERS_H
#define COORDINATOR_HANDLERS_BROKERS_H

#include "api.h"

void h_brokers_post(api_request *req, api_response *res);
void h_brokers_list(api_request *req, api_response *res);

#endif
