"""A fake peer broker for the integration tests: an HTTP server in the test
process that answers a real broker's pulls (GET /v1/metadata) with crafted
pages, so a test can send what no honest broker would: copies claiming the
puller's own district, a poisoned object, two hundred thousand copies.

Standard library only. A page is built by the test's `pages` callable
(since, epoch, limit) -> bytes or a JSON value; the default serves the
objects given to set_objects as one page. Every request is recorded.
"""

import json
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def write_reply(handler, status, body):
    """Writes one JSON reply; False when the client has gone."""
    if not isinstance(body, (bytes, bytearray)):
        body = json.dumps(body).encode()
    try:
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)
        handler.wfile.flush()
        return True
    except OSError:
        return False


class QuietHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass


class Served:
    """An HTTP server of the test process on a free loopback port."""

    def serve(self, handler):
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.server.server_address[1]

    def close(self):
        self.server.shutdown()
        self.server.server_close()



class FakePeer(Served):
    def __init__(self, district="Fake", epoch="fake-epoch-1"):
        self.district = district
        self.epoch = epoch
        self.units = []
        self.jobs = []
        self.version = 1
        self.pages = None  # callable(since, epoch, limit) -> bytes | JSON value
        self.lock = threading.Lock()
        self.pulls = []    # (monotonic time, query dict) of every GET /v1/metadata
        self.served = 0    # metadata replies written in full
        self.notifies = 0
        peer = self

        class Handler(QuietHandler):
            def _send(self, status, body):
                return write_reply(self, status, body)

            def do_GET(self):
                u = urllib.parse.urlsplit(self.path)
                q = dict(urllib.parse.parse_qsl(u.query))
                if u.path == "/v1/metadata":
                    with peer.lock:
                        peer.pulls.append((time.monotonic(), q))
                    body = peer.page(int(q.get("since", "0") or 0), q.get("epoch", ""),
                                     int(q.get("limit", "500") or 500))
                    if self._send(200, body):
                        with peer.lock:
                            peer.served += 1
                elif u.path == "/v1/health":
                    self._send(200, {"status": "ok", "id": peer.district})
                else:
                    self._send(404, {"error": {"code": "not_found", "message": "fake peer"}})

            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                if n:
                    self.rfile.read(n)
                if self.path.startswith("/v1/notify"):
                    with peer.lock:
                        peer.notifies += 1
                    self._send(202, {"scheduled": True, "vclock": {}})
                else:
                    self._send(404, {"error": {"code": "not_found", "message": "fake peer"}})

        self.serve(Handler)

    # ---- what it serves
    def set_objects(self, units=(), jobs=()):
        with self.lock:
            self.units = list(units)
            self.jobs = list(jobs)
            self.version += 1

    def envelope(self, units, jobs, version, more=False, full=True):
        return {"broker": self.district, "url": self.url, "epoch": self.epoch,
                "version": version, "full": full, "more": more, "units": units, "jobs": jobs,
                "emergency": "normal", "emergency_set_ms": 0, "vclock": {self.district: version}}

    def page(self, since, epoch, limit):
        if self.pages is not None:
            return self.pages(since, epoch, limit)
        with self.lock:
            if epoch == self.epoch and since >= self.version:
                return self.envelope([], [], self.version, full=False)
            return self.envelope(self.units, self.jobs, self.version)

    def wait_served(self, n, timeout=30.0):
        """Waits until n more metadata replies than now were written."""
        deadline = time.monotonic() + timeout
        with self.lock:
            goal = self.served + n
        while time.monotonic() < deadline:
            with self.lock:
                if self.served >= goal:
                    return True
            time.sleep(0.02)
        raise AssertionError("fake peer %s: %d pulls not served within %.0fs"
                             % (self.district, n, timeout))


def unit_obj(uid, district, status="available", caps=("firefighting", "rescue"), jobs=(),
             url="http://127.0.0.1:1", **extra):
    o = {"id": uid, "kind": "fire", "capabilities": list(caps), "district": district,
         "status": status, "jobs": list(jobs), "url": url, "capacity": 1,
         "authoritative": True, "last_heartbeat_ms_ago": 10}
    o.update(extra)
    return o


def job_obj(jid, owner, status="queued", caps=("firefighting",), **extra):
    o = {"id": jid, "type": "building_fire", "severity": "high",
         "required_capabilities": list(caps), "owner": owner, "status": status,
         "unit_id": None, "attempt": None, "attempts": [], "result": None,
         "authoritative": True, "location": None, "payload": None,
         "created_ms": 1, "updated_ms": 1}
    o.update(extra)
    return o


def nested(depth):
    """A JSON object nested depth levels deep: {"a":{"a":...{}}}."""
    v = {}
    for _ in range(depth - 1):
        v = {"a": v}
    return v


def nested_text(depth):
    """The same as text (json.dumps recurses, and Python's limit is 1000)."""
    return '{"a":' * (depth - 1) + "{}" + "}" * (depth - 1)


# ---------------------------------------------------------------- a proxy

class StallProxy(Served):
    """An HTTP proxy between one broker and a peer it calls (the peer's URL
    given to the broker is the proxy's), so a test can hold a reply in
    flight or make pulls fail while everything else passes through.

    hold(pred): replies to requests matching pred(method, path) are held
    until release() (the request itself reaches the target at once).
    fail_pulls: GET /v1/metadata is answered 503 without reaching the
    target. Every forwarded metadata reply is given to on_metadata."""

    def __init__(self, target_url):
        self.target = urllib.parse.urlsplit(target_url)
        self.lock = threading.Lock()
        self.hold_pred = None
        self.released = threading.Event()
        self.held = []        # (method, path, status) of held replies, when held
        self.delivered = []   # (method, path, ok) of held replies after release
        self.fail_pulls = False
        self.on_metadata = None
        proxy = self

        class Handler(QuietHandler):
            def _relay(self):
                import http.client
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else None
                path = self.path
                if self.command == "GET" and path.startswith("/v1/metadata") and proxy.fail_pulls:
                    self._answer(503, b'{"error":{"code":"unavailable","message":"proxy"}}')
                    return
                c = http.client.HTTPConnection(proxy.target.hostname, proxy.target.port,
                                               timeout=30)
                hdrs = {k: v for k, v in self.headers.items()
                        if k.lower() not in ("host", "connection", "content-length")}
                try:
                    c.request(self.command, path, body=body, headers=hdrs)
                    r = c.getresponse()
                    data = r.read()
                    status = r.status
                finally:
                    c.close()
                if self.command == "GET" and path.startswith("/v1/metadata") and proxy.on_metadata:
                    try:
                        proxy.on_metadata(json.loads(data))
                    except ValueError:
                        pass
                with proxy.lock:
                    pred = proxy.hold_pred
                if pred and pred(self.command, path):
                    with proxy.lock:
                        proxy.held.append((self.command, path, status))
                    proxy.released.wait(60)
                    ok = self._answer(status, data)
                    with proxy.lock:
                        proxy.delivered.append((self.command, path, ok))
                    return
                self._answer(status, data)

            def _answer(self, status, data):
                return write_reply(self, status, data)

            do_GET = do_POST = do_DELETE = _relay

        self.serve(Handler)

    def hold(self, pred):
        with self.lock:
            self.hold_pred = pred
            self.released.clear()
            self.held = []
            self.delivered = []

    def release(self):
        with self.lock:
            self.hold_pred = None
        self.released.set()

    def close(self):
        self.released.set()
        Served.close(self)


# ---------------------------------------------------------------- a terminal

class FakeTerminal(Served):
    """A unit's terminal in the test process: registers with its home
    broker, heartbeats (bodyless, as a curl user would), and takes every
    assignment, so a test can make it die at an exact moment (die() stops
    its heartbeats; its HTTP server keeps answering, as a terminal whose
    uplink is gone may) and come back (live())."""

    def __init__(self, unit_id, broker_url, caps=("firefighting", "rescue"), kind="fire",
                 heartbeat=0.1):
        self.id = unit_id
        self.broker_url = broker_url
        self.caps = list(caps)
        self.kind = kind
        self.interval = heartbeat
        self.lock = threading.Lock()
        self.assignments = {}   # job id -> the assignment message
        self.revoked = []       # (job id, attempt) told to stop, by DELETE or heartbeat
        self.on_assignment = None  # called with the message before the 201 is sent
        self.alive = threading.Event()
        self.alive.set()
        self.stopping = False
        term = self

        class Handler(QuietHandler):
            def _answer(self, status, obj):
                write_reply(self, status, obj)

            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                msg = json.loads(self.rfile.read(n) or b"{}")
                if self.path != "/v1/assignments":
                    self._answer(404, {"error": {"code": "not_found", "message": "fake"}})
                    return
                jid = msg["job"]["id"]
                with term.lock:
                    term.assignments[jid] = msg
                if term.on_assignment:
                    term.on_assignment(msg)
                self._answer(201, {"assignment": {"job_id": jid, "attempt": msg["attempt"],
                                                  "owner": msg["owner"], "state": "active"}})

            def do_DELETE(self):
                jid = urllib.parse.urlsplit(self.path).path.rsplit("/", 1)[-1]
                with term.lock:
                    held = term.assignments.pop(jid, None)
                    if held:
                        term.revoked.append((jid, held["attempt"]))
                self._answer(200 if held else 404, {"assignment": {"job_id": jid}})

            def do_GET(self):
                with term.lock:
                    act = [{"job_id": j, "attempt": m["attempt"], "owner": m["owner"],
                            "state": "active"} for j, m in term.assignments.items()]
                self._answer(200, {"assignments": act})

        self.serve(Handler)
        self.register()
        self.beat = threading.Thread(target=self._beat, daemon=True)
        self.beat.start()

    def register(self):
        from ergrid import post
        r = post(self.broker_url + "/v1/units", {"id": self.id, "kind": self.kind,
                                                 "capabilities": self.caps, "url": self.url})
        assert r.status in (200, 201), r

    def _beat(self):
        from ergrid import post
        while not self.stopping:
            if self.alive.wait(0.2) and not self.stopping:
                try:
                    r = post("%s/v1/units/%s/heartbeat" % (self.broker_url, self.id), timeout=2)
                    if r.status == 404:
                        self.register()
                    elif r.status == 200:
                        with self.lock:
                            for x in r.json.get("revoked", []):
                                self.assignments.pop(x["job_id"], None)
                                self.revoked.append((x["job_id"], x["attempt"]))
                except OSError:
                    pass
                time.sleep(self.interval)

    def die(self):
        self.alive.clear()

    def live(self):
        self.alive.set()

    def holds(self):
        with self.lock:
            return {j: m["attempt"] for j, m in self.assignments.items()}

    def close(self):
        self.stopping = True
        self.alive.set()
        Served.close(self)
