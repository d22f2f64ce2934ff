"""`ergrid-bench ha` at tiny sizes, so the test command proves the benchmark
that scripts/bench.sh prints (issue 14 §6) still runs: it starts a 3-member
and a 1-member etcd (tests/etcd/start.sh), brokers with --store etcd that
lead before they are measured, the same decisions and submissions at a
broker on SQLite (durability normal and full), and prints every figure
beside SQLite's with the ratio.

Figures are never asserted (a shared machine makes them noise here); what
is asserted is that every trial ran cleanly (the benchmark checks its own
invariants: one winner per job, every job held by exactly one unit), that
every cell of the table holds a figure, and that no etcd is left behind.
Without an etcd binary this fails, never skips: a skip would hide a missing
install."""

import os
import re
import subprocess

import ergrid

FIGURES = ["decisions/s (201+409)", "decision p99", "submissions held/s",
           "submission reply p99"]
CLIENTS = [8, 32]
VALUE = r"(\d+/s|\d+\.\d\d ms)"
RATIO = r"(\d+\.\d+x)"


def test_bench_ha_prints_etcd_beside_sqlite():
    build = ergrid.build_dir()
    bench = os.path.join(build, "bench", "ergrid-bench")
    assert os.access(bench, os.X_OK), "missing %s" % bench
    proc = subprocess.run([bench, "--build", build, "--jobs", "30", "--units", "2", "ha"],
                          capture_output=True, text=True, timeout=300 * ergrid.scale())
    out = proc.stdout
    assert proc.returncode == 0, "ergrid-bench ha exited %d\n%s\n%s" % (
        proc.returncode, out[-4000:], proc.stderr[-4000:])

    # Every store's broker was measured on the store it was asked for.
    assert out.count("setup: ha-etcd3-") >= 4 and out.count("setup: ha-etcd1-") >= 4, out
    assert re.search(r"setup: ha-etcd3-arb-8-1 leads \(etcd, term \d+\)", out), out
    assert "FAILED" not in out, out

    lines = out.splitlines()
    head = [l for l in lines if l.startswith("| figure | clients |")]
    assert len(head) == 1, out
    cols = [c.strip() for c in head[0].strip("|").split("|")]
    assert cols == ["figure", "clients", "SQLite (normal)", "SQLite (full)", "etcd, 3 members",
                    "etcd 3 / SQLite", "etcd, 1 member", "etcd 1 / SQLite"], cols
    rows = {}
    for line in lines:
        cells = [c.strip() for c in line.strip("|").split("|")]
        if line.startswith("| ") and len(cells) == len(cols) and cells[0] in FIGURES:
            rows[(cells[0], int(cells[1]))] = dict(zip(cols[2:], cells[2:]))
    for fig in FIGURES:
        for n in CLIENTS:
            row = rows.get((fig, n))
            assert row is not None, "no row for %s at %d clients:\n%s" % (fig, n, out)
            for col, cell in row.items():
                assert re.fullmatch(RATIO if "/" in col else VALUE, cell), (fig, n, row)

    summaries = [l for l in out.splitlines() if l.startswith("SUMMARY|ha: ")]
    assert len(summaries) == len(FIGURES) * len(CLIENTS), summaries
    assert all(l.endswith("|info") and "n/a" not in l for l in summaries), summaries

    # The clusters were stopped and their data removed.
    dirs = re.findall(r"\(data (/[^;]+);", out)
    assert len(dirs) == 2, out
    for d in dirs:
        assert not os.path.exists(d), "etcd left behind in " + d
