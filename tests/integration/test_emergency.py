"""Emergency mode at one broker: the level, the faster pull schedule, and a
critical job taking a unit away from a low-severity job (DESIGN.md / issue 4)."""

from conftest import EMS, FIRE
from ergrid import assert_error, expect, get, post, wait_until


def set_level(broker, level):
    return expect(post(broker.url + "/v1/emergency", {"level": level}), 200, "emergency")


def test_level_is_validated_and_kept(district):
    d = district([("LAFD-1", "fire", FIRE)])
    b = d.broker
    assert get(b.url + "/v1/emergency").json["emergency"]["level"] == "low"
    assert_error(post(b.url + "/v1/emergency", {"level": "apocalyptic"}), 400, "invalid_field")
    assert_error(post(b.url + "/v1/emergency", {}), 400, "missing_field")
    reply = set_level(b, "high")
    assert reply["emergency"]["level"] == "high"
    assert "vclock" in reply
    # The peer schedule switches to the emergency interval (default 5 s).
    assert get(b.url + "/v1/peers").json["sync_interval_ms"] == 5000
    # It survives a restart.
    b.kill9()
    b.restart()
    assert get(b.url + "/v1/emergency").json["emergency"]["level"] == "high"


def test_critical_job_preempts_low_job_only_in_emergency(district):
    d = district([("LAFD-1", "fire", FIRE), ("EMS-3", "ems", EMS)])
    b = d.broker
    low = b.submit_ok(["firefighting"], severity="low", id="cat-in-tree")
    assert low["unit_id"] == "LAFD-1"

    # Normal times: a critical job waits for the unit.
    crit = b.submit_ok(["firefighting"], severity="critical", id="fire-1")
    assert crit["status"] == "queued"
    assert b.job("cat-in-tree")["status"] == "assigned"

    # Emergency: the next critical job takes the unit from the low one.
    set_level(b, "critical")
    crit2 = b.submit_ok(["firefighting"], severity="critical", id="fire-2")
    # fire-1 was queued first; whichever critical job holds LAFD-1, the low
    # one is back in the queue with its attempt revoked.
    def preempted():
        j = b.job("cat-in-tree")
        return j if j["status"] == "queued" and j["attempts"][0]["state"] == "revoked" else None
    wait_until(preempted, message="low job preempted")
    def one_holder():
        held = [j for j in ("fire-1", "fire-2") if b.job(j)["status"] == "assigned"]
        assert len(held) == 1, held
        return held
    holders = wait_until(one_holder, message="a critical job holds LAFD-1")
    assert b.job(holders[0])["unit_id"] == "LAFD-1"
    assert crit2["id"] == "fire-2"
    # The terminal never holds two active jobs.
    active = [a for a in d["LAFD-1"].assignments() if a["state"] == "active"]
    assert [a["job_id"] for a in active] == holders
    # The ambulance was never used for a fire.
    assert b.unit("EMS-3")["jobs"] == []
    events = get(b.url + "/v1/events?after=0").json["events"]
    assert any(e["type"] == "job_preempted" and e["job_id"] == "cat-in-tree" for e in events)


def test_cancel_releases_the_unit_and_refuses_results(district):
    d = district([("LAFD-1", "fire", FIRE)])
    b = d.broker
    j = b.submit_ok(["firefighting"], severity="medium", id="false-alarm")
    assert j["unit_id"] == "LAFD-1"
    waiting = b.submit_ok(["firefighting"], severity="low", id="waits")
    assert waiting["status"] == "queued"
    assert_error(post(b.url + "/v1/jobs/false-alarm/cancel", {"reason": 5}), 400, "invalid_field")
    reply = expect(post(b.url + "/v1/jobs/false-alarm/cancel", {"reason": "false alarm"}), 200)
    assert reply["job"]["status"] == "cancelled"
    assert reply["job"]["attempts"][0]["state"] == "revoked"
    # Idempotent, and the unit goes to the waiting job.
    expect(post(b.url + "/v1/jobs/false-alarm/cancel"), 200)
    wait_until(lambda: b.job("waits")["status"] == "assigned", message="unit reused")
    # The terminal was told to stop; a late report is refused.
    wait_until(lambda: d["LAFD-1"].assignment("false-alarm")["state"] == "revoked",
               message="revocation delivered")
    assert_error(b.result("false-alarm", "LAFD-1", 1, "contained"), 409, "conflict")
    assert_error(post(b.url + "/v1/jobs/nope/cancel"), 404, "not_found")
