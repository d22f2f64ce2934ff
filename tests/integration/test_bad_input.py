"""Drives every case under tests/bad_input/ (see its README.md) against a
broker with one executor, one held job and one queued job, then checks that
nothing changed and nothing crashed."""

import json
import os

from conftest import FIRE
from ergrid import raw_exchange, unit_status, wait_until

CASES_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "bad_input")


def load_case(name):
    d = os.path.join(CASES_DIR, name)
    with open(os.path.join(d, "request"), "rb") as f:
        data = f.read()
    head, sep, body = data.partition(b"\n\n")
    lines = head.decode("utf-8").split("\n")
    method, _, path = lines[0].partition(" ")
    headers = []
    for line in lines[1:]:
        if line.strip():
            k, _, v = line.partition(":")
            headers.append((k.strip(), v.strip()))
    body = body if sep else None
    with open(os.path.join(d, "expect")) as f:
        exp = f.read().split("\n")
    status, code = int(exp[0].strip()), exp[1].strip()
    target = "broker"
    if os.path.exists(os.path.join(d, "target")):
        with open(os.path.join(d, "target")) as f:
            target = f.read().strip()
    if os.path.exists(os.path.join(d, "generate")):
        with open(os.path.join(d, "generate")) as f:
            op, n, ch = f.read().split()
        assert op == "fill", "unknown generate op %r in %s" % (op, name)
        fill = ch * int(n)
        path = path.replace("@@FILL@@", fill)
        if body is not None:
            body = body.replace(b"@@FILL@@", fill.encode())
    if not any(k.lower() == "content-type" for k, _ in headers) and body is not None \
            and method in ("POST", "PUT", "PATCH"):
        headers.append(("Content-Type", "application/json"))
    headers = [(k, v) for k, v in headers if v != ""]
    return method, path, headers, body, status, code, target


def all_cases():
    return sorted(n for n in os.listdir(CASES_DIR) if os.path.isdir(os.path.join(CASES_DIR, n)))


def snapshot(b, e):
    """The state bad input must not change (freshness/heartbeat fields left out)."""
    jobs = {}
    for j in b.jobs():
        jobs[j["id"]] = (j["type"], j["severity"], j["required_capabilities"], j["owner"], j["status"],
                         j["unit_id"], j["attempt"],
                         [(a["attempt"], a["unit_id"], a["state"]) for a in j["attempts"]],
                         json.dumps(j["result"], sort_keys=True))
    units = {}
    for u in b.units():
        units[u["id"]] = (u["kind"], sorted(u["capabilities"]), u["district"], u["status"],
                          sorted(u["jobs"]), u["url"], u.get("station"),
                          {k: v for k, v in (u.get("fix") or {}).items() if k != "age_ms"})
    assigns = sorted((a["job_id"], a["attempt"], a["state"], json.dumps(a.get("report"), sort_keys=True))
                     for a in e.assignments())
    return {"jobs": jobs, "units": units, "assignments": assigns}


def check_reply(reply, status, code):
    problems = []
    if reply.status != status:
        problems.append("status %s, expected %s" % (reply.status, status))
    js = reply.json
    if not (isinstance(js, dict) and set(js) == {"error"} and isinstance(js["error"], dict)
            and set(js["error"]) == {"code", "message"}):
        problems.append("body is not exactly {\"error\":{\"code\",\"message\"}}")
    else:
        if js["error"]["code"] != code:
            problems.append("code %r, expected %r" % (js["error"]["code"], code))
        if not (isinstance(js["error"]["message"], str) and js["error"]["message"].strip()):
            problems.append("empty message")
    ctype = reply.headers.get("content-type", "")
    if not ctype.startswith("application/json"):
        problems.append("content-type %r" % ctype)
    return problems


def test_bad_input(cluster):
    names = all_cases()
    assert len(names) >= 30, names
    b = cluster.broker()
    e = cluster.executor("LAFD-1", "fire", FIRE, b)
    wait_until(lambda: unit_status(b, "LAFD-1") == "available", message="LAFD-1 registered")
    known = b.submit_ok(["firefighting"], severity="critical", id="known-job")
    assert known["unit_id"] == "LAFD-1" and known["attempt"] == 1, known
    wait_until(lambda: (e.assignment("known-job") or {}).get("state") == "active",
               message="LAFD-1 holds known-job")
    queued = b.submit_ok(["hazmat"], severity="low", id="queued-job")
    assert queued["status"] == "queued", queued
    # A coordinator with no district registered: intake refuses bad input
    # before routing, and anything let through would get 503, not the 400.
    c = cluster.coordinator()
    before = snapshot(b, e)

    failures = []
    for name in names:
        method, path, headers, body, status, code, target = load_case(name)
        svc = {"executor": e, "coordinator": c}.get(target, b)
        try:
            reply = raw_exchange("127.0.0.1", svc.port, method, path, headers, body)
        except OSError as ex:
            failures.append("%s: %s %s -> transport error %r" % (name, method, path[:80], ex))
        else:
            problems = check_reply(reply, status, code)
            if problems:
                failures.append("%s: %s %s -> %s; got %s %r" % (
                    name, method, path[:80], ", ".join(problems), reply.status, reply.raw[:300]))
        for s in (b, e, c):
            assert s.alive(), "%s died on case %s (%s %s); failures so far: %s" % (
                s, name, method, path[:80], failures)

    after = snapshot(b, e)
    changed = []
    for k in before:
        if before[k] != after[k]:
            changed.append("%s: before %r\n  after %r" % (k, before[k], after[k]))
    report = ""
    if failures:
        report += "%d of %d cases failed:\n  " % (len(failures), len(names)) + "\n  ".join(failures)
    if changed:
        report += "\nstate changed by bad input:\n  " + "\n  ".join(changed)
    assert not report, report
