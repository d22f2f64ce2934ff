"""The coordinator's dashboard in a real (headless) browser: a coordinator, a
broker and two executors, one incident; the rendered DOM must show the units
and the incident, and a screenshot is kept as an artifact."""

import os
import re
import shutil
import subprocess
import tempfile

import pytest

from conftest import EMS, FIRE
from ergrid import expect, get, make_district, post, scale, wait_until

CHROMIUM = "/usr/bin/chromium"
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def artifacts_dir():
    d = os.environ.get("ERGRID_ARTIFACTS") or os.path.join(ROOT, "tests", "artifacts")
    os.makedirs(d, exist_ok=True)
    return d


def chromium(profile, *args):
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           "--disable-quic", "--user-data-dir=" + profile, "--virtual-time-budget=5000"] + list(args)
    return subprocess.run(cmd, capture_output=True, timeout=120 * scale())


@pytest.fixture
def profile():
    d = tempfile.mkdtemp(prefix="ergrid-chromium-")
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.mark.skipif(not os.access(CHROMIUM, os.X_OK),
                    reason="needs Debian's chromium at /usr/bin/chromium "
                           "(scripts/test.sh installs it with ERGRID_WITH_BROWSER=1)")
def test_dashboard_renders_units_and_incidents(cluster, profile):
    coord = cluster.coordinator(extra=["--poll-interval", "300ms"])
    d = make_district(cluster, [("LAFD-1", "fire", FIRE), ("EMS-3", "ems", EMS)], name="Downtown",
                      broker_extra=["--coordinator", coord.url])
    wait_until(lambda: any(b["id"] == "Downtown" and b["reachable"]
                           for b in get(coord.url + "/v1/brokers").json["brokers"]),
               20, message="Downtown registered and polled")
    js = expect(post(coord.url + "/v1/incidents",
                     {"id": "fire-A", "type": "building_fire", "severity": "critical",
                      "required_capabilities": ["firefighting"], "location": "Building A"}),
                201, "incident")
    assert js["job"]["unit_id"] == "LAFD-1", js
    # A second one that finishes, so the page shows an accepted result too.
    js = expect(post(coord.url + "/v1/incidents",
                     {"id": "med-1", "type": "cardiac_arrest", "severity": "high",
                      "required_capabilities": ["medical"], "district": "Downtown"}), 201, "medical")
    assert js["job"]["unit_id"] == "EMS-3", js
    assert d["EMS-3"].report("med-1", "transported").status == 201

    def figures():
        v = get(coord.url + "/v1/overview").json["districts"][0]
        assert [j["id"] for j in v["open_jobs"]] == ["fire-A"], v
        assert [r["id"] for r in v["recent_results"]] == ["med-1"], v
        return True
    wait_until(figures, 15, message="overview shows both incidents")

    r = chromium(profile, "--dump-dom", coord.url + "/")
    dom = r.stdout.decode("utf-8", "replace")
    assert r.returncode == 0 and "<html" in dom, "chromium failed (%s): %s" % (
        r.returncode, r.stderr.decode("utf-8", "replace")[-2000:])
    units = dict(re.findall(r'class="unit"[^>]*data-unit-id="([^"]+)"[^>]*data-status="([^"]+)"', dom))
    assert units.get("LAFD-1") == "busy" and units.get("EMS-3") == "available", \
        "units missing from the rendered page: %r\n%s" % (units, dom[:3000])
    assert re.search(r'class="incident[^"]*"[^>]*data-job-id="fire-A"', dom), dom[:3000]
    assert re.search(r'class="incident finished"[^>]*data-job-id="med-1"', dom), dom[:3000]
    assert "transported" in dom
    assert 'data-district-id="Downtown"' in dom
    assert re.search(r'<circle[^>]*class="event"', dom), "no events in the space-time diagram"

    shot = os.path.join(artifacts_dir(), "dashboard.png")
    if os.path.exists(shot):
        os.unlink(shot)
    r = chromium(profile, "--screenshot=" + shot, "--window-size=1400,1000", "--hide-scrollbars",
                 coord.url + "/")
    assert r.returncode == 0, r.stderr.decode("utf-8", "replace")[-2000:]
    with open(shot, "rb") as f:
        png = f.read()
    assert png[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    assert len(png) > 20000, "suspiciously small screenshot (%d bytes)" % len(png)
