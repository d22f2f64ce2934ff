/* The coordinator's one route table (DESIGN.md §5). */
#ifndef COORDINATOR_ROUTES_H
#define COORDINATOR_ROUTES_H

#include <stddef.h>

#include "api.h"

extern const api_route coordinator_routes[];
extern const size_t coordinator_nroutes;

#endif
