"""Credentials end to end (issue 10's core, docs/SECURITY.md): a city whose
three services check one city-wide --tokens file and send their own
--token-file credential; an incident routed, assigned, reported and
completed through it; the forged result refused; safe-by-default listening;
malformed tokens files; the SIGHUP reload; and no token anywhere in a log,
a reply or /metrics of the run."""

import os
import signal
import subprocess

from conftest import EMS, FIRE
from ergrid import (assert_error, binary, build_dir, expect, request, scale, wait_until,
                    wait_units_status)

TOKEN_TOOL = "services/token/ergrid-token"


def make_token(role, subject=None):
    cmd = [os.path.join(build_dir(), TOKEN_TOOL), role] + ([subject] if subject else [])
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.splitlines()
    assert len(out) == 2 and len(out[0]) == 64, out
    return out[0], out[1]


class City:
    """Tokens for every party, one tokens file, one secret file each."""

    def __init__(self, tmp):
        self.dir = str(tmp)
        self.tokens = {}
        lines = []
        for name, role, subject in [("viewer", "viewer", None), ("dispatcher", "dispatcher", "desk"),
                                    ("operator", "operator", None),
                                    ("coordinator", "dispatcher", "coordinator"),
                                    ("Downtown", "peer", "Downtown"), ("Uptown", "peer", "Uptown"),
                                    ("LAFD-1", "unit", "LAFD-1"), ("EMS-3", "unit", "EMS-3")]:
            tok, line = make_token(role, subject)
            self.tokens[name] = tok
            lines.append(line)
            with open(self.secret(name), "w") as f:
                f.write(tok + "\n")
        self.file = os.path.join(self.dir, "tokens")
        with open(self.file, "w") as f:
            f.write("# city-wide credentials\n" + "\n".join(lines) + "\n")

    def secret(self, name):
        return os.path.join(self.dir, "secret-" + name)

    def args(self, name):
        return ["--tokens", self.file, "--token-file", self.secret(name)]

    def call(self, who, method, url, body=None):
        headers = {"Authorization": "Bearer " + self.tokens[who]} if who else {}
        return request(method, url, body=body, headers=headers)


def every_output(cluster):
    text = []
    for s in cluster.services:
        for p in (s.log_path, s.out_path):
            try:
                with open(p, "rb") as f:
                    text.append(f.read().decode("utf-8", "replace"))
            except OSError:
                pass
    return "\n".join(text)


def test_city_with_tokens(cluster, tmp_path):
    city = City(tmp_path)
    coord = cluster.coordinator(extra=["--poll-interval", "300ms"] + city.args("coordinator"))
    b = cluster.broker("Downtown", extra=["--coordinator", coord.url] + city.args("Downtown"))
    for uid, kind, caps in [("LAFD-1", "fire", FIRE), ("EMS-3", "ems", EMS)]:
        cluster.executor(uid, kind, caps, b, extra=city.args(uid))

    def units_available():
        r = city.call("viewer", "GET", b.url + "/v1/units")
        return r.status == 200 and sorted(u["id"] for u in r.json["units"]
                                          if u["status"] == "available") == ["EMS-3", "LAFD-1"]
    wait_until(units_available, 20, message="both units registered with their unit tokens")

    def registered():
        r = city.call("viewer", "GET", coord.url + "/v1/brokers")
        return r.status == 200 and [x["id"] for x in r.json["brokers"]] == ["Downtown"]
    wait_until(registered, 20, message="the broker registered with its peer token")

    # Without a credential nothing but health answers.
    r = request("GET", b.url + "/v1/units")
    assert_error(r, 401, "unauthorized", "no token")
    assert r.headers.get("www-authenticate") == 'Bearer realm="ergrid"', r
    expect(request("GET", b.url + "/v1/health"), 200, "health stays open")
    expect(request("GET", coord.url + "/"), 200, "the dashboard page stays open")
    assert_error(city.call("viewer", "POST", coord.url + "/v1/incidents",
                           {"type": "fire", "severity": "high",
                            "required_capabilities": ["firefighting"]}),
                 403, "forbidden", "a viewer submits")

    # The coordinator routes the incident with its own dispatcher token.
    js = expect(city.call("dispatcher", "POST", coord.url + "/v1/incidents",
                          {"id": "fire-A", "type": "building_fire", "severity": "high",
                           "required_capabilities": ["firefighting"], "district": "Downtown"}),
                201, "incident")
    assert js["job"]["unit_id"] == "LAFD-1", js
    attempt = js["job"]["attempt"]

    # The forged result: EMS-3's token posting in LAFD-1's name.
    forged = {"unit_id": "LAFD-1", "attempt": attempt, "outcome": "completed"}
    assert_error(city.call("EMS-3", "POST", b.url + "/v1/jobs/fire-A/results", forged),
                 403, "forbidden", "forged result")
    assert_error(city.call("Uptown", "POST", b.url + "/v1/jobs/fire-A/results", forged),
                 403, "forbidden", "a peer posts a result")
    assert_error(city.call("EMS-3", "POST", b.url + "/v1/units/LAFD-1/heartbeat"),
                 403, "forbidden", "heartbeat for another unit")
    job = expect(city.call("viewer", "GET", b.url + "/v1/jobs/fire-A"), 200, "job")["job"]
    assert job["status"] == "assigned" and job["result"] is None, job

    # The crew reports at its terminal; the terminal reports with its unit token.
    term = cluster.services[2]
    assert term.id == "LAFD-1"
    assert_error(city.call("EMS-3", "POST", term.url + "/v1/assignments/fire-A/result",
                           {"outcome": "completed"}), 403, "forbidden", "another unit's terminal")
    expect(city.call("LAFD-1", "POST", term.url + "/v1/assignments/fire-A/result",
                     {"outcome": "completed"}), 201, "report at the terminal")

    def completed():
        r = city.call("viewer", "GET", b.url + "/v1/jobs/fire-A")
        return r.status == 200 and r.json["job"]["status"] == "completed"
    wait_until(completed, 20, message="the result reached the broker")

    metrics = city.call("viewer", "GET", b.url + "/metrics")
    assert metrics.status == 200
    text = metrics.raw.decode()
    assert ('ergrid_auth_refusals_total{route="POST /v1/jobs/{id}/results",reason="subject"} 1'
            in text), text
    assert 'ergrid_auth_refusals_total{route="POST /v1/jobs/{id}/results",reason="role"} 1' in text
    assert 'ergrid_auth_refusals_total{route="GET /v1/units",reason="missing"} 1' in text

    # No token anywhere: logs, announcements, replies, metrics.
    seen = [every_output(cluster), text]
    for svc in cluster.services:
        seen.append(city.call("operator", "GET", svc.url + "/metrics").raw.decode())
    seen.append(city.call("viewer", "GET", b.url + "/v1/events").raw.decode())
    seen.append(city.call("viewer", "GET", coord.url + "/v1/events").raw.decode())
    blob = "\n".join(seen)
    for name, tok in city.tokens.items():
        assert tok not in blob, "the token of %s leaked" % name


def run_broker(tmp_path, *args, timeout=10):
    cmd = [binary("broker"), "--id", "D", "--data-dir", str(tmp_path / "d")] + list(args)
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout * scale())


def test_non_loopback_needs_tokens(tmp_path):
    r = run_broker(tmp_path, "--listen", "0.0.0.0:0")
    assert r.returncode == 2, r
    assert ("ergrid-broker: refusing to listen on 0.0.0.0:0 without --tokens (use "
            "--insecure-no-auth to serve anyone)") in r.stderr, r.stderr
    assert r.stdout == "", "nothing may be announced: %r" % r.stdout


def test_insecure_no_auth_is_announced(cluster):
    b = cluster.broker("Downtown", extra=["--insecure-no-auth"])
    wait_until(lambda: "WARN --insecure-no-auth" in open(b.log_path).read(), 10,
               message="the warning at start")
    expect(request("GET", b.url + "/v1/units"), 200, "served without a credential")


def test_malformed_tokens_file_stops_the_start(tmp_path):
    path = tmp_path / "tokens"
    tok, line = make_token("unit", "u1")
    path.write_text("# comment\n%s\n%s unit\n" % (line, "0" * 64))
    r = run_broker(tmp_path, "--listen", "127.0.0.1:0", "--tokens", str(path))
    assert r.returncode == 2, r
    assert "ergrid-broker: %s:3: role unit needs a subject" % path in r.stderr, r.stderr
    # A secret pasted instead of its digest is refused and not echoed (one
    # of 64 hex digits would pass for a digest: it then admits nothing).
    pasted = "hand-made-" + tok[:30]
    path.write_text("%s viewer\n" % pasted)
    r = run_broker(tmp_path, "--listen", "127.0.0.1:0", "--tokens", str(path))
    assert r.returncode == 2 and ":1: the first field must be the SHA-256" in r.stderr, r
    assert pasted not in r.stderr and tok[:30] not in r.stderr
    secret = tmp_path / "secret"
    secret.write_text("short\n")
    r = run_broker(tmp_path, "--listen", "127.0.0.1:0", "--token-file", str(secret))
    assert r.returncode == 2 and "must be a token" in r.stderr, r


def test_sighup_reloads_tokens(cluster, tmp_path):
    keep, keep_line = make_token("viewer")
    gone, gone_line = make_token("operator")
    path = tmp_path / "tokens"
    path.write_text(keep_line + "\n" + gone_line + "\n")
    b = cluster.broker("Downtown", extra=["--tokens", str(path)])

    def status(tok):
        return request("GET", b.url + "/v1/units",
                       headers={"Authorization": "Bearer " + tok}).status
    assert status(keep) == 200 and status(gone) == 200
    path.write_text("not a tokens file\n")
    b.proc.send_signal(signal.SIGHUP)
    wait_until(lambda: "kept the previous credentials" in open(b.log_path).read(), 10,
               message="a bad file is refused on reload")
    assert status(gone) == 200, "the old table stays"
    path.write_text(keep_line + "\n")
    b.proc.send_signal(signal.SIGHUP)
    wait_until(lambda: status(gone) == 401, 10, message="the removed line revokes its token")
    assert status(keep) == 200
    assert b.alive()


def test_lending_across_districts_with_tokens(cluster, tmp_path):
    """Uptown borrows Downtown's fire unit: the claim (peer token, owner
    Uptown), the assignment (Downtown's peer token at the terminal), the
    report to the owner broker (the unit's token), the release (Uptown's
    peer token); another district can neither claim nor release in
    Uptown's name."""
    city = City(tmp_path)
    coord = cluster.coordinator(extra=["--poll-interval", "300ms"] + city.args("coordinator"))
    common = ["--coordinator", coord.url, "--sync-interval", "1s"]
    down = cluster.broker("Downtown", extra=common + city.args("Downtown"))
    up = cluster.broker("Uptown", extra=common + city.args("Uptown"))
    term = cluster.executor("LAFD-1", "fire", FIRE, down, extra=city.args("LAFD-1"))
    cluster.executor("EMS-3", "ems", EMS, up, extra=city.args("EMS-3"))

    def copy_at_uptown():
        r = city.call("viewer", "GET", up.url + "/v1/units/LAFD-1")
        return r.status == 200 and r.json["unit"]["status"] == "available"
    wait_until(copy_at_uptown, 30, message="Uptown sees Downtown's unit (metadata pull)")

    js = expect(city.call("dispatcher", "POST", up.url + "/v1/jobs",
                          {"id": "fire-L", "type": "building_fire", "severity": "high",
                           "required_capabilities": ["firefighting"]}), 201, "submit at Uptown")

    def lent():
        r = city.call("viewer", "GET", up.url + "/v1/jobs/fire-L")
        return r.status == 200 and r.json["job"]["unit_id"] == "LAFD-1"
    wait_until(lent, 20, message="Uptown's job assigned to the borrowed unit")
    attempt = city.call("viewer", "GET", up.url + "/v1/jobs/fire-L").json["job"]["attempt"]
    assert js["job"]["id"] == "fire-L"

    # Downtown's own peer token cannot end Uptown's claim, nor claim in its name.
    release = {"job_id": "fire-L", "attempt": attempt, "reason": "finished"}
    assert_error(city.call("Downtown", "POST", down.url + "/v1/units/LAFD-1/release", release),
                 403, "forbidden", "release of another district's claim")
    claim = {"job": {"id": "fire-X", "required_capabilities": ["firefighting"]}, "attempt": 1,
             "owner": "Uptown", "owner_url": up.url}
    assert_error(city.call("Downtown", "POST", down.url + "/v1/units/LAFD-1/claim", claim),
                 403, "forbidden", "claim in another district's name")
    unit = expect(city.call("viewer", "GET", down.url + "/v1/units/LAFD-1"), 200, "unit")["unit"]
    assert unit["status"] != "available", unit

    expect(city.call("LAFD-1", "POST", term.url + "/v1/assignments/fire-L/result",
                     {"outcome": "completed"}), 201, "report at the terminal")

    def done():
        job = city.call("viewer", "GET", up.url + "/v1/jobs/fire-L").json["job"]
        u = city.call("viewer", "GET", down.url + "/v1/units/LAFD-1").json["unit"]
        return job["status"] == "completed" and u["status"] == "available"
    wait_until(done, 20, message="completed at Uptown, the claim released at Downtown")
    blob = every_output(cluster)
    for name, tok in city.tokens.items():
        assert tok not in blob, "the token of %s leaked" % name
