"""The dashboard on the push stream, in a real (headless) browser: once the
page has taken its snapshot and opened GET /v1/events/stream, an incident
submitted later appears on it through the stream, with no second snapshot
(the slow repair poll is 30 s away). Chromium is driven over its DevTools
pipe, so the page runs in real time on its open stream."""

import json
import os
import select
import shutil
import subprocess
import tempfile
import time

import pytest

from ergrid import expect, get, make_district, post, scale, wait_until

CHROMIUM = "/usr/bin/chromium"

needs_chromium = pytest.mark.skipif(
    not os.access(CHROMIUM, os.X_OK),
    reason="needs Debian's chromium at /usr/bin/chromium "
           "(scripts/test.sh installs it with ERGRID_WITH_BROWSER=1)")


def metric(svc, name):
    for line in get(svc.url + "/metrics").raw.decode().splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return 0.0


class Browser:
    """Headless Chromium driven over --remote-debugging-pipe (the DevTools
    protocol on fds 3 and 4, NUL-terminated JSON): no extra package."""

    def __init__(self, url):
        self.profile = tempfile.mkdtemp(prefix="ergrid-chromium-")
        to_chrome_r, self.to_chrome = os.pipe()
        self.from_chrome, from_chrome_w = os.pipe()

        def fds():
            os.dup2(to_chrome_r, 3)
            os.dup2(from_chrome_w, 4)
        self.proc = subprocess.Popen(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--disable-quic", "--user-data-dir=" + self.profile, "--remote-debugging-pipe",
             "about:blank"], preexec_fn=fds, pass_fds=(3, 4), stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL)
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        self.buf = b""
        self.next_id = 0
        target = self.call("Target.createTarget", {"url": url})["targetId"]
        self.session = self.call("Target.attachToTarget",
                                 {"targetId": target, "flatten": True})["sessionId"]

    def call(self, method, params=None, session=None):
        self.next_id += 1
        msg = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self.to_chrome, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + 60 * scale()
        while time.monotonic() < deadline:
            while b"\0" in self.buf:
                raw, self.buf = self.buf.split(b"\0", 1)
                reply = json.loads(raw)
                if reply.get("id") == self.next_id:
                    assert "error" not in reply, reply
                    return reply["result"]
            r, _, _ = select.select([self.from_chrome], [], [], 1.0)
            if r:
                data = os.read(self.from_chrome, 1 << 20)
                assert data, "chromium closed its DevTools pipe"
                self.buf += data
        raise AssertionError("chromium did not answer %s" % method)

    def js(self, expression):
        r = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True},
                      self.session)
        return r["result"].get("value")

    def close(self):
        self.proc.kill()
        self.proc.wait()
        os.close(self.to_chrome)
        os.close(self.from_chrome)
        shutil.rmtree(self.profile, ignore_errors=True)


@needs_chromium
def test_a_new_incident_arrives_through_the_stream(cluster):
    coord = cluster.coordinator(extra=["--poll-interval", "300ms"])
    make_district(cluster, [("LAFD-1", "fire", ["firefighting", "rescue"])], name="Downtown",
                  broker_extra=["--coordinator", coord.url])
    wait_until(lambda: any(b["id"] == "Downtown" and b["reachable"]
                           for b in get(coord.url + "/v1/brokers").json["brokers"]),
               20, message="Downtown registered and polled")
    b = Browser(coord.url + "/")
    try:
        def body(name):
            return b.js("document.body.getAttribute(%s)" % json.dumps(name))
        wait_until(lambda: body("data-stream") == "open" and body("data-snapshots") == "1",
                   30 * scale(), message="the page took its snapshot and opened the stream")
        wait_until(lambda: b.js("document.querySelectorAll('.unit').length") >= 1, 30 * scale(),
                   message="the snapshot rendered")
        t0 = time.monotonic()
        expect(post(coord.url + "/v1/incidents",
                    {"id": "fire-late", "type": "building_fire", "severity": "critical",
                     "required_capabilities": ["firefighting"]}), 201, "incident")
        sel = "document.querySelector('.incident[data-job-id=\"fire-late\"]') !== null"
        wait_until(lambda: b.js(sel), 20 * scale(), message="the new incident on the page")
        took = time.monotonic() - t0
        print("the incident appeared %.2fs after it was submitted (poll interval 300 ms)" % took)
        # It came by the stream: still the one snapshot, with stream events since.
        assert body("data-snapshots") == "1", body("data-snapshots")
        assert int(body("data-stream-events") or 0) >= 1
        assert metric(coord, "ergrid_sse_streams") == 1
    finally:
        b.close()
