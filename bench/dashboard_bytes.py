#!/usr/bin/env python3
"""The dashboard's traffic, polling against the push stream (issue 13's
figure): bytes per second on the wire (request and reply, headers
included) for an idle city and for one with 500 open incidents.

Polling is the old page: GET /v1/overview and GET /v1/events?limit=100
every second, replayed here. The stream is the new page: GET
/v1/events/stream held open for the window, plus the snapshot it takes
when the stream opens and every 30 s (its repair poll), counted once per
30 s. With no events flowing the stream carries only its heartbeat.

Usage: ERGRID_BUILD=build bench/dashboard_bytes.py [--window SECONDS] [--open N]
Prints figures; asserts nothing about them."""

import argparse
import os
import socket
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests",
                                "integration"))

import ergrid  # noqa: E402

REPAIR_S = 30  # the page's slow repair poll (dashboard.html REPAIR_MS)


def exchange(url, path, hold_s=None):
    """Bytes sent and received for one GET; with hold_s, reads for that long
    (a stream) and then closes."""
    host, port = url.split("//")[1].split(":")
    req = ("GET %s HTTP/1.1\r\nHost: %s:%s\r\nAccept: */*\r\n%s\r\n" %
           (path, host, port, "" if hold_s else "Connection: close\r\n")).encode()
    s = socket.create_connection((host, int(port)), timeout=10)
    s.sendall(req)
    got = 0
    end = time.monotonic() + (hold_s or 30)
    try:
        while time.monotonic() < end:
            s.settimeout(max(0.05, end - time.monotonic()))
            try:
                data = s.recv(65536)
            except socket.timeout:
                break
            if not data:
                break
            got += len(data)
    finally:
        s.close()
    return len(req) + got


def polling_rate(url, rounds):
    total = 0
    for _ in range(rounds):
        total += exchange(url, "/v1/overview") + exchange(url, "/v1/events?limit=100")
    return total / rounds  # one round a second


def stream_rate(url, window):
    snapshot = exchange(url, "/v1/overview") + exchange(url, "/v1/events?limit=100")
    held = exchange(url, "/v1/events/stream", hold_s=window)
    return held / window + snapshot / REPAIR_S, held, snapshot


def measure(label, url, window):
    poll = polling_rate(url, 5)
    stream, held, snap = stream_rate(url, window)
    print("%-22s polling %9.0f B/s   stream %7.1f B/s  (stream bytes in %ds: %d; "
          "snapshot %d B every %ds)  ratio %.0fx" %
          (label, poll, stream, window, held, snap, REPAIR_S, poll / stream if stream else 0))
    return poll, stream


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--window", type=int, default=30, help="seconds the stream is held")
    ap.add_argument("--open", type=int, default=500, help="open incidents for the second figure")
    a = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="ergrid-bench-dashboard-")
    c = ergrid.Cluster(tmp)
    try:
        coord = c.coordinator(extra=["--poll-interval", "1s"])
        b = c.broker("Downtown", extra=["--coordinator", coord.url])
        ergrid.wait_until(lambda: any(x["reachable"] for x in
                                      ergrid.get(coord.url + "/v1/brokers").json["brokers"]),
                          30, message="broker polled")
        measure("idle city", coord.url, a.window)
        for i in range(a.open):
            b.submit_ok(["firefighting"], id="open-%d" % i)  # no unit: each stays queued

        def all_open():
            d = ergrid.get(coord.url + "/v1/overview").json["districts"]
            return sum(len(x.get("open_jobs") or []) for x in d) >= a.open
        ergrid.wait_until(all_open, 60, message="the overview shows every open incident")
        last = "open-%d" % (a.open - 1)

        def gathered():  # the last submission's events reached the coordinator: quiet now
            evs = ergrid.get(coord.url + "/v1/events?limit=20").json["events"]
            return any(e["job_id"] == last and e["type"] == "job_queued" for e in evs)
        ergrid.wait_until(gathered, 60, message="the coordinator gathered every event")
        measure("%d open incidents" % a.open, coord.url, a.window)
    finally:
        problems = c.shutdown()
        if problems:
            print("shutdown: " + "; ".join(problems))


if __name__ == "__main__":
    main()
