"""Issue 10's attacks on a city with credentials on, each refused with
nothing changed: the forged result in the name of the unit that holds an
incident, a unit acting as another unit, a peer acting as another district,
a fake broker at the coordinator, a crew's assignment revoked or a forged
one handed to a terminal by anyone but a broker; no secret ever shows in a
log, a reply, an event, /metrics or a process's command line. And the
safe-by-default start: no credentials, no listening beyond loopback."""

import os
import re
import select
import signal
import subprocess

import pytest

import ergrid
from authcity import (Credential, call, check_refusal, city_tokens, refusals_metric,
                      secrets_seen, secure_harness, snapshot, snapshot_diff)
from conftest import FIRE
from ergrid import result_core, wait_until
from test_city import SYNC_WAIT, make_city, wait_remote_unit

GRID = [
    ("Downtown", [("LAFD-1", "fire", FIRE), ("LAFD-2", "fire", FIRE)]),
    ("Westside", [("LAFD-5", "fire", FIRE)]),
    ("Valley", [("LAFD-9", "fire", FIRE)]),
]
UNITS = [u for _, us in GRID for u, _, _ in us]
DISTRICTS = [d for d, _ in GRID]


class Recorder:
    """call() that keeps every reply, so the secret check can read them."""

    def __init__(self):
        self.replies = []

    def __call__(self, method, url, cred=None, body=None):
        r = call(method, url, cred, body=body)
        self.replies.append(("reply to %s %s" % (method, url), r.raw.decode("utf-8", "replace")))
        return r


def _city(cluster, monkeypatch, tmp_path):
    tokens = city_tokens(tmp_path, DISTRICTS, UNITS)
    secure_harness(monkeypatch, tokens, tokens["dispatcher"])
    return tokens, make_city(cluster, GRID)


def _refused(rec, method, url, cases, body, what):
    """cases: [(credential or header value or None, expected status)]."""
    for cred, status in cases:
        r = rec(method, url, cred, body=body)
        check_refusal(r, status, "%s as %r" % (what, cred))


def _no_secret_anywhere(city, tokens, rec):
    """Every token used in the run, looked for in every service's stderr and
    stdout, every reply the test got, every event log, every /metrics and
    every command line."""
    cred = tokens["dispatcher"]
    services = [city.coordinator] + list(city.brokers.values()) + list(city.executors.values())
    extra = list(rec.replies)
    for s in services:
        if not s.alive():
            continue
        paths = ["/metrics"] + (["/v1/events?after=0&limit=1000"] if s.kind != "executor"
                                else ["/v1/assignments"])
        for p in paths:
            r = call("GET", s.url + p, cred)
            assert r.status == 200, "%s%s: %r" % (s, p, r)
            extra.append(("%s%s" % (s.name, p), r.raw.decode("utf-8", "replace")))
        with open("/proc/%d/cmdline" % s.proc.pid, "rb") as f:
            extra.append(("%s command line" % s, f.read().decode("utf-8", "replace")))
    leaked = secrets_seen(services, tokens, extra)
    assert not leaked, "tokens found in: %r" % leaked


# What the attacks could have changed. The coordinator's event log is left
# out: it merges the brokers' logs as it polls them, on its own schedule.
WATCHED = {"broker": ("/v1/units", "/v1/jobs", "/v1/events?after=0&limit=1000", "/v1/emergency"),
           "executor": ("/v1/assignments",),
           "coordinator": ("/v1/brokers", "/v1/emergency")}


def _watch(city, tokens, districts):
    services = [city.coordinator] + [city[d] for d in districts] + \
        [city.ex(u) for u, home in city.homes.items() if home in districts]
    return lambda: snapshot(services, tokens["operator"], WATCHED)


def test_forged_result_and_unit_impersonation_refused(cluster, monkeypatch, tmp_path):
    tokens, city = _city(cluster, monkeypatch, tmp_path)
    rec = Recorder()
    dt = city["Downtown"]
    # Routed by the coordinator, which presents its own dispatcher credential.
    r = rec("POST", city.coordinator.url + "/v1/incidents", tokens["dispatcher"],
            body={"id": "building-A", "type": "building_fire", "severity": "critical",
                  "required_capabilities": ["firefighting"], "district": "Downtown"})
    assert r.status == 201 and r.json["job"]["status"] == "assigned", r
    holder = r.json["job"]["unit_id"]
    assert holder in ("LAFD-1", "LAFD-2"), r
    other = ({"LAFD-1", "LAFD-2"} - {holder}).pop()
    hx = city.ex(holder)
    wait_until(lambda: (hx.assignment("building-A") or {}).get("state") == "active",
               message="%s's terminal holds Building A" % holder)
    for b in city.others("Downtown"):
        wait_remote_unit(b, holder, "Downtown", status="busy", jobs=["building-A"])
    # A unit token in its own name, for an incident it never held: the arbiter refuses.
    url = "%s/v1/jobs/building-A/results" % dt.url
    r = rec("POST", url, tokens["unit-" + other],
            body={"unit_id": other, "attempt": 1, "outcome": "contained"})
    assert r.status in (403, 409), "%s reporting an attempt it never held: %r" % (other, r)
    watch = _watch(city, tokens, ["Downtown", "Westside"])
    before = watch()
    refusals_before = refusals_metric(dt.url, tokens["operator"])[0]

    # The forged result: the accepted outcome of Building A, in the holder's name.
    forged = {"unit_id": holder, "attempt": 1, "outcome": "contained", "data": {"by": "forger"}}
    _refused(rec, "POST", url, [
        (tokens["unit-" + other], 403), (tokens["unit-LAFD-9"], 403), (tokens["viewer"], 403),
        (tokens["peer-Downtown"], 403), (tokens["peer-Westside"], 403),
        (None, 401), (Credential("stranger", "unit", holder), 401),
        ("Bearer " + tokens["unit-" + holder].token[:-1], 401)], forged, "forged result")
    # ... and through the holder's own terminal, by anyone but that crew.
    _refused(rec, "POST", "%s/v1/assignments/building-A/result" % hx.url, [
        (tokens["unit-" + other], 403), (tokens["viewer"], 403), (tokens["peer-Downtown"], 403),
        (None, 401)], {"outcome": "contained", "data": {"by": "forger"}}, "forged report")
    # A unit acting as another: heartbeat, re-registration elsewhere, revocation at the terminal.
    _refused(rec, "POST", "%s/v1/units/%s/heartbeat" % (dt.url, holder), [
        (tokens["unit-" + other], 403), (tokens["unit-LAFD-5"], 403), (tokens["peer-Downtown"], 403),
        (None, 401)], {"jobs": []}, "heartbeat for %s" % holder)
    _refused(rec, "POST", dt.url + "/v1/units", [
        (tokens["unit-" + other], 403), (tokens["dispatcher"], 403), (None, 401)],
        {"id": holder, "kind": "fire", "capabilities": ["firefighting"],
         "url": "http://127.0.0.1:9"}, "re-registration of %s" % holder)
    _refused(rec, "DELETE", "%s/v1/assignments/building-A" % hx.url, [
        (None, 401), (tokens["viewer"], 403), (tokens["dispatcher"], 403),
        (tokens["unit-" + holder], 403), (tokens["unit-" + other], 403)], None,
        "revocation at %s's terminal" % holder)
    # A forged assignment handed to a free terminal by anyone but a broker of the city.
    free = city.ex("LAFD-5")
    _refused(rec, "POST", free.url + "/v1/assignments", [
        (None, 401), (tokens["viewer"], 403), (tokens["dispatcher"], 403),
        (tokens["unit-LAFD-5"], 403), (tokens["unit-" + holder], 403)],
        {"job": {"id": "forged-asg", "type": "building_fire", "severity": "high",
                 "required_capabilities": ["firefighting"]},
         "attempt": 1, "owner": "Westside", "owner_url": city["Westside"].url},
        "assignment to LAFD-5")

    after = watch()
    assert snapshot_diff(before, after) == [], "a refusal changed %s" % snapshot_diff(before, after)
    # Downtown counted every refusal it gave: forged results, heartbeats, registrations
    counted = refusals_metric(dt.url, tokens["operator"])[0] - refusals_before
    assert counted == 8 + 4 + 3, "Downtown counted %d refusals" % counted
    assert hx.assignment("building-A")["state"] == "active"
    assert free.assignments() == []

    # The holder's own crew reports: its terminal forwards it with its unit token; it wins.
    r = rec("POST", "%s/v1/assignments/building-A/result" % hx.url, tokens["unit-" + holder],
            body={"outcome": "extinguished", "data": {"by": holder}})
    assert r.status == 201 and r.json["accepted"] is True, r
    j = dt.job("building-A")
    assert j["status"] == "completed" and result_core(j["result"]) == result_core(
        {"unit_id": holder, "attempt": 1, "outcome": "extinguished", "data": {"by": holder}}), j
    events = call("GET", dt.url + "/v1/events?after=0&limit=1000", tokens["viewer"]).json["events"]
    accepted = [e for e in events if e["job_id"] == "building-A" and e["type"] == "result_accepted"]
    assert [e["unit_id"] for e in accepted] == [holder], accepted
    _no_secret_anywhere(city, tokens, rec)


def test_peer_cannot_act_as_another_district(cluster, monkeypatch, tmp_path):
    tokens, city = _city(cluster, monkeypatch, tmp_path)
    rec = Recorder()
    dt, ws, co = city["Downtown"], city["Westside"], city.coordinator
    watch = _watch(city, tokens, ["Downtown", "Westside"])
    before = watch()

    # Claiming Westside's LAFD-5 in Downtown's name.
    claim = {"job": {"id": "aid-1", "type": "building_fire", "severity": "high",
                     "required_capabilities": ["firefighting"]},
             "attempt": 1, "owner": "Downtown", "owner_url": dt.url}
    claim_url = ws.url + "/v1/units/LAFD-5/claim"
    _refused(rec, "POST", claim_url, [
        (tokens["peer-Valley"], 403), (tokens["peer-Westside"], 403),
        (tokens["unit-LAFD-5"], 403), (tokens["dispatcher"], 403), (None, 401)],
        claim, "claim of LAFD-5 as Downtown")
    # Telling Downtown to pull "Westside" from a Valley credential.
    _refused(rec, "POST", dt.url + "/v1/notify", [
        (tokens["peer-Valley"], 403), (tokens["peer-Downtown"], 403), (tokens["unit-LAFD-1"], 403),
        (None, 401)], {"broker": "Westside", "version": 1}, "notify as Westside")
    # A fake Westside at the coordinator, where incidents are routed.
    _refused(rec, "POST", co.url + "/v1/brokers", [
        (tokens["peer-Valley"], 403), (tokens["dispatcher"], 403), (tokens["unit-LAFD-5"], 403),
        (None, 401), ("Bearer not-a-token-of-this-city", 401)],
        {"id": "Westside", "url": "http://127.0.0.1:9"}, "fake Westside")
    after = watch()
    assert snapshot_diff(before, after) == [], "a refusal changed %s" % snapshot_diff(before, after)
    brokers = {b["id"]: b["url"] for b in call("GET", co.url + "/v1/brokers",
                                               tokens["viewer"]).json["brokers"]}
    assert brokers == {d: city[d].url for d in DISTRICTS}, brokers

    # The right peers may: Westside notifies as itself, Downtown claims as itself ...
    r = rec("POST", dt.url + "/v1/notify", tokens["peer-Westside"],
            body={"broker": "Westside", "version": 1})
    assert r.status in (200, 202, 204), r
    r = rec("POST", claim_url, tokens["peer-Downtown"], body=claim)
    assert r.status == 201 and r.json["claim"]["owner"] == "Downtown", r
    wait_until(lambda: city.ex("LAFD-5").assignment("aid-1") is not None,
               message="LAFD-5 handed Downtown's claim")
    # ... but only the claim's owner may release it.
    release = {"job_id": "aid-1", "attempt": 1, "reason": "cancelled"}
    _refused(rec, "POST", ws.url + "/v1/units/LAFD-5/release", [
        (tokens["peer-Valley"], 403), (tokens["peer-Westside"], 403), (tokens["unit-LAFD-5"], 403),
        (None, 401)], release, "release of Downtown's claim")
    u = call("GET", ws.url + "/v1/units/LAFD-5", tokens["viewer"]).json["unit"]
    assert u["jobs"] == ["aid-1"], u
    r = rec("POST", ws.url + "/v1/units/LAFD-5/release", tokens["peer-Downtown"], body=release)
    assert r.status == 200 and r.json["released"] is True, r
    wait_until(lambda: call("GET", ws.url + "/v1/units/LAFD-5",
                            tokens["viewer"]).json["unit"]["status"] == "available",
               SYNC_WAIT, message="LAFD-5 free again")
    _no_secret_anywhere(city, tokens, rec)


def test_reload_takes_a_good_file_and_keeps_the_old_table_on_a_bad_one(cluster, monkeypatch,
                                                                      tmp_path):
    tokens = city_tokens(tmp_path, ["Downtown"], [])
    tokens.add("second-viewer", "viewer", "wall-2")
    secure_harness(monkeypatch, tokens, tokens["operator"])
    b = cluster.broker("Downtown")
    url = b.url + "/v1/units"
    assert call("GET", url, tokens["second-viewer"]).status == 200

    # A bad file on SIGHUP: the old table stays, the error names the line.
    tokens.revoke("second-viewer")
    tokens.spoil("0123 viewer")
    bad_line = len(open(tokens.path).read().splitlines())
    b.proc.send_signal(signal.SIGHUP)
    wait_until(lambda: "%s:%d:" % (tokens.path, bad_line) in b.log_tail(),
               message="the broker logs the bad line on reload")
    assert b.alive(), "a bad tokens file on reload stopped the broker"
    assert call("GET", url, tokens["second-viewer"]).status == 200, "the old table is gone"
    assert call("GET", url, tokens["viewer"]).status == 200

    # The file fixed: the removed credential is refused, the others still served.
    tokens.write()
    b.proc.send_signal(signal.SIGHUP)
    wait_until(lambda: call("GET", url, tokens["second-viewer"]).status == 401,
               message="the revoked viewer refused after the good reload")
    check_refusal(call("GET", url, tokens["second-viewer"]), 401, "revoked viewer")
    assert call("GET", url, tokens["viewer"]).status == 200
    assert secrets_seen([b], tokens) == []


# ---------------------------------------------------------------- safe by default

# A TEST-NET-1 address (RFC 5737): nothing can ever listen or answer there,
# so a broken check still could not serve beyond loopback.
OUTSIDE = "192.0.2.1:0"


def _argv(kind, tmp_path):
    base = {"broker": ["--id", "Downtown"],
            "executor": ["--id", "LAFD-1", "--kind", "fire", "--capabilities", "firefighting",
                         "--broker", "http://127.0.0.1:9"],
            "coordinator": []}[kind]
    return [ergrid.binary(kind)] + base + ["--data-dir", str(tmp_path / ("data-" + kind))]


def _run(argv):
    try:
        r = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=10 * ergrid.scale())
    except subprocess.TimeoutExpired:
        pytest.fail("%s kept running" % argv[0], pytrace=False)
    return r.returncode, r.stdout.decode("utf-8", "replace"), r.stderr.decode("utf-8", "replace")


@pytest.mark.parametrize("kind", ["broker", "executor", "coordinator"])
def test_no_tokens_no_listening_beyond_loopback(kind, tmp_path):
    code, out, err = _run(_argv(kind, tmp_path) + ["--listen", OUTSIDE])
    assert code == 2, "%s on %s without --tokens: exit %d, stderr %r" % (kind, OUTSIDE, code, err)
    want = "ergrid-%s: refusing to listen on 192.0.2.1" % kind
    assert want in err and "without --tokens (use --insecure-no-auth to serve anyone)" in err, err
    assert "listening on" not in out, out

    # --insecure-no-auth lifts the refusal, loudly; it then fails only to bind
    # (nothing can listen on TEST-NET), never with the refusal's exit 2.
    code, out, err = _run(_argv(kind, tmp_path) + ["--listen", OUTSIDE, "--insecure-no-auth"])
    assert code not in (0, 2), "%s --insecure-no-auth on %s: exit %d, %r" % (kind, OUTSIDE, code, err)
    assert "refusing to listen" not in err, err
    assert re.search(r"warn.*(insecure|no-auth|anyone|without)", err, re.I), \
        "no warning for --insecure-no-auth: %r" % err


@pytest.mark.parametrize("addr", ["localhost:0", "127.0.0.2:0"])
def test_no_tokens_serves_on_any_loopback_address(addr, tmp_path):
    proc = subprocess.Popen(_argv("broker", tmp_path) + ["--listen", addr],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    try:
        ready, _, _ = select.select([proc.stdout], [], [], 10 * ergrid.scale())
        line = proc.stdout.readline().decode() if ready else ""
        assert line.startswith("listening on http://"), \
            "broker on %s without --tokens: %r, exit %s" % (addr, line, proc.poll())
    finally:
        if proc.poll() is None:
            proc.terminate()
        proc.wait(10 * ergrid.scale())


def _tokens_file(tmp_path, lines):
    p = tmp_path / "bad.tokens"
    p.write_text("\n".join(lines) + "\n")
    return str(p)


GOOD = Credential("good", "viewer")
BAD_LINES = [
    ("bad hex", GOOD.digest[:-1] + "g viewer"),
    ("short digest", GOOD.digest[:-2] + " viewer"),
    ("unknown role", Credential("x", "admin").digest + " admin"),
    ("unit without its unit", Credential("x", "unit").digest + " unit"),
    ("peer without its district", Credential("x", "peer").digest + " peer"),
    ("an extra field", Credential("x", "unit").digest + " unit LAFD-1 LAFD-2"),
    ("the same hash twice", GOOD.line()),
]


@pytest.mark.parametrize("why,line", BAD_LINES, ids=[w for w, _ in BAD_LINES])
def test_malformed_tokens_file_stops_the_start(why, line, tmp_path):
    path = _tokens_file(tmp_path, ["# a comment", GOOD.line() + "   # trailing comment", "", line])
    code, out, err = _run(_argv("broker", tmp_path) + ["--listen", "127.0.0.1:0", "--tokens", path])
    assert code == 2, "%s: exit %d, stdout %r, stderr %r" % (why, code, out, err)
    assert "ergrid-broker: %s:4:" % path in err, "%s: the message names no line: %r" % (why, err)
    assert "listening on" not in out, out


def _token_command():
    root = ergrid.build_dir()
    for d, _, files in os.walk(root):
        if "ergrid-token" in files and os.access(os.path.join(d, "ergrid-token"), os.X_OK):
            return os.path.join(d, "ergrid-token")
    pytest.fail("no ergrid-token under %s" % root, pytrace=False)


def test_token_command_prints_a_token_and_its_line():
    tool = _token_command()
    seen = set()
    for role, subject in (("viewer", None), ("unit", "LAFD-1"), ("peer", "Downtown"),
                          ("operator", None), ("dispatcher", "desk-1")):
        code, out, err = _run([tool, role] + ([subject] if subject else []))
        assert code == 0, (role, code, err)
        token, line = out.splitlines()
        assert re.fullmatch(r"[0-9a-f]{64}", token), out
        assert line == Credential("t", role, subject, token).line(), out
        seen.add(token)
    assert len(seen) == 5
    for bad in (["admin"], ["unit"], ["peer"], ["unit", "LAFD-1", "extra"], []):
        code, out, err = _run([tool] + bad)
        assert code == 2 and out == "", "ergrid-token %s: exit %d, %r" % (bad, code, out)
