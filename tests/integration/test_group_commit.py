"""Issue 11 item 1: group commit. Concurrent decisions and submissions share
store commits (ergrid_store_commits_total < ergrid_store_batched_changes_total),
and every answer is still the one a serial arbiter would give: per job exactly
one 201, every other reporter 409 naming that winner, exact retries 200, and
what GET shows is what was acknowledged."""

import concurrent.futures
import threading

import pytest

from conftest import FIRE
from ergrid import assert_error, get, result_core, wait_units_status

UNITS = ["LAFD-%d" % i for i in range(1, 5)]
JOBS = 24
REPORTERS = 6  # per job, all racing


def _counters(b):
    r = get(b.url + "/metrics")
    assert r.status == 200, r
    out = {}
    for line in r.raw.decode().splitlines():
        if line.startswith("ergrid_store_"):
            name, value = line.split()
            out[name] = int(value)
    for k in ("ergrid_store_commits_total", "ergrid_store_batched_changes_total",
              "ergrid_store_pages_written_total"):
        assert k in out, "/metrics lacks %s: %r" % (k, out)
    return out


def _race(n, fn):
    """Runs fn(i) for i < n on n threads released together; their replies."""
    barrier = threading.Barrier(n)

    def call(i):
        barrier.wait(30)
        return fn(i)
    with concurrent.futures.ThreadPoolExecutor(max_workers=n) as pool:
        return list(pool.map(call, range(n), timeout=120))


@pytest.mark.parametrize("durability", ["normal", "full"])
def test_grouped_reporters_get_consistent_answers(cluster, durability):
    # full: the batch's fsync runs outside the broker's lock (README "Group commit")
    b = cluster.broker("Downtown", extra=("--durability", durability))
    for u in UNITS:
        cluster.executor(u, "fire", FIRE, b, extra=("--capacity", "16"))
    wait_units_status(b, UNITS)
    before = _counters(b)

    subs = _race(JOBS, lambda i: b.submit(["firefighting"], severity="high", id="gc-%d" % i))
    jobs = {}
    for r in subs:
        assert r.status == 201, r
        job = r.json["job"]
        assert job["status"] == "assigned" and job["attempts"][-1]["state"] == "active", job
        jobs[job["id"]] = job
    assert sorted(jobs) == sorted("gc-%d" % i for i in range(JOBS))

    # Every reporter claims the job's attempt with its own outcome.
    work = [(jid, k) for jid in sorted(jobs) for k in range(REPORTERS)]

    def report(i):
        jid, k = work[i]
        job = jobs[jid]
        return b.result(jid, job["unit_id"], job["attempt"], "outcome-%d" % k, {"k": k})
    replies = _race(len(work), report)

    winners = {}
    for (jid, k), r in zip(work, replies):
        if r.status == 201:
            assert jid not in winners, "two winners for %s" % jid
            assert r.json["accepted"] is True, r.json
            winners[jid] = r.json["result"]
            assert result_core(winners[jid])[2] == "outcome-%d" % k, r.json
        else:
            assert r.status == 409, r
    assert sorted(winners) == sorted(jobs), "a job without a winner"
    for (jid, k), r in zip(work, replies):
        if r.status == 409:
            assert_error(r, 409, "result_rejected", "losing result")
            assert r.json["accepted"] is False, r.json
            assert result_core(r.json["result"]) == result_core(winners[jid]), \
                "409 must name the winner %r, got %r" % (winners[jid], r.json)

    # Every report again, all at once: the winner's is an exact retry (200),
    # each other one still loses to it (409).
    retries = _race(len(work), report)
    for (jid, k), r in zip(work, retries):
        won = result_core(winners[jid])[2] == "outcome-%d" % k
        assert r.status == (200 if won else 409), (jid, k, r)
        assert result_core(r.json["result"]) == result_core(winners[jid]), r.json

    for jid in jobs:
        j = b.job(jid)
        assert j["status"] == "completed" and result_core(j["result"]) == result_core(winners[jid]), j

    after = _counters(b)
    commits = after["ergrid_store_commits_total"] - before["ergrid_store_commits_total"]
    changes = after["ergrid_store_batched_changes_total"] - \
        before["ergrid_store_batched_changes_total"]
    pages = after["ergrid_store_pages_written_total"] - before["ergrid_store_pages_written_total"]
    # Submissions, their assignments, the acceptances and the rejections at
    # the least (the exact retries write nothing).
    assert changes >= JOBS * (1 + REPORTERS), (commits, changes)
    assert 0 < commits < changes, \
        "concurrent changes should share commits: %d commits for %d changes" % (commits, changes)
    # kill -9 and restart: every acknowledged decision is there.
    b.kill9()
    b.restart(allow_new_port=True)
    for jid in jobs:
        assert result_core(b.job(jid)["result"]) == result_core(winners[jid])
    print("group commit: %d changes in %d commits (%.1f per commit), %d pages (%.2f per change)"
          % (changes, commits, changes / commits, pages, pages / changes))
