"""Connections cannot take a service offline, and every reply the server
can shape is the JSON error shape (issue 9, items 5 and 8).

Attackers connect from other 127/8 source addresses (127.0.0.2 and up) and
the real client from 127.0.0.1, so per-client limits see them apart. The
response times of real requests during an attack are printed (and written to
$ERGRID_ARTIFACTS/connections.txt), never asserted: the assertion is that
every real request is answered within a generous bound."""

import json
import os
import time

import pytest

import ergrid
import rawhttp
from ergrid import get, scale, wait_until

ATTACK_SOURCES = ["127.0.0.%d" % i for i in range(2, 21)]  # 19 addresses
# The server's defaults (api/http_server.h): a client address holds at most
# 256 connections; a request must arrive whole within 10 s of the connection
# being ready for it.
PER_CLIENT = 256
READ_DEADLINE_S = 10.0
REAL_REQUESTS = 30
ATTACK_WINDOW_S = 6.0


@pytest.fixture(scope="module", autouse=True)
def _fresh_figures():
    """connections.txt holds this run's figures only."""
    d = os.environ.get("ERGRID_ARTIFACTS")
    if d and os.path.exists(os.path.join(d, "connections.txt")):
        os.remove(os.path.join(d, "connections.txt"))


def _figure(text):
    print(text)
    d = os.environ.get("ERGRID_ARTIFACTS")
    if d:
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, "connections.txt"), "a") as f:
            f.write(text + "\n")


def _metric(url, name, labels=""):
    r = get(url + "/metrics")
    assert r.status == 200, r
    want = name + labels
    for line in r.raw.decode().splitlines():
        if line.startswith(want + " "):
            return float(line.split()[-1])
    raise AssertionError("no %s in %s/metrics:\n%s" % (want, url, r.raw.decode()))


def _json_error(reply, status_line, code, message=None):
    assert reply.status_line == status_line, reply
    assert reply.header("content-type") == "application/json", reply
    body = json.loads(reply.body)
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}, body
    assert body["error"]["code"] == code, body
    assert isinstance(body["error"]["message"], str) and body["error"]["message"], body
    if message is not None:
        assert body["error"]["message"] == message, body
    return body


# ---------------------------------------------------------------- item 8

@pytest.fixture
def coord(cluster):
    return cluster.coordinator()


def test_http11_without_host_is_400_json(coord):
    r = rawhttp.exchange(coord.port, b"GET /v1/health HTTP/1.1\r\nConnection: close\r\n\r\n")
    _json_error(r, "HTTP/1.1 400 Bad Request", "bad_request",
                "an HTTP/1.1 request needs exactly one Host header")


def test_http11_with_two_hosts_is_400_json(coord):
    r = rawhttp.exchange(coord.port, b"GET /v1/health HTTP/1.1\r\nHost: a\r\nHost: b\r\n"
                                     b"Connection: close\r\n\r\n")
    _json_error(r, "HTTP/1.1 400 Bad Request", "bad_request",
                "an HTTP/1.1 request needs exactly one Host header")


def test_http10_without_host_is_served(coord):
    r = rawhttp.exchange(coord.port, b"GET /v1/health HTTP/1.0\r\n\r\n")
    assert r.status == 200 and json.loads(r.body)["status"] == "ok", r


def test_expect_continue_with_oversized_length_gets_413_without_100(coord):
    # Above the 1 MiB cap but within what the server would drain, so only
    # the Expect header makes it answer before the body.
    r = rawhttp.exchange(coord.port,
                         b"POST /v1/brokers HTTP/1.1\r\nHost: x\r\n"
                         b"Content-Type: application/json\r\nContent-Length: 1500000\r\n"
                         b"Expect: 100-continue\r\n\r\n", timeout=5 * scale())
    assert r.interim == [], "a 100 Continue came before the 413: %r" % r.interim
    _json_error(r, "HTTP/1.1 413 Content Too Large", "payload_too_large")


def test_expect_continue_within_cap_gets_100_then_the_reply(coord):
    s = rawhttp.connect_from("127.0.0.1", coord.port)
    try:
        body = b'{"nope":1}'
        s.sendall(b"POST /v1/brokers HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"Content-Length: %d\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n"
                  % len(body))
        s.settimeout(5 * scale())
        assert s.recv(64).startswith(b"HTTP/1.1 100 Continue\r\n\r\n")
        s.sendall(body)
        r = rawhttp.read_reply(s)
    finally:
        s.close()
    assert r.status == 400 and json.loads(r.body)["error"]["code"] == "unknown_field", r


@pytest.mark.parametrize("name,head", [
    ("transfer-encoding-gzip", b"Transfer-Encoding: gzip\r\n"),
    ("transfer-encoding-gzip-chunked", b"Transfer-Encoding: gzip, chunked\r\n"),
    ("length-and-chunked", b"Content-Length: 4\r\nTransfer-Encoding: chunked\r\n"),
])
def test_body_framing_we_refuse_is_400_json(coord, name, head):
    # Without this a non-chunked Transfer-Encoding made the server read until
    # the client closed; both framings at once invite request smuggling.
    r = rawhttp.exchange(coord.port, b"POST /v1/brokers HTTP/1.1\r\nHost: x\r\n"
                         b"Content-Type: application/json\r\n" + head +
                         b"Connection: close\r\n\r\n2\r\n{}\r\n0\r\n\r\n", timeout=5 * scale())
    _json_error(r, "HTTP/1.1 400 Bad Request", "bad_request")


# Replies libmicrohttpd 0.9.75 sends by itself, before any hook of ours runs
# (README, "Replies the server cannot shape"): the status line and the start
# of the body, asserted exactly so that a libmicrohttpd upgrade that changes
# them is noticed. For a Content-Length it cannot parse it sends the status
# line and headers twice, so its "body" starts with the head again.
HTML = b"<html>"
MHD_OWN = [
    ("malformed-chunk",
     b"POST /v1/brokers HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
     b"Transfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n",
     "HTTP/1.1 400 Bad Request", HTML),
    ("chunk-size-overflow",
     b"POST /v1/brokers HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
     b"Transfer-Encoding: chunked\r\n\r\n10000000000000000000\r\n",
     "HTTP/1.1 413 Content Too Large", HTML),
    ("headers-too-large",
     b"GET /v1/health HTTP/1.1\r\nHost: x\r\nX-A: " + b"a" * 70000 + b"\r\n\r\n",
     "HTTP/1.1 431 Request Header Fields Too Large", HTML),
    ("target-beyond-read-buffer",
     b"GET /" + b"a" * 40000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
     "HTTP/1.1 414 URI Too Long", HTML),
    ("http-2.0", b"GET /v1/health HTTP/2.0\r\nHost: x\r\n\r\n",
     "HTTP/1.1 505 HTTP Version Not Supported", HTML),
    ("http-0.9", b"GET /v1/health HTTP/0.9\r\nHost: x\r\n\r\n",
     "HTTP/1.1 505 HTTP Version Not Supported", HTML),
    ("content-length-not-a-number",
     b"POST /v1/brokers HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
     "HTTP/1.1 400 Bad Request", b"HTTP/1.1 400 Bad Request\r\n"),
    ("content-length-overflow",
     b"POST /v1/brokers HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999999\r\n\r\n",
     "HTTP/1.1 413 Content Too Large", b"HTTP/1.1 413 Content Too Large\r\n"),
    ("header-line-without-colon",
     b"GET /v1/health HTTP/1.1\r\nHost: x\r\nbogus\r\n\r\n",
     "HTTP/1.1 400 Bad Request", HTML),
]


@pytest.mark.parametrize("name,data,status_line,body_start", MHD_OWN,
                         ids=[c[0] for c in MHD_OWN])
def test_libmicrohttpd_own_replies_are_as_documented(coord, name, data, status_line, body_start):
    r = rawhttp.exchange(coord.port, data, timeout=5 * scale())
    assert r.status_line == status_line, r
    # libmicrohttpd's own reply, not our shape: the README says so.
    assert r.header("content-type") is None and r.body.startswith(body_start), r
    assert b"<html>" in r.body, r


def test_request_line_without_version_is_closed_without_reply(coord):
    s = rawhttp.connect_from("127.0.0.1", coord.port)
    try:
        s.sendall(b"GET\r\n\r\n")
        s.settimeout(5 * scale())
        assert s.recv(4096) == b""
    finally:
        s.close()


# ---------------------------------------------------------------- item 5

def _real_requests(b, n, bound):
    """n real requests from 127.0.0.1, each on a new connection, alternating a
    read and a job submission; each must be answered within bound seconds.
    Returns the durations."""
    times = []
    for i in range(n):
        if i % 2:
            r, dt = rawhttp.timed_request(b.port, "POST", "/v1/jobs",
                                          {"type": "building_fire", "severity": "critical",
                                           "required_capabilities": ["firefighting"]},
                                          timeout=bound)
            assert r.status == 201 and r.json["job"]["status"] == "queued", r
        else:
            r, dt = rawhttp.timed_request(b.port, "GET", "/v1/health", timeout=bound)
            assert r.status == 200, r
        times.append(dt)
    return times


def _attack_and_serve(b, per_source, what):
    bound = 10.0 * scale()
    before = _real_requests(b, 6, bound)
    attack = rawhttp.Attack(b.port, ATTACK_SOURCES, per_source, trickle=2.0).start()
    peak_fds = 0
    try:
        # Let the attack fill the server before measuring.
        def filled():
            nonlocal peak_fds
            peak_fds = max(peak_fds, rawhttp.fd_count(b.proc.pid))
            return attack.stats()["opened"] >= len(ATTACK_SOURCES) * per_source * 0.9
        try:
            wait_until(filled, 10, 0.1, "the attack's connections established")
        except ergrid.WaitTimeout:
            pass  # a server that stops accepting leaves them in the backlog: measure anyway
        during = []
        t0 = time.monotonic()
        # Spread over a few trickle periods, so requests meet the churn.
        while len(during) < REAL_REQUESTS or time.monotonic() - t0 < ATTACK_WINDOW_S:
            during += _real_requests(b, 2, bound)
            peak_fds = max(peak_fds, rawhttp.fd_count(b.proc.pid))
            time.sleep(0.1)  # pacing of the real client, not a wait for a condition
        stats = attack.stats()
    finally:
        attack.stop()
    after = _real_requests(b, 6, bound)
    soft, _ = rawhttp.nofile_of(b.proc.pid)
    _figure("%s: %d attacking connections wanted from %d addresses (%d per address); "
            "attacker saw %s; broker fds peak %d (RLIMIT_NOFILE %d)"
            % (what, per_source * len(ATTACK_SOURCES), len(ATTACK_SOURCES), per_source,
               stats, peak_fds, soft))
    _figure("%s: broker response time before the attack: %s" % (what, rawhttp.figures(before)))
    _figure("%s: broker response time during the attack: %s" % (what, rawhttp.figures(during)))
    _figure("%s: broker response time after the attack: %s" % (what, rawhttp.figures(after)))
    return stats, peak_fds, soft


def test_broker_keeps_serving_through_a_connection_attack(cluster):
    # 19 x 300 = 5,700 connections: above the per-client limit at every
    # address and, together, above the 4,096 total.
    rawhttp.raise_nofile(8192)
    b = cluster.broker()
    stats, peak_fds, soft = _attack_and_serve(b, 300, "default fd limit")
    assert stats["closed_by_server"] > 0, stats  # limits were hit
    # the server held about its whole limit (4,096) while it kept answering
    assert stats["open"] >= 0.9 * 4096 and peak_fds >= 0.9 * 4096, (stats, peak_fds)
    assert peak_fds < soft, (peak_fds, soft)


def test_broker_under_1024_fds_keeps_serving_through_a_connection_attack(cluster, monkeypatch):
    rawhttp.raise_nofile(8192)
    b = cluster.broker(start=False)
    rawhttp.start_with_nofile(monkeypatch, b, 1024)
    assert rawhttp.nofile_of(b.proc.pid) == (1024, 1024)
    stats, peak_fds, _ = _attack_and_serve(b, 300, "RLIMIT_NOFILE 1024")
    assert stats["closed_by_server"] > 0, stats
    # the limit derived from 1,024 fds is 728 connections (README)
    assert stats["open"] >= 0.9 * 728 and peak_fds >= 0.9 * 728, (stats, peak_fds)
    assert peak_fds < 1024, peak_fds


def test_per_client_limit_refuses_with_503_and_is_counted(cluster):
    rawhttp.raise_nofile(4096)
    c = cluster.coordinator()
    held, refused = [], 0
    try:
        for _ in range(PER_CLIENT + 20):
            held.append(rawhttp.connect_from("127.0.0.3", c.port))
        # The server answers the ones over the limit with a 503 and closes
        # them; the others stay open and silent.
        for s in held[PER_CLIENT:]:
            try:
                r = rawhttp.read_reply(s, 5 * scale())
            except ConnectionError:
                continue  # the 503 can be lost to a reset; the close is what counts
            _json_error(r, "HTTP/1.1 503 Service Unavailable", "unavailable")
            refused += 1
        assert all(rawhttp.closed_by_peer(s, 5 * scale()) for s in held[PER_CLIENT:])
        # another address is served meanwhile
        assert get(c.url + "/v1/health").status == 200
        assert _metric(c.url, "ergrid_http_connections_refused_total",
                       '{reason="per_client_limit"}') >= 20
        assert _metric(c.url, "ergrid_http_connections_per_client_max") == PER_CLIENT
        assert _metric(c.url, "ergrid_http_connections") >= PER_CLIENT
    finally:
        for s in held:
            s.close()
    _figure("per-client limit: %d of 20 refused connections read the 503 before the close"
            % refused)


def test_trickled_and_idle_connections_are_cut_at_the_read_deadline(cluster):
    c = cluster.coordinator()
    trickler = rawhttp.connect_from("127.0.0.2", c.port)
    silent = rawhttp.connect_from("127.0.0.4", c.port)
    keepalive = rawhttp.connect_from("127.0.0.1", c.port)
    keepalive.sendall(b"GET /v1/health HTTP/1.1\r\nHost: x\r\n\r\n")
    assert rawhttp.read_reply(keepalive).status == 200
    t0 = time.monotonic()
    open_ = {"trickler": trickler, "silent": silent, "keep-alive": keepalive}
    closed_after = {}
    sent = 0
    prefix = b"GET /v1/health HTTP/1.1\r\nHost: x\r\nX-Slow: "
    bound = READ_DEADLINE_S + 10.0 * scale()
    try:
        while open_ and time.monotonic() - t0 < bound:
            if "trickler" in open_:  # one byte every 500 ms: far more often than any idle timeout
                try:
                    trickler.send(prefix[sent:sent + 1] or b"a")
                    sent += 1
                except OSError:
                    pass
            for name, s in list(open_.items()):
                if rawhttp.closed_by_peer(s, 0.5 / len(open_)):
                    closed_after[name] = time.monotonic() - t0
                    del open_[name]
        assert not open_, "still open after %.0f s: %s (closed: %s)" % (bound, list(open_),
                                                                        closed_after)
    finally:
        for s in (trickler, silent, keepalive):
            s.close()
    assert sent >= 8, sent  # it really was trickling for seconds
    _figure("read deadline %.0f s: closed after %s; the trickler had sent %d bytes"
            % (READ_DEADLINE_S, {k: "%.1f s" % v for k, v in closed_after.items()}, sent))
    assert _metric(c.url, "ergrid_http_connections_cut_total", '{reason="read_deadline"}') >= 3


def test_every_service_metrics_carry_the_connection_metrics(cluster):
    b = cluster.broker()
    e = cluster.executor("LAFD-1", "fire", ["firefighting"], b)
    for url in (b.url, e.url):
        for name in ("ergrid_http_connections", "ergrid_http_connections_max",
                     "ergrid_http_connections_per_client_max",
                     "ergrid_http_connections_accepted_total"):
            assert _metric(url, name) >= 0, (url, name)
        assert _metric(url, "ergrid_http_connections_refused_total",
                       '{reason="total_limit"}') == 0
        assert _metric(url, "ergrid_http_connections_cut_total", '{reason="evicted"}') == 0
