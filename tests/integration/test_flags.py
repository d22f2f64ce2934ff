"""Command lines every service must refuse: a duration without its unit (is
`--failure-timeout 3` 3 ms or 3 s?) and a flag no service knows, each with
exit 2 and a message that names the flag, before anything listens."""

import subprocess

import pytest

import ergrid

# Every duration flag of every service, with the rest of a command line
# that would start the service.
DURATION_FLAGS = [
    ("broker", "--failure-timeout"),
    ("broker", "--sync-interval"),
    ("broker", "--emergency-sync-interval"),
    ("executor", "--heartbeat-interval"),
    ("executor", "--simulate-after"),
    ("coordinator", "--poll-interval"),
]


def _base(kind, tmp_path):
    data = str(tmp_path / "d")
    if kind == "broker":
        return ["--id", "Downtown", "--listen", "127.0.0.1:0", "--data-dir", data]
    if kind == "executor":
        return ["--id", "LAFD-1", "--kind", "fire", "--capabilities", "firefighting",
                "--broker", "http://127.0.0.1:9", "--listen", "127.0.0.1:0", "--data-dir", data]
    return ["--listen", "127.0.0.1:0", "--data-dir", data]


def _run(kind, args):
    """Exit status and stderr; a service that starts instead of refusing is
    stopped and reported as exit None."""
    p = subprocess.Popen([ergrid.binary(kind)] + args, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    try:
        _, err = p.communicate(timeout=10 * ergrid.scale())
        return p.returncode, err.decode(errors="replace")
    except subprocess.TimeoutExpired:
        p.kill()
        _, err = p.communicate()
        return None, err.decode(errors="replace")


@pytest.mark.parametrize("kind,flag", DURATION_FLAGS, ids=["%s%s" % kf for kf in DURATION_FLAGS])
@pytest.mark.parametrize("form", ["separate", "equals"])
def test_duration_without_unit_is_refused(tmp_path, kind, flag, form):
    ergrid.build_dir()
    extra = [flag, "3"] if form == "separate" else [flag + "=3"]
    code, err = _run(kind, _base(kind, tmp_path) + extra)
    assert code == 2, "%s %s 3: exit %s, stderr %r" % (kind, flag, code, err[-1000:])
    first = err.splitlines()[0] if err else ""
    assert first.startswith("ergrid-%s: %s:" % (kind, flag)), first
    assert "no unit" in first and "ms, s, m" in first, first


@pytest.mark.parametrize("kind,flag", DURATION_FLAGS, ids=["%s%s" % kf for kf in DURATION_FLAGS])
def test_duration_with_unit_still_parses(tmp_path, kind, flag):
    # --help after a good value: the value was taken, the service exits 0.
    ergrid.build_dir()
    code, err = _run(kind, [flag, "3s", "--help"])
    assert code == 0, "%s %s 3s --help: exit %s, stderr %r" % (kind, flag, code, err[-1000:])


@pytest.mark.parametrize("kind", ["broker", "executor", "coordinator"])
@pytest.mark.parametrize("where", ["last", "with-value", "equals"])
def test_unknown_flag_says_so(tmp_path, kind, where):
    ergrid.build_dir()
    extra = {"last": ["--x"], "with-value": ["--x", "1"], "equals": ["--x=1"]}[where]
    code, err = _run(kind, _base(kind, tmp_path) + extra)
    assert code == 2, "%s %s: exit %s, stderr %r" % (kind, extra, code, err[-1000:])
    assert err.splitlines()[0].startswith("ergrid-%s: unknown flag: --x" % kind), err
