"""NENA EIDO in and out (issue 13 item 3): GET /v1/jobs/{id}?format=eido at
the broker, validated with a real JSON Schema validator (python3-jsonschema)
against docs/eido/eido.schema.json for jobs of every shape; EIDO incidents
accepted by the coordinator's POST /v1/incidents, routed and assigned; a
round trip EIDO in -> job -> EIDO out that keeps id, type, priority and
location. Bad EIDO inputs are data cases in tests/bad_input (eido-*)."""

import json
import os
import re

import jsonschema
import pytest

from conftest import EMS, FIRE, POLICE
from ergrid import assert_error, expect, get, make_district, post, wait_until
from test_city import make_city, wait_remote_job

SCHEMA_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "docs", "eido",
                           "eido.schema.json")
with open(SCHEMA_PATH) as _f:
    SCHEMA = json.load(_f)
jsonschema.Draft202012Validator.check_schema(SCHEMA)
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)


def validate(doc):
    errors = sorted(VALIDATOR.iter_errors(doc), key=lambda e: list(e.path))
    assert not errors, "EIDO does not match the schema:\n  " + "\n  ".join(
        "%s: %s" % ("/".join(str(p) for p in e.path), e.message) for e in errors) + \
        "\n" + json.dumps(doc, indent=1)[:3000]


def eido(broker, job_id):
    r = get("%s/v1/jobs/%s?format=eido" % (broker.url, job_id))
    assert r.status == 200, r
    assert r.headers.get("content-type", "").startswith("application/json"), r.headers
    validate(r.json)
    return r.json


def resources(doc):
    return {r["emergencyResourceName"]: r for r in doc.get("emergencyResourceComponent", [])}


def pidf_point(doc):
    xml = doc["locationComponent"][0]["locationByValue"]
    m = re.search(r"<gml:pos>(\S+) (\S+)</gml:pos>", xml)
    assert m, xml
    return float(m.group(1)), float(m.group(2))


def step(executor, job_id, status):
    expect(post("%s/v1/assignments/%s/status" % (executor.url, job_id), {"status": status}), 201,
           "%s %s" % (executor.id, status))


def wait_crew(broker, unit_id, job_id, status):
    def ok():
        cs = broker.unit(unit_id).get("crew_status") or {}
        return cs.get("job_id") == job_id and cs.get("status") == status
    wait_until(ok, message="%s %s on %s" % (unit_id, status, job_id))


# ------------------------------------------------------------------ out

def test_one_line_job_with_location_and_result(district):
    d = district([("LAFD-1", "fire", FIRE)])
    b = d.broker
    j = b.submit_ok(["firefighting"], severity="critical", id="eido-1",
                    location={"lat": 34.0522, "lon": -118.2437, "address": "100 Main St"},
                    payload={"caller": "alarm panel"})
    assert j["unit_id"] == "LAFD-1", j
    doc = eido(b, "eido-1")
    inc = doc["incidentComponent"]
    assert inc["incidentTrackingIdentifier"] == "urn:emergency:uid:incidentid:eido-1:Downtown"
    assert doc["incidentTrackingIdentifier"] == inc["incidentTrackingIdentifier"]
    assert inc["internalIncidentId"] == "eido-1"
    assert inc["incidentTypeCommonRegistryText"] == "Fire.Structure"
    assert inc["incidentTypeInternalText"] == "building_fire"
    assert inc["incidentCommonPriorityNumber"] == 10
    assert inc["incidentPriorityInternalText"] == "critical"
    assert inc["incidentStatusCommonRegistryText"] == ["Dispatched"]
    assert "dispositionComponent" not in inc
    assert pidf_point(doc) == (34.0522, -118.2437)
    assert json.loads(doc["locationComponent"][0]["locationDescriptionText"]) == \
        {"address": "100 Main St"}
    assert inc["locationReference"] == ["#" + doc["locationComponent"][0]["$id"]]
    r = resources(doc)["LAFD-1"]
    assert r["primaryUnitStatusRegistryText"] == "Dispatched", r
    assert r["secondaryUnitStatusRegistryText"] == ["Assigned"], r
    assert r["emergencyResourceTypeCommonRegistryText"] == "Engine"
    assert r["emergencyResourceTypeInternalText"] == "fire"
    assert sorted(r["resourceAttributeRegistryText"]) == sorted(FIRE)
    agencies = doc["agencyComponent"]
    assert [(a["organizationIdentification"], a["incidentOwningAgencyIndicator"])
            for a in agencies] == [("Downtown", True)]
    assert r["agencyReference"] == "#" + agencies[0]["$id"]
    assert any("alarm panel" in n["noteText"] for n in doc["notesComponent"])

    step(d["LAFD-1"], "eido-1", "en_route")
    step(d["LAFD-1"], "eido-1", "on_scene")
    wait_crew(b, "LAFD-1", "eido-1", "on_scene")
    doc = eido(b, "eido-1")
    r = resources(doc)["LAFD-1"]
    assert r["primaryUnitStatusRegistryText"] == "OnScene", r
    assert [u["unitStatusInternalText"] for u in r["unitStatusInternal"]] == \
        ["dispatched", "en_route", "on_scene"], r

    expect(b.result("eido-1", "LAFD-1", 1, "contained", data={"floors": 2}), 201, "result")
    doc = eido(b, "eido-1")
    inc = doc["incidentComponent"]
    assert inc["incidentStatusCommonRegistryText"] == ["Closed"]
    assert inc["incidentStatusInternalText"] == ["completed"]
    disp = inc["dispositionComponent"]
    assert len(disp) == 1 and disp[0]["dispositionDescriptionText"] == "contained", disp
    assert disp[0]["dispositionPrimaryIndicator"] is True
    assert any('"floors":2' in n["noteText"] for n in doc["notesComponent"]), doc["notesComponent"]


def test_queued_job_without_location_has_no_units(district):
    d = district([("LAPD-7", "police", POLICE)])
    b = d.broker
    j = b.submit_ok(["hazmat"], severity="low", type="chemical_spill", id="eido-q")
    assert j["status"] == "queued", j
    doc = eido(b, "eido-q")
    inc = doc["incidentComponent"]
    assert inc["incidentStatusCommonRegistryText"] == ["Pending"]
    # A type the vocabulary lacks keeps its name in the internal text.
    assert inc["incidentTypeCommonRegistryText"] == "Other"
    assert inc["incidentTypeInternalText"] == "chemical_spill"
    assert inc["incidentCommonPriorityNumber"] == 2
    for k in ("locationComponent", "emergencyResourceComponent", "notesComponent"):
        assert k not in doc, doc
    assert "locationReference" not in inc
    # A string location is the description only.
    b.submit_ok(["hazmat"], severity="medium", id="eido-s", location="corner of 5th and Main")
    doc = eido(b, "eido-s")
    loc = doc["locationComponent"][0]
    assert loc["locationDescriptionText"] == "corner of 5th and Main" and \
        "locationByValue" not in loc, loc
    # Cancelled: closed with a disposition.
    expect(post(b.url + "/v1/jobs/eido-s/cancel", {"reason": "false alarm"}), 200, "cancel")
    inc = eido(b, "eido-s")["incidentComponent"]
    assert inc["incidentStatusCommonRegistryText"] == ["Closed"]
    assert inc["dispositionComponent"][0]["dispositionCommonRegistryCode"] == "Cancelled"


def test_multi_line_units_in_several_statuses(district):
    d = district([("LAFD-1", "fire", FIRE), ("LAFD-2", "fire", FIRE), ("LAFD-9", "fire", FIRE),
                  ("EMS-3", "ems", EMS)])
    b = d.broker
    body = {"id": "eido-m", "type": "building_fire", "severity": "high",
            "location": {"lat": 34.05, "lon": -118.25},
            "response": [{"capabilities": ["firefighting"], "count": 2},
                         {"capabilities": ["medical"], "count": 1}]}
    j = expect(post(b.url + "/v1/jobs", body), 201, "multi-line")["job"]
    held = sorted(a["unit_id"] for a in j["attempts"] if a["state"] == "active")
    assert len(held) == 3 and "EMS-3" in held, j
    fire = [u for u in held if u != "EMS-3"]
    spare = ({"LAFD-1", "LAFD-2", "LAFD-9"} - set(fire)).pop()
    step(d[fire[0]], "eido-m", "en_route")
    step(d["EMS-3"], "eido-m", "acknowledged")
    wait_crew(b, fire[0], "eido-m", "en_route")
    wait_crew(b, "EMS-3", "eido-m", "acknowledged")
    # The second engine fails: its line is refilled by the spare.
    d[fire[1]].kill9()
    wait_until(lambda: any(a["unit_id"] == spare and a["state"] == "active"
                           for a in b.job("eido-m")["attempts"]),
               message="%s takes %s's line" % (spare, fire[1]))
    wait_until(lambda: b.unit(fire[1])["status"] == "lost", message="%s lost" % fire[1])
    doc = eido(b, "eido-m")
    rs = resources(doc)
    assert set(rs) == {fire[0], fire[1], spare, "EMS-3"}, rs
    assert rs[fire[0]]["primaryUnitStatusRegistryText"] == "Enroute"
    assert rs[fire[0]]["secondaryUnitStatusRegistryText"] == ["Assigned"]
    assert rs["EMS-3"]["primaryUnitStatusRegistryText"] == "Acknowledged"
    assert rs["EMS-3"]["emergencyResourceTypeCommonRegistryText"] == "Ambulance"
    assert rs[spare]["primaryUnitStatusRegistryText"] == "Dispatched"
    assert rs[fire[1]]["secondaryUnitStatusRegistryText"] == ["Revoked", "Lost"], rs[fire[1]]
    assert rs[fire[1]]["primaryUnitStatusRegistryText"] == "Available"
    assert doc["incidentComponent"]["incidentCommonPriorityNumber"] == 8


def test_synced_copy_and_borrowed_unit(cluster):
    """A peer answers from its synced copy (owner's tracking id, not its
    own); a borrowed unit's district is a mutual-aid agency."""
    city = make_city(cluster, [("Downtown", [("LAPD-7", "police", POLICE)]),
                               ("Westside", [("LAFD-5", "fire", FIRE)])])
    down, west = city.brokers["Downtown"], city.brokers["Westside"]
    j = down.submit_ok(["firefighting"], id="eido-aid", location={"lat": 34.0, "lon": -118.4})
    assert j["unit_id"] == "LAFD-5", j
    wait_remote_job(west, "eido-aid", "Downtown", lambda c: c["unit_id"] == "LAFD-5",
                    what="synced with its unit")
    for b in (down, west):
        doc = eido(b, "eido-aid")
        assert doc["incidentTrackingIdentifier"] == \
            "urn:emergency:uid:incidentid:eido-aid:Downtown", doc
        roles = {a["organizationIdentification"]: (a["agencyRoleDescriptionRegistryText"],
                                                   a["incidentOwningAgencyIndicator"])
                 for a in doc["agencyComponent"]}
        assert roles == {"Downtown": (["Dispatch"], True), "Westside": (["MutualAid"], False)}, roles
        r = resources(doc)["LAFD-5"]
        west_agency = [a for a in doc["agencyComponent"]
                       if a["organizationIdentification"] == "Westside"][0]
        assert r["agencyReference"] == "#" + west_agency["$id"], r
        assert r["emergencyResourceTypeCommonRegistryText"] == "Engine", (b.name, r)
        assert r["secondaryUnitStatusRegistryText"] == ["Assigned"], r
        assert pidf_point(doc) == (34.0, -118.4)
    # The crew's step is kept at the unit's home; the owner reads it from
    # its synced copy of the unit.
    step(city.executors["LAFD-5"], "eido-aid", "en_route")
    wait_until(lambda: resources(eido(down, "eido-aid"))["LAFD-5"]["primaryUnitStatusRegistryText"]
               == "Enroute", message="Downtown's EIDO shows the borrowed unit en route")
    assert resources(eido(west, "eido-aid"))["LAFD-5"]["primaryUnitStatusRegistryText"] == "Enroute"


def test_format_other_than_json_or_eido_is_refused(district):
    d = district([("LAFD-1", "fire", FIRE)])
    b = d.broker
    b.submit_ok(["firefighting"], id="eido-f")
    for fmt in ("xml", "EIDO", ""):
        assert_error(get("%s/v1/jobs/eido-f?format=%s" % (b.url, fmt)), 400, "bad_request", fmt)
    assert get("%s/v1/jobs/eido-f?format=json" % b.url).json["job"]["id"] == "eido-f"
    assert_error(get("%s/v1/jobs/nothing?format=eido" % b.url), 404, "not_found")


# ------------------------------------------------------------------ in

def city_district(cluster, coord, name, spec):
    d = make_district(cluster, spec, name=name, broker_extra=["--coordinator", coord.url])
    wait_until(lambda: name in [b["id"] for b in get(coord.url + "/v1/brokers").json["brokers"]],
               20, message="%s registered" % name)
    return d


def eido_incident(**kw):
    """An EIDO a CAD might send: incident, location, notes, an agency and a
    call component ergrid does not read."""
    inc = {"$id": "cad:incident:0", "lastUpdateTimeStamp": "2026-12-01T15:15:00.000Z",
           "incidentTrackingIdentifier": "urn:emergency:uid:incidentid:CAD-2026-0001:psap.example",
           "incidentTypeCommonRegistryText": kw.pop("token", "Fire.Structure"),
           "incidentCommonPriorityNumber": kw.pop("priority", 10)}
    inc.update(kw.pop("incident", {}))
    doc = {"$id": "cad:eido:0", "eidoVersion": "1.0",
           "lastUpdateTimeStamp": "2026-12-01T15:15:00.000Z", "incidentComponent": inc,
           "locationComponent": [{
               "$id": "cad:location:0", "lastUpdateTimeStamp": "2026-12-01T15:15:00.000Z",
               "locationTypeDescriptionRegistryText": "Incident",
               "locationByValue": "<presence xmlns=\"urn:ietf:params:xml:ns:pidf\"><gml:Point>"
                                  "<gml:pos>34.0407 -118.2468 12.5</gml:pos></gml:Point></presence>",
               "locationDescriptionText": "Building A, 5th floor"}],
           "notesComponent": [{"$id": "cad:note:0",
                               "lastUpdateTimeStamp": "2026-12-01T15:15:00.000Z",
                               "noteText": "smoke from the roof"}]}
    doc.update(kw)
    validate(doc)  # what the CAD sends is itself valid EIDO
    return doc


def test_eido_incident_is_routed_assigned_and_round_trips(cluster):
    coord = cluster.coordinator(extra=["--poll-interval", "300ms"])
    down = city_district(cluster, coord, "Downtown", [("EMS-3", "ems", EMS)])
    west = city_district(cluster, coord, "Westside", [("LAFD-5", "fire", FIRE)])
    doc = eido_incident()
    r = expect(post(coord.url + "/v1/incidents", doc), 201, "EIDO incident")
    job = r["job"]
    # Mapped: the registry token gave the type and its capability, so the
    # district with a free engine took it.
    assert r["district"] == "Westside" and r["routing"] == "free_unit", r
    assert job["id"] == "CAD-2026-0001" and job["type"] == "building_fire", job
    assert job["severity"] == "critical" and job["required_capabilities"] == ["firefighting"], job
    assert job["status"] == "assigned" and job["unit_id"] == "LAFD-5", job
    assert job["location"] == {"lat": 34.0407, "lon": -118.2468,
                               "description": "Building A, 5th floor"}, job
    assert job["payload"] == {"eido_notes": ["smoke from the roof"]}, job
    # The same EIDO again is the same incident (the id is the key).
    again = expect(post(coord.url + "/v1/incidents", doc), 200, "EIDO retry")
    assert again["job"]["id"] == "CAD-2026-0001"

    out = eido(west.broker, "CAD-2026-0001")
    inc = out["incidentComponent"]
    assert inc["internalIncidentId"] == "CAD-2026-0001"
    assert inc["incidentTypeCommonRegistryText"] == "Fire.Structure"
    assert inc["incidentCommonPriorityNumber"] == 10
    assert pidf_point(out) == (34.0407, -118.2468)
    assert resources(out)["LAFD-5"]["primaryUnitStatusRegistryText"] == "Dispatched"

    # Out and in again: the export is accepted as an import and keeps
    # id, type, priority and location.
    r2 = expect(post(coord.url + "/v1/incidents?format=eido", dict(out, **{
        "incidentComponent": dict(inc, internalIncidentId="RT-1")})), 201, "EIDO round trip")
    j2 = r2["job"]
    assert (j2["id"], j2["type"], j2["severity"]) == ("RT-1", "building_fire", "critical"), j2
    assert j2["location"] == job["location"], j2
    b2 = {"Downtown": down.broker, "Westside": west.broker}[r2["district"]]
    out2 = eido(b2, "RT-1")
    assert out2["incidentComponent"]["incidentCommonPriorityNumber"] == 10
    assert out2["incidentComponent"]["incidentTypeCommonRegistryText"] == "Fire.Structure"
    assert pidf_point(out2) == (34.0407, -118.2468)


def test_eido_priority_and_types(cluster):
    coord = cluster.coordinator(extra=["--poll-interval", "300ms"])
    d = city_district(cluster, coord, "Downtown", [("EMS-3", "ems", EMS), ("LAPD-7", "police", POLICE)])
    cases = [
        # (token, incident extras, priority, want type, caps, severity)
        ("Medical", {}, 5, "medical", ["medical"], "medium"),
        ("Medical.CardiacArrest", {"incidentTypeInternalText": "CARDIAC ARREST / CPR"}, 8,
         "cardiac_arrest", ["medical"], "high"),
        ("Traffic.Collision", {"incidentTypeInternalText": "traffic_collision"}, 0,
         "traffic_collision", ["law_enforcement"], "low"),
    ]
    for i, (token, extra, prio, typ, caps, sev) in enumerate(cases):
        extra = dict(extra, internalIncidentId="P-%d" % i)
        r = expect(post(coord.url + "/v1/incidents",
                        eido_incident(token=token, priority=prio, incident=extra)), 201, token)
        j = r["job"]
        assert (j["type"], j["required_capabilities"], j["severity"]) == (typ, caps, sev), j
    # No number: the internal text may name ergrid's severity.
    doc = eido_incident(token="Law", incident={"internalIncidentId": "P-9",
                                               "incidentPriorityInternalText": "high"})
    del doc["incidentComponent"]["incidentCommonPriorityNumber"]
    j = expect(post(coord.url + "/v1/incidents", doc), 201, "text priority")["job"]
    assert (j["type"], j["severity"]) == ("crime", "high"), j
    assert d.broker.job("P-9")["required_capabilities"] == ["law_enforcement"]
    # ergrid's own shape is unchanged, and ?format=json forces it.
    own = {"type": "medical", "severity": "low", "required_capabilities": ["medical"]}
    expect(post(coord.url + "/v1/incidents?format=json", own), 201, "own shape")
    assert_error(post(coord.url + "/v1/incidents?format=json", eido_incident()), 400,
                 "unknown_field")
