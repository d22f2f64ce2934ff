"""Finding a district's leader (api/leader_client.c) in front of real services:
a fake "follower" in the test process answers every write with 307 to the
real broker (or 503 while it plays "no leader", or a lying Location), and
the executor, the coordinator and a peer broker must still reach the real
broker, and never follow the liar."""

import json
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
