"""CORS (--cors-origin, README "CORS"): the headers of preflights and
replies on each service, with credentials on (a preflight needs none, the
request after it does), the flag's checks at start, and a real browser:
a page served from another origin (a python http.server on 127.0.0.1)
calling brokers with fetch() and a bearer token in headless Chromium, read
back from the page's DOM."""

import functools
import http.server
import json
import re
import subprocess
import threading

import pytest

from ergrid import binary, expect, request
from test_dashboard import CityTokens, bearer, dump_dom, needs_chromium, profile  # noqa: F401

def cors_headers(reply):
    return {k: v for k, v in reply.headers.items() if k.startswith("access-control-")}


def preflight(url, origin, method="POST", headers="authorization,content-type"):
    return request("OPTIONS", url, headers={"Origin": origin,
                                            "Access-Control-Request-Method": method,
                                            "Access-Control-Request-Headers": headers})


@pytest.fixture
def tokens(tmp_path):
    return CityTokens(tmp_path)


def city_with_cors(cluster, tokens, origin):
    """A coordinator, a broker and an executor, each with --cors-origin
    origin and the city's tokens."""
    flags = ["--cors-origin", origin]
    coord = cluster.coordinator(extra=tokens.own("dispatcher", "city") + flags)
    broker = cluster.broker("Downtown", extra=tokens.own("peer", "Downtown") + flags +
                            ["--coordinator", coord.url])
    ex = cluster.executor("LAFD-1", "fire", ["firefighting"], broker,
                          extra=tokens.own("unit", "LAFD-1") + flags)
    return coord, broker, ex


def test_preflight_and_replies_on_every_service(cluster, tokens):
    origin = "http://cad.example.org:8080"
    viewer = tokens.make("viewer", "desk")
    coord, broker, ex = city_with_cors(cluster, tokens, origin)
    for svc, path, methods in ((coord, "/v1/incidents", {"POST"}),
                               (broker, "/v1/jobs", {"GET", "HEAD", "POST"}),
                               (ex, "/v1/assignments", {"GET", "HEAD", "POST"})):
        # a preflight carries no credential and gets 204 with every header
        r = preflight(svc.url + path, origin)
        assert r.status == 204 and r.raw == b"", (svc, r)
        h = r.headers
        assert h["access-control-allow-origin"] == origin, (svc, h)
        assert {m.strip() for m in h["access-control-allow-methods"].split(",")} == methods
        assert h["access-control-allow-headers"] == "Authorization, Content-Type, Last-Event-ID"
        assert h["access-control-max-age"] == "600"
        assert h["vary"] == "Origin"
        assert "allow" not in h

        # the request itself still needs its token; the 401 is readable by the page
        r = request("GET", svc.url + "/v1/health", headers={"Origin": origin})
        assert r.status == 200 and r.headers["access-control-allow-origin"] == origin
        r = request("GET", svc.url + "/metrics", headers={"Origin": origin})
        assert r.status == 401 and r.json["error"]["code"] == "unauthorized", (svc, r)
        assert r.headers["access-control-allow-origin"] == origin
        assert r.headers["vary"] == "Origin"
        assert r.headers["www-authenticate"].startswith("Bearer")
        r = request("GET", svc.url + "/metrics", headers=dict(bearer(viewer), Origin=origin))
        assert r.status == 200 and r.headers["access-control-allow-origin"] == origin, (svc, r)

        # another origin: a 403 preflight in the error shape, no CORS header anywhere
        other = "http://evil.example.org:8080"
        r = preflight(svc.url + path, other)
        assert r.status == 403 and r.json["error"]["code"] == "forbidden", (svc, r)
        assert other in r.json["error"]["message"]
        assert not cors_headers(r), r.headers
        r = request("GET", svc.url + "/metrics", headers=dict(bearer(viewer), Origin=other))
        assert r.status == 200 and not cors_headers(r) and r.headers["vary"] == "Origin"

    # a preflight to a path that is not there: the 404, readable
    r = preflight(broker.url + "/v1/nothing", origin)
    assert r.status == 404 and r.json["error"]["code"] == "not_found"
    assert r.headers["access-control-allow-origin"] == origin
    # OPTIONS that is not a preflight stays a 405 with Allow
    r = request("OPTIONS", broker.url + "/v1/jobs", headers={"Origin": origin})
    assert r.status == 405 and r.json["error"]["code"] == "method_not_allowed"
    assert set(m.strip() for m in r.headers["allow"].split(",")) == {"GET", "HEAD", "POST"}


def test_no_cors_by_default(cluster):
    b = cluster.broker("Downtown")
    r = preflight(b.url + "/v1/jobs", "http://cad.example.org")
    assert r.status == 405 and r.json["error"]["code"] == "method_not_allowed", r
    assert "allow" in r.headers
    assert not cors_headers(r) and "vary" not in r.headers
    r = request("GET", b.url + "/v1/jobs", headers={"Origin": "http://cad.example.org"})
    assert r.status == 200 and not cors_headers(r) and "vary" not in r.headers


@pytest.mark.parametrize("value,why", [
    ("https://cad.example.org/", "no path"),
    ("https://CAD.example.org", "lower case"),
    ("cad.example.org", "scheme://host"),
    ("https://cad.example.org:443", "default port"),
    ("*", "needs --tokens"),
])
def test_bad_origins_exit_2(tmp_path, value, why):
    for kind, args in (("broker", ["--id", "D"]), ("coordinator", []),
                       ("executor", ["--id", "U-1", "--kind", "fire", "--capabilities", "x",
                                     "--broker", "http://127.0.0.1:9"])):
        r = subprocess.run([binary(kind)] + args + [
            "--listen", "127.0.0.1:0", "--data-dir", str(tmp_path / kind),
            "--cors-origin", value], capture_output=True, timeout=30)
        err = r.stderr.decode()
        assert r.returncode == 2, (kind, value, r.returncode, err)
        assert "--cors-origin" in err and why.split()[-1] in err, (kind, err)


def test_star_with_tokens(cluster, tokens):
    b = cluster.broker("Downtown", extra=tokens.own("peer", "Downtown") + ["--cors-origin", "*"])
    r = preflight(b.url + "/v1/jobs", "https://anyone.example")
    assert r.status == 204 and r.headers["access-control-allow-origin"] == "*"


# ---------------------------------------------------------------- the browser

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>CAD</title></head><body>
<pre id="out">pending</pre>
<script>
const targets = %(targets)s, token = %(token)s;
async function call(name, url, init) {
  try {
    const r = await fetch(url, init);
    const body = await r.json();
    return name + " " + r.status + " " + (body.error ? body.error.code : body.job ? body.job.id :
                                          body.units ? "units" : "ok");
  } catch (e) {
    return name + " blocked " + e.name;
  }
}
async function run() {
  const lines = [];
  for (const [label, api] of targets) {
    const auth = {Authorization: "Bearer " + token};
    lines.push(label + " " + await call("units", api + "/v1/units", {headers: auth}));
    lines.push(label + " " + await call("submit", api + "/v1/jobs", {
      method: "POST",
      headers: Object.assign({"Content-Type": "application/json"}, auth),
      body: JSON.stringify({id: "WEB-" + label, type: "building_fire", severity: "high",
                            required_capabilities: ["firefighting"]})}));
    lines.push(label + " " + await call("untokened", api + "/v1/jobs", {}));
  }
  const out = document.getElementById("out");
  out.textContent = lines.join("\\n");
  out.setAttribute("data-done", "1");
}
run();
</script></body></html>
"""


class PageServer:
    """A directory served over HTTP on 127.0.0.1 (another origin than the
    services': another port)."""

    def __init__(self, directory):
        handler = functools.partial(Quiet, directory=directory)
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.origin = "http://127.0.0.1:%d" % self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


class Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@needs_chromium
def test_page_on_another_origin_in_chromium(cluster, tokens, tmp_path, profile):  # noqa: F811
    site = tmp_path / "site"
    site.mkdir()
    pages = PageServer(str(site))
    try:
        dispatcher = tokens.make("dispatcher", "web")
        allowed = cluster.broker("Allowed", extra=tokens.own("peer", "Allowed") +
                                 ["--cors-origin", pages.origin])
        plain = cluster.broker("Plain", extra=tokens.own("peer", "Plain"))
        other = cluster.broker("Other", extra=tokens.own("peer", "Other") +
                               ["--cors-origin", "https://cad.example.org"])
        targets = [["allowed", allowed.url], ["plain", plain.url], ["other", other.url]]
        (site / "index.html").write_text(PAGE % {"targets": json.dumps(targets),
                                                 "token": json.dumps(dispatcher)})
        dom = dump_dom(profile, pages.origin + "/index.html")
    finally:
        pages.close()
    m = re.search(r'<pre id="out" data-done="1">([^<]*)</pre>', dom)
    assert m, "the page did not finish:\n" + dom[:3000]
    got = m.group(1).split("\n")
    assert got == [
        "allowed units 200 units",
        "allowed submit 201 WEB-allowed",
        "allowed untokened 401 unauthorized",
        "plain units blocked TypeError",
        "plain submit blocked TypeError",
        "plain untokened blocked TypeError",
        "other units blocked TypeError",
        "other submit blocked TypeError",
        "other untokened blocked TypeError",
    ], got
    # the blocked brokers never saw the submission: the preflight stopped it
    for b in (plain, other):
        jobs = expect(request("GET", b.url + "/v1/jobs", headers=bearer(dispatcher)), 200)
        assert jobs["jobs"] == [], (b, jobs)
    job = expect(request("GET", allowed.url + "/v1/jobs/WEB-allowed",
                         headers=bearer(dispatcher)), 200)["job"]
    assert job["status"] == "queued"
