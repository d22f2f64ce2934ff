/* The executor's route tables: the service's, and the same plus the
 * test-only /v1/faults (served only with --fault-hooks). */
#ifndef EXECUTOR_ROUTES_H
#define EXECUTOR_ROUTES_H

#include <stddef.h>

#include "api.h"

extern const api_route exec_routes[];
extern const size_t exec_nroutes;
extern const api_route exec_fault_routes[];
extern const size_t exec_fault_nroutes;

#endif
