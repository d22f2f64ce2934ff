/* EIDO incidents at POST /v1/incidents: telling an EIDO body from
 * ergrid's own incident shape, and mapping one to the other (docs/EIDO.md,
 * "EIDO to ergrid"). The mapped incident then goes through the same
 * validation, caps and routing as any other. */
#ifndef COORDINATOR_EIDO_INTAKE_H
#define COORDINATOR_EIDO_INTAKE_H

#include <jansson.h>

#include "api.h"
#include "json_fields.h"

/* The incident req carries: 0 with *out NULL for ergrid's own shape
 * (?format=json, or no format and no "incidentComponent"), 0 with *out a
 * new incident object for an EIDO (?format=eido, or an
 * "incidentComponent" key); -1 with fe naming the EIDO field when the
 * EIDO cannot be mapped or format is neither (out untouched). */
int eido_intake(api_request *req, json_t **out, field_error *fe);
/* The mapping alone: doc (borrowed) as an incident object, 0 and *out a
 * new reference; -1 with fe naming the EIDO field (out untouched). */
int eido_map(const json_t *doc, json_t **out, field_error *fe);

#endif
