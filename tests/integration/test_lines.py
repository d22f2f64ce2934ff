"""Issue 12 items 1-3: incidents with several requirement lines (`response`),
response plans (--response-plans), and still one record per incident.
Real processes on loopback (see ergrid.py)."""

import json
import os
import subprocess

import ergrid
from conftest import EMS, FIRE, POLICE
from ergrid import (assert_error, check_job_shape, expect, get, post, result_core, unit_status,
                    wait_until)
from test_city import make_city, wait_remote_job

LADDER = ["firefighting", "rescue", "aerial"]
CHIEF = ["command"]


def _submit(b, response, id=None, severity="critical", type="structure_fire", **extra):
    body = {"type": type, "severity": severity, "response": response}
    if id is not None:
        body["id"] = id
    body.update(extra)
    return post(b.url + "/v1/jobs", body)


def _lines(job):
    return [(sorted(u["unit_id"] for u in ln["assigned"]), ln["unfilled"], ln["reason"])
            for ln in job["response"]]


def _on(job):
    """unit id -> line index of every active attempt."""
    return {a["unit_id"]: a["line"] for a in job["attempts"] if a["state"] == "active"}


def _active(executor, job_id):
    a = executor.assignment(job_id)
    return a is not None and a.get("state") == "active"


# ------------------------------------------------------- one district

GRID = [("E-1", "fire", FIRE), ("E-2", "fire", FIRE), ("E-3", "fire", FIRE),
        ("L-1", "fire", LADDER), ("M-1", "ems", EMS), ("C-1", "chief", CHIEF)]

FIRST_ALARM = [{"capabilities": ["firefighting"], "count": 3},
               {"capabilities": ["aerial"], "count": 1},
               {"capabilities": ["medical"], "count": 1},
               {"capabilities": ["command"], "count": 1}]


def test_lines_filled_in_one_district(district):
    d = district(GRID)
    b = d.broker
    r = _submit(b, FIRST_ALARM, id="fire-A")
    expect(r, 201, "multi-line submission")
    j = r.json["job"]
    check_job_shape(j)
    assert j["status"] == "assigned", j
    on = _on(j)
    assert len(on) == 6, j
    # the ladder is the only aerial unit, so the three engines are E-1..3
    assert on["L-1"] == 1 and on["M-1"] == 2 and on["C-1"] == 3, j
    assert sorted(u for u, l in on.items() if l == 0) == ["E-1", "E-2", "E-3"], j
    assert [ln["count"] for ln in j["response"]] == [3, 1, 1, 1], j
    assert all(ln["unfilled"] == 0 and ln["reason"] is None for ln in j["response"]), j
    assert j["plan"] is None, j
    for uid in on:
        wait_until(lambda uid=uid: _active(d[uid], "fire-A"),
                   message="%s's terminal holds fire-A" % uid)
        assert b.unit(uid)["status"] == "busy"
    # the terminal is told its own line's capabilities
    a = d["L-1"].assignment("fire-A")
    assert a["job"]["required_capabilities"] == ["aerial"] and a["job"]["line"] == 1, a
    # the same again: 200 and the same job; a different body: 409
    again = _submit(b, FIRST_ALARM, id="fire-A")
    expect(again, 200, "idempotent resubmission")
    assert _on(again.json["job"]) == on
    other = _submit(b, FIRST_ALARM[:2], id="fire-A")
    assert_error(other, 409, "conflict", "same id, other lines")
    assert b.job("fire-A") == b.job("fire-A")


def test_partly_filled_keeps_its_place(district, cluster):
    d = district([("E-1", "fire", FIRE), ("E-2", "fire", FIRE), ("M-1", "ems", EMS)])
    b = d.broker
    r = _submit(b, [{"capabilities": ["firefighting"], "count": 3},
                    {"capabilities": ["medical"], "count": 1},
                    {"capabilities": ["hazmat"], "count": 1}], id="big")
    expect(r, 201)
    j = r.json["job"]
    assert j["status"] == "assigned", "assigned once any line has a unit: %r" % j
    assert _lines(j) == [(["E-1", "E-2"], 1, "all_busy"), (["M-1"], 0, None),
                         ([], 1, "no_capable_unit")], j
    # a one-line job of lower severity waits behind it for the next engine
    low = b.submit_ok(["firefighting"], severity="low", id="small")
    assert low["status"] == "queued", low
    d.executors["E-3"] = cluster.executor("E-3", "fire", FIRE, b)

    def third():
        j = b.job("big")
        assert _lines(j)[0] == (["E-1", "E-2", "E-3"], 0, None), j
        return j
    wait_until(third, message="the drain fills the open engine line first")
    assert b.job("small")["status"] == "queued"
    # the record releases every unit of every line
    r = b.result("big", "M-1", _attempt_of(b.job("big"), "M-1"), "contained")
    expect(r, 201)
    j = b.job("big")
    assert j["status"] == "completed", j
    assert all(ln["unfilled"] == 0 and ln["reason"] is None for ln in j["response"]), j
    wait_until(lambda: b.job("small")["status"] == "assigned",
               message="a freed engine goes to the queued one-line job")
    for uid in ("E-1", "E-2", "E-3"):
        wait_until(lambda uid=uid: (d[uid].assignment("big") or {}).get("state") == "revoked",
                   message="%s told to stop" % uid)


def _attempt_of(job, unit_id):
    for a in job["attempts"]:
        if a["unit_id"] == unit_id and a["state"] == "active":
            return a["attempt"]
    raise AssertionError("%s not active on %r" % (unit_id, job))


def _assert_accepted(reply, unit_id, attempt, outcome, status=201):
    assert reply.status == status, "result: expected %s, got %r" % (status, reply)
    assert reply.json.get("accepted") is True, reply.json
    res = reply.json["result"]
    assert (res["unit_id"], res["attempt"], res["outcome"]) == (unit_id, attempt, outcome), res
    return res


def _assert_rejected(reply, winner):
    assert_error(reply, 409, "result_rejected", "losing result")
    assert reply.json.get("accepted") is False, reply.json
    assert result_core(reply.json.get("result")) == result_core(winner), \
        "409 must name the winner %r, got %r" % (winner, reply.json)


def test_two_lines_report_first_wins(district):
    d = district([("E-1", "fire", FIRE), ("M-1", "ems", EMS), ("P-1", "police", POLICE)])
    b = d.broker
    r = _submit(b, [{"capabilities": ["firefighting"], "count": 1},
                    {"capabilities": ["medical"], "count": 1},
                    {"capabilities": ["law_enforcement"], "count": 1}], id="crash")
    expect(r, 201)
    for uid in ("E-1", "M-1", "P-1"):
        wait_until(lambda uid=uid: _active(d[uid], "crash"), message="%s holds crash" % uid)
    # the ambulance (line 1) is first at the owner: it is the record
    att = _attempt_of(b.job("crash"), "M-1")
    winner = _assert_accepted(d["M-1"].report("crash", "transported", {"by": "M-1"}), "M-1",
                              att, "transported")
    # the engine of another line reports something else: 409 naming the winner
    _assert_rejected(d["E-1"].report("crash", "extinguished"), winner)
    # an exact retry of the winner: 200, the same record
    _assert_accepted(b.result("crash", "M-1", winner["attempt"], "transported", {"by": "M-1"}),
                     "M-1", winner["attempt"], "transported", status=200)
    j = b.job("crash")
    assert j["status"] == "completed" and result_core(j["result"]) == result_core(winner), j
    # every unit still on the incident was released and told to stop
    wait_until(lambda: (d["P-1"].assignment("crash") or {}).get("state") == "revoked",
               message="P-1 told to stop")
    ergrid.wait_units_status(b, ["E-1", "M-1", "P-1"], "available")
    # a unit that never held any attempt of it may not report
    r = b.result("crash", "X-9", 1, "contained")
    assert r.status in (403, 409), r


def test_line_refilled_after_kill9_and_late_report(district):
    d = district([("E-1", "fire", FIRE), ("E-2", "fire", FIRE), ("M-1", "ems", EMS),
                  ("P-1", "police", POLICE)])
    b = d.broker
    r = _submit(b, [{"capabilities": ["firefighting"], "count": 1},
                    {"capabilities": ["medical"], "count": 1},
                    {"capabilities": ["law_enforcement"], "count": 1}], id="fire-C")
    expect(r, 201)
    j = r.json["job"]
    on = _on(j)
    engine = [u for u, l in on.items() if l == 0][0]
    spare = "E-2" if engine == "E-1" else "E-1"
    before = {a["unit_id"]: a["attempt"] for a in j["attempts"] if a["state"] == "active"}
    d[engine].kill9()

    def refilled():
        j = b.job("fire-C")
        on = _on(j)
        assert on.get(spare) == 0 and engine not in on, j
        return j
    j = wait_until(refilled, message="line 0 refilled by %s after kill -9 of %s" % (spare, engine))
    # the other lines keep their units and their attempts
    now = {a["unit_id"]: a["attempt"] for a in j["attempts"] if a["state"] == "active"}
    assert now["M-1"] == before["M-1"] and now["P-1"] == before["P-1"], (before, j)
    assert j["status"] == "assigned" and j["response"][0]["unfilled"] == 0, j
    assert [a["state"] for a in j["attempts"] if a["unit_id"] == engine] == ["revoked"], j
    wait_until(lambda: unit_status(b, engine) == "lost", message="%s lost" % engine)
    wait_until(lambda: _active(d[spare], "fire-C"), message="%s's terminal holds it" % spare)

    # the lost engine comes back and reports first: its late report is the record
    d[engine].restart(allow_new_port=True)
    wait_until(lambda: unit_status(b, engine) == "available", message="%s back" % engine)
    wait_until(lambda: (d[engine].assignment("fire-C") or {}).get("state") == "revoked",
               message="the returning engine keeps fire-C, marked revoked")
    winner = _assert_accepted(d[engine].report("fire-C", "contained", {"by": engine}), engine,
                              before[engine], "contained")
    _assert_rejected(d[spare].report("fire-C", "extinguished"), winner)
    _assert_rejected(d["M-1"].report("fire-C", "patient_transported"), winner)
    _assert_accepted(b.result("fire-C", engine, before[engine], "contained", {"by": engine}),
                     engine, before[engine], "contained", status=200)
    j = b.job("fire-C")
    assert j["status"] == "completed", j
    assert not [a for a in j["attempts"] if a["state"] == "active"], j
    # told to stop: revoked, or reported (the losers' rejected reports)
    for uid in (spare, "M-1", "P-1"):
        wait_until(lambda uid=uid: (d[uid].assignment("fire-C") or {}).get("state")
                   in ("revoked", "reported"), message="%s told to stop" % uid)
    assert d["P-1"].assignment("fire-C")["state"] == "revoked"
    ergrid.wait_units_status(b, [spare, "M-1", "P-1", engine], "available")


# ------------------------------------------------------- two districts

CITY2 = [("Downtown", [("E-1", "fire", FIRE), ("M-1", "ems", EMS), ("P-1", "police", POLICE)]),
         ("Westside", [("E-5", "fire", FIRE), ("L-5", "ladder", ["aerial", "rescue"]),
                       ("C-5", "chief", CHIEF), ("M-8", "ems", EMS)])]

FIVE = [{"capabilities": ["firefighting"], "count": 2},
        {"capabilities": ["aerial"], "count": 1},
        {"capabilities": ["medical"], "count": 1},
        {"capabilities": ["command"], "count": 1},
        {"capabilities": ["law_enforcement"], "count": 1}]


def test_five_lines_across_two_districts(cluster):
    city = make_city(cluster, CITY2)
    b = city["Downtown"]
    r = _submit(b, FIVE, id="fire-A")
    expect(r, 201)
    j = r.json["job"]
    check_job_shape(j)
    assert j["status"] == "assigned", j
    by = {(a["unit_id"]): (a["line"], a["district"]) for a in j["attempts"] if a["state"] == "active"}
    assert by == {"E-1": (0, "Downtown"), "E-5": (0, "Westside"), "L-5": (1, "Westside"),
                  "M-1": (2, "Downtown"), "C-5": (3, "Westside"), "P-1": (4, "Downtown")}, j
    assert all(ln["unfilled"] == 0 for ln in j["response"]), j
    assert [len(ln["assigned"]) for ln in j["response"]] == [2, 1, 1, 1, 1], j
    for uid in by:
        wait_until(lambda uid=uid: _active(city.ex(uid), "fire-A"),
                   message="%s's terminal holds fire-A" % uid)
    w = city["Westside"]
    for uid in ("E-5", "L-5", "C-5"):
        assert w.unit(uid)["status"] == "busy", w.unit(uid)
    assert w.unit("M-8")["status"] == "available"
    # the synced copy at Westside shows the lines too
    wait_remote_job(w, "fire-A", "Downtown",
                    lambda c: c.get("response") and len(c["response"]) == 5 and
                    sum(len(ln["assigned"]) for ln in c["response"]) == 6,
                    what="copy with its five lines")

    # a borrowed unit (the ladder, line 1) reports first: the record; every
    # unit on every line, own and borrowed, is released
    att = _attempt_of(b.job("fire-A"), "L-5")
    winner = _assert_accepted(city.ex("L-5").report("fire-A", "contained"), "L-5", att,
                              "contained")
    _assert_rejected(city.ex("E-1").report("fire-A", "spread"), winner)
    for uid in ("E-1", "E-5", "M-1", "C-5", "P-1"):
        wait_until(lambda uid=uid: (city.ex(uid).assignment("fire-A") or {}).get("state")
                   in ("revoked", "reported"), message="%s told to stop" % uid)
    for uid in ("E-5", "M-1", "C-5", "P-1"):
        assert city.ex(uid).assignment("fire-A")["state"] == "revoked", uid
    ergrid.wait_units_status(b, ["E-1", "M-1", "P-1"], "available")
    ergrid.wait_units_status(w, ["E-5", "L-5", "C-5"], "available")


# ------------------------------------------------------- response plans

PLANS = {"plans": [
    {"name": "structure-fire-first-alarm", "type": "building_fire", "severity": ["critical"],
     "response": [{"capabilities": ["firefighting"], "count": 2},
                  {"capabilities": ["medical"], "count": 1}]},
    {"name": "still-alarm", "type": "building_fire", "severity": ["low", "medium"],
     "response": [{"capabilities": ["firefighting"], "count": 1}]}]}


def _plan_file(tmp_path, obj, name="plans.json"):
    path = os.path.join(str(tmp_path), name)
    with open(path, "w") as f:
        f.write(obj if isinstance(obj, str) else json.dumps(obj))
    return path


def test_plan_applied(district, tmp_path):
    path = _plan_file(tmp_path, PLANS)
    d = district([("E-1", "fire", FIRE), ("E-2", "fire", FIRE), ("M-1", "ems", EMS)],
                 broker_extra=["--response-plans", path])
    b = d.broker
    # no response, no required_capabilities: the plan for the type and severity
    r = post(b.url + "/v1/jobs", {"id": "A", "type": "building_fire", "severity": "critical"})
    expect(r, 201)
    j = r.json["job"]
    assert j["plan"] == "structure-fire-first-alarm", j
    assert [(ln["capabilities"], ln["count"]) for ln in j["response"]] == \
        [(["firefighting"], 2), (["medical"], 1)], j
    assert sorted(_on(j)) == ["E-1", "E-2", "M-1"], j
    # required_capabilities alone: the plan still decides (it is the run card
    # for the type); an explicit response overrides the plan
    r = post(b.url + "/v1/jobs", {"id": "B", "type": "building_fire", "severity": "low",
                                  "required_capabilities": ["medical"]})
    expect(r, 201)
    assert r.json["job"]["plan"] == "still-alarm", r.json
    r = _submit(b, [{"capabilities": ["medical"], "count": 1}], id="C", type="building_fire",
                severity="critical")
    expect(r, 201)
    assert r.json["job"]["plan"] is None, r.json
    # no plan for the type: the one-line shorthand, today's shape
    one = b.submit_ok(["firefighting"], type="chemical_spill", id="D")
    assert "response" not in one and "plan" not in one, one
    # neither given and no plan: 400, nothing stored
    r = post(b.url + "/v1/jobs", {"id": "E", "type": "chemical_spill", "severity": "high"})
    assert_error(r, 400, "missing_field", "no lines, no plan")
    expect(get(b.url + "/v1/jobs/E"), 404)
    # the lines and the plan survive a kill -9 of the broker
    b.kill9()
    b.restart()
    j2 = b.job("A")
    assert j2["plan"] == "structure-fire-first-alarm", j2
    assert [(ln["count"], sorted(u["unit_id"] for u in ln["assigned"])) for ln in j2["response"]] \
        == [(2, ["E-1", "E-2"]), (1, ["M-1"])], j2
    assert _on(j2) == _on(j), (j, j2)


BAD_PLANS = [
    ("bad-type", {"plans": [{"name": "p", "type": "fire fighting", "severity": ["high"],
                             "response": [{"capabilities": ["x"], "count": 1}]}]},
     "plans[0] (\"p\")"),
    ("count-0", {"plans": [{"name": "p", "type": "fire", "severity": ["high"],
                            "response": [{"capabilities": ["x"], "count": 0}]}]},
     "response[0]"),
    ("duplicate", {"plans": [
        {"name": "p", "type": "fire", "severity": ["high"],
         "response": [{"capabilities": ["x"], "count": 1}]},
        {"name": "p", "type": "flood", "severity": ["high"],
         "response": [{"capabilities": ["x"], "count": 1}]}]},
     "duplicate plan name \"p\""),
    ("overlap", {"plans": [
        {"name": "p", "type": "fire", "severity": ["high"],
         "response": [{"capabilities": ["x"], "count": 1}]},
        {"name": "q", "type": "fire", "severity": ["high", "low"],
         "response": [{"capabilities": ["x"], "count": 1}]}]},
     "covered by plans[0]"),
    ("loop", {"plans": [{"name": "p", "type": "fire", "severity": ["high"],
                         "response": [{"plan": "p"}]}]},
     "response[0]"),
    ("bad-severity", {"plans": [{"name": "p", "type": "fire", "severity": ["urgent"],
                                 "response": [{"capabilities": ["x"], "count": 1}]}]},
     "severity 'urgent'"),
    ("syntax", "{\"plans\": [\n  {\"name\": \"p\",,\n]}", "line 2"),
]


def test_bad_plan_file_exits_2(tmp_path):
    for name, obj, want in BAD_PLANS:
        path = _plan_file(tmp_path, obj, name + ".json")
        p = subprocess.run([ergrid.binary("broker"), "--id", "Downtown", "--listen", "127.0.0.1:0",
                            "--data-dir", os.path.join(str(tmp_path), "d-" + name),
                            "--response-plans", path],
                           capture_output=True, text=True, timeout=30)
        assert p.returncode == 2, (name, p.returncode, p.stderr)
        assert want in p.stderr and path in p.stderr, (name, p.stderr)
    missing = os.path.join(str(tmp_path), "nope.json")
    p = subprocess.run([ergrid.binary("broker"), "--id", "Downtown", "--listen", "127.0.0.1:0",
                        "--data-dir", os.path.join(str(tmp_path), "d-x"),
                        "--response-plans", missing], capture_output=True, text=True, timeout=30)
    assert p.returncode == 2 and "cannot open" in p.stderr, p.stderr


def test_shipped_plan_file_reads():
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    path = os.path.join(root, "config", "response-plans.json")
    with open(path) as f:
        plans = json.load(f)["plans"]
    assert len(plans) >= 3
    p = subprocess.run([ergrid.binary("broker"), "--response-plans", path, "--help"],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p.stderr
