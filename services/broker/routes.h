/* The broker's route table (DESIGN.md §5). */
#ifndef BROKER_ROUTES_H
#define BROKER_ROUTES_H

#include <stddef.h>

#include "router.h"

extern const api_route broker_routes[];
extern const size_t broker_nroutes;

#endif
