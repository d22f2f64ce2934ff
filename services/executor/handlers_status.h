/* POST /v1/assignments/{job_id}/status: the crew's status step. */
#ifndef EXECUTOR_HANDLERS_STATUS_H
#define EXECUTOR_HANDLERS_STATUS_H

#include "api.h"

void h_status(api_request *req, api_response *res);

#endif
