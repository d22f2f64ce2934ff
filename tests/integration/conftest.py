"""Fixtures for the ergrid integration tests (see ergrid.py)."""

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import ergrid  # noqa: E402


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    cluster = getattr(item, "_ergrid_cluster", None)
    if cluster is not None and rep.failed and cluster.services:
        rep.sections.append(("ergrid service logs (%s)" % rep.when, cluster.logs()))


@pytest.fixture
def cluster(request, tmp_path):
    """Starts services on demand; at teardown SIGTERMs every one still running
    and fails if any exits non-zero or had died on its own."""
    ergrid.build_dir()  # skip when ERGRID_BUILD is unset
    c = ergrid.Cluster(tmp_path)
    request.node._ergrid_cluster = c
    yield c
    problems = c.shutdown()
    if problems:
        pytest.fail("teardown: " + "; ".join(problems), pytrace=False)


@pytest.fixture
def district(cluster):
    """Factory: district([(unit_id, kind, [caps]), ...], name=..., failure_timeout=...)
    -> ergrid.District with the broker and its executors, all units available."""
    def make(spec, **kw):
        return ergrid.make_district(cluster, spec, **kw)
    return make


FIRE = ["firefighting", "rescue"]
EMS = ["medical", "transport"]
POLICE = ["law_enforcement"]
