"""The broker's hot path off its HTTP workers (README, "Off the request
path"): a submission's call to a stalled terminal runs on the outgoing pool
while the workers serve others; the drain wake is coalesced and counted."""

import os
import re
import signal
import socket
import subprocess
import threading

import ergrid
from conftest import FIRE
from ergrid import LISTEN_RE, expect, get, post, unit_status, wait_until

WORKERS = 2  # the broker's --threads: its libmicrohttpd workers


def metric(broker, name):
    url = broker if isinstance(broker, str) else broker.url
    r = get(url + "/metrics")
    expect(r, 200, "metrics")
    m = re.search(r"^%s (\d+)$" % re.escape(name), r.raw.decode(), re.M)
    assert m, "no %s in /metrics" % name
    return int(m.group(1))


def submit_all(broker, ids):
    """Starts one submission per id, each on its own thread; returns the
    threads and the list their replies land in (None until answered)."""
    replies = [None] * len(ids)

    def submit(i):
        replies[i] = post(broker.url + "/v1/jobs", {"id": ids[i], "type": "building_fire",
                                                    "severity": "high",
                                                    "required_capabilities": ["firefighting"]})
    threads = [threading.Thread(target=submit, args=(i,)) for i in range(len(ids))]
    for t in threads:
        t.start()
    return threads, replies


def stalled_round(caller, served, ids, terminals, units):
    """Submits ids to caller while terminals are stopped: served (whose
    workers took the calls) must answer with all of them in flight and none
    of the submissions answered; then the terminals go on. Each reply comes
    after its call: assigned when the terminal answered in time, queued
    (the attempt abandoned) when it did not; in the end every job is held
    by one of units."""
    n = len(ids)
    for e in terminals:
        e.stop()  # SIGSTOP: the kernel still accepts its connections; nothing answers
    threads, replies = submit_all(caller, ids)
    try:
        wait_until(lambda: metric(served, "ergrid_outgoing_calls_busy") >= n,
                   message="%d calls to stopped terminals at once at %s" % (n, served.name))
        h = get(served.url + "/v1/health")
        expect(h, 200, "health while the terminals are stopped")
        assert h.json["status"] == "ok", h
        assert all(r is None for r in replies), \
            "a submission to %s answered before its call ended: %r" % (caller.name, replies)
    finally:
        for e in terminals:
            e.cont()
    for t in threads:
        t.join()
    for i, r in enumerate(replies):
        expect(r, 201, "submission %d" % i)
        job = r.json["job"]
        assert job["id"] == ids[i], job
        assert job["status"] in ("assigned", "queued"), job
        if job["status"] == "assigned":
            assert job["unit_id"] in units and job["attempts"][-1]["district"] == served.id, job
    wait_all_assigned(caller, ids, units)


def wait_all_assigned(broker, ids, units):
    """Every job ends up held by one of units (the drain retries what a
    timed-out call left queued)."""
    def ok():
        for i in ids:
            job = broker.job(i)
            assert job["status"] == "assigned" and job["unit_id"] in units, job
        return True
    wait_until(ok, message="every job assigned once the terminals answer")


def test_stalled_terminal_does_not_hold_the_http_workers(cluster):
    # A long failure timeout: the stopped unit must stay available (and so
    # be called) for the whole test, not be declared lost.
    b = cluster.broker(failure_timeout="60s", extra=("--threads", str(WORKERS)))
    e = cluster.executor("LAFD-1", "fire", FIRE, b, extra=("--capacity", "8"))
    wait_until(lambda: unit_status(b, "LAFD-1") == "available", message="LAFD-1 registered")
    n = 2 * WORKERS  # more submissions in flight than the broker has workers
    # Served by the same workers the submissions came in on: with each of
    # them waiting for the terminal, none of this would answer.
    stalled_round(b, b, ["stall-%d" % i for i in range(n)], [e], ["LAFD-1"])
    assert metric(b, "ergrid_outgoing_calls_busy") == 0
    assert metric(b, "ergrid_outgoing_calls_total") >= n


def test_stalled_lent_terminal_does_not_hold_the_home_workers(cluster):
    # Downtown has no fire unit: each job is a claim at Westside, whose
    # call to the stopped terminals runs on Westside's pool.
    n = 2 * WORKERS
    ports = []
    socks = [socket.socket() for _ in range(2)]
    for sk in socks:
        sk.bind(("127.0.0.1", 0))
        ports.append(sk.getsockname()[1])
    for sk in socks:
        sk.close()
    dt = cluster.broker("Downtown", failure_timeout="60s", start=False,
                        extra=("--sync-interval", "200ms",
                               "--peer", "Westside=http://127.0.0.1:%d" % ports[1]))
    ws = cluster.broker("Westside", failure_timeout="60s", start=False,
                        extra=("--sync-interval", "200ms", "--threads", str(WORKERS),
                               "--peer", "Downtown=http://127.0.0.1:%d" % ports[0]))
    dt.start_or_fail(ports[0])
    ws.start_or_fail(ports[1])
    units = ["LAFD-%d" % (5 + i) for i in range(n)]
    execs = [cluster.executor(u, "fire", FIRE, ws) for u in units]
    for u in units:
        wait_until(lambda u=u: unit_status(dt, u) == "available",
                   message="%s seen available at Downtown" % u)
    stalled_round(dt, ws, ["aid-%d" % i for i in range(n)], execs, units)


def test_submission_reply_carries_its_assignment(cluster):
    b = cluster.broker(extra=("--threads", str(WORKERS)))
    cluster.executor("LAFD-1", "fire", FIRE, b)
    wait_until(lambda: unit_status(b, "LAFD-1") == "available", message="LAFD-1 registered")
    before = metric(b, "ergrid_outgoing_calls_total")
    r = post(b.url + "/v1/jobs", {"type": "building_fire", "severity": "critical",
                                  "required_capabilities": ["firefighting"]})
    expect(r, 201, "submission")
    job = r.json["job"]
    assert (job["status"], job["unit_id"], job["attempt"]) == ("assigned", "LAFD-1", 1), job
    assert metric(b, "ergrid_outgoing_calls_total") == before + 1
    # The same id again is answered at once, without a call.
    again = post(b.url + "/v1/jobs", {"id": job["id"], "type": "building_fire",
                                      "severity": "critical",
                                      "required_capabilities": ["firefighting"]})
    expect(again, 200, "idempotent retry")
    assert metric(b, "ergrid_outgoing_calls_total") == before + 1


def test_drain_wakes_are_counted_and_coalesce(cluster):
    b = cluster.broker()
    # Jobs no unit can serve yet: each submission and each registration
    # below asks the drain thread to look.
    for i in range(20):
        r = post(b.url + "/v1/jobs", {"id": "wait-%d" % i, "type": "building_fire",
                                      "severity": "high",
                                      "required_capabilities": ["firefighting"]})
        expect(r, 201, "queued submission")
        assert r.json["job"]["status"] == "queued", r.json
    cluster.executor("LAFD-1", "fire", FIRE, b, extra=("--capacity", "20"))
    wait_until(lambda: metric(b, "ergrid_jobs_waiting") == 0, message="queue drained")
    asked = metric(b, "ergrid_dispatch_wakes_requested_total")
    woke = metric(b, "ergrid_dispatch_wakes_total")
    passes = metric(b, "ergrid_dispatch_drain_passes_total")
    woken_passes = metric(b, "ergrid_dispatch_drain_passes_woken_total")
    assert asked >= 20, asked
    # A wake joins one still pending; a drain round begun by wakes takes
    # every one pending at once.
    assert 1 <= woke <= asked, (woke, asked)
    assert 1 <= woken_passes <= woke, (woken_passes, woke)
    assert woken_passes <= passes, (woken_passes, passes)


def test_latency_histogram_counts_every_worker(cluster):
    b = cluster.broker(extra=("--threads", str(WORKERS)))
    before = metric(b, "ergrid_request_duration_seconds_count")
    threads = [threading.Thread(target=lambda: [get(b.url + "/v1/health") for _ in range(25)])
               for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # The shards of every worker, merged: each request counted once (the
    # /metrics read itself is counted after it is answered).
    assert metric(b, "ergrid_request_duration_seconds_count") == before + 1 + 100


def test_stalled_stderr_drops_log_lines_not_requests(tmp_path):
    """A broker whose stderr nobody reads (a full pipe) keeps serving: its
    log lines are dropped and counted, the drop is reported once the
    reader catches up, and SIGTERM still writes the last lines."""
    rd, wr = os.pipe()
    cmd = [ergrid.binary("broker"), "--id", "Downtown", "--listen", "127.0.0.1:0",
           "--data-dir", str(tmp_path / "data")]
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=wr)
    os.close(wr)
    got = []
    try:
        m = LISTEN_RE.match(proc.stdout.readline().decode().rstrip("\r\n"))
        assert m, "no listening line"
        url = "http://127.0.0.1:%s" % m.group(1)
        done = threading.Event()
        count = [0] * 8

        def flood(k):
            # Each queued submission logs two events; nothing reads them.
            while not done.is_set() and count[k] < 5000:
                r = post(url + "/v1/jobs", {"type": "building_fire", "severity": "low",
                                            "required_capabilities": ["firefighting"]})
                expect(r, 201, "submission with stderr stalled")
                count[k] += 1
        threads = [threading.Thread(target=flood, args=(k,)) for k in range(8)]
        for t in threads:
            t.start()
        try:
            wait_until(lambda: metric(url, "ergrid_log_lines_dropped_total") > 0, timeout=120,
                       message="log lines dropped while stderr is stalled")
        finally:
            done.set()
            for t in threads:
                t.join()
        expect(get(url + "/v1/health"), 200, "health with stderr stalled")
        dropped = metric(url, "ergrid_log_lines_dropped_total")

        def drain():
            while True:
                chunk = os.read(rd, 65536)
                if not chunk:
                    return
                got.append(chunk)
        reader = threading.Thread(target=drain)
        reader.start()
        # The writer catches up first: a line logged while the queue is
        # still full (the stop line too) would be dropped.
        wait_until(lambda: b"log lines dropped" in b"".join(got),
                   message="the drop reported once stderr is read")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(ergrid.TERM_TIMEOUT * ergrid.scale()) == 0
        reader.join()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(rd)
    text = b"".join(got).decode("utf-8", "replace")
    reported = sum(int(n) for n in re.findall(r" broker warn (\d+) log lines dropped", text))
    assert reported >= dropped > 0, (reported, dropped)
    assert " broker info signal 15: stopping\n" in text, text[-2000:]
    assert text.endswith("\n"), text[-200:]
