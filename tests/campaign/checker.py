#!/usr/bin/env python3
"""The campaign's checker: reads a whole history file (history.py) and
checks the guarantees of DESIGN.md §3 over every recorded operation and
poll, not over a sample. It needs nothing but the file, so a saved history
can be checked again (campaign.py --check-only FILE, or this script).

Checks (tests/campaign/README.md explains each):
  1  every acknowledged job (2xx) is at its owner afterwards, and in every
     later poll of it; an acknowledged cancel or result is still there at the end
  2  one accepted result per job, the same in every observation (replies,
     owner polls, synced copies at any broker, any time); never vanishes
  3  a terminal never holds more active assignments than its capacity
  4  no job queued, or assigned at its owner while no terminal holds that
     attempt, while a capable unit is available at the same broker or
     anywhere the city can borrow from: after healing (the final poll), or
     for longer than the stuck bound at any time
  5  no unit busy at its home broker while fewer jobs than its capacity are
     assigned to it anywhere and its terminal holds fewer than its capacity:
     after healing, or for longer than the stuck bound
  crash / exit   a service died without being told to, or did not stop
                 cleanly on SIGTERM

Usage: checker.py HISTORY [--stuck-bound SECONDS]; exit status 1 on any
violation, 2 when the file cannot be read.
"""

import argparse
import collections
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import history  # noqa: E402
from history import current_attempt_state, parse_held  # noqa: E402

EVIDENCE_MAX = 12  # lines shown per violation
FAULT_CONTEXT_S = 30.0  # faults this long before a stuck stretch are shown with it
SAMPLE_MAX = 5    # violations of one kind printed in full before "and N more"

KIND_TITLES = collections.OrderedDict([
    ("1-job-lost", "acknowledged job missing at its owner"),
    ("1-cancel-lost", "acknowledged cancel not in the final state"),
    ("1-result-lost", "acknowledged result not in the final state"),
    ("2-result-changed", "more than one accepted result for a job"),
    ("2-result-vanished", "accepted result gone from its owner"),
    ("3-over-capacity", "terminal holds more active assignments than its capacity"),
    ("4-queued-while-free", "job queued while a capable unit is available"),
    ("4-unheld-while-free", "job assigned but unheld while a capable unit is available"),
    ("5-busy-for-no-job", "unit busy at home with no job assigned and nothing held"),
    ("crash", "service died without being told to"),
    ("exit", "service did not stop cleanly on SIGTERM"),
])


class Violation:
    def __init__(self, kind, subject, text, evidence):
        self.kind = kind
        self.subject = subject
        self.text = text
        self.evidence = evidence  # [(line number, record or excerpt)]

    def render(self):
        out = ["VIOLATION [%s] %s: %s" % (self.kind, self.subject, self.text)]
        for line, rec in self.evidence[:EVIDENCE_MAX]:
            out.append("    line %s: %s" % (line, _short(rec)))
        if len(self.evidence) > EVIDENCE_MAX:
            out.append("    ... %d more lines" % (len(self.evidence) - EVIDENCE_MAX))
        return "\n".join(out)


def _short(rec, limit=600):
    s = rec if isinstance(rec, str) else json.dumps(rec, separators=(",", ":"))
    return s if len(s) <= limit else s[:limit] + "..."


def _excerpt(rec, **extra):
    """A poll line reduced to its header plus the part the evidence is about."""
    head = {k: rec.get(k) for k in ("type", "t", "round", "target", "what", "status") if k in rec}
    head.update(extra)
    return head


def _seen(obs, **part):
    """Evidence from a round observation (line, data, t): line and excerpt."""
    return (obs[0], dict({"t": obs[2]}, **part))


# ---------------------------------------------------------------- the city model

class City:
    """What the meta line says about the city."""

    def __init__(self, meta):
        self.meta = meta
        self.districts = list(meta.get("districts") or [])
        self.units = {}
        for u in meta.get("units") or []:
            self.units[u["id"]] = {"caps": set(u["caps"]), "capacity": int(u.get("capacity", 1)),
                                   "home": u["home"], "kind": u.get("kind")}

    def capacity(self, uid):
        return self.units.get(uid, {}).get("capacity", 1)

    def capable(self, uid, caps):
        u = self.units.get(uid)
        return u is not None and caps <= u["caps"]


def new_round():
    # district -> (line, [job summaries], t) / (line, [unit summaries], t);
    # unit -> (line, [held], t); a missing key or None data means "not observed".
    return {"jobs": {}, "units": {}, "held": {}}


def observed(rd, needs):
    """Whether a round saw everything in needs: ("jobs"|"units", district)
    or ("held", unit)."""
    return all(rd[what].get(x) and rd[what][x][1] is not None for what, x in needs)


def _caps(js):
    return set(c for c in (js.get("caps") or "").split(",") if c)


def round_findings(city, rd):
    """The stuck conditions of checks 4 and 5 that hold in one poll round.
    Returns {key: (subject, text, evidence, involved, needs)}; key = (kind,
    object id); involved = the processes (and jobs) whose faults may explain
    it; needs = the observations that decide it (see observed()). What a
    round did not observe (a failed or skipped poll) never counts as a
    finding: only what was seen is judged."""
    found = {}

    def home(uid):
        return "broker:" + city.units.get(uid, {}).get("home", "?")

    avail = {}  # unit id -> evidence, from its home broker's own listing
    reserving = set()  # busy only by a reservation: the broker is calling its terminal
    busy = []
    for d, obs in rd["units"].items():
        if not obs or obs[1] is None:
            continue
        for u in obs[1]:
            if city.units.get(u["id"], {}).get("home") != d:
                continue
            if u["status"] == "available":
                avail[u["id"]] = _seen(obs, district=d, unit=u)
            elif u["status"] == "busy":
                busy.append((d, obs, u))
                # A listing names confirmed jobs only; fewer than the
                # capacity means a pending assignment. Such a unit counts
                # as free for check 4, or a broker that keeps retrying a
                # terminal that keeps refusing would look busy every other
                # poll and never stuck.
                if len(u["jobs"]) < city.capacity(u["id"]):
                    avail[u["id"]] = _seen(obs, district=d, unit=u)
                    reserving.add(u["id"])

    def candidates(caps, exclude=None):
        return sorted(uid for uid in avail if uid != exclude and city.capable(uid, caps))

    def named(cands):
        return ", ".join("%s (%s%s)" % (c, city.units[c]["home"],
                                        ", reserving" if c in reserving else "") for c in cands)

    def terminal(c):
        """What the first candidate's terminal holds: why it is not used."""
        held = rd["held"].get(c)
        return [_seen(held, unit=c, held=held[1])] if held and held[1] is not None else []

    jobs_known = all(rd["jobs"].get(d) and rd["jobs"][d][1] is not None for d in city.districts)
    assigned_to = collections.defaultdict(list)
    by_id = {}
    for d, obs in rd["jobs"].items():
        if not obs or obs[1] is None:
            continue
        for js in obs[1]:
            by_id[js["id"]] = (obs, d, js)
            if js["status"] == "queued":
                cands = candidates(_caps(js))
                if cands:
                    same = [c for c in cands if city.units[c]["home"] == d]
                    c = (same or cands)[0]
                    found[("4-queued-while-free", js["id"])] = (
                        "job %s (%s, needs %s)" % (js["id"], d, js["caps"]),
                        "queued while %s %s available%s" % (
                            named(cands), "is" if len(cands) == 1 else "are",
                            " (at its own broker too)" if same else ""),
                        [_seen(obs, district=d, job=js), avail[c]] + terminal(c),
                        ["broker:" + d, home(c), "executor:" + c], [("jobs", d)])
            elif js["status"] == "assigned" and current_attempt_state(js) == "active":
                assigned_to[js["unit"]].append((d, js["id"], js["att"]))
                held = rd["held"].get(js["unit"])
                if not held or held[1] is None:
                    continue
                holds = any(j == js["id"] and a == js["att"] and s == "active"
                            for j, a, s, _ in parse_held(held[1]))
                if holds:
                    continue
                cands = candidates(_caps(js), exclude=js["unit"])
                if cands:
                    c = cands[0]
                    found[("4-unheld-while-free", js["id"])] = (
                        "job %s (%s, needs %s)" % (js["id"], d, js["caps"]),
                        "assigned to %s attempt %s, which its terminal does not hold as active, "
                        "while %s available" % (js["unit"], js["att"], named(cands)),
                        [_seen(obs, district=d, job=js),
                         _seen(held, unit=js["unit"], held=held[1]), avail[c]],
                        ["broker:" + d, home(js["unit"]), "executor:" + js["unit"]],
                        [("jobs", d), ("held", js["unit"])])
    if jobs_known:
        for d, obs, u in busy:
            held = rd["held"].get(u["id"])
            if not held or held[1] is None:
                continue
            cap = city.capacity(u["id"])
            active = sum(1 for _, _, s, _ in parse_held(held[1]) if s == "active")
            mine = assigned_to.get(u["id"], [])
            if len(mine) < cap and active < cap:
                ev = [_seen(obs, district=d, unit=u), _seen(held, unit=u["id"], held=held[1])]
                involved = ["broker:" + d, "executor:" + u["id"]]
                for jid in u["jobs"][:3]:  # what the jobs it is busy for became
                    if jid in by_id:
                        jobs_obs, owner, js = by_id[jid]
                        ev.append(_seen(jobs_obs, district=owner, job=js))
                        involved += ["broker:" + owner, "job:" + jid]
                waiting = sum(1 for _o, _d, js in by_id.values()
                              if js["status"] == "queued" and city.capable(u["id"], _caps(js)))
                found[("5-busy-for-no-job", u["id"])] = (
                    "unit %s (%s, capacity %d)" % (u["id"], d, cap),
                    "busy at home listing jobs %s, but %d job(s) assigned to it at their owners "
                    "%s and %d active at its terminal; %d queued job(s) in the city it could serve"
                    % (u["jobs"], len(mine), mine, active, waiting),
                    ev, involved, [("units", d), ("held", u["id"])] +
                    [("jobs", x) for x in city.districts])
    return found


# ---------------------------------------------------------------- the checker

class Checker:
    def __init__(self, stuck_bound=None):
        self.stuck_bound_override = stuck_bound
        self.city = None
        self.meta = {}
        self.violations = []
        self.counts = collections.Counter()
        self.faults = collections.Counter()
        self.codes = collections.Counter()  # refusals seen by the clients
        self.phases = {}
        self.first_t = None
        self.last_t = 0.0
        # check 1
        self.acked_jobs = {}      # job id -> (owner, line, t)
        self.acked_cancels = {}   # job id -> (line, t)
        self.acked_results = {}   # job id -> (line, result key)
        self.missing_seen = set()
        # check 2
        self.results = collections.defaultdict(dict)  # job -> {key: [first line, where, times]}
        self.rejections = 0       # 409s naming the winner
        self.owner_result = {}    # job -> (line, key) last seen non-null at its owner
        # check 3
        self.over = collections.defaultdict(list)     # unit -> [(line, excerpt)]
        # checks 4 and 5
        self.rd = new_round()
        self.open = {}            # key -> stretch
        self.longest = collections.defaultdict(list)  # kind -> [(seconds, subject)]
        self.final_jobs = {}      # district -> (line, {id: summary}) of the final round
        self.final_seen = False
        self.rounds = 0
        self.polls = 0
        self.fault_log = []       # (line, t, target, action, kind)

    @property
    def stuck_bound(self):
        if self.stuck_bound_override is not None:
            return self.stuck_bound_override
        return float(self.meta.get("stuck_bound", 30.0))

    def add(self, kind, subject, text, evidence):
        self.violations.append(Violation(kind, subject, text, evidence))

    # -- one record
    def feed(self, n, rec):
        t = rec.get("t")
        if isinstance(t, (int, float)):
            self.first_t = t if self.first_t is None else self.first_t
            self.last_t = max(self.last_t, t)
        kind = rec.get("type")
        handler = getattr(self, "on_" + str(kind), None)
        if handler:
            handler(n, rec)

    def on_meta(self, n, rec):
        self.meta = rec
        self.city = City(rec)

    def on_phase(self, n, rec):
        self.phases.setdefault(rec.get("name"), rec.get("t"))

    def on_fault(self, n, rec):
        action = rec.get("action")
        self.fault_log.append((n, rec.get("t", 0), rec.get("target"), action, rec.get("kind")))
        if action in ("kill", "pause"):
            self.faults[rec.get("kind") or action] += 1
        elif action == "crash":
            self.faults["crash"] += 1
            self.add("crash", rec.get("target"), "exited with code %s without being told to"
                     % rec.get("code"), [(n, rec)])
        elif action in ("restart_failed", "skipped"):
            self.faults[action] += 1

    def on_exit(self, n, rec):
        self.add("exit", rec.get("target", "?"), rec.get("problem", ""), [(n, rec)])

    def on_op(self, n, rec):
        op = rec.get("op", "?")
        self.counts["op"] += 1
        self.counts["op:" + op] += 1
        status = rec.get("status") or 0
        reply = rec.get("reply") or {}
        if 200 <= status < 300:
            self.counts["acked"] += 1
        elif status >= 400 and reply.get("code"):
            self.codes["%s %s %s" % (op, status, reply["code"])] += 1
        elif status == 0:
            self.codes["%s no reply" % op] += 1
        job = reply.get("job") or {}
        if op.startswith("submit") and 200 <= status < 300 and job.get("id"):
            owner = job.get("owner") or reply.get("district")
            if job["id"] not in self.acked_jobs:
                self.acked_jobs[job["id"]] = (owner, n, rec.get("t", 0))
        if op == "cancel" and 200 <= status < 300:
            jid = (rec.get("body") or {}).get("job_id") or job.get("id")
            if jid:
                self.acked_cancels.setdefault(jid, (n, rec.get("t", 0)))
        if op.startswith("report") and "result" in reply:
            jid = (rec.get("body") or {}).get("job_id")
            key = reply.get("result")
            if jid and key:
                if 200 <= status < 300:
                    self.observe(jid, key, n, "reply %d" % status)
                    self.acked_results.setdefault(jid, (n, key, rec.get("t", 0)))
                elif status == 409 and reply.get("code") == "result_rejected":
                    self.observe(jid, key, n, "winner in a 409")
                    self.rejections += 1
        if op == "read-terminal" and status == 200:
            self._held(n, rec, rec.get("target", "").split(":", 1)[-1], reply.get("held"))

    def _held(self, n, rec, uid, held):
        if held is None or self.city is None:
            return
        active = [h for h in held if h.rsplit(":", 1)[-1].rstrip("+") == "active"]
        cap = self.city.capacity(uid)
        if len(active) > cap:
            self.over[uid].append((n, _excerpt(rec, unit=uid, capacity=cap, held=held)))

    def on_poll(self, n, rec):
        self.polls += 1
        what = rec.get("what")
        ok = rec.get("status") == 200
        d = rec.get("district")
        if what == "jobs":
            jobs = rec.get("jobs") if ok else None
            self.rd["jobs"][d] = (n, jobs, rec.get("t"))
            if jobs is not None:
                self._owner_jobs(n, rec, d, jobs)
        elif what == "units":
            self.rd["units"][d] = (n, rec.get("units") if ok else None, rec.get("t"))
        elif what == "assignments":
            held = rec.get("held") if ok else None
            self.rd["held"][rec.get("unit")] = (n, held, rec.get("t"))
            if held is not None:
                self._held(n, rec, rec.get("unit"), held)
        elif what in ("copy", "city") and ok:
            for js in rec.get("jobs") or ([rec["job"]] if rec.get("job") else []):
                if js.get("res"):
                    self.observe(js["id"], js["res"], n, "copy at" if js.get("copy") else "owner", d)

    def observe(self, jid, key, n, where, district=None):
        """One observation of a job's accepted result (check 2)."""
        seen = self.results[jid].get(key)
        if seen is None:
            self.results[jid][key] = [n, where if district is None else where + " " + district, 1]
        else:
            seen[2] += 1

    def _owner_jobs(self, n, rec, d, jobs):
        t0 = rec.get("t0", rec.get("t", 0))
        ids = {}
        for js in jobs:
            ids[js["id"]] = js
            if js.get("res"):
                self.observe(js["id"], js["res"], n, "owner", d)
                self.owner_result[js["id"]] = (n, js["res"])
            elif js["id"] in self.owner_result:
                ln, key = self.owner_result.pop(js["id"])
                self.add("2-result-vanished", "job %s (%s)" % (js["id"], d),
                         "its owner showed accepted result %s, later none" % key,
                         [(ln, "owner poll with the result"),
                          (n, _excerpt(rec, job=js))])
        for jid, (owner, ln, t) in self.acked_jobs.items():
            if owner == d and t < t0 and jid not in ids and jid not in self.missing_seen:
                self.missing_seen.add(jid)
                self.add("1-job-lost", "job %s (%s)" % (jid, d),
                         "acknowledged at t=%.1f, absent from a poll of its owner begun at t=%.1f"
                         % (t, t0), [(ln, "the acknowledgement"),
                                     (n, _excerpt(rec, total=rec.get("total")))])
        if rec.get("final"):
            self.final_jobs[d] = (n, ids)

    def on_round(self, n, rec):
        self.rounds += 1
        final = rec.get("phase") == "final"
        if self.city is None:
            self.rd = new_round()
            return
        t = rec.get("t", 0)
        found = round_findings(self.city, self.rd)
        for key, (subject, text, ev, involved, needs) in found.items():
            s = self.open.get(key)
            if s is None:
                self.open[key] = {"t0": t, "t": t, "rounds": 1, "subject": subject,
                                  "first": (text, ev), "last": (text, ev), "involved": involved,
                                  "needs": needs}
            else:
                s["t"] = t
                s["rounds"] += 1
                s["last"] = (text, ev)
        # A stretch ends when a round sees what decides it and the condition
        # is gone; a round that could not look (a broker or terminal down or
        # frozen) neither ends nor extends it.
        for key in [k for k in self.open if k not in found]:
            if final or observed(self.rd, self.open[key]["needs"]):
                self._close(key, self.open.pop(key), final=False)
        if final:
            self.final_seen = True
            # After healing a condition must hold in the final round and the
            # one before it: one round can catch the city moving.
            for key in list(self.open):
                s = self.open.pop(key)
                self._close(key, s, final=s["rounds"] >= 2)
        self.rd = new_round()

    def _close(self, key, s, final):
        kind = key[0]
        dur = s["t"] - s["t0"]
        self.longest[kind].append((round(dur, 1), s["subject"]))
        if not final and dur < self.stuck_bound:
            return
        text, ev = s["last"]
        ftext, fev = s["first"]
        if final:
            what = "still so after healing, at the final poll (first seen t=%.1f, %.1f s " \
                   "and %d rounds before): %s" % (s["t0"], dur, s["rounds"], text)
        else:
            what = "for %.1f s (t=%.1f..%.1f, %d rounds; bound %.0f s): %s" % (
                dur, s["t0"], s["t"], s["rounds"], self.stuck_bound, ftext)
        evidence = list(fev) + ([] if s["rounds"] == 1 else list(ev))
        # Faults on the processes involved, shortly before it began: the
        # likely cause (a lost reply, a release sent to a dead broker).
        # Faults on the processes involved shortly before it was first seen,
        # or around when a job it is about was finished: the likely cause (a
        # lost reply, a release sent to a dead or frozen broker).
        windows = [(s["t0"] - FAULT_CONTEXT_S, s["t0"])]
        for x in s["involved"]:
            if x.startswith("job:") and x[4:] in self.acked_results:
                ln, key, at = self.acked_results[x[4:]]
                evidence.append((ln, "result of %s accepted at t=%.1f: %s" % (x[4:], at, key)))
                windows.append((at - 5.0, at + FAULT_CONTEXT_S))
        for ln, ft, target, action, fkind in self.fault_log:
            if target in s["involved"] and any(lo <= ft <= hi for lo, hi in windows):
                evidence.append((ln, "fault nearby: %s %s at t=%.1f%s" % (
                    action, target, ft, " (%s)" % fkind if fkind else "")))
        self.add(kind, s["subject"], what, evidence)

    # -- after the last record
    def finish(self):
        for uid, lines in sorted(self.over.items()):
            self.add("3-over-capacity", "unit %s (capacity %d)" % (uid, self.city.capacity(uid)),
                     "%d observation(s) with more active assignments than its capacity"
                     % len(lines), lines)
        for jid, keys in sorted(self.results.items()):
            if len(keys) > 1:
                ev = []
                for key, (ln, where, times) in keys.items():
                    ev.append((ln, "%s (first: %s; seen %d times)" % (key, where, times)))
                self.add("2-result-changed", "job %s" % jid,
                         "%d different accepted results observed" % len(keys), ev)
        if not self.final_seen:
            self.add("1-job-lost", "the final poll", "the history has no final round: "
                     "the campaign did not finish, nothing after healing can be checked", [])
            return
        for jid, (owner, ln, _t) in sorted(self.acked_jobs.items()):
            fin = self.final_jobs.get(owner)
            if fin is None:
                self.add("1-job-lost", "job %s (%s)" % (jid, owner),
                         "cannot be confirmed: the final poll of its owner failed",
                         [(ln, "the acknowledgement")])
            elif jid not in fin[1] and jid not in self.missing_seen:
                self.add("1-job-lost", "job %s (%s)" % (jid, owner),
                         "acknowledged but absent from its owner's final listing",
                         [(ln, "the acknowledgement"), (fin[0], "final poll of %s" % owner)])
        for jid, (ln, _t) in sorted(self.acked_cancels.items()):
            js, where = self._final_job(jid)
            if js is not None and js["status"] != "cancelled":
                self.add("1-cancel-lost", "job %s" % jid,
                         "cancel acknowledged, final status %s" % js["status"],
                         [(ln, "the acknowledgement"), (where, js)])
        for jid, (ln, key, _t) in sorted(self.acked_results.items()):
            js, where = self._final_job(jid)
            if js is not None and not js.get("res"):
                self.add("1-result-lost", "job %s" % jid,
                         "result %s acknowledged, none in the final state" % key,
                         [(ln, "the acknowledgement"), (where, js)])

    def _final_job(self, jid):
        owner = (self.acked_jobs.get(jid) or (None,))[0]
        for d, (ln, ids) in self.final_jobs.items():
            if (owner is None or d == owner) and jid in ids:
                return ids[jid], ln
        return None, None

    # -- output
    def by_kind(self):
        c = collections.Counter(v.kind for v in self.violations)
        return collections.OrderedDict((k, c[k]) for k in KIND_TITLES if c[k])

    def render(self, path):
        out = []
        shown = collections.Counter()
        more = []
        for v in self.violations:
            shown[v.kind] += 1
            if shown[v.kind] <= SAMPLE_MAX:
                out.append(v.render())
            else:
                more.append("  [%s] %s: %s" % (v.kind, v.subject, _short(v.text, 200)))
        if more:  # the rest in one line each: the evidence is in the history
            out.append("%d more violations, without their evidence:" % len(more))
            out += more
        m = self.meta
        run = None
        if "heal" in self.phases and "run" in self.phases:
            run = self.phases["heal"] - self.phases["run"]
        out.append("")
        out.append("campaign summary (seed %s, history %s)" % (m.get("seed"), path))
        out.append("  duration: %.1f s in all%s" % (
            self.last_t - (self.first_t or 0),
            "; load and faults for %.1f s, then heal and settle" % run if run else ""))
        if "settled" in self.phases:
            out.append("  settled %.1f s after healing" % (self.phases["settled"] - self.phases.get(
                "healed", self.phases["settled"])))
        elif "settle_timeout" in self.phases:
            out.append("  did NOT settle within the bound (%s s)" % m.get("settle_bound"))
        nf = sum(v for k, v in self.faults.items() if k not in ("skipped", "restart_failed"))
        out.append("  faults: %d (%s)" % (nf, ", ".join(
            "%s %d" % kv for kv in sorted(self.faults.items())) or "none"))
        ops = sorted((k[3:], v) for k, v in self.counts.items() if k.startswith("op:"))
        out.append("  operations: %d (%s), acknowledged (2xx): %d" % (
            self.counts["op"], ", ".join("%s %d" % kv for kv in ops), self.counts["acked"]))
        fin_status = collections.Counter()
        for _d, (_ln, ids) in self.final_jobs.items():
            for js in ids.values():
                fin_status[js["status"]] += 1
        out.append("  jobs: %d acknowledged; at the end %s" % (
            len(self.acked_jobs), ", ".join("%s %d" % kv for kv in sorted(fin_status.items()))))
        out.append("  results: %d jobs with an accepted result; %d rejections naming the winner"
                   % (len(self.results), self.rejections))
        if self.codes:
            out.append("  refusals and lost replies: %s" % ", ".join(
                "%s x%d" % kv for kv in self.codes.most_common(12)))
        out.append("  polls: %d in %d rounds" % (self.polls, self.rounds))
        for kind in ("4-queued-while-free", "4-unheld-while-free", "5-busy-for-no-job"):
            top = sorted(x for x in self.longest.get(kind, []) if x[0] > 0)[::-1][:3]
            if top:
                out.append("  longest %s stretches: %s" % (kind, "; ".join(
                    "%.1f s %s" % x for x in top)))
        bk = self.by_kind()
        out.append("  violations: %d%s" % (len(self.violations), (" (" + ", ".join(
            "%s %d" % kv for kv in bk.items()) + ")") if bk else ""))
        return "\n".join(out)


def check(path, stuck_bound=None):
    """Checks a history file; returns the Checker (violations, render())."""
    c = Checker(stuck_bound)
    for n, rec in history.read(path):
        c.feed(n, rec)
    if c.city is None:
        raise ValueError("%s has no meta line: not a campaign history" % path)
    c.finish()
    return c


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("history")
    ap.add_argument("--stuck-bound", type=float, default=None,
                    help="seconds a stuck condition may last during the run (default: the run's)")
    a = ap.parse_args(argv)
    try:
        c = check(a.history, a.stuck_bound)
    except (OSError, ValueError) as e:
        print("cannot check %s: %s" % (a.history, e), file=sys.stderr)
        return 2
    print(c.render(a.history))
    return 1 if c.violations else 0


if __name__ == "__main__":
    sys.exit(main())
