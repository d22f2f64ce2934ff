"""Harness for the HA suite (issue 14): a district of several brokers on one
etcd cluster, finding its leader, writes that follow the leader, and the
record of what clients were told (Jepsen style: every 2xx is kept, the
checks run over the whole record afterwards).

Owns: starting etcd for a test (tests/etcd/etcd_cluster.py), the HABroker
and HADistrict wrappers, wait_leader, leader-following writes, the History
of acknowledged operations with its checker, and the HA figures file.
Builds on ergrid.py (processes, HTTP) and changes nothing there.
"""

import base64
import json
import os
import shutil
import statistics
import sys
import threading
import time
import urllib.parse

import pytest

import ergrid
from ergrid import get, request, wait_until
from test_city import _free_ports as free_ports

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tests", "etcd"))
from etcd_cluster import EtcdCluster  # noqa: E402

LEASE = "2s"           # tests not about the default use the shortest lease
LEASE_S = 2.0
# How long a takeover may take before a wait gives up (not a target: the
# target, lease + 1 s, is a figure the suite prints, never asserts).
TAKEOVER_WAIT = 20.0


def etcd_cluster(members=3):
    """An EtcdCluster for one test. No etcd binary is a failure, not a skip:
    the test command installs etcd-server, and a skip would hide that it did
    not."""
    if not (os.environ.get("ETCD_BIN") or shutil.which("etcd")):
        pytest.fail("no etcd binary: the HA suite needs etcd-server (scripts/deps.sh installs it)",
                    pytrace=False)
    return EtcdCluster(members=members, ready_timeout=int(30 * ergrid.scale()))


@pytest.fixture
def etcd():
    """A fresh 3-member cluster per test. A test names it before `cluster`
    so its brokers are stopped (and resign) while etcd still runs."""
    with etcd_cluster(3) as cl:
        yield cl


def etcd_get(cl, key):
    """The value of one key, read through etcd's JSON gateway at any member
    that answers (None when absent): what a broker committed, seen without
    the broker."""
    kv = etcd_kv(cl, key)
    return kv["value"] if kv else None


def etcd_kv(cl, key):
    """{"value", "mod_revision"} of one key, or None when absent."""
    body = {"key": base64.b64encode(key.encode()).decode()}
    last = None
    for url in cl.urls:
        try:
            r = request("POST", url + "/v3/kv/range", body=body, timeout=3.0)
        except OSError as e:
            last = e
            continue
        if r.status == 200 and isinstance(r.json, dict):
            kvs = r.json.get("kvs") or []
            if not kvs:
                return None
            return {"value": base64.b64decode(kvs[0].get("value", "")).decode(),
                    "mod_revision": int(kvs[0]["mod_revision"])}
        last = r
    raise AssertionError("no etcd member answered a range of %s (last %r)" % (key, last))


# ---------------------------------------------------------------- brokers

class HABroker(ergrid.Broker):
    """One of a district's brokers: same --id as its siblings, its own log
    files and port (kept across restarts: executors and peers know the
    district by the fixed list of its brokers' URLs)."""

    def __init__(self, cluster, district, index, failure_timeout, extra):
        data = os.path.join(str(cluster.tmp), "data-broker-%s-%d" % (district, index))
        super().__init__(cluster, district, failure_timeout, extra, data)
        self.name = "%s-%d" % (district, index)
        self.log_path = os.path.join(str(cluster.tmp), "broker-%s.stderr.log" % self.name)
        self.out_path = os.path.join(str(cluster.tmp), "broker-%s.stdout.log" % self.name)
        self.paused = False

    def health(self, timeout=2.0):
        """GET /v1/health as JSON, or None when it does not answer."""
        try:
            r = request("GET", self.url + "/v1/health", timeout=timeout)
        except OSError:
            return None
        return r.json if r.status == 200 and isinstance(r.json, dict) else None

    def stop(self):
        self.paused = True
        super().stop()

    def cont(self):
        super().cont()
        self.paused = False


class HADistrict:
    """n brokers for one district on one etcd cluster, on ports picked
    before any starts so every executor can be given the whole list."""

    def __init__(self, cluster, etcd, name="Downtown", n=2, lease=LEASE,
                 failure_timeout=ergrid.FAILURE_TIMEOUT, extra=()):
        self.cluster = cluster
        self.etcd = etcd
        self.name = name
        self.ports = free_ports(n)
        args = ["--store", "etcd", "--etcd", etcd.url_list, "--leader-lease", lease] + list(extra)
        self.brokers = []
        for i in range(n):
            b = HABroker(cluster, name, i, failure_timeout, args)
            cluster.services.append(b)
            self.brokers.append(b)

    def start(self):
        for b, port in zip(self.brokers, self.ports):
            b.start_or_fail(port)
        return self

    @property
    def urls(self):
        return ["http://127.0.0.1:%d" % p for p in self.ports]

    @property
    def url_list(self):
        return ",".join(self.urls)

    def by_url(self, url):
        for b in self.brokers:
            if b.port is not None and b.url == url.rstrip("/"):
                return b
        return None

    def running(self):
        return [b for b in self.brokers if b.alive() and not b.paused]

    def roles(self):
        """{broker: health} of every running broker that answered."""
        out = {}
        for b in self.running():
            h = b.health()
            if h is not None:
                out[b] = h
        return out

    def leader_now(self):
        """The one leader every running broker agrees on, or None."""
        roles = self.roles()
        leaders = [b for b, h in roles.items() if h.get("role") == "leader"]
        if len(leaders) != 1 or len(roles) != len(self.running()):
            return None
        lead = leaders[0]
        for b, h in roles.items():
            if b is not lead and (h.get("role") != "follower" or h.get("leader") != lead.url):
                return None
        return lead

    def wait_leader(self, timeout=TAKEOVER_WAIT, exclude=()):
        """Polls /v1/health until exactly one running broker leads and every
        other running one names it; returns it."""
        def one():
            lead = self.leader_now()
            return lead if lead is not None and lead not in exclude else None
        return wait_until(one, timeout, interval=0.05,
                          message="exactly one leader of %s (%s)" % (
                              self.name, {b.name: (h.get("role"), h.get("leader"))
                                          for b, h in self.roles().items()}))

    def followers(self, leader):
        return [b for b in self.running() if b is not leader]

    def wait_follower_caught_up(self, follower, timeout=10.0):
        """Waits until a follower's copy (X-Ergrid-Revision of its reads) is
        at least the revision of the district's last commit in etcd (the
        mod_revision of meta/commit, which every commit writes)."""
        kv = etcd_kv(self.etcd, "/ergrid/v1/d/%s/meta/commit" % self.name)
        want = kv["mod_revision"] if kv else 0

        def ok():
            r = get(follower.url + "/v1/jobs?limit=1")
            assert r.headers.get("x-ergrid-role") == "follower", r.headers
            return int(r.headers.get("x-ergrid-revision") or -1) >= want
        wait_until(ok, timeout, message="%s's copy at revision %d" % (follower.name, want))


# ------------------------------------------------- writes that find the leader

WRITE_RETRY_S = 0.05


def _origin(url):
    u = urllib.parse.urlsplit(url)
    return "%s://%s" % (u.scheme, u.netloc)


class NoAck(Exception):
    """No 2xx (or definite 4xx) within the deadline."""


def write(district, method, path, body=None, deadline_s=30.0, start=None, accept=None):
    """Sends a write to the district the way a client with its URL list does:
    a 307 goes to its Location, a transport error or a 503 to the next URL,
    until a definite answer (2xx or a 4xx other than 404-from-nowhere) or the
    deadline. Returns (reply, url it came from). accept(reply) -> bool may
    say which replies are definite (default: anything but 5xx)."""
    urls = district.urls
    i = urls.index(start) if start in urls else 0
    end = time.monotonic() + deadline_s * ergrid.scale()
    last = None
    while time.monotonic() < end:
        url = urls[i % len(urls)]
        hops = 0
        while True:
            try:
                r = request(method, url + path, body=body, timeout=3.0)
            except OSError as e:
                last = e
                r = None
            if r is not None and r.status == 307 and hops < 2:
                loc = r.headers.get("location", "")
                if loc:
                    url = _origin(loc)
                    hops += 1
                    continue
            break
        if r is not None and (accept(r) if accept else r.status < 500 and r.status != 307):
            return r, url
        last = r if r is not None else last
        i += 1
        time.sleep(WRITE_RETRY_S)
    raise NoAck("%s %s: no definite answer in %.0fs (last: %r)" % (method, path, deadline_s, last))


def read_any(district, path, prefer=None):
    """A GET at the preferred broker, else at any running one; the Reply."""
    order = ([prefer] if prefer else []) + [b for b in district.running() if b is not prefer]
    last = None
    for b in order:
        try:
            r = get(b.url + path)
        except OSError as e:
            last = e
            continue
        if r.status == 200:
            return r
        last = r
    raise AssertionError("GET %s: no broker answered (last %r)" % (path, last))


# ---------------------------------------------------------------- the record

class History:
    """What clients were told, and what pollers saw. Thread-safe."""

    def __init__(self):
        self.mu = threading.Lock()
        self.acked_jobs = {}      # job id -> the body sent (acknowledged 2xx)
        self.acked_results = {}   # job id -> result core acknowledged (201/200 accepted)
        self.seen_results = {}    # job id -> first result core seen anywhere
        self.result_changes = []  # (job id, first, later)
        self.held = {}            # (unit, job, attempt) -> [first seen active, last seen active]
        self.snapshots = []       # per unit: list of (t, [(job, attempt) active])
        self.broker_doubles = []  # (t, unit, jobs) a broker showing a unit on more jobs than it holds
        self.errors = []

    def job_acked(self, jid, body):
        with self.mu:
            self.acked_jobs[jid] = body

    def result_seen(self, jid, res, acked=False):
        core = ergrid.result_core(res)
        if core is None:
            return
        with self.mu:
            first = self.seen_results.setdefault(jid, core)
            if first != core:
                self.result_changes.append((jid, first, core))
            if acked:
                self.acked_results.setdefault(jid, core)

    def terminal_snapshot(self, unit, t, assignments):
        active = [(a["job_id"], a["attempt"]) for a in assignments if a.get("state") == "active"]
        with self.mu:
            for jid, att in active:
                w = self.held.setdefault((unit, jid, att), [t, t])
                w[1] = t
            self.snapshots.append((unit, t, active))
            for a in assignments:
                if a.get("report") and isinstance(a["report"], dict):
                    res = a["report"].get("result")
                    if res:
                        self.result_seen_locked(a["job_id"], res)

    def result_seen_locked(self, jid, res):
        core = ergrid.result_core(res)
        first = self.seen_results.setdefault(jid, core)
        if first != core:
            self.result_changes.append((jid, first, core))

    def double_assignments(self, capacity=1):
        """Every moment a terminal held more incidents than its capacity, by
        its own records: two held windows of one unit that overlap (seen
        active in the same snapshot, or windows that cross)."""
        with self.mu:
            out = []
            for unit, t, active in self.snapshots:
                if len({j for j, _ in active}) > capacity:
                    out.append((unit, t, active))
            by_unit = {}
            for (unit, jid, att), (a, b) in self.held.items():
                by_unit.setdefault(unit, []).append((a, b, jid, att))
            for unit, ws in by_unit.items():
                ws.sort()
                for x, y in zip(ws, ws[1:]):
                    if y[0] < x[1] and x[2] != y[2]:  # the later began before the earlier ended
                        out.append((unit, y[0], [(x[2], x[3]), (y[2], y[3])]))
            return out + list(self.broker_doubles)


class TerminalPoller(threading.Thread):
    """Reads every terminal's assignments (and the leader's units) in a loop
    into the History; the double-assignment check runs over these records."""

    def __init__(self, history, executors, district, interval=0.1):
        super().__init__(daemon=True)
        self.history = history
        self.executors = executors
        self.district = district
        self.interval = interval
        self.halt = threading.Event()
        self.passes = 0

    def run(self):
        while not self.halt.is_set():
            for e in list(self.executors):
                if not e.alive():
                    continue
                try:
                    r = get(e.url + "/v1/assignments")
                except OSError:
                    continue
                if r.status == 200:
                    self.history.terminal_snapshot(e.id, time.monotonic(), r.json["assignments"])
            for b in self.district.running():
                try:
                    r = request("GET", b.url + "/v1/units", timeout=2.0)
                except OSError:
                    continue
                if r.status == 200 and r.headers.get("x-ergrid-role") == "leader":
                    for u in r.json["units"]:
                        if len(u.get("jobs") or []) > int(u.get("capacity") or 1):
                            with self.history.mu:
                                self.history.broker_doubles.append(
                                    (time.monotonic(), u["id"], list(u["jobs"])))
            self.passes += 1
            self.halt.wait(self.interval)

    def stop(self):
        self.halt.set()
        self.join(10)


# ---------------------------------------------------------------- figures

def figures_path():
    d = os.environ.get("ERGRID_ARTIFACTS") or os.path.join(ROOT, "tests", "artifacts")
    os.makedirs(d, exist_ok=True)
    return os.path.join(d, "ha-figures.txt")


def summary(values):
    if not values:
        return "n/a"
    return "median %.2f s, max %.2f s (%d rounds)" % (statistics.median(values), max(values),
                                                       len(values))


def record_figures(lines):
    """Prints the figure lines and writes them to the figures file (one
    `ha: ...` line each), which scripts/test.sh prints in its summary."""
    path = figures_path()
    with open(path, "w") as f:
        for line in lines:
            f.write("ha: %s\n" % line)
    for line in lines:
        print("ha: %s" % line, flush=True)
    return path


def dump_json(path, value):
    with open(path, "w") as f:
        json.dump(value, f, indent=1, default=str)
