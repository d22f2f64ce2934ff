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
from ergrid import expect, get, make_district, post, request, scale, wait_until, wait_units_status

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


# ------------------------------------------- what a dispatcher must see
# Issue 13 item 5 and issue 12 item 6, each asserted on the rendered page.

DOWNTOWN = (34.05, -118.25)
WESTSIDE = (34.03, -118.45)


def page_incidents(dom, section):
    """The data-job-id of each incident in one list of the page, in order."""
    start = dom.find('<div class="incidents" id="%s">' % section)
    assert start >= 0, "no %s list in the page" % section
    end = dom.find("<h2", start)
    part = dom[start:end if end > 0 else len(dom)]
    return re.findall(r'<div class="incident[^"]*" data-job-id="([^"]+)"', part)


def stat(dom, name):
    m = re.search(r'data-stat="%s"><b[^>]*>([^<]*)</b>' % name, dom)
    assert m, "no %s figure in the page" % name
    return m.group(1)


def incident_html(dom, job_id):
    m = re.search(r'<div class="incident[^"]*" data-job-id="%s".*?<span class="pill' % re.escape(job_id),
                  dom, re.S)
    assert m, "incident %s not on the page" % job_id
    return m.group(0)


def overview(coord):
    return {d["id"]: d for d in get(coord.url + "/v1/overview").json["districts"]}


def at(pos, dlat=0.0, dlon=0.0):
    return "%.4f,%.4f" % (pos[0] + dlat, pos[1] + dlon)


def submit(b, body):
    return expect(post(b.url + "/v1/jobs", body), 201, body.get("id", ""))["job"]


@needs_chromium
def test_dashboard_shows_what_a_dispatcher_must_see(cluster, profile):
    from test_city import City, wait_peers_known
    coord = cluster.coordinator(extra=["--poll-interval", "300ms"])
    common = ["--sync-interval", "1s", "--coordinator", coord.url]
    down = cluster.broker("Downtown", extra=common)
    west = cluster.broker("Westside", extra=common)
    ex = {
        "LAFD-1": cluster.executor("LAFD-1", "fire", FIRE, down, extra=["--station", at(DOWNTOWN)]),
        "EMS-3": cluster.executor("EMS-3", "ems", EMS, down, extra=["--station", at(DOWNTOWN, 0.01)]),
        "LAFD-5": cluster.executor("LAFD-5", "fire", FIRE, west, extra=["--station", at(WESTSIDE)]),
        "LAPD-12": cluster.executor("LAPD-12", "police", ["law_enforcement"], west),  # no position
        "EMS-8": cluster.executor("EMS-8", "ems", EMS, west, extra=["--station", at(WESTSIDE, 0.01)]),
    }
    homes = {"LAFD-1": "Downtown", "EMS-3": "Downtown", "LAFD-5": "Westside", "LAPD-12": "Westside",
             "EMS-8": "Westside"}
    city = City(coord, {"Downtown": down, "Westside": west}, ex, homes)
    wait_peers_known(city)
    for b, ids in ((down, ["LAFD-1", "EMS-3"]), (west, ["LAFD-5", "LAPD-12", "EMS-8"])):
        wait_units_status(b, ids, "available")
    from test_city import wait_remote_unit
    wait_remote_unit(down, "LAFD-5", "Westside", status="available")

    # A queued low incident first, then a queued critical one: the critical
    # one is listed first all the same (SEV.critical is 0, and 0 is falsy).
    submit(down, {"id": "low-q", "type": "spill", "severity": "low",
                  "required_capabilities": ["hazmat"]})
    submit(down, {"id": "crit-q", "type": "chemical_leak", "severity": "critical",
                  "required_capabilities": ["hazmat"]})
    # Two engines and an ambulance: Downtown has one engine, so Westside's
    # is borrowed.
    fire = submit(down, {"id": "fire-A", "type": "structure_fire", "severity": "critical",
                         "response": [{"capabilities": ["firefighting"], "count": 2},
                                      {"capabilities": ["medical"], "count": 1}],
                         "location": {"lat": DOWNTOWN[0] + 0.002, "lon": DOWNTOWN[1] + 0.002}})
    on = {a["unit_id"]: a["district"] for a in fire["attempts"] if a["state"] == "active"}
    assert on == {"LAFD-1": "Downtown", "LAFD-5": "Westside", "EMS-3": "Downtown"}, fire
    submit(west, {"id": "pol-1", "type": "burglary", "severity": "medium",
                  "required_capabilities": ["law_enforcement"]})
    submit(down, {"id": "false-1", "type": "alarm", "severity": "medium",
                  "required_capabilities": ["hazmat"]})
    expect(post(down.url + "/v1/jobs/false-1/cancel", {}), 200, "cancel")
    wait_until(lambda: ex["LAFD-1"].assignment("fire-A") is not None, 15, message="LAFD-1 holds fire-A")
    expect(post(ex["LAFD-1"].url + "/v1/assignments/fire-A/status", {"status": "en_route"}), 201,
           "LAFD-1 en route")

    def figures():
        v = overview(coord)
        d, w = v["Downtown"], v["Westside"]
        assert d["reachable"] and w["reachable"], v
        assert sorted(j["id"] for j in d["open_jobs"]) == ["crit-q", "fire-A", "low-q"], d
        assert [j["id"] for j in d["recent_cancelled"]] == ["false-1"], d
        assert [j["id"] for j in w["open_jobs"]] == ["pol-1"], w
        lafd1 = [u for u in d["units"] if u["id"] == "LAFD-1"][0]
        assert (lafd1.get("crew_status") or {}).get("status") == "en_route", lafd1
        lafd5 = [u for u in w["units"] if u["id"] == "LAFD-5"][0]
        assert [c["owner"] for c in lafd5.get("claims", [])] == ["Downtown"], lafd5
        return True
    wait_until(figures, 20, message="overview shows every incident, the cancel and the step")

    dom = dump_dom(profile, coord.url + "/")
    # Critical first, oldest first within a severity.
    assert page_incidents(dom, "open") == ["crit-q", "fire-A", "pol-1", "low-q"], page_incidents(dom, "open")
    assert page_incidents(dom, "cancelled") == ["false-1"]
    assert stat(dom, "open") == "4" and stat(dom, "critical") == "2"
    # A favicon, inline: the page fetches nothing from elsewhere.
    assert re.search(r'<link rel="icon" type="image/svg\+xml" href="data:image/svg\+xml,', dom)
    assert not re.search(r'(?:src|href)="https?://', dom), "the page refers to an outside address"
    # Each line with its units, their crew step and why each was chosen;
    # the borrowed engine with its home district.
    fa = incident_html(dom, "fire-A")
    assert re.search(r'data-line="0".*data-unit-id="LAFD-1" data-step="en_route"', fa), fa
    assert re.search(r'data-unit-id="LAFD-5" data-step="dispatched" data-borrowed-from="Westside"', fa), fa
    assert "borrowed from Westside" in fa
    assert re.search(r'data-line="1".*data-unit-id="EMS-3"', fa), fa
    assert fa.count("closest: ") == 3, fa
    assert re.search(r'data-unit-id="LAFD-5" data-status="busy"[^>]*data-lent-to="Downtown"', dom), dom[:3000]
    # The plan: a marker per positioned unit and incident, a line per
    # assignment between positioned ends, the unit without one beside it.
    plan = re.search(r'<svg id="plan".*?</svg>', dom, re.S).group(0)
    assert sorted(re.findall(r'<circle[^>]*class="plan-unit" data-unit-id="([^"]+)"', plan)) == \
        ["EMS-3", "EMS-8", "LAFD-1", "LAFD-5"], plan
    assert re.findall(r'class="plan-incident" data-job-id="([^"]+)"', plan) == ["fire-A"], plan
    assert sorted(re.findall(r'class="plan-assignment" data-job-id="fire-A" data-unit-id="([^"]+)"', plan)) == \
        ["EMS-3", "LAFD-1", "LAFD-5"], plan
    assert len(re.findall(r'class="plan-station"', plan)) == 4
    assert re.search(r'<div id="plan-unplaced">.*data-unit-id="LAPD-12"', dom, re.S)
    assert 'id="plan-legend"' in dom
    assert stat(dom, "available") == "1"  # EMS-8: every other unit is on an incident
    assert rendered_units(dom)["EMS-8"] == "available"

    # Westside stops answering: its last figures stay on the page, but its
    # ambulance is not counted as one the city can send.
    west.stop()
    try:
        wait_until(lambda: not overview(coord)["Westside"]["reachable"], 20,
                   message="the coordinator sees Westside unreachable")
        totals = get(coord.url + "/v1/overview").json["totals"]
        assert totals["units_available"] == 0 and totals["units_available_unreachable"] == 1, totals
        dom = dump_dom(profile, coord.url + "/")
        assert stat(dom, "available") == "0"
        assert stat(dom, "reachable") == "1 / 2"
        units = rendered_units(dom)
        assert units["EMS-8"] == "unreachable" and units["LAFD-1"] == "busy", units
        card = re.search(r'data-district-id="Westside".*?</article>', dom, re.S).group(0)
        assert "0 available (1 last known, unreachable)" in card, card
    finally:
        west.cont()


@needs_chromium
def test_dashboard_a_critical_incident_behind_500_others_is_shown_with_the_totals(cluster, profile):
    coord = cluster.coordinator(extra=["--poll-interval", "300ms"])
    d = make_district(cluster, [("LAFD-1", "fire", FIRE)], name="Downtown",
                      broker_extra=["--coordinator", coord.url])
    b = d.broker
    # More routine incidents than the page lists, none of which any unit
    # can take: they stay queued in arrival order ahead of the critical one.
    routine = 510
    for i in range(routine):
        submit(b, {"id": "spill-%d" % i, "type": "spill", "severity": "medium" if i % 2 else "low",
                   "required_capabilities": ["hazmat"]})
    submit(b, {"id": "crit-late", "type": "chemical_leak", "severity": "critical",
               "required_capabilities": ["hazmat"]})
    submit(b, {"id": "high-late", "type": "gas_leak", "severity": "high",
               "required_capabilities": ["hazmat"]})

    def figures():
        v = overview(coord)["Downtown"]
        assert v["open_counts"]["total"] == routine + 2, v["open_counts"]
        return v
    v = wait_until(figures, 30, message="overview counts every open incident")
    assert [j["id"] for j in v["open_jobs"][:2]] == ["crit-late", "high-late"], v["open_jobs"][:3]
    assert v["open_counts"]["shown"] == len(v["open_jobs"]) == 502, v["open_counts"]
    assert v["open_counts"]["critical"] == 1 and v["open_counts"]["high"] == 1

    dom = dump_dom(profile, coord.url + "/")
    listed = page_incidents(dom, "open")
    assert listed[:2] == ["crit-late", "high-late"], listed[:5]
    assert len(listed) == 502
    assert stat(dom, "open") == str(routine + 2) and stat(dom, "critical") == "1" and stat(dom, "high") == "1"
    note = re.search(r'<div class="totals-note" id="open-note">([^<]*)</div>', dom).group(1)
    assert note.startswith("showing 502 of %d open" % (routine + 2)), note
