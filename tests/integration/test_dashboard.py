"""The coordinator's dashboard in a real (headless) browser: a coordinator, a
broker and two executors, one incident; the rendered DOM must show the units
and the incident, and a screenshot is kept as an artifact. With --tokens,
the page shows nothing without a viewer token, asks for one, says so when
one is refused, and shows the city with the one in its #token= fragment."""

import hashlib
import os
import re
import secrets
import shutil
import subprocess
import tempfile

import pytest

from conftest import EMS, FIRE
from ergrid import expect, get, make_district, post, request, scale, wait_until

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


needs_chromium = pytest.mark.skipif(
    not os.access(CHROMIUM, os.X_OK),
    reason="needs Debian's chromium at /usr/bin/chromium "
           "(scripts/test.sh installs it with ERGRID_WITH_BROWSER=1)")


def auth_box(dom):
    """The token box's state (data-auth) and whether it is shown."""
    m = re.search(r'<section id="auth"([^>]*)>', dom)
    assert m, "no token box in the page:\n" + dom[:3000]
    state = re.search(r'data-auth="([^"]*)"', m.group(1))
    return (state.group(1) if state else None), ("hidden" not in m.group(1))


def auth_message(dom):
    m = re.search(r'<p id="auth-message">([^<]*)</p>', dom)
    assert m, dom[:3000]
    return m.group(1)


def rendered_units(dom):
    return dict(re.findall(r'class="unit"[^>]*data-unit-id="([^"]+)"[^>]*data-status="([^"]+)"', dom))


def dump_dom(profile, url):
    r = chromium(profile, "--dump-dom", url)
    dom = r.stdout.decode("utf-8", "replace")
    assert r.returncode == 0 and "<html" in dom, "chromium failed (%s): %s" % (
        r.returncode, r.stderr.decode("utf-8", "replace")[-2000:])
    return dom


@needs_chromium
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

    dom = dump_dom(profile, coord.url + "/")
    # A coordinator on loopback without --tokens needs no token: the page
    # never asks for one.
    assert auth_box(dom) == ("open", False), auth_box(dom)
    units = rendered_units(dom)
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


class CityTokens:
    """Tokens in the spec's format (64 hex characters), their hashes in one
    tokens file, each service's own in a file of its own."""

    def __init__(self, tmp):
        self.dir = str(tmp)
        self.file = os.path.join(self.dir, "city.tokens")
        self.lines = []

    def make(self, role, subject):
        token = secrets.token_hex(32)
        self.lines.append("%s %s %s" % (hashlib.sha256(token.encode()).hexdigest(), role, subject))
        with open(self.file, "w") as f:
            f.write("\n".join(self.lines) + "\n")
        return token

    def own(self, role, subject):
        """The flags giving a service the city's hashes and its own token."""
        path = os.path.join(self.dir, "%s-%s.token" % (role, subject))
        with open(path, "w") as f:
            f.write(self.make(role, subject) + "\n")
        return ["--tokens", self.file, "--token-file", path]


def bearer(token):
    return {"Authorization": "Bearer " + token}


@needs_chromium
def test_dashboard_with_tokens_asks_for_a_viewer_token_and_shows_the_city_with_one(
        cluster, profile, tmp_path):
    t = CityTokens(tmp_path)
    viewer = t.make("viewer", "console")
    dispatcher = t.make("dispatcher", "console")
    # Every token before any service starts: each reads the file once.
    own = {who: t.own(*who) for who in (("dispatcher", "coordinator"), ("peer", "Downtown"),
                                         ("unit", "EMS-3"))}
    coord = cluster.coordinator(extra=["--poll-interval", "300ms"] + own["dispatcher", "coordinator"])
    b = cluster.broker("Downtown", extra=["--coordinator", coord.url] + own["peer", "Downtown"])
    cluster.executor("EMS-3", "ems", EMS, b, extra=own["unit", "EMS-3"])

    def read(url):
        r = request("GET", url, headers=bearer(viewer))
        assert r.status == 200, r
        return r.json
    wait_until(lambda: [u["status"] for u in read(b.url + "/v1/units")["units"]] == ["available"],
               20, message="EMS-3 registered with its unit token")
    wait_until(lambda: any(x["id"] == "Downtown" and x["reachable"]
                           for x in read(coord.url + "/v1/brokers")["brokers"]),
               20, message="Downtown registered with its peer token and polled")
    assert get(coord.url + "/v1/overview").status == 401, "the coordinator must want a token"
    js = expect(request("POST", coord.url + "/v1/incidents", headers=bearer(dispatcher),
                        body={"id": "med-1", "type": "cardiac_arrest", "severity": "high",
                              "required_capabilities": ["medical"], "district": "Downtown"}),
                201, "incident with the dispatcher token")
    assert js["job"]["unit_id"] == "EMS-3", js
    wait_until(lambda: [j["id"] for j in read(coord.url + "/v1/overview")["districts"][0]["open_jobs"]]
               == ["med-1"], 15, message="overview shows the incident")

    # No token: the page shows nothing of the city and asks for one.
    dom = dump_dom(profile, coord.url + "/")
    assert auth_box(dom) == ("required", True), auth_box(dom)
    assert "viewer token" in auth_message(dom) and re.search(r'<body[^>]*class="[^"]*locked', dom)
    assert not rendered_units(dom), "units shown without a token"
    assert 'data-job-id="med-1"' not in dom

    # A token the coordinator does not know: refused, and the page says so.
    dom = dump_dom(profile, coord.url + "/#token=" + secrets.token_hex(32))
    assert auth_box(dom) == ("refused", True), auth_box(dom)
    assert "refused the token (401" in auth_message(dom), auth_message(dom)
    assert not rendered_units(dom)

    # The viewer token in the fragment (never sent to the server): the city.
    dom = dump_dom(profile, coord.url + "/#token=" + viewer)
    assert auth_box(dom) == ("ok", False), auth_box(dom)
    assert rendered_units(dom) == {"EMS-3": "busy"}, dom[:3000]
    assert re.search(r'class="incident[^"]*"[^>]*data-job-id="med-1"', dom), dom[:3000]
    assert viewer not in dom, "the token must not end up in the page"
    # The coordinator saw the token only as a header: no log line holds it.
    for s in cluster.services:
        with open(s.log_path, errors="replace") as f:
            assert viewer not in f.read(), "%s logged the viewer token" % s
