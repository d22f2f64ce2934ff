"""The executor (one unit's terminal) against a real broker."""

import os
import subprocess

import pytest

import ergrid
from conftest import FIRE
from ergrid import (assert_error, check_unit_shape, check_vclock, expect, get, post, request,
                    result_core, unit_status, wait_until)


def _one_unit(cluster, failure_timeout=ergrid.FAILURE_TIMEOUT):
    b = cluster.broker(failure_timeout=failure_timeout)
    e = cluster.executor("LAFD-1", "fire", FIRE, b)
    wait_until(lambda: unit_status(b, "LAFD-1") == "available", message="LAFD-1 registered")
    return b, e


def _held(e, job_id, state="active"):
    def ok():
        a = e.assignment(job_id)
        assert a is not None and a["state"] == state, a
        return a
    return wait_until(ok, message="%s holds %s (%s)" % (e.name, job_id, state))


def test_registration_and_heartbeat(cluster):
    b = cluster.broker()
    a = cluster.executor("LAFD-1", "fire", FIRE, b)
    c = cluster.executor("LAFD-2", "fire", FIRE, b)
    ergrid.wait_units_status(b, ["LAFD-1", "LAFD-2"], "available")
    u = b.unit("LAFD-1")
    check_unit_shape(u)
    assert (u["id"], u["kind"], sorted(u["capabilities"]), u["district"], u["url"], u["jobs"]) == \
        ("LAFD-1", "fire", sorted(FIRE), "Downtown", a.url, []), u
    expect(get(a.url + "/v1/health"), 200, "executor health")
    assert a.assignments() == []

    # A silent unit (SIGSTOP) is lost; the heartbeating one stays available meanwhile.
    c.stop()

    def c_lost():
        assert unit_status(b, "LAFD-1") == "available", "heartbeating LAFD-1 must stay available"
        return unit_status(b, "LAFD-2") == "lost"
    wait_until(c_lost, message="stopped LAFD-2 lost while LAFD-1 stays available")
    assert unit_status(b, "LAFD-1") == "available"
    c.cont()
    wait_until(lambda: unit_status(b, "LAFD-2") == "available", message="LAFD-2 back after SIGCONT")


def test_assignments_persist_across_kill9(cluster):
    b, e = _one_unit(cluster)
    job = b.submit_ok(["firefighting"], severity="critical", id="persist-1")
    assert job["unit_id"] == "LAFD-1", job
    a = _held(e, "persist-1")
    assert (a["attempt"], a["owner"], a["owner_url"]) == (1, "Downtown", b.url), a
    assert a["job"]["id"] == "persist-1" and a["report"] is None, a
    check_vclock(a["vclock"], "assignment vclock")
    assert a["vclock"].get("Downtown", 0) > 0, a

    e.kill9()
    e.restart(allow_new_port=True)
    got = e.assignment("persist-1")
    assert got is not None, "assignment lost by kill -9: %r" % e.assignments()
    assert (got["attempt"], got["owner"], got["owner_url"], got["job"]["id"]) == \
        (1, "Downtown", b.url, "persist-1"), got
    assert got["state"] in ("active", "revoked"), got

    # Executor and broker agree in the end: still held, or revoked because
    # the broker declared the unit lost meanwhile.
    def agree():
        j = b.job("persist-1")
        mine = {a["attempt"]: a["state"] for a in e.assignments() if a["job_id"] == "persist-1"}
        assert 1 in mine, "executor dropped attempt 1: %r" % mine
        for att in j["attempts"]:
            if att["unit_id"] != "LAFD-1" or att["attempt"] not in mine:
                continue
            want = {"active": "active", "revoked": "revoked"}.get(att["state"])
            assert want is None or mine[att["attempt"]] == want, (j, mine)
        return True
    wait_until(agree, message="executor and broker agree on persist-1")


def test_at_capacity_and_idempotent_assign(cluster):
    b, e = _one_unit(cluster)
    b.submit_ok(["firefighting"], severity="high", id="cap-1")
    held = _held(e, "cap-1")

    again = {"job": held["job"], "attempt": 1, "owner": "Downtown", "owner_url": b.url,
             "vclock": held["vclock"]}
    r = post(e.url + "/v1/assignments", again)
    js = expect(r, 200, "same job and attempt again")
    assert js["assignment"]["job_id"] == "cap-1" and js["assignment"]["attempt"] == 1, js

    fake = dict(held["job"], id="cap-2", status="assigned")
    extra = {"job": fake, "attempt": 1, "owner": "Downtown", "owner_url": b.url,
             "vclock": held["vclock"]}
    assert_error(post(e.url + "/v1/assignments", extra), 409, "at_capacity", "second assignment")
    assert [a["job_id"] for a in e.assignments()] == ["cap-1"]


def test_revoke_keeps_listed_and_report_forwarded(cluster):
    b, e = _one_unit(cluster)
    b.submit_ok(["firefighting"], severity="high", id="rev-1")
    _held(e, "rev-1")

    r = request("DELETE", e.url + "/v1/assignments/rev-1")
    js = expect(r, 200, "revoke")
    assert js["assignment"]["job_id"] == "rev-1" and js["assignment"]["state"] == "revoked", js
    a = e.assignment("rev-1")
    assert a is not None and a["state"] == "revoked", e.assignments()
    assert_error(request("DELETE", e.url + "/v1/assignments/nope-1"), 404, "not_found", "revoke unknown")

    # the crew still reports: forwarded to the owner broker, accepted (first)
    r = e.report("rev-1", "contained", {"crew": "A"})
    assert r.status == 201, "report of a revoked assignment must be forwarded: %r" % (r,)
    assert r.json["accepted"] is True and r.json["result"]["unit_id"] == "LAFD-1", r.json
    j = b.job("rev-1")
    assert j["status"] == "completed" and result_core(j["result"]) == result_core(
        {"unit_id": "LAFD-1", "attempt": 1, "outcome": "contained", "data": {"crew": "A"}}), j
    a = e.assignment("rev-1")
    assert a["state"] == "reported" and a["report"]["accepted"] is True \
        and a["report"]["status"] == 201, a
    assert_error(e.report("nope-1", "contained"), 404, "not_found", "report for unknown assignment")


def test_report_while_broker_down_is_kept(cluster):
    b, e = _one_unit(cluster)
    b.submit_ok(["firefighting"], severity="high", id="gw-1")
    _held(e, "gw-1")
    b.kill9()
    assert_error(e.report("gw-1", "contained"), 502, "bad_gateway", "report with the broker down")
    a = e.assignment("gw-1")
    assert a is not None and a["state"] == "active", a
    b.restart()
    r = e.report("gw-1", "contained")
    assert r.status == 201 and r.json["accepted"] is True, r
    assert b.job("gw-1")["status"] == "completed"


# --------------------------------------------------------------------- flags

def _run(kind, args, tmp_path):
    cmd = [ergrid.binary(kind)] + args
    p = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=10 * ergrid.scale(), cwd=str(tmp_path))
    return p


def _exec_args(tmp_path, drop=(), **over):
    a = {"--id": "LAFD-1", "--kind": "fire", "--capabilities": "firefighting,rescue",
         "--broker": "http://127.0.0.1:9", "--listen": "127.0.0.1:0",
         "--data-dir": str(tmp_path / "d"), "--heartbeat-interval": "300ms"}
    a.update(over)
    out = []
    for k, v in a.items():
        if k not in drop:
            out += [k, v]
    return out


def _broker_args(tmp_path, drop=(), **over):
    a = {"--id": "Downtown", "--listen": "127.0.0.1:0", "--data-dir": str(tmp_path / "d"),
         "--failure-timeout": "1500ms"}
    a.update(over)
    out = []
    for k, v in a.items():
        if k not in drop:
            out += [k, v]
    return out


BAD_FLAGS = [
    ("executor", "bogus", lambda t: _exec_args(t) + ["--bogus"]),
    ("executor", "missing-id", lambda t: _exec_args(t, drop=("--id",))),
    ("executor", "missing-broker", lambda t: _exec_args(t, drop=("--broker",))),
    ("executor", "missing-data-dir", lambda t: _exec_args(t, drop=("--data-dir",))),
    ("executor", "heartbeat-abc", lambda t: _exec_args(t, **{"--heartbeat-interval": "abc"})),
    ("executor", "mode-bogus", lambda t: _exec_args(t) + ["--mode", "bogus"]),
    ("executor", "bad-id", lambda t: _exec_args(t, **{"--id": "LAFD 1"})),
    ("executor", "listen-bad-port", lambda t: _exec_args(t, **{"--listen": "127.0.0.1:99999"})),
    ("broker", "bogus", lambda t: _broker_args(t) + ["--bogus"]),
    ("broker", "missing-id", lambda t: _broker_args(t, drop=("--id",))),
    ("broker", "failure-timeout-abc", lambda t: _broker_args(t, **{"--failure-timeout": "abc"})),
    ("broker", "peer-garbage", lambda t: _broker_args(t) + ["--peer", "garbage"]),
    ("broker", "durability-bogus", lambda t: _broker_args(t, **{"--durability": "fsync"})),
    ("broker", "durability-caps", lambda t: _broker_args(t, **{"--durability": "FULL"})),
    ("broker", "durability-empty", lambda t: _broker_args(t, **{"--durability": ""})),
    ("broker", "durability-no-value", lambda t: _broker_args(t) + ["--durability"]),
    ("coordinator", "bogus", lambda t: ["--listen", "127.0.0.1:0", "--data-dir", str(t / "d"), "--bogus"]),
]


@pytest.mark.parametrize("kind,name,args", BAD_FLAGS, ids=["%s-%s" % (k, n) for k, n, _ in BAD_FLAGS])
def test_bad_flags_exit_2(tmp_path, kind, name, args):
    ergrid.build_dir()
    p = _run(kind, args(tmp_path), tmp_path)
    assert p.returncode == 2, "%s %s: expected exit 2, got %s; stderr: %r" % (
        kind, name, p.returncode, p.stderr[-2000:])
    assert p.stderr.strip(), "%s %s: exit 2 without a message on stderr" % (kind, name)
    if name.startswith("durability"):
        assert b"--durability" in p.stderr, p.stderr
    assert b"listening on" not in p.stdout, p.stdout


@pytest.mark.parametrize("kind", ["executor", "broker", "coordinator"])
def test_help_exits_0(tmp_path, kind):
    ergrid.build_dir()
    p = _run(kind, ["--help"], tmp_path)
    assert p.returncode == 0, "%s --help: exit %s; stderr %r" % (kind, p.returncode, p.stderr[-2000:])
    text = p.stdout + p.stderr
    assert b"--listen" in text and b"--data-dir" in text, text
    assert not os.path.exists(str(tmp_path / "d"))
