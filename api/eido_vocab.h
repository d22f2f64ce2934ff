/* The NENA EIDO vocabulary both services share (docs/EIDO.md): ergrid's
 * incident types against EIDO incident type registry tokens and the
 * capabilities each needs, the priority scale, and the PIDF-LO point that
 * carries a location. The broker writes EIDO with it (GET
 * /v1/jobs/{id}?format=eido), the coordinator reads it (POST
 * /v1/incidents). No JSON here: plain tables and text. */
#ifndef API_EIDO_VOCAB_H
#define API_EIDO_VOCAB_H

#include <stdbool.h>
#include <stddef.h>

#include "rank.h"
#include "types.h"

#define EIDO_MAX_TYPE_CAPS 3

typedef struct eido_type {
    const char *type;                         /* ergrid's job type */
    const char *token;                        /* incidentTypeCommonRegistryText */
    const char *caps[EIDO_MAX_TYPE_CAPS + 1]; /* what one unit needs; NULL-ended */
} eido_type;

/* The row for an ergrid type or a registry token (exact match), NULL when
 * the table has none. */
const eido_type *eido_type_by_name(const char *type);
const eido_type *eido_type_by_token(const char *token);
/* The token written for a type the table lacks. */
#define EIDO_TYPE_OTHER "Other"

/* incidentCommonPriorityNumber: 0..10, higher is more urgent (the NENA
 * sample's "10: VERY HIGH PRIORITY"). Four severities map to 2, 5, 8, 10;
 * back, each number folds to the nearest severity at or below it. */
#define EIDO_PRIORITY_MAX 10
int eido_priority_of(severity s);
/* 0 and *out set for 0..EIDO_PRIORITY_MAX; -1 otherwise (out untouched). */
int eido_severity_of(long long n, severity *out);

/* The registry token of a unit kind (emergencyResourceTypeCommonRegistryText),
 * "Other" for a kind the table lacks. */
const char *eido_resource_token(const char *kind);

/* A PIDF-LO document holding one WGS 84 point (gml:Point, EPSG 4326,
 * "lat lon"), as locationByValue carries it. -1 when buf is too small. */
int eido_pidf_point(geo_point p, char *buf, size_t len);
/* The first <gml:pos> of a PIDF-LO text: 1 with *out set when it holds
 * two numbers in range, 0 when there is no gml:pos, -1 when it is not a
 * valid point. */
int eido_pidf_read(const char *xml, geo_point *out);

#endif
