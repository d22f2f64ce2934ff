"""The demo (the README's first command) replays the reference scenario and
checks every guarantee; this runs it exactly as a user would, with
--no-wait, against the build under test. The demo's city runs with tokens:
it prints the viewer and dispatcher tokens, and the tokens file it shares
holds only hashes."""

import hashlib
import os
import re
import stat
import subprocess
import sys

import ergrid

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_demo_replays_the_scenario_and_every_guarantee_holds(tmp_path):
    """The reference scenario with Building A as a multi-unit response."""
    build = ergrid.build_dir()
    proc = subprocess.run(
        [sys.executable, os.path.join(ROOT, "scripts", "demo.py"), "--no-wait", "--build", build,
         "--workdir", str(tmp_path / "demo")],
        capture_output=True, text=True, timeout=300 * ergrid.scale())
    out = proc.stdout
    assert proc.returncode == 0, out[-4000:] + proc.stderr[-2000:]
    for step in ("15:15", "15:18", "15:22", "15:24", "15:27", "15:28", "15:31", "15:35"):
        assert step in out, "timeline step %s missing" % step
    assert "FAIL" not in out
    # Building A: the run card's four lines, each unit with the distance
    # behind it; the crews' steps; the failed unit's line alone refilled by
    # the nearest capable unit.
    lines = re.findall(r"-> line (\d) (\S+) +(\S+) +(\S+) +(closest: [\d.]+ km, station)$", out, re.M)
    assert [(n, caps) for n, caps, *_ in lines][:5] == [
        ("0", "firefighting"), ("0", "firefighting"), ("1", "rescue"), ("2", "medical"),
        ("3", "law_enforcement")], out
    assert ("1", "rescue", "LAFD-9", "Valley") == lines[2][:4], lines
    for check in ("Building A got the plan's four lines, every one filled (5 units)",
                  "every unit on Building A was chosen as the closest capable one",
                  "every crew on Building A is on scene",
                  "the police line went to the nearest capable unit (LAPD-15)",
                  "the other three lines kept their units (LAFD-1, LAFD-2, LAFD-9, EMS-3)",
                  "LAFD-5's steps dispatched, en_route, on_scene, cleared are kept with their times"):
        assert check in out, "multi-unit step missing: " + check
    assert re.search(r"-> line 3 law_enforcement refilled by LAPD-15 \(Valley district, mutual aid\): "
                     r"closest: [\d.]+ km, station", out), out
    assert re.search(r"LAPD-15 +[\d.]+ km from Building A\n +LAPD-12 +[\d.]+ km from Building A", out), out
    assert "-> LAFD-5 dispatched -> en_route -> on_scene -> cleared" in out
    assert re.search(r"-> LAFD-1 +dispatched -> en_route -> on_scene", out)
    assert "guarantees checked: all hold" in out
    assert "dashboard: http://127.0.0.1:" in out
    for check in ("a unit token cannot report in another unit's name",
                  "a report without a token is refused", "a viewer token cannot cancel an incident",
                  "no token appears in any service's log"):
        assert check in out, "access-control check missing: " + check
    viewer = re.search(r"^viewer +([0-9a-f]{64})$", out, re.M)
    dispatcher = re.search(r"^dispatcher +([0-9a-f]{64})$", out, re.M)
    assert viewer and dispatcher, "the viewer and dispatcher tokens are not printed"
    assert re.search(r"^dashboard: http://127\.0\.0\.1:\d+/#token=%s$" % viewer.group(1), out, re.M)
    # The shared file holds hashes, never a token; each service's own token
    # is in its data dir, readable by its owner only.
    work = tmp_path / "demo"
    with open(work / "tokens" / "city.tokens") as f:
        city = f.read()
    for tok in (viewer.group(1), dispatcher.group(1)):
        assert tok not in city
        assert hashlib.sha256(tok.encode()).hexdigest() in city
    own = sorted(work.glob("*/token"))
    assert len(own) == 14, own  # the coordinator, 3 brokers, 10 units
    for path in own:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
        assert path.read_text().strip() not in city
    # Every event line carries a vector clock.
    events = [line for line in out.splitlines() if " job_" in line or " result_" in line]
    assert events and all("{" in line and "}" in line for line in events)


def test_demo_ha_shows_the_takeover(tmp_path):
    """--ha: Downtown on two brokers over a 3-member etcd; its leader dies
    with LAPD-7's terminal at 15:24, the standby takes over, the police line
    is still refilled, and every guarantee of the default run holds."""
    build = ergrid.build_dir()
    proc = subprocess.run(
        [sys.executable, os.path.join(ROOT, "scripts", "demo.py"), "--no-wait", "--ha", "--build", build,
         "--workdir", str(tmp_path / "demo")],
        capture_output=True, text=True, timeout=300 * ergrid.scale())
    out = proc.stdout
    assert proc.returncode == 0, out[-4000:] + proc.stderr[-2000:]
    assert "FAIL" not in out
    assert re.search(r"^etcd +3 members: http://127\.0\.0\.1:\d+,", out, re.M), out
    led = re.search(r"-> Downtown was led by (broker-Downtown-\d) \(http://127\.0\.0\.1:\d+, term (\d+)\)", out)
    now = re.search(r"-> (broker-Downtown-\d) leads now \(http://127\.0\.0\.1:\d+, term (\d+)\), "
                    r"[\d.]+ s after the kill", out)
    assert led and now and led.group(1) != now.group(1) and int(now.group(2)) > int(led.group(2)), out
    assert re.search(r"\[info\] Downtown's takeover: [\d.]+ s from the kill to the standby leading", out)
    assert re.search(r"-> line 3 law_enforcement refilled by LAPD-15 \(Valley district, mutual aid\)", out), out
    for check in ("Downtown's standby took over with a higher term",
                  "%s came back as a follower, the leader stayed" % led.group(1),
                  "after the restart Building A's accepted result is unchanged",
                  "a late duplicate after the restart is still rejected",
                  "guarantees checked: all hold"):
        assert check in out, "HA step missing: " + check
    assert len(sorted((tmp_path / "demo").glob("*/token"))) == 15  # two Downtown brokers
