"""Damaged and full disks (issue 9, item 6), against the real binaries.

A damaged data dir is refused at start, never mistaken for an empty
district: every case below was made by a real broker (or coordinator) that
stopped first, then had its files damaged the way disks and operators damage
them, and must exit non-zero with one message naming the file and what is
wrong; a truly new data dir still starts empty.

A full disk is a real one: a small tmpfs mounted on the data dir (we run as
root), or, where mounting is not allowed, SQLite's own page limit through
the broker's test-only ERGRID_TEST_PAGE_LIMIT_FILE. Either way the broker
gets a real SQLITE_FULL from its own writes; it must answer 503 unavailable
to writes, keep answering reads, lose nothing it acknowledged, start writing
again by itself when space returns, and keep all of it across kill -9."""

import concurrent.futures
import itertools
import os
import random
import shutil
import sqlite3
import subprocess
import threading

import pytest

from conftest import FIRE
from ergrid import assert_error, expect, get, post, result_core, scale, wait_until

N_JOBS = 200
MARKER = "district.id"           # the broker's "this data dir was used" file
COORD_MARKER = "coordinator.id"  # the coordinator's


# ------------------------------------------------------------------ helpers

def _submit_many(b, n, prefix="q"):
    """n queued jobs (nobody has hazmat), each acknowledged: id -> job."""
    acked = {}
    for i in range(n):
        r = b.submit(["hazmat"], severity=("low", "medium", "high", "critical")[i % 4],
                     id="%s-%d" % (prefix, i), type="chemical_spill",
                     payload={"note": "x" * 200, "i": i})
        job = expect(r, 201, "submission %d" % i)["job"]
        acked[job["id"]] = job
    return acked


def _this_start_log(svc):
    """The stderr of svc's latest start."""
    with open(svc.log_path, "rb") as f:
        text = f.read().decode("utf-8", "replace")
    return text[text.rfind("==== start #"):]


def _start_refused(svc, *fragments):
    """Starts svc, which must refuse its data dir: exit non-zero without
    serving, with one line `ergrid-<kind>: ...` that holds every fragment.
    Returns that line."""
    problem = svc.start()
    if problem is None:
        r = get(svc.url + ("/v1/jobs?scope=local" if svc.kind == "broker" else "/v1/brokers"))
        shown = r.json.get("jobs", r.json.get("brokers")) if r.json else None
        pytest.fail("%s started on a damaged data dir (it shows %s records)"
                    % (svc, len(shown) if shown is not None else "?"), pytrace=False)
    code = svc.proc.wait(10 * scale())
    assert code != 0, "%s refused its data dir but exited 0:\n%s" % (svc, _this_start_log(svc))
    lines = [l for l in _this_start_log(svc).splitlines()
             if l.startswith("ergrid-%s: " % svc.kind)]
    assert len(lines) == 1, "expected one refusal line, got:\n%s" % _this_start_log(svc)
    assert svc.data_dir in lines[0], "refusal %r does not name the data dir" % lines[0]
    # What it says, without the paths (they hold the test's name).
    said = lines[0].replace(svc.data_dir, "<dir>")
    for frag in fragments:
        frag = frag.replace(svc.data_dir, "<dir>")
        assert frag in said, "refusal %r does not say %r" % (lines[0], frag)
    print("refusal (exit %d): %s" % (code, lines[0]))
    return lines[0]


def _page_size(path):
    with open(path, "rb") as f:
        head = f.read(100)
    size = int.from_bytes(head[16:18], "big")
    return 65536 if size == 1 else size


def _garbage(path, pages):
    """Random bytes over the given pages (0-based) of the database file."""
    ps = _page_size(path)
    rnd = random.Random(9)
    with open(path, "r+b") as f:
        for p in pages:
            f.seek(p * ps)
            f.write(bytes(rnd.getrandbits(8) for _ in range(ps)))


def _table_pages(path, table):
    """Pages (0-based) holding the table's rows, from SQLite's dbstat."""
    con = sqlite3.connect("file:%s?mode=ro" % path, uri=True)
    try:
        rows = con.execute("SELECT pageno FROM dbstat WHERE name=? AND pagetype='leaf' "
                           "ORDER BY pageno", (table,)).fetchall()
    finally:
        con.close()
    return [r[0] - 1 for r in rows]


@pytest.fixture
def used_broker(cluster):
    """A broker that acknowledged N_JOBS jobs and stopped cleanly (its WAL
    checkpointed into broker.db)."""
    b = cluster.broker("Downtown")
    acked = _submit_many(b, N_JOBS)
    b.term()
    db = os.path.join(b.data_dir, "broker.db")
    assert os.path.getsize(db) > 20 * _page_size(db), "a database too small to damage"
    return b, db, acked


# ------------------------------------------------------------ damaged disks

def test_corrupt_middle_pages_refused(used_broker):
    b, db, _ = used_broker
    n = os.path.getsize(db) // _page_size(db)
    _garbage(db, range(n // 3, 2 * n // 3))
    _start_refused(b, db, "damaged")


def test_corrupt_job_rows_refused(used_broker):
    """Garbage over the middle leaf pages of the jobs table: loading stops in
    the middle of the jobs; a broker must not start with the ones before."""
    b, db, _ = used_broker
    pages = _table_pages(db, "jobs")
    assert len(pages) >= 6, pages
    _garbage(db, pages[len(pages) // 3:2 * len(pages) // 3])
    _start_refused(b, db, "damaged")


def test_corrupt_event_log_refused(used_broker):
    """Only the event log is damaged: every unit and job still loads, so
    only an integrity check at start can tell."""
    b, db, _ = used_broker
    pages = _table_pages(db, "events")
    assert len(pages) >= 4, pages
    _garbage(db, pages[len(pages) // 2:len(pages) // 2 + 2])
    _start_refused(b, db, "damaged")


def test_zero_length_database_refused(used_broker):
    b, db, _ = used_broker
    with open(db, "r+b") as f:
        f.truncate(0)
    _start_refused(b, db, "empty")


def test_database_missing_beside_its_wal_refused(cluster):
    """kill -9 leaves the district in the WAL; the database is then lost."""
    b = cluster.broker("Downtown")
    _submit_many(b, 20)
    b.kill9()
    db = os.path.join(b.data_dir, "broker.db")
    assert os.path.getsize(db + "-wal") > 0
    os.unlink(db)
    if os.path.exists(db + "-shm"):
        os.unlink(db + "-shm")
    _start_refused(b, db, "missing", "-wal")


def test_only_the_marker_left_refused(used_broker):
    b, db, _ = used_broker
    for name in os.listdir(b.data_dir):
        if name != MARKER:
            os.unlink(os.path.join(b.data_dir, name))
    _start_refused(b, db, "missing", "Downtown")


def test_fresh_and_older_data_dirs_start(used_broker):
    """A new data dir starts empty and is marked; a database of a build
    that wrote no marker starts with everything and gets one."""
    b, db, acked = used_broker
    with open(os.path.join(b.data_dir, MARKER)) as f:
        assert f.read().strip() == "Downtown"
    os.unlink(os.path.join(b.data_dir, MARKER))
    b.restart(allow_new_port=True)
    jobs = expect(get(b.url + "/v1/jobs?scope=local"), 200, "jobs")["jobs"]
    assert {j["id"] for j in jobs} == set(acked)
    b.term()
    assert os.path.exists(os.path.join(b.data_dir, MARKER))

    fresh = b.cluster.broker("Westside")
    assert expect(get(fresh.url + "/v1/jobs?scope=local"), 200, "jobs")["jobs"] == []
    assert os.path.exists(os.path.join(fresh.data_dir, MARKER))


def test_data_dir_of_another_district_refused(used_broker):
    b, db, _ = used_broker
    other = b.cluster.broker("Westside", start=False)
    shutil.rmtree(other.data_dir)
    shutil.copytree(b.data_dir, other.data_dir)
    _start_refused(other, "Downtown", "Westside")


# ------------------------------------------------------ the coordinator's

def _used_coordinator(cluster):
    c = cluster.coordinator(extra=["--poll-interval", "300ms"])
    for i in range(30):
        expect(post(c.url + "/v1/brokers", {"id": "D%d" % i, "url": "http://127.0.0.1:%d" % (20 + i)}),
               201, "register D%d" % i)
    for i in range(150):
        expect(post(c.url + "/v1/emergency", {"level": ("high", "low")[i % 2]}), 200, "declare")
    return c, os.path.join(c.data_dir, "coordinator.db")


@pytest.mark.parametrize("damage", ["corrupt", "zero_length", "missing_beside_wal", "marker_only"])
def test_coordinator_damaged_database_refused(cluster, damage):
    c, db = _used_coordinator(cluster)
    if damage == "missing_beside_wal":
        c.kill9()
        assert os.path.getsize(db + "-wal") > 0
        os.unlink(db)
        if os.path.exists(db + "-shm"):
            os.unlink(db + "-shm")
        _start_refused(c, db, "missing", "-wal")
        return
    c.term()
    if damage == "corrupt":
        pages = _table_pages(db, "events")
        assert len(pages) >= 4, pages
        _garbage(db, pages[len(pages) // 3:2 * len(pages) // 3])
        _start_refused(c, db, "damaged")
    elif damage == "zero_length":
        with open(db, "r+b") as f:
            f.truncate(0)
        _start_refused(c, db, "empty")
    else:
        for name in os.listdir(c.data_dir):
            if name != COORD_MARKER:
                os.unlink(os.path.join(c.data_dir, name))
        _start_refused(c, db, "missing")


def test_coordinator_fresh_data_dir_starts(cluster):
    c, db = _used_coordinator(cluster)
    c.term()
    assert os.path.exists(os.path.join(c.data_dir, COORD_MARKER))
    c.restart(allow_new_port=True)
    assert len(expect(get(c.url + "/v1/brokers"), 200, "brokers")["brokers"]) == 30


# --------------------------------------------------------------- full disks

class Tmpfs:
    """A small tmpfs on the data dir; fill() takes every byte left."""

    def __init__(self, path, size="8m"):
        self.path = path
        self.filler = os.path.join(path, "filler")
        os.makedirs(path, exist_ok=True)
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%s" % size, "tmpfs", path],
                           capture_output=True)
        self.ok = r.returncode == 0
        self.why = r.stderr.decode().strip()

    def fill(self):
        fd = os.open(self.filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            for chunk in (1 << 20, 65536, 4096, 512, 1):
                try:
                    while True:
                        os.write(fd, b"\0" * chunk)
                except OSError:  # ENOSPC
                    pass
        finally:
            os.close(fd)

    def free(self):
        os.unlink(self.filler)

    def unmount(self):
        subprocess.run(["umount", "-l", self.path], capture_output=True)


class PageLimit:
    """SQLite's max_page_count, read by the broker before each write
    transaction from the file ERGRID_TEST_PAGE_LIMIT_FILE names; 1 freezes
    the database at its current size."""

    def __init__(self, path):
        self.path = path
        self.file = path + "-limit"
        self.ok = True
        self.why = ""

    def fill(self):
        with open(self.file, "w") as f:
            f.write("1\n")

    def free(self):
        os.unlink(self.file)

    def unmount(self):
        pass


@pytest.fixture(params=["tmpfs", "page_limit"])
def full_disk(request, cluster, monkeypatch):
    """(how the disk fills, broker extra env) for a broker on data dir
    cluster.tmp/data-broker-Downtown."""
    path = os.path.join(str(cluster.tmp), "data-broker-Downtown")
    disk = Tmpfs(path) if request.param == "tmpfs" else PageLimit(path)
    if not disk.ok:
        pytest.skip("cannot mount a tmpfs here (%s): the page_limit case covers it" % disk.why)
    if request.param == "page_limit":
        monkeypatch.setenv("ERGRID_TEST_PAGE_LIMIT_FILE", disk.file)
    yield disk
    # The services stop at the cluster fixture's teardown, which runs after
    # this one: a lazy unmount lets them finish on it first.
    disk.unmount()


def _metric(b, name):
    """The value of one sample of /metrics, name with its labels."""
    r = get(b.url + "/metrics")
    assert r.status == 200, r
    for line in r.raw.decode().splitlines():
        key, _, value = line.rpartition(" ")
        if key == name:
            return float(value)
    raise AssertionError("no metric %s in /metrics" % name)


def _assert_unavailable(r, what):
    assert_error(r, 503, "unavailable", what)
    msg = r.json["error"]["message"]
    assert "storage" in msg, "%s: the 503 does not say storage failed: %r" % (what, msg)


def test_disk_full_answers_503_serves_reads_and_recovers(cluster, full_disk):
    b = cluster.broker("Downtown")
    ex = {u: cluster.executor(u, "fire", FIRE, b) for u in ("LAFD-1", "LAFD-2")}
    wait_until(lambda: all(b.unit(u)["status"] == "available" for u in ex), 20,
               message="units available")

    # Acknowledged before the disk fills: a finished job, an assigned one,
    # and queued ones.
    done = b.submit_ok(["firefighting"], id="fire-A")
    res = expect(ex[done["unit_id"]].report("fire-A", "contained", {"floor": 2}), 201, "report A")
    live = b.submit_ok(["firefighting"], id="fire-B")
    assert live["status"] == "assigned", live
    acked = _submit_many(b, 20)

    full_disk.fill()
    # The first write that needs room fails; every write after it is refused.
    k = 0
    while True:
        r = b.submit(["hazmat"], id="full-%d" % k, type="chemical_spill", payload={"pad": "y" * 3000})
        if r.status != 201:
            break
        acked[r.json["job"]["id"]] = r.json["job"]
        k += 1
        assert k < 3000, "3000 submissions fitted on a full disk"
    _assert_unavailable(r, "submission on a full disk")
    assert b.alive(), "the broker exited on a full disk:\n%s" % b.log_tail()
    refused = "full-%d" % k
    _assert_unavailable(b.submit(["hazmat"], id="full-x"), "a second submission")
    _assert_unavailable(b.result("fire-B", live["unit_id"], 1, "contained"), "a result")
    _assert_unavailable(post(b.url + "/v1/jobs/q-1/cancel", {}), "a cancel")
    _assert_unavailable(post(b.url + "/v1/emergency", {"level": "high"}), "an emergency")

    # Reads answer, from what the database holds.
    health = expect(get(b.url + "/v1/health"), 200, "health")
    assert health.get("storage") == "failing", health
    jobs = {j["id"]: j for j in expect(get(b.url + "/v1/jobs?scope=local"), 200, "jobs")["jobs"]}
    assert set(acked) | {"fire-A", "fire-B"} == set(jobs), sorted(set(jobs) ^ set(acked))
    assert refused not in jobs and "full-x" not in jobs
    assert result_core(jobs["fire-A"]["result"]) == result_core(res["result"]), jobs["fire-A"]
    assert jobs["fire-B"]["status"] == "assigned" and jobs["q-1"]["status"] == "queued"
    assert expect(get(b.url + "/v1/units/LAFD-1"), 200, "unit")["unit"]["status"] in ("available", "busy")

    # Degraded, nothing spins: probes come and fail, no further commit is
    # even tried (heartbeats, the failure detector and dispatch run on).
    failures = _metric(b, "ergrid_storage_commit_failures_total")
    probes = _metric(b, 'ergrid_storage_probes_total{result="failed"}')
    wait_until(lambda: _metric(b, 'ergrid_storage_probes_total{result="failed"}') >= probes + 2,
               20, message="two more failed probes")
    assert _metric(b, "ergrid_storage_commit_failures_total") == failures
    assert _metric(b, "ergrid_storage_failing") == 1

    # Space returns: the broker writes again by itself, no restart.
    full_disk.free()
    pid = b.proc.pid
    r = wait_until(lambda: b.submit(["hazmat"], id=refused, type="chemical_spill").status == 201,
                   20, message="a submission succeeds after space returned")
    assert b.proc.pid == pid and b.alive()
    acked[refused] = b.job(refused)
    assert expect(get(b.url + "/v1/health"), 200, "health").get("storage") == "ok"
    assert _metric(b, "ergrid_storage_failing") == 0
    acc = expect(b.result("fire-B", live["unit_id"], 1, "contained", {"after": "full"}), 201,
                 "result after recovery")

    # kill -9 and restart: everything acknowledged is there, as it was.
    b.kill9()
    b.restart()
    after = {j["id"]: j for j in expect(get(b.url + "/v1/jobs?scope=local"), 200, "jobs")["jobs"]}
    missing = sorted(set(acked) - set(after))
    assert not missing, "%d acknowledged jobs lost: %s" % (len(missing), missing[:10])
    for jid, j in acked.items():
        assert (after[jid]["status"], after[jid]["severity"]) == (j["status"], j["severity"]), jid
    assert "full-x" not in after
    assert result_core(after["fire-A"]["result"]) == result_core(res["result"])
    assert result_core(after["fire-B"]["result"]) == result_core(acc["result"])


def test_disk_full_under_load_loses_nothing(cluster, full_disk):
    """Submissions from four threads while the disk fills and empties, with
    units taking and finishing jobs, so dispatch, reports and the reload
    race: no reply but 201 or the 503, no crash, and after kill -9 every
    acknowledged job is there."""
    b = cluster.broker("Downtown")
    ex = {u: cluster.executor(u, "fire", FIRE, b, mode="simulate", extra=["--simulate-after", "50ms",
                                                                          "--capacity", "4"])
          for u in ("LAFD-1", "LAFD-2")}
    wait_until(lambda: all(b.unit(u)["status"] == "available" for u in ex), 20,
               message="units available")
    acked, bad, refused = {}, [], [0]
    lock, stop = threading.Lock(), threading.Event()

    def submitter(t):
        for k in itertools.takewhile(lambda _: not stop.is_set(), itertools.count(1)):
            caps = ["firefighting"] if k % 3 == 0 else ["hazmat"]
            try:
                r = b.submit(caps, id="L-%d-%d" % (t, k), severity="high", payload={"pad": "z" * 500})
            except OSError as e:
                bad.append(e)
                return
            with lock:
                if r.status == 201:
                    acked[r.json["job"]["id"]] = r.json["job"]["status"]
                elif r.status == 503 and r.json and r.json["error"]["code"] == "unavailable":
                    refused[0] += 1
                else:
                    bad.append(r)
                    return

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        for t in range(4):
            pool.submit(submitter, t)
        try:
            wait_until(lambda: len(acked) >= 40 or bad, 60, message="40 acknowledged")
            full_disk.fill()
            wait_until(lambda: refused[0] >= 20 or bad, 60, message="20 refusals on a full disk")
            full_disk.free()
            n = len(acked)
            wait_until(lambda: len(acked) >= n + 40 or bad, 60,
                       message="40 more after space returned")
        finally:
            stop.set()  # the pool joins the submitters on leaving
    assert not bad, "replies other than 2xx or 503 unavailable: %r" % bad[:5]
    assert b.alive(), b.log_tail()

    b.kill9()
    b.restart()
    after = {j["id"]: j for j in expect(get(b.url + "/v1/jobs?scope=local&limit=10000"), 200,
                                        "jobs")["jobs"]}
    missing = sorted(set(acked) - set(after))
    assert not missing, "%d acknowledged jobs lost: %s" % (len(missing), missing[:10])
    print("%d acknowledged, %d refused with 503, all %d there after kill -9"
          % (len(acked), refused[0], len(acked)))
