"""Hostile input that is valid JSON and under every body cap, yet used to
stop the city or pin part of it (issue 9 items 4, 7 and 9):

- a free-form object nested 2,047 deep (or just too deep or too big) at any
  intake: a job's location and payload, result data, a claim's or an
  assignment's job object, an incident's location and payload;
- the ids `.` and `..`, which clients rewrite out of a path;
- a clock that sets the receiver's own entry or jumps an entry by more than
  one message may (docs/PROTOCOL.md, "Vector clocks");
- a peer's far-future emergency timestamp;
- event and metadata paging beyond the end or beyond 64 bits.

The fake peer is a few lines on fakepeer.py's server: enough to serve the
/v1/metadata pages a real peer would, with whatever a hostile one puts in."""

import json
import os
import sqlite3
import sys
import threading
import time

import pytest

import fakepeer
from conftest import FIRE
from ergrid import assert_error, expect, get, post, raw_exchange, unit_status, wait_until

DEPTH_MAX = 16             # openapi.yaml: a free-form object's nesting cap
VALUE_MAX = 4096           # ... and its size, as compact JSON
STEP_MAX = 1 << 32         # the most one message may raise a clock entry
SKEW_MS = 5000             # how far ahead a relayed emergency stamp may be
DEAD_URL = "http://127.0.0.1:9"  # discard port: nothing listens there
NOBODY = "no_such_capability"    # keeps a job queued


def nested(depth, leaf=1):
    """An object nested depth levels deep: {"a":{"a":...{"a":leaf}}}."""
    v = leaf
    for _ in range(depth):
        v = {"a": v}
    return v


def deep_arrays_text(depth):
    return "[" * depth + "]" * depth


def job_body(**extra):
    body = {"type": "building_fire", "severity": "high", "required_capabilities": ["firefighting"]}
    body.update(extra)
    return body


def clock_of(svc):
    return expect(get(svc.url + "/v1/health"), 200, "health")["vclock"]


def level_of(broker):
    return expect(get(broker.url + "/v1/emergency"), 200, "GET emergency")["emergency"]["level"]


def assert_refused_field(reply, field, limit, what):
    assert_error(reply, 400, "invalid_field", what)
    msg = reply.json["error"]["message"]
    assert field in msg and str(limit) in msg, "%s: the message names neither %r nor %s: %r" % (
        what, field, limit, msg)


# ---------------------------------------------------------------- fake peer

class FakePeer(fakepeer.Served):
    """A broker that answers GET /v1/metadata with page() and everything else
    (notify, claims) with 202; counts the pulls it served."""

    def __init__(self, name, page):
        self.name = name
        self.page = page
        self.pulls = 0
        self.lock = threading.Lock()
        peer = self

        class Handler(fakepeer.QuietHandler):
            def _send(self, status, obj):
                fakepeer.write_reply(self, status, obj)

            def do_GET(self):
                if self.path.startswith("/v1/metadata"):
                    with peer.lock:
                        peer.pulls += 1
                    self._send(200, peer.page(peer))
                else:
                    self._send(404, {"error": {"code": "not_found", "message": "fake peer"}})

            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(n)
                self._send(202, {"scheduled": True, "vclock": {}})

        self.serve(Handler)

    def pulled(self):
        with self.lock:
            return self.pulls

    def wait_pulls(self, n, what):
        """Waits until n more pulls than now were served (each one applied by
        the broker before it asks for the next)."""
        start = self.pulled()
        wait_until(lambda: self.pulled() >= start + n, 20, message="%d pulls of %s (%s)" % (
            n, self.name, what))


@pytest.fixture
def fake_peers():
    made = []

    def make(name, page):
        p = FakePeer(name, page)
        made.append(p)
        return p
    yield make
    for p in made:
        p.close()


def page_of(peer, level="low", set_ms=0, vclock=None):
    return {"broker": peer.name, "url": peer.url, "epoch": "fake-1", "version": 1, "full": True,
            "more": False, "units": [], "jobs": [], "emergency": level,
            "emergency_set_ms": set_ms, "vclock": vclock if vclock is not None else {}}


def now_ms():
    return int(time.time() * 1000)


# ---------------------------------------------------------------- item 4

def test_deep_location_is_refused_and_the_city_keeps_syncing(cluster):
    dt = cluster.broker("Downtown", extra=["--sync-interval", "200ms"], start=False)
    ws = cluster.broker("Westside", extra=["--sync-interval", "200ms"], start=False)
    dt.start_or_fail()
    ws.args += ["--peer", "Downtown=" + dt.url]
    ws.start_or_fail()
    ex = cluster.executor("LAFD-1", "fire", FIRE, dt)
    wait_until(lambda: unit_status(dt, "LAFD-1") == "available", message="LAFD-1 registered")

    # Valid JSON under the body cap: 2,047 levels inside the 2,048 jansson parses.
    body = ('{"id":"poison","type":"building_fire","severity":"critical",'
            '"required_capabilities":["firefighting"],"location":%s}' % deep_arrays_text(2047))
    # The old code echoed it back: Python's decoder needs the room to read that.
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 10000))
    try:
        poison = post(dt.url + "/v1/jobs", raw=body, headers={"Content-Type": "application/json"})
    finally:
        sys.setrecursionlimit(limit)
    marker = dt.submit_ok([NOBODY], severity="low", id="after-poison")
    assert marker["status"] == "queued", marker

    # The pull that brings the marker is the one a poisoned page would break.
    def seen():
        r = get(ws.url + "/v1/jobs/after-poison")
        return r.status == 200 and r.json["job"]["owner"] == "Downtown"
    wait_until(seen, 10, message="Westside sees Downtown's job submitted after the deep one")
    assert_refused_field(poison, "location", DEPTH_MAX, "2,047-deep location")
    assert get(dt.url + "/v1/jobs/poison").status == 404
    # The unit it would have jammed still takes real work.
    real = dt.submit_ok(["firefighting"], id="real-fire")
    assert real["status"] == "assigned" and real["unit_id"] == "LAFD-1", real
    assert ex.assignment("real-fire")["state"] == "active"


def test_a_deep_location_stored_by_an_older_build_does_not_stop_sync(cluster):
    """Intake refuses it now, but a database written before may hold one:
    its district's pages must still be readable."""
    dt = cluster.broker("Downtown", extra=["--sync-interval", "200ms"])
    dt.submit_ok([NOBODY], severity="low", id="legacy", location={"address": "Building A"})
    dt.term()
    db = sqlite3.connect(os.path.join(dt.data_dir, "broker.db"))
    with db:
        db.execute("UPDATE jobs SET location = ? WHERE id = 'legacy'",
                   (deep_arrays_text(2047),))
    db.close()
    dt.restart()
    ws = cluster.broker("Westside", extra=["--sync-interval", "200ms", "--peer",
                                           "Downtown=" + dt.url])
    dt.submit_ok([NOBODY], severity="low", id="after-legacy")

    def seen():
        r = get(ws.url + "/v1/jobs/after-legacy")
        return r.status == 200
    wait_until(seen, 10, message="Westside syncs a district holding a 2,047-deep location")
    legacy = expect(get(ws.url + "/v1/jobs/legacy"), 200, "legacy copy")["job"]
    assert legacy["location"] is None, legacy


def test_every_free_form_object_is_capped_at_intake(cluster):
    b = cluster.broker()
    ex = cluster.executor("LAFD-1", "fire", FIRE, b)
    wait_until(lambda: unit_status(b, "LAFD-1") == "available", message="LAFD-1 registered")
    jobs = b.url + "/v1/jobs"

    # At the caps: accepted, a real front-end never comes near them.
    ok = expect(post(jobs, job_body(id="at-caps", severity="low",
                                    required_capabilities=[NOBODY],
                                    location=nested(DEPTH_MAX),
                                    payload={"note": "x" * (VALUE_MAX - 20)})), 201, "at caps")
    assert ok["job"]["status"] == "queued", ok
    # One past them, in every free-form field a broker takes.
    assert_refused_field(post(jobs, job_body(location=nested(DEPTH_MAX + 1))), "location",
                         DEPTH_MAX, "job location")
    assert_refused_field(post(jobs, job_body(payload=nested(DEPTH_MAX + 1))), "payload",
                         DEPTH_MAX, "job payload")
    assert_refused_field(post(jobs, job_body(location=["x" * VALUE_MAX])), "location",
                         VALUE_MAX, "job location size")
    assert_refused_field(post(jobs, job_body(payload={"x": "y" * VALUE_MAX})), "payload",
                         VALUE_MAX, "job payload size")

    j = b.submit_ok(["firefighting"], id="held")
    assert j["unit_id"] == "LAFD-1", j
    assert_refused_field(b.result("held", "LAFD-1", 1, "contained", data=nested(DEPTH_MAX + 1)),
                         "data", DEPTH_MAX, "result data")
    assert_refused_field(ex.report("held", "contained", data=nested(DEPTH_MAX + 1)),
                         "data", DEPTH_MAX, "report data at the terminal")
    assert b.job("held")["status"] == "assigned"

    # A claim's job object and an assignment's job object: a job as a broker
    # shows it may nest 2 levels more (job -> result -> data).
    deep_job = {"id": "borrowed", "type": "building_fire", "severity": "high",
                "required_capabilities": ["firefighting"], "location": nested(DEPTH_MAX + 2)}
    claim = {"job": deep_job, "attempt": 1, "owner": "Westside", "owner_url": DEAD_URL}
    assert_refused_field(post(b.url + "/v1/units/LAFD-1/claim", claim), "job", DEPTH_MAX + 2,
                         "claim job")
    assign = {"job": deep_job, "attempt": 1, "owner": "Westside", "owner_url": DEAD_URL}
    assert_refused_field(post(ex.url + "/v1/assignments", assign), "job", DEPTH_MAX + 2,
                         "assignment job")
    assert ex.assignment("borrowed") is None


def test_coordinator_caps_incidents(cluster):
    c = cluster.coordinator(extra=["--poll-interval", "300ms"])
    b = cluster.broker("Downtown", extra=["--coordinator", c.url])
    cluster.executor("LAFD-1", "fire", FIRE, b)
    wait_until(lambda: unit_status(b, "LAFD-1") == "available", message="LAFD-1 registered")
    inc = c.url + "/v1/incidents"
    assert_refused_field(post(inc, job_body(location=nested(DEPTH_MAX + 1))), "location",
                         DEPTH_MAX, "incident location")
    assert_refused_field(post(inc, job_body(payload=nested(DEPTH_MAX + 1))), "payload",
                         DEPTH_MAX, "incident payload")
    assert_refused_field(post(inc, job_body(payload={"x": "y" * VALUE_MAX})), "payload",
                         VALUE_MAX, "incident payload size")
    assert expect(get(b.url + "/v1/jobs"), 200)["jobs"] == []


# ---------------------------------------------------------------- item 9

@pytest.mark.parametrize("bad", [".", ".."])
def test_dot_ids_are_refused(cluster, bad):
    c = cluster.coordinator(extra=["--poll-interval", "300ms"])
    b = cluster.broker("Downtown", extra=["--peer", "Westside=" + DEAD_URL])
    ex = cluster.executor("LAFD-1", "fire", FIRE, b)
    wait_until(lambda: unit_status(b, "LAFD-1") == "available", message="LAFD-1 registered")

    assert_error(post(b.url + "/v1/jobs", job_body(id=bad)), 400, "invalid_id", "job id")
    assert_error(post(b.url + "/v1/jobs", job_body(required_capabilities=[bad])), 400,
                 "invalid_id", "capability")
    assert_error(post(b.url + "/v1/units", {"id": bad, "kind": "fire", "capabilities": FIRE,
                                            "url": DEAD_URL}), 400, "invalid_id", "unit id")
    assert_error(post(b.url + "/v1/notify", {"broker": bad}), 400, "invalid_id", "notify broker")
    claim = {"job": {"id": "j1", "required_capabilities": ["firefighting"]}, "attempt": 1,
             "owner": bad, "owner_url": DEAD_URL}
    assert_error(post(b.url + "/v1/units/LAFD-1/claim", claim), 400, "invalid_id", "claim owner")
    assign = {"job": {"id": "j1"}, "attempt": 1, "owner": bad, "owner_url": DEAD_URL}
    assert_error(post(ex.url + "/v1/assignments", assign), 400, "invalid_id", "assignment owner")
    assign = {"job": {"id": bad}, "attempt": 1, "owner": "Downtown", "owner_url": b.url}
    assert_error(post(ex.url + "/v1/assignments", assign), 400, "invalid_id", "assignment job id")
    for path in ("/v1/jobs/%s", "/v1/units/%s"):
        r = raw_exchange("127.0.0.1", b.port, "GET", path % bad)
        assert_error(r, 400, "invalid_id", "GET " + path % bad)
    assert_error(post(c.url + "/v1/brokers", {"id": bad, "url": DEAD_URL}), 400, "invalid_id",
                 "district id")
    assert_error(post(c.url + "/v1/incidents", job_body(district=bad)), 400, "invalid_id",
                 "incident district")

    assert [u["id"] for u in b.units()] == ["LAFD-1"]
    assert b.jobs() == [] and ex.assignments() == []
    assert bad not in [x["id"] for x in expect(get(c.url + "/v1/brokers"), 200)["brokers"]]


# ---------------------------------------------------------------- item 7: clocks

def assert_clock_bounded(after, before, own, what):
    """own's entry moved only by its own ticks; every other entry rose by at
    most STEP_MAX."""
    assert after.get(own, 0) < before.get(own, 0) + 1000, \
        "%s: a message set %s's own entry: %r -> %r" % (what, own, before, after)
    for node, v in after.items():
        if node != own:
            assert v <= before.get(node, 0) + STEP_MAX, \
                "%s: entry %s jumped by more than 2^32: %r -> %r" % (what, node, before, after)


def test_received_clocks_cannot_set_own_entry_or_jump(cluster):
    b = cluster.broker("Downtown", extra=["--peer", "Westside=" + DEAD_URL])
    ex = cluster.executor("LAFD-1", "fire", FIRE, b)
    wait_until(lambda: unit_status(b, "LAFD-1") == "available", message="LAFD-1 registered")
    huge = 1 << 50

    j = b.submit_ok(["firefighting"], id="clocked")
    assert j["unit_id"] == "LAFD-1", j
    before = clock_of(b)
    own = before["Downtown"]
    forged = {"Downtown": own + 10 ** 9, "Westside": huge, "coordinator": huge, "LAFD-1": 1}
    expect(b.result("clocked", "LAFD-1", 1, "contained", vclock=forged), 201, "result")
    after = clock_of(b)
    assert_clock_bounded(after, before, "Downtown", "result")
    assert after.get("Westside", 0) == before.get("Westside", 0) + STEP_MAX, after  # clamped
    wait_until(lambda: ex.assignment("clocked")["state"] != "active", message="holder told")
    wait_until(lambda: unit_status(b, "LAFD-1") == "available", message="LAFD-1 free again")

    # A claim (a peer borrowing the unit) carries the peer's clock.
    before = clock_of(b)
    claim = {"job": {"id": "borrowed", "type": "building_fire", "severity": "high",
                     "required_capabilities": ["firefighting"], "owner": "Westside"},
             "attempt": 1, "owner": "Westside", "owner_url": DEAD_URL,
             "vclock": {"Downtown": before["Downtown"] + 10 ** 9, "Westside": huge,
                        "Valley": huge}}
    expect(post(b.url + "/v1/units/LAFD-1/claim", claim), 201, "claim")
    after = clock_of(b)
    assert_clock_bounded(after, before, "Downtown", "claim")

    # The emergency push (the coordinator's) and a notify (a peer's).
    before = clock_of(b)
    expect(post(b.url + "/v1/emergency", {"level": "low", "vclock": {
        "Downtown": before["Downtown"] + 10 ** 9, "coordinator": huge * 4}}), 200, "emergency")
    expect(post(b.url + "/v1/notify", {"broker": "Westside", "vclock": {
        "Downtown": before["Downtown"] + 10 ** 9, "Westside": huge * 4}}), 202, "notify")
    after = clock_of(b)
    assert_clock_bounded(after, before, "Downtown", "emergency push and notify")
    metrics = get(b.url + "/metrics").raw.decode()
    counted = [line for line in metrics.splitlines()
               if line.startswith("ergrid_clock_entries_refused_total ")]
    assert counted and int(counted[0].split()[1]) >= 5, counted


def test_pulled_clock_cannot_set_own_entry_or_jump(cluster, fake_peers):
    huge = 1 << 50
    holder = {}
    fake = fake_peers("Fake", lambda p: page_of(p, vclock={
        "Downtown": holder.get("own", 0) + 10 ** 9, "Fake": huge}))
    b = cluster.broker("Downtown", extra=["--peer", "Fake=" + fake.url,
                                          "--sync-interval", "200ms"])
    fake.wait_pulls(1, "first pull")
    before = clock_of(b)
    holder["own"] = before.get("Downtown", 0)
    fake.wait_pulls(3, "pulls with a forged clock")
    after = clock_of(b)
    assert after.get("Downtown", 0) < holder["own"] + 1000, \
        "a pull set Downtown's own entry: %r -> %r" % (before, after)
    # The peer may tick its own entry as fast as it likes, but never jump it
    # to 2^50 in a few messages.
    assert after["Fake"] <= (fake.pulled() + 1) * STEP_MAX, after


def test_coordinator_ignores_its_own_entry(cluster):
    c = cluster.coordinator(extra=["--poll-interval", "300ms"])
    before = clock_of(c)
    forged = {"coordinator": before.get("coordinator", 0) + 10 ** 9, "Valley": 1 << 50}
    expect(post(c.url + "/v1/brokers", {"id": "Valley", "url": DEAD_URL, "vclock": forged}), 201,
           "register")
    after = clock_of(c)
    assert_clock_bounded(after, before, "coordinator", "registration at the coordinator")


# ---------------------------------------------------------------- item 7: emergency

def test_far_future_emergency_from_a_peer_cannot_pin_the_level(cluster, fake_peers):
    decade = 10 * 365 * 24 * 3600 * 1000
    fake = fake_peers("Rogue", lambda p: page_of(p, level="critical", set_ms=now_ms() + decade))
    c = cluster.coordinator(extra=["--poll-interval", "300ms"])
    b = cluster.broker("Downtown", extra=["--coordinator", c.url, "--peer", "Rogue=" + fake.url,
                                          "--sync-interval", "200ms"])
    wait_until(lambda: "Downtown" in [x["id"] for x in get(c.url + "/v1/brokers").json["brokers"]],
               message="Downtown registered")
    fake.wait_pulls(3, "far-future critical level")
    assert level_of(b) == "low", "a peer's far-future stamp set the level"

    # The coordinator's declaration is authoritative, and stays.
    expect(post(c.url + "/v1/emergency", {"level": "medium"}), 200, "declare")
    assert level_of(b) == "medium"
    fake.wait_pulls(5, "pulls after the declaration")
    assert level_of(b) == "medium", "a peer's far-future stamp undid the coordinator's declaration"


def test_relayed_level_is_adopted_within_the_skew(cluster, fake_peers):
    """Without a coordinator, a peer's relay of a declaration still spreads
    the level; a stamp beyond the skew does not."""
    state = {"level": "high", "set_ms": now_ms()}
    fake = fake_peers("Relay", lambda p: page_of(p, level=state["level"], set_ms=state["set_ms"]))
    b = cluster.broker("Downtown", extra=["--peer", "Relay=" + fake.url,
                                          "--sync-interval", "200ms"])
    wait_until(lambda: level_of(b) == "high", 10, message="relayed level adopted")
    state.update(level="critical", set_ms=now_ms() + 60 * SKEW_MS)
    fake.wait_pulls(3, "a stamp a few minutes ahead")
    assert level_of(b) == "high"
    state.update(level="medium", set_ms=now_ms())
    wait_until(lambda: level_of(b) == "medium", 10, message="a newer relayed level adopted")


# ---------------------------------------------------------------- item 7: paging

def test_events_paging_beyond_the_end(cluster):
    b = cluster.broker()
    b.submit_ok([NOBODY], severity="low", id="an-event")
    evs = expect(get(b.url + "/v1/events?after=0"), 200, "events")["events"]
    assert evs, evs
    last = evs[-1]["seq"]
    # Beyond the end: an empty page that says where the log ends.
    page = expect(get(b.url + "/v1/events?after=%d" % (last + 1000)), 200, "after the end")
    assert page["events"] == [], page
    for after in ("9223372036854775808", "18446744073709551615", "99999999999999999999999",
                  "-1", "1e3", "0x10", ""):
        r = get(b.url + "/v1/events?after=" + after)
        assert_error(r, 400, "bad_request", "events?after=" + after)


def test_metadata_since_beyond_the_end(cluster):
    b = cluster.broker()
    b.submit_ok([NOBODY], severity="low", id="a-change")
    full = expect(get(b.url + "/v1/metadata"), 200, "full pull")
    epoch, version = full["epoch"], full["version"]
    assert full["full"] is True and [j["id"] for j in full["jobs"]] == ["a-change"], full

    same = expect(get(b.url + "/v1/metadata?since=%d&epoch=%s" % (version, epoch)), 200, "delta")
    assert (same["full"], same["jobs"], same["version"]) == (False, [], version), same
    # Ahead of this incarnation: refused, never the whole district again.
    for since in (version + 1, version + 1000, 1 << 62):
        r = get(b.url + "/v1/metadata?since=%d&epoch=%s" % (since, epoch))
        assert_error(r, 400, "bad_request", "since %d ahead of version %d" % (since, version))
    for since in ("18446744073709551616", "99999999999999999999999", "-1", "x"):
        r = get(b.url + "/v1/metadata?since=%s&epoch=%s" % (since, epoch))
        assert_error(r, 400, "bad_request", "since=" + since)
    # Another incarnation's version: the documented full resync.
    other = expect(get(b.url + "/v1/metadata?since=%d&epoch=gone" % (version + 1000)), 200)
    assert other["full"] is True and [j["id"] for j in other["jobs"]] == ["a-change"], other

