"""The reference scenario of DESIGN.md section 1 on the real grid: a
coordinator, three district brokers and ten unit executors, every step
checked through the REST API only.

  Downtown  LAFD-1, LAFD-2 fire; LAPD-7 police; EMS-3 ems
  Westside  LAFD-5 fire; LAPD-12 police; EMS-8 ems
  Valley    LAFD-9 fire; LAPD-15 police; EMS-11 ems
"""

from conftest import EMS, FIRE, POLICE
from ergrid import assert_error, check_job_shape, check_vclock, get, result_core, wait_until
from test_city import (SYNC_FAST, SYNC_WAIT, make_city, remote_job, wait_remote_job,
                       wait_remote_unit)

GRID = [
    ("Downtown", [("LAFD-1", "fire", FIRE), ("LAFD-2", "fire", FIRE),
                  ("LAPD-7", "police", POLICE), ("EMS-3", "ems", EMS)]),
    ("Westside", [("LAFD-5", "fire", FIRE), ("LAPD-12", "police", POLICE),
                  ("EMS-8", "ems", EMS)]),
    ("Valley", [("LAFD-9", "fire", FIRE), ("LAPD-15", "police", POLICE),
                ("EMS-11", "ems", EMS)]),
]
FIRE_UNITS = {"LAFD-1", "LAFD-2", "LAFD-5", "LAFD-9"}


def _fire(broker, building):
    job = broker.submit_ok(["firefighting"], severity="critical", type="building_fire",
                           id="building-" + building, location="Building " + building)
    check_job_shape(job)
    assert job["owner"] == broker.name and job["authoritative"] is True, job
    return job


def _all_units(city):
    """Every unit as its home broker (the authority) shows it."""
    out = {}
    for uid, home in city.homes.items():
        out[uid] = city[home].unit(uid)
    return out


def _no_unit_doubly_assigned(city):
    for uid, u in _all_units(city).items():
        assert len(u["jobs"]) <= 1, "%s holds %s" % (uid, u["jobs"])
        act = [a for a in city.ex(uid).assignments() if a["state"] == "active"] \
            if city.ex(uid).alive() else []
        assert len(act) <= 1, "%s's executor holds %s" % (uid, act)


def _held_by(city, unit_id, job_id, owner, attempt):
    def ok():
        a = city.ex(unit_id).assignment(job_id)
        assert a is not None and a["state"] == "active", a
        return a
    a = wait_until(ok, message="%s's executor holds %s" % (unit_id, job_id))
    assert (a["attempt"], a["owner"], a["owner_url"]) == (attempt, owner, city[owner].url), a
    check_vclock(a["vclock"], "assignment vclock")
    return a


def _run_until_two_reports(city):
    """Steps 1 to 3 of the story; returns (lost unit, Building C job)."""
    dt, ws, va = city["Downtown"], city["Westside"], city["Valley"]

    # 1. 15:15 Building A, critical, at Downtown: a free Downtown fire unit.
    a = _fire(dt, "A")
    assert a["status"] == "assigned" and a["unit_id"] in ("LAFD-1", "LAFD-2"), a
    assert a["attempts"] == [{"attempt": 1, "unit_id": a["unit_id"], "district": "Downtown",
                              "state": "active", "reason": "no job location: fewest jobs"}], a
    first = a["unit_id"]
    _held_by(city, first, "building-A", "Downtown", 1)
    for b in (ws, va):
        wait_remote_unit(b, first, "Downtown", status="busy", jobs=["building-A"])
        wait_remote_job(b, "building-A", "Downtown",
                        lambda j: j["status"] == "assigned" and j["unit_id"] == first,
                        what="assigned to %s" % first)

    # 2. Fire spreads to Building B, entering at Westside: never a unit busy
    #    anywhere in the city -- its own LAFD-5 is free, so LAFD-5.
    bj = _fire(ws, "B")
    assert bj["status"] == "assigned" and bj["unit_id"] == "LAFD-5", bj
    assert bj["attempts"] == [{"attempt": 1, "unit_id": "LAFD-5", "district": "Westside",
                               "state": "active", "reason": "no job location: fewest jobs"}], bj
    _held_by(city, "LAFD-5", "building-B", "Westside", 1)
    assert city.ex(first).assignment("building-B") is None
    _no_unit_doubly_assigned(city)
    for b in (dt, va):
        wait_remote_unit(b, "LAFD-5", "Westside", status="busy", jobs=["building-B"])

    # 3. Building C at Downtown: the other Downtown fire unit.
    other = ({"LAFD-1", "LAFD-2"} - {first}).pop()
    c = _fire(dt, "C")
    assert c["status"] == "assigned" and c["unit_id"] == other, c
    assert c["attempts"] == [{"attempt": 1, "unit_id": other, "district": "Downtown",
                              "state": "active", "reason": "no job location: fewest jobs"}], c
    _held_by(city, other, "building-C", "Downtown", 1)
    _no_unit_doubly_assigned(city)
    for b in (ws, va):
        wait_remote_unit(b, other, "Downtown", status="busy", jobs=["building-C"])

    #    Its equipment fails: the process dies. Downtown notices and moves
    #    Building C to a unit that can fight fire. Its own fire units and
    #    Westside's are busy, so it is mutual aid from Valley: LAFD-9.
    city.ex(other).kill9()

    def moved():
        j = dt.job("building-C")
        assert len(j["attempts"]) == 2 and j["status"] == "assigned", j
        return j
    c = wait_until(moved, SYNC_WAIT, message="Downtown moves Building C off the dead %s" % other)
    check_job_shape(c)
    assert [(x["attempt"], x["unit_id"], x["district"], x["state"]) for x in c["attempts"]] == \
        [(1, other, "Downtown", "revoked"), (2, "LAFD-9", "Valley", "active")], c
    assert (c["unit_id"], c["attempt"]) == ("LAFD-9", 2), c
    assert all(x["unit_id"] in FIRE_UNITS for x in c["attempts"]), \
        "Building C went to a unit that cannot fight fire: %r" % c
    assert dt.unit(other)["status"] == "lost", dt.unit(other)
    _held_by(city, "LAFD-9", "building-C", "Downtown", 2)
    u9 = va.unit("LAFD-9")
    assert u9["status"] == "busy" and u9["jobs"] == ["building-C"] and \
        u9["authoritative"] is True, u9
    for uid in ("EMS-3", "LAPD-7", "EMS-8", "LAPD-12", "EMS-11", "LAPD-15"):
        assert city.ex(uid).assignments() == [], "%s got work: %r" % (uid, city.ex(uid).assignments())
    _no_unit_doubly_assigned(city)
    # the others see where Building C is now
    for b in (ws, va):
        wait_remote_job(b, "building-C", "Downtown",
                        lambda j: j["unit_id"] == "LAFD-9" and j["attempt"] == 2,
                        what="moved to LAFD-9")
    wait_remote_unit(ws, "LAFD-9", "Valley", status="busy", jobs=["building-C"])
    for b in (ws, va):
        wait_remote_unit(b, other, "Downtown", status="lost")

    # 4. The lost unit comes back (same data dir) and learns Building C was
    #    moved; it keeps the assignment, marked revoked.
    city.ex(other).restart(allow_new_port=True)
    wait_until(lambda: dt.unit(other)["status"] == "available", SYNC_WAIT,
               message="%s back at Downtown" % other)

    def revoked():
        x = city.ex(other).assignment("building-C")
        assert x is not None, "restarted %s forgot Building C" % other
        assert x["state"] == "revoked" and x["attempt"] == 1, x
        return x
    wait_until(revoked, SYNC_WAIT, message="%s lists Building C as revoked" % other)
    return other, c


def _check_single_record(city, winner):
    """Every broker shows the one accepted result for Building C."""
    dt = city["Downtown"]
    j = dt.job("building-C")
    assert j["status"] == "completed" and result_core(j["result"]) == result_core(winner), j
    for b in (city["Westside"], city["Valley"]):
        wait_remote_job(b, "building-C", "Downtown",
                        lambda j: j["status"] == "completed", what="completed")
        j = remote_job(b, "building-C", "Downtown")
        assert result_core(j["result"]) == result_core(winner), \
            "%s shows another outcome: %r" % (b.name, j)
        listed = [x for x in b.jobs() if x["id"] == "building-C"]
        assert len(listed) == 1 and result_core(listed[0]["result"]) == result_core(winner), listed
    # both units are free again, at home and as the others see them
    wait_until(lambda: city["Valley"].unit("LAFD-9")["status"] == "available", SYNC_WAIT,
               message="LAFD-9 released by Valley")
    for b in (city["Downtown"], city["Westside"]):
        wait_remote_unit(b, "LAFD-9", "Valley", status="available", jobs=[])
    # the event log tells the story: one acceptance, one rejection
    evs = get(dt.url + "/v1/events?after=0&limit=1000").json["events"]
    mine = [(e["type"], e["unit_id"]) for e in evs if e["job_id"] == "building-C"]
    assert mine.count(("result_accepted", winner["unit_id"])) == 1, mine
    assert [t for t, _ in mine].count("result_accepted") == 1, mine
    assert [t for t, _ in mine].count("result_rejected") == 1, mine
    assert ("job_redeployed", "LAFD-9") in mine, mine
    for e in evs:
        check_vclock(e["vclock"], "event vclock")


def _finish_a_and_b(city, first):
    r = city.ex(first).report("building-A", "contained", {"at": "15:31"})
    assert r.status == 201 and r.json["accepted"] is True, r
    r = city.ex("LAFD-5").report("building-B", "contained")
    assert r.status == 201 and r.json["accepted"] is True, r
    for jid, owner in (("building-A", "Downtown"), ("building-B", "Westside")):
        for b in city.others(owner):
            wait_remote_job(b, jid, owner, lambda j: j["status"] == "completed",
                            what="completed")


def test_reference_scenario_lost_unit_reports_first(cluster):
    city = make_city(cluster, GRID, sync_interval=SYNC_FAST)
    other, c = _run_until_two_reports(city)
    first = ({"LAFD-1", "LAFD-2"} - {other}).pop()

    # LAFD-2 reports "contained" first: it reaches Downtown first, it is the record.
    r = city.ex(other).report("building-C", "contained", {"crew": other})
    assert r.status == 201, "first report (revoked %s) must be accepted: %r" % (other, r)
    assert r.json["accepted"] is True, r
    winner = {"unit_id": other, "attempt": 1, "outcome": "contained", "data": {"crew": other}}
    assert result_core(r.json["result"]) == result_core(winner), r

    # Every other holder is told to stop: LAFD-9's assignment is revoked ...
    wait_until(lambda: (city.ex("LAFD-9").assignment("building-C") or {}).get("state") ==
               "revoked", SYNC_WAIT, message="LAFD-9 told to stop Building C")
    # ... and its own report, still forwarded, loses with a pointer to the winner.
    r = city.ex("LAFD-9").report("building-C", "extinguished", {"crew": "LAFD-9"})
    assert_error(r, 409, "result_rejected", "LAFD-9's late report")
    assert r.json["accepted"] is False and result_core(r.json["result"]) == result_core(winner), r
    # an exact retry of the winner is the same success, not a duplicate
    r = city["Downtown"].result("building-C", other, 1, "contained", {"crew": other})
    assert r.status == 200 and result_core(r.json["result"]) == result_core(winner), r

    _check_single_record(city, winner)
    _finish_a_and_b(city, first)
    _no_unit_doubly_assigned(city)


def test_reference_scenario_new_unit_reports_first(cluster):
    city = make_city(cluster, GRID, sync_interval=SYNC_FAST)
    other, c = _run_until_two_reports(city)
    first = ({"LAFD-1", "LAFD-2"} - {other}).pop()

    # The reverse order: LAFD-9 (attempt 2) reaches Downtown first.
    r = city.ex("LAFD-9").report("building-C", "contained", {"crew": "LAFD-9"})
    assert r.status == 201 and r.json["accepted"] is True, r
    winner = {"unit_id": "LAFD-9", "attempt": 2, "outcome": "contained",
              "data": {"crew": "LAFD-9"}}
    assert result_core(r.json["result"]) == result_core(winner), r

    r = city.ex(other).report("building-C", "contained", {"crew": other})
    assert_error(r, 409, "result_rejected", "%s's late report" % other)
    assert r.json["accepted"] is False and result_core(r.json["result"]) == result_core(winner), r
    x = city.ex(other).assignment("building-C")
    assert x["state"] == "reported" and x["report"]["status"] == 409, x

    _check_single_record(city, winner)
    _finish_a_and_b(city, first)
    _no_unit_doubly_assigned(city)
