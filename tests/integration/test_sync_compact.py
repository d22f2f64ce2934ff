"""The metadata pull at scale, between real brokers on loopback: the compact
unit form of a page (form=compact) and its round trip into a peer's copy,
a unit's loss travelling with the next pull rather than a signal, and the
signals a peer sends coalesced into at most one pending pull.

Reuses the city helpers of test_city.py.
"""

import re

from conftest import EMS, FIRE
from ergrid import assert_error, expect, get, post, wait_until
from test_city import SYNC_WAIT, make_city, remote_unit, wait_remote_unit

GRID2 = [
    ("Downtown", [("LAFD-1", "fire", FIRE)]),
    ("Westside", [("EMS-8", "ems", EMS)]),
]

# What the compact form leaves out: the sender's district, and the home's
# own view of its terminal.
NOT_COMPACT = ("district", "authoritative", "reachable", "last_heartbeat_ms_ago")


def metric(broker, name):
    r = get(broker.url + "/metrics")
    assert r.status == 200, r
    m = re.search(r"^%s (\d+)$" % re.escape(name), r.raw.decode(), re.M)
    assert m, "%s has no %s" % (broker.name, name)
    return int(m.group(1))


def page(broker, **q):
    qs = "&".join("%s=%s" % kv for kv in sorted(q.items()))
    return expect(get(broker.url + "/v1/metadata?" + qs), 200, "metadata " + qs)


def unit_in(pg, unit_id):
    found = [u for u in pg["units"] if u["id"] == unit_id]
    assert len(found) == 1, pg
    return found[0]


def test_compact_page_round_trip_and_loss_reaches_the_peer(cluster):
    city = make_city(cluster, GRID2, sync_interval="2s")
    dt, ws = city["Downtown"], city["Westside"]

    full = page(dt)
    assert full["form"] == "full", full
    u = unit_in(full, "LAFD-1")
    for k in NOT_COMPACT + ("jobs", "claims"):
        assert k in u, u
    c = page(dt, form="compact")
    assert c["form"] == "compact" and c["broker"] == "Downtown", c
    cu = unit_in(c, "LAFD-1")
    assert {k: cu[k] for k in ("kind", "capabilities", "status", "url", "capacity", "version")} == \
        {k: u[k] for k in ("kind", "capabilities", "status", "url", "capacity", "version")}, (cu, u)
    for k in NOT_COMPACT + ("jobs", "claims"):
        assert k not in cu, cu  # a free unit: no lists either
    assert_error(get(dt.url + "/v1/metadata?form=tiny"), 400, "bad_request", "form=tiny")

    # The peer's copy, read from compact pages, looks as it always did.
    copy = remote_unit(ws, "LAFD-1", "Downtown")
    assert (copy["kind"], sorted(copy["capabilities"]), copy["url"], copy["jobs"],
            copy["status"]) == ("fire", sorted(FIRE), city.ex("LAFD-1").url, [], "available"), copy

    # A unit that holds work shows its lists, and the change is signalled.
    j = dt.submit_ok(["firefighting"], severity="high", id="cmp-1")
    assert j["unit_id"] == "LAFD-1", j
    cu = unit_in(page(dt, form="compact", since=c["version"], epoch=c["epoch"]), "LAFD-1")
    assert cu["status"] == "busy" and cu["jobs"] == ["cmp-1"] and cu["claims"] == [], cu
    wait_remote_unit(ws, "LAFD-1", "Downtown", status="busy", jobs=["cmp-1"])
    expect(city.ex("LAFD-1").report("cmp-1", "contained"), 201, "report")
    wait_remote_unit(ws, "LAFD-1", "Downtown", status="available", jobs=[])

    # Its terminal dies: lost at home within the timeout, no signal sent for
    # it, and the peer still learns it from the next scheduled pull.
    # Counted from the loss on, not from the kill: the report's own changes
    # are signalled (rate-limited) and may still be on their way until
    # then; the failure timeout (1.5 s) lets them out first.
    city.ex("LAFD-1").kill9()
    wait_until(lambda: dt.unit("LAFD-1")["status"] == "lost", SYNC_WAIT,
               message="LAFD-1 lost at Downtown")
    notifies = metric(dt, "ergrid_sync_notifies_total")
    wait_remote_unit(ws, "LAFD-1", "Downtown", status="lost")
    assert metric(dt, "ergrid_sync_notifies_total") == notifies, \
        "a unit's loss was signalled to the peer"

    # Back: registering again is a change peers hear of at once.
    city.ex("LAFD-1").restart(allow_new_port=True)
    wait_until(lambda: dt.unit("LAFD-1")["status"] == "available", SYNC_WAIT,
               message="LAFD-1 back at Downtown")
    wait_remote_unit(ws, "LAFD-1", "Downtown", status="available")


def test_signals_are_coalesced_into_one_pending_pull(cluster):
    city = make_city(cluster, GRID2, sync_interval="60s")
    ws = city["Westside"]
    before = {k: metric(ws, k) for k in ("ergrid_sync_pulls_total", "ergrid_sync_signals_total",
                                         "ergrid_sync_signals_coalesced_total")}
    n = 40
    for _ in range(n):
        r = post(ws.url + "/v1/notify", {"broker": "Downtown", "version": 1})
        assert r.status == 202 and r.json["scheduled"] is True, r
    # The signalled pull comes (the scheduled one is a minute away).
    wait_until(lambda: metric(ws, "ergrid_sync_pulls_total") > before["ergrid_sync_pulls_total"],
               SYNC_WAIT, message="Westside pulls Downtown after the signals")
    signals = metric(ws, "ergrid_sync_signals_total") - before["ergrid_sync_signals_total"]
    coalesced = metric(ws, "ergrid_sync_signals_coalesced_total") - \
        before["ergrid_sync_signals_coalesced_total"]
    pulls = metric(ws, "ergrid_sync_pulls_total") - before["ergrid_sync_pulls_total"]
    assert signals >= n, (signals, n)  # ours, and any Downtown sent meanwhile
    # A signal starts a pending pull only when none is pending: each pull
    # made clears one, so at most pulls + 1 signals were not absorbed.
    assert coalesced >= signals - (pulls + 1), (coalesced, signals, pulls)
    assert pulls < n, "every signal made its own pull: %d pulls for %d signals" % (pulls, n)
    assert_error(post(ws.url + "/v1/notify", {"broker": "Nowhere"}), 404, "not_found",
                 "an unknown peer")
