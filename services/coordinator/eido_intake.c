/* EIDO intake (eido_intake.h): an EIDO incident mapped to the coordinator's
 * own incident shape. Only the incident, location and notes components
 * are read; every other EIDO component is ignored (EIDO carries many that
 * ergrid has no place for). Each refusal names the EIDO field. */
#include "eido_intake.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coord.h"
#include "eido_vocab.h"
#include "geo_json.h"

#define EIDO_URN            "urn:emergency:uid:incidentid:"
#define EIDO_TEXT_MAX       4096 /* one EIDO text field read into the incident */
#define EIDO_MAX_COMPONENTS 16   /* location and note components read */

/* Member key of o as a string of at most max bytes: 1 and *out set, 0
 * when absent or null, -1 (fe filled, naming where.key) otherwise. */
static int text(const json_t *o, const char *where, const char *key, size_t max, const char **out,
                field_error *fe)
{
    const json_t *v = json_object_get(o, key);
    char field[96];

    if (!v || json_is_null(v))
        return 0;
    snprintf(field, sizeof(field), "%s%s", where, key);
    if (!json_is_string(v) || json_string_length(v) == 0 || json_string_length(v) > max)
        return field_fail(fe, API_E_INVALID_FIELD,
                          "%s must be a non-empty string of at most %zu bytes", field, max);
    *out = json_string_value(v);
    return 1;
}

/* The incident id: internalIncidentId, else the id part of the tracking
 * identifier; NULL (none) when the EIDO gives neither. */
static int incident_id(const json_t *doc, const json_t *inc, char *id, field_error *fe)
{
    const char *v = NULL, *urn = NULL;
    int rc = text(inc, "incidentComponent.", "internalIncidentId", EIDO_TEXT_MAX, &v, fe);

    if (rc < 0)
        return -1;
    if (rc == 1) {
        if (!coord_id_valid(v))
            return field_fail(fe, API_E_INVALID_ID,
                              "%s is not a valid id ([A-Za-z0-9._-], 1 to 64 characters)",
                              "incidentComponent.internalIncidentId");
        snprintf(id, COORD_ID_MAX + 1, "%s", v);
        return 0;
    }
    rc = text(inc, "incidentComponent.", "incidentTrackingIdentifier", EIDO_TEXT_MAX, &urn, fe);
    if (rc == 0)
        rc = text(doc, "", "incidentTrackingIdentifier", EIDO_TEXT_MAX, &urn, fe);
    if (rc <= 0)
        return rc;
    /* urn:emergency:uid:incidentid:<id>:<string id of the issuer> */
    const char *p = strncmp(urn, EIDO_URN, strlen(EIDO_URN)) == 0 ? urn + strlen(EIDO_URN) : NULL;
    const char *colon = p ? strchr(p, ':') : NULL;
    if (!colon || colon == p || colon - p > COORD_ID_MAX)
        return field_fail(fe, API_E_INVALID_FIELD,
                          "%s must be urn:emergency:uid:incidentid:<id>:<issuer>",
                          "incidentTrackingIdentifier");
    memcpy(id, p, (size_t)(colon - p));
    id[colon - p] = '\0';
    if (!coord_id_valid(id)) {
        id[0] = '\0';
        return field_fail(fe, API_E_INVALID_ID,
                          "the incident id in %s is not a valid ergrid id "
                          "([A-Za-z0-9._-], 1 to 64 characters): give internalIncidentId",
                          "incidentTrackingIdentifier");
    }
    return 0;
}

/* Type and the capabilities it needs: the internal text is ergrid's own
 * type name when it is one; the registry token finds the type otherwise. */
static int incident_type(const json_t *inc, json_t *o, field_error *fe)
{
    const char *token = NULL, *local = NULL;
    int rc = text(inc, "incidentComponent.", "incidentTypeCommonRegistryText", 128, &token, fe);

    if (rc < 0)
        return -1;
    if (rc == 0)
        return field_fail(fe, API_E_MISSING_FIELD, "missing field '%s'",
                          "incidentComponent.incidentTypeCommonRegistryText");
    if (text(inc, "incidentComponent.", "incidentTypeInternalText", 256, &local, fe) < 0)
        return -1;
    if (local && !coord_id_valid(local))
        local = NULL; /* a CAD's free text ("STRUCTURE FIRE; 2ND ALARM"): the token decides */
    const eido_type *t = local ? eido_type_by_name(local) : NULL;
    if (!t)
        t = eido_type_by_token(token);
    if (!t)
        return field_fail(
            fe, API_E_INVALID_FIELD,
            "%s '%s' has no ergrid type and capabilities (docs/EIDO.md lists the tokens)",
            "incidentComponent.incidentTypeCommonRegistryText", token);
    json_t *caps = json_array();
    for (size_t i = 0; t->caps[i]; i++)
        json_array_append_new(caps, json_string(t->caps[i]));
    json_object_set_new(o, "type", json_string(local ? local : t->type));
    json_object_set_new(o, "required_capabilities", caps);
    return 0;
}

static int incident_severity(const json_t *inc, json_t *o, field_error *fe)
{
    const json_t *n = json_object_get(inc, "incidentCommonPriorityNumber");
    const char *local = NULL;
    severity s;

    if (n && !json_is_null(n)) {
        if (!json_is_integer(n) || eido_severity_of(json_integer_value(n), &s) < 0)
            return field_fail(fe, API_E_INVALID_FIELD, "%s must be a whole number 0..10",
                              "incidentComponent.incidentCommonPriorityNumber");
    } else {
        if (text(inc, "incidentComponent.", "incidentPriorityInternalText", 128, &local, fe) < 0)
            return -1;
        if (!local)
            return field_fail(
                fe, API_E_MISSING_FIELD,
                "missing field '%s' (or incidentPriorityInternalText low, medium, high "
                "or critical)",
                "incidentComponent.incidentCommonPriorityNumber");
        if (severity_parse(local, &s) < 0)
            return field_fail(fe, API_E_INVALID_FIELD,
                              "%s '%s' is not low, medium, high or critical (without a "
                              "incidentCommonPriorityNumber)",
                              "incidentComponent.incidentPriorityInternalText", local);
    }
    json_object_set_new(o, "severity", json_string(severity_str(s)));
    return 0;
}

static const json_t *components(const json_t *doc, const char *key, field_error *fe, int *rc)
{
    const json_t *a = json_object_get(doc, key);

    *rc = 0;
    if (!a || json_is_null(a))
        return NULL;
    if (!json_is_array(a) || json_array_size(a) > EIDO_MAX_COMPONENTS) {
        *rc = field_fail(fe, API_E_INVALID_FIELD, "%s must be a list of at most %d components", key,
                         EIDO_MAX_COMPONENTS);
        return NULL;
    }
    return a;
}

/* The first location component: its PIDF-LO point as lat and lon, its
 * description as the rest (an object ergrid wrote comes back as its
 * members; other text as "description"); a description alone is a
 * string location, as ergrid writes one. */
static int incident_location(const json_t *doc, json_t *o, field_error *fe)
{
    int rc;
    const json_t *locs = components(doc, "locationComponent", fe, &rc);
    const json_t *l = json_array_get(locs, 0);
    const char *xml = NULL, *desc = NULL;
    geo_point p;

    if (rc < 0 || !l)
        return rc;
    if (!json_is_object(l))
        return field_fail(fe, API_E_INVALID_FIELD, "%s must be an object", "locationComponent[0]");
    if (text(l, "locationComponent[0].", "locationByValue", EIDO_TEXT_MAX, &xml, fe) < 0 ||
        text(l, "locationComponent[0].", "locationDescriptionText", EIDO_TEXT_MAX, &desc, fe) < 0)
        return -1;
    rc = xml ? eido_pidf_read(xml, &p) : 0;
    if (rc < 0)
        return field_fail(fe, API_E_INVALID_FIELD,
                          "%s: its gml:pos is not a point 'lat lon' in range",
                          "locationComponent[0].locationByValue");
    if (rc == 0) {
        if (desc)
            json_object_set_new(o, "location", json_string(desc));
        return 0;
    }
    json_t *loc = desc ? json_loads(desc, 0, NULL) : NULL;
    if (!json_is_object(loc)) {
        json_decref(loc);
        loc = desc ? json_pack("{s:s}", "description", desc) : json_object();
    }
    json_t *pt = geo_to_json(p);
    json_object_update(loc, pt); /* the point wins over any lat/lon in the text */
    json_decref(pt);
    json_object_set_new(o, "location", loc);
    return 0;
}

static int incident_notes(const json_t *doc, json_t *o, field_error *fe)
{
    int rc;
    const json_t *notes = components(doc, "notesComponent", fe, &rc);
    json_t *texts, *n;
    size_t i;

    if (rc < 0 || !json_array_size(notes))
        return rc;
    texts = json_array();
    json_array_foreach (notes, i, n) {
        const char *t = NULL;
        char where[48];

        snprintf(where, sizeof(where), "notesComponent[%zu].", i);
        if (text(n, where, "noteText", EIDO_TEXT_MAX, &t, fe) < 0) {
            json_decref(texts);
            return -1;
        }
        if (t)
            json_array_append_new(texts, json_string(t));
    }
    json_object_set_new(o, "payload", json_pack("{s:o}", "eido_notes", texts));
    return 0;
}

int eido_map(const json_t *doc, json_t **out, field_error *fe)
{
    const json_t *inc = json_object_get(doc, "incidentComponent");
    char id[COORD_ID_MAX + 1] = "";
    json_t *o;

    /* NENA-STA-021.1 wrote one incident in a list; 021.1b writes the object. */
    if (json_is_array(inc) && json_array_size(inc) == 1)
        inc = json_array_get(inc, 0);
    if (!inc)
        return field_fail(fe, API_E_MISSING_FIELD,
                          "missing field '%s' (an EIDO names its incident)", "incidentComponent");
    if (!json_is_object(inc))
        return field_fail(fe, API_E_INVALID_FIELD, "%s must be one object", "incidentComponent");
    o = json_object();
    if (!o)
        return field_fail(fe, API_E_UNAVAILABLE, "out of memory");
    if (incident_id(doc, inc, id, fe) < 0 || incident_type(inc, o, fe) < 0 ||
        incident_severity(inc, o, fe) < 0 || incident_location(doc, o, fe) < 0 ||
        incident_notes(doc, o, fe) < 0) {
        json_decref(o);
        return -1;
    }
    if (id[0])
        json_object_set_new(o, "id", json_string(id));
    *out = o;
    return 0;
}

int eido_intake(api_request *req, json_t **out, field_error *fe)
{
    const char *format = api_query(req, "format");

    if (format && strcmp(format, "json") != 0 && strcmp(format, "eido") != 0)
        return field_fail(fe, API_E_BAD_REQUEST, "%s must be json or eido", "format");
    if (format ? strcmp(format, "json") == 0 : !json_object_get(req->body, "incidentComponent")) {
        *out = NULL;
        return 0;
    }
    return eido_map(req->body, out, fe);
}
