"""Harness for the ergrid integration tests.

Starts the real service binaries on 127.0.0.1 with a free port, talks to
them only through HTTP and process signals. Standard library only.

Environment:
  ERGRID_BUILD          meson build dir holding services/*/ergrid-* (required)
  ERGRID_TIMEOUT_SCALE  multiplies every wait timeout (e.g. 3 for ASan builds)
"""

import json
import os
import re
import select
import signal
import socket
import subprocess
import threading
import time
import urllib.parse

import pytest

LISTEN_RE = re.compile(r"^listening on http://127\.0\.0\.1:(\d+)$")
ID_RE = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
HTTP_TIMEOUT = 10.0
START_TIMEOUT = 10.0
TERM_TIMEOUT = 20.0
LOG_TAIL_LINES = 300

# Short intervals so the suite runs fast; the 3 s default stays out of tests.
HEARTBEAT = "300ms"
FAILURE_TIMEOUT = "1500ms"

BINARIES = {
    "broker": "services/broker/ergrid-broker",
    "executor": "services/executor/ergrid-executor",
    "coordinator": "services/coordinator/ergrid-coordinator",
}


def scale():
    try:
        return max(1.0, float(os.environ.get("ERGRID_TIMEOUT_SCALE", "1")))
    except ValueError:
        return 1.0


def build_dir():
    d = os.environ.get("ERGRID_BUILD")
    if not d:
        pytest.skip("ERGRID_BUILD is not set (point it at a meson build dir)")
    # Some tests run binaries from another working directory.
    return os.path.abspath(d)


def binary(kind):
    path = os.path.join(build_dir(), BINARIES[kind])
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        pytest.fail("missing binary %s (ERGRID_BUILD=%s)" % (path, build_dir()), pytrace=False)
    return path


# ---------------------------------------------------------------- waiting

class WaitTimeout(AssertionError):
    pass


def wait_until(predicate, timeout=30.0, interval=0.05, message="condition"):
    """Polls predicate until it returns a truthy value, which is returned.

    timeout is scaled by ERGRID_TIMEOUT_SCALE. An AssertionError raised by the
    predicate counts as "not yet" (the last one is reported on timeout); any
    other exception propagates."""
    deadline = time.monotonic() + timeout * scale()
    last = None
    while True:
        try:
            value = predicate()
            if value:
                return value
            last = value
        except AssertionError as e:  # not yet
            last = e
        if time.monotonic() >= deadline:
            raise WaitTimeout("timed out after %.1fs waiting for %s (last: %r)"
                              % (timeout * scale(), message, last))
        time.sleep(interval)


# ---------------------------------------------------------------- HTTP

class Reply(tuple):
    """(status, parsed JSON or None, raw bytes) with .headers (lower-cased)."""

    def __new__(cls, status, js, raw, headers):
        r = tuple.__new__(cls, (status, js, raw))
        r.headers = headers
        return r

    status = property(lambda self: self[0])
    json = property(lambda self: self[1])
    raw = property(lambda self: self[2])

    def __repr__(self):
        body = self[2][:600]
        return "<HTTP %s %r>" % (self[0], body)


def _parse_chunked(data):
    out = b""
    while True:
        i = data.find(b"\r\n")
        if i < 0:
            return None
        size = int(data[:i].split(b";")[0].strip() or b"0", 16)
        data = data[i + 2:]
        if size == 0:
            return out
        if len(data) < size + 2:
            return None
        out += data[:size]
        data = data[size + 2:]


def raw_exchange(host, port, method, target, headers=(), body=None, timeout=HTTP_TIMEOUT):
    """Sends one HTTP/1.1 request with exactly the given headers and body
    bytes (Host, Connection: close and Content-Length are added unless given)
    and returns a Reply. Stops sending a large body as soon as the server
    answers (e.g. 413). Raises OSError on transport failure."""
    names = {k.lower() for k, _ in headers}
    hdrs = list(headers)
    if "host" not in names:
        hdrs.insert(0, ("Host", "%s:%d" % (host, port)))
    if "connection" not in names:
        hdrs.append(("Connection", "close"))
    if body is not None and "content-length" not in names and "transfer-encoding" not in names:
        hdrs.append(("Content-Length", str(len(body))))
    head = ("%s %s HTTP/1.1\r\n" % (method, target)).encode("latin-1")
    for k, v in hdrs:
        head += ("%s: %s\r\n" % (k, v)).encode("latin-1")
    head += b"\r\n"

    s = socket.create_connection((host, port), timeout=timeout)
    try:
        s.settimeout(timeout)
        try:
            s.sendall(head)
            if body:
                view = memoryview(body)
                off = 0
                while off < len(body):
                    r, _, _ = select.select([s], [], [], 0)
                    if r:  # the server answered early: stop sending
                        break
                    n = s.send(view[off:off + 65536])
                    off += n
        except (BrokenPipeError, ConnectionResetError):
            pass
        buf = b""
        hdr_end = -1
        status = None
        rh = {}
        while True:
            try:
                chunk = s.recv(65536)
            except ConnectionResetError:
                if hdr_end < 0:
                    raise
                chunk = b""
            if not chunk:
                break
            buf += chunk
            if hdr_end < 0:
                hdr_end = buf.find(b"\r\n\r\n")
                if hdr_end >= 0:
                    lines = buf[:hdr_end].decode("latin-1").split("\r\n")
                    status = int(lines[0].split()[1])
                    for line in lines[1:]:
                        k, _, v = line.partition(":")
                        rh[k.strip().lower()] = v.strip()
                    if status == 100:  # 100 Continue: drop it and go on
                        buf = buf[hdr_end + 4:]
                        hdr_end = -1
                        rh = {}
                        continue
            if hdr_end >= 0:
                rest = buf[hdr_end + 4:]
                if method == "HEAD" or status in (204, 304):
                    break
                if "content-length" in rh and len(rest) >= int(rh["content-length"]):
                    break
                if rh.get("transfer-encoding", "").lower() == "chunked" \
                        and _parse_chunked(rest) is not None:
                    break
        if hdr_end < 0:
            raise ConnectionError("no HTTP reply from %s:%d (got %r)" % (host, port, buf[:200]))
        rest = buf[hdr_end + 4:]
        if rh.get("transfer-encoding", "").lower() == "chunked":
            data = _parse_chunked(rest) or b""
        elif "content-length" in rh:
            data = rest[:int(rh["content-length"])]
        else:
            data = rest
    finally:
        s.close()
    js = None
    if data:
        try:
            js = json.loads(data)
        except ValueError:
            js = None
    return Reply(status, js, data, rh)


def request(method, url, body=None, raw=None, headers=None, timeout=HTTP_TIMEOUT):
    """HTTP request; never raises on 4xx/5xx. body: a JSON value (sent with
    Content-Type: application/json); raw: exact body bytes (headers as
    given). Returns Reply (status, json or None, raw bytes)."""
    u = urllib.parse.urlsplit(url)
    target = u.path or "/"
    if u.query:
        target += "?" + u.query
    hdrs = list((headers or {}).items())
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        if not any(k.lower() == "content-type" for k, _ in hdrs):
            hdrs.append(("Content-Type", "application/json"))
    elif raw is not None:
        data = raw if isinstance(raw, bytes) else raw.encode()
    return raw_exchange(u.hostname, u.port, method, target, hdrs, data, timeout)


def get(url):
    return request("GET", url)


def post(url, body=None, **kw):
    return request("POST", url, body=body, **kw)


def expect(reply, status, what=""):
    assert reply.status == status, "%s: expected HTTP %s, got %r" % (what, status, reply)
    return reply.json


def error_code(reply):
    js = reply.json
    if isinstance(js, dict) and isinstance(js.get("error"), dict):
        return js["error"].get("code")
    return None


def assert_error(reply, status, code, what=""):
    assert reply.status == status and error_code(reply) == code, \
        "%s: expected %s %s, got %r" % (what, status, code, reply)
    msg = reply.json["error"].get("message")
    assert isinstance(msg, str) and msg, "%s: error without a message: %r" % (what, reply)


# ---------------------------------------------------------------- processes

class Service:
    """One service process. Args exclude --listen and --data-dir."""

    def __init__(self, cluster, kind, name, args, data_dir):
        self.cluster = cluster
        self.kind = kind
        self.name = name
        self.args = list(args)
        self.data_dir = str(data_dir)
        os.makedirs(self.data_dir, exist_ok=True)
        self.log_path = os.path.join(str(cluster.tmp), "%s-%s.stderr.log" % (kind, name))
        self.out_path = os.path.join(str(cluster.tmp), "%s-%s.stdout.log" % (kind, name))
        self.proc = None
        self.port = None
        self.expected_exit = False
        self.starts = 0

    # -- lifecycle
    def start(self, port=0):
        assert self.proc is None or self.proc.poll() is not None, "%s already running" % self
        self.starts += 1
        cmd = [binary(self.kind)] + self.args + [
            "--listen", "127.0.0.1:%d" % port, "--data-dir", self.data_dir]
        with open(self.log_path, "ab") as f:
            f.write(("==== start #%d: %s\n" % (self.starts, " ".join(cmd))).encode())
        err = open(self.log_path, "ab")
        try:
            self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                         stderr=err)
        finally:
            err.close()
        self.expected_exit = False
        first = {}

        def reader(proc=self.proc):
            line = proc.stdout.readline()
            first["line"] = line
            with open(self.out_path, "ab") as out:
                out.write(line)
                for rest in proc.stdout:  # keep draining so the pipe never fills
                    out.write(rest)
                    out.flush()

        t = threading.Thread(target=reader, daemon=True)
        t.start()
        deadline = time.monotonic() + START_TIMEOUT * scale()
        while "line" not in first and time.monotonic() < deadline:
            if self.proc.poll() is not None:
                t.join(1)
                break
            time.sleep(0.01)
        line = first.get("line", b"").decode("utf-8", "replace").rstrip("\r\n")
        m = LISTEN_RE.match(line)
        if not m:
            code = self.proc.poll()
            if code is None:
                self.proc.kill()
                self.proc.wait()
            self.expected_exit = True
            return "%s did not announce `listening on http://127.0.0.1:PORT` (first line %r, " \
                   "exit %s); stderr:\n%s" % (self, line, code, self.log_tail())
        self.port = int(m.group(1))
        if port:
            assert self.port == port, "%s asked for port %d, announced %d" % (self, port, self.port)
        return None

    def start_or_fail(self, port=0):
        problem = self.start(port)
        if problem:
            pytest.fail(problem, pytrace=False)
        return self

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.port

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def kill9(self):
        assert self.alive(), "%s is not running" % self
        self.expected_exit = True
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def term(self, timeout=TERM_TIMEOUT):
        """SIGTERM, wait, assert exit code 0."""
        assert self.alive(), "%s is not running (exit %s)" % (self, self.proc.poll())
        self.expected_exit = True
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout * scale())
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            pytest.fail("%s did not exit within %.0fs of SIGTERM" % (self, timeout * scale()))
        assert code == 0, "%s exited %s on SIGTERM; stderr:\n%s" % (self, code, self.log_tail())
        return code

    def stop(self):
        self.proc.send_signal(signal.SIGSTOP)

    def cont(self):
        self.proc.send_signal(signal.SIGCONT)

    def restart(self, allow_new_port=False):
        """Starts again on the same data dir and, if possible, the same port.
        The process must have exited (kill9/term) before."""
        assert not self.alive(), "%s still running" % self
        old = self.port
        problem = self.start(old)
        if problem and allow_new_port:
            problem = self.start(0)
        if problem:
            pytest.fail("restart of %s on port %s failed: %s" % (self, old, problem), pytrace=False)
        return self

    # -- diagnostics
    def log_tail(self, n=LOG_TAIL_LINES):
        try:
            with open(self.log_path, "rb") as f:
                lines = f.read().decode("utf-8", "replace").splitlines()
        except OSError:
            return "(no log)"
        return "\n".join(lines[-n:])

    def shutdown(self):
        """Teardown: SIGTERM whatever runs; returns a problem string or None."""
        if self.proc is None:
            return None
        code = self.proc.poll()
        if code is not None:
            if not self.expected_exit:
                return "%s exited on its own with code %s" % (self, code)
            return None
        try:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.send_signal(signal.SIGTERM)
            code = self.proc.wait(TERM_TIMEOUT * scale())
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return "%s did not exit within %.0fs of SIGTERM (killed)" % (self, TERM_TIMEOUT * scale())
        self.expected_exit = True
        if code != 0:
            return "%s exited %s on SIGTERM at teardown" % (self, code)
        return None

    def __repr__(self):
        pid = self.proc.pid if self.proc else None
        return "%s %s (pid %s, port %s)" % (self.kind, self.name, pid, self.port)


class Broker(Service):
    def __init__(self, cluster, name, failure_timeout, extra, data_dir):
        args = ["--id", name, "--failure-timeout", failure_timeout] + list(extra)
        super().__init__(cluster, "broker", name, args, data_dir)
        self.id = name

    # convenience API
    def submit(self, caps, severity="high", type="building_fire", id=None, **extra):
        body = {"type": type, "severity": severity, "required_capabilities": list(caps)}
        if id is not None:
            body["id"] = id
        body.update(extra)
        return post(self.url + "/v1/jobs", body)

    def submit_ok(self, caps, **kw):
        r = self.submit(caps, **kw)
        assert r.status == 201, "job submission: expected 201, got %r" % (r,)
        return r.json["job"]

    def job(self, job_id):
        r = get(self.url + "/v1/jobs/" + job_id)
        assert r.status == 200, "GET job %s: %r" % (job_id, r)
        return r.json["job"]

    def jobs(self):
        r = get(self.url + "/v1/jobs")
        assert r.status == 200, "GET /v1/jobs: %r" % (r,)
        return r.json["jobs"]

    def unit(self, unit_id):
        r = get(self.url + "/v1/units/" + unit_id)
        assert r.status == 200, "GET unit %s: %r" % (unit_id, r)
        return r.json["unit"]

    def units(self):
        r = get(self.url + "/v1/units")
        assert r.status == 200, "GET /v1/units: %r" % (r,)
        return r.json["units"]

    def result(self, job_id, unit_id, attempt, outcome, data=None, vclock=None):
        body = {"unit_id": unit_id, "attempt": attempt, "outcome": outcome}
        if data is not None:
            body["data"] = data
        if vclock is not None:
            body["vclock"] = vclock
        return post("%s/v1/jobs/%s/results" % (self.url, job_id), body)


class Executor(Service):
    def __init__(self, cluster, unit_id, kind, caps, broker_url, heartbeat, mode, extra, data_dir):
        args = ["--id", unit_id, "--kind", kind, "--capabilities", ",".join(caps),
                "--broker", broker_url, "--heartbeat-interval", heartbeat]
        if mode:
            args += ["--mode", mode]
        args += list(extra)
        super().__init__(cluster, "executor", unit_id, args, data_dir)
        self.id = unit_id
        self.unit_kind = kind
        self.caps = list(caps)

    def assignments(self):
        r = get(self.url + "/v1/assignments")
        assert r.status == 200, "GET %s/v1/assignments: %r" % (self.name, r)
        return r.json["assignments"]

    def assignment(self, job_id):
        for a in self.assignments():
            if a.get("job_id") == job_id:
                return a
        return None

    def report(self, job_id, outcome, data=None):
        body = {"outcome": outcome}
        if data is not None:
            body["data"] = data
        return post("%s/v1/assignments/%s/result" % (self.url, job_id), body)


class Cluster:
    """Every process of one test; torn down (SIGTERM, exit 0 expected) after it."""

    def __init__(self, tmp):
        self.tmp = tmp
        self.services = []

    def broker(self, name="Downtown", failure_timeout=FAILURE_TIMEOUT, extra=(), start=True):
        b = Broker(self, name, failure_timeout, extra, os.path.join(str(self.tmp), "data-broker-" + name))
        self.services.append(b)
        if start:
            b.start_or_fail()
        return b

    def executor(self, unit_id, kind, caps, broker, heartbeat=HEARTBEAT, mode="manual", extra=(),
                 start=True):
        url = broker.url if isinstance(broker, Service) else broker
        e = Executor(self, unit_id, kind, caps, url, heartbeat, mode, extra,
                     os.path.join(str(self.tmp), "data-exec-" + unit_id))
        self.services.append(e)
        if start:
            e.start_or_fail()
        return e

    def coordinator(self, name="city", extra=(), start=True):
        c = Service(self, "coordinator", name, list(extra),
                    os.path.join(str(self.tmp), "data-coord-" + name))
        self.services.append(c)
        if start:
            c.start_or_fail()
        return c

    def logs(self):
        parts = []
        for s in self.services:
            parts.append("----- %r stderr (last %d lines) -----\n%s" % (s, LOG_TAIL_LINES, s.log_tail()))
        return "\n".join(parts)

    def shutdown(self):
        problems = []
        for s in reversed(self.services):  # executors before their broker
            p = s.shutdown()
            if p:
                problems.append(p)
        return problems


class District:
    def __init__(self, broker, executors):
        self.broker = broker
        self.executors = executors  # unit id -> Executor

    def __getitem__(self, unit_id):
        return self.executors[unit_id]

    def executor_of(self, unit_id):
        return self.executors[unit_id]


def unit_status(broker, unit_id):
    r = get(broker.url + "/v1/units/" + unit_id)
    if r.status != 200:
        return None
    return r.json["unit"].get("status")


def wait_units_status(broker, unit_ids, status="available", timeout=30.0):
    def ok():
        units = {u["id"]: u for u in broker.units()}
        missing = [i for i in unit_ids if units.get(i, {}).get("status") != status]
        assert not missing, "not %s yet: %s" % (status, {i: units.get(i, {}).get("status") for i in missing})
        return True
    wait_until(ok, timeout, message="units %s %s at %s" % (list(unit_ids), status, broker.name))


def make_district(cluster, spec, name="Downtown", failure_timeout=FAILURE_TIMEOUT,
                  heartbeat=HEARTBEAT, mode="manual", broker_extra=()):
    """spec: [(unit_id, kind, [caps]), ...]. Waits until every unit is
    available at the broker's GET /v1/units."""
    b = cluster.broker(name, failure_timeout=failure_timeout, extra=broker_extra)
    execs = {}
    for unit_id, kind, caps in spec:
        execs[unit_id] = cluster.executor(unit_id, kind, caps, b, heartbeat=heartbeat, mode=mode)
    wait_units_status(b, [s[0] for s in spec], "available")
    return District(b, execs)


# ---------------------------------------------------------------- shapes

JOB_FIELDS = ("id", "type", "severity", "required_capabilities", "owner", "status", "unit_id",
              "attempt", "attempts", "result", "authoritative")
UNIT_FIELDS = ("id", "kind", "capabilities", "district", "status", "jobs", "url")


def check_job_shape(job):
    missing = [k for k in JOB_FIELDS if k not in job]
    assert not missing, "job lacks %s: %r" % (missing, job)
    assert ID_RE.match(job["id"]), job
    assert job["severity"] in ("low", "medium", "high", "critical"), job
    assert job["status"] in ("queued", "assigned", "completed", "cancelled"), job
    assert isinstance(job["required_capabilities"], list), job
    assert isinstance(job["attempts"], list), job
    for a in job["attempts"]:
        assert set(("attempt", "unit_id", "state")) <= set(a), job
        assert a["state"] in ("active", "revoked", "finished"), job
    assert job["result"] is None or isinstance(job["result"], dict), job
    assert isinstance(job["authoritative"], bool), job
    if job["attempts"]:
        last = job["attempts"][-1]
        assert (job["unit_id"], job["attempt"]) == (last["unit_id"], last["attempt"]), job
        assert [a["attempt"] for a in job["attempts"]] == list(range(1, len(job["attempts"]) + 1)), job
    else:
        assert job["unit_id"] is None and job["attempt"] is None, job


def check_unit_shape(unit):
    missing = [k for k in UNIT_FIELDS if k not in unit]
    assert not missing, "unit lacks %s: %r" % (missing, unit)
    assert unit["status"] in ("available", "busy", "lost", "out_of_service"), unit
    assert isinstance(unit["capabilities"], list) and isinstance(unit["jobs"], list), unit


def check_vclock(vc, what="vclock"):
    assert isinstance(vc, dict), "%s is not an object: %r" % (what, vc)
    for k, v in vc.items():
        assert ID_RE.match(k), "%s: bad node %r" % (what, k)
        assert isinstance(v, int) and not isinstance(v, bool) and v >= 0, "%s: bad counter %r" % (what, vc)
    return vc


def result_core(res):
    """The parts of a result that must never change."""
    if res is None:
        return None
    return (res.get("unit_id"), res.get("attempt"), res.get("outcome"),
            json.dumps(res.get("data"), sort_keys=True))
