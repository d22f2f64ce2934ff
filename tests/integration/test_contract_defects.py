"""Small contract defects found while walking the README (issue 13, item 7):
the job a unit's terminal receives shows its assignment, not the queued
snapshot taken before the reservation; a revocation a lent unit hears from
its home names the job's owner district, not the home; and the log line of
a rejected result names the loser and the winner with their outcomes (two
reports may name the same unit and attempt: its crew's and a dispatcher's
for it)."""

import ergrid
from conftest import FIRE, POLICE
from ergrid import post, wait_until
from test_city import make_city


def _check_assigned(asg, unit_id, attempt, owner):
    job = asg["job"]
    assert asg["attempt"] == attempt and asg["owner"] == owner, asg
    assert job["status"] == "assigned", job
    assert job["unit_id"] == unit_id and job["attempt"] == attempt, job
    assert job["owner"] == owner, job
    assert {"attempt": attempt, "unit_id": unit_id, "state": "active"}.items() <= \
        job["attempts"][-1].items(), job["attempts"]
    ergrid.check_job_shape(job)


def test_own_unit_receives_the_job_as_assigned(district):
    d = district([("LAFD-1", "fire", FIRE)])
    d.broker.submit_ok(FIRE, id="fire-A", severity="critical")
    ex = d["LAFD-1"]
    wait_until(lambda: ex.assignment("fire-A") is not None, message="LAFD-1 holds fire-A")
    _check_assigned(ex.assignment("fire-A"), "LAFD-1", 1, "Downtown")


def test_lent_unit_receives_the_job_as_assigned_and_its_revocation_names_the_owner(cluster):
    city = make_city(cluster, [("Downtown", [("LAFD-1", "fire", FIRE)]),
                               ("Westside", [("LAPD-12", "police", POLICE)])],
                     use_coordinator=False)
    down, west, ex = city["Downtown"], city["Westside"], city.ex("LAFD-1")
    west.submit_ok(FIRE, id="fire-W", severity="critical")
    wait_until(lambda: ex.assignment("fire-W") is not None, message="LAFD-1 holds fire-W")
    asg = ex.assignment("fire-W")

    # Silence the terminal until its home declares it lost: the home keeps
    # a notice for it, which the next heartbeat reply carries.
    ex.stop()
    try:
        wait_until(lambda: down.unit("LAFD-1")["status"] == "lost", 30,
                   message="Downtown declares LAFD-1 lost")
        r = post(down.url + "/v1/units/LAFD-1/heartbeat")
        assert r.status == 200, r
        revoked = [v for v in r.json["revoked"] if v["job_id"] == "fire-W"]
        assert revoked, r.json
        assert revoked[0]["owner"] == "Westside", revoked
        assert revoked[0]["reason"] == "unit_lost" and revoked[0]["attempt"] == 1, revoked
    finally:
        ex.cont()
    _check_assigned(asg, "LAFD-1", 1, "Westside")


def test_rejected_result_log_line_names_the_loser_and_the_winner(district):
    d = district([("LAFD-1", "fire", FIRE), ("LAFD-2", "fire", FIRE)])
    b = d.broker
    b.submit_ok(FIRE, id="fire-C", severity="critical")
    first = b.job("fire-C")["unit_id"]
    second = "LAFD-2" if first == "LAFD-1" else "LAFD-1"
    d[first].stop()
    try:
        wait_until(lambda: b.job("fire-C")["unit_id"] == second, 30,
                   message="fire-C redeployed to %s" % second)
        assert b.result("fire-C", second, 2, "contained").status == 201
        r = b.result("fire-C", first, 1, "extinguished")
        assert r.status == 409, r
    finally:
        d[first].cont()
    want = ("outcome extinguished from %s attempt 1 rejected: outcome contained from %s attempt 2"
            " was first" % (first, second))
    wait_until(lambda: want in b.log_tail(), 10, message="the log line %r" % want)
