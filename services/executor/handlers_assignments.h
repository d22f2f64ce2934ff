/* /v1/assignments: what the broker assigns and revokes, and the crew's
 * report (DESIGN.md §5, executor). */
#ifndef EXECUTOR_HANDLERS_ASSIGNMENTS_H
#define EXECUTOR_HANDLERS_ASSIGNMENTS_H

#include "api.h"

void h_assign(api_request *req, api_response *res);
void h_list(api_request *req, api_response *res);
void h_get(api_request *req, api_response *res);
void h_revoke(api_request *req, api_response *res);
void h_result(api_request *req, api_response *res);

#endif
