/* Positions on the wire: {"lat": degrees, "lon": degrees} as jobs
 * (location), units (station, fix) and terminals (POST /v1/position)
 * write them. Numbers only, in range (libcoord geo_valid). */
#ifndef API_GEO_JSON_H
#define API_GEO_JSON_H

#include <jansson.h>

#include "json_fields.h"
#include "rank.h"

/* Reads o's "lat" and "lon" members (o need not be an object: then there
 * are none). 1 with *out set when both are there and valid; 0 when
 * neither is (*out untouched); -1 with fe filled when only one is, or one
 * is not a number or out of range. what names o in the message
 * ("location", "station"). Other members are not looked at. */
int geo_from_json(const json_t *o, const char *what, geo_point *out, field_error *fe);
/* {"lat":..., "lon":...}, a new reference. */
json_t *geo_to_json(geo_point p);

#endif
