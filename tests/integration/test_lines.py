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
