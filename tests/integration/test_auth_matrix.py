"""The issue 10 role matrix: every route of every service (broker,
executor, coordinator) tried by every kind of caller, the expected status
of each cell read from tests/auth/matrix.tsv (the table is the data, this
file only drives it). A refusal must carry the error shape (401 with the
Bearer challenge), be counted in /metrics, and leave every service's state
exactly as it was."""

import json
import os
import re

from authcity import (Credential, call, check_refusal, city_tokens, hup, is_refusal,
                      refusals_metric, secrets_seen, secure_harness, snapshot, snapshot_diff)
from conftest import FIRE
from ergrid import wait_until, wait_units_status

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
MATRIX = os.path.join(REPO, "tests", "auth", "matrix.tsv")
ROUTE_FILES = {k: os.path.join(REPO, "services", k, "routes.c")
               for k in ("broker", "executor", "coordinator")}
ROUTE_RE = re.compile(r'\{\s*"(GET|POST|PUT|DELETE|PATCH)",\s*"(/[^"]*)"')
# The refusal reason of each unauthenticated caller (ergrid_auth_refusals_total).
REASON = {"none": "missing", "malformed": "malformed", "unknown": "unknown", "revoked": "unknown"}
CALLERS = ("none", "malformed", "unknown", "revoked", "viewer", "dispatcher", "unit",
           "unit_other", "peer", "peer_other", "operator")


def load_matrix():
    rows = []
    header = None
    with open(MATRIX) as f:
        for n, line in enumerate(f, 1):
            if line.startswith("#") or not line.strip():
                continue
            cols = line.rstrip("\n").split("\t")
            if header is None:
                header = cols
                assert tuple(header[7:]) == CALLERS, "matrix.tsv callers: %r" % header
                continue
            assert len(cols) == len(header), "matrix.tsv:%d: %d columns" % (n, len(cols))
            row = dict(zip(header, cols))
            row["line"] = n
            row["expect"] = {c: int(row[c]) for c in CALLERS}
            rows.append(row)
    return rows


def route_tables():
    out = set()
    for kind, path in ROUTE_FILES.items():
        with open(path) as f:
            for method, pattern in ROUTE_RE.findall(f.read()):
                out.add((kind, method, pattern))
    return out


def test_matrix_covers_every_route_of_every_service():
    table = {(r["service"], r["method"], r["route"]) for r in load_matrix()}
    routes = route_tables()
    assert routes, "no route found in %s" % list(ROUTE_FILES.values())
    assert sorted(routes - table) == [], "routes with no line in matrix.tsv"
    assert sorted(table - routes) == [], "matrix.tsv lines for routes no service has"


def malformed_headers(valid):
    """Authorization values that are not `Bearer <token>`; several carry a
    valid operator secret, which must not help."""
    return ["Bearer", "Bearer ", "Basic dXNlcjpwYXNzd29yZA==", valid, "Token " + valid,
            "Bearer " + valid + " " + valid, "Bearer\t\t"]


def _start(cluster, monkeypatch, tmp_path):
    tokens = city_tokens(tmp_path, ["Downtown", "Westside", "Valley"], ["LAFD-1", "LAFD-2"])
    tokens.add("revoked", "operator", "gone")
    secure_harness(monkeypatch, tokens, tokens["operator"])
    coord = cluster.coordinator()
    broker = cluster.broker("Downtown", extra=["--coordinator", coord.url])
    # with the test-only fault hooks, so their operator-only routes are in the matrix
    ex = cluster.executor("LAFD-1", "fire", FIRE, broker, extra=["--fault-hooks"])
    wait_units_status(broker, ["LAFD-1"], "available")
    # A queued job no unit can take: what a forged cancel would hit.
    r = call("POST", broker.url + "/v1/jobs", tokens["dispatcher"],
             body={"id": "standing-job", "type": "hazmat_spill", "severity": "low",
                   "required_capabilities": ["hazmat_decon"]})
    assert r.status == 201 and r.json["job"]["status"] == "queued", r
    services = {"broker": broker, "executor": ex, "coordinator": coord}

    # The coordinator merges the broker's events as it polls: let it catch up
    # so the snapshots below only move when someone changes something.
    def merged():
        r = call("GET", coord.url + "/v1/events?after=0&limit=1000", tokens["operator"])
        assert r.status == 200, r
        assert any(e["job_id"] == "standing-job" for e in r.json["events"]), r.json
        return True
    wait_until(merged, message="the coordinator shows the broker's events")

    # The revoked credential works until its line is removed and SIGHUP sent.
    for s in services.values():
        r = call("GET", s.url + "/metrics", tokens["revoked"])
        assert r.status == 200, "%s before revocation: %r" % (s, r)
    tokens.revoke("revoked")
    hup(services.values())
    for s in services.values():
        wait_until(lambda s=s: call("GET", s.url + "/metrics", tokens["revoked"]).status == 401,
                   message="%s refuses the revoked token after SIGHUP" % s)
    return tokens, services


def _callers(tokens):
    unknown = Credential("unknown", "operator")  # well-formed, in no file
    return {
        "none": [None],
        "malformed": malformed_headers(tokens["operator"].token),
        "unknown": [unknown],
        "revoked": [tokens["revoked"]],
        "viewer": [tokens["viewer"]],
        "dispatcher": [tokens["dispatcher"]],
        "unit": [tokens["unit-LAFD-1"]],
        "unit_other": [tokens["unit-LAFD-2"]],
        "peer": [tokens["peer-Westside"]],
        "peer_other": [tokens["peer-Valley"]],
        "operator": [tokens["operator"]],
    }


def test_role_matrix_every_route_every_caller(cluster, monkeypatch, tmp_path, capsys):
    tokens, services = _start(cluster, monkeypatch, tmp_path)
    callers = _callers(tokens)
    op = tokens["operator"]
    everyone = list(services.values())
    base = {k: refusals_metric(s.url, op) for k, s in services.items()}
    issued = {k: 0 for k in services}
    reasons = {"missing": 0, "malformed": 0, "unknown": 0, "role|subject": 0}

    rows = load_matrix()
    wrong, changed = [], []
    cells = requests = refusals = refused_writes = 0
    state = None
    for row in rows:
        svc = services[row["service"]]
        write = row["method"] != "GET"
        live_target = row["target"] if row["live_target"] == "=" else row["live_target"]
        for caller in CALLERS:
            cells += 1
            want = row["expect"][caller]
            for cred in callers[caller]:
                requests += 1
                refused = want in (401, 403)
                if write and refused and state is None:
                    state = snapshot(everyone, op)
                target, body = (live_target, row["live_body"]) if refused else \
                    (row["target"], row["body"])
                what = "%s %s %s as %s%s (matrix.tsv:%d)" % (
                    row["service"], row["method"], target, caller,
                    "" if caller != "malformed" else " [form %d]" % callers[caller].index(cred),
                    row["line"])
                r = call(row["method"], svc.url + target, cred,
                         body=None if body == "-" else json.loads(body))
                if r.status != want:
                    wrong.append("%s: expected %d, got %d %r" % (what, want, r.status, r.raw[:160]))
                if is_refusal(r):
                    refusals += 1
                    issued[row["service"]] += 1
                    if r.status == want:
                        try:
                            check_refusal(r, want, what)
                            if want == 401:
                                # the spec's challenge: invalid_token unless none was sent
                                bad = 'error="invalid_token"' in r.headers["www-authenticate"]
                                assert bad == (caller != "none"), \
                                    "%s: WWW-Authenticate %r" % (what, r.headers["www-authenticate"])
                        except AssertionError as e:
                            wrong.append(str(e))
                        reasons[REASON.get(caller, "role|subject")] += 1
                if write:
                    if refused:
                        refused_writes += 1
                        after = snapshot(everyone, op)
                        diff = snapshot_diff(state, after)
                        if diff:
                            changed.append("%s changed %s" % (what, diff))
                        state = after
                    else:
                        state = None  # an allowed write may move things; take a new one

    # every refusal was counted, by the service that refused it and by reason
    counted = {"missing": 0, "malformed": 0, "unknown": 0, "role|subject": 0}
    for k, s in services.items():
        total, by_reason = refusals_metric(s.url, op)
        if total - base[k][0] != issued[k]:
            wrong.append("%s counted %d refusals in ergrid_auth_refusals_total, %d were issued"
                         % (k, total - base[k][0], issued[k]))
        for reason, n in by_reason.items():
            key = reason if reason in counted else "role|subject"
            counted[key] += n - base[k][1].get(reason, 0)
    if counted != reasons:
        wrong.append("refusals by reason: counted %r, issued %r" % (counted, reasons))
    leaked = secrets_seen(everyone, tokens)
    with capsys.disabled():
        print("\nauth matrix: %d routes x %d callers = %d cells, %d requests "
              "(malformed headers: %d forms), %d refusals, %d refused writes, "
              "%d state changes after a refusal, %d cells wrong"
              % (len(rows), len(CALLERS), cells, requests, len(callers["malformed"]), refusals,
                 refused_writes, len(changed), len(wrong)))
    assert not changed, "state changed after a refusal:\n" + "\n".join(changed)
    assert not wrong, "%d matrix cells wrong:\n%s" % (len(wrong), "\n".join(wrong))
    assert not leaked, "tokens written to logs: %r" % leaked
