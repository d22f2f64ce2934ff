/* POST /v1/position: the unit's AVL feed reports where it is. */
#ifndef EXECUTOR_HANDLERS_POSITION_H
#define EXECUTOR_HANDLERS_POSITION_H

#include "api.h"

void h_position(api_request *req, api_response *res);

#endif
