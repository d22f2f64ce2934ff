"""ergrid-coordinator against real processes: the broker registry, incident
routing (named district, free capable unit, least loaded), the overview
figures, the emergency push, the merged event log and its ShiViz export,
bad input, SIGTERM and kill -9 recovery."""

import json
import re
import subprocess
import time

import pytest

from conftest import EMS, FIRE, POLICE
from ergrid import (assert_error, binary, check_job_shape, check_vclock, expect, get,
                    make_district, post, raw_exchange, request, scale, wait_until)

SHIVIZ_REGEX = r"(?<event>.*)\n(?<host>\S*) (?<clock>{.*})"
BROKER_FIELDS = ("id", "url", "registered_at", "last_seen_ms_ago", "reachable", "figures_age_ms")
DEAD_URL = "http://127.0.0.1:9"  # discard port: nothing listens there


def coordinator(cluster, poll="300ms"):
    return cluster.coordinator(extra=["--poll-interval", poll])


def district(cluster, coord, name, spec):
    """A broker registered with the coordinator (by its --coordinator flag)
    plus its executors, all units available."""
    d = make_district(cluster, spec, name=name, broker_extra=["--coordinator", coord.url])
    wait_until(lambda: name in broker_ids(coord), 20, message="%s registered" % name)
    return d


def broker_ids(coord):
    return [b["id"] for b in expect(get(coord.url + "/v1/brokers"), 200, "GET brokers")["brokers"]]


def overview(coord):
    return expect(get(coord.url + "/v1/overview"), 200, "GET overview")


def district_view(coord, name):
    for d in overview(coord)["districts"]:
        if d["id"] == name:
            return d
    raise AssertionError("no district %s in the overview" % name)


def incident(coord, caps, **kw):
    body = {"type": kw.pop("type", "building_fire"), "severity": kw.pop("severity", "high"),
            "required_capabilities": list(caps)}
    body.update(kw)
    return post(coord.url + "/v1/incidents", body)


def check_broker_shape(b):
    missing = [k for k in BROKER_FIELDS if k not in b]
    assert not missing, "broker lacks %s: %r" % (missing, b)
    assert isinstance(b["reachable"], bool), b
    assert isinstance(b["last_seen_ms_ago"], int) and b["last_seen_ms_ago"] >= 0, b
    assert b["figures_age_ms"] is None or isinstance(b["figures_age_ms"], int), b


# ------------------------------------------------------------------ registry

def test_register_update_and_list(cluster):
    c = coordinator(cluster)
    r = post(c.url + "/v1/brokers", {"id": "Valley", "url": DEAD_URL + "/"})
    js = expect(r, 201, "new broker")
    check_broker_shape(js["broker"])
    assert js["broker"]["id"] == "Valley" and js["broker"]["url"] == DEAD_URL, js
    assert [b["id"] for b in js["brokers"]] == ["Valley"], js
    assert js["emergency"]["level"] == "low", js
    vc1 = check_vclock(js["vclock"])
    assert vc1.get("coordinator", 0) >= 1, js

    # Same again: a refresh (200), registered_at kept.
    js2 = expect(post(c.url + "/v1/brokers", {"id": "Valley", "url": DEAD_URL}), 200, "refresh")
    assert js2["broker"]["registered_at"] == js["broker"]["registered_at"], js2
    # A broker's clock is merged into ours.
    js3 = expect(post(c.url + "/v1/brokers", {"id": "Airport", "url": "http://127.0.0.1:10",
                                              "vclock": {"Airport": 42}}), 201, "with clock")
    assert js3["vclock"].get("Airport") == 42, js3
    assert js3["vclock"]["coordinator"] > vc1["coordinator"], js3
    # Moving to another address is an update.
    js4 = expect(post(c.url + "/v1/brokers", {"id": "Valley", "url": "http://127.0.0.1:11"}), 200,
                 "moved")
    assert js4["broker"]["url"] == "http://127.0.0.1:11", js4

    # A real broker registers itself and learns its peers from the reply.
    d = district(cluster, c, "Downtown", [("LAFD-1", "fire", FIRE)])
    lst = expect(get(c.url + "/v1/brokers"), 200, "list")["brokers"]
    assert [b["id"] for b in lst] == ["Airport", "Downtown", "Valley"], lst
    for b in lst:
        check_broker_shape(b)
    down = [b for b in lst if b["id"] == "Downtown"][0]
    assert down["url"] == d.broker.url, down
    wait_until(lambda: [b for b in get(c.url + "/v1/brokers").json["brokers"]
                        if b["id"] == "Downtown"][0]["reachable"], 10, message="Downtown reachable")
    dead = [b for b in get(c.url + "/v1/brokers").json["brokers"] if b["id"] == "Valley"][0]
    assert dead["reachable"] is False and dead["figures_age_ms"] is None, dead
    h = expect(get(c.url + "/v1/health"), 200, "health")
    assert h["status"] == "ok" and h["service"] == "coordinator" and h["brokers"] == 3, h
    assert h["emergency"] == "low", h


def test_registry_cap(cluster):
    c = coordinator(cluster)
    for i in range(64):
        expect(post(c.url + "/v1/brokers", {"id": "D%02d" % i, "url": "http://127.0.0.1:%d" % (20000 + i)}),
               201, "broker %d" % i)
    r = post(c.url + "/v1/brokers", {"id": "D64", "url": "http://127.0.0.1:30000"})
    assert 400 <= r.status < 500, r
    assert r.json["error"]["code"] and r.json["error"]["message"], r
    # Updating an existing one still works when full.
    expect(post(c.url + "/v1/brokers", {"id": "D00", "url": "http://127.0.0.1:30001"}), 200, "update")
    assert len(broker_ids(c)) == 64


# ------------------------------------------------------------------ incidents

def test_incident_to_named_district(cluster):
    c = coordinator(cluster)
    d = district(cluster, c, "Downtown", [("LAFD-1", "fire", FIRE), ("EMS-3", "ems", EMS)])
    r = incident(c, ["firefighting"], severity="critical", district="Downtown", id="fire-A",
                 location="Building A")
    js = expect(r, 201, "named incident")
    assert js["district"] == "Downtown" and js["routing"] == "named", js
    check_job_shape(js["job"])
    assert js["job"]["id"] == "fire-A" and js["job"]["owner"] == "Downtown", js
    assert js["job"]["unit_id"] == "LAFD-1" and js["job"]["status"] == "assigned", js
    check_vclock(js["vclock"])
    assert "district" not in d.broker.job("fire-A"), "district must not reach the broker"

    # A retry with the same id is the same job (the broker deduplicates).
    js2 = expect(incident(c, ["firefighting"], severity="critical", district="Downtown",
                          id="fire-A", location="Building A"), 200, "retry")
    assert js2["job"]["id"] == "fire-A" and js2["district"] == "Downtown", js2
    # The broker's own refusal comes back as it is, with the routing added.
    r3 = incident(c, ["firefighting"], severity="low", district="Downtown", id="fire-A")
    assert_error(r3, 409, "conflict", "same id, other body")
    assert r3.json["district"] == "Downtown" and r3.json["routing"] == "named", r3

    assert_error(incident(c, ["firefighting"], district="Nowhere"), 404, "not_found",
                 "unknown district")


def test_incident_to_free_unit_then_least_loaded(cluster):
    c = coordinator(cluster)
    district(cluster, c, "Downtown", [("EMS-3", "ems", EMS), ("LAPD-7", "police", POLICE)])
    w = district(cluster, c, "Westside", [("LAFD-5", "fire", FIRE)])

    js = expect(incident(c, ["firefighting"], severity="critical", id="fire-B"), 201, "fire B")
    assert js["district"] == "Westside" and js["routing"] == "free_unit", js
    assert js["job"]["unit_id"] == "LAFD-5", js
    assert w.broker.job("fire-B")["status"] == "assigned"

    js = expect(incident(c, ["medical"], severity="high", id="med-1"), 201, "medical")
    assert js["district"] == "Downtown" and js["routing"] == "free_unit", js
    assert js["job"]["unit_id"] == "EMS-3", js

    # No free fire unit anywhere: the least loaded district (ties by id).
    js = expect(incident(c, ["firefighting"], severity="high", id="fire-C"), 201, "fire C")
    assert js["routing"] == "least_loaded" and js["district"] == "Downtown", js
    assert js["job"]["status"] == "queued", js
    js = expect(incident(c, ["firefighting"], severity="high", id="fire-D"), 201, "fire D")
    assert js["routing"] == "least_loaded" and js["district"] == "Westside", js

    # A retry goes where the first try went, even though the choice changed.
    js = expect(incident(c, ["firefighting"], severity="critical", id="fire-B"), 200, "retry B")
    assert js["district"] == "Westside" and js["job"]["unit_id"] == "LAFD-5", js

    m = get(c.url + "/metrics")  # the retry was forwarded too
    assert m.status == 200
    text = m.raw.decode()
    assert 'ergrid_incidents_routed_total{routing="free_unit"} 3' in text, text
    assert 'ergrid_incidents_routed_total{routing="least_loaded"} 2' in text, text
    assert "ergrid_request_duration_seconds_bucket" in text, text
    assert "ergrid_broker_registrations_total" in text and "ergrid_emergency_pushes_total" in text


def test_incident_without_brokers(cluster):
    c = coordinator(cluster)
    assert_error(incident(c, ["firefighting"]), 503, "unavailable", "no broker registered")
    expect(post(c.url + "/v1/brokers", {"id": "Ghost", "url": DEAD_URL}), 201, "dead broker")
    assert_error(incident(c, ["firefighting"]), 502, "bad_gateway", "only a dead broker")
    assert_error(incident(c, ["firefighting"], district="Ghost"), 502, "bad_gateway",
                 "named dead broker")


# ------------------------------------------------------------------ overview

def test_overview_figures(cluster):
    c = coordinator(cluster)
    d = district(cluster, c, "Downtown", [("LAFD-1", "fire", FIRE), ("EMS-3", "ems", EMS)])
    js = expect(incident(c, ["firefighting"], severity="critical", id="fire-A"), 201, "fire A")
    assert js["job"]["unit_id"] == "LAFD-1", js
    expect(incident(c, ["hazmat"], severity="low", id="haz-1", district="Downtown"), 201, "queued")

    def figures():
        v = district_view(c, "Downtown")
        assert v["reachable"] is True and isinstance(v["age_ms"], int), v
        by = v["units_by_status"]
        assert by == {"available": 1, "busy": 1, "lost": 0, "out_of_service": 0}, v
        status = {u["id"]: u["status"] for u in v["units"]}
        assert status == {"LAFD-1": "busy", "EMS-3": "available"}, v
        open_ids = sorted(j["id"] for j in v["open_jobs"])
        assert open_ids == ["fire-A", "haz-1"], v
        return v
    v = wait_until(figures, 15, message="overview figures")
    assert v["url"] == d.broker.url and v["recent_results"] == [], v
    assert isinstance(v["peers"], dict) or v["peers"] is None, v
    o = overview(c)
    assert o["emergency"]["level"] == "low" and "set_at" in o["emergency"], o
    check_vclock(o["vclock"])

    # The crew reports: the result shows among the recent results.
    r = d["LAFD-1"].report("fire-A", "contained", {"note": "roof saved"})
    assert r.status == 201, r

    def finished():
        v = district_view(c, "Downtown")
        res = {x["id"]: x["result"] for x in v["recent_results"]}
        assert "fire-A" in res and res["fire-A"]["outcome"] == "contained", v
        assert res["fire-A"]["unit_id"] == "LAFD-1" and res["fire-A"]["data"] == {"note": "roof saved"}, v
        assert "fire-A" not in [j["id"] for j in v["open_jobs"]], v
        return v
    wait_until(finished, 15, message="result in overview")

    # A broker that stops answering: the overview still answers at once,
    # with the last figures, marked unreachable and ageing.
    d.broker.stop()  # SIGSTOP
    try:
        def stale():
            v = district_view(c, "Downtown")
            assert v["reachable"] is False, v
            return v
        wait_until(stale, 20, message="Downtown unreachable")
        t0 = time.monotonic()
        v = district_view(c, "Downtown")
        assert time.monotonic() - t0 < 1.0 * scale(), "overview waited on a silent broker"
        assert len(v["units"]) == 2 and v["age_ms"] >= 0, v
    finally:
        d.broker.cont()


# ------------------------------------------------------------------ emergency

def test_emergency_push(cluster):
    c = coordinator(cluster)
    d = district(cluster, c, "Downtown", [("LAFD-1", "fire", FIRE)])
    expect(post(c.url + "/v1/brokers", {"id": "Ghost", "url": DEAD_URL}), 201, "dead broker")

    r = post(c.url + "/v1/emergency", {"level": "critical"})
    js = expect(r, 200, "declare")
    assert js["emergency"]["level"] == "critical" and js["emergency"]["set_at"], js
    check_vclock(js["vclock"])
    report = {b["id"]: b for b in js["brokers"]}
    assert set(report) == {"Downtown", "Ghost"}, js
    assert report["Downtown"]["delivered"] is True and report["Downtown"]["status"] == 200, js
    assert report["Ghost"]["delivered"] is False and report["Ghost"]["status"] == 0, js
    # The broker merged our clock: its reply clock is in ours now.
    assert js["vclock"].get("Downtown", 0) >= 1, js

    bl = expect(get(d.broker.url + "/v1/emergency"), 200, "broker level")
    assert bl["emergency"]["level"] == "critical", bl
    assert expect(get(c.url + "/v1/emergency"), 200, "get")["emergency"]["level"] == "critical"
    assert expect(get(c.url + "/v1/health"), 200, "health")["emergency"] == "critical"

    # A broker that registers later learns the level from the registry reply.
    w = district(cluster, c, "Westside", [("LAFD-5", "fire", FIRE)])
    wait_until(lambda: get(w.broker.url + "/v1/emergency").json["emergency"]["level"] == "critical",
               15, message="Westside learns the level")
    js = expect(post(c.url + "/v1/emergency", {"level": "low"}), 200, "stand down")
    assert {b["id"]: b["delivered"] for b in js["brokers"]} == \
        {"Downtown": True, "Ghost": False, "Westside": True}, js


# ------------------------------------------------------------------ events

def test_events_merged_and_shiviz(cluster):
    c = coordinator(cluster)
    district(cluster, c, "Downtown", [("LAFD-1", "fire", FIRE)])
    district(cluster, c, "Westside", [("LAFD-5", "fire", FIRE)])
    expect(incident(c, ["firefighting"], district="Downtown", id="fire-A"), 201, "A")
    expect(incident(c, ["firefighting"], district="Westside", id="fire-B"), 201, "B")
    expect(post(c.url + "/v1/emergency", {"level": "high"}), 200, "declare")

    def merged():
        evs = expect(get(c.url + "/v1/events"), 200, "events")["events"]
        nodes = {e["node"] for e in evs}
        assert {"coordinator", "Downtown", "Westside"} <= nodes, nodes
        assert any(e.get("job_id") == "fire-B" for e in evs), evs
        return evs
    evs = wait_until(merged, 15, message="events from every node")
    for e in evs:
        check_vclock(e["vclock"], "event clock")
        assert e["vclock"].get(e["node"], 0) >= 1, "an event without its node's own entry: %r" % e
    keys = [(e["time"], e["node"]) for e in evs]
    assert keys == sorted(keys), "events must be sorted by time, then node"
    assert len(expect(get(c.url + "/v1/events?limit=3"), 200, "limit")["events"]) == 3

    r = get(c.url + "/v1/events?format=shiviz")
    assert r.status == 200 and r.headers["content-type"].startswith("text/plain"), r
    text = r.raw.decode()
    matches = list(re.finditer(SHIVIZ_REGEX.replace("(?<", "(?P<"), text))
    assert len(matches) == len(text.splitlines()) // 2 and matches, text
    clocks = []
    for m in matches:
        assert m.group("event"), m.group(0)
        clocks.append((m.group("host"), json.loads(m.group("clock"))))
    hosts = {h for h, _ in clocks}
    assert {"coordinator", "Downtown", "Westside"} <= hosts, hosts
    # What ShiViz insists on: each host's own entry present, counting 1, 2, 3...
    # and every entry naming a host of the log within its event count.
    count = {h: 0 for h in hosts}
    for h, vc in clocks:
        assert h in vc, (h, vc)
        count[h] += 1
        assert set(vc) <= hosts, vc
    for h in hosts:
        assert sorted(vc[h] for hh, vc in clocks if hh == h) == list(range(1, count[h] + 1)), h
    for h, vc in clocks:
        for k, v in vc.items():
            assert 1 <= v <= count[k], (h, vc)


# ------------------------------------------------------------------ bad input

def test_bad_input_changes_nothing(cluster):
    c = coordinator(cluster)
    expect(post(c.url + "/v1/brokers", {"id": "Ghost", "url": DEAD_URL}), 201, "dead broker")
    before = get(c.url + "/v1/brokers").json
    events_before = len(get(c.url + "/v1/events").json["events"])
    jh = [("Content-Type", "application/json")]
    ok_job = {"type": "building_fire", "severity": "high", "required_capabilities": ["firefighting"]}

    def job(**kw):
        b = dict(ok_job)
        b.update(kw)
        return json.dumps(b).encode()

    cases = [
        ("POST", "/v1/incidents", jh, b"{not json", 400, "invalid_json"),
        ("POST", "/v1/incidents", jh, b"[1,2]", 400, "invalid_json"),
        ("POST", "/v1/incidents", [], job(), 415, "unsupported_media_type"),
        ("POST", "/v1/incidents", jh, json.dumps({"severity": "high", "required_capabilities": ["x"]}).encode(), 400, "missing_field"),
        ("POST", "/v1/incidents", jh, job(severity="apocalyptic"), 400, "invalid_field"),
        ("POST", "/v1/incidents", jh, job(required_capabilities=[]), 400, "invalid_field"),
        ("POST", "/v1/incidents", jh, job(required_capabilities="firefighting"), 400, "invalid_field"),
        ("POST", "/v1/incidents", jh, job(id="has space"), 400, "invalid_id"),
        ("POST", "/v1/incidents", jh, job(district="../etc"), 400, "invalid_id"),
        ("POST", "/v1/incidents", jh, job(priority=1), 400, "unknown_field"),
        ("POST", "/v1/incidents", jh, job(payload="x" * 10), 400, "invalid_field"),
        ("POST", "/v1/incidents", jh, job(location={"note": "x" * 5000}), 400, "invalid_field"),
        ("POST", "/v1/brokers", jh, json.dumps({"id": "Evil", "url": "ftp://127.0.0.1"}).encode(), 400, "invalid_field"),
        ("POST", "/v1/brokers", jh, json.dumps({"id": "Evil", "url": "http://" + "a" * 600}).encode(), 400, "invalid_field"),
        ("POST", "/v1/brokers", jh, json.dumps({"id": "Ev il", "url": "http://127.0.0.1:1"}).encode(), 400, "invalid_id"),
        ("POST", "/v1/brokers", jh, json.dumps({"id": "Evil"}).encode(), 400, "missing_field"),
        ("POST", "/v1/brokers", jh, json.dumps({"id": "coordinator", "url": "http://127.0.0.1:1"}).encode(), 400, "invalid_id"),
        ("POST", "/v1/brokers", jh, json.dumps({"id": "Evil", "url": "http://127.0.0.1:1", "vclock": {"x": -1}}).encode(), 400, "invalid_field"),
        ("POST", "/v1/brokers", jh, json.dumps({"id": "Evil", "url": "http://127.0.0.1:1", "vclock": {"x": 2 ** 60}}).encode(), 400, "invalid_field"),
        ("POST", "/v1/emergency", jh, json.dumps({"level": "apocalyptic"}).encode(), 400, "invalid_field"),
        ("POST", "/v1/emergency", jh, json.dumps({"level": "high", "why": "x"}).encode(), 400, "unknown_field"),
        ("POST", "/v1/emergency", jh, json.dumps({"level": 3}).encode(), 400, "invalid_field"),
        ("GET", "/v1/events?limit=0", [], None, 400, "bad_request"),
        ("GET", "/v1/events?limit=abc", [], None, 400, "bad_request"),
        ("GET", "/v1/events?format=xml", [], None, 400, "bad_request"),
        ("GET", "/v1/nothing", [], None, 404, "not_found"),
        ("DELETE", "/v1/brokers", [], None, 405, "method_not_allowed"),
        ("POST", "/v1/incidents", jh, b'{"type":"' + b"x" * (1024 * 1024 + 10) + b'"}', 413, "payload_too_large"),
    ]
    for method, path, headers, body, status, code in cases:
        r = raw_exchange("127.0.0.1", c.port, method, path, headers, body)
        assert_error(r, status, code, "%s %s %r" % (method, path, (body or b"")[:80]))
    assert c.alive()
    after = get(c.url + "/v1/brokers").json
    assert [(b["id"], b["url"], b["registered_at"]) for b in after["brokers"]] == \
        [(b["id"], b["url"], b["registered_at"]) for b in before["brokers"]], after
    assert get(c.url + "/v1/emergency").json["emergency"]["level"] == "low"
    assert len(get(c.url + "/v1/events").json["events"]) == events_before


# ------------------------------------------------------------------ process

def test_command_line():
    exe = binary("coordinator")
    for args in (["--bogus"], ["--listen", "127.0.0.1:0"], ["--listen", "nope", "--data-dir", "/tmp"],
                 ["--listen", "127.0.0.1:0", "--data-dir", "/tmp", "--poll-interval", "fast"],
                 ["--listen=127.0.0.1:0", "--data-dir=/tmp", "--threads=0"],
                 ["--listen", "127.0.0.1:0", "--data-dir"]):
        p = subprocess.run([exe] + args, capture_output=True, timeout=10 * scale())
        assert p.returncode == 2, (args, p)
        assert p.stdout == b"", (args, p)
        err = p.stderr.decode().strip()
        assert err and "\n" not in err, (args, err)
    p = subprocess.run([exe, "--help"], capture_output=True, timeout=10 * scale())
    assert p.returncode == 0 and b"--poll-interval" in p.stdout, p


def test_sigterm_and_kill9_recovery(cluster):
    c = coordinator(cluster)
    expect(post(c.url + "/v1/brokers", {"id": "Valley", "url": "http://127.0.0.1:12"}), 201, "Valley")
    expect(post(c.url + "/v1/brokers", {"id": "Airport", "url": "http://127.0.0.1:13"}), 201, "Airport")
    js = expect(post(c.url + "/v1/emergency", {"level": "high"}), 200, "declare")
    vc = js["vclock"]["coordinator"]
    before = {b["id"]: (b["url"], b["registered_at"]) for b in get(c.url + "/v1/brokers").json["brokers"]}

    c.kill9()
    c.restart(allow_new_port=True)
    after = {b["id"]: (b["url"], b["registered_at"]) for b in get(c.url + "/v1/brokers").json["brokers"]}
    assert after == before, (before, after)
    em = expect(get(c.url + "/v1/emergency"), 200, "level after restart")
    assert em["emergency"]["level"] == "high" and em["emergency"]["set_at"] == js["emergency"]["set_at"], em
    assert em["vclock"]["coordinator"] >= vc, "the clock went backwards across a restart"
    types = [e["type"] for e in get(c.url + "/v1/events").json["events"] if e["node"] == "coordinator"]
    assert types.count("broker_registered") == 2 and "emergency_declared" in types, types

    c.term()  # asserts exit 0
    c.restart(allow_new_port=True)
    assert sorted(broker_ids(c)) == ["Airport", "Valley"]
    c.term()


def test_dashboard_served(cluster):
    c = coordinator(cluster)
    r = get(c.url + "/")
    assert r.status == 200 and r.headers["content-type"].startswith("text/html"), r
    page = r.raw.decode()
    assert "/v1/overview" in page and "/v1/events" in page
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page), "the page must be self-contained"
    assert_error(request("POST", c.url + "/", body={}), 405, "method_not_allowed")
