/* Positions on the wire (see geo_json.h). */
#include "geo_json.h"

#include <stdio.h>

static int bad(field_error *fe, api_err code, const char *what, const char *msg)
{
    fe->code = code;
    snprintf(fe->message, sizeof(fe->message), "%s: %s", what, msg);
    return -1;
}

int geo_from_json(const json_t *o, const char *what, geo_point *out, field_error *fe)
{
    const json_t *lat = json_is_object(o) ? json_object_get(o, "lat") : NULL;
    const json_t *lon = json_is_object(o) ? json_object_get(o, "lon") : NULL;

    if (!lat && !lon)
        return 0;
    if (!lat || !lon)
        return bad(fe, API_E_MISSING_FIELD, what, "lat and lon go together");
    /* A string such as "east" or "34.05" is refused, not parsed: a feed
     * that sends one has a bug worth seeing. */
    if (!json_is_number(lat) || !json_is_number(lon))
        return bad(fe, API_E_INVALID_FIELD, what, "lat and lon must be numbers (degrees)");
    double la = json_number_value(lat), lo = json_number_value(lon);
    if (!geo_valid(la, lo))
        return bad(fe, API_E_INVALID_FIELD, what, "lat must be -90..90 and lon -180..180");
    out->lat = la;
    out->lon = lo;
    return 1;
}

json_t *geo_to_json(geo_point p)
{
    return json_pack("{s:f, s:f}", "lat", p.lat, "lon", p.lon);
}
