"""The reference scenario of DESIGN.md section 1 through a city on TLS only
with credentials on (issue 10 item 5): a private CA made at test time, a
coordinator, three brokers and the grid's ten executors each serving https
with the CA's certificate for 127.0.0.1, trusting it with --ca-file and
presenting their own tokens. A plain-http client and a client that does not
trust the CA are both turned away."""

import socket
import ssl

import pytest

import test_scenario
from authcity import call, city_tokens, help_text, make_ca, secrets_seen, secure_harness
from test_scenario import GRID


def _plain_http(port):
    """What a plain-http request to the port gets back: the bytes, or the
    transport error."""
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    try:
        s.sendall(b"GET /v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        data = b""
        while True:
            chunk = s.recv(4096)
            if not chunk:
                return data
            data += chunk
    except OSError as e:
        return e
    finally:
        s.close()


def test_reference_scenario_on_tls_only(cluster, monkeypatch, tmp_path):
    for kind in ("broker", "executor", "coordinator"):
        if "--tls-cert" not in help_text(kind):
            pytest.skip("ergrid-%s --help lists no --tls-cert: this build has no TLS" % kind)
    pki = make_ca(tmp_path)
    tokens = city_tokens(tmp_path, [d for d, _ in GRID], [u for _, us in GRID for u, _, _ in us])
    secure_harness(monkeypatch, tokens, tokens["dispatcher"], pki=pki)
    monkeypatch.delenv("ERGRID_CITY_WIRING", raising=False)  # the coordinator's city, always

    # The story, unchanged, on the city the hooks start: A at Downtown, B at
    # Westside to LAFD-5, C to the other Downtown fire unit, which dies; C
    # moves to Valley's LAFD-9; the lost unit comes back, its late report
    # reaches Downtown first and wins; LAFD-9's gets the 409 naming it.
    test_scenario.test_reference_scenario_lost_unit_reports_first(cluster)

    services = [s for s in cluster.services if s.alive()]
    kinds = sorted(s.kind for s in services)
    assert kinds == ["broker"] * 3 + ["coordinator"] + ["executor"] * 10, kinds
    for s in services:
        assert s.url.startswith("https://127.0.0.1:"), s.url
        r = call("GET", s.url + "/metrics", tokens["viewer"])
        assert r.status == 200, "%s over https: %r" % (s, r)
        got = _plain_http(s.port)
        assert isinstance(got, OSError) or not got.startswith(b"HTTP/"), \
            "%s answered plain http: %r" % (s, got[:200])
        ctx = ssl.create_default_context()  # the system's CAs only, not ours
        with socket.create_connection(("127.0.0.1", s.port), timeout=10) as raw:
            with pytest.raises(ssl.SSLCertVerificationError):
                ctx.wrap_socket(raw, server_hostname="127.0.0.1")
    coordinator = [s for s in services if s.kind == "coordinator"][0]
    brokers = {b["id"]: b["url"] for b in call("GET", coordinator.url + "/v1/brokers",
                                               tokens["viewer"]).json["brokers"]}
    assert brokers == {s.name: s.url for s in services if s.kind == "broker"}, brokers
    leaked = secrets_seen(services, tokens)
    assert not leaked, "tokens in the logs: %r" % leaked
