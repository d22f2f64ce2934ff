/* The EIDO vocabulary tables and the PIDF-LO point (eido_vocab.h). The
 * registry tokens are the project's reading of the NENA registries; an
 * agency whose registry release spells them otherwise changes this table
 * only (docs/EIDO.md, "Registry tokens"). */
#include "eido_vocab.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const eido_type types[] = {
    {"building_fire", "Fire.Structure", {"firefighting", NULL}},
    {"vehicle_fire", "Fire.Vehicle", {"firefighting", NULL}},
    {"wildfire", "Fire.Wildland", {"firefighting", NULL}},
    {"hazmat", "Fire.Hazmat", {"hazmat", NULL}},
    {"rescue", "Rescue", {"rescue", NULL}},
    {"cardiac_arrest", "Medical.CardiacArrest", {"medical", NULL}},
    {"medical", "Medical", {"medical", NULL}},
    {"traffic_collision", "Traffic.Collision", {"law_enforcement", NULL}},
    {"crime", "Law", {"law_enforcement", NULL}},
};
#define NTYPES (sizeof(types) / sizeof(types[0]))

const eido_type *eido_type_by_name(const char *type)
{
    for (size_t i = 0; type && i < NTYPES; i++)
        if (strcmp(types[i].type, type) == 0)
            return &types[i];
    return NULL;
}

const eido_type *eido_type_by_token(const char *token)
{
    for (size_t i = 0; token && i < NTYPES; i++)
        if (strcmp(types[i].token, token) == 0)
            return &types[i];
    return NULL;
}

static const int priority_of[] = {2, 5, 8, 10}; /* by severity, SEV_LOW first */

int eido_priority_of(severity s)
{
    return s <= SEV_CRITICAL ? priority_of[s] : priority_of[SEV_LOW];
}

int eido_severity_of(long long n, severity *out)
{
    if (n < 0 || n > EIDO_PRIORITY_MAX)
        return -1;
    *out = n >= priority_of[SEV_CRITICAL] ? SEV_CRITICAL
           : n >= priority_of[SEV_HIGH]   ? SEV_HIGH
           : n >= priority_of[SEV_MEDIUM] ? SEV_MEDIUM
                                          : SEV_LOW;
    return 0;
}

const char *eido_resource_token(const char *kind)
{
    static const char *const kinds[][2] = {
        {"fire", "Engine"},   {"ems", "Ambulance"}, {"police", "Patrol"},
        {"ladder", "Ladder"}, {"hazmat", "Hazmat"}, {"chief", "Command"},
    };

    for (size_t i = 0; kind && i < sizeof(kinds) / sizeof(kinds[0]); i++)
        if (strcmp(kinds[i][0], kind) == 0)
            return kinds[i][1];
    return EIDO_TYPE_OTHER;
}

int eido_pidf_point(geo_point p, char *buf, size_t len)
{
    /* %.7f: about a centimetre, more than any fix ergrid receives. */
    int n = snprintf(buf, len,
                     "<?xml version=\"1.0\" encoding=\"UTF-8\"?>"
                     "<presence xmlns=\"urn:ietf:params:xml:ns:pidf\" "
                     "xmlns:gp=\"urn:ietf:params:xml:ns:pidf:geopriv10\" "
                     "xmlns:gml=\"http://www.opengis.net/gml\" entity=\"pres:incident@ergrid\">"
                     "<tuple id=\"incident\"><status><gp:geopriv><gp:location-info>"
                     "<gml:Point srsName=\"urn:ogc:def:crs:EPSG::4326\">"
                     "<gml:pos>%.7f %.7f</gml:pos></gml:Point>"
                     "</gp:location-info><gp:usage-rules/></gp:geopriv></status></tuple>"
                     "</presence>",
                     p.lat, p.lon);
    return n < 0 || (size_t)n >= len ? -1 : 0;
}

/* The next number of a gml:pos: whitespace, then one strtod number that
 * is not hex, inf or nan (strtod takes those, XML Schema doubles do not). */
static bool pos_number(const char **p, double *out)
{
    const char *s = *p;
    char *end;

    while (isspace((unsigned char)*s))
        s++;
    char after = s[strspn(s, "+-0123456789.")];

    if (!(isdigit((unsigned char)*s) || *s == '-' || *s == '+' || *s == '.') ||
        (after && strchr("xXiInN", after)))
        return false;
    *out = strtod(s, &end);
    if (end == s)
        return false;
    *p = end;
    return true;
}

int eido_pidf_read(const char *xml, geo_point *out)
{
    static const char open[] = "<gml:pos>", close[] = "</gml:pos>";
    const char *pos = xml ? strstr(xml, open) : NULL;
    double lat, lon, alt;

    if (!pos)
        return 0;
    pos += strlen(open);
    if (!pos_number(&pos, &lat) || !pos_number(&pos, &lon))
        return -1;
    (void)pos_number(&pos, &alt); /* EPSG 4979 adds an altitude: not kept */
    while (isspace((unsigned char)*pos))
        pos++;
    if (strncmp(pos, close, strlen(close)) != 0 || !geo_valid(lat, lon))
        return -1;
    out->lat = lat;
    out->lon = lon;
    return 1;
}
