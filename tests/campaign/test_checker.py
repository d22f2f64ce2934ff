"""The checker and the fault schedule, without any service: small hand-written
histories, each breaking one guarantee, prove that every check can fail, and
that a clean history passes. Run: python3 -m pytest tests/campaign -q
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import campaign  # noqa: E402
import checker  # noqa: E402
import history  # noqa: E402

DISTRICTS = ["Downtown", "Westside", "Valley"]
UNITS = [
    {"id": "LAFD-1", "kind": "fire", "caps": ["firefighting", "rescue"], "capacity": 1,
     "home": "Downtown"},
    {"id": "EMS-8", "kind": "ems", "caps": ["medical", "transport"], "capacity": 1,
     "home": "Westside"},
    {"id": "LAPD-15", "kind": "police", "caps": ["law_enforcement"], "capacity": 2,
     "home": "Valley"},
]
HOME = {u["id"]: u["home"] for u in UNITS}


def job(jid, status, caps, unit=None, att=None, atts="", res=None):
    return {"id": jid, "status": status, "sev": "high", "caps": caps, "unit": unit, "att": att,
            "atts": atts, "res": res}


def res_key(unit, att, outcome, data=None):
    return history.result_key({"unit_id": unit, "attempt": att, "outcome": outcome,
                               "data": data or {}})


class Hist:
    """Writes a synthetic history the way campaign.py does."""

    def __init__(self, tmp_path, stuck_bound=30.0):
        self.path = str(tmp_path / "history.jsonl")
        self.h = history.History(self.path)
        self.t = 0.0
        self.round = 0
        self.h.write({"type": "meta", "seed": 1, "districts": DISTRICTS, "units": UNITS,
                      "stuck_bound": stuck_bound, "settle_bound": 60, "t": 0.0})
        self.h.write({"type": "phase", "name": "run", "t": 0.0})
        # The state a round reports unless told otherwise: every unit free.
        self.jobs = {d: [] for d in DISTRICTS}
        self.units = {u["id"]: {"id": u["id"], "status": "available", "cap": u["capacity"],
                                "jobs": []} for u in UNITS}
        self.held = {u["id"]: [] for u in UNITS}

    def tick(self, dt=1.0):
        self.t += dt
        return self.t

    def op(self, op, target, status, body=None, reply=None):
        self.tick(0.1)
        return self.h.write({"type": "op", "t0": self.t - 0.05, "t": self.t, "client": "test",
                             "op": op, "target": target, "method": "POST", "url": "/",
                             "body": body or {}, "status": status, "reply": reply})

    def submit(self, jid, owner, status=201):
        return self.op("submit", "broker:" + owner, status, {"id": jid},
                       {"job": dict(job(jid, "queued", "firefighting"), owner=owner)})

    def poll(self, phase="run", final=False, skip=(), dt=1.0):
        """One poll round of the current state; skip: targets not observed."""
        self.round += 1
        t0 = self.tick(dt)
        for d in DISTRICTS:
            for what in ("jobs", "units"):
                rec = {"type": "poll", "round": self.round, "target": "broker:" + d,
                       "district": d, "what": what, "t0": self.t, "t": self.t}
                if ("broker:" + d) in skip:
                    rec["status"] = 0
                else:
                    rec["status"] = 200
                    if what == "jobs":
                        rec["jobs"] = list(self.jobs[d])
                    else:
                        rec["units"] = [u for uid, u in self.units.items() if HOME[uid] == d]
                    if final:
                        rec["final"] = True
                self.h.write(rec)
        for u in UNITS:
            rec = {"type": "poll", "round": self.round, "target": "executor:" + u["id"],
                   "unit": u["id"], "what": "assignments", "t0": self.t, "t": self.t}
            if ("executor:" + u["id"]) in skip:
                rec["status"] = 0
            else:
                rec.update(status=200, held=list(self.held[u["id"]]))
            self.h.write(rec)
        self.h.write({"type": "round", "round": self.round, "phase": "final" if final else phase,
                      "t0": t0, "t": self.t})

    def finish(self):
        self.h.write({"type": "phase", "name": "heal", "t": self.tick(0)})
        self.h.write({"type": "phase", "name": "final", "t": self.tick(0)})
        self.poll(final=True)
        self.h.close()
        return checker.check(self.path)


def kinds(c):
    return sorted(v.kind for v in c.violations)


def busy_lafd1(h, jid="J1", att=1, held=True):
    """LAFD-1 working on Downtown's job jid, consistently everywhere."""
    h.jobs["Downtown"] = [job(jid, "assigned", "firefighting", "LAFD-1", att,
                              "%d:LAFD-1:active" % att)]
    h.units["LAFD-1"].update(status="busy", jobs=[jid])
    h.held["LAFD-1"] = ["%s:%d:active" % (jid, att)] if held else []


# ---------------------------------------------------------------- a clean run

def test_clean_history_has_no_violation(tmp_path):
    h = Hist(tmp_path)
    h.submit("J1", "Downtown")
    h.jobs["Downtown"] = [job("J1", "queued", "firefighting")]
    h.poll()
    busy_lafd1(h)
    h.poll()
    win = res_key("LAFD-1", 1, "contained")
    h.op("report-terminal", "executor:LAFD-1", 201, {"job_id": "J1"},
         {"accepted": True, "result": win})
    h.op("report-direct", "broker:Downtown", 409, {"job_id": "J1"},
         {"code": "result_rejected", "accepted": False, "result": win})
    h.jobs["Downtown"] = [job("J1", "completed", "firefighting", "LAFD-1", 1,
                              "1:LAFD-1:finished", win)]
    h.units["LAFD-1"].update(status="available", jobs=[])
    h.held["LAFD-1"] = ["J1:1:reported+"]
    h.poll()
    c = h.finish()
    assert c.violations == [], c.render(h.path)
    assert "violations: 0" in c.render(h.path)


def test_a_short_delay_is_no_violation(tmp_path):
    h = Hist(tmp_path, stuck_bound=10)
    h.submit("J1", "Downtown")
    h.jobs["Downtown"] = [job("J1", "queued", "firefighting")]
    for _ in range(5):  # 5 s queued while LAFD-1 is free: slow, not stuck
        h.poll()
    busy_lafd1(h)
    h.poll()
    assert h.finish().violations == []


# ---------------------------------------------------------------- check 1

def test_acknowledged_job_missing_at_the_end(tmp_path):
    h = Hist(tmp_path)
    h.submit("J1", "Downtown")
    busy_lafd1(h)
    h.poll()
    busy_lafd1(h, jid="J2")  # J1 gone, as after a lost write
    c = h.finish()
    assert "1-job-lost" in kinds(c), c.render(h.path)
    assert "J1" in c.render(h.path)


def test_job_answered_before_a_poll_must_be_in_it(tmp_path):
    h = Hist(tmp_path)
    h.submit("J1", "Downtown")
    h.poll()  # J1 acknowledged, but this poll of its owner lacks it
    busy_lafd1(h)
    h.poll()
    c = h.finish()
    assert kinds(c) == ["1-job-lost"], c.render(h.path)


def test_refused_submission_is_not_acknowledged(tmp_path):
    h = Hist(tmp_path)
    h.submit("J1", "Downtown", status=503)
    h.poll()
    assert h.finish().violations == []


def test_acknowledged_cancel_and_result_must_stay(tmp_path):
    h = Hist(tmp_path)
    h.submit("J1", "Downtown")
    h.submit("J2", "Valley")
    h.op("cancel", "broker:Downtown", 200, {"job_id": "J1"},
         {"job": job("J1", "cancelled", "firefighting")})
    win = res_key("LAPD-15", 1, "resolved")
    h.op("report-terminal", "executor:LAPD-15", 201, {"job_id": "J2"},
         {"accepted": True, "result": win})
    # The end state forgot both.
    h.jobs["Downtown"] = [job("J1", "queued", "rescue,firefighting,hazmat")]
    h.jobs["Valley"] = [job("J2", "assigned", "law_enforcement", "LAPD-15", 1, "1:LAPD-15:active")]
    h.held["LAPD-15"] = ["J2:1:active"]
    c = h.finish()
    assert kinds(c) == ["1-cancel-lost", "1-result-lost"], c.render(h.path)


# ---------------------------------------------------------------- check 2

def test_two_accepted_results(tmp_path):
    h = Hist(tmp_path)
    h.submit("J1", "Downtown")
    busy_lafd1(h)
    h.poll()
    a, b = res_key("LAFD-1", 1, "contained"), res_key("LAFD-1", 1, "extinguished")
    h.op("report-terminal", "executor:LAFD-1", 201, {"job_id": "J1"},
         {"accepted": True, "result": a})
    h.op("report-direct", "broker:Downtown", 201, {"job_id": "J1"},
         {"accepted": True, "result": b})
    h.jobs["Downtown"] = [job("J1", "completed", "firefighting", "LAFD-1", 1,
                              "1:LAFD-1:finished", a)]
    h.units["LAFD-1"].update(status="available", jobs=[])
    h.held["LAFD-1"] = []
    c = h.finish()
    assert kinds(c) == ["2-result-changed"], c.render(h.path)
    assert "contained" in c.render(h.path) and "extinguished" in c.render(h.path)


def test_a_copy_with_another_result_counts(tmp_path):
    h = Hist(tmp_path)
    h.submit("J1", "Downtown")
    a, b = res_key("LAFD-1", 1, "contained"), res_key("LAFD-1", 1, "extinguished")
    h.jobs["Downtown"] = [job("J1", "completed", "firefighting", "LAFD-1", 1,
                              "1:LAFD-1:finished", a)]
    h.poll()
    h.h.write({"type": "poll", "target": "broker:Valley", "district": "Valley", "what": "copy",
               "status": 200, "job": dict(job("J1", "completed", "firefighting", "LAFD-1", 1,
                                              "1:LAFD-1:finished", b), copy=True),
               "t": h.tick()})
    c = h.finish()
    assert kinds(c) == ["2-result-changed"], c.render(h.path)


def test_accepted_result_vanishes_at_its_owner(tmp_path):
    h = Hist(tmp_path)
    h.submit("J1", "Downtown")
    a = res_key("LAFD-1", 1, "contained")
    h.jobs["Downtown"] = [job("J1", "completed", "firefighting", "LAFD-1", 1,
                              "1:LAFD-1:finished", a)]
    h.poll()
    h.jobs["Downtown"] = [job("J1", "cancelled", "firefighting", "LAFD-1", 1,
                              "1:LAFD-1:revoked")]
    c = h.finish()
    assert kinds(c) == ["2-result-vanished"], c.render(h.path)


# ---------------------------------------------------------------- check 3

def test_terminal_over_capacity(tmp_path):
    h = Hist(tmp_path)
    busy_lafd1(h)
    h.held["LAFD-1"] = ["J1:1:active", "J9:1:active"]
    h.poll()
    busy_lafd1(h)
    # A crew's own read counts too; LAPD-15 has capacity 2, so two are fine.
    h.op("read-terminal", "executor:LAPD-15", 200, None, {"held": ["A:1:active", "B:2:active"]})
    c = h.finish()
    assert kinds(c) == ["3-over-capacity"], c.render(h.path)
    assert "LAFD-1" in c.render(h.path)


# ---------------------------------------------------------------- check 4

def test_queued_while_a_capable_unit_is_free_after_healing(tmp_path):
    h = Hist(tmp_path)
    h.submit("J1", "Downtown")
    # Downtown's own LAFD-1 cannot do medical; Westside's EMS-8 is free.
    h.jobs["Downtown"] = [dict(job("J1", "queued", "medical"))]
    h.poll()
    c = h.finish()
    assert kinds(c) == ["4-queued-while-free"], c.render(h.path)
    out = c.render(h.path)
    assert "EMS-8 (Westside) is available" in out and "own broker" not in out
    assert "after healing" in out


def test_one_round_after_healing_is_not_enough(tmp_path):
    h = Hist(tmp_path)
    h.submit("J1", "Downtown")
    busy_lafd1(h)
    h.poll()
    h.poll()
    # The final round catches J1 queued again while Westside's EMS-8 is free.
    h.jobs["Downtown"] = [job("J1", "queued", "medical")]
    c = h.finish()
    assert c.violations == [], c.render(h.path)


def test_a_unit_busy_only_by_a_pending_call_counts_as_free(tmp_path):
    # A broker retrying a terminal that refuses (it holds a phantom): the
    # unit looks reserved at some polls, available at the others.
    h = Hist(tmp_path)
    h.submit("J1", "Valley")
    h.jobs["Valley"] = [job("J1", "queued", "law_enforcement")]
    h.held["LAPD-15"] = ["X:1:active", "Y:1:active"]
    for i in range(4):
        h.units["LAPD-15"].update(status="busy" if i % 2 else "available", jobs=[])
        h.poll()
    c = h.finish()
    out = c.render(h.path)
    assert kinds(c) == ["4-queued-while-free"], out
    assert "LAPD-15 (Valley" in out and "5 rounds" in out, out


def test_queued_with_no_capable_unit_is_fine(tmp_path):
    h = Hist(tmp_path)
    h.submit("J1", "Downtown")
    h.jobs["Downtown"] = [job("J1", "queued", "medical")]
    h.units["EMS-8"]["status"] = "lost"
    h.poll()
    assert h.finish().violations == []


def test_assigned_but_unheld_while_a_unit_is_free(tmp_path):
    h = Hist(tmp_path)
    h.submit("J1", "Downtown")
    h.units["LAFD-1"].update(status="busy", jobs=["J1"])
    h.jobs["Downtown"] = [job("J1", "assigned", "law_enforcement", "LAFD-1", 1,
                              "1:LAFD-1:active")]
    h.held["LAFD-1"] = ["J1:1:revoked"]  # the terminal let it go; LAPD-15 is free
    h.poll()
    c = h.finish()
    assert kinds(c) == ["4-unheld-while-free"], c.render(h.path)


def queued_then_assigned(tmp_path, unseen):
    """J1 queued at Downtown for 14 polls while LAFD-1 is free, then
    assigned; unseen(i) says whether poll i could not see Downtown."""
    h = Hist(tmp_path, stuck_bound=10)
    h.submit("J1", "Downtown")
    h.jobs["Downtown"] = [job("J1", "queued", "firefighting")]
    for i in range(14):
        h.poll(skip=("broker:Downtown",) if unseen(i) else ())
    busy_lafd1(h)
    h.poll()
    c = h.finish()
    return c, c.render(h.path)


def test_stuck_during_the_run_longer_than_the_bound(tmp_path):
    c, out = queued_then_assigned(tmp_path, lambda i: False)
    assert kinds(c) == ["4-queued-while-free"], out
    assert "for 13.0 s (t=1.1..14.1, 14 rounds; bound 10 s)" in out


def test_an_unobserved_round_neither_ends_nor_resolves_a_stretch(tmp_path):
    c, out = queued_then_assigned(tmp_path, lambda i: i % 4 == 3)
    assert kinds(c) == ["4-queued-while-free"], out
    assert "for 13.0 s (t=1.1..14.1, 11 rounds" in out


def test_nothing_seen_is_nothing_judged(tmp_path):
    # Seen queued once, then the owner is down for 13 s and assigns at once.
    c, out = queued_then_assigned(tmp_path, lambda i: i > 0)
    assert c.violations == [], out


# ---------------------------------------------------------------- check 5

def test_unit_busy_for_no_job(tmp_path):
    h = Hist(tmp_path)
    h.submit("J1", "Westside")
    # Westside's job finished; EMS-8's home still lists it busy for it.
    a = res_key("EMS-8", 1, "treated")
    h.jobs["Westside"] = [job("J1", "completed", "medical", "EMS-8", 1, "1:EMS-8:finished", a)]
    h.units["EMS-8"].update(status="busy", jobs=["J1"])
    h.held["EMS-8"] = ["J1:1:reported+"]
    h.poll()
    c = h.finish()
    assert kinds(c) == ["5-busy-for-no-job"], c.render(h.path)


def test_busy_with_a_job_held_is_fine(tmp_path):
    h = Hist(tmp_path)
    h.submit("J1", "Downtown")
    busy_lafd1(h)
    assert h.finish().violations == []


# ---------------------------------------------------------------- crashes, files

def test_crash_and_unclean_exit_are_violations(tmp_path):
    h = Hist(tmp_path)
    h.h.write({"type": "fault", "action": "crash", "target": "broker:Valley", "code": -6,
               "t": h.tick()})
    h.h.write({"type": "exit", "target": "broker Valley", "problem": "exited 1 on SIGTERM",
               "t": h.tick()})
    c = h.finish()
    assert kinds(c) == ["crash", "exit"], c.render(h.path)


def test_history_without_a_final_round_is_not_passed(tmp_path):
    h = Hist(tmp_path)
    h.submit("J1", "Downtown")
    h.poll()
    h.h.close()
    c = checker.check(h.path)
    assert c.violations and "no final round" in c.render(h.path)


def test_check_only_exit_status(tmp_path):
    h = Hist(tmp_path)
    h.jobs["Downtown"] = [job("J1", "queued", "medical")]
    h.poll()
    h.finish()
    assert campaign.main(["--check-only", h.path]) == 1
    clean = tmp_path / "clean"
    clean.mkdir()
    h2 = Hist(clean)
    h2.finish()
    assert campaign.main(["--check-only", h2.path]) == 0
    assert checker.main([str(tmp_path / "nothing.jsonl")]) == 2


# ---------------------------------------------------------------- the schedule

def test_same_seed_same_schedule():
    units = campaign.city_units(15)
    a = campaign.fault_schedule(42, 150, units, 2.0)
    b = campaign.fault_schedule(42, 150, units, 2.0)
    c = campaign.fault_schedule(43, 150, units, 2.0)
    assert a == b and a != c
    assert campaign.schedule_digest(a) == campaign.schedule_digest(b)
    assert len(a) >= 15, a
    kinds_ = {f["kind"] for f in a}
    assert {"kill-executor", "kill-broker"} <= kinds_, kinds_


def test_schedule_never_faults_two_brokers_at_once_unless_allowed():
    units = campaign.city_units(12)

    def overlaps(plan):
        bro = [f for f in plan if f["target"].startswith("broker:")]
        return sum(1 for i, f in enumerate(bro) for g in bro[i + 1:]
                   if g["at"] < f["at"] + f["duration"] and f["at"] < g["at"] + g["duration"])

    for seed in range(20):
        plan = campaign.fault_schedule(seed, 600, units, 2.0)
        assert overlaps(plan) == 0, seed
        for f in plan:  # pauses fall on both sides of the failure timeout
            if f["kind"].endswith("-short"):
                assert f["duration"] < 2.0, f
            if f["kind"].endswith("-long"):
                assert f["duration"] > 2.0, f
    assert any(overlaps(campaign.fault_schedule(s, 600, units, 2.0, allow_broker_pairs=True))
               for s in range(20))
