"""Raw-socket helpers for the connection tests (test_connections.py): exact
request bytes from a chosen 127/8 source address, the reply as sent (status
line, headers, body), a connection attacker that holds idle and trickling
connections from many source addresses, and starting a service under an
fd limit. Standard library only, and no select() (the attack tests hold
more than 1,024 descriptors); ergrid.py stays the harness."""

import errno
import json
import heapq
import os
import resource
import selectors
import socket
import subprocess
import threading
import time


def raise_nofile(need):
    """Raises this process's soft RLIMIT_NOFILE towards need (never above
    the hard limit) and returns the soft limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = need if hard == resource.RLIM_INFINITY else min(need, hard)
    if want > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
        soft = want
    return soft


def start_with_nofile(monkeypatch, service, limit):
    """Starts service (an ergrid.Service not yet started) with RLIMIT_NOFILE
    set to limit (soft and hard) in the child before exec. The harness calls
    subprocess.Popen itself, so Popen is wrapped for this one start."""
    real = subprocess.Popen

    def limited():
        resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))

    def popen(*args, **kw):
        kw["preexec_fn"] = limited
        return real(*args, **kw)

    monkeypatch.setattr(subprocess, "Popen", popen)
    try:
        service.start_or_fail()
    finally:
        monkeypatch.setattr(subprocess, "Popen", real)
    return service


def nofile_of(pid):
    """(soft, hard) RLIMIT_NOFILE of a running process, from /proc."""
    with open("/proc/%d/limits" % pid) as f:
        for line in f:
            if line.startswith("Max open files"):
                parts = line.split()
                return int(parts[3]), int(parts[4])
    raise AssertionError("no open-files line in /proc/%d/limits" % pid)


def fd_count(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def connect_from(src, port, timeout=5.0):
    """A blocking TCP connection to 127.0.0.1:port from source address src."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind((src, 0))
        s.settimeout(timeout)
        s.connect(("127.0.0.1", port))
    except OSError:
        s.close()
        raise
    return s


class RawReply:
    """One reply as it came off the wire: .status_line (str), .status (int),
    .headers (list of (lower-case name, value)), .body (bytes), .interim
    (status lines of 1xx replies that came before it)."""

    def __init__(self, status_line, headers, body, interim):
        self.status_line = status_line
        self.status = int(status_line.split()[1])
        self.headers = headers
        self.body = body
        self.interim = interim

    def header(self, name):
        for k, v in self.headers:
            if k == name.lower():
                return v
        return None

    def __repr__(self):
        return "<%s %r %r>" % (self.status_line, self.headers, self.body[:300])


def read_reply(s, timeout=10.0):
    """Reads one reply from s: the head, then Content-Length bytes or, without
    one, until the peer closes. 1xx replies are collected in .interim.
    Raises ConnectionError when the peer closes before a full head."""
    deadline = time.monotonic() + timeout
    buf = b""
    interim = []
    while True:
        end = buf.find(b"\r\n\r\n")
        if end >= 0:
            lines = buf[:end].decode("latin-1").split("\r\n")
            if lines[0].split()[1].startswith("1"):
                interim.append(lines[0])
                buf = buf[end + 4:]
                continue
            headers = []
            for line in lines[1:]:
                k, _, v = line.partition(":")
                headers.append((k.strip().lower(), v.strip()))
            rest = buf[end + 4:]
            length = None
            for k, v in headers:
                if k == "content-length":
                    length = int(v)
            while length is None or len(rest) < length:
                chunk = _recv(s, deadline)
                if not chunk:
                    break
                rest += chunk
            body = rest if length is None else rest[:length]
            return RawReply(lines[0], headers, body, interim)
        chunk = _recv(s, deadline)
        if not chunk:
            raise ConnectionError("closed before a full reply head (got %r)" % buf[:200])
        buf += chunk


def _recv(s, deadline):
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError("no complete reply in time")
    s.settimeout(left)
    try:
        return s.recv(65536)
    except ConnectionResetError:
        return b""


def exchange(port, data, src="127.0.0.1", timeout=10.0):
    """Sends data (exact bytes) on a new connection and returns the reply."""
    s = connect_from(src, port, timeout)
    try:
        s.sendall(data)
        return read_reply(s, timeout)
    finally:
        s.close()


def closed_by_peer(s, timeout):
    """Waits up to timeout for the peer to close s (EOF or reset); reads and
    drops whatever arrives first. True when it closed."""
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        s.settimeout(left)
        try:
            if not s.recv(65536):
                return True
        except (ConnectionResetError, BrokenPipeError):
            return True
        except socket.timeout:
            return False


class Attack:
    """Holds up to per_source connections from each address in sources to
    127.0.0.1:port on one thread. Every second connection stays silent (idle);
    the others trickle a request that never ends (a header line growing by one
    byte every trickle seconds). A connection the server closes is counted and,
    with reconnect, opened again (at most reconnect_rate per second), as a
    determined attacker would."""

    PREFIX = b"GET /v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: "

    def __init__(self, port, sources, per_source, trickle=3.0, reconnect=True,
                 reconnect_rate=300.0):
        self.port = port
        self.sources = list(sources)
        self.per_source = per_source
        self.trickle = trickle
        self.reconnect = reconnect
        self.reconnect_rate = reconnect_rate
        self.sel = selectors.DefaultSelector()
        self.conns = {}  # socket -> state dict
        self.count = {src: 0 for src in self.sources}  # connections per source, up or not
        self.due = []  # heap of (time of the next trickled byte, seq, socket)
        self.seq = 0
        self.opened = 0          # connections established
        self.closed_by_server = 0
        self.connect_errors = 0
        self.bytes_trickled = 0
        self.peak_open = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._lock = threading.Lock()

    # -- control
    def start(self):
        self._thread.start()
        return self

    def stop(self):
        self._stop.set()
        self._thread.join(30)
        for s in list(self.conns):
            self._drop(s)
        self.sel.close()

    @property
    def open(self):
        with self._lock:
            return sum(1 for st in self.conns.values() if st["up"])

    def stats(self):
        return {"open": self.open, "peak_open": self.peak_open, "opened": self.opened,
                "closed_by_server": self.closed_by_server,
                "connect_errors": self.connect_errors, "bytes_trickled": self.bytes_trickled}

    # -- the loop
    def _connect(self, src, idle, now):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            s.bind((src, 0))
            s.setblocking(False)
            rc = s.connect_ex(("127.0.0.1", self.port))
        except OSError:
            s.close()
            self.connect_errors += 1
            return False
        if rc not in (0, errno.EINPROGRESS):
            s.close()
            self.connect_errors += 1
            return False
        with self._lock:
            self.conns[s] = {"src": src, "idle": idle, "up": False, "sent": 0}
        self.count[src] += 1
        self.sel.register(s, selectors.EVENT_WRITE)
        if not idle:  # spread the first bytes over one trickle period
            self.seq += 1
            heapq.heappush(self.due, (now + self.trickle * (self.seq % 97) / 97.0, self.seq, s))
        return True

    def _drop(self, s):
        try:
            self.sel.unregister(s)
        except (KeyError, ValueError):
            pass
        with self._lock:
            st = self.conns.pop(s, None)
        if st is not None:
            self.count[st["src"]] -= 1
        s.close()

    def _run(self):
        budget = 0.0
        last = time.monotonic()
        first_round = True
        while not self._stop.is_set():
            now = time.monotonic()
            budget = min(self.reconnect_rate, budget + (now - last) * self.reconnect_rate)
            last = now
            # top up every source to per_source (the first round at once)
            for src in self.sources:
                missing = self.per_source - self.count[src]
                for i in range(missing):
                    if not first_round:
                        if not self.reconnect or budget < 1:
                            break
                        budget -= 1
                    self._connect(src, idle=(i % 2 == 0), now=now)
            first_round = False
            for key, ev in self.sel.select(timeout=0.05):
                s = key.fileobj
                st = self.conns.get(s)
                if st is None:
                    continue
                if not st["up"]:
                    err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                    if err:
                        self.connect_errors += 1
                        self._drop(s)
                        continue
                    st["up"] = True
                    self.opened += 1
                    self.sel.modify(s, selectors.EVENT_READ)
                    continue
                try:
                    data = s.recv(4096)
                except (ConnectionResetError, BrokenPipeError, BlockingIOError):
                    data = b""
                if not data:  # the server closed it (or answered and closed)
                    self.closed_by_server += 1
                    self._drop(s)
            # trickle: one byte per connection per period, oldest first
            now = time.monotonic()
            while self.due and self.due[0][0] <= now:
                _, _, s = heapq.heappop(self.due)
                st = self.conns.get(s)
                if st is None:
                    continue  # closed meanwhile
                self.seq += 1
                heapq.heappush(self.due, (now + self.trickle, self.seq, s))
                if not st["up"]:
                    continue
                i = st["sent"]
                byte = self.PREFIX[i:i + 1] if i < len(self.PREFIX) else b"a"
                try:
                    s.send(byte)
                    st["sent"] += 1
                    self.bytes_trickled += 1
                except OSError:
                    self.closed_by_server += 1
                    self._drop(s)
            up = self.opened - self.closed_by_server
            if up > self.peak_open:
                self.peak_open = up


def timed_request(port, method, target, body=None, timeout=10.0):
    """(RawReply with .json, seconds) of one request on a new connection from
    127.0.0.1. Unlike ergrid.request it never calls select(), so it works
    while the test process holds more than 1,024 descriptors."""
    head = "%s %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nConnection: close\r\n" % (
        method, target, port)
    data = b""
    if body is not None:
        data = json.dumps(body).encode()
        head += "Content-Type: application/json\r\nContent-Length: %d\r\n" % len(data)
    t0 = time.monotonic()
    r = exchange(port, head.encode() + b"\r\n" + data, timeout=timeout)
    dt = time.monotonic() - t0
    try:
        r.json = json.loads(r.body) if r.body else None
    except ValueError:
        r.json = None
    return r, dt


def figures(seconds):
    """min / median / p90 / max of a list of durations, in ms, as text."""
    xs = sorted(seconds)
    if not xs:
        return "no samples"

    def pick(q):
        return xs[min(len(xs) - 1, int(q * (len(xs) - 1) + 0.5))] * 1000

    return "n=%d min %.1f ms, median %.1f ms, p90 %.1f ms, max %.1f ms" % (
        len(xs), xs[0] * 1000, pick(0.5), pick(0.9), xs[-1] * 1000)
