/* GET /v1/health, GET /metrics, and the per-request hook that feeds the
 * latency histograms /metrics shows. */
#ifndef EXECUTOR_HANDLERS_HEALTH_H
#define EXECUTOR_HANDLERS_HEALTH_H

#include "api.h"

void h_health(api_request *req, api_response *res);
void h_metrics(api_request *req, api_response *res);

/* api_server_config.on_request; ctx is the executor, whose routes and
 * nroutes name the histograms. */
void exec_on_request(void *ctx, const char *method, const char *route_pattern, unsigned status,
                     double seconds);

#endif
