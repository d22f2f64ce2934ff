"""Unit status lifecycle (issue 12 item 4): a crew moves its unit through
dispatched -> acknowledged -> en_route -> on_scene -> (transporting ->
at_hospital) -> cleared at its terminal; the terminal records each step
durably and forwards it, in order, to the unit's home broker, which keeps
the time of each step per attempt, shows it in GET /v1/units (city-wide
through the sync) and in the job, refuses illegal steps with 409, frees
the unit on cleared and measures turnout and travel in /metrics."""

import re
import time

import ergrid
from ergrid import assert_error, expect, get, post, wait_until
from test_city import SYNC_FAST, SYNC_WAIT, make_city, wait_remote_unit

FIRE = ["firefighting", "rescue"]


def now_ms():
    return int(time.time() * 1000)


def step(executor, job_id, status, at=None):
    body = {"status": status}
    if at is not None:
        body["at"] = at
    return post("%s/v1/assignments/%s/status" % (executor.url, job_id), body)


def broker_step(broker, unit_id, job_id, attempt, status, at=None):
    body = {"attempt": attempt, "status": status}
    if at is not None:
        body["at"] = at
    return post("%s/v1/units/%s/assignments/%s/status" % (broker.url, unit_id, job_id), body)


def wait_crew_status(broker, unit_id, job_id, status, timeout=30.0):
    def ok():
        cs = broker.unit(unit_id).get("crew_status")
        assert cs and cs["job_id"] == job_id and cs["status"] == status, \
            "%s at %s: crew_status %r, want %s on %s" % (unit_id, broker.name, cs, status, job_id)
        return cs
    return wait_until(ok, timeout, message="%s %s on %s at %s" % (unit_id, status, job_id,
                                                                 broker.name))


def metric_lines(broker, name):
    r = get(broker.url + "/metrics")
    assert r.status == 200, r
    text = r.raw.decode()
    return {m.group(1): float(m.group(2))
            for m in re.finditer(r"^(%s\S*) (\S+)$" % re.escape(name), text, re.M)}


def test_full_walk_times_visible_in_units_job_events_and_metrics(district):
    d = district([("EMS-3", "ems", ["medical", "transport"])])
    b, ex = d.broker, d["EMS-3"]
    j = b.submit_ok(["medical"], id="walk-1")
    assert j["unit_id"] == "EMS-3", j
    # Dispatched, nothing reported yet: the unit shows it, the job does not.
    cs = wait_crew_status(b, "EMS-3", "walk-1", "dispatched")
    assert cs["attempt"] == 1 and cs["times_ms"] == {}, cs

    t0 = now_ms()
    walk = [("acknowledged", t0 + 1000), ("en_route", t0 + 20000), ("on_scene", t0 + 260000),
            ("transporting", t0 + 900000), ("at_hospital", t0 + 1500000)]
    for status, at in walk:
        r = step(ex, "walk-1", status, at)
        expect(r, 201, "step %s" % status)
        assert r.json["crew_status"]["status"] == status, r
        assert r.json["crew_status"]["times_ms"][status] == at, r
        wait_crew_status(b, "EMS-3", "walk-1", status)
        # Every step before cleared keeps the unit busy.
        assert b.unit("EMS-3")["status"] == "busy"

    # The terminal counts a step once it has the broker's answer, which
    # may come a moment after the broker shows it.
    def outbox_empty():
        m = metric_lines(ex, "ergrid_executor_status_steps")
        assert m["ergrid_executor_status_steps_queued"] == 0, m
        assert m['ergrid_executor_status_steps_total{result="delivered"}'] == len(walk), m
        assert m['ergrid_executor_status_steps_total{result="dropped"}'] == 0, m
        return True
    wait_until(outbox_empty, 30, message="the terminal's outbox empties")
    cs = b.unit("EMS-3")["crew_status"]
    for status, at in walk:
        assert cs["times_ms"][status] == at, cs
    dispatched = cs["times_ms"]["dispatched"]
    assert t0 - 60000 < dispatched <= t0 + 1000, cs  # when the terminal took it
    att = b.job("walk-1")["attempts"][0]
    assert att["crew_status"] == "at_hospital" and att["times_ms"] == cs["times_ms"], att

    # Each step is an event in the log, in the crew's order.
    evs = get(b.url + "/v1/events").json["events"]
    steps = [e for e in evs if e["type"] == "unit_status"]
    assert [e["detail"].split(" -> ")[1].split()[0] for e in steps] == [s for s, _ in walk], steps
    assert all(e["unit_id"] == "EMS-3" and e["job_id"] == "walk-1" and e["attempt"] == 1
               for e in steps), steps

    # Turnout (dispatched -> en_route) and travel (en_route -> on_scene).
    m = metric_lines(b, "ergrid_unit_travel_seconds")
    assert m['ergrid_unit_travel_seconds_count{district="Downtown"}'] == 1, m
    assert m['ergrid_unit_travel_seconds_sum{district="Downtown"}'] == 240, m
    assert m['ergrid_unit_travel_seconds_bucket{district="Downtown",le="180"}'] == 0, m
    assert m['ergrid_unit_travel_seconds_bucket{district="Downtown",le="240"}'] == 1, m
    assert m['ergrid_unit_travel_seconds_bucket{district="Downtown",le="+Inf"}'] == 1, m
    m = metric_lines(b, "ergrid_unit_turnout_seconds")
    assert m['ergrid_unit_turnout_seconds_count{district="Downtown"}'] == 1, m
    turnout = (t0 + 20000 - dispatched) / 1000.0
    assert abs(m['ergrid_unit_turnout_seconds_sum{district="Downtown"}'] - turnout) < 0.01, m

    # Cleared frees the unit; the crew may still report the outcome (FCFS:
    # any unit that held an attempt may report, DESIGN 3.1).
    expect(step(ex, "walk-1", "cleared", t0 + 2000000), 201)
    wait_until(lambda: b.unit("EMS-3")["status"] == "available", 30,
               message="EMS-3 available after cleared")
    x = b.job("walk-1")
    assert x["status"] == "assigned" and x["attempts"][0]["state"] == "revoked", x
    assert x["attempts"][0]["crew_status"] == "cleared", x
    wait_until(lambda: ex.assignment("walk-1")["state"] == "revoked", 30,
               message="the terminal is told its attempt ended")
    assert ex.assignment("walk-1").get("revoke_reason") in (None, "cleared")
    r = ex.report("walk-1", "treated")
    expect(r, 201, "report after cleared")
    assert r.json["accepted"] is True, r
    assert b.job("walk-1")["status"] == "completed"


def test_illegal_steps_refused_exact_retry_ok(district):
    d = district([("LAFD-1", "fire", FIRE)])
    b, ex = d.broker, d["LAFD-1"]
    b.submit_ok(["firefighting"], id="ill-1")
    at = now_ms()
    expect(step(ex, "ill-1", "en_route", at), 201)  # acknowledged skipped: legal
    wait_crew_status(b, "LAFD-1", "ill-1", "en_route")
    before_unit = b.unit("LAFD-1")
    before_events = len(get(b.url + "/v1/events").json["events"])

    # Backwards, the transport branch from en_route, and a hospital before
    # a transport: refused at the terminal, naming both steps.
    for bad in ("acknowledged", "dispatched", "transporting", "at_hospital"):
        r = step(ex, "ill-1", bad)
        assert_error(r, 409, "illegal_step", "terminal %s after en_route" % bad)
        msg = r.json["error"]["message"]
        assert "en_route" in msg and bad in msg, msg
        r = broker_step(b, "LAFD-1", "ill-1", 1, bad)
        assert_error(r, 409, "illegal_step", "broker %s after en_route" % bad)
        msg = r.json["error"]["message"]
        assert "en_route" in msg and bad in msg, msg

    # The current step again is a retry: 200, nothing changes.
    r = step(ex, "ill-1", "en_route")
    expect(r, 200, "repeat at the terminal")
    assert r.json["crew_status"]["times_ms"]["en_route"] == at, r
    r = broker_step(b, "LAFD-1", "ill-1", 1, "en_route", at)
    expect(r, 200, "exact retry at the broker")
    assert r.json["crew_status"]["times_ms"]["en_route"] == at, r
    # The same step at another time is not a retry.
    assert_error(broker_step(b, "LAFD-1", "ill-1", 1, "en_route", at + 5), 409, "illegal_step")
    # Not the unit's attempt, or not its job at all.
    assert_error(broker_step(b, "LAFD-1", "ill-1", 2, "on_scene"), 409, "conflict")
    assert_error(broker_step(b, "LAFD-1", "nope-1", 1, "on_scene"), 409, "conflict")
    assert_error(step(ex, "nope-1", "on_scene"), 404, "not_found")

    after = b.unit("LAFD-1")
    assert after["crew_status"] == before_unit["crew_status"], (before_unit, after)
    assert after["status"] == "busy" and after["jobs"] == ["ill-1"], after
    assert len(get(b.url + "/v1/events").json["events"]) == before_events
    m = metric_lines(b, "ergrid_unit_status_refused_total")
    # four illegal steps, one changed retry, two attempts it does not hold
    assert m["ergrid_unit_status_refused_total"] == 7, m

    # After cleared nothing but cleared follows.
    expect(step(ex, "ill-1", "cleared"), 201)
    wait_crew_status_gone = lambda: b.unit("LAFD-1")["status"] == "available"  # noqa: E731
    wait_until(wait_crew_status_gone, 30, message="LAFD-1 free after cleared")
    assert_error(step(ex, "ill-1", "on_scene"), 409, "illegal_step")
    assert_error(broker_step(b, "LAFD-1", "ill-1", 1, "on_scene"), 409, "illegal_step")


def test_cleared_frees_unit_for_queued_job(district):
    d = district([("LAFD-1", "fire", FIRE)])
    b, ex = d.broker, d["LAFD-1"]
    b.submit_ok(["firefighting"], id="first-1")
    q = b.submit_ok(["firefighting"], id="second-1", severity="low")
    assert q["status"] == "queued", q
    for status in ("acknowledged", "en_route", "on_scene"):
        expect(step(ex, "first-1", status), 201)
    wait_crew_status(b, "LAFD-1", "first-1", "on_scene")
    # on_scene is busy: the queued job still waits.
    assert b.job("second-1")["status"] == "queued"
    assert b.unit("LAFD-1")["status"] == "busy"

    expect(step(ex, "first-1", "cleared"), 201)

    def assigned():
        x = b.job("second-1")
        assert x["status"] == "assigned" and x["unit_id"] == "LAFD-1", x
        return x
    wait_until(assigned, 30, message="the queued job goes to the cleared unit")
    a = ex.assignment("second-1")
    assert a and a["state"] == "active", a
    assert ex.assignment("first-1")["state"] == "revoked"
    # The new dispatch starts over.
    cs = wait_crew_status(b, "LAFD-1", "second-1", "dispatched")
    assert cs["times_ms"] == {}, cs
    first = b.job("first-1")
    assert first["status"] == "assigned" and first["attempts"][0]["state"] == "revoked", first


def test_step_reaches_home_after_executor_kill9(district):
    # A long failure timeout: the terminal is down for a while on purpose,
    # and its job must not move meanwhile.
    d = district([("LAFD-1", "fire", FIRE)], failure_timeout="60s")
    b, ex = d.broker, d["LAFD-1"]
    b.submit_ok(["firefighting"], id="k9-1")
    t0 = now_ms()
    expect(step(ex, "k9-1", "acknowledged", t0), 201)
    wait_crew_status(b, "LAFD-1", "k9-1", "acknowledged")

    # The broker is down for the next step; the terminal has it on disk
    # and dies before it could deliver it.
    b.kill9()
    r = step(ex, "k9-1", "en_route", t0 + 30000)
    expect(r, 201, "en_route while the broker is down")
    assert r.json["crew_status"]["undelivered"] >= 1, r
    ex.kill9()
    b.restart()
    assert b.unit("LAFD-1")["crew_status"]["status"] == "acknowledged"

    ex.restart(allow_new_port=True)
    cs = wait_crew_status(b, "LAFD-1", "k9-1", "en_route")
    assert cs["times_ms"]["en_route"] == t0 + 30000, cs
    assert cs["times_ms"]["acknowledged"] == t0, cs
    # The terminal kept the step too, and goes on from it.
    r = step(ex, "k9-1", "en_route")
    expect(r, 200, "en_route again after the restart")
    expect(step(ex, "k9-1", "on_scene", t0 + 90000), 201)
    cs = wait_crew_status(b, "LAFD-1", "k9-1", "on_scene")
    assert cs["times_ms"]["on_scene"] == t0 + 90000, cs
    # And the home broker keeps them across its own restart.
    b.kill9()
    b.restart()
    assert b.unit("LAFD-1")["crew_status"]["times_ms"] == cs["times_ms"]
    assert b.job("k9-1")["attempts"][0]["times_ms"] == cs["times_ms"]


GRID_AID = [
    ("Downtown", [("LAPD-7", "police", ["law_enforcement"])]),
    ("Westside", [("LAFD-5", "fire", FIRE)]),
]


def test_borrowed_unit_steps_at_home_and_visible_at_owner(cluster):
    city = make_city(cluster, GRID_AID, sync_interval=SYNC_FAST)
    dt, ws = city["Downtown"], city["Westside"]
    j = dt.submit_ok(["firefighting"], id="aid-st-1", severity="critical")
    assert j["unit_id"] == "LAFD-5" and j["attempts"][0]["district"] == "Westside", j
    ex = city.ex("LAFD-5")
    t0 = now_ms()
    expect(step(ex, "aid-st-1", "en_route", t0), 201)
    # The home records it (it is the authority over its unit) ...
    cs = wait_crew_status(ws, "LAFD-5", "aid-st-1", "en_route")
    assert cs["times_ms"]["en_route"] == t0, cs
    # ... and the owner sees it in the unit's synced copy.
    u = wait_until(lambda: _remote_step(dt, "LAFD-5", "en_route"), SYNC_WAIT,
                   message="Downtown sees LAFD-5 en_route")
    assert u["crew_status"]["job_id"] == "aid-st-1" and u["crew_status"]["times_ms"] == \
        cs["times_ms"], u
    if city.coordinator is not None:
        # The coordinator's city view passes the home's unit through.
        def in_overview():
            ov = expect(get(city.coordinator.url + "/v1/overview"), 200, "overview")
            units = [u for d in ov["districts"] if d["id"] == "Westside" for u in d["units"]]
            u = [x for x in units if x["id"] == "LAFD-5"]
            assert u and (u[0].get("crew_status") or {}).get("status") == "en_route", units
            return u[0]
        wait_until(in_overview, SYNC_WAIT, message="the overview shows LAFD-5 en_route")
    expect(step(ex, "aid-st-1", "on_scene", t0 + 60000), 201)
    wait_until(lambda: _remote_step(dt, "LAFD-5", "on_scene"), SYNC_WAIT,
               message="Downtown sees LAFD-5 on_scene")
    # The home measured the borrowed unit's travel.
    m = metric_lines(ws, "ergrid_unit_travel_seconds")
    assert m['ergrid_unit_travel_seconds_count{district="Westside"}'] == 1, m
    # A borrowed unit stays busy (the claiming district releases it); its
    # report still goes to the owner.
    assert ws.unit("LAFD-5")["status"] == "busy"
    r = ex.report("aid-st-1", "contained")
    expect(r, 201)
    wait_remote_unit(dt, "LAFD-5", "Westside", status="available")


def _remote_step(broker, unit_id, status):
    u = get(broker.url + "/v1/units/" + unit_id).json["unit"]
    assert u["authoritative"] is False, u
    assert (u.get("crew_status") or {}).get("status") == status, u
    return u
