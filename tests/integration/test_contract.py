"""The contract test: every operation of openapi.yaml (enumerated from the
file, so an operation added there is covered without a line here) called
on a live city -- the coordinator, two brokers registered with it, their
units' executors -- and every reply validated against what the file
documents for that operation: its status must be listed, its body must
match the schema (tests/contract/openapi_check.py: python3-jsonschema,
OpenAPI 3.0 `nullable` translated).

Each operation gets the requests of its recipe below (the happy path and
its documented refusals) when it has one, and always the generic ones the
file alone allows: a request with a capture that is not an id (400),
a body that is not JSON (400) or not JSON-typed (415), a target over the
URL cap (414), and, once per path, a method none of its operations take
(405 with an Allow header that lists exactly the documented methods).

It runs twice: on a city without credentials (loopback, every route
open), and on one with --tokens everywhere, where the same requests carry
an operator's token and every operation is also called without a token
(401, or the open routes' answer) and with a viewer's (403 for a write).

Prints "N operations, M replies validated, K mismatches" and fails on any
mismatch and on an operation that no reply reached.
"""

import http.client
import os
import socket
import sys
import urllib.parse

import pytest

from ergrid import Reply, request, wait_until
from test_dashboard import CityTokens, bearer

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "contract"))
import openapi_check  # noqa: E402

FIRE = ["firefighting", "rescue"]
EMS = ["medical", "transport"]


class City:
    """The services by kind and the ids the recipes use; with tokens
    (test_dashboard.CityTokens) every service checks credentials."""

    def __init__(self, cluster, tokens=None):
        # Every token before any service starts: each reads the file once.
        flags = {who: tokens.own(*who) if tokens else [] for who in (
            ("dispatcher", "city"), ("peer", "Downtown"), ("peer", "Westside"),
            ("unit", "LAFD-1"), ("unit", "EMS-3"), ("unit", "LAFD-5"))}

        def own(role, subject):
            return flags[(role, subject)]
        self.operator = tokens.make("operator", "contract") if tokens else None
        self.viewer = tokens.make("viewer", "contract") if tokens else None
        self.coord = cluster.coordinator(extra=own("dispatcher", "city"))
        curl = self.coord.url
        self.dt = cluster.broker("Downtown", extra=["--coordinator", curl] + own("peer", "Downtown"))
        self.ws = cluster.broker("Westside", extra=["--coordinator", curl] + own("peer", "Westside"))
        self.lafd1 = cluster.executor("LAFD-1", "fire", FIRE, self.dt, extra=own("unit", "LAFD-1"))
        self.ems3 = cluster.executor("EMS-3", "ems", EMS, self.dt,
                                     extra=["--fault-hooks"] + own("unit", "EMS-3"))
        self.lafd5 = cluster.executor("LAFD-5", "fire", FIRE, self.ws, extra=own("unit", "LAFD-5"))
        self.auth = bearer(self.operator) if tokens else {}

        def units_up(b, ids):
            r = request("GET", b.url + "/v1/units", headers=self.auth)
            up = {u["id"] for u in (r.json or {}).get("units", []) if u["status"] == "available"}
            return set(ids) <= up
        wait_until(lambda: units_up(self.dt, ["LAFD-1", "EMS-3"]), 30, message="Downtown's units")
        wait_until(lambda: units_up(self.ws, ["LAFD-5"]), 30, message="Westside's unit")

        def brokers_known():
            r = request("GET", curl + "/v1/brokers", headers=self.auth)
            return r.status == 200 and len(r.json["brokers"]) == 2
        wait_until(brokers_known, 30, message="both brokers registered at the coordinator")
        self.by_service = {"coordinator": self.coord, "broker": self.dt, "executor": self.lafd1}


def recipes(city):
    """operationId -> [(service, method, path, kwargs for ergrid.request)],
    in the order they run: later ones use what earlier ones made."""
    dt, ws, coord, lafd1, ems3 = city.dt, city.ws, city.coord, city.lafd1, city.ems3
    job = {"id": "C-1", "type": "building_fire", "severity": "critical",
           "required_capabilities": ["firefighting"], "location": {"lat": 34.05, "lon": -118.25}}
    claim_job = {"id": "W-claim-1", "type": "medical", "severity": "high",
                 "required_capabilities": ["medical"]}
    return [
        ("getHealth", [(s, "GET", "/v1/health", {}) for s in (coord, dt, lafd1)]),
        ("getMetrics", [(s, "GET", "/metrics", {}) for s in (coord, dt, lafd1)]),
        ("setEmergency", [
            (coord, "POST", "/v1/emergency", {"body": {"level": "high"}}),
            (dt, "POST", "/v1/emergency", {"body": {"level": "high", "set_ms": 1}}),
            (coord, "POST", "/v1/emergency", {"body": {"level": "loud"}}),
            (coord, "POST", "/v1/emergency", {"body": {"level": "low"}}),
        ]),
        ("getEmergency", [(s, "GET", "/v1/emergency", {}) for s in (coord, dt, ws)]),
        ("registerUnit", [
            (dt, "POST", "/v1/units", {"body": {"id": "TEST-9", "kind": "test",
                                                "capabilities": ["testing"],
                                                "url": "http://127.0.0.1:9"}}),
            (dt, "POST", "/v1/units", {"body": {"id": "TEST-9", "kind": "test"}}),
        ]),
        ("heartbeat", [
            (dt, "POST", "/v1/units/TEST-9/heartbeat", {"body": {"jobs": []}}),
            (dt, "POST", "/v1/units/NOPE-1/heartbeat", {"body": {}}),
        ]),
        ("listUnits", [(dt, "GET", "/v1/units", {}), (ws, "GET", "/v1/units?scope=local", {})]),
        ("getUnit", [(dt, "GET", "/v1/units/LAFD-1", {}), (dt, "GET", "/v1/units/NOPE-1", {})]),
        ("submitJob", [
            (dt, "POST", "/v1/jobs", {"body": job}),
            (dt, "POST", "/v1/jobs", {"body": job}),
            (dt, "POST", "/v1/jobs", {"body": dict(job, severity="low")}),
            (dt, "POST", "/v1/jobs", {"body": {"id": "C-2", "type": "riot", "severity": "high",
                                               "required_capabilities": ["law_enforcement"]}}),
            (dt, "POST", "/v1/jobs", {"body": {"type": "x", "severity": "urgent",
                                               "required_capabilities": []}}),
        ]),
        ("listJobs", [(dt, "GET", "/v1/jobs", {}), (dt, "GET", "/v1/jobs?limit=1&offset=1", {}),
                      (dt, "GET", "/v1/jobs?limit=-1", {})]),
        ("getJob", [(dt, "GET", "/v1/jobs/C-1", {}), (dt, "GET", "/v1/jobs/NOPE-9", {}),
                    (dt, "GET", "/v1/jobs/C-1?format=eido", {}),
                    (dt, "GET", "/v1/jobs/C-1?format=xml", {})]),
        ("listAssignments", [(lafd1, "GET", "/v1/assignments", {})]),
        ("getAssignment", [(lafd1, "GET", "/v1/assignments/C-1", {}),
                           (lafd1, "GET", "/v1/assignments/NOPE-9", {})]),
        ("reportResult", [
            (lafd1, "POST", "/v1/assignments/C-1/result", {"body": {"outcome": "contained"}}),
            (lafd1, "POST", "/v1/assignments/C-1/result", {"body": {"outcome": "contained"}}),
            (lafd1, "POST", "/v1/assignments/NOPE-9/result", {"body": {"outcome": "x"}}),
        ]),
        ("submitResult", [
            (dt, "POST", "/v1/jobs/C-1/results", {"body": {"unit_id": "LAFD-1", "attempt": 1,
                                                           "outcome": "contained"}}),
            (dt, "POST", "/v1/jobs/C-1/results", {"body": {"unit_id": "LAFD-1", "attempt": 1,
                                                           "outcome": "spread"}}),
            (dt, "POST", "/v1/jobs/C-1/results", {"body": {"unit_id": "EMS-3", "attempt": 1,
                                                           "outcome": "contained"}}),
            (dt, "POST", "/v1/jobs/NOPE-9/results", {"body": {"unit_id": "LAFD-1", "attempt": 1,
                                                              "outcome": "x"}}),
        ]),
        ("cancelJob", [
            (dt, "POST", "/v1/jobs/C-2/cancel", {"body": {"reason": "false alarm"}}),
            (dt, "POST", "/v1/jobs/C-2/cancel", {}),
            (dt, "POST", "/v1/jobs/C-1/cancel", {}),
            (dt, "POST", "/v1/jobs/NOPE-9/cancel", {}),
        ]),
        ("claimUnit", [
            (dt, "POST", "/v1/units/EMS-3/claim", {"body": {
                "job": claim_job, "attempt": 1, "owner": "Westside", "owner_url": ws.url}}),
            (dt, "POST", "/v1/units/EMS-3/claim", {"body": {
                "job": dict(claim_job, id="W-claim-2"), "attempt": 1, "owner": "Westside",
                "owner_url": ws.url}}),
            (dt, "POST", "/v1/units/LAFD-1/claim", {"body": {
                "job": dict(claim_job, id="W-claim-3", required_capabilities=["medical"]),
                "attempt": 1, "owner": "Westside", "owner_url": ws.url}}),
            (dt, "POST", "/v1/units/NOPE-1/claim", {"body": {
                "job": claim_job, "attempt": 1, "owner": "Westside", "owner_url": ws.url}}),
        ]),
        ("releaseUnit", [
            (dt, "POST", "/v1/units/EMS-3/release", {"body": {"job_id": "W-claim-1", "attempt": 1,
                                                              "reason": "revoked"}}),
            (dt, "POST", "/v1/units/NOPE-1/release", {"body": {"job_id": "W-claim-1",
                                                               "attempt": 1}}),
        ]),
        ("assign", [
            (ems3, "POST", "/v1/assignments", {"body": {
                "job": {"id": "X-1", "type": "medical"}, "attempt": 1, "owner": "Downtown",
                "owner_url": dt.url}}),
            (ems3, "POST", "/v1/assignments", {"body": {
                "job": {"id": "X-1", "type": "medical"}, "attempt": 1, "owner": "Downtown",
                "owner_url": dt.url}}),
            (ems3, "POST", "/v1/assignments", {"body": {
                "job": {"id": "X-2", "type": "medical"}, "attempt": 1, "owner": "Downtown",
                "owner_url": dt.url}}),
        ]),
        ("revokeAssignment", [(ems3, "DELETE", "/v1/assignments/X-1?reason=redeployed", {}),
                              (ems3, "DELETE", "/v1/assignments/NOPE-9", {})]),
        ("getFaultHooks", [(ems3, "GET", "/v1/faults", {})]),
        ("setFaultHooks", [(ems3, "POST", "/v1/faults", {"body": {"drop_heartbeat_replies": 0}}),
                           (ems3, "POST", "/v1/faults", {"body": {"nope": 1}})]),
        ("getMetadata", [(dt, "GET", "/v1/metadata", {}), (dt, "GET", "/v1/metadata?since=1", {}),
                         (dt, "GET", "/v1/metadata?since=x", {})]),
        ("getPeers", [(dt, "GET", "/v1/peers", {})]),
        ("notifyChange", [(dt, "POST", "/v1/notify", {"body": {"broker": "Westside"}}),
                          (dt, "POST", "/v1/notify", {"body": {"broker": "Nowhere"}})]),
        ("getEvents", [
            (dt, "GET", "/v1/events", {}), (dt, "GET", "/v1/events?after=2&limit=3", {}),
            (dt, "GET", "/v1/events?format=shiviz", {}), (coord, "GET", "/v1/events", {}),
            (coord, "GET", "/v1/events?format=shiviz", {}), (coord, "GET", "/v1/events?limit=0", {}),
        ]),
        ("dashboard", [(coord, "GET", "/", {})]),
        ("listBrokers", [(coord, "GET", "/v1/brokers", {})]),
        ("registerBroker", [
            (coord, "POST", "/v1/brokers", {"body": {"id": "Downtown", "url": dt.url}}),
            (coord, "POST", "/v1/brokers", {"body": {"id": "Downtown"}}),
        ]),
        ("submitIncident", [
            (coord, "POST", "/v1/incidents", {"body": {
                "id": "I-1", "type": "building_fire", "severity": "high",
                "required_capabilities": ["firefighting"], "district": "Westside"}}),
            (coord, "POST", "/v1/incidents", {"body": {
                "eidoVersion": "1.0",
                "incidentComponent": {"incidentTrackingIdentifier":
                                      "urn:emergency:uid:incidentid:I-2:Westside",
                                      "incidentTypeCommonRegistryText": "Fire.Structure",
                                      "incidentPriority": 8},
                "district": "Westside"}}),
            (coord, "POST", "/v1/incidents", {"body": {
                "type": "x", "severity": "high", "required_capabilities": ["x"],
                "district": "Nowhere"}}),
        ]),
        ("getOverview", [(coord, "GET", "/v1/overview", {})]),
    ]


# A value for each path capture of an operation without a recipe: one the
# city has, so the request reaches the handler.
CAPTURE_VALUES = {"id": "LAFD-1", "job_id": "C-1", "unit_id": "LAFD-1"}


def fill(path, values):
    out = path
    for seg in path.split("/"):
        if seg.startswith("{") and seg.endswith("}"):
            out = out.replace(seg, urllib.parse.quote(values.get(seg[1:-1], "X-1"), safe=""), 1)
    return out


def body_op(spec, op):
    rb = spec.deref(op.op.get("requestBody", {}))
    return "application/json" in rb.get("content", {})


def generic(spec, op, svc, with_call):
    """What the file alone says this operation must answer, on svc: with
    with_call, first a call with the city's ids and an empty body."""
    out = []
    has_body = body_op(spec, op)
    path = fill(op.path, CAPTURE_VALUES)
    if with_call:
        out.append((svc, op.method, path, {"body": {}} if has_body else {}))
    if "{" in op.path:  # a capture that is no id: an encoded '/'
        out.append((svc, op.method, fill(op.path, {k: "a/b" for k in CAPTURE_VALUES}), {}))
    if has_body:
        out.append((svc, op.method, path, {"raw": b"{not json", "headers": {
            "Content-Type": "application/json"}}))
        out.append((svc, op.method, path, {"raw": b"{}", "headers": {"Content-Type": "text/plain"}}))
    out.append((svc, op.method, path + "?pad=" + "x" * 2100, {}))
    return out


def streams(spec, op):
    """The operation answers 200 with a text/event-stream that stays open."""
    ok = spec.response(op, 200) or {}
    return "text/event-stream" in (ok.get("content") or {})


def stream_request(method, url, headers, timeout=3.0):
    """A request to a stream: its status and headers, and what the stream
    sent within timeout (it never ends by itself); other replies whole."""
    u = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=timeout)
    try:
        conn.request(method, u.path + ("?" + u.query if u.query else ""), headers=headers)
        r = conn.getresponse()
        hdrs = {k.lower(): v for k, v in r.getheaders()}
        if r.status != 200:
            return Reply(r.status, None, r.read(), hdrs)
        data = b""
        try:
            data = r.fp.read1(65536) if hasattr(r.fp, "read1") else b""
        except (socket.timeout, TimeoutError):
            pass
        return Reply(r.status, None, data, hdrs)
    finally:
        conn.close()


@pytest.mark.parametrize("auth", ["open", "tokens"])
def test_every_operation_validates(cluster, tmp_path, auth):
    spec = openapi_check.Spec()
    city = City(cluster, CityTokens(tmp_path) if auth == "tokens" else None)
    mismatches, validated, covered = [], 0, set()
    by_id = {op.id: op for op in spec.operations}

    def run(op, svc, method, path, kw, auth=None):
        nonlocal validated
        kw = dict(kw)
        kw["headers"] = dict(kw.get("headers", {}), **(city.auth if auth is None else auth))
        if streams(spec, op) and method == "GET":
            r = stream_request(method, svc.url + path, kw["headers"])
        else:
            r = request(method, svc.url + path, timeout=10, **kw)
        where = "%s %s %s at %s -> %s" % (op.id, method, path[:80], svc.name, r.status)
        problems = spec.check_reply(op, r.status, r.headers.get("content-type"), r.raw, where)
        mismatches.extend(problems)
        validated += 1
        covered.add(op.id)
        return r

    known = recipes(city)
    unknown = [i for i, _ in known if i not in by_id]
    assert not unknown, "recipes for operations openapi.yaml does not have: %s" % unknown
    for op_id, reqs in known:
        for svc, method, path, kw in reqs:
            run(by_id[op_id], svc, method, path, kw)
    recipe_ids = {i for i, _ in known}
    for op in spec.operations:
        for service in op.services:
            svc = city.by_service[service]
            if op.id == "getFaultHooks" or op.id == "setFaultHooks":
                svc = city.ems3
            for s, method, path, kw in generic(spec, op, svc, op.id not in recipe_ids):
                run(op, s, method, path, kw)
            if city.viewer:
                # the credential is checked before anything of the content
                path = fill(op.path, CAPTURE_VALUES)
                kw = {"body": {}} if body_op(spec, op) else {}
                r = run(op, svc, op.method, path, kw, auth={})
                if op.op.get("security") != [] and r.status != 401:
                    mismatches.append("%s %s at %s without a token -> %s, not 401" %
                                      (op.id, path, svc.name, r.status))
                r = run(op, svc, op.method, path, kw, auth=bearer(city.viewer))
                roles = op.op.get("x-ergrid-roles") or ["viewer"]  # []: open to all
                if "viewer" not in roles and r.status != 403:
                    mismatches.append("%s %s at %s with a viewer token -> %s, not 403" %
                                      (op.id, path, svc.name, r.status))

    # 405: a method no operation of the path takes, on each service that
    # serves the path; Allow must list what the file documents there.
    paths = {}
    for op in spec.operations:
        for service in op.services:
            paths.setdefault((op.path, service), set()).add(op.method)
    notallowed = spec.component_response("MethodNotAllowed")
    for (path, service), methods in sorted(paths.items()):
        svc = city.ems3 if path == "/v1/faults" else city.by_service[service]
        r = request("PATCH", svc.url + fill(path, CAPTURE_VALUES), headers=city.auth, timeout=10)
        where = "PATCH %s at %s -> %s" % (path, svc.name, r.status)
        validated += 1
        if r.status != 405:
            mismatches.append("%s: expected 405" % where)
            continue
        mismatches.extend(spec.check_content(notallowed, r.headers.get("content-type"), r.raw,
                                             where))
        allow = {m.strip() for m in r.headers.get("allow", "").split(",") if m.strip()}
        want = set(methods) | ({"HEAD"} if "GET" in methods else set())
        if allow != want:
            mismatches.append("%s: Allow %s, the file documents %s" %
                              (where, sorted(allow), sorted(want)))

    missed = [op.id for op in spec.operations if op.id not in covered]
    summary = "%d operations, %d replies validated, %d mismatches (%s)" % (
        len(covered), validated, len(mismatches), "credentials checked" if city.viewer else
        "no credentials")
    print("\ncontract: " + summary)
    d = os.environ.get("ERGRID_ARTIFACTS")
    if d:
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, "contract-%s.txt" % auth), "w") as f:
            f.write(summary + "\n" + "\n".join(mismatches) + "\n")
    assert not missed, "operations no reply reached: %s" % missed
    assert not mismatches, summary + ":\n" + "\n".join(mismatches)
