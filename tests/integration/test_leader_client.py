"""Finding a district's leader (api/leader_client.c) in front of real services:
a fake "follower" in the test process answers every write with 307 to the
real broker (or 503 while it plays "no leader", or a lying Location), and
the executor, the coordinator and a peer broker must still reach the real
broker, and never follow the liar."""

import json
import socket
import threading
import urllib.request

import pytest

import ergrid
from conftest import FIRE
from ergrid import expect, get, post, unit_status, wait_until
from fakepeer import QuietHandler, Served, write_reply


class FakeFollower(Served):
    """mode "follow": every non-GET gets 307 to target + the same path and
    query, body the not_leader error; GETs are answered from the target
    (a follower serves reads). mode "noleader": every request gets 503
    unavailable with Retry-After: 1. mode "lie": 307 to location as set."""

    def __init__(self, target, mode="follow"):
        self.target = target
        self.mode = mode
        self.location = None
        self.lock = threading.Lock()
        self.seen = []  # (method, path) of every request
        me = self

        class Handler(QuietHandler):
            def _answer(self, method):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else b""
                with me.lock:
                    me.seen.append((method, self.path))
                    mode, target, location = me.mode, me.target, me.location
                if mode == "noleader":
                    return self._reply(503, {"error": {"code": "unavailable",
                                                       "message": "no leader"}},
                                       [("Retry-After", "1")])
                if method == "GET" and mode == "follow":
                    return self._proxy_get(target)
                loc = location if mode == "lie" else target + self.path
                return self._reply(307, {"error": {"code": "not_leader",
                                                   "message": "this broker is a follower"}},
                                   [("Location", loc)])

            def _proxy_get(self, target):
                try:
                    with urllib.request.urlopen(target + self.path, timeout=5) as r:
                        return self._reply(r.status, json.loads(r.read() or b"null"),
                                           [("X-Ergrid-Role", "follower")])
                except Exception as exc:  # the real broker is away: say so
                    return self._reply(503, {"error": {"code": "unavailable",
                                                       "message": str(exc)}})

            def _reply(self, status, body, headers=()):
                data = json.dumps(body).encode()
                try:
                    self.send_response(status)
                    for k, v in headers:
                        self.send_header(k, v)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:
                    pass

            def do_GET(self):
                self._answer("GET")

            def do_POST(self):
                self._answer("POST")

            def do_DELETE(self):
                self._answer("DELETE")

        self.serve(Handler)

    def set(self, mode, location=None):
        with self.lock:
            self.mode = mode
            self.location = location

    def count(self, method=None, prefix=""):
        with self.lock:
            return sum(1 for m, p in self.seen
                       if (method is None or m == method) and p.startswith(prefix))


class Evil(Served):
    """Where a liar points: it must never be asked anything."""

    def __init__(self):
        self.hits = 0
        me = self

        class Handler(QuietHandler):
            def _any(self):
                me.hits += 1
                write_reply(self, 200, {"evil": True})

            do_GET = do_POST = _any

        self.serve(Handler)


@pytest.fixture
def fakes():
    made = []

    def make(cls, *a, **kw):
        s = cls(*a, **kw)
        made.append(s)
        return s
    yield make
    for s in made:
        s.close()


def _health(e):
    r = get(e.url + "/v1/health")
    expect(r, 200, "executor health")
    return r.json


def test_executor_registers_and_heartbeats_through_a_follower(cluster, fakes):
    b = cluster.broker()
    fol = fakes(FakeFollower, b.url)
    e = cluster.executor("LAFD-1", "fire", FIRE, "%s,%s" % (fol.url, b.url))
    wait_until(lambda: unit_status(b, "LAFD-1") == "available", message="LAFD-1 registered")
    # The first registration went to the follower (the first URL) and was
    # sent on by its 307; the leader then stays current.
    assert fol.count("POST", "/v1/units") >= 1, fol.seen
    h = _health(e)
    assert h["broker"] == b.url, h
    assert h["brokers"] == [fol.url, b.url], h
    before = fol.count("POST")
    _wait_requests_from_others(b, 3, "three heartbeats at the leader")
    assert fol.count("POST") == before, "heartbeats went to the follower again: %r" % fol.seen

    # A report for a job of the home district lands at the leader.
    job = b.submit_ok(["firefighting"], severity="critical", id="lc-1")
    assert job["unit_id"] == "LAFD-1", job
    wait_until(lambda: e.assignment("lc-1") is not None, message="LAFD-1 holds lc-1")
    r = e.report("lc-1", "contained")
    assert r.status == 201 and r.json["accepted"] is True, r
    assert b.job("lc-1")["result"]["outcome"] == "contained"


def _served(b):
    m = get(b.url + "/metrics")
    return sum(float(line.split()[-1]) for line in m.raw.decode().splitlines()
               if line.startswith("ergrid_request_duration_seconds_count"))


def _wait_requests_from_others(b, n, message):
    """Waits until b served n requests besides this function's own scrapes
    (each scrape is counted once it has been answered)."""
    base, polls = _served(b), [1]

    def enough():
        now = _served(b)
        polls[0] += 1
        return now - base - (polls[0] - 1) >= n
    wait_until(enough, message=message)


def test_executor_rotates_past_a_broker_without_leader(cluster, fakes):
    b = cluster.broker()
    fol = fakes(FakeFollower, b.url, mode="noleader")
    e = cluster.executor("LAFD-1", "fire", FIRE, "%s,%s" % (fol.url, b.url))
    wait_until(lambda: unit_status(b, "LAFD-1") == "available", message="LAFD-1 registered")
    assert fol.count() >= 1, "the first URL was never tried"
    assert _health(e)["broker"] == b.url


@pytest.mark.parametrize("lie", ["other_port", "file", "too_long"])
def test_executor_never_follows_a_lying_location(cluster, fakes, lie):
    b = cluster.broker()
    evil = fakes(Evil)
    fol = fakes(FakeFollower, b.url)
    location = {"other_port": evil.url + "/v1/units",
                "file": "file:///etc/passwd",
                "too_long": evil.url + "/" + "a" * 5000}[lie]
    fol.set("lie", location)
    e = cluster.executor("LAFD-1", "fire", FIRE, "%s,%s" % (fol.url, b.url))
    # Refused, and the next URL of the list tried instead.
    wait_until(lambda: unit_status(b, "LAFD-1") == "available", message="LAFD-1 registered")
    assert fol.count("POST") >= 1
    assert evil.hits == 0, "the executor followed a lying Location (%s)" % lie
    assert _health(e)["broker"] == b.url


def test_executor_flag_refuses_bad_lists(cluster):
    b = cluster.broker()
    for bad in ["%s,%s" % (b.url, b.url), b.url + ",", b.url + "/v1",
                ",".join("http://127.0.0.1:%d" % (20000 + i) for i in range(9))]:
        e = cluster.executor("LAFD-9", "fire", FIRE, bad, start=False)
        e.start()
        assert e.proc.wait(timeout=10) == 2, bad
        e.expected_exit = True
        cluster.services.remove(e)


def _dead_url():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return "http://127.0.0.1:%d" % port


def _peer_entry(b, district):
    r = get(b.url + "/v1/peers")
    expect(r, 200, "GET /v1/peers")
    for p in r.json["peers"]:
        if p["id"] == district:
            return p
    return None


def test_broker_peer_with_a_dead_url_still_syncs(cluster):
    w = cluster.broker("Westside")
    cluster.executor("LAFD-5", "fire", FIRE, w)
    dead = _dead_url()
    d = cluster.broker("Downtown", extra=["--peer", "Westside=%s,%s" % (dead, w.url)])

    def seen():
        r = get(d.url + "/v1/units/LAFD-5")
        return r.status == 200 and r.json["unit"]["district"] == "Westside"
    wait_until(seen, message="Downtown sees Westside's LAFD-5 past the dead URL")
    p = _peer_entry(d, "Westside")
    assert p["urls"] == [dead, w.url], p
    assert p["url"] == w.url, p


def test_broker_claims_through_a_follower(cluster, fakes):
    """Mutual aid: the claim (a write) at Westside goes to the follower
    first and follows its 307 to the leader; pulls are served by it."""
    w = cluster.broker("Westside")
    cluster.executor("LAFD-5", "fire", FIRE, w)
    wait_until(lambda: unit_status(w, "LAFD-5") == "available", message="LAFD-5 registered")
    fol = fakes(FakeFollower, w.url)
    d = cluster.broker("Downtown", extra=["--peer", "Westside=%s,%s" % (fol.url, w.url)])
    wait_until(lambda: get(d.url + "/v1/units/LAFD-5").status == 200,
               message="Downtown sees LAFD-5")
    assert fol.count("GET", "/v1/metadata") >= 1, fol.seen
    job = d.submit(["firefighting"], severity="critical", id="aid-1")
    assert job.status == 201, job

    def assigned():
        j = d.job("aid-1")
        return j["status"] == "assigned" and j["unit_id"] == "LAFD-5"
    wait_until(assigned, message="aid-1 borrowed LAFD-5 from Westside")
    assert fol.count("POST", "/v1/units/LAFD-5/claim") >= 1, fol.seen
    assert _peer_entry(d, "Westside")["url"] == w.url


def test_broker_peer_flag_refuses_bad_lists(cluster):
    for bad in ["X=http://a:1,ftp://b:2", "X=http://a:1,https://b:2", "X=http://a:1/v1",
                "X=" + ",".join("http://a:%d" % (i + 1) for i in range(5)), "X=http://a:1,"]:
        b = cluster.broker("Downtown", extra=["--peer", bad], start=False)
        problem = b.start()
        assert problem and b.proc.wait(timeout=10) == 2, bad
        cluster.services.remove(b)


def _incident(coord, district, id):
    return post(coord.url + "/v1/incidents",
                {"type": "building_fire", "severity": "critical",
                 "required_capabilities": ["firefighting"], "district": district, "id": id})


def _registered(coord, district):
    r = get(coord.url + "/v1/brokers")
    expect(r, 200, "GET /v1/brokers")
    return [b for b in r.json["brokers"] if b["id"] == district][0]


def test_coordinator_routes_an_incident_through_a_follower(cluster, fakes):
    c = cluster.coordinator()
    b = cluster.broker("Downtown")
    cluster.executor("LAFD-1", "fire", FIRE, b)
    wait_until(lambda: unit_status(b, "LAFD-1") == "available", message="LAFD-1 registered")
    fol = fakes(FakeFollower, b.url)
    # The follower registers first, so it is the URL the coordinator tries first.
    expect(post(c.url + "/v1/brokers", {"id": "Downtown", "url": fol.url}), 201, "follower")
    expect(post(c.url + "/v1/brokers", {"id": "Downtown", "url": b.url}), 200, "leader")
    reg = _registered(c, "Downtown")
    assert reg["urls"] == [fol.url, b.url] and reg["url"] == b.url, reg
    # A known URL again is a refresh: nothing added.
    expect(post(c.url + "/v1/brokers", {"id": "Downtown", "url": fol.url + "/"}), 200, "refresh")
    assert _registered(c, "Downtown")["urls"] == [fol.url, b.url]

    r = _incident(c, "Downtown", "inc-ha-1")
    assert r.status == 201, r
    assert r.json["district"] == "Downtown" and r.json["job"]["unit_id"] == "LAFD-1", r
    assert fol.count("POST", "/v1/jobs") >= 1, fol.seen
    assert b.job("inc-ha-1")["owner"] == "Downtown"
    # The same id again: the broker's idempotency answers 200 with the same job.
    r2 = _incident(c, "Downtown", "inc-ha-1")
    assert r2.status == 200 and r2.json["job"]["id"] == "inc-ha-1", r2


def test_coordinator_keeps_at_most_eight_urls_and_remembers_them(cluster):
    c = cluster.coordinator()
    for i in range(9):
        expect(post(c.url + "/v1/brokers", {"id": "Valley", "url": "http://127.0.0.1:%d" % (21000 + i)}),
               201 if i == 0 else 200, "url %d" % i)
    urls = _registered(c, "Valley")["urls"]
    assert len(urls) == 8 and "http://127.0.0.1:21000" not in urls, urls
    assert "http://127.0.0.1:21008" in urls, urls
    c.term()
    c.start_or_fail()
    assert sorted(_registered(c, "Valley")["urls"]) == sorted(urls)


def test_coordinator_refuses_a_lying_location(cluster, fakes):
    c = cluster.coordinator()
    b = cluster.broker("Valley")
    evil = fakes(Evil)
    liar = fakes(FakeFollower, b.url)
    expect(post(c.url + "/v1/brokers", {"id": "Valley", "url": liar.url}), 201, "liar")
    for location, why in [(evil.url + "/v1/jobs", "not in the set"),
                          ("file:///etc/passwd", "not an absolute http(s) URL"),
                          (evil.url + "/" + "a" * 5000, "longer than a sane URL")]:
        liar.set("lie", location)
        r = _incident(c, "Valley", "inc-lie")
        ergrid.assert_error(r, 502, "bad_gateway", "lying Location %s" % location[:40])
        assert why in r.json["error"]["message"], r.json
    assert evil.hits == 0


def test_executor_reports_to_another_district_past_a_dead_owner_url(cluster, fakes):
    """LAFD-5 (Westside) is lent to Downtown, whose assignment names it by a
    URL (its --advertise-url, a follower here) that then dies: the report
    finds Downtown through Westside's GET /v1/peers, which lists both URLs."""
    w = cluster.broker("Westside", start=False)
    d = cluster.broker("Downtown", start=False)
    w.start_or_fail()
    d.start_or_fail()
    fol = fakes(FakeFollower, d.url)
    # Restart both with their peers known: Downtown advertises the follower.
    d.term()
    d.args += ["--advertise-url", fol.url, "--peer", "Westside=" + w.url]
    d.start_or_fail(port=d.port)
    w.term()
    w.args += ["--peer", "Downtown=%s,%s" % (fol.url, d.url)]
    w.start_or_fail(port=w.port)
    e = cluster.executor("LAFD-5", "fire", FIRE, w)
    wait_until(lambda: get(d.url + "/v1/units/LAFD-5").status == 200
               and get(d.url + "/v1/units/LAFD-5").json["unit"]["status"] == "available",
               message="Downtown sees LAFD-5 available")
    job = d.submit(["firefighting"], severity="critical", id="aid-report")
    assert job.status == 201, job
    wait_until(lambda: e.assignment("aid-report") is not None, message="LAFD-5 holds aid-report")
    a = e.assignment("aid-report")
    assert a["owner"] == "Downtown" and a["owner_url"] == fol.url, a
    fol.close()
    r = e.report("aid-report", "contained")
    assert r.status == 201 and r.json["accepted"] is True, r
    assert d.job("aid-report")["result"]["outcome"] == "contained"
    assert "trying its other URLs" in e.log_tail(), e.log_tail()


def test_coordinator_asks_a_district_without_leader_once_per_declaration(cluster, fakes):
    """A declaration is pushed to each district once: a district whose
    URLs all fail (no leader, nobody listening) is reported undelivered
    after one try at each URL, not retried until the call's timeout (the
    brokers learn the level again from the registrar's replies), so a
    dead district cannot slow every declaration down."""
    c = cluster.coordinator()
    fol = fakes(FakeFollower, "http://127.0.0.1:1", mode="noleader")
    expect(post(c.url + "/v1/brokers", {"id": "Eastside", "url": fol.url}), 201, "no leader")
    expect(post(c.url + "/v1/brokers", {"id": "Eastside", "url": _dead_url()}), 200, "dead")
    for i, level in enumerate(["high", "low"]):
        r = post(c.url + "/v1/emergency", {"level": level})
        expect(r, 200, "declare %s" % level)
        east = [b for b in r.json["brokers"] if b["id"] == "Eastside"]
        assert east and east[0]["delivered"] is False and east[0]["status"] in (0, 503), r.json
        assert fol.count("POST", "/v1/emergency") == i + 1, fol.seen
