/* The EIDO view of a job (eido.h): the incident component (tracking id,
 * type, status, priority, dispositions), its location, the agencies (the
 * owner district and each lending district), one emergency resource per
 * unit with its primary and secondary status and step times, and notes
 * for the payload and the result's data. Registry tokens come from
 * eido_vocab; ergrid's own names go to the ...InternalText fields, so
 * nothing the registry cannot say is dropped. */
#include "eido.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eido_vocab.h"
#include "geo_json.h"
#include "json_fields.h"
#include "unitstatus.h"
#include "views.h"

#define EIDO_URN "urn:emergency:uid:incidentid:"

static const char *str(const json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

static json_t *iso(json_int_t ms)
{
    char buf[40];

    view_iso_ms(ms > 0 ? (uint64_t)ms : 0, buf, sizeof(buf));
    return json_string(buf);
}

/* The step tokens of the primary unit status registry, by ergrid step. */
static const char *primary_status(const char *step)
{
    static const char *const tokens[][2] = {
        {"dispatched", "Dispatched"},     {"acknowledged", "Acknowledged"},
        {"en_route", "Enroute"},          {"on_scene", "OnScene"},
        {"transporting", "Transporting"}, {"at_hospital", "AtHospital"},
        {"cleared", "Available"},
    };

    for (size_t i = 0; step && i < sizeof(tokens) / sizeof(tokens[0]); i++)
        if (strcmp(tokens[i][0], step) == 0)
            return tokens[i][1];
    return "Dispatched";
}

static const char *incident_status(const char *st)
{
    if (st && strcmp(st, "queued") == 0)
        return "Pending";
    if (st && strcmp(st, "assigned") == 0)
        return "Dispatched";
    return "Closed";
}

/* "$id" and "lastUpdateTimeStamp": the prologue every component opens with. */
static json_t *component(const char *job_id, const char *what, size_t n, json_int_t updated)
{
    char id[160];

    snprintf(id, sizeof(id), "%s:%s:%zu", job_id, what, n);
    return json_pack("{s:s, s:o}", "$id", id, "lastUpdateTimeStamp", iso(updated));
}

static json_t *ref(const char *job_id, const char *what, size_t n)
{
    char id[160];

    snprintf(id, sizeof(id), "#%s:%s:%zu", job_id, what, n);
    return json_string(id);
}

/* The location component; NULL when the job has none. An object's lat
 * and lon become a PIDF-LO point, everything else (or a string location)
 * the description text. */
static json_t *location_component(const json_t *loc, const char *id, json_int_t updated)
{
    json_t *rest, *c;
    geo_point p;
    field_error fe;
    char xml[1024];

    if (!loc || json_is_null(loc))
        return NULL;
    c = component(id, "location", 0, updated);
    json_object_set_new(c, "locationTypeDescriptionRegistryText", json_string("Incident"));
    if (json_is_string(loc)) {
        json_object_set(c, "locationDescriptionText", (json_t *)loc);
        return c;
    }
    if (geo_from_json(loc, "location", &p, &fe) == 1 && eido_pidf_point(p, xml, sizeof(xml)) == 0)
        json_object_set_new(c, "locationByValue", json_string(xml));
    rest = json_deep_copy(loc);
    json_object_del(rest, "lat");
    json_object_del(rest, "lon");
    if (json_object_size(rest)) {
        char *text = json_canonical(rest);

        if (text)
            json_object_set_new(c, "locationDescriptionText", json_string(text));
        free(text);
    }
    json_decref(rest);
    return c;
}

/* Index of the agency component for district d, added when new. */
static size_t agency_index(json_t *agencies, const char *d, const char *owner, const char *id,
                           json_int_t updated)
{
    size_t i;
    json_t *a;

    json_array_foreach (agencies, i, a) {
        if (strcmp(str(a, "organizationIdentification"), d) == 0)
            return i;
    }
    a = component(id, "agency", json_array_size(agencies), updated);
    json_object_set_new(a, "organizationIdentification", json_string(d));
    json_object_set_new(a, "agencyRoleDescriptionRegistryText",
                        json_pack("[s]", strcmp(d, owner) == 0 ? "Dispatch" : "MutualAid"));
    json_object_set_new(a, "agencyType", json_pack("[s]", "urn:emergency:service:responder"));
    json_object_set_new(a, "incidentOwningAgencyIndicator", json_boolean(strcmp(d, owner) == 0));
    json_array_append_new(agencies, a);
    return json_array_size(agencies) - 1;
}

/* Step times of one attempt as unit status updates, oldest step first. */
static void add_steps(json_t *updates, const json_t *att)
{
    const json_t *times = json_object_get(att, "times_ms");
    json_int_t n = json_integer_value(json_object_get(att, "attempt"));

    for (int s = 0; s < UST_NSTEPS; s++) {
        const json_t *t = json_object_get(times, unit_step_str((unit_step)s));

        if (json_is_integer(t))
            json_array_append_new(updates,
                                  json_pack("{s:s, s:s, s:o, s:I}", "unitStatusInternalText",
                                            unit_step_str((unit_step)s), "unitStatusRegistryText",
                                            primary_status(unit_step_str((unit_step)s)),
                                            "unitStatusTimeStamp", iso(json_integer_value(t)),
                                            "attempt", n));
    }
}

/* One emergency resource per unit: its latest attempt decides the status,
 * every attempt's steps are kept in the update list. */
static json_t *resource(const json_t *atts, size_t last, const json_t *uv, const char *id, size_t n,
                        json_int_t updated, json_t *agency_ref)
{
    const json_t *att = json_array_get(atts, last);
    const char *uid = str(att, "unit_id"), *ast = str(att, "state");
    const char *crew = str(att, "crew_status"), *ustatus = str(uv, "status");
    const char *kind = str(uv, "kind");
    json_t *r = component(id, "resource", n, updated), *updates = json_array(), *second;
    json_t *caps = json_object_get(uv, "capabilities");
    size_t i;
    json_t *a;

    json_array_foreach (atts, i, a) {
        const char *u = str(a, "unit_id");

        if (i <= last && u && strcmp(u, uid) == 0)
            add_steps(updates, a);
    }
    /* A borrowed unit's steps are kept at its home: its synced copy shows
     * the step it is on, when that is this attempt. */
    const json_t *ucs = json_object_get(uv, "crew_status");
    if (!crew && str(ucs, "job_id") && strcmp(str(ucs, "job_id"), id) == 0 &&
        json_equal(json_object_get(ucs, "attempt"), json_object_get(att, "attempt")))
        crew = str(ucs, "status");
    /* Without a crew report the attempt state says it: a unit on an active
     * attempt has been dispatched, one off the incident is free of it. */
    if (!crew)
        crew = ast && strcmp(ast, "active") == 0 ? "dispatched" : "cleared";
    second = json_pack("[s]", ast && strcmp(ast, "active") == 0    ? "Assigned"
                              : ast && strcmp(ast, "revoked") == 0 ? "Revoked"
                                                                   : "Released");
    if (ustatus && strcmp(ustatus, "lost") == 0)
        json_array_append_new(second, json_string("Lost"));
    json_object_set_new(r, "emergencyResourceName", json_string(uid));
    json_object_set_new(r, "emergencyResourceTypeCommonRegistryText",
                        json_string(eido_resource_token(kind)));
    if (kind)
        json_object_set_new(r, "emergencyResourceTypeInternalText", json_string(kind));
    json_object_set_new(r, "primaryUnitStatusRegistryText", json_string(primary_status(crew)));
    json_object_set_new(r, "secondaryUnitStatusRegistryText", second);
    json_object_set_new(r, "resourceAttributeRegistryText",
                        json_is_array(caps) ? json_deep_copy(caps) : json_array());
    json_object_set_new(r, "unitStatusInternal", updates);
    json_object_set_new(r, "agencyReference", agency_ref);
    return r;
}

static void add_note(json_t *notes, const char *id, json_int_t updated, const char *label,
                     const json_t *v)
{
    char *text;
    json_t *n;

    if (!v || json_is_null(v) || (json_is_object(v) && !json_object_size(v)))
        return;
    text = json_canonical(v);
    if (!text)
        return;
    n = component(id, "note", json_array_size(notes), updated);
    json_object_set_new(n, "noteDateTimeStamp", iso(updated));
    json_object_set_new(n, "noteText", json_sprintf("%s: %s", label, text));
    json_array_append_new(notes, n);
    free(text);
}

static json_t *disposition(const json_t *jv)
{
    const json_t *res = json_object_get(jv, "result");
    const char *st = str(jv, "status");

    if (json_is_object(res))
        return json_pack("[{s:s, s:b, s:s, s:o}]", "dispositionCommonRegistryCode", "Handled",
                         "dispositionPrimaryIndicator", 1, "dispositionDescriptionText",
                         str(res, "outcome"), "dispositionCategoryText",
                         json_sprintf("reported by %s, attempt %d", str(res, "unit_id"),
                                      (int)json_integer_value(json_object_get(res, "attempt"))));
    if (st && strcmp(st, "cancelled") == 0)
        return json_pack("[{s:s, s:b, s:s}]", "dispositionCommonRegistryCode", "Cancelled",
                         "dispositionPrimaryIndicator", 1, "dispositionDescriptionText",
                         "cancelled");
    return NULL;
}

json_t *eido_job(const json_t *jv, const json_t *units, const char *self)
{
    const char *id = str(jv, "id"), *owner = str(jv, "owner"), *type = str(jv, "type");
    const char *status = str(jv, "status");
    json_int_t created = json_integer_value(json_object_get(jv, "created_ms"));
    json_int_t updated = json_integer_value(json_object_get(jv, "updated_ms"));
    const eido_type *et = eido_type_by_name(type);
    const json_t *atts = json_object_get(jv, "attempts");
    severity sev = SEV_LOW;
    char urn[256], issuer[128];
    json_t *inc, *loc, *agencies, *resources, *notes, *disp, *o;
    size_t i;
    json_t *a;

    if (!id || !owner || !type || !status)
        return NULL;
    if (!updated)
        updated = created;
    (void)severity_parse(str(jv, "severity"), &sev);
    snprintf(urn, sizeof(urn), EIDO_URN "%s:%s", id, owner);
    snprintf(issuer, sizeof(issuer), "ergrid-broker:%s", self);

    inc = component(id, "incident", 0, updated);
    json_object_set_new(inc, "incidentTrackingIdentifier", json_string(urn));
    json_object_set_new(inc, "internalIncidentId", json_string(id));
    json_object_set_new(inc, "incidentTypeCommonRegistryText",
                        json_string(et ? et->token : EIDO_TYPE_OTHER));
    json_object_set_new(inc, "incidentTypeInternalText", json_string(type));
    json_object_set_new(inc, "incidentStatusCommonRegistryText",
                        json_pack("[s]", incident_status(status)));
    json_object_set_new(inc, "incidentStatusInternalText", json_pack("[s]", status));
    json_object_set_new(inc, "incidentCommonPriorityNumber", json_integer(eido_priority_of(sev)));
    json_object_set_new(inc, "incidentPriorityInternalText", json_string(severity_str(sev)));
    json_object_set_new(inc, "incidentCreationTimeStamp", iso(created));

    o = json_pack("{s:s, s:s, s:o, s:s, s:s}", "$id", urn, "eidoVersion", "1.0",
                  "lastUpdateTimeStamp", iso(updated), "issuingElementIdentification", issuer,
                  "incidentTrackingIdentifier", urn);
    loc = location_component(json_object_get(jv, "location"), id, updated);
    if (loc) {
        json_object_set_new(inc, "locationReference", json_pack("[o]", ref(id, "location", 0)));
        json_object_set_new(o, "locationComponent", json_pack("[o]", loc));
    }
    disp = disposition(jv);
    if (disp)
        json_object_set_new(inc, "dispositionComponent", disp);
    json_object_set_new(o, "incidentComponent", inc);

    agencies = json_array();
    agency_index(agencies, owner, owner, id, updated);
    resources = json_array();
    json_array_foreach (atts, i, a) {
        const char *uid = str(a, "unit_id"), *d = str(a, "district");
        size_t k, later = 0;
        json_t *b;

        /* Written at each unit's last attempt, once. */
        json_array_foreach (atts, k, b) {
            if (k > i && uid && str(b, "unit_id") && strcmp(str(b, "unit_id"), uid) == 0)
                later = k;
        }
        if (!uid || later)
            continue;
        size_t ag = agency_index(agencies, d && *d ? d : owner, owner, id, updated);
        json_array_append_new(resources,
                              resource(atts, i, json_object_get(units, uid), id,
                                       json_array_size(resources), updated, ref(id, "agency", ag)));
    }
    json_object_set_new(o, "agencyComponent", agencies);
    if (json_array_size(resources))
        json_object_set_new(o, "emergencyResourceComponent", resources);
    else
        json_decref(resources);

    notes = json_array();
    add_note(notes, id, updated, "payload", json_object_get(jv, "payload"));
    if (json_is_object(json_object_get(jv, "result")))
        add_note(notes, id, updated, "result data",
                 json_object_get(json_object_get(jv, "result"), "data"));
    if (json_array_size(notes))
        json_object_set_new(o, "notesComponent", notes);
    else
        json_decref(notes);
    return o;
}
