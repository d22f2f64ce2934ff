"""Issue 3 acceptance: one district (a broker and its executors), real processes."""

import threading

import pytest

from conftest import EMS, FIRE, POLICE
from ergrid import (assert_error, check_job_shape, check_unit_shape, check_vclock, expect, get,
                    post, result_core, unit_status, wait_until)

GRID = [("LAFD-1", "fire", FIRE), ("LAFD-2", "fire", FIRE), ("EMS-3", "ems", EMS)]


def _fire_units(d):
    return sorted(u for u, e in d.executors.items() if e.unit_kind == "fire")


def _assert_held(job, unit_id, attempt):
    assert job["status"] == "assigned", job
    assert (job["unit_id"], job["attempt"]) == (unit_id, attempt), job
    assert job["attempts"][-1]["state"] == "active", job


def _assert_accepted(reply, unit_id, attempt, outcome, data, status=201):
    assert reply.status == status, "result: expected %s, got %r" % (status, reply)
    js = reply.json
    assert js.get("accepted") is True, js
    assert result_core(js["result"]) == result_core(
        {"unit_id": unit_id, "attempt": attempt, "outcome": outcome, "data": data}), js
    check_vclock(js.get("vclock"), "result reply vclock")
    return js["result"]


def _assert_rejected(reply, winner):
    assert_error(reply, 409, "result_rejected", "losing result")
    js = reply.json
    assert js.get("accepted") is False, js
    assert result_core(js.get("result")) == result_core(winner), \
        "409 must name the winner %r, got %r" % (winner, js)


# --------------------------------------------------------------------- a

def test_capability_match_queue_and_release(district):
    d = district(GRID)
    b = d.broker
    fire = _fire_units(d)

    r = b.submit(["firefighting"], severity="critical", type="building_fire", id="fire-A",
                 location="Building A")
    js = expect(r, 201, "first fire job")
    check_vclock(js.get("vclock"), "POST /v1/jobs vclock")
    a = js["job"]
    check_job_shape(a)
    assert a["id"] == "fire-A" and a["type"] == "building_fire" and a["severity"] == "critical", a
    assert a["required_capabilities"] == ["firefighting"], a
    assert a["owner"] == "Downtown" and a["authoritative"] is True and a["result"] is None, a
    assert a["unit_id"] in fire, "fire job must go to a fire unit: %r" % a
    _assert_held(a, a["unit_id"], 1)
    assert [(x["attempt"], x["unit_id"], x["state"]) for x in a["attempts"]] == \
        [(1, a["unit_id"], "active")], a

    bj = b.submit_ok(["firefighting"], severity="high", id="fire-B")
    check_job_shape(bj)
    assert bj["unit_id"] in fire and bj["unit_id"] != a["unit_id"], \
        "second fire job must go to the other (free) fire unit: %r" % bj
    _assert_held(bj, bj["unit_id"], 1)

    # Every fire unit busy: the next fire job waits even though EMS-3 is free.
    c = b.submit_ok(["firefighting"], severity="critical", id="fire-C")
    check_job_shape(c)
    assert c["status"] == "queued" and c["unit_id"] is None and c["attempt"] is None \
        and c["attempts"] == [], c
    assert b.job("fire-C")["status"] == "queued"

    for u in b.units():
        check_unit_shape(u)
    u1 = b.unit(a["unit_id"])
    check_unit_shape(u1)
    assert u1["kind"] == "fire" and sorted(u1["capabilities"]) == sorted(FIRE), u1
    assert u1["district"] == "Downtown" and u1["url"] == d[a["unit_id"]].url, u1
    assert u1["status"] == "busy" and u1["jobs"] == ["fire-A"], u1
    ems = b.unit("EMS-3")
    assert ems["status"] == "available" and ems["jobs"] == [] and ems["kind"] == "ems", ems

    held = d[a["unit_id"]].assignment("fire-A")
    assert held and held["attempt"] == 1 and held["state"] == "active" and held["owner"] == "Downtown", held
    assert d["EMS-3"].assignments() == []

    # Free a fire unit with an accepted result: the queued job goes to it.
    r = d[a["unit_id"]].report("fire-A", "contained", {"crew": a["unit_id"]})
    _assert_accepted(r, a["unit_id"], 1, "contained", {"crew": a["unit_id"]})

    def c_assigned():
        j = b.job("fire-C")
        assert j["status"] == "assigned" and j["attempts"] and j["attempts"][-1]["state"] == "active", j
        return j
    c = wait_until(c_assigned, message="queued fire-C assigned once a fire unit is free")
    check_job_shape(c)
    assert c["unit_id"] == a["unit_id"] and c["attempt"] == 1, c
    wait_until(lambda: (d[a["unit_id"]].assignment("fire-C") or {}).get("state") == "active",
               message="executor holds fire-C")

    done = b.job("fire-A")
    check_job_shape(done)
    assert done["status"] == "completed", done
    assert result_core(done["result"]) == result_core(
        {"unit_id": a["unit_id"], "attempt": 1, "outcome": "contained", "data": {"crew": a["unit_id"]}}), done
    assert done["attempts"][0]["state"] == "finished", done

    # An ems job goes to the ems unit; no fire job ever went there.
    m = b.submit_ok(["medical"], severity="high", type="cardiac_arrest", id="ems-A")
    assert m["unit_id"] == "EMS-3" and m["status"] == "assigned", m
    assert [x["job_id"] for x in d["EMS-3"].assignments()] == ["ems-A"]
    for jid in ("fire-A", "fire-B", "fire-C"):
        assert all(x["unit_id"] != "EMS-3" for x in b.job(jid)["attempts"])


def test_queue_order_severity_then_age(district):
    d = district([("LAFD-1", "fire", FIRE), ("EMS-3", "ems", EMS)])
    b = d.broker
    first = b.submit_ok(["firefighting"], severity="low", id="q-0")
    assert first["unit_id"] == "LAFD-1"
    for jid, sev in (("q-low", "low"), ("q-crit-1", "critical"), ("q-med", "medium"),
                     ("q-crit-2", "critical")):
        j = b.submit_ok(["firefighting"], severity=sev, id=jid)
        assert j["status"] == "queued", j

    order = []
    current = "q-0"
    for _ in range(4):
        expect(d["LAFD-1"].report(current, "contained"), 201, "report %s" % current)

        def next_assigned(prev=current):
            held = [j for j in ("q-low", "q-crit-1", "q-med", "q-crit-2")
                    if j not in order and b.job(j)["status"] == "assigned"]
            assert len(held) == 1, "expected exactly one newly assigned job, got %s" % held
            return held[0]
        current = wait_until(next_assigned, message="next queued job assigned")
        order.append(current)
    assert order == ["q-crit-1", "q-crit-2", "q-med", "q-low"], \
        "queue must serve severity first, then age: %s" % order


# --------------------------------------------------------------------- b, c

def _redeployed(district, job_id="fire-C"):
    """Assigns a fire job, kill -9s its holder and waits (GETs only) until the
    other fire unit holds it as attempt 2. Returns (district, old, new)."""
    d = district(GRID)
    b = d.broker
    job = b.submit_ok(["firefighting"], severity="critical", id=job_id)
    old = job["unit_id"]
    assert old in ("LAFD-1", "LAFD-2"), job
    new = "LAFD-2" if old == "LAFD-1" else "LAFD-1"
    d[old].kill9()

    def moved():
        j = b.job(job_id)
        assert j["attempt"] == 2 and len(j["attempts"]) == 2 and j["attempts"][1]["state"] == "active", j
        return j
    j = wait_until(moved, message="%s redeployed as attempt 2 after kill -9 of %s" % (job_id, old))
    check_job_shape(j)
    assert j["status"] == "assigned" and j["unit_id"] == new, \
        "must move to the other capable unit %s, never the ambulance: %r" % (new, j)
    a1, a2 = j["attempts"]
    assert (a1["attempt"], a1["unit_id"], a1["state"]) == (1, old, "revoked"), j
    assert (a2["attempt"], a2["unit_id"], a2["state"]) == (2, new, "active"), j
    wait_until(lambda: unit_status(b, old) == "lost", message="%s shown lost" % old)
    assert b.unit("EMS-3")["jobs"] == []
    wait_until(lambda: (d[new].assignment(job_id) or {}).get("state") == "active",
               message="%s's executor holds %s" % (new, job_id))
    return d, old, new


def test_kill9_holder_redeploys(district):
    d, old, new = _redeployed(district)
    u = d.broker.unit(new)
    assert u["status"] == "busy" and u["jobs"] == ["fire-C"], u
    lost = d.broker.unit(old)
    assert lost["status"] == "lost", lost


def _restart_lost(d, old, job_id):
    b = d.broker
    d[old].restart(allow_new_port=True)
    wait_until(lambda: unit_status(b, old) == "available", message="%s back and available" % old)

    def revoked():
        a = d[old].assignment(job_id)
        assert a is not None, "restarted executor forgot %s" % job_id
        assert a["state"] == "revoked", a
        return a
    a = wait_until(revoked, message="restarted %s lists %s as revoked" % (old, job_id))
    assert a["attempt"] == 1 and a["owner"] == "Downtown", a


def test_lost_unit_reports_first_wins(district):
    d, old, new = _redeployed(district)
    b = d.broker
    _restart_lost(d, old, "fire-C")

    r = d[old].report("fire-C", "contained", {"by": old})
    winner = _assert_accepted(r, old, 1, "contained", {"by": old})
    assert (winner["unit_id"], winner["attempt"]) == (old, 1)

    r = d[new].report("fire-C", "extinguished", {"by": new})
    _assert_rejected(r, winner)

    def settled():
        j = b.job("fire-C")
        assert j["status"] == "completed" and result_core(j["result"]) == result_core(winner), j
        assert [a["state"] for a in j["attempts"]] == ["finished", "revoked"], j
        return j
    wait_until(settled, message="fire-C completed with the late unit's result")

    # exact retry of the winner (same unit, attempt, outcome, data) -> 200
    r = b.result("fire-C", old, 1, "contained", {"by": old})
    _assert_accepted(r, old, 1, "contained", {"by": old}, status=200)
    # a new different submission from the winner is still a loser
    _assert_rejected(b.result("fire-C", old, 1, "spread"), winner)

    rep = d[old].assignment("fire-C")
    assert rep["state"] == "reported" and rep["report"]["accepted"] is True, rep
    assert d[new].assignment("fire-C") is not None, "new holder must keep the assignment listed"
    wait_until(lambda: unit_status(b, old) == "available" and unit_status(b, new) == "available",
               message="both fire units free again")


def test_new_holder_reports_first_wins(district):
    d, old, new = _redeployed(district)
    b = d.broker
    _restart_lost(d, old, "fire-C")

    r = d[new].report("fire-C", "extinguished", {"by": new})
    winner = _assert_accepted(r, new, 2, "extinguished", {"by": new})

    r = d[old].report("fire-C", "contained", {"by": old})
    _assert_rejected(r, winner)

    def settled():
        j = b.job("fire-C")
        assert j["status"] == "completed" and result_core(j["result"]) == result_core(winner), j
        assert [a["state"] for a in j["attempts"]] == ["revoked", "finished"], j
        return j
    wait_until(settled, message="fire-C completed with the new holder's result")

    r = b.result("fire-C", new, 2, "extinguished", {"by": new})
    _assert_accepted(r, new, 2, "extinguished", {"by": new}, status=200)
    rep = d[old].assignment("fire-C")
    assert rep["state"] == "reported" and rep["report"]["accepted"] is False, rep


# --------------------------------------------------------------------- d

def test_concurrent_results_one_winner(district):
    d = district([("LAFD-1", "fire", FIRE)])
    b = d.broker
    job = b.submit_ok(["firefighting"], severity="critical", id="race-1")
    _assert_held(job, "LAFD-1", 1)

    n = 32
    barrier = threading.Barrier(n)
    replies = [None] * n

    def worker(i):
        try:
            barrier.wait(30)
            replies[i] = b.result("race-1", "LAFD-1", 1, "outcome-%d" % i, {"i": i})
        except Exception as e:  # noqa: BLE001 - reported below
            replies[i] = e
    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    errors = [r for r in replies if not hasattr(r, "status")]
    assert not errors, "transport errors: %r" % errors
    statuses = sorted(r.status for r in replies)
    assert statuses.count(201) == 1 and statuses.count(409) == n - 1, statuses
    i = next(k for k, r in enumerate(replies) if r.status == 201)
    winner = _assert_accepted(replies[i], "LAFD-1", 1, "outcome-%d" % i, {"i": i})
    for r in replies:
        if r.status == 409:
            _assert_rejected(r, winner)
    j = b.job("race-1")
    assert j["status"] == "completed" and result_core(j["result"]) == result_core(winner), j
    # the unit's own report through its executor now loses too
    _assert_rejected(d["LAFD-1"].report("race-1", "contained"), winner)


# --------------------------------------------------------------------- e

def _durability_shown(b):
    """The mode a running broker says it commits with: its /metrics sample
    and its start log line must agree."""
    r = get(b.url + "/metrics")
    assert r.status == 200, r
    modes = [line for line in r.raw.decode().splitlines() if line.startswith("ergrid_durability{")]
    assert len(modes) == 1, modes
    mode = modes[0].split('"')[1]
    assert modes[0] == 'ergrid_durability{mode="%s"} 1' % mode, modes
    assert "durability %s)" % mode in b.log_tail(1000), b.log_tail()
    return mode


# Both modes promise the same across kill -9 (the commit is in the WAL before
# the reply); full adds an fsync per commit, which only a power cut tells.
@pytest.mark.parametrize("durability", [None, "normal", "full"])
def test_broker_kill9_loses_nothing_acknowledged(district, durability):
    extra = ["--durability", durability] if durability else []
    d = district([("LAFD-1", "fire", FIRE), ("LAFD-2", "fire", FIRE)], broker_extra=extra)
    b = d.broker
    assert _durability_shown(b) == (durability or "normal")
    done = {}
    for i in range(6):
        j = b.submit_ok(["firefighting"], severity="high", id="done-%d" % i)
        r = d[j["unit_id"]].report(j["id"], "contained", {"n": i})
        done[j["id"]] = _assert_accepted(r, j["unit_id"], 1, "contained", {"n": i})
    live = b.submit_ok(["firefighting"], severity="critical", id="live-1")
    _assert_held(live, live["unit_id"], 1)

    # Queued jobs (nobody has hazmat) from 4 threads; kill -9 while they run.
    acked = {}
    errors = []
    lock = threading.Lock()
    stop = threading.Event()

    def submitter(t):
        k = 0
        while not stop.is_set():
            k += 1
            jid = "q-%d-%d" % (t, k) if k % 2 else None
            sev = ("low", "medium", "high", "critical")[k % 4]
            try:
                r = b.submit(["hazmat"], severity=sev, id=jid, type="chemical_spill")
            except OSError:
                return  # broker gone
            if r.status in (200, 201):
                job = r.json["job"] if r.json else None
                if job is None:  # reply cut by the kill after the status line
                    if jid is None:
                        continue
                    job = {"id": jid, "status": "queued", "severity": sev}
                with lock:
                    acked[job["id"]] = (job["status"], job["severity"])
            elif r.status >= 500:
                return
            else:
                errors.append(r)
                return

    threads = [threading.Thread(target=submitter, args=(t,)) for t in range(4)]
    for t in threads:
        t.start()
    try:
        wait_until(lambda: len(acked) >= 200 or errors, 60, message="200 acknowledged submissions")
        b.kill9()
    finally:
        stop.set()
        for t in threads:
            t.join(30)
    assert not errors, "unexpected replies to valid submissions: %r" % errors[:5]
    assert len(acked) >= 200
    assert all(s == "queued" for s, _ in acked.values()), acked

    b.restart()  # same port: its executors keep heartbeating to it
    assert _durability_shown(b) == (durability or "normal")
    missing, changed = [], []
    for jid, (status, sev) in sorted(acked.items()):
        r = get(b.url + "/v1/jobs/" + jid)
        if r.status != 200:
            missing.append(jid)
            continue
        j = r.json["job"]
        if (j["status"], j["severity"], j["required_capabilities"]) != (status, sev, ["hazmat"]):
            changed.append(j)
    assert not missing, "%d acknowledged jobs lost after kill -9: %s" % (len(missing), missing[:20])
    assert not changed, "acknowledged jobs changed after kill -9: %r" % changed[:5]
    listed = {j["id"] for j in b.jobs()}
    assert set(acked) <= listed, "GET /v1/jobs misses %s" % sorted(set(acked) - listed)[:20]

    for jid, res in done.items():
        j = b.job(jid)
        assert j["status"] == "completed" and result_core(j["result"]) == result_core(res), (res, j)
        _assert_rejected(b.result(jid, res["unit_id"], 1, "other-outcome"), res)
        _assert_accepted(b.result(jid, res["unit_id"], 1, "contained", res["data"]),
                         res["unit_id"], 1, "contained", res["data"], status=200)
    j = b.job("live-1")
    _assert_held(j, live["unit_id"], 1)
    # the broker keeps working after the restart
    r = d[live["unit_id"]].report("live-1", "contained", {"after": "restart"})
    _assert_accepted(r, live["unit_id"], 1, "contained", {"after": "restart"})


# --------------------------------------------------------------------- f

def test_idempotent_submission(district):
    d = district([("LAFD-1", "fire", FIRE)])
    b = d.broker
    body = {"id": "idem-1", "type": "chemical_spill", "severity": "high",
            "required_capabilities": ["hazmat"], "location": "Pier 9"}
    r1 = post(b.url + "/v1/jobs", body)
    j1 = expect(r1, 201, "first submission")["job"]
    r2 = post(b.url + "/v1/jobs", body)
    j2 = expect(r2, 200, "same id, same body")["job"]
    keys = ("id", "type", "severity", "required_capabilities", "status", "unit_id", "attempt", "attempts")
    assert {k: j1[k] for k in keys} == {k: j2[k] for k in keys}, (j1, j2)
    # the same body with its keys in another order is the same body
    reordered = dict(reversed(list(body.items())))
    expect(post(b.url + "/v1/jobs", reordered), 200, "same body, keys reordered")

    other = dict(body, severity="low")
    assert_error(post(b.url + "/v1/jobs", other), 409, "conflict", "same id, different body")
    assert b.job("idem-1")["severity"] == "high"
    assert [j["id"] for j in b.jobs()].count("idem-1") == 1

    # an assigned job replayed: same unit and attempt, no second assignment
    fire = {"id": "idem-2", "type": "building_fire", "severity": "critical",
            "required_capabilities": ["firefighting"]}
    a1 = expect(post(b.url + "/v1/jobs", fire), 201, "fire job")["job"]
    _assert_held(a1, "LAFD-1", 1)
    a2 = expect(post(b.url + "/v1/jobs", fire), 200, "fire job again")["job"]
    assert (a2["id"], a2["unit_id"], a2["attempt"], len(a2["attempts"])) == ("idem-2", "LAFD-1", 1, 1), a2
    assert [a["job_id"] for a in d["LAFD-1"].assignments()] == ["idem-2"]
    assert_error(post(b.url + "/v1/jobs", dict(fire, type="house_fire")), 409, "conflict",
                 "same id, different type")

    # without an id every submission is a new job
    x = b.submit_ok(["hazmat"], severity="low")
    y = b.submit_ok(["hazmat"], severity="low")
    assert x["id"] != y["id"], (x, y)


# --------------------------------------------------------------------- g

def test_events_and_vclocks(district):
    d = district([("LAFD-1", "fire", FIRE), ("LAPD-7", "police", POLICE)])
    b = d.broker
    own = []

    def note(reply, what):
        vc = check_vclock(reply.json.get("vclock"), what)
        assert vc.get("Downtown", 0) > 0, "%s: broker's own entry missing: %r" % (what, vc)
        own.append((what, vc["Downtown"]))
        return vc

    submits = []
    for i, caps in enumerate((["firefighting"], ["law_enforcement"], ["hazmat"], ["hazmat"])):
        r = b.submit(caps, severity="high", id="ev-%d" % i)
        expect(r, 201, "submit ev-%d" % i)
        submits.append(note(r, "POST /v1/jobs ev-%d" % i)["Downtown"])
    r = d["LAFD-1"].report("ev-0", "contained")
    expect(r, 201, "report ev-0")
    note(r, "result ev-0")
    r = post(b.url + "/v1/units", {"id": "SPARE-1", "kind": "fire", "capabilities": ["firefighting"],
                                   "url": "http://127.0.0.1:9", "status": "out_of_service"})
    assert r.status in (200, 201), r
    note(r, "POST /v1/units")
    r = post(b.url + "/v1/units/SPARE-1/heartbeat", {"jobs": []})
    expect(r, 200, "heartbeat")
    note(r, "heartbeat")
    r = b.submit(["hazmat"], severity="low", id="ev-last")
    expect(r, 201, "submit ev-last")
    note(r, "POST /v1/jobs ev-last")

    assert all(x < y for x, y in zip(submits, submits[1:])), \
        "each submission is a state change and must tick the broker's entry: %s" % submits
    values = [v for _, v in own]
    assert values == sorted(values), "broker's own clock went backwards over replies: %s" % own

    r = get(b.url + "/v1/events?after=0")
    ev = expect(r, 200, "events")["events"]
    assert ev, "no events"
    seqs = [e["seq"] for e in ev]
    assert seqs[0] >= 1 and all(x < y for x, y in zip(seqs, seqs[1:])), seqs
    assert r.json.get("next") == seqs[-1], r.json.get("next")
    mine = []
    for e in ev:
        check_vclock(e.get("vclock"), "event %s vclock" % e.get("seq"))
        for k in ("time", "node", "type", "job_id", "unit_id", "attempt"):
            assert k in e, "event lacks %s: %r" % (k, e)
        if e["node"] == "Downtown":
            mine.append(e["vclock"].get("Downtown", 0))
    assert mine == sorted(mine), "events' own clock not in seq order: %s" % mine
    submitted = [e["job_id"] for e in ev if e["type"] == "job_submitted"]
    for i in range(4):
        assert "ev-%d" % i in submitted, submitted

    mid = seqs[len(seqs) // 2]
    later = expect(get(b.url + "/v1/events?after=%d" % mid), 200, "events after")["events"]
    assert later and all(e["seq"] > mid for e in later), later
    assert later[0]["seq"] == seqs[seqs.index(mid) + 1], (mid, later[0])


# --------------------------------------------------------------------- h

@pytest.mark.parametrize("which", ["broker", "executor", "coordinator"])
def test_sigterm_exits_zero(cluster, which):
    b = cluster.broker()
    if which == "broker":
        e = cluster.executor("LAFD-1", "fire", FIRE, b)
        wait_until(lambda: unit_status(b, "LAFD-1") == "available", message="LAFD-1 registered")
        b.submit_ok(["firefighting"], id="t-1")
        b.term()
        e.term()
    elif which == "executor":
        e = cluster.executor("LAFD-1", "fire", FIRE, b)
        wait_until(lambda: unit_status(b, "LAFD-1") == "available", message="LAFD-1 registered")
        b.submit_ok(["firefighting"], id="t-1")
        wait_until(lambda: e.assignment("t-1"), message="assignment held")
        e.term()
        b.term()
    else:
        c = cluster.coordinator()
        expect(get(c.url + "/v1/health"), 200, "coordinator health")
        c.term()
        b.term()
