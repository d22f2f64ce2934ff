"""The city: three district brokers that pull each other's metadata, mutual
aid across districts, a silent or dead broker, the city-wide emergency.

Real processes on loopback (see ergrid.py). The brokers learn each other
from a coordinator when its binary is built; until then they are started on
pre-picked free ports with --peer for every other district, so every broker
knows every other one either way (ERGRID_CITY_WIRING=peers forces the
--peer wiring even when the coordinator is built).

The helpers here (make_city, remote_unit, ...) are reused by test_scenario.py.
"""

import os
import socket
import threading
import time

import ergrid
from conftest import EMS, FIRE, POLICE
from ergrid import (assert_error, check_job_shape, check_unit_shape, check_vclock, expect, get,
                    post, request, result_core, wait_until)

SYNC_FAST = "1s"
SYNC_SLOW = "60s"
SYNC_WAIT = 30.0  # generous: a change is due at every peer within one 1 s interval


# ------------------------------------------------------------------ the city

def coordinator_available():
    path = os.path.join(ergrid.build_dir(), ergrid.BINARIES["coordinator"])
    return os.path.isfile(path) and os.access(path, os.X_OK)


def _free_ports(n):
    """n distinct free loopback ports (bound together, then released)."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


class City:
    def __init__(self, coordinator, brokers, executors, homes):
        self.coordinator = coordinator  # Service or None
        self.brokers = brokers            # district -> ergrid.Broker (in start order)
        self.executors = executors        # unit id -> ergrid.Executor
        self.homes = homes                # unit id -> district

    def __getitem__(self, district):
        return self.brokers[district]

    def ex(self, unit_id):
        return self.executors[unit_id]

    def others(self, district):
        return [b for name, b in self.brokers.items() if name != district]


def make_city(cluster, spec, sync_interval=SYNC_FAST, emergency_sync_interval=None,
              failure_timeout=ergrid.FAILURE_TIMEOUT, heartbeat=ergrid.HEARTBEAT,
              use_coordinator=None):
    """spec: [(district, [(unit_id, kind, caps), ...]), ...]. Starts the
    coordinator (when built), the brokers and one manual executor per unit,
    then waits until every broker knows every other one and sees every unit
    of the city available."""
    names = [d for d, _ in spec]
    common = ["--sync-interval", sync_interval]
    if emergency_sync_interval:
        common += ["--emergency-sync-interval", emergency_sync_interval]
    if use_coordinator is None:
        use_coordinator = coordinator_available() and \
            os.environ.get("ERGRID_CITY_WIRING", "") != "peers"
    brokers = {}
    coord = None
    if use_coordinator:
        coord = cluster.coordinator()
        for name in names:
            brokers[name] = cluster.broker(name, failure_timeout=failure_timeout,
                                           extra=common + ["--coordinator", coord.url])
    else:
        ports = dict(zip(names, _free_ports(len(names))))
        for name in names:
            peers = []
            for other in names:
                if other != name:
                    peers += ["--peer", "%s=http://127.0.0.1:%d" % (other, ports[other])]
            b = cluster.broker(name, failure_timeout=failure_timeout, extra=common + peers,
                               start=False)
            b.start_or_fail(ports[name])
            brokers[name] = b
    executors, homes = {}, {}
    for name, units in spec:
        for uid, kind, caps in units:
            executors[uid] = cluster.executor(uid, kind, caps, brokers[name], heartbeat=heartbeat)
            homes[uid] = name
    city = City(coord, brokers, executors, homes)
    for name, units in spec:
        ergrid.wait_units_status(brokers[name], [u[0] for u in units], "available")
    wait_peers_known(city)
    for uid, home in homes.items():
        for b in city.others(home):
            wait_remote_unit(b, uid, home, status="available")
    return city


def peers_of(broker):
    r = get(broker.url + "/v1/peers")
    assert r.status == 200, "GET %s/v1/peers: %r" % (broker.name, r)
    return r.json


def peer_entry(broker, peer_id):
    for p in peers_of(broker)["peers"]:
        if p["id"] == peer_id:
            return p
    raise AssertionError("%s does not list peer %s" % (broker.name, peer_id))


def wait_peers_known(city, timeout=SYNC_WAIT):
    for name, b in city.brokers.items():
        want = sorted(n for n in city.brokers if n != name)

        def ok(b=b, want=want):
            peers = peers_of(b)["peers"]
            ids = sorted(p["id"] for p in peers)
            assert ids == want, "%s lists peers %s, want %s" % (b.name, ids, want)
            urls = {p["id"]: p["url"] for p in peers}
            for pid in want:
                assert urls[pid] == city.brokers[pid].url, (b.name, urls)
            return True
        wait_until(ok, timeout, message="%s knows every other district" % name)


def remote_unit(broker, unit_id, owner):
    """The synced copy of another district's unit, checked for its shape."""
    r = get(broker.url + "/v1/units/" + unit_id)
    assert r.status == 200, "GET unit %s at %s: %r" % (unit_id, broker.name, r)
    u = r.json["unit"]
    check_unit_shape(u)
    assert u["authoritative"] is False, "copy at %s claims authority: %r" % (broker.name, u)
    assert u["district"] == owner and u["synced_from"] == owner, u
    assert isinstance(u["age_ms"], int) and u["age_ms"] >= 0, u
    return u


def wait_remote_unit(broker, unit_id, owner, timeout=SYNC_WAIT, **want):
    def ok():
        u = remote_unit(broker, unit_id, owner)
        for k, v in want.items():
            assert u.get(k) == v, "%s at %s: %s=%r, want %r" % (unit_id, broker.name, k,
                                                                u.get(k), v)
        return u
    return wait_until(ok, timeout, message="%s at %s shows %s" % (unit_id, broker.name, want))


def remote_job(broker, job_id, owner):
    r = get(broker.url + "/v1/jobs/" + job_id)
    assert r.status == 200, "GET job %s at %s: %r" % (job_id, broker.name, r)
    j = r.json["job"]
    check_job_shape(j)
    assert j["authoritative"] is False, "copy at %s claims authority: %r" % (broker.name, j)
    assert j["owner"] == owner and j["synced_from"] == owner, j
    assert isinstance(j["age_ms"], int) and j["age_ms"] >= 0, j
    return j


def wait_remote_job(broker, job_id, owner, check, timeout=SYNC_WAIT, what="condition"):
    """Waits until the synced copy of job_id at broker satisfies check(job)
    (a predicate that asserts or returns truthy)."""
    def ok():
        j = remote_job(broker, job_id, owner)
        r = check(j)
        assert r is None or r, "%s at %s: %r" % (job_id, broker.name, j)
        return j
    return wait_until(ok, timeout, message="%s at %s: %s" % (job_id, broker.name, what))


def active_assignments(executor):
    return [a for a in executor.assignments() if a.get("state") == "active"]


def emergency_of(broker):
    r = get(broker.url + "/v1/emergency")
    assert r.status == 200, "GET %s/v1/emergency: %r" % (broker.name, r)
    return r.json


# A capability no unit in any city of these tests has: the job stays queued.
NOBODY = "hazmat_decon"

GRID3 = [
    ("Downtown", [("LAFD-1", "fire", FIRE), ("EMS-3", "ems", EMS)]),
    ("Westside", [("LAPD-12", "police", POLICE), ("EMS-8", "ems", EMS)]),
    ("Valley", [("LAPD-15", "police", POLICE), ("EMS-11", "ems", EMS)]),
]


# ---------------------------------------------------- 1. status visibility

def _busy_everywhere(city, home, unit_id, job_id, timeout):
    for b in city.others(home):
        u = wait_remote_unit(b, unit_id, home, timeout=timeout, status="busy")
        assert u["jobs"] == [job_id], u
    u = city[home].unit(unit_id)
    assert u["status"] == "busy" and u["authoritative"] is True and u["jobs"] == [job_id], u


def test_status_change_visible_at_peers(cluster):
    city = make_city(cluster, GRID3, sync_interval=SYNC_FAST)
    a = city["Downtown"]
    for b in city.others("Downtown"):
        u = remote_unit(b, "LAFD-1", "Downtown")
        assert (u["status"], u["kind"], sorted(u["capabilities"]), u["url"], u["jobs"]) == \
            ("available", "fire", sorted(FIRE), city.ex("LAFD-1").url, []), u
        # the broker's own units are authoritative, the others' are copies
        assert b.unit("EMS-8" if b.name == "Westside" else "EMS-11")["authoritative"] is True
        local = get(b.url + "/v1/units?scope=local").json["units"]
        assert sorted(x["id"] for x in local) == sorted(
            uid for uid, home in city.homes.items() if home == b.name), local
        assert all(x["authoritative"] is True for x in local), local
        listed = {x["id"]: x for x in b.units()}
        assert set(listed) == set(city.homes), "every unit of the city is listed at %s: %s" \
            % (b.name, sorted(listed))
        for uid, x in listed.items():
            assert x["authoritative"] is (city.homes[uid] == b.name), x
            assert x["district"] == city.homes[uid], x

    job = a.submit_ok(["firefighting"], severity="critical", id="vis-1")
    assert job["unit_id"] == "LAFD-1" and job["status"] == "assigned", job
    _busy_everywhere(city, "Downtown", "LAFD-1", "vis-1", SYNC_WAIT)
    for b in city.others("Downtown"):
        j = wait_remote_job(b, "vis-1", "Downtown",
                            lambda j: j["status"] == "assigned" and j["unit_id"] == "LAFD-1",
                            what="assigned to LAFD-1")
        assert j["attempts"] == [{"attempt": 1, "unit_id": "LAFD-1", "district": "Downtown",
                                  "state": "active", "reason": "no job location: fewest jobs"}], j

    # ... and back: the result frees the unit, everywhere.
    expect(city.ex("LAFD-1").report("vis-1", "contained", {"by": "LAFD-1"}), 201, "report")
    for b in city.others("Downtown"):
        wait_remote_unit(b, "LAFD-1", "Downtown", status="available", jobs=[])
        j = wait_remote_job(b, "vis-1", "Downtown", lambda j: j["status"] == "completed",
                            what="completed")
        assert result_core(j["result"]) == result_core(
            {"unit_id": "LAFD-1", "attempt": 1, "outcome": "contained", "data": {"by": "LAFD-1"}}), j


def test_status_change_signalled_within_slow_interval(cluster):
    """--sync-interval 60s: the owner's change signal (POST /v1/notify) makes
    peers pull at once, so the change shows in seconds, not a minute."""
    city = make_city(cluster, GRID3, sync_interval=SYNC_SLOW)
    a = city["Downtown"]
    for b in city.others("Downtown"):
        p = peers_of(b)
        assert p["sync_interval_ms"] == 60000, p
    job = a.submit_ok(["firefighting"], severity="critical", id="notify-1")
    assert job["unit_id"] == "LAFD-1", job
    # 5 s, where a scheduled pull would take 45..75 s
    _busy_everywhere(city, "Downtown", "LAFD-1", "notify-1", timeout=5.0)
    for b in city.others("Downtown"):
        wait_remote_job(b, "notify-1", "Downtown", lambda j: j["status"] == "assigned",
                        timeout=5.0, what="assigned")

    # A change at another district travels the same way (every broker signals).
    w = city["Westside"]
    q = w.submit_ok([NOBODY], severity="low", id="notify-2")
    assert q["status"] == "queued", q
    for b in city.others("Westside"):
        wait_remote_job(b, "notify-2", "Westside", lambda j: j["status"] == "queued",
                        timeout=5.0, what="queued job seen")

    expect(city.ex("LAFD-1").report("notify-1", "contained"), 201, "report")
    for b in city.others("Downtown"):
        wait_remote_unit(b, "LAFD-1", "Downtown", timeout=5.0, status="available")


# --------------------------------------------------------- 2. delta pull

def _metadata(broker, **q):
    qs = "&".join("%s=%s" % kv for kv in q.items())
    r = get(broker.url + "/v1/metadata" + ("?" + qs if qs else ""))
    assert r.status == 200, "GET /v1/metadata?%s: %r" % (qs, r)
    js = r.json
    for k in ("broker", "url", "epoch", "version", "full", "more", "units", "jobs", "emergency",
              "vclock"):
        assert k in js, "metadata lacks %s: %r" % (k, js)
    check_vclock(js["vclock"], "metadata vclock")
    assert js["broker"] == broker.name and js["url"] == broker.url, js
    return js


def test_metadata_delta_pull(cluster):
    city = make_city(cluster, GRID3, sync_interval=SYNC_FAST)
    a = city["Downtown"]
    done = a.submit_ok(["firefighting"], id="meta-done")
    assert done["unit_id"] == "LAFD-1", done
    expect(city.ex("LAFD-1").report("meta-done", "contained"), 201, "report")
    waiting = a.submit_ok([NOBODY], severity="low", id="meta-queued")
    assert waiting["status"] == "queued", waiting
    wait_until(lambda: a.unit("LAFD-1")["status"] == "available", message="LAFD-1 free")

    own_units = sorted(uid for uid, home in city.homes.items() if home == "Downtown")
    full = _metadata(a)
    assert full["full"] is True and full["more"] is False, full
    assert sorted(u["id"] for u in full["units"]) == own_units, full["units"]
    assert sorted(j["id"] for j in full["jobs"]) == ["meta-done", "meta-queued"], full["jobs"]
    for u in full["units"]:
        check_unit_shape(u)
        assert u["district"] == "Downtown" and u["authoritative"] is True, u
    for j in full["jobs"]:
        check_job_shape(j)
        assert j["owner"] == "Downtown", j
    jd = {j["id"]: j for j in full["jobs"]}
    assert jd["meta-done"]["status"] == "completed" and jd["meta-done"]["result"]["outcome"] == \
        "contained", jd
    epoch, version = full["epoch"], full["version"]
    assert isinstance(epoch, str) and epoch and isinstance(version, int) and version > 0, full

    # Nothing changed since: an empty delta at the same version.
    d = _metadata(a, since=version, epoch=epoch)
    assert (d["full"], d["more"], d["units"], d["jobs"]) == (False, False, [], []), d
    assert (d["epoch"], d["version"]) == (epoch, version), d

    # One change: exactly that job, nothing else.
    one = a.submit_ok([NOBODY], severity="medium", id="meta-new")
    assert one["status"] == "queued", one
    d = _metadata(a, since=version, epoch=epoch)
    assert d["full"] is False and d["more"] is False and d["units"] == [], d
    assert [j["id"] for j in d["jobs"]] == ["meta-new"], d["jobs"]
    assert d["jobs"][0]["status"] == "queued" and d["jobs"][0]["owner"] == "Downtown", d
    assert d["epoch"] == epoch and d["version"] > version, d
    v2 = d["version"]
    d = _metadata(a, since=v2, epoch=epoch)
    assert (d["units"], d["jobs"], d["version"]) == ([], [], v2), d

    # A unit change shows as that unit only.
    busy = a.submit_ok(["firefighting"], id="meta-busy")
    assert busy["unit_id"] == "LAFD-1", busy
    d = _metadata(a, since=v2, epoch=epoch)
    assert [u["id"] for u in d["units"]] == ["LAFD-1"] and d["units"][0]["status"] == "busy", d
    assert [j["id"] for j in d["jobs"]] == ["meta-busy"], d
    v3 = d["version"]

    # Another incarnation's epoch means everything again (a version from the
    # future of this one is refused: test_hostile_input.py).
    for q in ({"since": v3, "epoch": "not-" + epoch},):
        d = _metadata(a, **q)
        assert d["full"] is True, (q, d)
        assert sorted(u["id"] for u in d["units"]) == own_units, d
        assert sorted(j["id"] for j in d["jobs"]) == \
            ["meta-busy", "meta-done", "meta-new", "meta-queued"], d

    # Pages: limit=1 walks every object exactly once.
    seen, since, ep, pages = [], 0, None, 0
    while True:
        q = {"since": since, "limit": 1}
        if ep:
            q["epoch"] = ep
        d = _metadata(a, **q)
        pages += 1
        assert len(d["units"]) + len(d["jobs"]) <= 1, d
        seen += [u["id"] for u in d["units"]] + [j["id"] for j in d["jobs"]]
        ep, since = d["epoch"], d["version"]
        if not d["more"]:
            break
        assert pages < 50, "paging does not end: %r" % d
    assert sorted(seen) == sorted(own_units + ["meta-busy", "meta-done", "meta-new",
                                               "meta-queued"]), seen
    assert len(seen) == len(set(seen)), "an object came twice: %s" % seen

    # The other brokers hold copies of exactly these, and none of their own as copies.
    for b in city.others("Downtown"):
        wait_remote_job(b, "meta-busy", "Downtown", lambda j: j["status"] == "assigned",
                        what="assigned")
        local = get(b.url + "/v1/jobs?scope=local").json["jobs"]
        assert local == [], local
        copies = sorted(j["id"] for j in b.jobs() if j["owner"] == "Downtown")
        assert copies == ["meta-busy", "meta-done", "meta-new", "meta-queued"], copies


# ----------------------------------------- 3. one free unit, three districts

def _race(brokers, caps, ids, severity="critical"):
    """Submits one job per broker at the same moment; returns the replies."""
    barrier = threading.Barrier(len(brokers))
    replies = [None] * len(brokers)
    errors = []

    def go(i):
        try:
            barrier.wait(10)
            replies[i] = brokers[i].submit(caps, severity=severity, id=ids[i])
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(repr(e))
    threads = [threading.Thread(target=go, args=(i,)) for i in range(len(brokers))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    for i, r in enumerate(replies):
        assert r is not None and r.status == 201, "submission %s: %r" % (ids[i], r)
    return [r.json["job"] for r in replies]


class ActiveWatch:
    """Polls an executor's GET /v1/assignments in the background and
    remembers the largest number of active assignments it ever showed."""

    def __init__(self, executor):
        self.executor = executor
        self.max_active = 0
        self.samples = 0
        self.worst = None
        self.errors = []
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            try:
                act = active_assignments(self.executor)
                self.samples += 1
                if len(act) > self.max_active:
                    self.max_active = len(act)
                    self.worst = [(a["job_id"], a["attempt"], a["owner"]) for a in act]
            except Exception as e:  # noqa: BLE001
                self.errors.append(repr(e))
            time.sleep(0.01)

    def __enter__(self):
        self._t.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._t.join(10)


def _wait_fire_unit_free_everywhere(city, caps_has=None):
    a = city["Downtown"]
    wait_until(lambda: a.unit("LAFD-1")["status"] == "available" and
               a.unit("LAFD-1")["jobs"] == [], message="LAFD-1 free at home")
    for b in city.others("Downtown"):
        def ok(b=b):
            u = remote_unit(b, "LAFD-1", "Downtown")
            assert u["status"] == "available" and u["jobs"] == [], u
            if caps_has:
                assert caps_has in u["capabilities"], u
            return True
        wait_until(ok, SYNC_WAIT, message="LAFD-1 free as seen from %s" % b.name)


def test_one_free_unit_raced_by_three_districts_50_rounds(cluster):
    """The city's only fire unit, asked for by all three districts at once:
    exactly one job gets it (the home broker's own dispatch and the claims of
    the two others go through the one authority, Downtown), the executor
    never holds two, and a borrower's job names the lending district.

    Each round tags the unit with a fresh capability and asks for it, so a
    losing job of an earlier round can never compete in a later one (what
    happens to the losers is test_queued_jobs_take_the_freed_unit_in_turn)."""
    city = make_city(cluster, GRID3, sync_interval=SYNC_FAST)
    order = [city["Downtown"], city["Westside"], city["Valley"]]
    ex = city.ex("LAFD-1")
    winners = {"Downtown": 0, "Westside": 0, "Valley": 0}
    tag = "round-00"
    expect(post(order[0].url + "/v1/units", {"id": "LAFD-1", "kind": "fire",
                                             "capabilities": FIRE + [tag], "url": ex.url}),
           200, "tag LAFD-1")
    with ActiveWatch(ex) as watch:
        for rnd in range(50):
            _wait_fire_unit_free_everywhere(city, caps_has=tag)
            ids = ["r%02d-%s" % (rnd, b.name) for b in order]
            jobs = _race(order, ["firefighting", tag], ids)
            for j in jobs:
                check_job_shape(j)
            assigned = [j for j in jobs if j["status"] == "assigned"]
            queued = [j for j in jobs if j["status"] == "queued"]
            assert len(assigned) == 1 and len(queued) == 2, \
                "round %d: want one assigned and two queued, got %s" % (
                    rnd, [(j["id"], j["status"], j["unit_id"]) for j in jobs])
            win = assigned[0]
            winners[win["owner"]] += 1
            assert win["unit_id"] == "LAFD-1" and win["attempt"] == 1, win
            assert win["attempts"] == [{"attempt": 1, "unit_id": "LAFD-1",
                                        "district": "Downtown", "state": "active",
                                        "reason": "no job location: fewest jobs"}], win
            for q in queued:
                assert q["attempts"] == [] and q["unit_id"] is None, q
            # The authority and the executor agree: one job, the winner's.
            u = order[0].unit("LAFD-1")
            assert u["status"] == "busy" and u["jobs"] == [win["id"]], (rnd, u)
            act = active_assignments(ex)
            assert [(x["job_id"], x["owner"]) for x in act] == [(win["id"], win["owner"])], \
                (rnd, act)
            assert act[0]["owner_url"] == city[win["owner"]].url, act
            # The queued ones stay queued at their own brokers (never a second holder).
            for q in queued:
                cur = city[q["owner"]].job(q["id"])
                assert cur["status"] == "queued" and cur["attempts"] == [], cur

            # Next round's tag before the unit is free: nothing queued so far
            # can ever match it again.
            tag = "round-%02d" % (rnd + 1)
            expect(post(order[0].url + "/v1/units", {"id": "LAFD-1", "kind": "fire",
                                                     "capabilities": FIRE + [tag],
                                                     "url": ex.url}), 200, "tag LAFD-1")
            r = ex.report(win["id"], "contained", {"round": rnd})
            js = expect(r, 201, "round %d: report of %s" % (rnd, win["id"]))
            assert js["accepted"] is True and js["job"]["owner"] == win["owner"], js
            done = city[win["owner"]].job(win["id"])
            assert done["status"] == "completed" and done["attempts"][0]["district"] == \
                "Downtown", done
    assert not watch.errors, watch.errors[:3]
    assert watch.samples > 0
    assert watch.max_active <= 1, "LAFD-1's executor showed %d active assignments at once: %s" \
        % (watch.max_active, watch.worst)
    assert sum(winners.values()) == 50, winners
    for jid_owner in ("Westside", "Valley"):
        for j in city[jid_owner].jobs():
            if j["owner"] == jid_owner and j["attempts"]:
                assert all(a["district"] == "Downtown" for a in j["attempts"]), j


def test_queued_jobs_take_the_freed_unit_in_turn(cluster):
    """Three districts ask for the city's only fire unit at once (capability
    "firefighting"); one gets it, two wait. Each time the holder reports, the
    unit goes to one of the waiting jobs, at its home district or by mutual
    aid, until all three are done -- three rounds of it."""
    city = make_city(cluster, GRID3, sync_interval=SYNC_FAST)
    order = [city["Downtown"], city["Westside"], city["Valley"]]
    ex = city.ex("LAFD-1")
    with ActiveWatch(ex) as watch:
        for rnd in range(3):
            _wait_fire_unit_free_everywhere(city)
            ids = ["t%d-%s" % (rnd, b.name) for b in order]
            jobs = _race(order, ["firefighting"], ids)
            assert sorted(j["status"] for j in jobs) == ["assigned", "queued", "queued"], \
                [(j["id"], j["status"]) for j in jobs]
            owner_of = {j["id"]: j["owner"] for j in jobs}
            completed = []
            for turn in range(3):
                def holder():
                    act = active_assignments(ex)
                    assert len(act) == 1, "LAFD-1 holds %r" % (act,)
                    assert act[0]["job_id"] not in completed, act
                    return act[0]
                h = wait_until(holder, SYNC_WAIT,
                               message="round %d turn %d: a waiting job gets LAFD-1 (done: %s)"
                               % (rnd, turn, completed))
                jid = h["job_id"]

                def confirmed(jid=jid):
                    j = city[owner_of[jid]].job(jid)
                    assert j["status"] == "assigned" and j["unit_id"] == "LAFD-1", j
                    return j
                j = wait_until(confirmed, message="%s assigned at its owner" % jid)
                assert j["attempts"][-1]["district"] == "Downtown", j
                others = [x for x in ids if x != jid and x not in completed]
                for o in others:
                    assert city[owner_of[o]].job(o)["status"] == "queued", o
                # A fire takes a while: hold the unit until every district with
                # a waiting job has seen it busy and pulled Downtown twice more,
                # so what assigns the waiting job next is the unit becoming
                # free, not a retry that happened to come soon after queueing.
                waiting = {owner_of[o] for o in others} - {"Downtown"}
                base = {w: peer_entry(city[w], "Downtown")["pulls"] for w in waiting}
                for w in waiting:
                    def held_a_while(w=w):
                        assert remote_unit(city[w], "LAFD-1", "Downtown")["status"] == "busy"
                        return peer_entry(city[w], "Downtown")["pulls"] >= base[w] + 2
                    wait_until(held_a_while, SYNC_WAIT,
                               message="%s pulls Downtown while LAFD-1 holds %s" % (w, jid))
                for o in others:
                    assert city[owner_of[o]].job(o)["status"] == "queued", o
                expect(ex.report(jid, "contained", {"turn": turn}), 201,
                       "round %d: report %s" % (rnd, jid))
                completed.append(jid)
            for jid in ids:
                j = city[owner_of[jid]].job(jid)
                assert j["status"] == "completed" and j["result"]["unit_id"] == "LAFD-1", j
                assert [a["district"] for a in j["attempts"]] == ["Downtown"], j
    assert watch.max_active <= 1, watch.worst


GRID_AID = [
    ("Downtown", [("EMS-3", "ems", EMS)]),
    ("Westside", [("LAFD-5", "fire", FIRE), ("EMS-8", "ems", EMS)]),
    ("Valley", [("LAFD-9", "fire", FIRE), ("EMS-11", "ems", EMS)]),
]


def test_borrowed_unit_lost_job_moves_and_unit_learns_it(cluster):
    """A borrowed unit dies: its home broker marks it lost, the borrower sees
    that and moves its job to another district's unit; the unit comes back,
    is told the job moved (DESIGN 3.3), and its late report still wins when
    it is first."""
    city = make_city(cluster, GRID_AID, sync_interval=SYNC_FAST)
    dt = city["Downtown"]
    j = dt.submit_ok(["firefighting"], severity="critical", id="aid-1")
    assert j["status"] == "assigned" and j["unit_id"] in ("LAFD-5", "LAFD-9"), j
    first = j["unit_id"]
    second = "LAFD-9" if first == "LAFD-5" else "LAFD-5"
    h1, h2 = city.homes[first], city.homes[second]
    assert j["attempts"] == [{"attempt": 1, "unit_id": first, "district": h1,
                              "state": "active", "reason": "no job location: fewest jobs"}], j
    u = city[h1].unit(first)
    assert u["status"] == "busy" and u["jobs"] == ["aid-1"], u
    held = city.ex(first).assignment("aid-1")
    assert held["state"] == "active" and held["owner"] == "Downtown" and \
        held["owner_url"] == dt.url, held

    city.ex(first).kill9()
    wait_until(lambda: city[h1].unit(first)["status"] == "lost", SYNC_WAIT,
               message="%s lost at %s" % (first, h1))

    def moved():
        x = dt.job("aid-1")
        assert len(x["attempts"]) == 2 and x["status"] == "assigned", x
        return x
    x = wait_until(moved, SYNC_WAIT, message="Downtown moves aid-1 off the lost %s" % first)
    assert [(a["attempt"], a["unit_id"], a["district"], a["state"]) for a in x["attempts"]] == \
        [(1, first, h1, "revoked"), (2, second, h2, "active")], x
    assert city[h2].unit(second)["jobs"] == ["aid-1"]
    assert city.ex(second).assignment("aid-1")["state"] == "active"

    # Back on its data dir: it must learn that aid-1 moved.
    city.ex(first).restart(allow_new_port=True)
    wait_until(lambda: city[h1].unit(first)["status"] == "available", SYNC_WAIT,
               message="%s back at %s" % (first, h1))

    def told():
        a = city.ex(first).assignment("aid-1")
        assert a is not None, "restarted %s forgot aid-1" % first
        assert a["state"] == "revoked", "restarted %s still holds aid-1 as %r" % (first, a)
        return a
    wait_until(told, SYNC_WAIT, message="restarted %s lists aid-1 as revoked" % first)

    # FCFS: the returning unit's report arrives first and is the record.
    r = city.ex(first).report("aid-1", "contained", {"crew": first})
    assert r.status == 201 and r.json["accepted"] is True, r
    winner = {"unit_id": first, "attempt": 1, "outcome": "contained", "data": {"crew": first}}
    wait_until(lambda: (city.ex(second).assignment("aid-1") or {}).get("state") == "revoked",
               SYNC_WAIT, message="%s told to stop aid-1" % second)
    r = city.ex(second).report("aid-1", "contained", {"crew": second})
    assert_error(r, 409, "result_rejected", "second report")
    assert result_core(r.json["result"]) == result_core(winner), r
    wait_until(lambda: city[h2].unit(second)["status"] == "available", SYNC_WAIT,
               message="%s released by %s" % (second, h2))
    for b in city.others("Downtown"):
        wait_remote_job(b, "aid-1", "Downtown",
                        lambda j: result_core(j["result"]) == result_core(winner),
                        what="the one result")
    # Both fire units take new work again.
    for uid in (first, second):
        home = city.homes[uid]
        n = city[home].submit_ok(["firefighting"], id="after-" + uid)
        assert n["status"] == "assigned" and n["unit_id"] == uid, n


# --------------------------------------------- 4. a silent or dead broker

def test_stopped_broker_peers_keep_serving_and_catch_up(cluster):
    city = make_city(cluster, GRID3, sync_interval=SYNC_FAST)
    a = city["Downtown"]
    before = a.submit_ok([NOBODY], severity="low", id="stop-before")
    assert before["status"] == "queued", before
    a.stop()
    try:
        samples = {b.name: [] for b in city.others("Downtown")}
        # The others answer at once (a short client timeout: a request that
        # waited on the stopped peer would fail here).
        for b in city.others("Downtown"):
            r = request("GET", b.url + "/v1/units", timeout=5.0 * ergrid.scale())
            assert r.status == 200, r

        # A request to the stopped broker sits in its socket until SIGCONT.
        late = {}

        def submit_late():
            late["r"] = request("POST", a.url + "/v1/jobs", body={
                "id": "stop-during", "type": "hazmat", "severity": "low",
                "required_capabilities": [NOBODY]}, timeout=120.0)
        t = threading.Thread(target=submit_late, daemon=True)
        t.start()

        def failing():
            for b in city.others("Downtown"):
                r = request("GET", b.url + "/v1/units", timeout=5.0 * ergrid.scale())
                assert r.status == 200, r
                r = request("GET", b.url + "/v1/jobs/stop-before", timeout=5.0 * ergrid.scale())
                assert r.status in (200, 404), r
                p = peer_entry(b, "Downtown")
                samples[b.name].append((p["consecutive_failures"], p["backoff_ms"]))
                assert p["stale"] is True, p
                assert p["consecutive_failures"] >= 3, p
            return True
        wait_until(failing, 60, interval=0.2,
                   message="peers count at least 3 failed pulls of the stopped Downtown")
        for name, s in samples.items():
            # the backoff grows with the failures
            by_fail = {}
            for f, bo in s:
                if f:
                    by_fail.setdefault(f, bo)
            fails = sorted(by_fail)
            assert fails and fails[-1] >= 3, (name, s)
            for f in fails:
                assert by_fail[f] > 0, (name, s)
            for f1, f2 in zip(fails, fails[1:]):
                assert by_fail[f2] > by_fail[f1], \
                    "%s: backoff did not grow with failures: %s" % (name, by_fail)
            p = peer_entry(city[name], "Downtown")
            assert p["last_success"] is not None and p["staleness_ms"] > 0, p
        # Their own districts keep working meanwhile.
        w = city["Westside"].submit_ok(["medical"], id="stop-ems")
        assert w["unit_id"] == "EMS-8", w
    finally:
        a.cont()

    t.join(60)
    assert "r" in late and late["r"].status == 201, late
    after = a.submit_ok([NOBODY], severity="low", id="stop-after")
    assert after["status"] == "queued", after
    for b in city.others("Downtown"):
        def caught_up(b=b):
            p = peer_entry(b, "Downtown")
            assert p["consecutive_failures"] == 0 and p["backoff_ms"] == 0, p
            assert p["stale"] is False, p
            return p
        wait_until(caught_up, SYNC_WAIT, message="%s pulls Downtown again" % b.name)
        for jid in ("stop-before", "stop-during", "stop-after"):
            wait_remote_job(b, jid, "Downtown", lambda j: j["status"] == "queued",
                            what="queued job of the once-stopped broker")


def _events_after(broker, after):
    """(every event after seq `after`, the last seq), paging through."""
    out = []
    while True:
        r = get("%s/v1/events?after=%d&limit=500" % (broker.url, after))
        assert r.status == 200, r
        out += r.json["events"]
        if not r.json["events"]:
            return out, after
        after = r.json["next"]


def test_paused_broker_does_not_declare_its_heartbeating_units_lost(cluster):
    """The broker, not its units, was silent (SIGSTOP longer than the
    failure timeout). Its units kept heartbeating the whole time (the
    heartbeats wait in its sockets), so on SIGCONT no unit is lost and no
    job moves: a broker stall must not become a false failure (DESIGN 6:
    "no false failure"; 3.3 redeploys for a unit that misses heartbeats).

    Whether the failure detector or the waiting heartbeats run first after
    SIGCONT is up to the scheduler, so the pause is repeated a few times."""
    city = make_city(cluster, GRID3, sync_interval=SYNC_FAST)
    a = city["Downtown"]
    j = a.submit_ok(["firefighting"], severity="critical", id="pause-1")
    assert j["unit_id"] == "LAFD-1" and j["attempt"] == 1, j
    wait_until(lambda: (city.ex("LAFD-1").assignment("pause-1") or {}).get("state") == "active",
               message="LAFD-1 holds pause-1")
    for cycle in range(3):
        after = _events_after(a, 0)[1]
        a.stop()
        try:
            for b in city.others("Downtown"):
                wait_until(lambda b=b: peer_entry(b, "Downtown")["consecutive_failures"] >= 2,
                           60, message="%s fails to pull the stopped Downtown twice" % b.name)
        finally:
            a.cont()
        base = {p["id"]: p["pulls"] for p in peers_of(a)["peers"]}
        wait_until(lambda: all(p["pulls"] >= base[p["id"]] + 2 for p in peers_of(a)["peers"]),
                   SYNC_WAIT, message="the resumed Downtown runs again (pulls its peers)")
        evs = _events_after(a, after)[0]
        lost = [(e["type"], e["unit_id"], e["job_id"], e["attempt"]) for e in evs
                if e["type"] in ("unit_lost", "job_requeued", "job_redeployed")]
        assert lost == [], "pause %d: the paused broker declared heartbeating units lost: %s" \
            % (cycle + 1, lost)
        cur = a.job("pause-1")
        assert [(x["attempt"], x["unit_id"], x["state"]) for x in cur["attempts"]] == \
            [(1, "LAFD-1", "active")], cur
        assert [(x["job_id"], x["attempt"]) for x in active_assignments(city.ex("LAFD-1"))] == \
            [("pause-1", 1)]
        for b in city.others("Downtown"):
            wait_until(lambda b=b: peer_entry(b, "Downtown")["consecutive_failures"] == 0,
                       SYNC_WAIT, message="%s pulls Downtown again" % b.name)


def test_killed_broker_results_stay_discoverable(cluster):
    city = make_city(cluster, GRID3, sync_interval=SYNC_FAST)
    a = city["Downtown"]
    j = a.submit_ok(["firefighting"], severity="critical", id="dead-1")
    assert j["unit_id"] == "LAFD-1", j
    r = city.ex("LAFD-1").report("dead-1", "contained", {"floor": 3})
    expect(r, 201, "report")
    winner = {"unit_id": "LAFD-1", "attempt": 1, "outcome": "contained", "data": {"floor": 3}}
    q = a.submit_ok([NOBODY], id="dead-2")
    assert q["status"] == "queued", q
    for b in city.others("Downtown"):
        wait_remote_job(b, "dead-1", "Downtown",
                        lambda j: j["status"] == "completed" and
                        result_core(j["result"]) == result_core(winner), what="result synced")
        wait_remote_job(b, "dead-2", "Downtown", lambda j: j["status"] == "queued",
                        what="queued job synced")

    a.kill9()
    for b in city.others("Downtown"):
        wait_until(lambda b=b: peer_entry(b, "Downtown")["consecutive_failures"] >= 2, SYNC_WAIT,
                   message="%s fails to pull the dead Downtown" % b.name)
    for b in city.others("Downtown"):
        j = remote_job(b, "dead-1", "Downtown")
        assert j["status"] == "completed" and result_core(j["result"]) == result_core(winner), j
        listed = [x for x in b.jobs() if x["id"] == "dead-1"]
        assert len(listed) == 1 and listed[0]["authoritative"] is False and \
            result_core(listed[0]["result"]) == result_core(winner), listed
        assert remote_job(b, "dead-2", "Downtown")["status"] == "queued"
        remote_unit(b, "LAFD-1", "Downtown")
        # results go to the owner: a peer never arbitrates another's job
        r = b.result("dead-1", "LAFD-1", 1, "spread")
        assert_error(r, 404, "not_found", "result at a non-owner")

    # Back on the same data dir: a new incarnation, the same record.
    a.restart()
    for b in city.others("Downtown"):
        wait_until(lambda b=b: peer_entry(b, "Downtown")["consecutive_failures"] == 0, SYNC_WAIT,
                   message="%s pulls the restarted Downtown" % b.name)
        j = remote_job(b, "dead-1", "Downtown")
        assert result_core(j["result"]) == result_core(winner), j
    assert result_core(a.job("dead-1")["result"]) == result_core(winner)



def test_peer_restarted_while_owner_is_down_still_answers(cluster):
    """Guarantee 4 across a restart: Westside keeps its synced copies on
    disk, so after Downtown dies and Westside itself restarts, Westside
    still answers for Downtown's accepted result (authoritative false)."""
    city = make_city(cluster, GRID3, sync_interval=SYNC_FAST)
    a = city["Downtown"]
    w = city["Westside"]
    j = a.submit_ok(["firefighting"], severity="critical", id="kept-1")
    assert j["unit_id"] == "LAFD-1", j
    expect(city.ex("LAFD-1").report("kept-1", "contained", {"floor": 2}), 201, "report")
    winner = {"unit_id": "LAFD-1", "attempt": 1, "outcome": "contained", "data": {"floor": 2}}
    wait_remote_job(w, "kept-1", "Downtown",
                    lambda j: j["status"] == "completed" and
                    result_core(j["result"]) == result_core(winner), what="result synced")
    a.kill9()
    w.kill9()
    w.restart()
    j = remote_job(w, "kept-1", "Downtown")
    assert j["authoritative"] is False and result_core(j["result"]) == result_core(winner), j
    assert any(x["id"] == "kept-1" for x in w.jobs())
    remote_unit(w, "LAFD-1", "Downtown")

# ---------------------------------------------------------- 5. emergency

def _declare(city, level):
    if city.coordinator is not None:
        r = post(city.coordinator.url + "/v1/emergency", {"level": level})
        assert r.status == 200, "POST coordinator /v1/emergency %s: %r" % (level, r)
    else:
        for b in city.brokers.values():
            r = post(b.url + "/v1/emergency", {"level": level})
            js = expect(r, 200, "POST %s/v1/emergency" % b.name)
            assert js["emergency"]["level"] == level, js
            check_vclock(js.get("vclock"), "emergency reply vclock")


def test_emergency_shortens_sync_interval(cluster):
    city = make_city(cluster, GRID3, sync_interval=SYNC_SLOW, emergency_sync_interval="1s")
    for b in city.brokers.values():
        e = emergency_of(b)
        assert e["emergency"]["level"] == "low" and e["sync_interval_ms"] == 60000, e
        assert peers_of(b)["sync_interval_ms"] == 60000

    _declare(city, "high")
    for b in city.brokers.values():
        def high(b=b):
            e = emergency_of(b)
            assert e["emergency"]["level"] == "high" and e["sync_interval_ms"] == 1000, e
            p = peers_of(b)
            assert p["sync_interval_ms"] == 1000 and p["emergency"] == "high", p
            return p
        wait_until(high, SYNC_WAIT, message="%s in emergency" % b.name)

    # The shorter interval is used, not just shown: with nothing changing
    # (no change signals), every peer is pulled again and again within a few
    # seconds, where the normal schedule would take a minute.
    start = {b.name: {p["id"]: p["pulls"] for p in peers_of(b)["peers"]}
             for b in city.brokers.values()}
    for b in city.brokers.values():
        def pulled(b=b):
            now = {p["id"]: p["pulls"] for p in peers_of(b)["peers"]}
            late = {pid: (start[b.name][pid], n) for pid, n in now.items()
                    if n < start[b.name][pid] + 3}
            assert not late, "%s: pulls (before, now) %s" % (b.name, late)
            return True
        wait_until(pulled, 15, interval=0.2,
                   message="%s pulls every peer on the emergency schedule" % b.name)
        for p in peers_of(b)["peers"]:
            assert p["stale"] is False and p["consecutive_failures"] == 0, p

    _declare(city, "low")
    for b in city.brokers.values():
        def low(b=b):
            e = emergency_of(b)
            assert e["emergency"]["level"] == "low" and e["sync_interval_ms"] == 60000, e
            assert peers_of(b)["sync_interval_ms"] == 60000
            return True
        wait_until(low, SYNC_WAIT, message="%s back to normal" % b.name)
    # Stays low once every broker has pulled every other after the change.
    for b in city.brokers.values():
        q = b.submit_ok([NOBODY], severity="low", id="em-%s" % b.name)
        assert q["status"] == "queued"
    for b in city.brokers.values():
        for o in city.others(b.name):
            wait_remote_job(o, "em-%s" % b.name, b.name, lambda j: j["status"] == "queued",
                            timeout=10, what="queued job signalled")
    for b in city.brokers.values():
        assert emergency_of(b)["emergency"]["level"] == "low", b.name


def test_emergency_declared_at_one_broker_is_not_undone_by_pulls(cluster):
    """Without a coordinator (--peer wiring), an emergency declared at one
    broker travels in the metadata every peer pulls. A peer that has not
    heard of it yet must not talk the declaring broker back down: the city
    ends at the declared level."""
    city = make_city(cluster, GRID3, sync_interval=SYNC_FAST, emergency_sync_interval="500ms",
                     use_coordinator=False)
    a = city["Downtown"]
    js = expect(post(a.url + "/v1/emergency", {"level": "high"}), 200, "declare at Downtown")
    assert js["emergency"]["level"] == "high" and js["sync_interval_ms"] == 500, js
    start = {b.name: {p["id"]: p["pulls"] for p in peers_of(b)["peers"]}
             for b in city.brokers.values()}
    seen = {b.name: [] for b in city.brokers.values()}

    def settled():
        for b in city.brokers.values():
            seen[b.name].append(emergency_of(b)["emergency"]["level"])
        for b in city.brokers.values():
            pulls = {p["id"]: p["pulls"] for p in peers_of(b)["peers"]}
            short = [pid for pid, n in pulls.items() if n < start[b.name][pid] + 2]
            assert not short, "%s has not pulled %s twice yet" % (b.name, short)
        levels = {b.name: emergency_of(b)["emergency"]["level"] for b in city.brokers.values()}
        assert set(levels.values()) == {"high"}, levels
        return levels
    try:
        wait_until(settled, 15, interval=0.1,
                   message="the declared emergency holds after every broker pulled every peer")
    finally:
        flips = {n: [lv for i, lv in enumerate(s) if i == 0 or s[i - 1] != lv]
                 for n, s in seen.items()}
        print("emergency levels over time (changes only):", flips)
    assert "low" not in seen["Downtown"], \
        "Downtown declared high and was talked back down by a peer: %s" % seen["Downtown"]
