"""The demo (the README's first command) replays the reference scenario and
checks every guarantee; this runs it exactly as a user would, with
--no-wait, against the build under test."""

import os
import subprocess
import sys

import ergrid

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_demo_replays_the_scenario_and_every_guarantee_holds(tmp_path):
    build = ergrid.build_dir()
    proc = subprocess.run(
        [sys.executable, os.path.join(ROOT, "scripts", "demo.py"), "--no-wait", "--build", build,
         "--workdir", str(tmp_path / "demo")],
        capture_output=True, text=True, timeout=300 * ergrid.scale())
    out = proc.stdout
    assert proc.returncode == 0, out[-4000:] + proc.stderr[-2000:]
    for step in ("15:15", "15:18", "15:22", "15:24", "15:27", "15:28", "15:31"):
        assert step in out, "timeline step %s missing" % step
    assert "FAIL" not in out
    assert "guarantees checked: all hold" in out
    assert "dashboard: http://127.0.0.1:" in out
    # Every event line carries a vector clock.
    events = [line for line in out.splitlines() if " job_" in line or " result_" in line]
    assert events and all("{" in line and "}" in line for line in events)
