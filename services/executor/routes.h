/* The executor's one route table. */
#ifndef EXECUTOR_ROUTES_H
#define EXECUTOR_ROUTES_H

#include <stddef.h>

#include "api.h"

extern const api_route exec_routes[];
extern const size_t exec_nroutes;

#endif
