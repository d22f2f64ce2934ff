/* Test-only fault hooks of the terminal (--fault-hooks): the integration
 * tests use them to lose a heartbeat reply, to make an assignment call time
 * out although it landed, and to refuse revocations, so that the broker's
 * recovery from each can be shown on purpose instead of by luck. Without
 * --fault-hooks the route is not served and every hook reads as "no
 * fault", so nothing here changes behaviour. */
#ifndef EXECUTOR_FAULTS_H
#define EXECUTOR_FAULTS_H

#include <stdbool.h>
#include <stdint.h>

#include "api.h"
#include "context.h"

/* Consumes one pending fault of each kind; false / 0 when none is armed. */
bool fault_drop_heartbeat_reply(executor *e);
/* How long the assignment handler waits after storing, before it answers
 * (0: no stall). */
uint64_t fault_assign_stall_ms(executor *e);
bool fault_refuse_revocation(executor *e);

/* Waits ms after a stored assignment, or less when the executor stops. */
void fault_stall(executor *e, uint64_t ms);

/* GET and POST /v1/faults: the hooks armed now; POST sets the ones its body
 * names. */
void h_faults_get(api_request *req, api_response *res);
void h_faults_post(api_request *req, api_response *res);

#endif
