"""Helpers for the issue 10 tests (access control and TLS): a city's
credentials (tokens, the hashed --tokens file, each service's own
--token-file), a client that presents exactly the Authorization header a
test names, the snapshot of every service's state used to prove that a
refusal changed nothing, a private CA for TLS, and the hooks that make the
unchanged harness of ergrid.py start services with credentials and TLS and
talk to them over https.

The harness itself (ergrid.py) is not edited: `secure_harness` patches it
for one test through pytest's monkeypatch, so everything is undone after
the test.
"""

import hashlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import ssl
import subprocess

import pytest

import ergrid

ROLES = ("viewer", "dispatcher", "unit", "peer", "operator")
ANNOUNCE_RE = re.compile(r"^listening on (https?)://127\.0\.0\.1:(\d+)$")


# ---------------------------------------------------------------- credentials

class Credential:
    def __init__(self, name, role, subject=None, token=None):
        self.name = name
        self.role = role
        self.subject = subject
        self.token = token or secrets.token_hex(32)

    @property
    def digest(self):
        return hashlib.sha256(self.token.encode()).hexdigest()

    def line(self):
        return " ".join(x for x in (self.digest, self.role, self.subject) if x)

    @property
    def header(self):
        return {"Authorization": "Bearer " + self.token}

    def __repr__(self):  # never the token: these reprs end up in failure messages
        return "<%s %s%s>" % (self.name, self.role, ":" + self.subject if self.subject else "")


class Tokens:
    """The city's credentials by name, the --tokens file holding their
    hashes, and one --token-file per credential holding its secret."""

    def __init__(self, tmp):
        self.dir = os.path.join(str(tmp), "tokens")
        os.makedirs(self.dir, exist_ok=True)
        self.path = os.path.join(self.dir, "city.tokens")
        self.creds = {}
        self.revoked = set()

    def add(self, name, role, subject=None):
        assert name not in self.creds, name
        c = Credential(name, role, subject)
        self.creds[name] = c
        with open(self.file_of(name), "w") as f:
            # trailing whitespace, which the services strip, as an editor may leave it
            f.write(c.token + " \t\n")
        os.chmod(self.file_of(name), 0o600)
        self.write()
        return c

    def __getitem__(self, name):
        return self.creds[name]

    def file_of(self, name):
        return os.path.join(self.dir, name + ".token")

    def write(self):
        lines = ["# ergrid test city: sha256(token) role [subject]"]
        for name, c in self.creds.items():
            if name not in self.revoked:
                lines.append("%s\t# %s" % (c.line(), name))
        with open(self.path, "w") as f:
            f.write("\n".join(lines) + "\n")

    def revoke(self, name):
        """Removes the credential's line; the services learn it on SIGHUP."""
        self.revoked.add(name)
        self.write()

    def spoil(self, line):
        """Appends a line to the file as it stands (e.g. a malformed one)."""
        with open(self.path, "a") as f:
            f.write(line + "\n")

    def secrets(self):
        return [c.token for c in self.creds.values()]


def city_tokens(tmp, districts, units):
    """The usual credentials: one peer per district, one unit token per unit,
    the coordinator's dispatcher, and a viewer, a dispatcher and an operator
    for the test itself."""
    t = Tokens(tmp)
    for d in districts:
        t.add("peer-" + d, "peer", d)
    for u in units:
        t.add("unit-" + u, "unit", u)
    t.add("coordinator", "dispatcher", "coordinator")
    t.add("viewer", "viewer", "wall")
    t.add("dispatcher", "dispatcher", "desk-1")
    t.add("operator", "operator")
    return t


# ---------------------------------------------------------------- the client

_plain_request = ergrid.request  # kept before any patching: sends only what it is given


def call(method, url, cred=None, body=None, raw=None, headers=None):
    """One request with exactly the credential given (a Credential, a raw
    Authorization header value as str, or None for no header)."""
    h = dict(headers or {})
    if isinstance(cred, Credential):
        h.update(cred.header)
    elif isinstance(cred, str):
        h["Authorization"] = cred
    return _plain_request(method, url, body=body, raw=raw, headers=h)


def is_refusal(reply):
    return reply.status in (401, 403)


def check_refusal(reply, status, what):
    """A refusal in the spec's shape: the error object, 401 with the Bearer
    challenge, 403 forbidden."""
    code = {401: "unauthorized", 403: "forbidden"}[status]
    ergrid.assert_error(reply, status, code, what)
    if status == 401:
        challenge = reply.headers.get("www-authenticate", "")
        assert challenge.startswith("Bearer"), \
            "%s: 401 without WWW-Authenticate: Bearer (got %r)" % (what, challenge)


def refusals_metric(url, cred):
    """The sum of ergrid_auth_refusals_total over every label set, and the
    per-reason sums."""
    r = call("GET", url + "/metrics", cred)
    assert r.status == 200, "GET %s/metrics: %r" % (url, r)
    total, by_reason = 0, {}
    for line in r.raw.decode("utf-8", "replace").splitlines():
        if line.startswith("ergrid_auth_refusals_total{"):
            labels, _, value = line.rpartition(" ")
            m = re.search(r'reason="([a-z]+)"', labels)
            n = int(float(value))
            total += n
            if m:
                by_reason[m.group(1)] = by_reason.get(m.group(1), 0) + n
    return total, by_reason


# ---------------------------------------------------------------- state snapshots

# Fields that move on their own (clocks, ages, liveness counters); everything
# else a GET shows must be identical before and after a refused write.
VOLATILE = re.compile(r"(^|_)(age|ms|at|seen|heartbeat|uptime|now|time|since|last|polled|"
                      r"latency|lag|next|due|elapsed|ago|rtt)($|_)")


def _stable(v):
    if isinstance(v, dict):
        return {k: _stable(x) for k, x in sorted(v.items()) if not VOLATILE.search(k)}
    if isinstance(v, list):
        return [_stable(x) for x in v]
    return v


SNAPSHOT_PATHS = {
    "broker": ("/v1/units", "/v1/jobs", "/v1/events?after=0&limit=1000", "/v1/emergency",
               "/v1/peers"),
    "executor": ("/v1/assignments",),
    "coordinator": ("/v1/brokers", "/v1/events?after=0&limit=1000", "/v1/emergency"),
}


def snapshot(services, cred, paths=None):
    """What every service shows, minus what moves by itself. paths: the
    GETs by service kind (default SNAPSHOT_PATHS)."""
    out = {}
    for s in services:
        for p in (paths or SNAPSHOT_PATHS)[s.kind]:
            r = call("GET", s.url + p, cred)
            assert r.status == 200, "snapshot GET %s%s: %r" % (s.name, p, r)
            out["%s %s" % (s.name, p)] = _stable(r.json)
    return out


def snapshot_diff(before, after):
    """The keys whose content differs (empty when nothing changed)."""
    return [k for k in before if json.dumps(before[k], sort_keys=True) !=
            json.dumps(after.get(k), sort_keys=True)]


def hup(services):
    for s in services:
        assert s.alive(), "%s is not running" % s
        s.proc.send_signal(signal.SIGHUP)


# ---------------------------------------------------------------- logs

def secrets_seen(services, tokens, extra_text=()):
    """(where, credential name) for every token found in a service's stderr
    or stdout, or in any of extra_text (replies, events, metrics)."""
    found = []
    blobs = []
    for s in services:
        for p in (s.log_path, s.out_path):
            try:
                with open(p, "rb") as f:
                    blobs.append((p, f.read().decode("utf-8", "replace")))
            except OSError:
                pass
    blobs += list(extra_text)
    for where, text in blobs:
        for name, c in tokens.creds.items():
            if c.token in text:
                found.append((where, name))
    return found


# ---------------------------------------------------------------- TLS

def make_ca(tmp):
    """A private CA and a server certificate for 127.0.0.1 (SAN IP and DNS
    localhost), with openssl; returns dict(ca, cert, key, dir)."""
    tool = shutil.which("openssl")
    if tool is None:
        pytest.fail("openssl is needed to make the test CA", pytrace=False)
    d = os.path.join(str(tmp), "pki")
    os.makedirs(d, exist_ok=True)
    p = {k: os.path.join(d, v) for k, v in (("ca", "ca.pem"), ("ca_key", "ca.key"),
                                            ("cert", "server.pem"), ("key", "server.key"),
                                            ("csr", "server.csr"), ("ext", "server.ext"))}
    with open(p["ext"], "w") as f:
        f.write("basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\n"
                "extendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n")

    def run(*args):
        r = subprocess.run([tool] + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert r.returncode == 0, "openssl %s: %s" % (" ".join(args), r.stderr.decode())
    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", p["ca_key"], "-out", p["ca"],
        "-days", "2", "-subj", "/CN=ergrid test CA",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", p["key"], "-out", p["csr"],
        "-subj", "/CN=127.0.0.1")
    run("x509", "-req", "-in", p["csr"], "-CA", p["ca"], "-CAkey", p["ca_key"],
        "-CAcreateserial", "-out", p["cert"], "-days", "2", "-extfile", p["ext"])
    p["dir"] = d
    return p


class _TlsSockets:
    """Stands in for the socket module inside ergrid.py: connections to the
    ports in `ports` are wrapped in TLS verified against the test CA."""

    def __init__(self, ctx, ports):
        self._ctx = ctx
        self.ports = ports

    def __getattr__(self, name):
        return getattr(socket, name)

    def create_connection(self, address, timeout=None, *a, **kw):
        s = socket.create_connection(address, timeout, *a, **kw)
        if address[1] in self.ports:
            return self._ctx.wrap_socket(s, server_hostname=address[0])
        return s


def client_context(ca_file):
    ctx = ssl.create_default_context(cafile=ca_file)
    ctx.check_hostname = True
    ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx


def help_text(kind):
    r = subprocess.run([ergrid.binary(kind), "--help"], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=10)
    return r.stdout.decode("utf-8", "replace")


# ---------------------------------------------------------------- the harness hooks

def secure_harness(monkeypatch, tokens, default_cred, pki=None, per_kind=None):
    """Makes ergrid.py's Cluster start every service with the city's
    --tokens file and its own --token-file (a broker its peer token, an
    executor its unit token, the coordinator its dispatcher token), and,
    with pki, on TLS only with --ca-file; its helpers (get/post, the
    Broker and Executor conveniences, the waits) then present default_cred
    and speak https. per_kind: extra args by service kind."""
    per_kind = per_kind or {}
    tls_ports = set()
    common = ["--tokens", tokens.path]
    if pki:
        common += ["--tls-cert", pki["cert"], "--tls-key", pki["key"], "--ca-file", pki["ca"]]

    def args_for(kind, name):
        own = {"broker": "peer-" + name, "executor": "unit-" + name,
               "coordinator": "coordinator"}[kind]
        return common + ["--token-file", tokens.file_of(own)] + list(per_kind.get(kind, ()))

    orig_broker, orig_executor, orig_coord = (ergrid.Cluster.broker, ergrid.Cluster.executor,
                                              ergrid.Cluster.coordinator)

    def broker(self, name="Downtown", failure_timeout=ergrid.FAILURE_TIMEOUT, extra=(),
               start=True):
        return orig_broker(self, name, failure_timeout, list(extra) + args_for("broker", name),
                           start)

    def executor(self, unit_id, kind, caps, broker, heartbeat=ergrid.HEARTBEAT, mode="manual",
                 extra=(), start=True):
        return orig_executor(self, unit_id, kind, caps, broker, heartbeat, mode,
                             list(extra) + args_for("executor", unit_id), start)

    def coordinator(self, name="city", extra=(), start=True):
        return orig_coord(self, name, list(extra) + args_for("coordinator", name), start)

    monkeypatch.setattr(ergrid.Cluster, "broker", broker)
    monkeypatch.setattr(ergrid.Cluster, "executor", executor)
    monkeypatch.setattr(ergrid.Cluster, "coordinator", coordinator)

    def request(method, url, body=None, raw=None, headers=None, timeout=ergrid.HTTP_TIMEOUT):
        h = dict(headers or {})
        if not any(k.lower() == "authorization" for k in h):
            h.update(default_cred.header)
        return _plain_request(method, url, body=body, raw=raw, headers=h, timeout=timeout)
    monkeypatch.setattr(ergrid, "request", request)

    if pki:
        monkeypatch.setattr(ergrid, "socket", _TlsSockets(client_context(pki["ca"]), tls_ports))
        monkeypatch.setattr(ergrid, "LISTEN_RE",
                            re.compile(r"^listening on https://127\.0\.0\.1:(\d+)$"))
        orig_start = ergrid.Service.start

        def start(self, port=0):
            problem = orig_start(self, port)
            if problem is None:
                tls_ports.add(self.port)
            return problem
        monkeypatch.setattr(ergrid.Service, "start", start)
        monkeypatch.setattr(ergrid.Service, "url",
                            property(lambda self: "https://127.0.0.1:%d" % self.port))
    return tls_ports
