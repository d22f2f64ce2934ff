"""The closest capable unit (issue 12 item 5): a terminal's station
(--station) and its fixes (POST /v1/position) reach its home broker, which
sends the nearest capable free unit to a job with location {"lat","lon"}
-- by a fresh fix, else the station, else today's order -- for its own
units and for mutual aid alike, and records why on the attempt, in the
job and in the event log, across a restart."""

import os
import socket
import subprocess
import time

from ergrid import (binary, expect, get, post, unit_status, wait_until,
                    wait_units_status)

FIRE = ["firefighting", "rescue"]
# Building A in the story: downtown Los Angeles.
SCENE = {"lat": 34.0500, "lon": -118.2500}
NEAR = "34.0600,-118.2500"   # 1.1 km north of the scene
FAR = "34.2000,-118.2500"    # 16.7 km north


def fire_job(b, job_id, location=None, caps=("firefighting",)):
    extra = {} if location is None else {"location": location}
    return b.submit_ok(list(caps), id=job_id, **extra)


def attempt_reason(job, n=None):
    att = job["attempts"][-1] if n is None else job["attempts"][n - 1]
    return att.get("reason")


def finish(b, job_id, unit_id, attempt=1):
    expect(b.result(job_id, unit_id, attempt, "contained"), 201, "result for " + job_id)


def unit_view(b, unit_id):
    return b.unit(unit_id)


def events(b):
    r = expect(get(b.url + "/v1/events?after=0&limit=1000"), 200, "events")
    return r["events"]


def assigned_event(b, job_id):
    for ev in events(b):
        if ev.get("job_id") == job_id and ev["type"] in ("job_assigned", "job_redeployed"):
            return ev
    return None


def test_station_fresh_fix_stale_fix_and_reason_everywhere(cluster):
    b = cluster.broker("Downtown", extra=["--max-fix-age", "4s"])
    far = cluster.executor("LAFD-1", "fire", FIRE, b, extra=["--station", FAR])
    cluster.executor("LAFD-2", "fire", FIRE, b, extra=["--station", NEAR])
    cluster.executor("LAFD-3", "fire", FIRE, b)  # no station, no feed
    wait_units_status(b, ["LAFD-1", "LAFD-2", "LAFD-3"])
    assert unit_view(b, "LAFD-1")["station"] == {"lat": 34.2, "lon": -118.25}
    assert "station" not in unit_view(b, "LAFD-3") and "fix" not in unit_view(b, "LAFD-3")

    # By station: LAFD-2 is 1.1 km away, LAFD-1 16.7 km; LAFD-3 (no
    # position) would win today's order by id, and does not.
    j = fire_job(b, "by-station", dict(SCENE, address="Building A"))
    assert j["unit_id"] == "LAFD-2", j
    assert attempt_reason(j) == "closest: 1.1 km, station", j
    assert b.job("by-station")["location"]["address"] == "Building A"
    ev = assigned_event(b, "by-station")
    assert ev and "closest: 1.1 km, station" in ev["detail"], ev

    # A fresh fix beats a station: LAFD-1's AVL says it is 100 m from the
    # scene (fresh: well inside the 4 s --max-fix-age while the job is sent).
    r = expect(post(far.url + "/v1/position", {"lat": 34.0509, "lon": -118.25}), 200, "fix")
    assert r["applied"] is True and r["fix"]["lat"] == 34.0509, r
    assert r["station"] == {"lat": 34.2, "lon": -118.25}, r
    wait_until(lambda: unit_view(b, "LAFD-1").get("fix", {}).get("lat") == 34.0509,
               message="LAFD-1's fix reaches its broker with a heartbeat")
    finish(b, "by-station", "LAFD-2")
    j = fire_job(b, "by-fix", SCENE)
    assert j["unit_id"] == "LAFD-1", j
    reason = attempt_reason(j)
    assert reason.startswith("closest: 0.1 km, fix ") and reason.endswith(" s old"), j

    # The fix goes stale (--max-fix-age 4s; the heartbeats resend it, older
    # each time): LAFD-1 ranks by its station again.
    finish(b, "by-fix", "LAFD-1")
    wait_until(lambda: unit_view(b, "LAFD-1")["fix"]["age_ms"] > 4500,
               message="LAFD-1's fix older than --max-fix-age")
    j = fire_job(b, "stale-fix", SCENE)
    assert j["unit_id"] == "LAFD-2" and attempt_reason(j) == "closest: 1.1 km, station", j

    # The job has no location: today's order (fewest jobs, then id).
    j = fire_job(b, "no-location", "Building B")
    assert j["unit_id"] == "LAFD-1", j
    assert attempt_reason(j) == "no job location: fewest jobs", j

    # Only the unit with no position is left: it goes, and says why.
    j = fire_job(b, "no-position", SCENE)
    assert j["unit_id"] == "LAFD-3", j
    assert attempt_reason(j) == "no position: fewest jobs", j

    # kill -9 and restart: reasons and stations are in the store; the fix
    # (memory only) comes back with the next heartbeat.
    b.kill9()
    b.restart()
    assert attempt_reason(b.job("by-station")) == "closest: 1.1 km, station"
    assert attempt_reason(b.job("by-fix")).startswith("closest: 0.1 km, fix ")
    assert attempt_reason(b.job("no-position")) == "no position: fewest jobs"
    assert unit_view(b, "LAFD-2")["station"] == {"lat": 34.06, "lon": -118.25}
    wait_until(lambda: "fix" in unit_view(b, "LAFD-1"), message="fix back after restart")


def test_missing_positions_keep_todays_order(cluster):
    b = cluster.broker("Downtown")
    for uid in ("LAFD-2", "LAFD-1"):
        cluster.executor(uid, "fire", FIRE, b)
    wait_units_status(b, ["LAFD-1", "LAFD-2"])
    j = fire_job(b, "first", SCENE)
    assert j["unit_id"] == "LAFD-1" and attempt_reason(j) == "no position: fewest jobs", j
    j = fire_job(b, "second", SCENE)
    assert j["unit_id"] == "LAFD-2" and attempt_reason(j) == "no position: fewest jobs", j


def _free_ports(n):
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def test_mutual_aid_borrows_the_closest_unit_of_another_district(cluster):
    pd, pw = _free_ports(2)
    sync = ["--sync-interval", "200ms"]
    dt = cluster.broker("Downtown", extra=sync + ["--peer", "Westside=http://127.0.0.1:%d" % pw],
                        start=False)
    ws = cluster.broker("Westside", extra=sync + ["--peer", "Downtown=http://127.0.0.1:%d" % pd],
                        start=False)
    dt.start_or_fail(pd)
    ws.start_or_fail(pw)
    cluster.executor("LAFD-1", "fire", FIRE, dt, extra=["--station", NEAR])
    cluster.executor("LAFD-5", "fire", FIRE, ws, extra=["--station", FAR])
    west_near = cluster.executor("LAFD-6", "fire", FIRE, ws, extra=["--station", FAR])
    wait_units_status(dt, ["LAFD-1"])
    wait_units_status(ws, ["LAFD-5", "LAFD-6"])
    # LAFD-6's fresh fix puts it 3.3 km from the scene; LAFD-5 (first by
    # today's order) stays at its station, 16.7 km away.
    expect(post(west_near.url + "/v1/position", {"lat": 34.08, "lon": -118.25}), 200, "fix")

    def synced():
        r = get(dt.url + "/v1/units/LAFD-6")
        return (r.status == 200 and r.json["unit"].get("fix", {}).get("lat") == 34.08
                and r.json["unit"]["status"] == "available"
                and get(dt.url + "/v1/units/LAFD-5").status == 200)
    wait_until(synced, message="Downtown's copy of LAFD-6 shows its fix")

    own = fire_job(dt, "own-first", SCENE)
    assert own["unit_id"] == "LAFD-1", own  # own district first, nearer too
    aid = fire_job(dt, "mutual-aid", SCENE)
    assert aid["unit_id"] == "LAFD-6", aid
    assert aid["attempts"][-1]["district"] == "Westside", aid
    reason = attempt_reason(aid)
    assert reason.startswith("closest: 3.3 km, fix ") and reason.endswith(" s old"), aid
    ev = assigned_event(dt, "mutual-aid")
    assert ev and "mutual aid from Westside" in ev["detail"] and "closest: 3.3 km" in ev["detail"], ev

    # The city sees why: Westside's copy of the job carries the reason.
    def copy_reason():
        r = get(ws.url + "/v1/jobs/mutual-aid")
        return r.status == 200 and r.json["job"]["attempts"] and \
            r.json["job"]["attempts"][-1]["reason"] == reason
    wait_until(copy_reason, message="Westside's copy of the job shows the reason")


def test_position_endpoint_takes_fixed_at_and_keeps_the_newest(cluster):
    b = cluster.broker("Downtown")
    ex = cluster.executor("LAFD-1", "fire", FIRE, b, extra=["--station", NEAR])
    wait_units_status(b, ["LAFD-1"])
    url = ex.url + "/v1/position"
    now = time.time()
    iso = lambda t: time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + "Z"  # noqa: E731
    r = expect(post(url, {"lat": 34.0, "lon": -118.0, "fixed_at": iso(now - 20)}), 200, "fix")
    assert r["applied"] and r["fix"]["age_ms"] >= 19000, r
    # An older fix, delivered late, does not replace it.
    r = expect(post(url, {"lat": 1.0, "lon": 1.0, "fixed_at": iso(now - 60)}), 200, "older")
    assert r["applied"] is False and r["fix"]["lat"] == 34.0, r
    # An offset is honoured: the same instant written in Pacific time.
    local = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now - 10 - 8 * 3600)) + "-08:00"
    r = expect(post(url, {"lat": 34.5, "lon": -118.5, "fixed_at": local}), 200, "offset")
    assert r["applied"] and 9000 <= r["fix"]["age_ms"] < 60000, r
    wait_until(lambda: b.unit("LAFD-1").get("fix", {}).get("lat") == 34.5,
               message="the newest fix at the broker")
    # The broker dates it by its age, not the terminal's clock.
    assert b.unit("LAFD-1")["fix"]["age_ms"] >= 9000


def test_station_flag_out_of_range_exits_2(tmp_path):
    exe = binary("executor")
    base = [exe, "--id", "LAFD-1", "--kind", "fire", "--capabilities", "firefighting",
            "--broker", "http://127.0.0.1:9", "--listen", "127.0.0.1:0",
            "--data-dir", str(tmp_path)]
    for bad in ("91,0", "0,-180.5", "east,0", "34.05", "34.05,-118.2x", "nan,0"):
        p = subprocess.run(base + ["--station", bad], capture_output=True, text=True, timeout=20)
        assert p.returncode == 2, (bad, p.returncode, p.stderr)
        assert "--station" in p.stderr, (bad, p.stderr)
    assert os.path.isdir(str(tmp_path))


def test_broker_max_fix_age_flag_is_checked(tmp_path):
    p = subprocess.run([binary("broker"), "--id", "Downtown", "--listen", "127.0.0.1:0",
                        "--data-dir", str(tmp_path), "--max-fix-age", "soon"],
                       capture_output=True, text=True, timeout=20)
    assert p.returncode == 2 and "--max-fix-age" in p.stderr, p


def test_unit_status_helper_sees_positions(cluster):
    """GET /v1/units lists station and fix too (the city view shows them)."""
    b = cluster.broker("Downtown")
    cluster.executor("LAFD-1", "fire", FIRE, b, extra=["--station", NEAR])
    wait_units_status(b, ["LAFD-1"])
    assert unit_status(b, "LAFD-1") == "available"
    units = {u["id"]: u for u in b.units()}
    assert units["LAFD-1"]["station"] == {"lat": 34.06, "lon": -118.25}
