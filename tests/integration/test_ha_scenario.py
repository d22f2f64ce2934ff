"""The reference scenario of DESIGN.md section 1 with Downtown run as two
brokers on a 3-member etcd, and Downtown's leader killed (SIGKILL) at 15:24
where the story has LAFD-2's equipment fail. The story's outcomes must hold
across the takeover: the incidents Downtown acknowledged keep their units,
mutual aid still cannot race (the new leader claims at Valley), the first
report to reach the owner is the one record, the late one gets 409 naming
it, every district sees that record, and no unit is ever on two incidents.

Wiring: --peer with every URL of a district (Downtown=URL,URL), so the
peers pull from whichever Downtown broker answers and send writes to its
leader; executors are given both Downtown URLs with --broker.
"""

import ergrid
import ha
from conftest import EMS, FIRE, POLICE
from ergrid import assert_error, check_job_shape, get, result_core, wait_until
from test_city import SYNC_FAST, SYNC_WAIT, remote_job, wait_remote_job, wait_remote_unit

etcd = ha.etcd  # the fixture, under the name the test asks for

DOWNTOWN = [("LAFD-1", "fire", FIRE), ("LAFD-2", "fire", FIRE),
            ("LAPD-7", "police", POLICE), ("EMS-3", "ems", EMS)]
OTHERS = [("Westside", [("LAFD-5", "fire", FIRE), ("LAPD-12", "police", POLICE),
                        ("EMS-8", "ems", EMS)]),
          ("Valley", [("LAFD-9", "fire", FIRE), ("LAPD-15", "police", POLICE),
                      ("EMS-11", "ems", EMS)])]
FIRE_UNITS = {"LAFD-1", "LAFD-2", "LAFD-5", "LAFD-9"}


class HACity:
    def __init__(self, cluster, etcd):
        ports = dict(zip([n for n, _ in OTHERS], ha.free_ports(len(OTHERS))))
        url = {n: "http://127.0.0.1:%d" % p for n, p in ports.items()}
        common = ["--sync-interval", SYNC_FAST]
        self.dt = ha.HADistrict(cluster, etcd, "Downtown", n=2,
                                extra=common + sum((["--peer", "%s=%s" % (n, u)]
                                                    for n, u in url.items()), []))
        url["Downtown"] = self.dt.url_list
        self.brokers = {}
        for name, _ in OTHERS:
            peers = sum((["--peer", "%s=%s" % (n, u)] for n, u in url.items() if n != name), [])
            b = cluster.broker(name, extra=common + peers, start=False)
            b.start_or_fail(ports[name])
            self.brokers[name] = b
        self.dt.start()
        self.ex, self.homes = {}, {}
        for name, units in [("Downtown", DOWNTOWN)] + OTHERS:
            for uid, kind, caps in units:
                where = self.dt.url_list if name == "Downtown" else self.brokers[name].url
                self.ex[uid] = cluster.executor(uid, kind, caps, where)
                self.homes[uid] = name
        lead = self.dt.wait_leader()
        ergrid.wait_units_status(lead, [u[0] for u in DOWNTOWN], "available")
        for name, units in OTHERS:
            ergrid.wait_units_status(self.brokers[name], [u[0] for u in units], "available")
        for uid, home in self.homes.items():
            for b in self.viewers(home):
                wait_remote_unit(b, uid, home, status="available")

    def leader(self):
        return self.dt.wait_leader()

    def viewers(self, district):
        """The brokers that hold copies of district's records: the other
        districts' brokers, and for another district also Downtown's leader."""
        out = [b for n, b in self.brokers.items() if n != district]
        if district != "Downtown":
            out.append(self.leader())
        return out

    def home(self, district):
        return self.leader() if district == "Downtown" else self.brokers[district]


def held_by(city, uid, jid, owner, attempt):
    def ok():
        a = city.ex[uid].assignment(jid)
        assert a is not None and a["state"] == "active", a
        return a
    a = wait_until(ok, message="%s's executor holds %s" % (uid, jid))
    assert (a["attempt"], a["owner"]) == (attempt, owner), a
    return a


def no_unit_doubly_assigned(city):
    for uid, home in city.homes.items():
        u = city.home(home).unit(uid)
        assert len(u["jobs"]) <= 1, "%s holds %s" % (uid, u["jobs"])
        if city.ex[uid].alive():
            act = [a for a in city.ex[uid].assignments() if a["state"] == "active"]
            assert len(act) <= 1, "%s's executor holds %s" % (uid, act)


def fire(city, district, building):
    body = {"id": "building-" + building, "type": "building_fire", "severity": "critical",
            "required_capabilities": ["firefighting"], "location": "Building " + building}
    if district == "Downtown":
        r, _ = ha.write(city.dt, "POST", "/v1/jobs", body, accept=lambda r: r.status < 500 and r.status != 307)
    else:
        r = ergrid.post(city.brokers[district].url + "/v1/jobs", body)
    assert r.status == 201, "Building %s at %s: %r" % (building, district, r)
    job = r.json["job"]
    check_job_shape(job)
    assert job["owner"] == district and job["authoritative"] is True, job
    return job


def test_reference_scenario_downtown_leader_killed(etcd, cluster):
    city = HACity(cluster, etcd)
    ws, va = city.brokers["Westside"], city.brokers["Valley"]

    # 15:15 Building A at Downtown: a free Downtown fire unit.
    a = fire(city, "Downtown", "A")
    assert a["status"] == "assigned" and a["unit_id"] in ("LAFD-1", "LAFD-2"), a
    first = a["unit_id"]
    held_by(city, first, "building-A", "Downtown", 1)
    for b in (ws, va):
        wait_remote_unit(b, first, "Downtown", status="busy", jobs=["building-A"])

    # 15:18 Building B at Westside: never a unit busy anywhere; its own LAFD-5.
    bj = fire(city, "Westside", "B")
    assert bj["status"] == "assigned" and bj["unit_id"] == "LAFD-5", bj
    held_by(city, "LAFD-5", "building-B", "Westside", 1)
    wait_remote_unit(city.leader(), "LAFD-5", "Westside", status="busy", jobs=["building-B"])

    # 15:22 Building C at Downtown: the other Downtown fire unit.
    other = ({"LAFD-1", "LAFD-2"} - {first}).pop()
    c = fire(city, "Downtown", "C")
    assert c["status"] == "assigned" and c["unit_id"] == other, c
    held_by(city, other, "building-C", "Downtown", 1)
    no_unit_doubly_assigned(city)
    for b in (ws, va):
        wait_remote_unit(b, other, "Downtown", status="busy", jobs=["building-C"])

    # 15:24 Downtown's leader dies (kill -9): its standby takes over from etcd.
    old = city.leader()
    old.kill9()
    new = city.dt.wait_leader(ha.TAKEOVER_WAIT)
    assert new is not old
    for jid, unit in (("building-A", first), ("building-C", other)):
        j = new.job(jid)
        assert (j["status"], j["unit_id"], j["attempt"]) == ("assigned", unit, 1), j

    #       Fire at Building D, at Downtown: both Downtown engines and Westside's
    #       are busy, so the new leader borrows Valley's LAFD-9 (a claim at its home).
    wait_remote_unit(new, "LAFD-5", "Westside", status="busy", jobs=["building-B"])
    wait_remote_unit(new, "LAFD-9", "Valley", status="available")
    d = fire(city, "Downtown", "D")
    assert d["status"] == "assigned" and d["unit_id"] == "LAFD-9", d
    assert [(x["attempt"], x["unit_id"], x["district"], x["state"]) for x in d["attempts"]] == \
        [(1, "LAFD-9", "Valley", "active")], d
    held_by(city, "LAFD-9", "building-D", "Downtown", 1)
    wait_until(lambda: va.unit("LAFD-9")["status"] == "busy", SYNC_WAIT,
               message="Valley shows LAFD-9 busy for Downtown")
    no_unit_doubly_assigned(city)

    # 15:27 The crew on Building C reports "contained" at its terminal: the
    #       terminal finds Downtown's new leader; first report, the record.
    def report_c():
        rr = city.ex[other].report("building-C", "contained", {"crew": other})
        return rr if rr.status != 502 else None  # 502: the terminal found no leader yet
    r = wait_until(report_c, SYNC_WAIT, message="%s's report reaches Downtown's leader" % other)
    assert r.status == 201 and r.json["accepted"] is True, r
    winner = {"unit_id": other, "attempt": 1, "outcome": "contained", "data": {"crew": other}}
    assert result_core(r.json["result"]) == result_core(winner), r
    # 15:28 A late, different report (the dispatcher's, on the unit's behalf)
    #       is rejected with the record; an exact retry of the winner is a 200.
    r, _ = ha.write(city.dt, "POST", "/v1/jobs/building-C/results",
                    {"unit_id": other, "attempt": 1, "outcome": "extinguished"})
    assert_error(r, 409, "result_rejected", "late report for Building C")
    assert result_core(r.json["result"]) == result_core(winner), r
    r, _ = ha.write(city.dt, "POST", "/v1/jobs/building-C/results",
                    {"unit_id": other, "attempt": 1, "outcome": "contained", "data": {"crew": other}})
    assert r.status == 200 and result_core(r.json["result"]) == result_core(winner), r

    # 15:31 The others are contained; LAFD-9 goes home.
    for uid, jid in ((first, "building-A"), ("LAFD-5", "building-B"), ("LAFD-9", "building-D")):
        rr = city.ex[uid].report(jid, "contained")
        assert rr.status == 201 and rr.json["accepted"] is True, (uid, jid, rr)
    wait_until(lambda: va.unit("LAFD-9")["status"] == "available", SYNC_WAIT,
               message="LAFD-9 released by Downtown's new leader")

    # The killed broker comes back as a standby and answers from etcd too.
    old.restart()
    assert city.dt.wait_leader() is new
    city.dt.wait_follower_caught_up(old)
    for b in (new, old):
        j = b.job("building-C")
        assert j["status"] == "completed" and result_core(j["result"]) == result_core(winner), (b.name, j)
        for jid in ("building-A", "building-D"):
            assert b.job(jid)["status"] == "completed", (b.name, b.job(jid))
    for b in (ws, va):
        wait_remote_job(b, "building-C", "Downtown", lambda j: j["status"] == "completed",
                        what="completed")
        assert result_core(remote_job(b, "building-C", "Downtown")["result"]) == result_core(winner)
    # one acceptance, one rejection in Downtown's log, which survived the takeover
    evs = get(new.url + "/v1/events?after=0&limit=1000").json["events"]
    mine = [e["type"] for e in evs if e["job_id"] == "building-C"]
    assert mine.count("result_accepted") == 1 and mine.count("result_rejected") == 1, mine
    for jid in ("building-A", "building-C", "building-D"):
        atts = new.job(jid)["attempts"]
        assert all(x["unit_id"] in FIRE_UNITS for x in atts), atts
        assert len(atts) == 1, "%s moved during the takeover: %r" % (jid, atts)
    no_unit_doubly_assigned(city)
