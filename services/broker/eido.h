/* A job as a NENA EIDO incident (GET /v1/jobs/{id}?format=eido;
 * docs/EIDO.md has the mapping). Pure JSON to JSON: built from the job's
 * own view, off the broker lock. */
#ifndef BROKER_EIDO_H
#define BROKER_EIDO_H

#include <jansson.h>

/* The EIDO object of job (a view_job or view_remote_job object, borrowed).
 * units (borrowed, may be NULL) maps a unit id to its unit view, for the
 * kind, capabilities and status of each unit on the job; a unit it lacks
 * is written without them. self names the issuing broker. A new
 * reference; NULL when out of memory. */
json_t *eido_job(const json_t *job, const json_t *units, const char *self);

#endif
