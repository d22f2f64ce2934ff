"""GET /v1/events/stream (Server-Sent Events) against real processes: ids in
order, Last-Event-ID resumption without loss or repeats, the gap record,
filters, the stream cap, a reader that never reads, the coordinator's city
stream and SIGTERM with streams open."""

import json
import socket
import time

import pytest

from ergrid import assert_error, expect, get, make_district, request, wait_until

HB = ["--stream-heartbeat", "1s"]


class SSE:
    """A raw-socket SSE client: reads the chunked body as it comes."""

    def __init__(self, url, path="/v1/events/stream", headers=(), rcvbuf=None):
        host, port = url.split("//")[1].split(":")
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(10)
        self.sock.connect((host, int(port)))
        req = "GET %s HTTP/1.1\r\nHost: %s:%s\r\nAccept: text/event-stream\r\n" % (path, host, port)
        for k, v in headers:
            req += "%s: %s\r\n" % (k, v)
        self.sock.sendall((req + "\r\n").encode())
        self.raw = b""
        self.body = b""
        self.status = None
        self.headers = {}
        self.closed = False

    def _recv(self, timeout):
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            return False
        if not data:
            self.closed = True
            return False
        self.raw += data
        return True

    def _parse(self):
        if self.status is None:
            end = self.raw.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.raw[:end].decode().split("\r\n")
            self.status = int(head[0].split()[1])
            for line in head[1:]:
                k, v = line.split(":", 1)
                self.headers[k.strip().lower()] = v.strip()
            self.raw = self.raw[end + 4:]
        if self.headers.get("transfer-encoding") != "chunked":
            self.body += self.raw
            self.raw = b""
            return
        while True:
            nl = self.raw.find(b"\r\n")
            if nl < 0:
                return
            size = int(self.raw[:nl].split(b";")[0], 16)
            if len(self.raw) < nl + 2 + size + 2:
                return
            self.body += self.raw[nl + 2:nl + 2 + size]
            self.raw = self.raw[nl + 2 + size + 2:]
            if size == 0:
                self.closed = True
                return

    def records(self, timeout=10.0, until=None):
        """Reads until until(records) holds (or the stream ends); returns the
        records parsed so far, each a dict (id, event, data, comment)."""
        deadline = time.monotonic() + timeout
        while True:
            self._parse()
            recs = self.parsed()
            if (until and until(recs)) or self.closed:
                return recs
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("stream: condition not met in %.1fs; got %r" % (timeout, recs))
            self._recv(min(left, 0.5))

    def parsed(self):
        out = []
        for block in self.body.decode().split("\n\n")[:-1]:
            rec = {}
            for line in block.split("\n"):
                if line.startswith(":"):
                    rec["comment"] = line[1:].strip()
                elif ":" in line:
                    k, v = line.split(":", 1)
                    rec[k] = v[1:] if v.startswith(" ") else v
            if "data" in rec:
                rec["data"] = json.loads(rec["data"])
            out.append(rec)
        return out

    def close(self):
        self.sock.close()


def events_of(recs, kind=None):
    return [r for r in recs if "id" in r and (kind is None or r["event"] == kind)]


def metric(svc, name):
    for line in get(svc.url + "/metrics").raw.decode().splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError("no metric " + name)


def submit(broker, n, **kw):
    return [broker.submit_ok(["firefighting"], **kw)["id"] for _ in range(n)]


def log_head(broker):
    return expect(get(broker.url + "/v1/events?limit=5000"), 200, "events")["events"][-1]["seq"]


def test_events_arrive_in_order_with_ids_and_clocks(cluster):
    b = cluster.broker(extra=HB)
    s = SSE(b.url)
    s.records(until=lambda r: r and "retry" in r[0])
    assert s.status == 200 and s.headers["content-type"].startswith("text/event-stream")
    jobs = submit(b, 3)
    recs = s.records(until=lambda r: len(events_of(r, "job_submitted")) == 3)
    evs = events_of(recs)
    ids = [int(r["id"]) for r in evs]
    assert ids == sorted(ids) and len(set(ids)) == len(ids), ids
    for r in evs:
        assert int(r["id"]) == r["data"]["seq"], r
        assert r["event"] == r["data"]["type"], r
        assert r["data"]["vclock"]["Downtown"] >= 1, r
    assert [r["data"]["job_id"] for r in events_of(recs, "job_submitted")] == jobs
    # The same events as GET /v1/events shows them.
    log = {e["seq"]: e for e in expect(get(b.url + "/v1/events"), 200, "events")["events"]}
    for r in evs:
        assert log[r["data"]["seq"]] == r["data"]
    # Idle: the heartbeat comment keeps it open.
    s.records(until=lambda r: any(x.get("comment") == "keep-alive" for x in r))
    s.close()


@pytest.mark.parametrize("how", ["header", "query"])
def test_reconnect_with_last_event_id_misses_nothing_and_repeats_nothing(cluster, how):
    b = cluster.broker(extra=HB)
    s = SSE(b.url)
    s.records(until=lambda r: len(r) >= 1)
    submit(b, 2)
    recs = s.records(until=lambda r: len(events_of(r, "job_submitted")) == 2)
    last = int(events_of(recs)[-1]["id"])
    s.sock.shutdown(socket.SHUT_RDWR)  # the client dies mid-stream
    s.close()
    submit(b, 3)
    head = log_head(b)
    if how == "header":
        s2 = SSE(b.url, headers=[("Last-Event-ID", str(last))])
    else:
        s2 = SSE(b.url, path="/v1/events/stream?last_event_id=%d" % last)
    recs2 = s2.records(until=lambda r: events_of(r) and int(events_of(r)[-1]["id"]) >= head)
    ids = [int(r["id"]) for r in events_of(recs2)]
    assert ids == list(range(last + 1, head + 1)), (last, head, ids)
    assert not [r for r in recs2 if r.get("event") == "gap"]
    s2.close()


def test_last_event_id_beyond_the_log_gets_a_gap_record(cluster):
    b = cluster.broker(extra=HB)
    submit(b, 1)
    head = log_head(b)
    s = SSE(b.url, headers=[("Last-Event-ID", "999999")])
    recs = s.records(until=lambda r: any(x.get("event") == "gap" for x in r))
    gap = [r for r in recs if r.get("event") == "gap"][0]
    assert "id" not in gap and gap["data"]["last_event_id"] == 999999
    assert gap["data"]["resumed_after"] == head
    job = submit(b, 1)[0]
    recs = s.records(until=lambda r: events_of(r, "job_submitted"))
    assert events_of(recs, "job_submitted")[0]["data"]["job_id"] == job
    s.close()
    bad = request("GET", b.url + "/v1/events/stream", headers={"Last-Event-ID": "x1"})
    assert_error(bad, 400, "bad_request")


def test_filters(cluster):
    b = cluster.broker(extra=HB)
    s_type = SSE(b.url, path="/v1/events/stream?type=job_submitted,unit_registered")
    s_type.records(until=lambda r: len(r) >= 1)  # open: it starts at the log's head
    first, second = submit(b, 2)
    s_job = SSE(b.url, path="/v1/events/stream?job=%s&last_event_id=0" % second)
    recs = s_type.records(until=lambda r: len(events_of(r)) >= 2)
    assert {r["event"] for r in events_of(recs)} == {"job_submitted"}, recs
    recs = s_job.records(until=lambda r: len(events_of(r)) >= 2)
    assert {r["data"]["job_id"] for r in events_of(recs)} == {second}, recs
    s_type.close()
    s_job.close()
    for q in ["type=Bad-Type", "job=a,,b", "unit=" + ",".join("u%d" % i for i in range(9))]:
        assert_error(get(b.url + "/v1/events/stream?" + q), 400, "bad_request", q)


def test_stream_cap_refuses_with_the_error_shape(cluster):
    b = cluster.broker(extra=HB + ["--max-streams", "2"])
    s1, s2 = SSE(b.url), SSE(b.url)
    for s in (s1, s2):
        s.records(until=lambda r: len(r) >= 1)
    r = get(b.url + "/v1/events/stream")
    assert_error(r, 503, "unavailable")
    assert r.headers.get("retry-after") == "1", r.headers
    # A closed stream gives its place back (seen at its next heartbeat).
    s1.close()
    wait_until(lambda: metric(b, "ergrid_sse_streams") == 1, 10, message="slot released")
    s3 = SSE(b.url)
    assert s3.records(until=lambda r: len(r) >= 1) and s3.status == 200
    s2.close()
    s3.close()


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def test_a_reader_that_never_reads_is_cut_and_the_broker_keeps_answering(cluster):
    b = cluster.broker(extra=HB)
    stuck = SSE(b.url, rcvbuf=4096)  # sends its request, then never reads
    wait_until(lambda: metric(b, "ergrid_sse_streams") == 1, 10, message="stream open")
    before = rss_kb(b.proc.pid)
    detail = "x" * 400
    for i in range(200):
        # Every request is still answered while the stream is stuck.
        for _ in range(10):
            b.submit_ok(["firefighting"], payload={"note": detail})
        if metric(b, "ergrid_sse_streams_cut_total") >= 1:
            break
    wait_until(lambda: metric(b, "ergrid_sse_streams_cut_total") == 1, 20, message="cut")
    wait_until(lambda: metric(b, "ergrid_sse_streams") == 0, 20, message="slot released")
    grown = rss_kb(b.proc.pid) - before
    assert grown < 64 * 1024, "RSS grew by %d KiB" % grown
    expect(get(b.url + "/v1/health"), 200, "health after the cut")
    stuck.close()


def test_coordinator_city_stream_shows_two_districts(cluster):
    c = cluster.coordinator(extra=["--poll-interval", "300ms"] + HB)
    s = SSE(c.url)
    s.records(until=lambda r: len(r) >= 1)
    dt = make_district(cluster, [("LAFD-1", "fire", ["firefighting"])], name="Downtown",
                       broker_extra=["--coordinator", c.url])
    ws = make_district(cluster, [("LAFD-5", "fire", ["firefighting"])], name="Westside",
                       broker_extra=["--coordinator", c.url])
    dt.broker.submit_ok(["rescue"])
    ws.broker.submit_ok(["rescue"])

    def both(recs):
        nodes = {r["data"].get("node") for r in events_of(recs, "job_submitted")}
        return {"Downtown", "Westside"} <= nodes

    recs = s.records(timeout=30, until=both)
    ids = [int(r["id"]) for r in events_of(recs)]
    assert ids == sorted(ids) and len(set(ids)) == len(ids), ids
    # City ids are the coordinator's own sequence, above its start time in ms * 1000.
    assert ids[0] > 1_000_000_000_000 * 1000
    # Resuming from the middle gets exactly the rest, once.
    mid = ids[len(ids) // 2]
    s2 = SSE(c.url, headers=[("Last-Event-ID", str(mid))])
    recs2 = s2.records(until=lambda r: events_of(r) and int(events_of(r)[-1]["id"]) >= ids[-1])
    got = [int(r["id"]) for r in events_of(recs2)]
    assert got[:len([i for i in ids if i > mid])] == [i for i in ids if i > mid], (mid, ids, got)
    s.close()
    s2.close()


def test_sigterm_with_open_streams_exits_promptly(cluster):
    b = cluster.broker(extra=HB)
    c = cluster.coordinator()
    streams = [SSE(b.url), SSE(b.url), SSE(c.url)]
    for s in streams:
        s.records(until=lambda r: len(r) >= 1)
    submit(b, 1)
    streams[0].records(until=lambda r: events_of(r))
    t0 = time.monotonic()
    b.term()
    c.term()
    took = time.monotonic() - t0
    print("SIGTERM with 3 open streams: both exited in %.2fs" % took)
    for s in streams:
        s.records(until=lambda r: False, timeout=10)
        assert s.closed, "the stream did not end at shutdown"
        s.close()
