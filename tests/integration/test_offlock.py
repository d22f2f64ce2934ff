"""The broker's hot path off its HTTP workers (README, "Off the request
path"): a submission's call to a stalled terminal runs on the outgoing pool
while the workers serve others; the drain wake is coalesced and counted."""

import re
import threading

from conftest import FIRE
from ergrid import expect, get, post, unit_status, wait_until

WORKERS = 2  # the broker's --threads: its libmicrohttpd workers


def metric(broker, name):
    r = get(broker.url + "/metrics")
    expect(r, 200, "metrics")
    m = re.search(r"^%s (\d+)$" % re.escape(name), r.raw.decode(), re.M)
    assert m, "no %s in /metrics" % name
    return int(m.group(1))


def test_stalled_terminal_does_not_hold_the_http_workers(cluster):
    # A long failure timeout: the stopped unit must stay available (and so
    # be called) for the whole test, not be declared lost.
    b = cluster.broker(failure_timeout="60s", extra=("--threads", str(WORKERS)))
    e = cluster.executor("LAFD-1", "fire", FIRE, b, extra=("--capacity", "8"))
    wait_until(lambda: unit_status(b, "LAFD-1") == "available", message="LAFD-1 registered")
    n = 2 * WORKERS  # more submissions in flight than the broker has workers
    replies = [None] * n
    e.stop()  # SIGSTOP: the kernel still accepts its connections; nothing answers

    def submit(i):
        replies[i] = post(b.url + "/v1/jobs", {"id": "stall-%d" % i, "type": "building_fire",
                                               "severity": "high",
                                               "required_capabilities": ["firefighting"]})
    threads = [threading.Thread(target=submit, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    try:
        # Served by the same workers the submissions came in on: with each of
        # them waiting for the terminal, none of this would answer.
        wait_until(lambda: metric(b, "ergrid_outgoing_calls_busy") >= n,
                   message="%d submissions calling the stopped terminal at once" % n)
        h = get(b.url + "/v1/health")
        expect(h, 200, "health while the terminal is stopped")
        assert h.json["status"] == "ok", h
        still_waiting = [i for i in range(n) if replies[i] is None]
        assert len(still_waiting) == n, \
            "a submission answered before its call ended: %r" % replies
    finally:
        e.cont()
    for t in threads:
        t.join()
    # Each reply comes after its call: assigned when the terminal answered
    # in time, queued (the attempt abandoned) when it did not.
    for i, r in enumerate(replies):
        expect(r, 201, "submission %d" % i)
        job = r.json["job"]
        assert job["id"] == "stall-%d" % i, job
        assert job["status"] in ("assigned", "queued"), job
        if job["status"] == "assigned":
            assert job["unit_id"] == "LAFD-1", job
    assert metric(b, "ergrid_outgoing_calls_busy") == 0
    assert metric(b, "ergrid_outgoing_calls_total") >= n


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
