/* POST /v1/incidents: incident intake. The choice of district is
 * libcoord's routing policy; this file asks the brokers and forwards. */
#ifndef COORDINATOR_HANDLERS_INCIDENTS_H
#define COORDINATOR_HANDLERS_INCIDENTS_H

#include <jansson.h>
#include <stddef.h>

#include "api.h"

#define COORD_MAX_CAPS       32
#define COORD_JSON_FIELD_MAX 4096 /* location / payload, as canonical text */

void h_incidents_post(api_request *req, api_response *res);

/* Counts the units in a GET /v1/units "units" array that belong to district
 * (district equal or absent; authoritative true or absent), are available
 * and offer every capability in req (libcoord's caps_match). */
size_t count_free_capable(const json_t *units, const char *district, const char *const *req,
                          size_t nreq);

#endif
