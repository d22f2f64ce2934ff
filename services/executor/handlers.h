/* HTTP handlers of ergrid-executor, one file per resource; the route table
 * that dispatches to them is in routes.c. */
#ifndef EXECUTOR_HANDLERS_H
#define EXECUTOR_HANDLERS_H

#include "executor.h"

/* handlers_health.c */
void h_health(api_request *req, api_response *res);
void h_metrics(api_request *req, api_response *res);

/* handlers_assignments.c */
void h_assign(api_request *req, api_response *res);
void h_list(api_request *req, api_response *res);
void h_get(api_request *req, api_response *res);
void h_revoke(api_request *req, api_response *res);
void h_result(api_request *req, api_response *res);

#endif
