"""A city on TLS only (docs/SECURITY.md, "TLS"): a private CA made with
openssl, every service serving HTTPS with --tls-cert/--tls-key and
trusting the CA with --ca-file, credentials on, and an incident routed,
assigned, reported and completed over it; plain HTTP and an untrusted
client get nothing."""

import http.client
import json
import os
import re
import shutil
import socket
import ssl
import subprocess

import pytest

import ergrid
from conftest import FIRE
from ergrid import wait_until
from test_auth_core import City

HTTPS_LISTEN_RE = re.compile(r"^listening on https://127\.0\.0\.1:(\d+)$")


def make_ca(d):
    """A CA and one certificate for 127.0.0.1 it signed; returns paths."""
    if not shutil.which("openssl"):
        pytest.skip("openssl is not installed (scripts/deps.sh installs it)")

    def run(*args):
        subprocess.run(["openssl"] + list(args), check=True, capture_output=True, cwd=d)
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    run("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
        "-subj", "/CN=ergrid test CA")
    run("req", *ec, "-keyout", "srv.key", "-out", "srv.csr", "-subj", "/CN=127.0.0.1")
    with open(os.path.join(d, "ext"), "w") as f:
        f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n"
                "extendedKeyUsage=serverAuth\n")
    run("x509", "-req", "-in", "srv.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
        "-CAcreateserial", "-out", "srv.pem", "-days", "2", "-extfile", "ext")
    return [os.path.join(d, n) for n in ("ca.pem", "srv.pem", "srv.key")]


def https(port, method, path, ca, token=None, body=None):
    ctx = ssl.create_default_context(cafile=ca)
    conn = http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=10)
    headers = {"Authorization": "Bearer " + token} if token else {}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    try:
        conn.request(method, path, body=data, headers=headers)
        r = conn.getresponse()
        raw = r.read()
        return r.status, (json.loads(raw) if raw else None)
    finally:
        conn.close()


def test_city_on_tls(cluster, tmp_path, monkeypatch):
    ca, cert, key = make_ca(str(tmp_path))
    monkeypatch.setattr(ergrid, "LISTEN_RE", HTTPS_LISTEN_RE)
    city = City(tmp_path)

    def args(name):
        return city.args(name) + ["--tls-cert", cert, "--tls-key", key, "--ca-file", ca]

    def url(svc):
        return "https://127.0.0.1:%d" % svc.port

    coord = cluster.coordinator(extra=["--poll-interval", "300ms"] + args("coordinator"))
    b = cluster.broker("Downtown", extra=["--coordinator", url(coord)] + args("Downtown"))
    term = cluster.executor("LAFD-1", "fire", FIRE, url(b), extra=args("LAFD-1"))
    viewer = city.tokens["viewer"]

    def registered():
        st, js = https(coord.port, "GET", "/v1/brokers", ca, viewer)
        return st == 200 and [x["url"] for x in js["brokers"]] == [url(b)]
    wait_until(registered, 20, message="the broker registered its https URL over TLS")

    def unit_available():
        st, js = https(b.port, "GET", "/v1/units", ca, viewer)
        return st == 200 and [(u["id"], u["status"], u["url"]) for u in js["units"]] == \
            [("LAFD-1", "available", url(term))]
    wait_until(unit_available, 20, message="the unit registered its https URL over TLS")

    st, js = https(coord.port, "POST", "/v1/incidents", ca, city.tokens["dispatcher"],
                   {"id": "fire-T", "type": "building_fire", "severity": "high",
                    "required_capabilities": ["firefighting"]})
    assert st == 201 and js["job"]["unit_id"] == "LAFD-1", (st, js)
    wait_until(lambda: https(term.port, "GET", "/v1/assignments/fire-T", ca, viewer)[0] == 200,
               10, message="the assignment reached the terminal over TLS")
    st, js = https(term.port, "POST", "/v1/assignments/fire-T/result", ca,
                   city.tokens["LAFD-1"], {"outcome": "completed"})
    assert st == 201, (st, js)
    wait_until(lambda: https(b.port, "GET", "/v1/jobs/fire-T", ca, viewer)[1]["job"]["status"]
               == "completed", 10, message="the result reached the broker over TLS")

    def district_up():
        st, js = https(coord.port, "GET", "/v1/overview", ca, viewer)
        return st == 200 and any(d["id"] == "Downtown" and d.get("reachable")
                                 for d in js["districts"])
    wait_until(district_up, 20, message="the coordinator polls the broker over TLS")

    # Health stays open, still over TLS only.
    assert https(b.port, "GET", "/v1/health", ca)[0] == 200
    # Plain HTTP gets no HTTP answer.
    with socket.create_connection(("127.0.0.1", b.port), timeout=5) as s:
        s.sendall(b"GET /v1/health HTTP/1.1\r\nHost: x\r\n\r\n")
        try:
            data = s.recv(4096)
        except (ConnectionResetError, socket.timeout):
            data = b""
        assert not data.startswith(b"HTTP/"), data
    # A client that does not trust the CA cannot talk to it.
    with pytest.raises(ssl.SSLError):
        conn = http.client.HTTPSConnection("127.0.0.1", b.port,
                                           context=ssl.create_default_context(), timeout=5)
        try:
            conn.request("GET", "/v1/health")
        finally:
            conn.close()
