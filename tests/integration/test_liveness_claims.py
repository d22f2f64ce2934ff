"""Issue 9, the broker <-> broker half: mutual-aid claims that never strand
a unit or a job, and the rules for what a peer's copies may do.

Model paths (a) and (c) of item 10 and the fault campaign's lost releases:
- (a) a borrowed unit dies while the claim's 201 is in flight to its owner,
  and (a2) a borrowed unit is lost and back within one sync interval: the
  owner must move the job (the claim is gone at the home), never keep it
  ACTIVE on a unit its home no longer lends it;
- (c) the home broker declares a lent unit lost, drops the claim and gives
  the unit its own job while the owner settles its claim: never two brokers
  holding the unit;
- a release lost while the home broker is down, and a release after the
  owner restarted while the coordinator is unreachable: the unit is free
  again at its home within about one sync interval.
Item 7 (and item 4's pull side), with a fake peer (fakepeer.py): copies of
the receiving broker's own district are ignored and counted, a copy never
blocks an own job id, a poisoned object is skipped and counted while the
rest applies, and 200,000 copies neither stall the broker nor grow its
memory past the per-peer caps.

To force (a) and (c), the owner reaches the home through a proxy in the
test process that holds the claim's reply, and the borrowed unit is a fake
terminal that dies as it takes the assignment.
"""

import os
import re
import statistics
import threading
import time

import pytest

import ergrid
import fakepeer
from conftest import FIRE
from ergrid import expect, get, post, wait_until
from test_city import _free_ports

SYNC = "1s"
SYNC_WAIT = 30.0          # a change is due at every peer within one 1 s interval
HOME_TIMEOUT = "400ms"    # the home's failure timeout in the forced scenarios: (a) and (c)
                          # must happen inside the owner's 2 s claim call


@pytest.fixture
def fakes():
    """Fake peers, proxies and terminals of one test, closed after it."""
    made = []
    yield made
    for f in reversed(made):
        f.close()


def copy_of(broker, unit_id):
    r = get(broker.url + "/v1/units/" + unit_id)
    assert r.status == 200, r
    return r.json["unit"]


def events(broker, job_id=None, type=None):
    r = get(broker.url + "/v1/events?after=0&limit=5000")
    assert r.status == 200, r
    return [e for e in r.json["events"]
            if (job_id is None or e["job_id"] == job_id) and (type is None or e["type"] == type)]


def metric(broker, name, labels=""):
    r = get(broker.url + "/metrics")
    assert r.status == 200, r
    m = re.search(r"^%s%s (\d+)$" % (re.escape(name), re.escape(labels)), r.raw.decode(), re.M)
    return int(m.group(1)) if m else None


def rss_mb(service):
    with open("/proc/%d/status" % service.proc.pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return None


class AidPair:
    """Owner Downtown (no units of its own) and home Westside, each pulling
    the other every second; Downtown reaches Westside through a StallProxy.
    The unit at Westside is a FakeTerminal (LAFD-5)."""

    def __init__(self, cluster, fakes, home_timeout=HOME_TIMEOUT):
        p_owner, p_home = _free_ports(2)
        self.home = cluster.broker("Westside", failure_timeout=home_timeout, start=False,
                                   extra=["--sync-interval", SYNC, "--peer",
                                          "Downtown=http://127.0.0.1:%d" % p_owner])
        self.home.start_or_fail(p_home)
        self.proxy = fakepeer.StallProxy(self.home.url)
        fakes.append(self.proxy)
        self.owner = cluster.broker("Downtown", start=False,
                                    extra=["--sync-interval", SYNC, "--peer",
                                           "Westside=" + self.proxy.url])
        self.owner.start_or_fail(p_owner)
        self.term = fakepeer.FakeTerminal("LAFD-5", self.home.url)
        fakes.append(self.term)
        ergrid.wait_units_status(self.home, ["LAFD-5"], "available")
        wait_until(lambda: copy_of(self.owner, "LAFD-5")["status"] == "available", SYNC_WAIT,
                   message="Downtown sees LAFD-5 available")

    def submit_async(self, job_id):
        out = []
        t = threading.Thread(target=lambda: out.append(
            self.owner.submit(["firefighting"], id=job_id, severity="critical")), daemon=True)
        t.start()
        return t, out

    def claimed_at_owner(self, job_id):
        """The owner confirmed the claim (attempt 1 on LAFD-5): the scenario
        was forced, not cut short by the owner's own 2 s call timeout."""
        return any(e["attempt"] == 1 and e["unit_id"] == "LAFD-5"
                   for e in events(self.owner, job_id, "job_assigned"))


def _hold_claim_until(pair, job_id, then):
    """Submits job_id at the owner with the claim's 201 held at the proxy
    while then() runs (the claim is committed at the home by then), and
    releases it. Returns the submission's reply."""
    pair.proxy.hold(lambda m, p: m == "POST" and p.endswith("/claim"))
    t, out = pair.submit_async(job_id)
    wait_until(lambda: pair.proxy.held, 5, message="the claim's 201 held at the proxy")
    try:
        then()
    finally:
        pair.proxy.release()
    t.join(15)
    assert out, "the submission of %s did not return" % job_id
    if not pair.claimed_at_owner(job_id):
        pytest.fail("scenario not forced: Downtown's claim call timed out before the held 201 "
                    "was released (%r); the machine is too slow for a %s failure timeout"
                    % (pair.proxy.delivered, HOME_TIMEOUT))
    return out[0]


def test_a_borrowed_unit_dies_while_the_claims_201_is_in_flight(cluster, fakes):
    """Model path (a): the home commits the claim and sends its 201; the unit
    dies; the owner's pull sees it lost while its attempt is still pending;
    then the 201 arrives. Today the owner settles the attempt ACTIVE on a
    dead unit and never moves the job, even after the unit is back and free.
    Fixed: the settle knows the claim is gone (the home's copy is newer than
    the claim and does not list it), the attempt is revoked, the job queued,
    and it gets the unit again once it is back."""
    pair = AidPair(cluster, fakes)
    pair.term.on_assignment = lambda msg: pair.term.die()  # dies as it answers 201

    def dies_and_owner_sees_it():
        wait_until(lambda: pair.home.unit("LAFD-5")["status"] == "lost", 5,
                   message="LAFD-5 lost at its home")
        wait_until(lambda: copy_of(pair.owner, "LAFD-5")["status"] == "lost", 5,
                   message="Downtown's copy of LAFD-5 lost while its claim is pending")
    reply = _hold_claim_until(pair, "aid-a", dies_and_owner_sees_it)
    assert reply.status == 201, reply
    pair.term.on_assignment = None
    t0 = time.monotonic()
    pair.term.live()
    ergrid.wait_units_status(pair.home, ["LAFD-5"], "available", timeout=10)

    def moved():
        j = pair.owner.job("aid-a")
        states = [(a["attempt"], a["unit_id"], a["state"]) for a in j["attempts"]]
        assert states[:1] == [(1, "LAFD-5", "revoked")], \
            "aid-a still holds attempt 1 on a unit its home no longer lends it: %s" % states
        assert j["status"] == "assigned" and states[-1][2] == "active", j
        home = pair.home.unit("LAFD-5")
        assert home["jobs"] == ["aid-a"], home
        return j
    j = wait_until(moved, SYNC_WAIT, message="aid-a moved off the dead claim and served again")
    print("\n(a) unit back -> job served again in %.2f s (attempt %d)"
          % (time.monotonic() - t0, j["attempt"]))
    assert j["attempt"] == 2 and pair.term.holds() == {"aid-a": 2}, (j, pair.term.holds())


def test_a2_borrowed_unit_lost_and_back_within_one_interval(cluster, fakes):
    """Model path (a), second form: the borrowed unit is lost and back
    before its owner pulls again (the owner's pulls fail meanwhile), so the
    owner never sees it lost. Today the job stays assigned to a unit that
    its home shows available with no job, for good. Fixed: the home's copy is
    newer than the claim and does not list it -- the job moves."""
    pair = AidPair(cluster, fakes)
    j = pair.owner.submit_ok(["firefighting"], id="aid-a2", severity="critical")
    assert j["status"] == "assigned" and j["unit_id"] == "LAFD-5", j
    wait_until(lambda: copy_of(pair.owner, "LAFD-5")["jobs"] == ["aid-a2"], SYNC_WAIT,
               message="Downtown sees the claim")
    pair.proxy.fail_pulls = True
    pair.term.die()
    wait_until(lambda: pair.home.unit("LAFD-5")["status"] == "lost", 10,
               message="LAFD-5 lost at its home")
    pair.term.live()
    wait_until(lambda: pair.home.unit("LAFD-5")["status"] == "available", 10,
               message="LAFD-5 back at its home, its claim dropped")
    assert copy_of(pair.owner, "LAFD-5")["status"] == "busy"  # it never saw it lost
    t0 = time.monotonic()
    pair.proxy.fail_pulls = False

    def moved():
        j = pair.owner.job("aid-a2")
        states = [(a["attempt"], a["state"]) for a in j["attempts"]]
        assert states[:1] == [(1, "revoked")], "aid-a2 still on its dropped claim: %s" % states
        assert j["status"] == "assigned" and states[-1] == (2, "active"), j
        return j
    wait_until(moved, SYNC_WAIT, message="aid-a2 moved off the dropped claim")
    print("\n(a2) pulls back -> job moved in %.2f s" % (time.monotonic() - t0))
    assert pair.home.unit("LAFD-5")["jobs"] == ["aid-a2"]


def test_c_home_drops_a_lent_unit_and_gives_it_its_own_job(cluster, fakes):
    """Model path (c): while the owner's claim is in flight the home declares
    the lent unit lost, drops the claim, sees it back and gives it a job of
    its own; then the owner settles. Today both brokers hold the unit for
    good. Fixed: the owner revokes its attempt (the claim is gone) and its
    job gets the unit when the home's job is done."""
    pair = AidPair(cluster, fakes)
    pair.term.on_assignment = lambda msg: pair.term.die()

    def dropped_and_reused():
        wait_until(lambda: pair.home.unit("LAFD-5")["status"] == "lost", 5,
                   message="LAFD-5 lost at its home")
        pair.term.on_assignment = None
        pair.term.live()
        wait_until(lambda: pair.home.unit("LAFD-5")["status"] == "available", 5,
                   message="LAFD-5 back at its home")
        own = pair.home.submit_ok(["firefighting"], id="own-c", severity="high")
        assert own["status"] == "assigned" and own["unit_id"] == "LAFD-5", own
    _hold_claim_until(pair, "aid-c", dropped_and_reused)

    def one_holder():
        j = pair.owner.job("aid-c")
        a1 = [a for a in j["attempts"] if a["attempt"] == 1]
        assert a1 and a1[0]["state"] == "revoked", \
            "two brokers hold LAFD-5: Westside for own-c, Downtown for aid-c %r" % (j["attempts"],)
        return j
    t0 = time.monotonic()
    wait_until(one_holder, SYNC_WAIT, message="Downtown gives up the dropped claim")
    print("\n(c) owner gave up the dropped claim %.2f s after settling" % (time.monotonic() - t0))
    assert pair.home.unit("LAFD-5")["jobs"] == ["own-c"]
    assert pair.owner.job("aid-c")["status"] == "queued"
    # The home's job is done: the owner's job gets the unit.
    expect(pair.home.result("own-c", "LAFD-5", 1, "contained"), 201, "own-c's report")

    def served():
        j = pair.owner.job("aid-c")
        assert j["status"] == "assigned" and j["attempts"][-1]["state"] == "active", j
        return j
    j = wait_until(served, SYNC_WAIT, message="aid-c gets LAFD-5 once it is free")
    assert j["unit_id"] == "LAFD-5" and pair.home.unit("LAFD-5")["jobs"] == ["aid-c"]


def test_a_units_claims_and_every_objects_version_are_shown(cluster):
    """The contract the owner's repair reads: a unit lists the claims it
    holds, every object (own or in a metadata page) carries its change
    version, and a claim's reply the home's version at the claim."""
    owner, home, ex = _direct_pair(cluster)
    j = owner.submit_ok(["firefighting"], id="aid-v", severity="high")
    assert j["unit_id"] == "LAFD-5", j
    u = home.unit("LAFD-5")
    assert u["claims"] == [{"job_id": "aid-v", "attempt": 1, "owner": "Downtown"}], u
    assert isinstance(u["version"], int) and u["version"] > 0, u
    page = expect(get(home.url + "/v1/metadata?since=0"), 200, "metadata")
    for o in page["units"] + page["jobs"]:
        assert isinstance(o.get("version"), int) and 0 < o["version"] <= page["version"], o
    assert [x["version"] for x in page["units"] if x["id"] == "LAFD-5"] == [u["version"]]
    # A claim's retry answers what the claim answered: the claim and the version.
    body = {"job": owner.job("aid-v"), "attempt": 1, "owner": "Downtown",
            "owner_url": owner.url}
    r = post(home.url + "/v1/units/LAFD-5/claim", body)
    js = expect(r, 200, "claim retry")
    assert js["claim"]["job_id"] == "aid-v" and js["claim"]["attempt"] == 1, js
    assert js["claim"]["version"] == js["unit"]["version"] == u["version"], js
    assert isinstance(js["claim"]["epoch"], str) and js["claim"]["epoch"], js
    copy = copy_of(owner, "LAFD-5")
    wait_until(lambda: copy_of(owner, "LAFD-5").get("claims") ==
               [{"job_id": "aid-v", "attempt": 1, "owner": "Downtown"}], SYNC_WAIT,
               message="the copy at Downtown lists the claim")
    del copy, ex


# ----------------------------------------------------------- lost releases

def _direct_pair(cluster, coordinator=None):
    """Downtown (no units) and Westside with a real LAFD-5, wired by --peer
    or through a coordinator."""
    if coordinator:
        extra = ["--sync-interval", SYNC, "--coordinator", coordinator.url]
        home = cluster.broker("Westside", extra=extra)
        owner = cluster.broker("Downtown", extra=extra)
    else:
        p_owner, p_home = _free_ports(2)
        home = cluster.broker("Westside", start=False, extra=[
            "--sync-interval", SYNC, "--peer", "Downtown=http://127.0.0.1:%d" % p_owner])
        home.start_or_fail(p_home)
        owner = cluster.broker("Downtown", start=False, extra=[
            "--sync-interval", SYNC, "--peer", "Westside=http://127.0.0.1:%d" % p_home])
        owner.start_or_fail(p_owner)
    ex = cluster.executor("LAFD-5", "fire", FIRE, home)
    ergrid.wait_units_status(home, ["LAFD-5"], "available")
    wait_until(lambda: copy_of(owner, "LAFD-5")["status"] == "available", SYNC_WAIT,
               message="Downtown sees LAFD-5")
    return owner, home, ex


def test_release_lost_while_the_home_is_down_is_repaired(cluster):
    """The fault campaign's busy-for-no-job: the home broker is killed while
    the owner accepts the result of its borrowed unit, so the release fails
    and is never sent again; restarted, the home keeps the unit busy for a
    finished job for good. Fixed: the home reconciles its claims with its
    copy of the owner's job and frees the unit within a sync interval."""
    owner, home, ex = _direct_pair(cluster)
    j = owner.submit_ok(["firefighting"], id="aid-r", severity="high")
    assert j["unit_id"] == "LAFD-5" and j["attempts"][0]["district"] == "Westside", j
    wait_until(lambda: (ex.assignment("aid-r") or {}).get("state") == "active", 10,
               message="LAFD-5 holds aid-r")
    home.kill9()
    r = ex.report("aid-r", "contained", {"crew": "LAFD-5"})
    assert r.status == 201 and r.json["accepted"] is True, r
    assert owner.job("aid-r")["status"] == "completed"
    # The owner's release has failed for good (the outbox gave up on it)
    # before the home is back.
    wait_until(lambda: (metric(owner, "ergrid_outbox_failed_total") or 0) >= 1, 10,
               message="Downtown's release of LAFD-5 failed")
    home.restart()
    t0 = time.monotonic()

    def free():
        u = home.unit("LAFD-5")
        assert u["status"] == "available" and u["jobs"] == [], u
        return True
    wait_until(free, SYNC_WAIT, message="LAFD-5 free at its restarted home")
    print("\nhome restarted -> unit free again in %.2f s (sync interval %s)"
          % (time.monotonic() - t0, SYNC))
    # Freed by the repair: its copy of the owner's job shows the attempt finished.
    ev = events(home, "aid-r", "unit_released")
    assert any("copy of the job shows attempt 1 finished" in e["detail"] for e in ev), ev
    n = home.submit_ok(["firefighting"], id="after-r")
    assert n["status"] == "assigned" and n["unit_id"] == "LAFD-5", n


def test_owner_restarted_while_the_coordinator_is_down_still_releases(cluster):
    """An owner broker restarted while the coordinator cannot be reached
    knew no peers, so it skipped the release of its borrowed unit (and could
    not pull its home). Fixed: the peers learned from the coordinator are
    persisted; the release reaches the home."""
    if not os.path.exists(os.path.join(ergrid.build_dir(), ergrid.BINARIES["coordinator"])):
        pytest.skip("needs the coordinator")
    coord = cluster.coordinator()
    owner, home, ex = _direct_pair(cluster, coordinator=coord)
    j = owner.submit_ok(["firefighting"], id="aid-k", severity="high")
    assert j["unit_id"] == "LAFD-5", j
    wait_until(lambda: (ex.assignment("aid-k") or {}).get("state") == "active", 10,
               message="LAFD-5 holds aid-k")
    coord.kill9()
    owner.kill9()
    owner.restart()
    peers = get(owner.url + "/v1/peers").json["peers"]
    assert [(p["id"], p["url"]) for p in peers] == [("Westside", home.url)], \
        "restarted with the coordinator down, Downtown knows peers %r" % (peers,)
    r = ex.report("aid-k", "contained")
    assert r.status == 201 and r.json["accepted"] is True, r

    def released():
        u = home.unit("LAFD-5")
        assert u["status"] == "available" and u["jobs"] == [], u
        ev = events(home, "aid-k", "unit_released")
        assert any("(finished)" in e["detail"] for e in ev), ev
        return True
    wait_until(released, SYNC_WAIT, message="the release of LAFD-5 reaches Westside")


# ----------------------------------------------------- a peer's copies

def _pulled_by(broker, fp, n=2):
    """Waits for n more pulls of the fake peer to be served and applied
    (the peer table counts a good pull after it is applied)."""
    base = [p for p in get(broker.url + "/v1/peers").json["peers"] if p["id"] == fp.district][0]
    wait_until(lambda: [p for p in get(broker.url + "/v1/peers").json["peers"]
                        if p["id"] == fp.district][0]["pulls"] >= base["pulls"] + n,
               SYNC_WAIT, message="%d good pulls of %s" % (n, fp.district))


def _with_fake_peer(cluster, fakes, **kw):
    fp = fakepeer.FakePeer("Fake", **kw)
    fakes.append(fp)
    b = cluster.broker("Downtown", extra=["--sync-interval", "300ms", "--peer", "Fake=" + fp.url])
    return b, fp


def test_copies_claiming_our_own_district_are_ignored_and_counted(cluster, fakes):
    b, fp = _with_fake_peer(cluster, fakes)
    ex = cluster.executor("LAFD-1", "fire", FIRE, b)
    ergrid.wait_units_status(b, ["LAFD-1"], "available")
    fp.set_objects(
        units=[fakepeer.unit_obj("F-1", "Fake"),
               fakepeer.unit_obj("GHOST-1", "Downtown"),          # "ours", says the peer
               fakepeer.unit_obj("LAFD-1", "Fake", status="lost"),  # our own unit's id
               fakepeer.unit_obj("V-9", "Valley")],               # a third district's
        jobs=[fakepeer.job_obj("F-J1", "Fake"),
              fakepeer.job_obj("GHOST-J", "Downtown"),
              fakepeer.job_obj("V-J", "Valley")])
    wait_until(lambda: get(b.url + "/v1/units/F-1").status == 200, SYNC_WAIT,
               message="the fake peer's own unit copied")
    _pulled_by(b, fp)
    for path in ("/v1/units/GHOST-1", "/v1/jobs/GHOST-J", "/v1/units/V-9", "/v1/jobs/V-J"):
        r = get(b.url + path)
        assert r.status == 404, "%s: a copy the peer may not write was kept: %r" % (path, r)
    own = b.unit("LAFD-1")
    assert own["authoritative"] is True and own["status"] == "available", own
    ids = {u["id"] for u in b.units()}
    assert ids == {"LAFD-1", "F-1"}, ids
    assert metric(b, "ergrid_remote_ignored_total", '{reason="own_district"}') == 2
    assert metric(b, "ergrid_remote_ignored_total", '{reason="not_the_senders"}') == 2
    assert metric(b, "ergrid_remote_ignored_total", '{reason="own_id"}') >= 1
    del ex


def test_a_copy_never_blocks_an_own_job_id(cluster, fakes):
    """A lying peer could block ids by claiming them: a district's own
    submission of an id a peer's copy holds is accepted, and it is the
    district's own job that GET answers for."""
    b, fp = _with_fake_peer(cluster, fakes)
    fp.set_objects(jobs=[fakepeer.job_obj("SHARED-1", "Fake", status="completed")])
    wait_until(lambda: get(b.url + "/v1/jobs/SHARED-1").status == 200, SYNC_WAIT,
               message="the fake peer's job copied")
    r = b.submit(["hazmat_decon"], id="SHARED-1")
    assert r.status == 201, "own submission of an id a copy holds: %r" % (r,)
    j = b.job("SHARED-1")
    assert j["authoritative"] is True and j["owner"] == "Downtown" and j["status"] == "queued", j
    # Again: the same body is the same job (200), the copy changes nothing.
    r = b.submit(["hazmat_decon"], id="SHARED-1")
    assert r.status == 200 and r.json["job"]["authoritative"] is True, r
    _pulled_by(b, fp)
    assert b.job("SHARED-1")["authoritative"] is True


def _poisoned_page(fp, since, epoch, limit, extra_jobs=()):
    good = [fakepeer.job_obj("GOOD-1", "Fake"), fakepeer.job_obj("GOOD-2", "Fake")]
    parts = ['{"broker":"Fake","url":"%s","epoch":"%s","version":%d,"full":true,"more":false,'
             '"emergency":"normal","emergency_set_ms":0,"vclock":{"Fake":1},'
             % (fp.url, fp.epoch, fp.version)]
    jobs = [ergrid.json.dumps(good[0]),
            # too deep: jansson refuses the whole page at 2048 levels
            ergrid.json.dumps(fakepeer.job_obj("DEEP-1", "Fake", location="@@"))
            .replace('"@@"', fakepeer.nested_text(2047)),
            ergrid.json.dumps(fakepeer.job_obj("BIG-1", "Fake", location={"a": "x" * 9000})),
            ergrid.json.dumps(fakepeer.job_obj("TYPE-1", "Fake", severity=7)),
            ergrid.json.dumps(fakepeer.job_obj("../etc", "Fake")),
            "[1,2,3]"]
    jobs += [ergrid.json.dumps(j) for j in extra_jobs]
    jobs.append(ergrid.json.dumps(good[1]))
    units = [ergrid.json.dumps(fakepeer.unit_obj("GOOD-U", "Fake")),
             ergrid.json.dumps(fakepeer.unit_obj("BADCAP-U", "Fake", capabilities=[7]))]
    parts.append('"units":[%s],"jobs":[%s]}' % (",".join(units), ",".join(jobs)))
    return "".join(parts).encode()


def test_a_poisoned_object_is_skipped_and_counted_the_rest_applies(cluster, fakes):
    """Item 4, the pull side: a page with objects the broker cannot apply
    (nested 2,047 deep, too big, bad types, a bad id, not an object) skips
    each of them, counts them, and applies the rest; later pulls keep
    working."""
    b, fp = _with_fake_peer(cluster, fakes)
    extra = []
    fp.pages = lambda since, epoch, limit: _poisoned_page(fp, since, epoch, limit, extra)
    wait_until(lambda: get(b.url + "/v1/jobs/GOOD-2").status == 200, SYNC_WAIT,
               message="the good objects of a poisoned page applied")
    assert get(b.url + "/v1/jobs/GOOD-1").status == 200
    assert get(b.url + "/v1/units/GOOD-U").status == 200
    for bad in ("DEEP-1", "BIG-1", "TYPE-1"):
        assert get(b.url + "/v1/jobs/" + bad).status == 404, bad
    assert get(b.url + "/v1/units/BADCAP-U").status == 404
    skipped = metric(b, "ergrid_remote_skipped_total")
    assert skipped is not None and skipped >= 6, skipped
    # The poison stays in every page: later changes still arrive.
    extra.append(fakepeer.job_obj("LATER-1", "Fake"))
    fp.version += 1
    wait_until(lambda: get(b.url + "/v1/jobs/LATER-1").status == 200, SYNC_WAIT,
               message="a later change of the same peer applied")
    peer = [p for p in get(b.url + "/v1/peers").json["peers"] if p["id"] == "Fake"][0]
    assert peer["consecutive_failures"] == 0, peer


def test_two_hundred_thousand_copies_stall_nothing_and_stay_within_the_caps(cluster, fakes,
                                                                           monkeypatch):
    """Item 7: a peer sends 200,000 job copies with 2 KiB payloads, in pages
    as large as the client takes. Today they take the broker from 12 MB to
    over half a gigabyte and stall it for seconds. Fixed: copies are capped
    per peer (count and bytes), pages are parsed outside the broker lock and
    applied in bounded steps, so other requests keep being answered."""
    total, per_page = 200000, 3000
    note = "x" * 2048
    fp = fakepeer.FakePeer("Fake")
    fakes.append(fp)

    def pages(since, epoch, limit):
        start = since if epoch == fp.epoch else 0
        if start >= total:
            return fp.envelope([], [], total, full=False)
        end = min(total, start + per_page)
        objs = ",".join(
            '{"id":"FJ-%d","type":"t","severity":"low","required_capabilities":["firefighting"],'
            '"owner":"Fake","status":"queued","unit_id":null,"attempt":null,"attempts":[],'
            '"result":null,"authoritative":true,"payload":{"note":"%s"}}' % (i, note)
            for i in range(start, end))
        return ('{"broker":"Fake","url":"%s","epoch":"%s","version":%d,"full":%s,"more":%s,'
                '"units":[],"jobs":[%s]}' % (fp.url, fp.epoch, end,
                                             "true" if start == 0 else "false",
                                             "true" if end < total else "false", objs)).encode()
    fp.pages = pages
    fp.epoch = "flood"
    # Under ASan freed blocks wait in a 256 MB quarantine, so the RSS of the
    # sanitizer build would count every page already parsed and dropped (455
    # MB measured), not the copies kept: with it off, RSS is live memory
    # again. A build without ASan ignores the variable.
    monkeypatch.setenv("ASAN_OPTIONS",
                       ":".join(filter(None, [os.environ.get("ASAN_OPTIONS"),
                                              "quarantine_size_mb=0"])))
    b = cluster.broker("Downtown", extra=["--sync-interval", "1s", "--peer", "Fake=" + fp.url])
    ex = cluster.executor("LAFD-1", "fire", FIRE, b)
    ergrid.wait_units_status(b, ["LAFD-1"], "available")
    rss0 = rss_mb(b)
    lat, submit_lat, n, i = [], [], 0, 0
    t0 = time.monotonic()
    while True:
        a = time.monotonic()
        r = get(b.url + "/v1/health")
        lat.append(time.monotonic() - a)
        assert r.status == 200, r
        if i % 10 == 0:
            a = time.monotonic()
            r = b.submit(["hazmat_decon"], id="during-%d" % i, severity="low")
            submit_lat.append(time.monotonic() - a)
            assert r.status == 201, r
        i += 1
        peer = [p for p in get(b.url + "/v1/peers").json["peers"] if p["id"] == "Fake"][0]
        n = peer["jobs_received"]
        refused = metric(b, "ergrid_remote_refused_total") or 0
        if n + refused >= total:
            break
        assert time.monotonic() - t0 < 600 * ergrid.scale(), "ingest did not finish"
        time.sleep(0.02)
    ingest = time.monotonic() - t0
    rss1 = rss_mb(b)
    a = time.monotonic()
    units = b.units()
    units_s = time.monotonic() - a
    a = time.monotonic()
    r = get(b.url + "/v1/jobs?limit=10")
    jobs_s = time.monotonic() - a
    cap = metric(b, "ergrid_remote_bytes_max")
    held = metric(b, "ergrid_remote_bytes", '{peer="Fake"}')
    print("\n200,000 copies of 2 KiB: ingest %.1f s; during it GET /v1/health p50 %.1f ms, "
          "max %.1f ms (%d requests), POST /v1/jobs max %.1f ms; copies kept %d, refused %d; "
          "copy bytes %s of cap %s; RSS %.0f -> %.0f MB; then GET /v1/units %.2f s, "
          "GET /v1/jobs %.2f s"
          % (ingest, 1000 * statistics.median(lat), 1000 * max(lat), len(lat),
             1000 * max(submit_lat), n, refused, held, cap, rss0, rss1, units_s, jobs_s))
    assert cap is not None and held is not None and held <= cap, (held, cap)
    assert r.status == 200 and r.json["total"] >= 1
    assert rss1 - rss0 <= 2 * cap / (1024 * 1024) + 32, \
        "memory grew %.0f MB for copies capped at %.0f MB" % (rss1 - rss0, cap / 2 ** 20)
    assert {u["id"] for u in units} == {"LAFD-1"}
    del ex
